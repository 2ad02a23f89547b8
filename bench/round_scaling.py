"""Print how a whole round's time and bytes grow with n: SecAgg+ ~ n log n, SecAgg ~ n^2.

Every round runs :func:`secure_sum` in one process (one core: the driver runs
the clients one after another) on bits-32 integer inputs (np.random test
data), d = 1e4, with 10 % of the clients dropping, spread evenly over
SHARE_KEYS, MASKED_INPUT and UNMASKING:

* SecAgg+ (the finder's Harary graph, ``dropout_rate = 0.1``) at n = 100,
  200, 400, 800, 1000;
* SecAgg (complete graph, ``t = floor(n/2) + 1``) at n = 50, 100, 200, 400.

Columns: client seconds (sum over clients), server seconds, the whole call,
bytes sent per role and in total, and the overhead bytes (total minus the
masked vectors the server received), medians over ``--repeats`` runs. The
growth exponent is the least-squares slope of log(y) against log(n); for
SecAgg+ also against log(n k), which is ~1 when the cost is linear in the
number of edges (k grows like log n).

The TARGET rows (issue 13, item 5): n = 1000, d = 1e5, 10 % dropout, SecAgg+
semi-honest, once serial (``workers=1``, target <= 6 s on a 2-vCPU machine)
and once with the clients in two forked workers (``workers=2``, <= 4 s), the
runs of the two interleaved so that both see the same machine. The SCALE row
(``--scale``): n = 10,000, d = 1e4, 10 % dropout, ``workers=2`` (<= 60 s),
checked exact against the plain sum of the included clients. For each, the
server's peak memory: the traffic the server received in one of the timed
rounds is recorded (its public graph seed drawn from a fixed stream so the
round can be replayed), then replayed into a fresh server under
:mod:`tracemalloc`, so that only the server's allocations (the accumulator,
the decoded messages, state, transients of unmasking) are traced; the ratio
peak / (4 d) is printed (1.0 is the uint32 accumulator alone).

Run: ``.venv/bin/python bench/round_scaling.py [--repeats 3] [--quick | --target-only] [--scale]``

>>> sorted(schedule(10, 0.3).items())[0], round(slope([1, 2, 4], [1, 4, 16]), 6)
((1, <Phase.SHARE_KEYS: 'share_keys'>), 2.0)
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
import tracemalloc

import numpy as np

import secagg.driver
from secagg import codec
from secagg.driver import Phase, secure_sum
from secagg.params import Params
from secagg.primitives.words import word_dtype
from secagg.protocol.server import Server

BITS = 32
DIM = 10_000
DROPOUT = 0.10
SECAGG_PLUS_NS = (100, 200, 400, 800, 1000)
SECAGG_NS = (50, 100, 200, 400)
TARGET = dict(n=1000, d=100_000)
SCALE = dict(n=10_000, d=10_000, workers=2)
DROP_PHASES = (Phase.SHARE_KEYS, Phase.MASKED_INPUT, Phase.UNMASKING)


def inputs(n: int, d: int, seed: int = 0) -> list[np.ndarray]:
    """Uniform bits-32 test data (not secret: np.random is fine here)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 2**BITS, size=d, dtype=np.uint64).astype(np.uint32) for _ in range(n)]


def schedule(n: int, rate: float) -> dict[int, Phase]:
    """``floor(rate * n)`` evenly spaced ids, cycling over the three drop phases."""
    count = int(rate * n + 1e-9)
    ids = np.linspace(1, n, count, dtype=int) if count else []
    return {int(u): DROP_PHASES[i % 3] for i, u in enumerate(ids)}


