"""dp.distributed encodings summed by a plain modular sum in NumPy (no secagg).

Stands in for secure aggregation, whose output is exactly the sum of the
client words mod 2^bits; the lead joins dp and secagg in the top layer.

Error bound used below: decoded minus true sum is noise of stddev
``sigma = central_stddev() * sqrt(n / min_clients)`` plus rounding error of
stddev at most ``sqrt(n) / (2 scale)``; ``8 sigma`` on one of at most 1024
coordinates of near-Gaussian noise is exceeded with probability below 1e-12.
The property test uses ``k_stddevs = 7`` so that no rotated coordinate of the
sum wraps (probability about 2.6e-12 each); at the default ``k_stddevs = 4`` a
wrap is a designed-for rare event (see the warning in dp.distributed).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dp.clipping import clip_l2, flatten, unflatten
from dp.distributed import DistributedDPConfig, decode_sum, encode_client, plan
from tests.detrandom import DeterministicRandom

SEED = bytes(range(100, 132))


def modular_sum(encodings, bits):
    """What secure aggregation outputs: the word-wise sum mod 2^bits."""
    total = np.zeros(encodings[0].shape, dtype=np.uint64)
    for e in encodings:
        total += e.astype(np.uint64)  # n * 2^62 < 2^64 for n <= 4; mask after each add
        total &= np.uint64((1 << bits) - 1)
    return total


def error_bound(p, n):
    sigma = p.central_stddev() * math.sqrt(n / p.config.min_clients)
    return 8 * math.sqrt(sigma**2 + n / (4 * p.scale**2))


@given(
    mechanism=st.sampled_from(["skellam", "dgauss"]),
    bits=st.integers(14, 62),
    dim=st.integers(1, 1000),
    n=st.integers(1, 6),
    norm=st.floats(0.0, 5.0),
    seed=st.integers(0, 2**32),
)
def test_decoded_modular_sum_equals_the_clipped_sum_up_to_noise(mechanism, bits, dim, n, norm, seed):
    cfg = DistributedDPConfig(
        mechanism=mechanism, bits=bits, l2_clip=1.0, noise_multiplier=0.5, dim=dim, min_clients=n, k_stddevs=7.0
    )
    p = plan(cfg)
    rng = np.random.default_rng(seed)  # test data, not secret
    xs = [rng.normal(size=dim) * norm / math.sqrt(dim) for _ in range(n)]
    source = DeterministicRandom(seed)
    encodings = [encode_client(x, p, rotation_seed=SEED, random=source) for x in xs]
    decoded = decode_sum(modular_sum(encodings, bits), p, rotation_seed=SEED, n_clients=n)
    true = np.sum([clip_l2(x, 1.0)[0] for x in xs], axis=0)
    assert np.max(np.abs(decoded - true)) <= error_bound(p, n)


def test_native_uint32_wraparound_is_the_same_modular_sum_at_32_bits():
    p = plan(DistributedDPConfig(mechanism="skellam", bits=32, l2_clip=1.0, noise_multiplier=1.0, dim=500, min_clients=4))
    source = DeterministicRandom("u32")
    rng = np.random.default_rng(3)
    xs = [rng.normal(size=500) / 30 for _ in range(4)]
    encodings = [encode_client(x, p, rotation_seed=SEED, random=source) for x in xs]
    wrapped = np.zeros(p.padded_dim, dtype=np.uint32)
    for e in encodings:
        wrapped += e  # uint32 arithmetic wraps mod 2^32
    np.testing.assert_array_equal(wrapped.astype(np.uint64), modular_sum(encodings, 32))
    decoded = decode_sum(wrapped, p, rotation_seed=SEED, n_clients=4)
    assert np.max(np.abs(decoded - np.sum(xs, axis=0))) <= error_bound(p, 4)


def test_summation_order_does_not_change_the_decoded_result():
    p = plan(DistributedDPConfig(mechanism="dgauss", bits=18, l2_clip=1.0, noise_multiplier=1.0, dim=64, min_clients=5))
    source = DeterministicRandom("order")
    encodings = [encode_client(np.full(64, 0.01 * i), p, rotation_seed=SEED, random=source) for i in range(5)]
    forward = decode_sum(modular_sum(encodings, 18), p, rotation_seed=SEED, n_clients=5)
    backward = decode_sum(modular_sum(encodings[::-1], 18), p, rotation_seed=SEED, n_clients=5)
    np.testing.assert_array_equal(forward, backward)


def test_encodings_use_the_whole_modulus_because_negative_values_wrap():
    p = plan(DistributedDPConfig(mechanism="skellam", bits=16, l2_clip=1.0, noise_multiplier=1.0, dim=256, min_clients=3))
    y = encode_client(np.zeros(256), p, rotation_seed=SEED, random=DeterministicRandom("wrap"))
    assert (y >= 2**15).any() and (y < 2**15).any()


def test_model_layers_survive_the_pipeline_through_unflatten():
    layers = [np.full((3, 4), 0.05), np.linspace(-0.1, 0.1, 5)]
    vector, spec = flatten(layers)
    p = plan(
        DistributedDPConfig(
            mechanism="skellam", bits=24, l2_clip=1.0, noise_multiplier=0.1, dim=vector.size, min_clients=3
        )
    )
    source = DeterministicRandom("layers")
    encodings = [encode_client(layers, p, rotation_seed=SEED, random=source) for _ in range(3)]
    decoded = unflatten(decode_sum(modular_sum(encodings, 24), p, rotation_seed=SEED, n_clients=3), spec)
    assert [a.shape for a in decoded] == [(3, 4), (5,)]
    for got, layer in zip(decoded, layers):
        assert np.max(np.abs(got - 3 * layer)) <= error_bound(p, 3)


def test_a_wrong_rotation_seed_at_the_server_scrambles_the_sum():
    p = plan(DistributedDPConfig(mechanism="skellam", bits=24, l2_clip=1.0, noise_multiplier=0.01, dim=64, min_clients=2))
    source = DeterministicRandom("seed")
    x = np.full(64, 0.1)
    encodings = [encode_client(x, p, rotation_seed=SEED, random=source) for _ in range(2)]
    right = decode_sum(modular_sum(encodings, 24), p, rotation_seed=SEED, n_clients=2)
    wrong = decode_sum(modular_sum(encodings, 24), p, rotation_seed=bytes(32), n_clients=2)
    assert np.max(np.abs(right - 2 * x)) <= error_bound(p, 2)
    assert np.linalg.norm(right - 2 * x) < 0.1 * np.linalg.norm(2 * x)
    assert np.linalg.norm(wrong - 2 * x) > 0.5 * np.linalg.norm(2 * x)


@pytest.mark.parametrize("mechanism", ["skellam", "dgauss"])
def test_noise_in_the_modular_sum_has_the_accounted_variance(mechanism):
    n, dim = 4, 4096
    p = plan(DistributedDPConfig(mechanism=mechanism, bits=20, l2_clip=1.0, noise_multiplier=1.2, dim=dim, min_clients=n))
    source = DeterministicRandom(f"var-{mechanism}")
    rng = np.random.default_rng(11)
    xs = [rng.normal(size=dim) / 80 for _ in range(n)]
    encodings = [encode_client(x, p, rotation_seed=SEED, random=source) for x in xs]
    err = decode_sum(modular_sum(encodings, 20), p, rotation_seed=SEED, n_clients=n) - np.sum(
        [clip_l2(x, 1.0)[0] for x in xs], axis=0
    )
    target = p.central_stddev() ** 2 + n / (4 * p.scale**2)
    # 5 standard errors of a sample variance over `dim` near-Gaussian values.
    assert abs(err.var() / target - 1) <= 5 * math.sqrt(2 / dim)
