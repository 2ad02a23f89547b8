"""secure_sum(..., backend="ckks"): every argument is honoured or refused, never dropped."""

from __future__ import annotations

import numpy as np
import pytest

from secagg import secure_sum
from secagg.ckks import PlanError, PrecisionError
from secagg.driver import Phase
from secagg.errors import AbortReason, ProtocolAborted


def test_clip_is_applied_to_every_coordinate(rng):
    xs = [np.array([5.0, -5.0, 0.25]), np.array([0.5, -3.0, 0.25])]
    r = secure_sum(xs, backend="ckks", clip=1.0, ckks_params="compact")
    np.testing.assert_allclose(r.total, [1.5, -2.0, 0.5], atol=1e-6)
    assert r.stats.extra["value_bound"] == 1.0


def test_precision_is_the_requested_absolute_error_and_is_refused_when_unreachable():
    xs = [np.ones(4)] * 3
    r = secure_sum(xs, backend="ckks", clip=1.0, precision=1e-5)
    assert r.stats.extra["predicted_abs_error"] <= 1e-5
    with pytest.raises(PrecisionError) as info:
        secure_sum(xs, backend="ckks", clip=1.0, precision=1e-12)
    assert info.value.requested == 1e-12


def test_parameter_set_memory_limit_and_min_contributors_are_reachable():
    xs = [np.ones(4)] * 3
    assert secure_sum(xs, backend="ckks", ckks_params="large").stats.extra["parameter_set"] == "large"
    with pytest.raises(PlanError, match="memory limit"):
        secure_sum([np.ones(100_000)] * 2, backend="ckks", memory_limit=5_000_000)
    with pytest.raises(ProtocolAborted):
        secure_sum(xs, backend="ckks", min_contributors=3, dropouts={1: Phase.ADVERTISE_KEYS})


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int64])
def test_integer_vectors_are_refused_with_a_type_error(dtype):
    with pytest.raises(TypeError, match="sums floats"):
        secure_sum([np.arange(3, dtype=dtype)] * 2, backend="ckks")


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"bits": 32}, "bits"),
        ({"threat": "active"}, "threat"),
        ({"graph": "harary"}, "graph"),
        ({"neighbors": 2, "threshold": 2}, "neighbors, threshold"),
        ({"dropout_rate": 0.2}, "dropout_rate"),
        ({"adversarial_rate": 0.1}, "adversarial_rate"),
        ({"workers": 2}, "workers"),
    ],
)
def test_masking_only_options_are_refused_by_name(kwargs, named):
    with pytest.raises(ValueError, match=named):
        secure_sum([np.ones(3)] * 2, backend="ckks", **kwargs)


def test_default_masking_options_given_explicitly_are_accepted():
    r = secure_sum([np.ones(3)] * 2, backend="ckks", threat="semi-honest", graph="auto")
    np.testing.assert_allclose(r.total, 2.0, atol=1e-6)


@pytest.mark.parametrize("option", ["ckks_params", "memory_limit"])
def test_ckks_only_options_are_refused_by_the_masking_backend(option):
    with pytest.raises(ValueError, match=option):
        secure_sum([np.ones(3)] * 3, clip=1.0, **{option: {"ckks_params": "compact"}.get(option, 2)})


def test_dropouts_before_the_upload_exclude_and_after_it_include(rng):
    xs = [rng.uniform(-1, 1, 5) for _ in range(6)]
    schedule = {
        1: Phase.ADVERTISE_KEYS,
        2: "share_keys",
        3: Phase.MASKED_INPUT,
        4: Phase.CONSISTENCY_CHECK,
        5: "unmasking",
    }
    r = secure_sum(xs, backend="ckks", dropouts=schedule)
    assert r.included == (4, 5, 6) and r.dropped == (1, 2, 3)
    np.testing.assert_allclose(r.total, xs[3] + xs[4] + xs[5], atol=1e-6)


@pytest.mark.parametrize(("schedule", "error"), [({1: "before upload"}, ValueError), ({9: Phase.UNMASKING}, ValueError)])
def test_dropout_values_must_be_phases_and_ids_clients(schedule, error):
    with pytest.raises(error):
        secure_sum([np.ones(3)] * 2, backend="ckks", dropouts=schedule)


def test_one_client_is_refused_like_the_masking_path():
    with pytest.raises(ValueError, match="at least 2"):
        secure_sum([np.ones(3)], backend="ckks")


def test_three_of_four_dropped_aborts_instead_of_returning_one_clients_input():
    with pytest.raises(ProtocolAborted) as info:
        secure_sum([np.ones(3)] * 4, backend="ckks", dropouts={1: "advertise_keys", 2: "share_keys", 3: "masked_input"})
    assert info.value.reason is AbortReason.TOO_FEW_SURVIVORS


def test_the_same_call_switches_backend_by_one_argument(rng):
    xs = [rng.uniform(-1, 1, 8).astype(np.float64) for _ in range(4)]
    masked = secure_sum(xs, clip=1.0, precision=1e-4, dropouts={2: Phase.MASKED_INPUT})
    ckks = secure_sum(xs, clip=1.0, precision=1e-4, dropouts={2: Phase.MASKED_INPUT}, backend="ckks")
    assert masked.included == ckks.included == (1, 3, 4)
    np.testing.assert_allclose(masked.total, ckks.total, atol=1e-3)
