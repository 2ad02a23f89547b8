"""Parameter sets, the precision guard and the size planner (pure, no TenSEAL)."""

from __future__ import annotations

import math

import numpy as np

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.ckks.errors import PlanError, PrecisionError
from secagg.ckks.params import (
    PARAMETER_SETS,
    CKKSParams,
    check_precision,
    max_abs_sum,
    predicted_abs_error,
    resolve_params,
)
from secagg.ckks.planner import DEFAULT_MEMORY_LIMIT, max_ciphertext_bytes, plan_sizes

WEAK = CKKSParams(poly_modulus_degree=4096, coeff_mod_bit_sizes=(40, 20, 40), scale_bits=20)


def test_named_sets_are_the_documented_ones():
    assert PARAMETER_SETS["default"] == CKKSParams(
        poly_modulus_degree=8192, coeff_mod_bit_sizes=(60, 40, 40, 60), scale_bits=40
    )
    assert resolve_params(None) is PARAMETER_SETS["default"]
    assert resolve_params("large").slots == 8192
    assert PARAMETER_SETS["compact"].ciphertext_memory_bytes == 2 * 8192 * 1 * 8


@pytest.mark.parametrize(
    "kwargs",
    [
        {"poly_modulus_degree": 3000},
        {"poly_modulus_degree": 1024},
        {"coeff_mod_bit_sizes": (60,)},
        {"coeff_mod_bit_sizes": (61, 60)},
        {"coeff_mod_bit_sizes": (19, 60)},
        {"coeff_mod_bit_sizes": (60, 60, 60, 60)},  # 240 bits > 218 for N = 8192
        {"scale_bits": 19},
        {"scale_bits": 52},  # leaves less than 8 bits of headroom under one 60-bit prime
    ],
)
def test_out_of_range_parameters_are_refused_with_plan_error(kwargs):
    args = {"poly_modulus_degree": 8192, "coeff_mod_bit_sizes": (60, 60), "scale_bits": 40} | kwargs
    with pytest.raises(PlanError):
        CKKSParams(**args)


def test_parameters_of_the_wrong_type_are_refused_with_type_error():
    with pytest.raises(TypeError):
        CKKSParams(poly_modulus_degree=8192.0, coeff_mod_bit_sizes=(60, 60), scale_bits=40)
    with pytest.raises(TypeError):
        CKKSParams(poly_modulus_degree=8192, coeff_mod_bit_sizes="60,60", scale_bits=40)
    with pytest.raises(TypeError):
        resolve_params(8192)
    with pytest.raises(ValueError, match="unknown"):
        resolve_params("huge")


def test_poly_modulus_4096_is_refused_for_an_absolute_error_of_1e_4():
    with pytest.raises(PrecisionError) as info:
        check_precision(WEAK, clients=10, abs_error=1e-4)
    assert info.value.requested == 1e-4 and info.value.predicted > 1e-2
    assert "4096" in str(info.value)


def test_default_set_meets_an_absolute_error_of_1e_6_for_100_clients():
    predicted = check_precision(PARAMETER_SETS["default"], clients=100, abs_error=1e-6)
    assert predicted == pytest.approx(20 * 10 * 0.17 * 8192 / 2**40)


def test_error_bound_grows_with_the_square_root_of_the_client_count():
    p = PARAMETER_SETS["large"]
    assert predicted_abs_error(p, clients=400) == pytest.approx(20 * predicted_abs_error(p, clients=1))


def test_sums_that_could_wrap_around_the_modulus_are_refused():
    compact = PARAMETER_SETS["compact"]
    assert max_abs_sum(compact) == 2.0**17
    check_precision(compact, clients=100, value_bound=1000.0)
    with pytest.raises(PlanError, match="wrapping"):
        check_precision(compact, clients=1000, value_bound=1000.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_non_positive_or_non_finite_bounds_are_value_errors(bad):
    with pytest.raises(ValueError):
        check_precision(PARAMETER_SETS["default"], clients=1, abs_error=bad)


def test_plan_for_100k_floats_matches_the_measured_round():
    plan = plan_sizes(100_000, "default")
    assert plan.ciphertexts_per_client == 25
    assert plan.measured
    # 25 ciphertexts of ~331 KB: about 8.3 MB, 21x the float32 bytes.
    assert 8.2e6 < plan.upload_bytes < 8.4e6
    assert 20 < plan.upload_bytes / plan.plaintext_float32_bytes < 22
    assert plan.decrypted_sum_bytes == 800_000


def test_plan_above_the_memory_limit_names_the_numbers():
    with pytest.raises(PlanError) as info:
        plan_sizes(10_000_000, "default")
    message = str(info.value)
    assert "10,000,000" in message and f"{DEFAULT_MEMORY_LIMIT:,}" in message and "server" in message
    assert plan_sizes(10_000_000, "default", memory_limit=8 * 2**30).server_memory_bytes > DEFAULT_MEMORY_LIMIT


def test_memory_limit_is_configurable_downwards():
    plan = plan_sizes(50_000, "compact")
    with pytest.raises(PlanError):
        plan_sizes(50_000, "compact", memory_limit=plan.server_memory_bytes - 1)
    plan_sizes(50_000, "compact", memory_limit=max(plan.server_memory_bytes, plan.key_holder_memory_bytes,
                                                   plan.client_memory_bytes))


def test_custom_parameters_are_planned_with_upper_bounds():
    plan = plan_sizes(10, WEAK)
    assert not plan.measured
    assert plan.ciphertext_bytes == max_ciphertext_bytes(WEAK) > WEAK.ciphertext_memory_bytes


@pytest.mark.parametrize("bad", [0, -1, 2**41])
def test_plan_refuses_out_of_range_dimensions(bad):
    with pytest.raises(ValueError):
        plan_sizes(bad)


@given(st.integers(1, 10**6), st.sampled_from(sorted(PARAMETER_SETS)))
def test_plan_has_one_ciphertext_per_slots_values_and_grows_with_dim(dim, name):
    plan = plan_sizes(dim, name)
    assert plan.ciphertexts_per_client == math.ceil(dim / plan.slots)
    assert plan.upload_bytes <= plan.upload_bytes_max
    bigger = plan_sizes(dim + plan.slots, name)
    assert bigger.upload_bytes > plan.upload_bytes
    assert bigger.server_memory_bytes > plan.server_memory_bytes


def test_planned_client_memory_covers_the_measured_peak_of_encrypt(default_holder):
    """Review: the client kept the chunk list and joined it, 1.7x the planned bytes."""
    import tracemalloc

    from secagg.ckks import Client

    dim = 50_000
    x = np.random.default_rng(1).uniform(-1, 1, dim)
    client = Client(default_holder.signed_context, key_holder_key=default_holder.verify_key)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        envelope = client.encrypt(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    plan = plan_sizes(dim, "default")
    assert len(envelope) <= plan.upload_bytes_max
    # Python-visible peak (envelope buffer, one serialised chunk, its value list); TenSEAL's own
    # ciphertext and context, which tracemalloc cannot see, are in the plan on top of it.
    assert peak <= plan.client_memory_bytes
    assert peak <= plan.upload_bytes_max + plan.ciphertext_bytes_max + 64 * plan.slots + 2**16
