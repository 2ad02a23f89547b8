"""In-process CKKS round: the only CKKS code that moves bytes between roles.

:func:`secure_sum_ckks` plays the key holder, the server and every client in
one process with real TenSEAL encryption, and returns the same
:class:`~secagg.result.SumResult` as the masking backend. Message flow (what
the byte counts in ``stats`` measure):

1. key holder -> server: the signed public context; server -> each of the n
   clients: the same bytes, which each verifies against the key holder's
   pinned key before using them.
2. each surviving client -> server: its UPLOAD envelope; the server adds it at
   once (streaming).
3. server -> key holder: the AGGREGATE envelope; key holder -> server: the
   float64 sum (``8 * dim`` bytes).

>>> import importlib.util
>>> if importlib.util.find_spec("tenseal"):
...     import numpy as np
...     r = secure_sum_ckks([np.ones(3), np.full(3, 2.0), np.full(3, 5.0)], dropouts={3: "before upload"},
...                         params="compact")
...     print(np.round(r.total, 6).tolist(), r.included, r.dropped)
... else:
...     print([3.0, 3.0, 3.0], (1, 2), (3,))
[3.0, 3.0, 3.0] (1, 2) (3,)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from secagg.ckks._backend import load_tenseal
from secagg.ckks.client import Client
from secagg.ckks.keyholder import KeyHolder
from secagg.ckks.params import PARAMETER_SETS, CKKSParams, resolve_params
from secagg.ckks.planner import DEFAULT_MEMORY_LIMIT, plan_sizes
from secagg.ckks.server import Server
from secagg.errors import AbortReason, ProtocolAborted
from secagg.primitives.sign import Ed25519SigningKey
from secagg.result import RoundStats, SumResult
from secagg.round_input import check_round_input

__all__ = ["secure_sum_ckks"]


def _finite_clipped(arrays: list[np.ndarray], clip: float | None) -> list[np.ndarray]:
    checked = []
    for i, x in enumerate(arrays):
        x = x.astype(np.float64, copy=False)
        if not np.all(np.isfinite(x)):
            raise ValueError(f"vectors[{i}] holds NaN or infinite values")
        checked.append(np.clip(x, -clip, clip) if clip is not None else x)
    return checked


def secure_sum_ckks(
    vectors: Sequence[np.ndarray],
    *,
    dropouts: Mapping[int, object] | None = None,
    params: CKKSParams | str | None = None,
    abs_error: float | None = None,
    clip: float | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    min_contributors: int = 2,
    progress: Callable[[str, int, int], None] | None = None,
    verifiable: bool = False,
) -> SumResult:
    """Sum client vectors under CKKS encryption in one process.

    Clients have ids ``1..n``; ``vectors[i]`` belongs to client ``i + 1``. A
    client listed in ``dropouts`` (whatever the value) receives the public
    context but never submits.

    Warning:
        CKKS is approximate: ``total`` is off by up to
        ``stats.extra["predicted_abs_error"]`` per element. Use the masking
        backend when the sum must be exact.

    Args:
        vectors: one 1-D real array per client (at least 2), all of the same length.
        dropouts: client ids that never submit.
        params: a :class:`~secagg.ckks.params.CKKSParams`, a parameter-set
            name, or ``None`` for ``"default"``.
        abs_error: required per-element absolute error, or ``None``.
        clip: if given, every coordinate is clipped to ``[-clip, clip]``
            before encryption, and ``clip`` is the round's value bound (the
            key holder's range check). Without it the value bound is the
            largest ``|x_i|`` of the inputs (the in-process driver sees them).
        memory_limit: largest memory any one role may need, in bytes.
        min_contributors: the key holder refuses sums of fewer clients
            (>= 2, default 2: a "sum" of one client is its input).
        progress: called as ``progress("encrypt", done, total)``.
        verifiable: use the verifiable key holder option (SPEC chapter 50):
            each client gets an Ed25519 identity registered with the key
            holder and signs its upload for a round id the key holder issued;
            the server forwards the signed uploads and the key holder decrypts
            only if the aggregate is their sum (``stats.extra["verifiable"]``).

    Returns:
        :class:`~secagg.result.SumResult` with the float64 ``total``, sorted
        ``included``/``dropped`` ids and ``stats``: ``seconds`` per role
        (``"server"``: setup, aggregate, finish; ``"clients"`` summed over
        clients: setup, encrypt; ``"key_holder"``: setup, decrypt; each with
        ``"total"``), ``bytes_sent``/``bytes_received`` per role, and
        ``extra`` with the parameters, slots, ciphertexts per client, byte
        sizes and the predicted error bound.

    Raises:
        CKKSUnavailableError: if TenSEAL is not installed.
        TypeError: if an argument has the wrong type.
        ValueError: if there are fewer than 2 vectors, they are ragged or
            non-finite, a dropout id is not in ``1..n``, ``clip`` is not
            finite and positive, or ``min_contributors < 2``.
        PrecisionError: if the parameters cannot reach ``abs_error``.
        PlanError: if the sum could overflow or a role would exceed
            ``memory_limit`` (before anything is encrypted).
        ProtocolAborted: if fewer than ``min_contributors`` (and at least
            one) clients submit, reason ``TOO_FEW_SURVIVORS``.
    """
    if clip is not None:
        if isinstance(clip, bool) or not isinstance(clip, (int, float)):
            raise TypeError(f"clip must be a float, got {clip!r}")
        if not (np.isfinite(clip) and clip > 0):
            raise ValueError(f"clip must be finite and > 0, got {clip!r}")
    if not isinstance(verifiable, bool):
        raise TypeError(f"verifiable must be a bool, got {verifiable!r}")
    arrays, drops, min_contributors = check_round_input(vectors, dropouts, min_contributors)
    xs = _finite_clipped(arrays, clip)
    n, dim = len(xs), int(xs[0].size)
    dropped = frozenset(drops)
    params = resolve_params(params)
    value_bound = float(clip) if clip is not None else (max(float(np.max(np.abs(x))) for x in xs) or 1.0)
    plan = plan_sizes(
        dim, params, clients=n, value_bound=value_bound, abs_error=abs_error, memory_limit=memory_limit
    )
    load_tenseal()
    survivors = [cid for cid in range(1, n + 1) if cid not in dropped]
    if len(survivors) < min_contributors:
        raise ProtocolAborted(
            AbortReason.TOO_FEW_SURVIVORS, f"{len(survivors)} clients submit, {min_contributors} required"
        )

    seconds = {
        "server": {"setup": 0.0, "aggregate": 0.0, "finish": 0.0},
        "clients": {"setup": 0.0, "encrypt": 0.0},
        "key_holder": {"setup": 0.0, "decrypt": 0.0},
    }
    sent = {"server": 0, "clients": 0, "key_holder": 0}
    received = {"server": 0, "clients": 0, "key_holder": 0}

    t0 = time.perf_counter()
    key_holder = KeyHolder(params)
    public = key_holder.signed_context
    pin = key_holder.verify_key  # in one process the pin is handed over directly; in a deployment, out of band
    seconds["key_holder"]["setup"] = time.perf_counter() - t0
    sent["key_holder"] += len(public)
    received["server"] += len(public)

    t0 = time.perf_counter()
    identities, registry, round_id = {}, None, None
    if verifiable:
        identities = {cid: Ed25519SigningKey.generate() for cid in range(1, n + 1)}
        registry = {cid: key.public_bytes for cid, key in identities.items()}  # provisioned out of band
        round_id = key_holder.open_round()
    server = Server(public, key_holder_key=pin, dim=dim, memory_limit=memory_limit, client_keys=registry,
                    round_id=round_id)
    seconds["server"]["setup"] = time.perf_counter() - t0
    sent["server"] += n * len(public)
    received["clients"] += n * len(public)

    upload_sizes = []
    for done, cid in enumerate(survivors, 1):
        if progress is not None:
            progress("encrypt", done, len(survivors))
        t0 = time.perf_counter()
        client = Client(public, key_holder_key=pin, memory_limit=memory_limit, signing_key=identities.get(cid))
        t1 = time.perf_counter()
        envelope = client.encrypt(xs[cid - 1])
        t2 = time.perf_counter()
        signature = client.sign_upload(envelope, client_id=cid, round_id=round_id) if verifiable else None
        server.receive(cid, envelope, signature)
        t3 = time.perf_counter()
        seconds["clients"]["setup"] += t1 - t0
        seconds["clients"]["encrypt"] += t2 - t1
        seconds["server"]["aggregate"] += t3 - t2
        upload_sizes.append(len(envelope))
        sent["clients"] += len(envelope)
        received["server"] += len(envelope)
        del client, envelope

    t0 = time.perf_counter()
    output = server.finish()
    seconds["server"]["finish"] = time.perf_counter() - t0
    sent["server"] += len(output.envelope)
    received["key_holder"] += len(output.envelope)

    t0 = time.perf_counter()
    forwarded = sum(len(u.envelope) + len(u.signature) + 8 for u in output.uploads)
    sent["server"] += forwarded
    received["key_holder"] += forwarded
    if verifiable:
        total = key_holder.decrypt_verified(
            output.envelope, uploads=output.uploads, client_keys=registry, round_id=round_id, dim=dim,
            value_bound=value_bound, min_contributors=min_contributors,
        )
    else:
        total = key_holder.decrypt(output.envelope, dim=dim, value_bound=value_bound, min_contributors=min_contributors)
    seconds["key_holder"]["decrypt"] = time.perf_counter() - t0
    sent["key_holder"] += total.nbytes
    received["server"] += total.nbytes

    by_phase = {
        "server": {"setup": n * len(public), "finish": len(output.envelope) + forwarded},
        "clients": {"encrypt": sent["clients"]},
        "key_holder": {"setup": len(public), "decrypt": total.nbytes},
    }
    for phases in seconds.values():
        phases["total"] = sum(phases.values())
    name = next((k for k, v in PARAMETER_SETS.items() if v == params), None)
    extra = {
        "backend": "ckks",
        "parameter_set": name,
        "poly_modulus_degree": params.poly_modulus_degree,
        "coeff_mod_bit_sizes": params.coeff_mod_bit_sizes,
        "scale_bits": params.scale_bits,
        "slots": params.slots,
        "ciphertexts_per_client": plan.ciphertexts_per_client,
        "public_context_bytes": len(public),
        "upload_bytes_per_client": int(np.mean(upload_sizes)),
        "aggregate_bytes": len(output.envelope),
        "planned_upload_bytes": plan.upload_bytes,
        "predicted_abs_error": plan.predicted_abs_error,
        "value_bound": value_bound,
        "min_contributors": min_contributors,
        "verifiable": bool(verifiable),
    }
    return SumResult(
        total=total,
        included=output.included,
        dropped=tuple(sorted(dropped)),
        stats=RoundStats(
            seconds=seconds, bytes_sent=sent, bytes_received=received, bytes_by_phase=by_phase, extra=extra
        ),
    )
