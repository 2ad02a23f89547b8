"""Round time against n (SecAgg+ and the complete graph), and the masking server sum at small d.

For ``make report`` (the report's log-log plot and fitted slopes read this
file's pytest-benchmark JSON). Every round is one :func:`secure_sum` call in one
process (the clients run one after another on one core), bits-32 integer
inputs (np.random test data), d = 1e4, 10 % of the clients dropping, spread
evenly over SHARE_KEYS, MASKED_INPUT and UNMASKING (as ``bench/round_scaling.py``):

* SecAgg+ (the finder's Harary graph) at n = 50, 100, 200, 400, 800;
* SecAgg (complete graph, ``t = floor(n/2) + 1``) at n = 25, 50, 100, 200.

``BENCH_REPEATS`` (default 2) sets the rounds per point; n >= 400 runs once
(a quiet machine can raise both). Each case records k, t and the bytes sent
and received per role in ``extra_info``.

A second group times the server's streaming sum of n = 100 packed 24-bit
uploads at d = 1e4 and 1e5 (the masking side of the CKKS comparison; the
d = 1e6 case is in ``test_server_sum.py``).

Run: ``.venv/bin/python -m pytest bench/test_report_scaling.py -q --benchmark-json=out.json``
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import random_words

from secagg.driver import Phase, secure_sum
from secagg.primitives.masking import accumulate_packed, pack

BITS = 32
D = 10_000
DROP_PHASES = (Phase.SHARE_KEYS, Phase.MASKED_INPUT, Phase.UNMASKING)
REPEATS = int(os.environ.get("BENCH_REPEATS", "2"))
CASES = [("secagg+", n) for n in (50, 100, 200, 400, 800)] + [("secagg", n) for n in (25, 50, 100, 200)]


def schedule(n: int, rate: float = 0.1) -> dict[int, Phase]:
    """``rate * n`` evenly spaced ids, cycling over the three drop phases."""
    ids = np.linspace(1, n, int(n * rate), dtype=int)
    return {int(u): DROP_PHASES[i % len(DROP_PHASES)] for i, u in enumerate(ids)}


@pytest.fixture(scope="module", autouse=True)
def warm_up():
    """One tiny round loads every Numba kernel from its cache before timing."""
    vs = [np.arange(64, dtype=np.uint32) for _ in range(6)]
    secure_sum(vs, bits=BITS, neighbors=5, threshold=4, dropouts={2: Phase.MASKED_INPUT})


@pytest.mark.parametrize("graph, n", CASES, ids=[f"{g}-n{n}" for g, n in CASES])
def test_round_vs_n(benchmark, graph, n):
    benchmark.group = f"round vs n, d={D:.0e}, 10% dropout"
    rng = np.random.default_rng(n)
    vectors = [random_words(rng, D, BITS) for _ in range(n)]
    dropouts = schedule(n)
    if graph == "secagg":
        kwargs = dict(neighbors=n - 1, threshold=n // 2 + 1)
    else:
        kwargs = dict(graph="auto", dropout_rate=0.1)
    results = []

    def run():
        results.append(secure_sum(vectors, bits=BITS, dropouts=dropouts, **kwargs))

    benchmark.pedantic(run, rounds=REPEATS if n < 400 else 1, iterations=1, warmup_rounds=0)
    r = results[-1]
    benchmark.extra_info.update(graph=graph, n=n, d=D, k=r.stats.extra["neighbors"], t=r.stats.extra["threshold"],
                                bytes_sent=dict(r.stats.bytes_sent), bytes_received=dict(r.stats.bytes_received))


@pytest.mark.parametrize("d", [10_000, 100_000])
def test_masking_server_sum_of_100(benchmark, d):
    benchmark.group = f"masking server sum n=100 d={d:.0e}"
    rng = np.random.default_rng(d)
    uploads = [pack(random_words(rng, d, 24), bits=24) for _ in range(100)]
    acc = np.zeros(d, dtype=np.uint32)
    accumulate_packed(acc, uploads[0], bits=24)  # warm-up

    def run():
        acc[:] = 0
        for u in uploads:
            accumulate_packed(acc, u, bits=24)

    benchmark.pedantic(run, rounds=max(REPEATS, 3), iterations=1)
    benchmark.extra_info.update(d=d, upload_bytes=len(uploads[0]), float32_bytes=4 * d)
