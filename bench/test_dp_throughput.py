"""Throughput of the dp samplers, the Hadamard rotation and the client encoder.

Side by side in one run: the discrete-Gaussian and Skellam samplers at 1M
samples (OS CSPRNG source, which includes drawing the random bytes), the raw
``os.urandom`` rate for the same number of bytes a discrete-Gaussian batch
draws (4 words = 32 bytes per sample; the exact sampler uses about 200 bits),
the Numba FWHT versus the NumPy reference at d = 2^20, and one full
``encode_client`` at d = 2^20 (clip, rotate, round, noise, wrap).

Run: ``.venv/bin/python -m pytest bench/test_dp_throughput.py --benchmark-min-rounds=3 -q``
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from dp.distributed import DistributedDPConfig, encode_client, plan
from dp.mechanisms import discrete_gaussian, skellam
from dp.rotation import fwht_inplace, fwht_reference, rotate

SAMPLES = 1_000_000
DIM = 2**20
SEED = bytes(range(32))


@pytest.mark.parametrize("sigma", [10.0, 100.0, 1000.0])
def test_discrete_gaussian_1m(benchmark, sigma):
    benchmark.group = "sampler 1M"
    discrete_gaussian(100, sigma * sigma)  # warm-up: load the cached kernel
    out = benchmark(discrete_gaussian, SAMPLES, sigma * sigma)
    assert out.shape == (SAMPLES,)


@pytest.mark.parametrize("mu", [100.0, 1e4, 1e6])
def test_skellam_1m(benchmark, mu):
    benchmark.group = "sampler 1M"
    skellam(100, mu)
    out = benchmark(skellam, SAMPLES, mu)
    assert out.shape == (SAMPLES,)


def test_urandom_bytes_of_a_1m_discrete_gaussian_batch(benchmark):
    benchmark.group = "sampler 1M"
    benchmark(os.urandom, 32 * SAMPLES)


def test_fwht_numba_2_20(benchmark):
    benchmark.group = "rotation d=2^20"
    x = np.random.default_rng(0).normal(size=DIM)  # test data, not secret
    fwht_inplace(x.copy())
    benchmark(fwht_inplace, x)  # in place: the values change, the cost does not


def test_fwht_numpy_reference_2_20(benchmark):
    benchmark.group = "rotation d=2^20"
    x = np.random.default_rng(0).normal(size=DIM)
    benchmark(fwht_reference, x)


def test_rotate_with_signs_2_20(benchmark):
    benchmark.group = "rotation d=2^20"
    x = np.random.default_rng(0).normal(size=DIM)
    rotate(x[:8], SEED)
    benchmark(rotate, x, SEED)


@pytest.mark.parametrize("mechanism", ["skellam", "dgauss"])
def test_encode_client_2_20(benchmark, mechanism):
    benchmark.group = "encode_client d=2^20"
    p = plan(
        DistributedDPConfig(mechanism=mechanism, bits=32, l2_clip=1.0, noise_multiplier=1.0, dim=DIM, min_clients=100)
    )
    x = np.random.default_rng(0).normal(size=DIM) / 2000
    encode_client(x[:DIM], p, rotation_seed=SEED)
    benchmark(encode_client, x, p, rotation_seed=SEED)
