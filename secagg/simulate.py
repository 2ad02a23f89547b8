"""``secagg simulate``: one round on random data, checked against the plain sum.

This is glue for the command line and the demo: it makes up float data and a
dropout schedule (not secret: both come from an AES-CTR stream keyed by the
``seed`` argument, so a run can be repeated; every key, seed, mask and rounding
draw of the protocol still comes from the OS CSPRNG), encodes the data in fixed
point, runs :func:`secagg.secure_sum`, and checks two things separately:

* **exactness** of the protocol: the secure sum equals the plain sum mod
  ``2**bits`` of the included clients' *encoded* vectors, bit for bit;
* **accuracy** of the encoding: the decoded sum against the plain float sum.

With ``backend="ckks"`` there is no exact encoding to compare: ``exact``
then means "the CKKS sum is within the documented error bound"
(``stats.extra["predicted_abs_error"]``, SPEC chapter 50) of the plain float
sum of the included clients, and the text verdict says WITHIN BOUND.

>>> r = run_simulation(clients=5, dim=8, dropout=0.2, seed=1)
>>> r["exact"], r["included"]
(True, 4)
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import numpy as np

from secagg.codec import encoded_size_masked_input
from secagg.driver import PHASES, Phase, secure_sum
from secagg.params import GraphKind, Params, ThreatModel
from secagg.primitives.encoding import FixedPointEncoder, plan_bits
from secagg.primitives.prg import Keystream
from secagg.primitives.words import modulus_mask

__all__ = ["run_simulation"]


class _SimulationStream:
    """Reproducible, non-secret uniforms for simulated data (AES-256-CTR keyed by the seed)."""

    def __init__(self, seed: int) -> None:
        key = hashlib.sha256(b"secagg/v1/simulation\x00" + int(seed).to_bytes(8, "little", signed=True)).digest()
        self._stream = Keystream(key)

    def uniform(self, count: int) -> np.ndarray:
        words = np.frombuffer(self._stream.read(8 * count), dtype="<u8")
        return (words >> np.uint64(11)).astype(np.float64) * 2.0**-53


def run_simulation(
    *,
    clients: int,
    dim: int,
    dropout: float = 0.1,
    graph: str | None = None,
    threat: str | None = None,
    bits: int | None = None,
    clip: float = 1.0,
    precision: float | None = None,
    backend: str = "masking",
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
    workers: int = 1,
) -> dict:
    """Run one simulated round and return a JSON-ready report.

    Args:
        clients: number of clients (>= 2).
        dim: vector length (>= 1).
        dropout: fraction of clients that vanish, each before a phase drawn
            uniformly (ADVERTISE_KEYS .. UNMASKING).
        graph: ``"auto"`` (default), ``"complete"`` or ``"harary"``; masking only.
        threat: ``"semi-honest"`` (default), ``"semi-malicious"`` or
            ``"active"``; masking only.
        bits: modulus bits; default planned from clients, clip and precision;
            masking only.
        clip: the data are uniform in ``[-clip, clip]``.
        precision: masking: the largest quantisation step (default 1e-4);
            ckks: the requested absolute error of the sum (default: none),
            refused with ``PrecisionError`` when the parameters cannot reach it.
        backend: ``"masking"`` or ``"ckks"``.
        seed: seed of the simulated data and dropout schedule only.
        workers: masking only: client processes (see :func:`secagg.secure_sum`).
        progress: ``progress(phase, done, total)`` callback.

    Returns:
        A dict with at least ``exact``, ``max_abs_error``, ``clients``,
        ``included``, ``dim``, ``neighbors``, ``threshold``, ``seconds`` (per
        role and phase, and ``total``) and ``bytes`` (per role), for both
        backends. For ckks, ``exact`` means "within the documented error
        bound" and ``neighbors``/``threshold``/``bits`` are ``None``.

    Raises:
        ValueError: bad arguments (the message names them), including
            ``graph``, ``threat`` or ``bits`` given with ``backend="ckks"``.
        ProtocolAborted: the round aborted (for example too many dropouts).
    """
    if clients < 2 or dim < 1:
        raise ValueError(f"need clients >= 2 and dim >= 1, got clients={clients}, dim={dim}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    stream = _SimulationStream(seed)  # simulated data and schedule only: nothing secret
    data = (stream.uniform(clients * dim) * (2 * clip) - clip).astype(np.float32).reshape(clients, dim)
    n_drop = int(round(dropout * clients))
    if backend == "ckks":
        given = [name for name, value in (("graph", graph), ("threat", threat), ("bits", bits)) if value is not None]
        if given:
            raise ValueError(f"{', '.join(given)} only apply to the masking backend, not to backend='ckks'")
    graph = "auto" if graph is None else graph
    threat_model = ThreatModel(ThreatModel.SEMI_HONEST.value if threat is None else threat)
    phases = [p for p in PHASES if p is not Phase.CONSISTENCY_CHECK or threat_model is ThreatModel.ACTIVE]
    drop_ids = np.argsort(stream.uniform(clients), kind="stable")[:n_drop] + 1
    picks = (stream.uniform(n_drop) * len(phases)).astype(np.int64)
    dropouts = {int(u): phases[int(i)] for u, i in zip(drop_ids, picks)}

    t0 = time.perf_counter()
    if backend == "ckks":
        result = secure_sum(
            [row.astype(np.float64) for row in data],
            backend="ckks",
            clip=clip,
            precision=precision,
            dropouts=dropouts,
            progress=progress,
            workers=workers,
        )
        wall = time.perf_counter() - t0
        included = list(result.included)
        plain = data[[u - 1 for u in included]].astype(np.float64).sum(axis=0)
        err = float(np.abs(result.total - plain).max()) if included else 0.0
        bound = float(result.stats.extra.get("predicted_abs_error", 0.0))
        exact = err <= bound
        check = f"CKKS error {err:.3g} within the predicted bound {bound:.3g}" if exact else f"CKKS error {err:.3g} above the bound {bound:.3g}"
        bits_used = neighbors = threshold = None
        graph_used = "none (key holder)"
        upload = int(result.stats.extra["upload_bytes_per_client"])
    else:
        precision = 1e-4 if precision is None else precision
        plan = plan_bits(n_clients=clients, clip=clip, precision=precision)
        if bits is not None and bits < plan.bits:
            raise ValueError(f"bits={bits} is below the {plan.bits} bits that {clients} clients need at clip={clip}, precision={precision}")
        encoder = FixedPointEncoder(clip=plan.clip, scale=plan.scale, bits=bits or plan.bits)
        encoded = [encoder.encode(row) for row in data]
        result = secure_sum(
            encoded,
            bits=encoder.bits,
            dropouts=dropouts,
            threat=threat_model,
            graph=graph,
            dropout_rate=max(dropout, 0.01),
            progress=progress,
            workers=workers,
        )
        wall = time.perf_counter() - t0
        included = list(result.included)
        mask = modulus_mask(encoder.bits)
        expected = np.zeros(dim, dtype=np.uint64)
        for u in included:
            expected += encoded[u - 1].astype(np.uint64)
        expected &= np.uint64(mask)
        exact = bool(np.array_equal(expected, result.total.astype(np.uint64)))
        plain = data[[u - 1 for u in included]].astype(np.float64).sum(axis=0)
        err = float(np.abs(encoder.decode(result.total) - plain).max())
        check = (
            "secure sum == plain sum of the included clients' encodings mod 2^%d" % encoder.bits
            if exact
            else "secure sum differs from the plain sum of the included encodings"
        )
        bits_used = encoder.bits
        neighbors = result.stats.extra["neighbors"]
        threshold = result.stats.extra["threshold"]
        graph_used = result.stats.extra["graph"]
        params = Params(
            n_clients=clients, dim=dim, bits=bits_used, graph=GraphKind(graph_used),
            neighbors=neighbors, threshold=threshold, threat=threat_model,
        )
        upload = encoded_size_masked_input(params)

    seconds = {role: dict(v) for role, v in result.stats.seconds.items()}
    seconds["total"] = wall
    return {
        "backend": backend,
        "exact": exact,
        "check": check,
        "max_abs_error": err,
        "clients": clients,
        "included": len(included),
        "dropped": clients - len(included),
        "dim": dim,
        "bits": bits_used,
        "graph": graph_used,
        "neighbors": neighbors,
        "threshold": threshold,
        "threat": threat_model.value,
        "seconds": seconds,
        "bytes": {
            "sent": dict(result.stats.bytes_sent),
            "received": dict(result.stats.bytes_received),
            "by_phase": {role: dict(v) for role, v in result.stats.bytes_by_phase.items()},
            "upload_per_client": upload,
            "expansion_vs_float32": upload / (4.0 * dim),
        },
    }
