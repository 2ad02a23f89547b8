"""Round time against n at d = 1e4, n = 100 to 10,000, and its log-log slope (issue 13, item 5).

Each point is :func:`bench.round_scaling.median_round`: one serial SecAgg+
round (the finder's k and t at 10 % dropout, semi-honest, bits-32 inputs,
10 % of the clients dropping spread over ShareKeys, MaskedInput and
Unmasking), checked exact against the plain sum, median over ``--repeats``
(the two largest points run once unless ``--repeats-large`` says otherwise).
The slope is the least-squares slope of log(round seconds) against log(n);
also printed against log(n k), which is about 1 when the round is linear in
the number of edges.

Why the slope sits above 1.15 (printed after the table): the issue's 1.15
is the slope of ``n log n`` over these n (k proportional to log n). A round
costs about ``a n + b n k`` (``a`` per client, ``b`` per edge, fitted to the
measured points by least squares in relative error), and ``b`` cannot fall below the two
X25519 agreements every client does per neighbour (one for the pairwise
mask seed, one for the share channel) plus the neighbour's mask keystream,
timed here. The finder's k at 2^-40 is 16 at n = 100 but 28 at n = 300
(38 at 10^4), so ``n k`` alone has slope 1.171; the table shows the
smallest ``a / b`` for which ``a n + b n k`` has slope <= 1.15, against the
fitted one.

Run: ``.venv/bin/python bench/scale_slope.py [--repeats 3] [--repeats-large 1]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))

from bench.round_scaling import median_round, slope  # noqa: E402

NS = (100, 300, 1000, 3000, 10_000)
DIM = 10_000


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--repeats-large", type=int, default=1, help="repeats at n >= 3000")
    args = ap.parse_args(argv)
    rows = []
    for n in NS:
        start = time.perf_counter()
        r = median_round(n, DIM, "secagg+", args.repeats if n < 3000 else args.repeats_large)
        if not r["exact"]:
            raise SystemExit(f"n = {n}: the sum is not exact")
        rows.append((n, r))
        print(f"[n = {n}] {r['whole']:.2f} s (k = {r['k']}, {time.perf_counter() - start:.0f} s with repeats)", file=sys.stderr)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print("| n | k | t | round s | client s | server s | exact |")
    print("|---:|---:|---:|---:|---:|---:|:---:|")
    for n, r in rows:
        print(f"| {n:,} | {r['k']} | {r['t']} | {r['whole']:.2f} | {r['client']:.2f} | {r['server']:.2f} | yes |")
    ns, ts = [n for n, _ in rows], [r["whole"] for _, r in rows]
    print(f"\nlog-log slope of round time against n: {slope(ns, ts):.3f}; "
          f"against n k: {slope([n * r['k'] for n, r in rows], ts):.3f}")
    edge_model(ns, [r["k"] for _, r in rows], ts)


def needed_ratio(ns, ks, target: float = 1.15) -> float:
    """The smallest ``a / b`` at which ``a n + b n k`` has log-log slope <= target against n.

    >>> round(needed_ratio([100, 10_000], [10, 20]), 3), needed_ratio([100, 10_000], [10, 10])
    (0.048, 0.0)
    """
    lo, hi = 0.0, 1e6
    if slope(ns, [n * k for n, k in zip(ns, ks)]) <= target:
        return 0.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if slope(ns, [n * (mid + k) for n, k in zip(ns, ks)]) <= target else (mid, hi)
    return hi


def edge_floor_seconds(d: int = DIM) -> float:
    """Seconds of the crypto every edge needs: two X25519 agreements and ``4 d`` bytes of AES-256-CTR keystream."""
    from bench.crypto_floor import aes_ctr_bytes_per_second, agreement_seconds

    return 2 * agreement_seconds() + 4 * d / aes_ctr_bytes_per_second()


def edge_model(ns, ks, ts) -> None:
    """Fit ``t = a n + b n k`` (least squares in relative error) and print why the slope is where it is."""
    ts = np.asarray(ts, float)
    design = np.array([[n, n * k] for n, k in zip(ns, ks)], dtype=float) / ts[:, None]
    (a, b), *_ = np.linalg.lstsq(design, np.ones_like(ts), rcond=None)
    floor = edge_floor_seconds()
    print(f"slope of n log n over these n (k proportional to log n): {slope(ns, [n * np.log(n) for n in ns]):.3f}; "
          f"of n k with the finder's k {ks}: {slope(ns, [n * k for n, k in zip(ns, ks)]):.3f}")
    print(f"fitted: a = {a * 1e6:.0f} us per client, b = {b * 1e6:.1f} us per edge (a / b = {a / b:.2f}); "
          f"the crypto floor of an edge (2 X25519 + {4 * DIM:,} B AES-CTR) is {floor * 1e6:.1f} us")
    print(f"slope <= 1.15 needs a / b >= {needed_ratio(ns, ks):.2f}: with b at its floor, "
          f"a >= {needed_ratio(ns, ks) * floor * 1e6:.0f} us per client")


if __name__ == "__main__":
    main()
