"""The client side: a ClientApp mod that runs the protocol around the user's training.

Add it to the ClientApp and leave ``@app.train()`` as it is::

    app = ClientApp(mods=[secagg_mod])

For ``train`` (and ``evaluate``) messages the mod answers the four stages of
:class:`secagg_flower.SecAggGrid` itself and calls the user's function once,
at the masked-input stage; its reply (for training: exactly one ArrayRecord of
float arrays with the keys and shapes the server sent, and one MetricRecord
with num-examples; for evaluation: the MetricRecord alone) becomes this
client's input vector (:mod:`secagg_flower.layout`), is masked, and only the
masked vector leaves the node. A plain ``train`` or ``evaluate`` message
without the protocol's record is refused with an error reply rather than
answered in clear. ``query`` messages pass through unchanged.

A SuperNode starts a fresh ClientApp process for every message, so the
protocol client lives between stages as bytes in ``context.state`` (record
:data:`STATE_RECORD`), made by :meth:`secagg.Client.to_state` and bound to
the round, its nonce, this client's id and the parameters; each stage checks
that binding before it restores the client and replaces the bytes with the
next state (or deletes them at the end of the round or on any error). The
bytes hold this round's secret keys and shares: ``context.state`` stays on the
node (Flower never sends it).
"""

from __future__ import annotations

import hashlib
from logging import WARNING

import numpy as np

from flwr.app import ConfigRecord, Context, Error, Message, RecordDict
from flwr.clientapp.typing import ClientAppCallable
from flwr.common.constant import ErrorCode
from flwr.common.logger import log

from secagg.errors import SecAggError
from secagg.protocol.client import Client
from secagg_flower.config import SecAggSettings
from secagg_flower.layout import ArraySpec, Layout
from secagg_flower.wire import RECORD, STAGES, THREATS, ClientReply, StageRequest, WireError

__all__ = ["STATE_RECORD", "secagg_mod"]

STATE_RECORD = "secagg-dp.state"
"""The name of the ConfigRecord in ``context.state`` holding the protocol client between stages."""


class _Refused(Exception):
    """The mod refuses this message; the reason goes back as an error reply."""


def _binding(req: StageRequest) -> bytes:
    p = req.params
    text = (
        f"{req.round}|{req.client_id}|{p.n_clients}|{p.dim}|{p.bits}|{p.graph.value}|{p.neighbors}|{p.threshold}"
        f"|{p.threat.value}"
    )
    return hashlib.sha256(req.nonce + text.encode()).digest()


def _load(context: Context, req: StageRequest) -> Client:
    rec = context.state.config_records.get(STATE_RECORD)
    if rec is None:
        raise _Refused(f"no protocol state for stage {req.stage!r} of round {req.round} (this node missed an earlier stage)")
    if rec.get("binding") != _binding(req):
        raise _Refused(f"the stored protocol state belongs to another round or session than stage {req.stage!r} of round {req.round}")
    expected = STAGES[STAGES.index(req.stage) - 1]
    if rec.get("stage") != expected:
        raise _Refused(f"stage {req.stage!r} arrived after stage {rec.get('stage')!r}; expected it after {expected!r}")
    data = rec.get("client")
    if not isinstance(data, bytes):
        raise _Refused("the stored protocol state is malformed")
    return Client.from_state(data, req.client_id, req.params)


def _save(context: Context, req: StageRequest, client: Client) -> None:
    context.state[STATE_RECORD] = ConfigRecord(
        {"binding": _binding(req), "stage": req.stage, "client": client.to_state()}
    )


def _clear(context: Context) -> None:
    if STATE_RECORD in context.state:
        del context.state[STATE_RECORD]


