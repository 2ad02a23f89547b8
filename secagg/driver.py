"""In-process runner: one whole round with real cryptography, bytes and all.

:func:`secure_sum` builds a :class:`~secagg.protocol.server.Server` and one
:class:`~secagg.protocol.client.Client` per vector, moves every message as
bytes between them (through :mod:`secagg._clients`, in this process or in
forked workers), applies a dropout schedule, and returns a
:class:`~secagg.result.SumResult` with the exact sum, who is in it, and
per-phase timings and byte counts.

>>> import numpy as np
>>> vs = [np.array([1, 2, 3], dtype=np.uint32) for _ in range(4)]
>>> r = secure_sum(vs, bits=8, neighbors=3, threshold=3)
>>> r.total.tolist(), r.included
([4, 8, 12], (1, 2, 3, 4))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from secagg._clients import make_pool
from secagg.errors import ProtocolAborted, RemoteProtocolError
from secagg.kinds import PHASES, Phase
from secagg.params import GraphKind, Params, ThreatModel
from secagg.primitives.encoding import FixedPointEncoder, plan_bits
from secagg.primitives.randomness import DEFAULT_RANDOM, RandomSource
from secagg.primitives.sign import Ed25519SigningKey
from secagg.protocol.server import Server, ServerAborted
from secagg.result import RoundStats, SumResult
from secagg.round_input import check_random, check_round_input

__all__ = ["PHASES", "Phase", "secure_sum"]


_ORDER = {p: i for i, p in enumerate(PHASES)}


def _as_phase(value: Phase | str) -> Phase:
    if isinstance(value, Phase):
        return value
    try:
        return Phase(str(value).lower().replace("-", "_"))
    except ValueError:
        raise ValueError(f"unknown phase {value!r}; expected one of {[p.value for p in PHASES]}") from None


class _Default:
    """The default of an option that belongs to one backend: tells "not given" from any value."""

    def __repr__(self) -> str:
        return "<default>"


_DEFAULT: Any = _Default()
_MASKING_DEFAULTS = {
    "threat": ThreatModel.SEMI_HONEST,
    "graph": "auto",
    "adversarial_rate": 0.05,
    "random": DEFAULT_RANDOM,
    "workers": 1,
}


def _is_default(name: str, value: object) -> bool:
    default = _MASKING_DEFAULTS[name]
    if isinstance(default, ThreatModel):
        return value in (default, default.value)
    return value is default or (not isinstance(value, bool) and value == default)


def secure_sum(
    vectors: Sequence[np.ndarray],
    *,
    bits: int | None = None,
    clip: float | None = None,
    precision: float | None = None,
    dropouts: Mapping[int, Phase | str] | None = None,
    threat: ThreatModel | str = _DEFAULT,
    graph: GraphKind | str = _DEFAULT,
    neighbors: int | None = None,
    threshold: int | None = None,
    dropout_rate: float | None = None,
    adversarial_rate: float = _DEFAULT,
    backend: str = "masking",
    random: RandomSource = _DEFAULT,
    progress: Callable[[str, int, int], None] | None = None,
    ckks_params: object = None,
    memory_limit: int | None = None,
    min_contributors: int | None = None,
    workers: int = _DEFAULT,
) -> SumResult:
    """Securely sum ``vectors`` in one process with the full protocol.

    Client ``i + 1`` holds ``vectors[i]``. Integer vectors (values in
    ``[0, 2**bits)``) are summed exactly mod ``2**bits``. Float vectors are
    clipped to ``[-clip, clip]``, encoded in fixed point with quantisation step
    at most ``precision`` and a bit width planned so that the sum of all clients
    never wraps, then decoded.

    Args:
        vectors: one 1-D array per client, all the same length.
        bits: modulus bits (required for integer vectors; for floats it is
            planned, and a given value must be at least the plan's).
        clip: float inputs only: the per-coordinate bound.
        precision: float inputs only: the largest acceptable quantisation step
            (default ``clip / 2**16``).
        dropouts: ``{client id: Phase}``: the client vanishes before sending
            its message of that phase.
        threat: ``"semi-honest"``, ``"semi-malicious"`` or ``"active"`` (the
            active model makes in-process Ed25519 identities and a PKI).
        graph: ``"auto"`` (the parameter finder's choice), ``"complete"``
            (SecAgg) or ``"harary"`` (SecAgg+).
        neighbors, threshold: explicit k and t instead of the finder's.
        dropout_rate: the rate the finder plans for (default: the schedule's
            rate, at least 0.05).
        adversarial_rate: the rate of corrupt clients the finder plans for.
        backend: ``"masking"`` (this protocol) or ``"ckks"`` (TenSEAL; float
            vectors only, see below).
        random: the randomness source (masking only).
        progress: called as ``progress(phase_name, done, total)``.
        ckks_params: ckks only: a :class:`secagg.ckks.CKKSParams` or a
            parameter-set name (``"default"``, ``"compact"``, ``"large"``).
        memory_limit: ckks only: the largest memory any role may need, in
            bytes (default 2 GiB); the round is refused before encryption above it.
        workers: masking only: run the clients in this many processes
            (forked; at most the CPU count). The server and the messages are
            the same as with 1; the randomness must be the default OS CSPRNG.
        min_contributors: the fewest inputs a sum may hold, in ``[2, n]``
            (masking: default and at least the threshold, see
            :class:`secagg.Server`; CKKS: default 2). With distributed DP,
            pass the plan's ``min_clients``.

    With ``backend="ckks"`` the vectors must be floats; ``clip`` is the
    round's value bound and ``precision`` the requested absolute error of the
    *sum*; a masking-only option given with another value than its default
    (``bits``, ``threat``, ``graph``, ``neighbors``, ``threshold``,
    ``dropout_rate``, ``adversarial_rate``, ``random``, ``workers``) is a
    ``ValueError`` naming it; a client dropping at or before ``MASKED_INPUT``
    never uploads, a later one is included (SPEC.md, chapter "CKKS
    aggregation").

    Returns:
        A :class:`SumResult`: ``total`` is ``uint32``/``uint64`` mod
        ``2**bits`` for integer inputs and ``float64`` for float inputs.

    Raises:
        TypeError: vectors not real arrays (integers with ``backend="ckks"``),
            ``dropouts`` not a mapping of int ids, ``random`` without
            ``token_bytes``, a non-int ``min_contributors``.
        ValueError: inconsistent shapes, values or ids out of range, missing
            ``bits`` or ``clip``, infeasible parameters (the message names the
            numbers).
        BitBudgetError: float inputs whose sum would need more than 62 bits.
        ProtocolAborted: the round aborted (for example too few survivors);
            never a wrong sum.
        PrecisionError: ckks only, the parameter set cannot reach ``precision``.
        PlanError: ckks only, the sum could overflow or a role would exceed
            ``memory_limit``.
    """
    if backend not in ("masking", "ckks"):
        raise ValueError(f"backend must be 'masking' or 'ckks', got {backend!r}")
    arrays, drops, min_contributors = check_round_input(vectors, dropouts, min_contributors)
    schedule = {u: _as_phase(p) for u, p in drops.items()}
    given = dict(threat=threat, graph=graph, adversarial_rate=adversarial_rate, random=random, workers=workers)
    opts = {k: _MASKING_DEFAULTS[k] if v is _DEFAULT else v for k, v in given.items()}
    if backend == "ckks":
        changed = [k for k, v in given.items() if v is not _DEFAULT and not _is_default(k, v)]
        explicit = dict(bits=bits, neighbors=neighbors, threshold=threshold, dropout_rate=dropout_rate)
        refused = [k for k, v in explicit.items() if v is not None] + changed
        if refused:
            raise ValueError(
                f"backend='ckks' does not take {', '.join(refused)}: these are options of the masking protocol "
                f"(CKKS sums floats under one key holder's key; see secure_sum's docstring)"
            )
        return _secure_sum_ckks(arrays, schedule, clip, precision, ckks_params, memory_limit, min_contributors, progress)
    ckks_only = [k for k, v in dict(ckks_params=ckks_params, memory_limit=memory_limit).items() if v is not None]
    if ckks_only:
        raise ValueError(f"{', '.join(ckks_only)} only apply to backend='ckks'")
    random = check_random(opts["random"])
    encoder, inputs, bits = _encode(arrays, bits, clip, precision, random)
    threat = opts["threat"] if isinstance(opts["threat"], ThreatModel) else ThreatModel(opts["threat"])
    n, dim, graph = len(arrays), arrays[0].shape[0], opts["graph"]
    if neighbors is not None or threshold is not None:
        if neighbors is None or threshold is None:
            raise ValueError("give both neighbors= and threshold=, or neither")
        kind = GraphKind.COMPLETE if neighbors >= n - 1 else GraphKind.HARARY
        if graph not in ("auto", kind, kind.value):
            raise ValueError(f"graph={graph!r} does not fit neighbors={neighbors} with {n} clients")
        params = Params(n_clients=n, dim=dim, bits=bits, graph=kind, neighbors=neighbors, threshold=threshold, threat=threat)
    else:
        rate = dropout_rate if dropout_rate is not None else max(0.05, len(schedule) / n)
        params = Params.auto(
            n_clients=n, dim=dim, bits=bits, dropout_rate=rate, adversarial_rate=opts["adversarial_rate"], threat=threat, graph=graph
        )
    return _run(params, inputs, schedule, encoder, random, progress, min_contributors, opts["workers"])


def _encode(arrays, bits, clip, precision, random) -> tuple[FixedPointEncoder | None, list[np.ndarray], int]:
    """Integer vectors as they are (``bits`` required); float vectors clipped and encoded in fixed point."""
    if all(a.dtype.kind in "iu" for a in arrays):
        if bits is None:
            raise ValueError("integer vectors need bits= (the modulus is 2**bits)")
        return None, arrays, bits
    if not all(a.dtype.kind == "f" for a in arrays):
        raise TypeError("vectors must be all integer or all float arrays")
    if clip is None:
        raise ValueError("float vectors need clip= (each coordinate is clipped to [-clip, clip])")
    n = len(arrays)
    plan = plan_bits(n_clients=n, clip=clip, precision=precision if precision is not None else clip / 2**16)
    if bits is not None and bits < plan.bits:
        raise ValueError(f"bits={bits} is below the {plan.bits} bits that {n} clients need at this clip/precision")
    encoder = FixedPointEncoder.from_plan(plan) if bits is None else FixedPointEncoder(clip=plan.clip, scale=plan.scale, bits=bits)
    return encoder, [encoder.encode(a, random=random) for a in arrays], encoder.bits


def _secure_sum_ckks(arrays, schedule, clip, precision, ckks_params, memory_limit, min_contributors, progress) -> SumResult:
    """The ``backend="ckks"`` branch of :func:`secure_sum`: map phases, delegate."""
    from secagg.ckks import secure_sum_ckks
    from secagg.ckks.planner import DEFAULT_MEMORY_LIMIT

    if any(a.dtype.kind in "iub" for a in arrays):
        raise TypeError(
            "the ckks backend sums floats (approximately); got integer vectors: convert them to float, "
            "or use backend='masking' with bits= for an exact integer sum"
        )
    # A client that vanishes before (or at) its MASKED_INPUT message never uploads; later phases
    # do not exist in CKKS, so a client dropping there has already contributed, as in masking.
    never_upload = {u: p.value for u, p in schedule.items() if _ORDER[p] <= _ORDER[Phase.MASKED_INPUT]}
    return secure_sum_ckks(
        arrays,
        dropouts=never_upload,
        params=ckks_params,
        abs_error=precision,
        clip=clip,
        memory_limit=DEFAULT_MEMORY_LIMIT if memory_limit is None else memory_limit,
        min_contributors=2 if min_contributors is None else min_contributors,
        progress=progress,
    )


def _run(params, inputs, schedule, encoder, random, progress, min_contributors=None, workers=1) -> SumResult:
    n = params.n_clients
    pki = None
    keys: dict[int, Ed25519SigningKey] = {}
    if params.threat is ThreatModel.ACTIVE:
        keys = {u: Ed25519SigningKey.generate(random=random) for u in range(1, n + 1)}
        pki = {u: k.public_bytes for u, k in keys.items()}
    server = Server(params, pki=pki, random=random, min_contributors=min_contributors)

    def alive(u: int, index: int) -> bool:
        drop = schedule.get(u)
        return drop is None or _ORDER[drop] > index

    pool = make_pool(params, inputs, keys, pki, random, alive, workers)
    seconds: dict[str, dict[str, float]] = {"server": {}, "clients": {}}
    by_phase: dict[str, dict[str, int]] = {"server": {}, "clients": {}}
    rejected: dict[int, str] = {}
    phases = [p for p in PHASES if p is not Phase.CONSISTENCY_CHECK or params.threat is ThreatModel.ACTIVE]
    outbox: dict[int, bytes] = {}
    try:
        for phase in phases:
            name = phase.value
            by_phase["server"][name] = sum(len(m) for m in outbox.values())  # the requests that open this phase
            total = n if phase is Phase.ADVERTISE_KEYS else len(outbox)
            t_client = t_server = 0.0
            sent = 0
            # Each reply goes to the server as soon as its client has made it (ascending ids, as the
            # serial pool makes them): no phase's replies are ever all alive at once.
            answers = pool.answers(_ORDER[phase], None if phase is Phase.ADVERTISE_KEYS else outbox)
            for done, (u, reply, error, spent) in enumerate(answers, 1):
                t_client += spent
                if error is not None:
                    rejected[u] = error
                if reply is not None:
                    sent += len(reply)
                    t0 = time.perf_counter()
                    try:
                        server.receive(u, reply)
                    except RemoteProtocolError as exc:
                        rejected[u] = str(exc)
                    t_server += time.perf_counter() - t0
                del reply  # a forked pool's reply is a view of memory its worker rewrites
                if progress is not None:
                    progress(name, done, total)
            by_phase["clients"][name] = sent
            t0 = time.perf_counter()
            outbox = server.advance()
            seconds["server"][name] = t_server + time.perf_counter() - t0
            seconds["clients"][name] = t_client
            if isinstance(server.state, ServerAborted):
                raise ProtocolAborted(server.state.reason, server.state.detail)
    except BaseException:
        pool.close(strict=False)  # do not hide the error behind a view its traceback may hold
        raise
    pool.close()
    by_phase["server"][name] += sum(len(m) for m in outbox.values())  # anything the last advance sends
    sent = {role: sum(v.values()) for role, v in by_phase.items()}

    done = server.result()
    for role in seconds:
        seconds[role]["total"] = sum(seconds[role].values())
    stats = RoundStats(
        seconds=seconds,
        bytes_sent=dict(sent),
        bytes_received={"server": sent["clients"], "clients": sent["server"]},
        bytes_by_phase=by_phase,
        extra={
            "graph": params.graph.value,
            "neighbors": params.neighbors,
            "threshold": params.threshold,
            "bits": params.bits,
            "threat": params.threat.value,
            "rejected": rejected,
        },
    )
    total = done.total
    if encoder is not None:
        total = encoder.decode(total)
    return SumResult(total=total, included=done.included, dropped=done.dropped, stats=stats)
