"""Per-client bytes of a SecAgg+ round, excluding the masked vector, from n = 10^3 to 10^6.

Every size is an exact encoded length (:mod:`bench.expansion`, which
``tests/secagg/test_expansion.py`` checks against real rounds): client 1 of a
round with the finder's ``k`` and ``t`` at 10% dropout and 5% adversarial
(semi-honest), with 10% of the clients dropping after ShareKeys (the costliest
case for the survivors). The masked input (``MaskedInputResponse``) is left
out. Also shown: the ShareKeysRequest's part (wire version 3: the client's
window of k + 1 keys and one multiproof of O(log n) items; version 2 also
carried a ``ceil(n / 8)``-byte participants bitmap), the log-log slope of the
total against ``n`` (0 for constant, 1 for linear; ``log n`` growth gives
about 0.1 over this range) and the bytes added per decade of ``n`` (the
slope against ``log10 n``).

Run: ``.venv/bin/python bench/client_bytes.py`` (seconds: the ring at
n = 10^6 is sorted for real to place client 1).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))

from bench.expansion import typical_client  # noqa: E402
from secagg.params import Params  # noqa: E402

SIZES = (1_000, 10_000, 100_000, 1_000_000)


def rows(sizes: Sequence[int] = SIZES, *, dropout_rate: float = 0.1, adversarial_rate: float = 0.05) -> list[dict]:
    """One row per cohort size: ``n``, ``k``, ``t``, bytes without the masked vector, the ShareKeysRequest's part."""
    out = []
    for n in sizes:
        p = Params.auto(n_clients=n, dim=1, bits=16, dropout_rate=dropout_rate, adversarial_rate=adversarial_rate)
        traffic = typical_client(p, dropout_rate=dropout_rate)
        total = traffic.sent_total + traffic.received_total - traffic.sent.get("MaskedInputResponse", 0)
        out.append(dict(n=n, k=p.neighbors, t=p.threshold, bytes=total, share_keys=traffic.received["ShareKeysRequest"]))
    return out


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x``."""
    return float(np.polyfit(np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float)), 1)[0])


def main() -> None:
    table = rows()
    print("| n | k | t | bytes (no masked vector) | of which ShareKeysRequest |")
    print("|---:|---:|---:|---:|---:|")
    for r in table:
        print(f"| {r['n']:,} | {r['k']} | {r['t']} | {r['bytes']:,} | {r['share_keys']:,} |")
    ns = [r["n"] for r in table]
    per_decade = float(np.polyfit(np.log10(np.asarray(ns, float)), [r["bytes"] for r in table], 1)[0])
    print(f"\nlog-log slope of the total against n: {loglog_slope(ns, [r['bytes'] for r in table]):.3f}; "
          f"bytes per decade of n (slope against log10 n): {per_decade:,.0f}")


if __name__ == "__main__":
    main()
