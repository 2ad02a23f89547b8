"""One SecAgg+ round here and in Flower 1.41, side by side in one run, and the ratio.

The setting (issue 13, item 5): n = 100 clients, d = 1e5 float32 coordinates,
k = 30 neighbours plus the client itself (Flower's ``num_shares`` K = 31),
threshold t = 17, 10 clients dropping just before they upload their masked
vector, everything serial in one process on one core. Both sides quantise
the same way: clip to [-8, 8], 2^22 levels (Flower's defaults; here
``clip = 8`` and ``precision = 16 / 2^22``), and both are checked against the
plain sum of the surviving clients.

Flower's side is ``/work/shared/peers/flower_round_bench.py`` (Flower's own
``SecAggPlusWorkflow`` and ``secaggplus_mod`` with an in-process grid, its
protobuf serde on every message), run in its own virtualenv with
``flwr==1.41.0`` (``python -m venv /work/venv-flwr141 &&
/work/venv-flwr141/bin/pip install flwr==1.41.0``). The repeats interleave:
ours, Flower's, ours, Flower's, ... so both see the same machine; the ratio
is Flower's median over ours. Ours is timed after one untimed round of the
same shape in the same process (a server runs many rounds; the first one
in a process pays Numba's compile and the allocator's first touch, about
0.4-0.6 s here); each Flower round runs in a fresh process, and its timer
starts after Flower's imports; a warm-up would not help it (two rounds in
one Flower process on 2026-12-05, machine loaded: 26.3 s, then 31.0 s).

Run: ``.venv/bin/python bench/peer_flower.py [--repeats 3]
[--flower-python /work/venv-flwr141/bin/python]
[--flower-script /work/shared/peers/flower_round_bench.py]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))

from secagg.driver import Phase, secure_sum  # noqa: E402

CLIENTS, DIM, NEIGHBORS, THRESHOLD, DROPPED = 100, 100_000, 30, 17, 10
CLIP, LEVELS = 8.0, 2**22


def inputs(n: int, d: int, seed: int = 0) -> list[np.ndarray]:
    """Flower's bench's kind of update: N(0, 1) * 0.1 in float32 (test data, not key material)."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(d) * 0.1).astype(np.float32) for _ in range(n)]


def dropped_ids(n: int, count: int, seed: int = 0) -> list[int]:
    """Client ids (1-based) that vanish before uploading, a seeded choice."""
    return sorted(int(u) + 1 for u in np.random.default_rng(seed + 1).choice(n, size=count, replace=False))


def ours_once(vectors: list[np.ndarray], drops: list[int]) -> tuple[float, float]:
    """One round here: (seconds, largest error of the sum against the survivors' float64 sum)."""
    start = time.perf_counter()
    result = secure_sum(
        vectors,
        clip=CLIP,
        precision=2 * CLIP / LEVELS,
        dropouts={u: Phase.MASKED_INPUT for u in drops},
        neighbors=NEIGHBORS,
        threshold=THRESHOLD,
    )
    seconds = time.perf_counter() - start
    if sorted(result.dropped) != drops:
        raise SystemExit(f"dropped {result.dropped}, expected {drops}")
    plain = np.sum([vectors[u - 1].astype(np.float64) for u in result.included], axis=0)
    return seconds, float(np.max(np.abs(result.total - plain)))


def flower_once(python: str, script: str) -> dict:
    """One Flower round in its venv: the bench's JSON object."""
    cmd = [
        python, script, "--clients", str(CLIENTS), "--dim", str(DIM), "--num-shares", str(NEIGHBORS + 1),
        "--threshold", str(THRESHOLD), "--dropout-frac", str(DROPPED / CLIENTS), "--reps", "1", "--json",
        "--no-profile",
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=1800)
    data = json.loads(out.stdout)
    if not data.get("all_completed") or data["effective"]["n_dropped"] != DROPPED:
        raise SystemExit(f"Flower's round did not complete as set up: {json.dumps(data)[:600]}")
    return data


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--flower-python", default="/work/venv-flwr141/bin/python")
    ap.add_argument("--flower-script", default="/work/shared/peers/flower_round_bench.py")
    args = ap.parse_args(argv)
    vectors, drops = inputs(CLIENTS, DIM), dropped_ids(CLIENTS, DROPPED)
    ours_once(vectors, drops)  # warm-up at the timed shape: Numba's kernels and the allocator's first touch of ~1 GB
    ours, flower, errors = [], [], []
    for rep in range(args.repeats):
        seconds, err = ours_once(vectors, drops)
        ours.append(seconds)
        errors.append(err)
        data = flower_once(args.flower_python, args.flower_script)
        flower.append(data["timing_s"]["wall"]["median"])
        print(f"[rep {rep}] ours {seconds:.3f} s (max |error| {err:.2e}), Flower {flower[-1]:.2f} s, "
              f"ratio {flower[-1] / seconds:.1f}x", file=sys.stderr)
    load = os.getloadavg()
    mo, mf = statistics.median(ours), statistics.median(flower)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; Flower {data['flwr_version']}")
    print(f"n = {CLIENTS}, d = {DIM:,}, k = {NEIGHBORS} (+ self = Flower's K = {NEIGHBORS + 1}), t = {THRESHOLD}, "
          f"{DROPPED} drop before upload, serial, {args.repeats} interleaved repeats")
    print(f"ours:   median {mo:.3f} s  (all: {', '.join(f'{x:.3f}' for x in ours)}; "
          f"max |sum error| {max(errors):.2e})")
    print(f"Flower: median {mf:.2f} s  (all: {', '.join(f'{x:.2f}' for x in flower)})")
    print(f"ratio (Flower / ours, medians): {mf / mo:.1f}x; per repeat: "
          f"{', '.join(f'{f / o:.1f}x' for f, o in zip(flower, ours))}")


if __name__ == "__main__":
    main()
