"""Server streaming sum of n = 100 masked vectors of d = 1e6 words versus NumPy float32.

Baselines: ``acc += v`` over 100 float32 vectors, and ``np.sum`` over the
stacked (100, d) float32 array. Ours: :func:`accumulate` on uint32 words
(bits 32, and bits 24 where every block is also range-checked), and
:func:`accumulate_packed` straight from the wire bytes at bits 8, 16, 20, 24,
27, 32 and 40 (one SIMD byte-shuffle kernel per width; bits 40 adds into a
uint64 accumulator, so it moves twice the accumulator bytes). A second group
times the client side, :func:`pack` of one d = 1e6 vector, at the same widths.

Run: ``.venv/bin/python -m pytest bench/test_server_sum.py --benchmark-min-rounds=5 -q``
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_words

from secagg.primitives.masking import accumulate, accumulate_packed, pack
from secagg.primitives.words import word_dtype

N, D = 100, 1_000_000
GROUP = f"server sum n={N} d={D:.0e}"
PACK_GROUP = f"client pack d={D:.0e}"
WIDTHS = [8, 16, 20, 24, 27, 32, 40]


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(2024)


@pytest.fixture(scope="module")
def float_stack(rng):
    return rng.random((N, D), dtype=np.float32)


@pytest.fixture(scope="module")
def word_stack(rng):
    return random_words(rng, N * D, 32).reshape(N, D)


def _packed(rng, bits):
    return [pack(random_words(rng, D, bits, word_dtype(bits)), bits) for _ in range(N)]


def test_numpy_float32_iadd(benchmark, float_stack):
    benchmark.group = GROUP
    vectors = list(float_stack)
    acc = np.zeros(D, dtype=np.float32)

    def run():
        for v in vectors:
            np.add(acc, v, out=acc)

    benchmark(run)


def test_numpy_float32_sum_stacked(benchmark, float_stack):
    benchmark.group = GROUP
    benchmark(np.sum, float_stack, axis=0)


def test_numpy_uint32_iadd(benchmark, word_stack):
    benchmark.group = GROUP
    vectors = list(word_stack)
    acc = np.zeros(D, dtype=np.uint32)

    def run():
        for v in vectors:
            np.add(acc, v, out=acc)

    benchmark(run)


@pytest.mark.parametrize("bits", [32, 24])
def test_accumulate(benchmark, word_stack, bits):
    benchmark.group = GROUP
    vectors = list(word_stack & np.uint32((1 << bits) - 1)) if bits != 32 else list(word_stack)
    acc = np.zeros(D, dtype=np.uint32)
    accumulate(acc, vectors[0], bits=bits)  # warm-up

    def run():
        for v in vectors:
            accumulate(acc, v, bits=bits)

    benchmark(run)


@pytest.mark.parametrize("bits", WIDTHS)
def test_accumulate_packed(benchmark, rng, bits):
    benchmark.group = GROUP
    uploads = _packed(rng, bits)
    acc = np.zeros(D, dtype=word_dtype(bits))
    accumulate_packed(acc, uploads[0], bits=bits)  # warm-up

    def run():
        for data in uploads:
            accumulate_packed(acc, data, bits=bits)

    benchmark(run)


@pytest.mark.parametrize("bits", WIDTHS)
def test_pack(benchmark, rng, bits):
    benchmark.group = PACK_GROUP
    words = random_words(rng, D, bits, word_dtype(bits))
    pack(words, bits)  # warm-up
    benchmark(pack, words, bits)