def run_round(vectors, dropouts, graph: str, workers: int = 1) -> dict:
    """One timed round; returns seconds, bytes, k, t, and whether the sum is exact."""
    n, d = len(vectors), len(vectors[0])
    kwargs = dict(neighbors=n - 1, threshold=n // 2 + 1) if graph == "secagg" else dict(dropout_rate=DROPOUT)
    t0 = time.perf_counter()
    r = secure_sum(vectors, bits=BITS, dropouts=dropouts, workers=workers, **kwargs)
    whole = time.perf_counter() - t0
    s = r.stats
    masked = len(r.included) * codec.encoded_size_masked_input(
        Params(n_clients=n, dim=d, bits=BITS, graph="complete", neighbors=n - 1, threshold=2)
    )
    total = s.bytes_sent["clients"] + s.bytes_sent["server"]
    expected = np.zeros(d, dtype=np.uint64)
    for u in r.included:
        expected += vectors[u - 1]
    return dict(
        k=s.extra["neighbors"],
        t=s.extra["threshold"],
        client=s.seconds["clients"]["total"],
        server=s.seconds["server"]["total"],
        whole=whole,
        client_bytes=s.bytes_sent["clients"],
        server_bytes=s.bytes_sent["server"],
        total_bytes=total,
        overhead_bytes=total - masked,
        exact=bool(np.array_equal(expected.astype(np.uint32), r.total)),
        included=len(r.included),
    )


def median_round(n: int, d: int, graph: str, repeats: int) -> dict:
    vectors = inputs(n, d, seed=n)
    dropouts = schedule(n, DROPOUT)
    runs = [run_round(vectors, dropouts, graph) for _ in range(repeats)]
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def slope(xs, ys) -> float:
    """Least-squares slope of log(y) against log(x)."""
    return float(np.polyfit(np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float)), 1)[0])


