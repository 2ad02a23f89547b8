"""The server side: a Grid that turns every training round into one secure sum.

Wrap the ServerApp's grid and hand the wrapper to an unchanged Message-API
strategy (``FedAvg``, ``FedAdam``, ...)::

    strategy.start(grid=SecAggGrid(grid, context), initial_arrays=..., num_rounds=...)

When the strategy sends its ``train`` (or ``evaluate``) messages,
:meth:`SecAggGrid.send_and_receive` runs our sans-I/O :class:`secagg.Server`
over the real grid instead of forwarding them: four stages (advertise, share-keys, masked-input, unmask),
each one push of messages and a pull loop that polls every
``secagg-poll-interval`` seconds until every node answered or the stage
timeout passed. The user's ``@app.train()`` runs on the nodes only at the
masked-input stage (see :func:`secagg_flower.secagg_mod`). A node that answers
with an error, or not at all, drops out of the round; one that is gone
(Flower's ``NODE_UNAVAILABLE``) or missed a deadline is never sampled again in
this run (:meth:`SecAggGrid.get_node_ids` leaves it out). The round ends with
the exact sum of the survivors' encoded replies or raises
:class:`SecureRoundAborted`: never a wrong sum.

The strategy gets back **one** reply that holds the aggregate: the new global
arrays and a MetricRecord with the total num-examples and the weighted means
of the metrics, all computed from the secure sum (see
:mod:`secagg_flower.layout`). Weighted averaging of one reply returns it
unchanged, so FedAvg, FedAdam and the other Message-API strategies aggregate
as before; nothing per-client reaches the server in clear. Federated
evaluation is a metrics-only secure sum the same way (num-examples and the
weighted means of up to 8 metrics; refused under distributed DP, whose budget
does not cover it). ``query`` messages pass through unchanged.

With distributed DP configured, the ledger is charged before the first
message of each round; a charge that would overspend raises
:class:`dp.BudgetExceededError` before any node is contacted, which ends the
ServerApp with a non-zero exit.
"""

from __future__ import annotations

import dataclasses
import math
import os
import secrets
import time
from collections.abc import Iterable
from logging import ERROR, INFO, WARNING

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.common.constant import ErrorCode
from flwr.common.logger import log
from flwr.serverapp import Grid

from secagg.errors import RemoteProtocolError
from secagg.params import GraphKind, Params
from secagg.protocol.server import Server, ServerAborted, ServerCompleted
from secagg_flower.config import SecAggSettings
from secagg_flower.layout import MAX_METRICS, ArraySpec, Layout
from secagg_flower.wire import RECORD, STAGES, ClientReply, StageRequest, WireError

__all__ = ["RoundReport", "SecAggGrid", "SecureRoundAborted"]


