"""Whole SecAgg / SecAgg+ rounds in one process: wall time of :func:`secure_sum`.

Integer inputs at bits 32 (np.random test data), the dropouts spread evenly
over the phases SHARE_KEYS, MASKED_INPUT and UNMASKING, and the finder
planning for exactly the schedule's dropout rate. Two graphs:

* ``secagg+``: the finder's choice (a Harary graph of degree ``k = O(log n)``);
* ``secagg``: the complete graph with ``t = floor(n/2) + 1``, at n = 100 only.
  At n = 1000 the complete graph needs about 2M X25519 agreements and
  n * n mask expansions, far too slow for a benchmark on 2 cores.

The default grid keeps ``make bench`` short: n in {100, 1000}, d in {1e4, 1e5},
dropout 0 / 10 / 30 %, except that n = 1000, d = 1e5 runs at 10 % dropout only,
once with the clients in this process and once in two forked worker processes
(``workers=2``: both cores).
``BENCH_ROUND_FULL=1`` adds the other two n = 1000, d = 1e5 cases. n = 100 runs
3 rounds, n = 1000 one round. Each case records in ``extra_info`` the client and
server seconds, the bytes per role, and the graph's k and t.

Run: ``.venv/bin/python -m pytest bench/test_round.py -q --benchmark-columns=median,rounds``
"""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest
from conftest import random_words

from secagg.driver import Phase, secure_sum

BITS = 32
DROP_PHASES = (Phase.SHARE_KEYS, Phase.MASKED_INPUT, Phase.UNMASKING)
FULL = os.environ.get("BENCH_ROUND_FULL") == "1"


def _cases() -> list:
    cases = []
    for graph, sizes in (("secagg+", (100, 1000)), ("secagg", (100,))):
        for n in sizes:
            for d in (10_000, 100_000):
                for drop in (0, 10, 30):
                    if n == 1000 and d == 100_000 and drop != 10 and not FULL:
                        continue
                    cases.append(pytest.param(graph, n, d, drop, 1, id=f"{graph}-n{n}-d{d:.0e}-drop{drop}"))
    # The target case with the clients in two forked processes (both cores).
    cases.append(pytest.param("secagg+", 1000, 100_000, 10, 2, id="secagg+-n1000-d1e+05-drop10-workers2"))
    return cases


@functools.lru_cache(maxsize=2)
def _inputs(n: int, d: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(n * 7 + d)
    return tuple(random_words(rng, d, BITS) for _ in range(n))


def schedule(n: int, percent: int) -> dict[int, Phase]:
    """``percent`` % of the ids, evenly spaced, cycling over the three drop phases."""
    count = n * percent // 100
    if count == 0:
        return {}
    ids = np.linspace(1, n, count, dtype=int)
    return {int(u): DROP_PHASES[i % len(DROP_PHASES)] for i, u in enumerate(ids)}


@pytest.fixture(scope="module", autouse=True)
def warm_up():
    """One tiny round loads every Numba kernel from its cache before timing."""
    vs = [np.arange(64, dtype=np.uint32) for _ in range(6)]
    secure_sum(vs, bits=BITS, neighbors=5, threshold=4, dropouts={2: Phase.MASKED_INPUT})


@pytest.mark.parametrize("graph, n, d, drop, workers", _cases())
def test_round(benchmark, graph, n, d, drop, workers):
    benchmark.group = f"round n={n} d={d:.0e}"
    vectors = _inputs(n, d)
    dropouts = schedule(n, drop)
    if graph == "secagg":
        kwargs = dict(neighbors=n - 1, threshold=n // 2 + 1)
    else:
        kwargs = dict(graph="auto", dropout_rate=len(dropouts) / n)
    results = []

    def run():
        results.append(secure_sum(vectors, bits=BITS, dropouts=dropouts, workers=workers, **kwargs))

    benchmark.pedantic(run, rounds=3 if n <= 100 else 1, iterations=1, warmup_rounds=0)
    r = results[-1]
    assert len(r.included) == n - sum(1 for p in dropouts.values() if p is not Phase.UNMASKING)
    stats = r.stats
    benchmark.extra_info.update(
        graph=stats.extra["graph"],
        k=stats.extra["neighbors"],
        t=stats.extra["threshold"],
        client_seconds=stats.seconds["clients"]["total"],
        server_seconds=stats.seconds["server"]["total"],
        bytes_sent=dict(stats.bytes_sent),
        bytes_received=dict(stats.bytes_received),
    )