def table(title: str, ns, rows: list[dict], *, edges: bool) -> None:
    print(f"### {title}\n")
    print("| n | k | t | client s | server s | round s | client B sent | server B sent | total B | overhead B |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, r in zip(ns, rows):
        print(
            f"| {n} | {r['k']} | {r['t']} | {r['client']:.2f} | {r['server']:.2f} | {r['whole']:.2f} | "
            f"{r['client_bytes']:,} | {r['server_bytes']:,} | {r['total_bytes']:,} | {r['overhead_bytes']:,} |"
        )
    keys = ("whole", "client", "server", "total_bytes", "overhead_bytes")
    names = ("round s", "client s", "server s", "total B", "overhead B")
    print("\nGrowth exponent (log-log slope)\n")
    print("| against | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(keys))
    print("| n | " + " | ".join(f"{slope(ns, [r[k] for r in rows]):.2f}" for k in keys) + " |")
    if edges:
        nk = [n * r["k"] for n, r in zip(ns, rows)]
        print("| n k | " + " | ".join(f"{slope(nk, [r[k] for r in rows]):.2f}" for k in keys) + " |")
    print()


class _ReplayRandom:
    """Deterministic bytes for the server's public graph seed, so a recorded round replays."""

    def __init__(self) -> None:
        self.counter = 0

    def token_bytes(self, n: int) -> bytes:
        self.counter += 1
        return hashlib.shake_256(b"replay" + self.counter.to_bytes(8, "little")).digest(n)


class _RecordingServer(Server):
    """The driver's server, with the fixed graph-seed stream and every event it sees kept for a replay."""

    log: list | None = None

    def __init__(self, params, **kwargs) -> None:
        kwargs["random"] = _ReplayRandom()
        super().__init__(params, **kwargs)

    def receive(self, sender: int, data: bytes) -> None:
        _RecordingServer.log.append((sender, bytes(data)))
        super().receive(sender, data)

    def advance(self) -> dict:
        _RecordingServer.log.append(None)
        return super().advance()


def recorded_round(vectors, dropouts, workers: int) -> tuple[dict, list]:
    """One timed round (as :func:`run_round`) whose server events are recorded for :func:`server_peak_memory`."""
    _RecordingServer.log = []
    secagg.driver.Server = _RecordingServer
    try:
        row = run_round(vectors, dropouts, "secagg+", workers)
    finally:
        secagg.driver.Server = Server
    events, _RecordingServer.log = _RecordingServer.log, None
    return row, events


def server_peak_memory(params: Params, events, vectors) -> dict:
    """Replay ``events`` into a fresh server under tracemalloc; return the peak and the retained bytes."""
    server = Server(params, random=_ReplayRandom())
    tracemalloc.start()
    per_phase = []
    for ev in events:
        if ev is None:
            server.advance()
            per_phase.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.reset_peak()
        else:
            server.receive(*ev)
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    done = server.result()
    expected = np.zeros(params.dim, dtype=np.uint64)
    for u in done.included:
        expected += vectors[u - 1]
    if not np.array_equal(done.total, expected.astype(np.uint32)):
        raise AssertionError("the replayed server computed a different sum")
    return dict(peak=max(per_phase), per_phase=per_phase, retained=current)


def _print_rows(title: str, rows: list[tuple[int, list[dict], dict]], d: int) -> None:
    acc = d * np.dtype(word_dtype(BITS)).itemsize
    print(f"### {title}\n")
    print("| workers | k | t | exact | client s | server s | round s (median) | all round s | server peak B (tracemalloc) "
          "| peak / (4 d) | retained after round B |")
    print("|---:|---:|---:|:---:|---:|---:|---:|---|---:|---:|---:|")
    for workers, runs, mem in rows:
        med = {key: statistics.median(r[key] for r in runs) for key in ("client", "server", "whole")}
        times = ", ".join(f"{r['whole']:.2f}" for r in runs)
        print(
            f"| {workers} | {runs[0]['k']} | {runs[0]['t']} | {'yes' if all(r['exact'] for r in runs) else 'NO'} | "
            f"{med['client']:.2f} | {med['server']:.2f} | {med['whole']:.2f} | {times} | {mem['peak']:,} | "
            f"{mem['peak'] / acc:.2f} | {mem['retained']:,} |"
        )
    phases = ("advertise_keys", "share_keys", "masked_input", "unmasking")
    mem = rows[0][2]
    print("\nServer peak per phase (B): " + ", ".join(f"{p} {b:,}" for p, b in zip(phases, mem["per_phase"])))
    print("(client s is summed over the clients, so with workers = 2 it exceeds the round's wall time)\n")


def target(repeats: int) -> None:
    """The TARGET rows: serial and workers = 2, interleaved, medians of ``repeats``."""
    n, d = TARGET["n"], TARGET["d"]
    vectors = inputs(n, d, seed=1)
    dropouts = schedule(n, DROPOUT)
    params = Params.auto(n_clients=n, dim=d, bits=BITS, dropout_rate=DROPOUT)
    runs: dict[int, list[dict]] = {1: [], 2: []}
    events = None
    for i in range(repeats):
        for workers in (1, 2):
            if i == 0 and workers == 1:
                row, events = recorded_round(vectors, dropouts, workers)
            else:
                row = run_round(vectors, dropouts, "secagg+", workers)
            runs[workers].append(row)
    mem = server_peak_memory(params, events, vectors)
    title = f"TARGET: SecAgg+ semi-honest, n = {n}, d = {d:.0e}, 10 % dropout (median of {repeats}, interleaved)"
    _print_rows(title, [(w, r, mem) for w, r in runs.items()], d)


def scale(repeats: int) -> None:
    """The SCALE row: n = 10,000, d = 1e4, workers = 2."""
    n, d, workers = SCALE["n"], SCALE["d"], SCALE["workers"]
    vectors = inputs(n, d, seed=2)
    dropouts = schedule(n, DROPOUT)
    params = Params.auto(n_clients=n, dim=d, bits=BITS, dropout_rate=DROPOUT)
    row, events = recorded_round(vectors, dropouts, workers)
    runs = [row] + [run_round(vectors, dropouts, "secagg+", workers) for _ in range(repeats - 1)]
    mem = server_peak_memory(params, events, vectors)
    del events
    _print_rows(f"SCALE: SecAgg+ semi-honest, n = {n:,}, d = {d:.0e}, 10 % dropout (median of {repeats})", [(workers, runs, mem)], d)


def main(argv=None) -> None:
    """Print the scaling tables and the TARGET rows (and the SCALE row with ``--scale``)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="runs per point (median)")
    ap.add_argument("--quick", action="store_true", help="small n only (a smoke run)")
    ap.add_argument("--target-only", action="store_true", help="only the TARGET rows (and SCALE with --scale)")
    ap.add_argument("--scale", action="store_true", help="also the n = 10,000 row (minutes)")
    args = ap.parse_args(argv)
    secure_sum([np.arange(64, dtype=np.uint32)] * 6, bits=BITS, neighbors=5, threshold=4)  # load the Numba kernels
    if not args.target_only:
        plus_ns = SECAGG_PLUS_NS[:2] if args.quick else SECAGG_PLUS_NS
        full_ns = SECAGG_NS[:2] if args.quick else SECAGG_NS
        rows = [median_round(n, DIM, "secagg+", args.repeats) for n in plus_ns]
        table(f"SecAgg+ (finder's Harary graph), d = {DIM:.0e}, 10 % dropout", plus_ns, rows, edges=True)
        rows = [median_round(n, DIM, "secagg", args.repeats) for n in full_ns]
        table(f"SecAgg (complete graph, t = n/2 + 1), d = {DIM:.0e}, 10 % dropout", full_ns, rows, edges=False)
    if not args.quick:
        target(args.repeats)
    if args.scale:
        scale(args.repeats)


if __name__ == "__main__":
    main(sys.argv[1:])
