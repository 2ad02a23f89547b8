"""Round time against n at d = 1e4, n = 100 to 10,000, and its log-log slope (issue 13, item 5).

Each point is :func:`bench.round_scaling.median_round`: one serial SecAgg+
round (the finder's k and t at 10 % dropout, semi-honest, bits-32 inputs,
10 % of the clients dropping spread over ShareKeys, MaskedInput and
Unmasking), checked exact against the plain sum, median over ``--repeats``
(the two largest points run once unless ``--repeats-large`` says otherwise).
The slope is the least-squares slope of log(round seconds) against log(n);
also printed against log(n k), which is about 1 when the round is linear in
the number of edges.

Run: ``.venv/bin/python bench/scale_slope.py [--repeats 3] [--repeats-large 1]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time

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


if __name__ == "__main__":
    main()
