"""Tests for dp.distributed: the plan's formulas, rounding, encoding and decoding.

Variance checks: decoded minus true sum is, per coordinate, the summed noise
(variance ``central_stddev()**2 * n / min_clients``) plus rounding error of
variance at most ``n / 4 / scale**2`` (negligible at these scales). The
orthogonal unrotation keeps i.i.d. noise i.i.d.-like, so the sample variance
over ``N`` coordinates has relative standard error ``sqrt(2 / N)`` for
near-Gaussian noise; the tolerance is 5 such standard errors (a fresh seed
fails with probability < 1e-6; the seeds are fixed, so the tests replay).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dp.distributed import (
    DEFAULT_MODCLIP_PROB,
    DEFAULT_ROUNDING_TOLERANCE,
    MAX_CLIENTS,
    MAX_LOCAL_VARIANCE,
    MAX_SCALED_CLIP,
    DistributedDPConfig,
    DistributedDPPlan,
    bits_needed,
    conditional_round,
    decode_sum,
    encode_client,
    k_stddevs_for,
    modclip_prob_for,
    plan,
)
from dp.errors import BitWidthError, ConditionalRoundingError
from tests.detrandom import DeterministicRandom

SEED = bytes(range(32))


def config(**overrides):
    base = dict(mechanism="skellam", bits=20, l2_clip=1.0, noise_multiplier=1.0, dim=1000, min_clients=10)
    base.update(overrides)
    return DistributedDPConfig(**base)


def updates(n, dim, norm, seed):
    rng = np.random.default_rng(seed)  # test data, not secret
    out = []
    for _ in range(n):
        x = rng.normal(size=dim)
        out.append(x / np.linalg.norm(x) * norm)
    return out


def modular_total(encodings, bits):
    total = np.zeros(encodings[0].shape, dtype=np.uint64)
    for e in encodings:
        total = (total + e.astype(np.uint64)) & np.uint64(2**bits - 1)
    return total


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("mechanism", "laplace", ValueError),
        ("mechanism", 3, TypeError),
        ("bits", 0, ValueError),
        ("bits", 63, ValueError),
        ("bits", 20.0, TypeError),
        ("l2_clip", 0.0, ValueError),
        ("l2_clip", math.inf, ValueError),
        ("noise_multiplier", -1.0, ValueError),
        ("noise_multiplier", math.nan, ValueError),
        ("dim", 0, ValueError),
        ("min_clients", 0, ValueError),
        ("max_clients", 5, ValueError),
        ("beta", 1.0, ValueError),
        ("beta", -0.1, ValueError),
        ("k_stddevs", 0.0, ValueError),
        ("k_stddevs", "4", TypeError),
        ("modclip_prob", 0.0, ValueError),
        ("modclip_prob", 1.0, ValueError),
        ("modclip_prob", "1e-4", TypeError),
        ("rounding_tolerance", 0.0, ValueError),
        ("rounding_tolerance", 1.0, ValueError),
        ("min_clients", MAX_CLIENTS + 1, ValueError),
        ("max_clients", MAX_CLIENTS + 1, ValueError),
        ("noise_multiplier", 1e7, ValueError),
    ],
)
def test_config_rejects_bad_fields_naming_them(field, value, error):
    with pytest.raises(error, match=field):
        config(**{field: value})


def test_config_is_frozen_and_keyword_only():
    cfg = config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.bits = 30
    with pytest.raises(TypeError):
        DistributedDPConfig("skellam", 20, 1.0, 1.0, 10, 2)


@pytest.mark.parametrize("mechanism", ["skellam", "dgauss"])
@pytest.mark.parametrize("bits", [10, 16, 20, 24])
def test_scale_is_the_largest_that_fits_k_stddevs_in_the_modulus(mechanism, bits):
    cfg = config(mechanism=mechanism, bits=bits, max_clients=15)
    p = plan(cfg)
    n, c, s, d = 15, cfg.l2_clip, p.scale, p.padded_dim
    sigma_sq = (cfg.noise_multiplier * c) ** 2 / cfg.min_clients
    width = 2 * cfg.resolved_k_stddevs * math.sqrt(s * s * ((n * c) ** 2 / d + n * sigma_sq) + n / 4)
    assert width == pytest.approx(2.0**bits, rel=1e-12)


@pytest.mark.parametrize("bits", [12, 20, 40, 62])
def test_per_client_noise_sums_to_the_accounted_central_noise_over_min_clients(bits):
    cfg = config(bits=bits, noise_multiplier=0.7, l2_clip=3.0)
    p = plan(cfg)
    assert p.central_stddev() == pytest.approx(0.7 * 3.0, rel=1e-12)
    assert cfg.min_clients * p.local_variance == pytest.approx((0.7 * 3.0 * p.scale) ** 2, rel=1e-12)


def test_large_bit_widths_cap_the_scale_and_the_local_variance():
    p = plan(config(bits=62))
    assert p.local_variance <= MAX_LOCAL_VARIANCE * (1 + 1e-12)
    assert p.config.l2_clip * p.scale <= MAX_SCALED_CLIP * (1 + 1e-12)


@pytest.mark.parametrize("beta", [0.0, math.exp(-0.5), 0.01])
def test_sensitivities_follow_the_conditional_rounding_bound(beta):
    p = plan(config(beta=beta, bits=14))
    cs, d = p.config.l2_clip * p.scale, p.padded_dim
    naive = cs + math.sqrt(d)
    if beta == 0.0:
        expected = naive
    else:
        conditional = math.sqrt(cs**2 + d / 4 + math.sqrt(2 * math.log(1 / beta)) * (cs + math.sqrt(d) / 2))
        expected = min(naive, conditional)
    assert p.l2_sensitivity == pytest.approx(expected, rel=1e-12)
    assert p.l1_sensitivity == pytest.approx(min(math.sqrt(d) * expected, expected**2), rel=1e-12)
    assert p.l2_sensitivity > cs


def test_too_few_bits_raise_bit_width_error_naming_the_bits_needed():
    cfg = config(bits=4)
    with pytest.raises(BitWidthError, match=r"bits=4 is too few.*need at least (\d+) bits") as info:
        plan(cfg)
    needed = int(info.value.args[0].rsplit("need at least ", 1)[1].split()[0])
    assert needed == bits_needed(cfg)
    assert plan(dataclasses.replace(cfg, bits=needed)).local_variance >= 1.0
    if needed - 1 > 4:
        with pytest.raises(BitWidthError):
            plan(dataclasses.replace(cfg, bits=needed - 1))


def test_one_bit_modulus_is_a_bit_width_error():
    with pytest.raises(BitWidthError, match="bits=1"):
        plan(config(bits=1, min_clients=1))


def test_more_expected_clients_means_a_smaller_scale():
    assert plan(config(max_clients=100)).scale < plan(config()).scale


@given(
    dim=st.integers(1, 300),
    norm=st.floats(0.0, 1.0),
    beta=st.sampled_from([0.0, 0.05, math.exp(-0.5), 0.9]),
    bits=st.integers(12, 30),
    seed=st.integers(0, 2**32),
)
def test_conditional_rounding_never_exceeds_the_inflated_bound(dim, norm, beta, bits, seed):
    p = plan(config(dim=dim, beta=beta, bits=bits, min_clients=3))
    rng = np.random.default_rng(seed)  # test data, not secret
    x = rng.normal(size=p.padded_dim)
    x *= norm * p.config.l2_clip * p.scale / max(np.linalg.norm(x), 1e-300)
    rounded = conditional_round(x, p.l2_sensitivity, random=DeterministicRandom(seed))
    assert rounded.dtype == np.int64
    assert float(np.linalg.norm(rounded.astype(np.float64))) <= p.l2_sensitivity
    assert (np.abs(rounded - x) < 1).all()


def test_stochastic_rounding_is_unbiased():
    v = np.array([0.25, -1.75, 3.5, 10.0])
    source = DeterministicRandom("unbiased")
    draws = np.stack([conditional_round(v, 1e9, random=source) for _ in range(20_000)])
    # each coordinate is floor + Bernoulli(frac): SE <= 0.5 / sqrt(20000)
    assert np.all(np.abs(draws.mean(axis=0) - v) <= 5 * 0.5 / math.sqrt(20_000))


def test_rounding_an_unclipped_vector_gives_up_with_a_clear_error():
    with pytest.raises(ConditionalRoundingError, match="exceeded the L2 bound"):
        conditional_round(np.full(16, 10.5), 5.0, random=DeterministicRandom(0))


@pytest.mark.parametrize(("bits", "dtype"), [(16, np.uint32), (32, np.uint32), (33, np.uint64), (62, np.uint64)])
def test_encodings_are_words_mod_two_to_the_bits(bits, dtype):
    p = plan(config(bits=bits, dim=100, min_clients=2))
    y = encode_client(np.ones(100), p, rotation_seed=SEED, random=DeterministicRandom(bits))
    assert y.dtype == dtype
    assert y.shape == (128,)
    assert int(y.max()) < 2**bits


def test_encoding_a_list_of_layers_equals_encoding_the_flat_vector():
    p = plan(config(dim=10, min_clients=2))
    layers = [np.arange(6.0).reshape(2, 3) / 10, np.array([0.1, -0.2, 0.3, 0.4])]
    flat = np.concatenate([layers[0].ravel(), layers[1]])
    a = encode_client(layers, p, rotation_seed=SEED, random=DeterministicRandom("x"))
    b = encode_client(flat, p, rotation_seed=SEED, random=DeterministicRandom("x"))
    np.testing.assert_array_equal(a, b)


def test_encoding_rejects_an_update_of_the_wrong_size():
    p = plan(config(dim=10))
    with pytest.raises(ValueError, match="dim=10"):
        encode_client(np.ones(11), p, rotation_seed=SEED)


@pytest.mark.parametrize(("mechanism", "bits"), [("skellam", 20), ("dgauss", 20), ("skellam", 32), ("dgauss", 16)])
def test_decoded_sum_carries_noise_of_the_accounted_variance(mechanism, bits):
    n, dim, rounds = 5, 2000, 2
    p = plan(config(mechanism=mechanism, bits=bits, dim=dim, min_clients=n, noise_multiplier=0.8, l2_clip=2.0))
    source = DeterministicRandom(f"decode-{mechanism}-{bits}")
    errors = []
    for r in range(rounds):
        xs = updates(n, dim, norm=1.5, seed=r)
        enc = [encode_client(x, p, rotation_seed=SEED, random=source) for x in xs]
        decoded = decode_sum(modular_total(enc, bits), p, rotation_seed=SEED, n_clients=n)
        errors.append(decoded - np.sum(xs, axis=0))
    err = np.concatenate(errors)
    target = p.central_stddev() ** 2 + n / 4 / p.scale**2
    assert abs(err.mean()) <= 5 * math.sqrt(target / err.size)
    assert abs(err.var() / target - 1) <= 5 * math.sqrt(2 / err.size)


def test_sum_over_more_than_min_clients_carries_proportionally_more_noise():
    p = plan(config(dim=2000, min_clients=3, max_clients=6, bits=24))
    source = DeterministicRandom("dropouts")
    xs = updates(6, 2000, norm=0.5, seed=7)
    enc = [encode_client(x, p, rotation_seed=SEED, random=source) for x in xs]
    decoded = decode_sum(modular_total(enc, 24), p, rotation_seed=SEED, n_clients=6)
    err = decoded - np.sum(xs, axis=0)
    target = p.central_stddev() ** 2 * 6 / 3
    assert abs(err.var() / target - 1) <= 5 * math.sqrt(2 / err.size)


def test_decode_refuses_fewer_clients_than_the_noise_was_calibrated_for():
    p = plan(config(dim=8, min_clients=4))
    with pytest.raises(ValueError, match="min_clients=4"):
        decode_sum(np.zeros(8, dtype=np.uint32), p, rotation_seed=SEED, n_clients=3)


def test_decode_refuses_more_clients_than_the_modulus_was_sized_for():
    p = plan(config(dim=8, min_clients=4, max_clients=5))
    with pytest.raises(ValueError, match="max_clients"):
        decode_sum(np.zeros(8, dtype=np.uint32), p, rotation_seed=SEED, n_clients=6)


@pytest.mark.parametrize(
    ("total", "error"),
    [
        (np.zeros(7, dtype=np.uint32), ValueError),
        (np.full(8, 2**20, dtype=np.uint32), ValueError),
        (np.full(8, -1, dtype=np.int64), ValueError),
        (np.zeros(8), TypeError),
    ],
)
def test_decode_rejects_malformed_sums(total, error):
    p = plan(config(dim=8, min_clients=2))
    with pytest.raises(error):
        decode_sum(total, p, rotation_seed=SEED, n_clients=2)


def test_plan_rejects_inconsistent_fields():
    p = plan(config(dim=8))
    with pytest.raises(ValueError, match="padded_dim"):
        dataclasses.replace(p, padded_dim=16)
    with pytest.raises(ValueError, match="scale"):
        dataclasses.replace(p, scale=-1.0)
    with pytest.raises(TypeError):
        DistributedDPPlan(config=None, scale=1.0, padded_dim=8, local_variance=1.0, l2_sensitivity=1.0, l1_sensitivity=1.0)


# --------------------------------------------------------------------------- rounding must not eat the noise


def effective_noise_multiplier(p):
    return math.sqrt(p.config.min_clients * p.local_variance) / p.l2_sensitivity


def test_a_bit_width_where_rounding_inflation_dwarfs_the_noise_is_refused_with_the_numbers():
    # the review's case: 7 bits, 100 clients, d = 2^16 planned with effective noise multiplier 0.11
    cfg = DistributedDPConfig(
        mechanism="skellam", bits=7, l2_clip=1.0, noise_multiplier=1.0, dim=2**16, min_clients=100, max_clients=100
    )
    with pytest.raises(BitWidthError) as info:
        plan(cfg)
    message = info.value.args[0]
    for fragment in ("bits=7", "min_clients=100", "dim=65536", "l2_clip=1", "noise_multiplier=1",
                     "effective noise multiplier", "requested 1", "need at least 12 bits"):  # fmt: skip
        assert fragment in message


@pytest.mark.parametrize("mechanism", ["skellam", "dgauss"])
@pytest.mark.parametrize("dim", [1, 1000, 2**16])
@pytest.mark.parametrize("eta", [0.01, DEFAULT_ROUNDING_TOLERANCE, 0.5])
def test_every_accepted_plan_keeps_the_effective_noise_multiplier_within_the_tolerance(mechanism, dim, eta):
    cfg = config(mechanism=mechanism, dim=dim, min_clients=100, rounding_tolerance=eta)
    needed = bits_needed(cfg)
    assert needed is not None
    p = plan(dataclasses.replace(cfg, bits=needed))
    assert effective_noise_multiplier(p) >= (1 - eta) * cfg.noise_multiplier * (1 - 1e-12)
    assert p.local_variance >= 1.0
    if needed > 1:
        with pytest.raises(BitWidthError, match=f"need at least {needed} bits"):
            plan(dataclasses.replace(cfg, bits=needed - 1))


@pytest.mark.parametrize("bits", [12, 14, 16, 18, 20])
def test_the_readme_setting_plans_at_12_to_20_bits(bits):
    # 100 clients per round, d = 2^16, z = 1 (the README / chapter 40 table), library defaults
    p = plan(DistributedDPConfig(mechanism="skellam", bits=bits, l2_clip=1.0, noise_multiplier=1.0, dim=2**16,
                                 min_clients=100))  # fmt: skip
    assert effective_noise_multiplier(p) >= 0.9


def test_the_effective_noise_check_does_not_depend_on_the_magnitude_of_the_clip():
    base = config(dim=2**16, min_clients=100, bits=12)
    for clip in (1e-200, 1.0, 1e200):
        p = plan(dataclasses.replace(base, l2_clip=clip))
        assert effective_noise_multiplier(p) == pytest.approx(effective_noise_multiplier(plan(base)), rel=1e-9)
        assert p.central_stddev() == pytest.approx(clip, rel=1e-9)


def test_a_noise_multiplier_no_bit_width_can_serve_is_a_plain_value_error():
    with pytest.raises(ValueError, match="no bit width up to 62 suffices") as info:
        plan(config(noise_multiplier=1e-300, l2_clip=1e300))
    assert not isinstance(info.value, BitWidthError)


# --------------------------------------------------------------------------- max_clients default


def test_by_default_a_sum_of_up_to_twice_min_clients_decodes():
    p = plan(config(dim=2000, min_clients=3, bits=24))
    assert p.config.expected_clients == 6
    source = DeterministicRandom("default-max")
    xs = updates(5, 2000, norm=0.5, seed=5)
    enc = [encode_client(x, p, rotation_seed=SEED, random=source) for x in xs]
    decoded = decode_sum(modular_total(enc, 24), p, rotation_seed=SEED, n_clients=5)
    err = decoded - np.sum(xs, axis=0)
    target = p.central_stddev() ** 2 * 5 / 3
    assert abs(err.var() / target - 1) <= 5 * math.sqrt(2 / err.size)
    with pytest.raises(ValueError, match="at most 6 clients"):
        decode_sum(modular_total(enc, 24), p, rotation_seed=SEED, n_clients=7)


def test_the_default_max_clients_is_capped_at_max_clients():
    assert config(min_clients=MAX_CLIENTS).expected_clients == MAX_CLIENTS
    assert config(min_clients=7, max_clients=7).expected_clients == 7


# --------------------------------------------------------------------------- modular clipping probability


def test_modclip_prob_is_the_two_sided_per_coordinate_gaussian_tail_of_k_stddevs():
    assert k_stddevs_for(1e-6) == pytest.approx(4.891638, rel=1e-6)
    assert modclip_prob_for(4.0) == pytest.approx(6.334248e-5, rel=1e-6)
    assert modclip_prob_for(k_stddevs_for(1e-4)) == pytest.approx(1e-4, rel=1e-9)


def test_the_default_k_comes_from_the_default_modclip_prob_and_either_parameter_may_be_given():
    assert config().resolved_modclip_prob == DEFAULT_MODCLIP_PROB
    assert config().resolved_k_stddevs == pytest.approx(k_stddevs_for(DEFAULT_MODCLIP_PROB))
    by_prob = plan(config(modclip_prob=1e-6))
    by_k = plan(config(k_stddevs=k_stddevs_for(1e-6)))
    assert by_prob.scale == pytest.approx(by_k.scale, rel=1e-12)
    assert config(k_stddevs=4.0).resolved_modclip_prob == pytest.approx(6.334248e-5, rel=1e-6)
    assert plan(config(modclip_prob=1e-9)).scale < plan(config(modclip_prob=1e-3)).scale
    with pytest.raises(ValueError, match="not both"):
        config(k_stddevs=4.0, modclip_prob=1e-4)


@pytest.mark.parametrize("k", [1e-300, 5e-324, 1e-30])
def test_a_tiny_k_stddevs_plans_without_dividing_by_zero(k):
    # Issue 14: k_stddevs=1e-300 is inside (0, MAX_K_STDDEVS] and raised ZeroDivisionError.
    p = plan(config(k_stddevs=k))
    assert math.isfinite(p.scale) and p.scale > 0
    assert p.local_variance >= 1.0