class SecureRoundAborted(RuntimeError):
    """The secure round aborted (too few survivors, a failed reconstruction): no sum exists.

    Attributes:
        reason: the protocol's abort reason (a string).
        detail: what happened.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"secure aggregation aborted: {reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass
class RoundReport:
    """What one secure round did (no per-client value: ids, counts, times and sizes).

    Attributes:
        round: the server round.
        kind: ``"train"`` or ``"evaluate"`` (a metrics-only secure sum).
        sampled: the node ids the strategy sampled.
        included: the node ids whose inputs the sum holds.
        dropped: ``{node id: stage}``: where each other node dropped out.
        excluded: node ids left out of every later round (gone or timed out).
        stage_seconds: wall time of each stage.
        bytes_to_nodes, bytes_from_nodes: protocol and model bytes per stage,
            summed over nodes (the records' serialised sizes).
        clipped: ``(clients that clamped update values, values clamped,
            clients that clamped num-examples or a metric)`` (fixed-point path).
        epsilon: the ledger's spent epsilon after this round's charge (DP).
        params: ``(n, dim, bits, neighbors, threshold)``.
    """

    round: int
    kind: str
    sampled: list[int]
    included: list[int] = dataclasses.field(default_factory=list)
    dropped: dict[int, str] = dataclasses.field(default_factory=dict)
    excluded: list[int] = dataclasses.field(default_factory=list)
    stage_seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    bytes_to_nodes: dict[str, int] = dataclasses.field(default_factory=dict)
    bytes_from_nodes: dict[str, int] = dataclasses.field(default_factory=dict)
    clipped: tuple[int, int, int] = (0, 0, 0)
    epsilon: float | None = None
    params: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)


_SECURE = ("train", "evaluate")


def _category(msg: Message) -> str:
    return msg.metadata.message_type.split(".")[0]


def _record_size(content: RecordDict) -> int:
    return sum(len(obj.deflate()) for obj in _nested(content))


def _nested(obj):
    yield obj
    for child in (obj.children or {}).values():
        yield from _nested(child)


class SecAggGrid(Grid):
    """A :class:`flwr.serverapp.Grid` whose training rounds are secure sums.

    Args:
        grid: the ServerApp's grid.
        context: the ServerApp's context (its run config holds the
            ``secagg-*`` and ``dp-*`` keys); or give ``settings``.
        settings: explicit settings instead of the run config.
        ledger: the privacy ledger to charge (DP only); by default the
            ``dp-ledger`` file if it exists, else a fresh ledger with the
            configured budget.

    Raises:
        TypeError, ValueError: invalid settings (see :class:`SecAggSettings`).

    Attributes:
        reports: one :class:`RoundReport` per secure round, in order.
        ledger: the :class:`dp.PrivacyLedger` (DP only, else None).
    """

    def __init__(
        self,
        grid: Grid,
        context: Context | None = None,
        *,
        settings: SecAggSettings | None = None,
        ledger: "PrivacyLedger | None" = None,
    ) -> None:
        if settings is None:
            settings = SecAggSettings.from_run_config(context.run_config if context is not None else {})
        self._grid = grid
        self.settings = settings
        self.reports: list[RoundReport] = []
        self._excluded: set[int] = set()
        self.ledger = None
        if settings.dp is not None:
            from dp import PrivacyLedger

            path = settings.dp.ledger_path
            if ledger is not None:
                self.ledger = ledger
            elif path and os.path.exists(path):
                self.ledger = PrivacyLedger.load(path)
            else:
                self.ledger = PrivacyLedger(epsilon=settings.dp.epsilon, delta=settings.dp.delta)

    # ---------------------------------------------------------------- Grid API

    def set_run(self, run) -> None:
        """Delegate to the wrapped grid."""
        self._grid.set_run(run)

    @property
    def run(self):
        """The wrapped grid's run."""
        return self._grid.run

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None) -> Message:
        """Delegate to the wrapped grid."""
        return self._grid.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Iterable[int]:
        """The wrapped grid's nodes minus those excluded after a dropout."""
        return [n for n in self._grid.get_node_ids() if n not in self._excluded]

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Push non-training messages; training goes through :meth:`send_and_receive`.

        Raises:
            ValueError: a ``train`` or ``evaluate`` message (it would leave the secure path).
        """
        messages = list(messages)
        if any(_category(m) in _SECURE for m in messages):
            raise ValueError("train and evaluate messages must go through SecAggGrid.send_and_receive (secure aggregation)")
        return self._grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """Delegate to the wrapped grid."""
        return self._grid.pull_messages(message_ids)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        """Run a secure round for ``train`` and for ``evaluate`` messages; forward the others.

        Args:
            messages: the strategy's messages.
            timeout: the strategy's timeout; the masked-input stage uses it
                unless ``secagg-train-timeout`` is set.

        Returns:
            The replies to the forwarded messages, plus one reply holding the
            secure aggregate of each kind of round given.

        Raises:
            SecureRoundAborted: the round aborted; no aggregate exists.
            BudgetExceededError: the DP ledger refused the round (nothing was sent).
            ValueError: messages of one kind that differ in content, training
                messages without exactly one ArrayRecord, or federated
                evaluation under distributed DP.
        """
        messages = list(messages)
        others = [m for m in messages if _category(m) not in _SECURE]
        replies: list[Message] = []
        if others:
            replies.extend(self._grid.send_and_receive(others, timeout=timeout))
        for kind in _SECURE:
            batch = [m for m in messages if _category(m) == kind]
            if batch:
                replies.append(self._secure_round(batch, timeout, kind))
        return replies

    # ---------------------------------------------------------------- the round

    def _secure_round(self, batch: list[Message], timeout: float | None, kind: str) -> Message:
        s = self.settings
        first = batch[0]
        content = first.content
        if any(m.content.object_id != content.object_id for m in batch[1:]):
            raise ValueError(f"SecAggGrid needs the same {kind} content for every node (one global model per round)")
        if RECORD in content:
            raise ValueError(f"the strategy's content uses the reserved record name {RECORD!r}")
        if kind == "evaluate":
            if s.dp is not None:
                raise ValueError(
                    "federated evaluation under distributed DP would release noiseless sums of the nodes' metrics, "
                    "outside the accounted budget; evaluate on the server (evaluate_fn) and set fraction_evaluate=0"
                )
            specs, received = (), []
        else:
            if len(content.array_records) != 1:
                raise ValueError(f"a training message must hold exactly one ArrayRecord, got {len(content.array_records)}")
            (global_record,) = content.array_records.values()
            specs = tuple(ArraySpec(k, tuple(a.shape), str(np.dtype(a.dtype))) for k, a in global_record.items())
            received = [global_record[k].numpy() for k in global_record.keys()]
        nodes = sorted({m.metadata.dst_node_id for m in batch})
        rnd = int(first.metadata.group_id) if first.metadata.group_id.isdigit() else len(self.reports) + 1
        report = RoundReport(round=rnd, kind=kind, sampled=list(nodes))
        self.reports.append(report)
        layout = Layout(specs, len(nodes), s)

        nonce = secrets.token_bytes(32)
        if s.dp is not None:
            from dp import BudgetExceededError

            plan = layout.dp_plan()
            try:
                report.epsilon = self.ledger.charge_ddp_round(plan=plan, sampling_rate=s.dp.sampling_rate)
            except BudgetExceededError as exc:
                raise BudgetExceededError(
                    f"round {rnd} refused before it started: the privacy budget epsilon={s.dp.epsilon} "
                    f"(delta={s.dp.delta}) would be overspent ({exc}); stop training or raise dp-epsilon"
                ) from exc
            if s.dp.ledger_path:
                self.ledger.save(s.dp.ledger_path)
            log(INFO, "[secagg] round %s: DP charge done, epsilon spent %.4g of %.4g", rnd, report.epsilon, s.dp.epsilon)

        params = self._params(len(nodes), layout)
        min_contributors = s.min_contributors
        if s.dp is not None:
            min_contributors = max(min_contributors or 0, s.dp.min_clients)
        if min_contributors is not None and min_contributors > len(nodes):
            raise SecureRoundAborted(
                "too_few_survivors", f"{len(nodes)} nodes sampled, secure aggregation needs at least {min_contributors}"
            )
        server = Server(params, min_contributors=min_contributors)
        report.params = (params.n_clients, params.dim, params.bits, params.neighbors, params.threshold)
        ids = {node: i + 1 for i, node in enumerate(nodes)}
        node_of = {i: node for node, i in ids.items()}
        log(
            INFO,
            "[secagg] round %s (%s): %d nodes, dim %d, %d bits, %s graph k=%d t=%d",
            rnd, kind, len(nodes), params.dim, params.bits, params.graph.value, params.neighbors, params.threshold,
        )

        outbox: dict[int, bytes] = {i: b"" for i in node_of}
        keys_seen: dict[tuple, set[int]] = {}
        for stage in STAGES:
            stage_timeout = s.stage_timeout
            if stage == "masked-input":
                stage_timeout = s.train_timeout or timeout or s.stage_timeout
            msgs = {}
            for i, payload in outbox.items():
                req = StageRequest(stage=stage, round=rnd, client_id=i, params=params, nonce=nonce, msg=payload)
                records = {RECORD: ConfigRecord(req.to_fields())}
                if stage == "masked-input":
                    records = {**dict(content.items()), **records}
                msgs[node_of[i]] = Message(
                    RecordDict(records), dst_node_id=node_of[i], message_type=kind, group_id=first.metadata.group_id
                )
            t0 = time.monotonic()
            answers, failed = self._exchange(msgs, stage_timeout, report, stage)
            for node, why in failed.items():
                report.dropped[node] = stage
                log(WARNING, "[secagg] round %s: node %s dropped at %s (%s)", rnd, node, stage, why)
            for node, reply in answers.items():
                try:
                    parsed = ClientReply.from_fields(reply.content[RECORD], max_keys=MAX_METRICS)
                    if parsed.stage != stage or parsed.round != rnd:
                        raise WireError(f"reply for stage {parsed.stage!r} round {parsed.round}, expected {stage!r} {rnd}")
                    server.receive(ids[node], parsed.msg)
                    if stage == "masked-input":
                        keys_seen.setdefault((parsed.arrays_name, parsed.metrics_name, parsed.metric_keys), set()).add(node)
                except (KeyError, TypeError, WireError, RemoteProtocolError) as exc:
                    report.dropped[node] = stage
                    log(WARNING, "[secagg] round %s: reply of node %s at %s rejected: %s", rnd, node, stage, exc)
            if stage == "masked-input" and len(keys_seen) > 1:
                # Metric slots must mean the same metric for every input in the sum; the inputs are
                # already accepted, so a disagreement ends the round rather than give a mixed sum.
                raise SecureRoundAborted("inconsistent", f"nodes disagree on the reply structure: {sorted(keys_seen, key=str)}")
            outbox = server.advance()
            report.stage_seconds[stage] = round(time.monotonic() - t0, 3)
            if isinstance(server.state, ServerAborted):
                report.excluded = sorted(self._excluded)
                raise SecureRoundAborted(server.state.reason.value, server.state.detail)
            log(INFO, "[secagg] round %s: stage %s done in %.2f s", rnd, stage, report.stage_seconds[stage])

        done: ServerCompleted = server.result()
        report.included = [node_of[i] for i in done.included]
        report.excluded = sorted(self._excluded)
        (arrays_name, metrics_name, metric_keys), = keys_seen.keys()
        decoded = layout.decode(
            done.total, received, n_included=len(done.included), metric_keys=metric_keys, rotation_seed=nonce
        )
        report.clipped = (decoded.clipped_clients, decoded.clipped_values, decoded.clipped_other)
        if any(report.clipped):
            log(
                WARNING,
                "[secagg] round %s: %d clients clamped %d update values to +-%g; %d clamped num-examples or a metric",
                rnd, decoded.clipped_clients, decoded.clipped_values, s.clip, decoded.clipped_other,
            )
        log(INFO, "[secagg] round %s (%s): sum of %d nodes %s", rnd, kind, len(report.included), report.included)
        records = {metrics_name: MetricRecord({s.weighted_by_key: decoded.examples, **decoded.metrics})}
        if kind == "train":
            records = {arrays_name: ArrayRecord({k.key: Array(a) for k, a in zip(specs, decoded.arrays)}), **records}
        return Message(RecordDict(records), reply_to=first)

    def _params(self, n: int, layout: Layout) -> Params:
        s = self.settings
        if s.threshold is not None:
            k = min(s.neighbors, n - 1)
            graph = GraphKind.COMPLETE if k >= n - 1 else GraphKind.HARARY
            return Params(
                n_clients=n, dim=layout.dim, bits=layout.bits, graph=graph, neighbors=k,
                threshold=min(s.threshold, k + 1), threat=s.threat,
            )
        try:
            return Params.auto(n_clients=n, dim=layout.dim, bits=layout.bits, dropout_rate=s.dropout_rate, threat=s.threat)
        except ValueError as exc:
            # A cohort too small for the finder's bounds (e.g. 2 nodes): the complete graph, with
            # the threshold that still tolerates the planned dropouts, and a warning that says so.
            t = max(2, n - math.floor(s.dropout_rate * n))
            log(WARNING, "[secagg] %s; using the complete graph with threshold %d of %d", exc, t, n)
            return Params(
                n_clients=n, dim=layout.dim, bits=layout.bits, graph=GraphKind.COMPLETE, neighbors=n - 1,
                threshold=max(t, n // 2 + 1) if s.threat != "semi-honest" else t, threat=s.threat,
            )

    def _exchange(
        self, msgs: dict[int, Message], timeout: float, report: RoundReport, stage: str
    ) -> tuple[dict[int, Message], dict[int, str]]:
        """Push one stage's messages, pull until all answered or ``timeout``; sort out who failed."""
        nodes = list(msgs)
        report.bytes_to_nodes[stage] = sum(_record_size(m.content) for m in msgs.values())
        pushed = list(self._grid.push_messages([msgs[n] for n in nodes]))
        outstanding = {mid: n for mid, n in zip(pushed, nodes) if mid}
        failed: dict[int, str] = {n: "push failed" for mid, n in zip(pushed, nodes) if not mid}
        answers: dict[int, Message] = {}
        deadline = time.monotonic() + timeout
        while outstanding:
            for reply in self._grid.pull_messages(list(outstanding)):
                node = outstanding.pop(reply.metadata.reply_to_message_id, None)
                if node is None:
                    continue
                if reply.has_error():
                    failed[node] = f"error {reply.error.code}: {reply.error.reason}"
                    if reply.error.code in (ErrorCode.NODE_UNAVAILABLE, ErrorCode.MESSAGE_UNAVAILABLE):
                        self._excluded.add(node)
                else:
                    answers[node] = reply
            if not outstanding or time.monotonic() >= deadline:
                break
            time.sleep(self.settings.poll_interval)
        for node in outstanding.values():
            failed[node] = f"no reply within {timeout:g} s"
            self._excluded.add(node)
        report.bytes_from_nodes[stage] = sum(_record_size(m.content) for m in answers.values())
        return answers, failed
