"""secure_sum_ckks end to end with real TenSEAL: correctness, dropouts, stats, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from secagg.ckks import CKKSParams, PlanError, PrecisionError, plan_sizes, predicted_abs_error, secure_sum_ckks
from secagg.errors import AbortReason, ProtocolAborted
from secagg.result import SumResult


@pytest.mark.parametrize("dim", [1, 4096, 4097, 10_000])
def test_sum_with_dropouts_matches_the_plain_sum_within_the_error_bound(dim, rng):
    xs = [rng.uniform(-1, 1, dim) for _ in range(5)]
    result = secure_sum_ckks(xs, dropouts={2: "before upload", 5: None})
    assert isinstance(result, SumResult)
    assert result.included == (1, 3, 4) and result.dropped == (2, 5)
    assert result.total.dtype == np.float64 and result.total.shape == (dim,)
    expected = xs[0] + xs[2] + xs[3]
    bound = result.stats.extra["predicted_abs_error"]
    value_bound = max(float(np.max(np.abs(x))) for x in xs)
    assert bound == predicted_abs_error(CKKSParams(poly_modulus_degree=8192, coeff_mod_bit_sizes=(60, 40, 40, 60),
                                                   scale_bits=40), clients=5, value_bound=value_bound)
    assert np.max(np.abs(result.total - expected)) <= bound


@pytest.mark.parametrize("name", ["default", "compact", "large"])
def test_sum_of_100_clients_in_minus_one_one_is_within_the_documented_bound(name, rng):
    xs = [rng.uniform(-1, 1, 300) for _ in range(100)]
    result = secure_sum_ckks(xs, params=name, abs_error=1e-6)
    err = np.max(np.abs(result.total - np.sum(xs, axis=0)))
    assert err <= predicted_abs_error(plan_sizes(1, name).params, clients=100) <= 1e-6


def test_integer_and_float32_inputs_are_summed_as_floats(rng):
    xs = [np.arange(7, dtype=np.int32), np.ones(7, dtype=np.float32)]
    result = secure_sum_ckks(xs, params="compact")
    np.testing.assert_allclose(result.total, np.arange(7) + 1.0, atol=1e-6)


def test_stats_report_phases_bytes_and_parameters(rng):
    dim, n = 5000, 4
    xs = [rng.uniform(-1, 1, dim) for _ in range(n)]
    r = secure_sum_ckks(xs, dropouts={3: "x"}, params="compact")
    s = r.stats
    assert set(s.seconds) == {"server", "clients", "key_holder"}
    assert set(s.seconds["server"]) == {"setup", "aggregate", "finish", "total"}
    assert set(s.seconds["clients"]) == {"setup", "encrypt", "total"}
    assert set(s.seconds["key_holder"]) == {"setup", "decrypt", "total"}
    for phases in s.seconds.values():
        assert phases["total"] == pytest.approx(sum(v for k, v in phases.items() if k != "total"))
        assert all(v >= 0 for v in phases.values())
    ctx, upload, agg = s.extra["public_context_bytes"], s.extra["upload_bytes_per_client"], s.extra["aggregate_bytes"]
    assert s.bytes_sent["clients"] == 3 * upload
    assert s.bytes_received["clients"] == n * ctx
    assert s.bytes_sent["server"] == n * ctx + agg
    assert s.bytes_received["server"] == ctx + 3 * upload + 8 * dim
    assert s.bytes_sent["key_holder"] == ctx + 8 * dim
    assert s.bytes_received["key_holder"] == agg
    assert s.bytes_by_phase == {
        "server": {"setup": n * ctx, "finish": agg},
        "clients": {"encrypt": 3 * upload},
        "key_holder": {"setup": ctx, "decrypt": 8 * dim},
    }
    assert s.extra["poly_modulus_degree"] == 8192 and s.extra["slots"] == 4096
    assert s.extra["ciphertexts_per_client"] == 2 and s.extra["parameter_set"] == "compact"


@pytest.mark.parametrize("name", ["default", "compact", "large"])
def test_planned_sizes_match_real_serialisation_within_one_percent(name, rng):
    dim = 9000
    r = secure_sum_ckks([rng.uniform(-1, 1, dim) for _ in range(2)], params=name)
    plan = plan_sizes(dim, name)
    for real, planned in [
        (r.stats.extra["upload_bytes_per_client"], plan.upload_bytes),
        (r.stats.extra["aggregate_bytes"], plan.upload_bytes),
        (r.stats.extra["public_context_bytes"], plan.public_context_bytes),
    ]:
        assert abs(real - planned) <= 0.01 * planned
    assert r.stats.extra["upload_bytes_per_client"] <= plan.upload_bytes_max


def test_custom_parameter_sizes_stay_below_the_planned_upper_bound(rng):
    params = CKKSParams(poly_modulus_degree=4096, coeff_mod_bit_sizes=(40, 40), scale_bits=25)
    r = secure_sum_ckks([rng.uniform(-1, 1, 3000), rng.uniform(-1, 1, 3000)], params=params)
    plan = plan_sizes(3000, params)
    assert not plan.measured
    assert r.stats.extra["upload_bytes_per_client"] <= plan.upload_bytes
    assert r.stats.extra["public_context_bytes"] <= plan.public_context_bytes


def test_weak_parameters_are_refused_before_anything_is_encrypted():
    weak = CKKSParams(poly_modulus_degree=4096, coeff_mod_bit_sizes=(40, 20, 40), scale_bits=20)
    with pytest.raises(PrecisionError):
        secure_sum_ckks([np.ones(4)] * 10, params=weak, abs_error=1e-4)


def test_round_above_the_memory_limit_is_refused_with_plan_error():
    with pytest.raises(PlanError, match="memory limit"):
        secure_sum_ckks([np.ones(100_000)] * 2, params="compact", memory_limit=5_000_000)


def test_inputs_that_could_overflow_the_modulus_are_refused():
    with pytest.raises(PlanError, match="wrapping"):
        secure_sum_ckks([np.full(4, 100_000.0)] * 2, params="compact")


def test_all_clients_dropping_aborts_with_too_few_survivors():
    with pytest.raises(ProtocolAborted) as info:
        secure_sum_ckks([np.ones(3)] * 2, dropouts={1: None, 2: None})
    assert info.value.reason is AbortReason.TOO_FEW_SURVIVORS


def test_fewer_survivors_than_min_contributors_aborts():
    with pytest.raises(ProtocolAborted):
        secure_sum_ckks([np.ones(3)] * 3, dropouts={1: None, 2: None}, min_contributors=2, params="compact")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"vectors": []}, ValueError),
        ({"vectors": [np.ones(3), np.ones(4)]}, ValueError),
        ({"vectors": [np.ones(3), np.array([1.0, np.nan, 0.0])]}, ValueError),
        ({"vectors": [np.ones((2, 2))]}, ValueError),
        ({"vectors": "abc"}, TypeError),
        ({"vectors": [np.ones(3)]}, ValueError),
        ({"vectors": [np.ones(3)] * 2, "dropouts": {3: None}}, ValueError),
        ({"vectors": [np.ones(3)] * 2, "dropouts": {0: None}}, ValueError),
        ({"vectors": [np.ones(3)] * 2, "dropouts": [1]}, TypeError),
        ({"vectors": [np.ones(3)] * 2, "params": "huge"}, ValueError),
        ({"vectors": [np.ones(3)] * 2, "min_contributors": 1}, ValueError),
        ({"vectors": [np.ones(3)] * 2, "clip": 0.0}, ValueError),
        ({"vectors": [np.ones(3)] * 2, "clip": "1"}, TypeError),
    ],
)
def test_bad_arguments_are_refused_at_the_call(kwargs, error):
    vectors = kwargs.pop("vectors")
    with pytest.raises(error):
        secure_sum_ckks(vectors, **kwargs)


@pytest.mark.parametrize("name", ["default", "large"])
@pytest.mark.parametrize("magnitude", [1e6, 1e8, 1e10])
def test_error_at_large_magnitudes_stays_within_the_value_dependent_bound(name, magnitude, rng):
    """Review: at |x| <= 1e8, n = 10 the error was 2.4e-7, above the value-independent bound 8e-8."""
    xs = [rng.uniform(-magnitude, magnitude, 4096) for _ in range(10)]
    result = secure_sum_ckks(xs, params=name, clip=magnitude)
    exact = np.sum(np.array(xs, dtype=np.longdouble), axis=0)
    err = float(np.max(np.abs(result.total - exact)))
    bound = result.stats.extra["predicted_abs_error"]
    assert bound == predicted_abs_error(plan_sizes(1, name).params, clients=10, value_bound=magnitude)
    assert err <= bound


def test_requested_precision_is_refused_when_the_magnitude_term_alone_exceeds_it():
    with pytest.raises(PrecisionError):
        secure_sum_ckks([np.full(4, 1e10)] * 10, params="default", clip=1e10, abs_error=1e-5)