def _train_input(msg: Message, context: Context, call_next: ClientAppCallable, req: StageRequest):
    """Call the user's function on the strategy's content; return (vector, reply names, metric keys).

    A ``train`` reply contributes its arrays' update, num-examples and metrics;
    an ``evaluate`` reply (metrics-only round) its num-examples and metrics.
    """
    settings = SecAggSettings.from_run_config(context.run_config)
    evaluate = msg.metadata.message_type.split(".")[0] == "evaluate"
    user = RecordDict({name: rec for name, rec in msg.content.items() if name != RECORD})
    sent = None
    if not evaluate:
        if len(user.array_records) != 1:
            raise _Refused(f"the training message holds {len(user.array_records)} ArrayRecords, expected 1")
        (sent,) = user.array_records.values()
    specs = () if sent is None else tuple(ArraySpec(k, tuple(a.shape), str(np.dtype(a.dtype))) for k, a in sent.items())
    layout = Layout(specs, req.params.n_clients, settings)
    if (layout.dim, layout.bits) != (req.params.dim, req.params.bits):
        raise _Refused(
            f"the server's parameters (dim {req.params.dim}, {req.params.bits} bits) do not match this client's run "
            f"config (dim {layout.dim}, {layout.bits} bits)"
        )
    train_msg = Message(content=user, metadata=msg.metadata)
    reply = call_next(train_msg, context)
    if reply.has_error():
        raise _Refused(f"training failed: {reply.error.reason}")
    out = reply.content
    if len(out.array_records) != (0 if evaluate else 1) or len(out.metric_records) != 1:
        raise _Refused(
            f"the {'evaluation' if evaluate else 'training'} reply must hold exactly {'no' if evaluate else 'one'} "
            f"ArrayRecord and one MetricRecord, got {len(out.array_records)} and {len(out.metric_records)}"
        )
    (arrays_name, arrays), = out.array_records.items() if not evaluate else (("", None),)
    (metrics_name, metrics), = out.metric_records.items()
    metrics = dict(metrics)
    if settings.weighted_by_key not in metrics:
        raise _Refused(f"the training reply's MetricRecord lacks {settings.weighted_by_key!r} (secagg-weighted-by-key)")
    num_examples = metrics.pop(settings.weighted_by_key)
    updated = [] if evaluate else layout.check_reply_arrays({k: a.numpy() for k, a in arrays.items()})
    received = [sent[s.key].numpy() for s in specs]
    vector, keys, report = layout.encode(
        updated, received, num_examples=num_examples, metrics=metrics if settings.dp is None else {}, rotation_seed=req.nonce
    )
    if report.update_values or report.examples or report.metrics:
        log(
            WARNING,
            "[secagg] round %s: clamped %d update values, num-examples %s, metrics %s (counted securely on the server)",
            req.round, report.update_values, "clamped" if report.examples else "kept", list(report.metrics),
        )
    if report.dropped_metrics:
        log(WARNING, "[secagg] round %s: metrics not sent (not scalar, or beyond the slots): %s", req.round, list(report.dropped_metrics))
    return vector, arrays_name, metrics_name, keys


def secagg_mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Run this node's part of a secure round; call the user's training at the masked-input stage.

    Args:
        msg: the incoming message.
        context: the ClientApp context (its ``state`` keeps the protocol
            client between stages; its ``run_config`` the ``secagg-*`` and
            ``dp-*`` keys).
        call_next: the next mod or the user's function.

    Returns:
        The stage reply, the untouched reply of a non-train message, or an
        error reply (``MOD_FAILED_PRECONDITION``) naming why this node will
        not take part: a plain train message, a malformed or out-of-order
        stage, a protocol rule the server broke, a training reply of the
        wrong shape.

    Raises:
        Nothing of its own: every refusal becomes an error reply, and the
        node's protocol state is deleted.
    """
    if msg.metadata.message_type.split(".")[0] not in ("train", "evaluate"):
        return call_next(msg, context)
    try:
        rec = msg.content.config_records.get(RECORD)
        if rec is None:
            raise _Refused(
                f"this ClientApp aggregates securely (secagg_mod) but got a plain {msg.metadata.message_type} message; "
                "refusing to send its reply in clear. Wrap the ServerApp's grid in secagg_flower.SecAggGrid"
            )
        req = StageRequest.from_fields(rec)
        own = SecAggSettings.from_run_config(context.run_config).threat
        if THREATS.index(req.params.threat.value) < THREATS.index(own):
            raise _Refused(f"the server asked for a {req.params.threat.value} round; this node's run config requires {own}")
        extra = {}
        if req.stage == "advertise":
            client = Client(req.client_id, req.params)
            out = client.start()
        else:
            client = _load(context, req)
            if req.stage == "masked-input":
                vector, arrays_name, metrics_name, keys = _train_input(msg, context, call_next, req)
                client.set_input(vector)
                extra = dict(arrays_name=arrays_name, metrics_name=metrics_name, metric_keys=keys)
            try:
                out = client.receive(req.msg)
            except SecAggError:
                if client.abort_message is None:
                    raise
                _clear(context)
                reply = ClientReply(stage=req.stage, round=req.round, msg=client.abort_message)
                return Message(RecordDict({RECORD: ConfigRecord(reply.to_fields())}), reply_to=msg)
            if out is None:
                raise _Refused("the server aborted the round")
        if req.stage == STAGES[-1]:
            _clear(context)
        else:
            _save(context, req, client)
        reply = ClientReply(stage=req.stage, round=req.round, msg=out, **extra)
        return Message(RecordDict({RECORD: ConfigRecord(reply.to_fields())}), reply_to=msg)
    except (_Refused, WireError, SecAggError, ValueError, TypeError) as exc:
        _clear(context)
        log(WARNING, "[secagg] refusing %s: %s", msg.metadata.message_type, exc)
        return Message(Error(code=ErrorCode.MOD_FAILED_PRECONDITION, reason=f"secagg: {exc}"), reply_to=msg)
