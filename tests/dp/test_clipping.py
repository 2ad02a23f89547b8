"""Tests for dp.clipping: joint L2 clipping of layers and flatten / unflatten."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dp.clipping import FlatSpec, clip_l2, flatten, global_l2_norm, unflatten

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
layer = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), elements=finite)


@given(layers=st.lists(layer, min_size=1, max_size=4), clip=st.floats(1e-3, 1e3))
def test_clipped_layers_have_global_norm_at_most_the_clip(layers, clip):
    clipped, norm = clip_l2(layers, clip)
    concatenated = np.concatenate([a.ravel() for a in layers])
    assert norm == pytest.approx(float(np.linalg.norm(concatenated)), rel=1e-12, abs=1e-300)
    assert global_l2_norm(clipped) <= clip
    assert [a.shape for a in clipped] == [a.shape for a in layers]


@given(layers=st.lists(layer, min_size=1, max_size=4), clip=st.floats(1e-3, 1e3))
def test_all_layers_are_scaled_by_one_common_factor(layers, clip):
    clipped, norm = clip_l2(layers, clip)
    factor = min(1.0, clip / norm) if norm > 0 else 1.0
    for a, b in zip(layers, clipped):
        np.testing.assert_allclose(b, a * factor, rtol=1e-12, atol=0)


def test_update_inside_the_ball_is_returned_unchanged_as_a_copy():
    x = np.array([0.3, -0.4])
    clipped, norm = clip_l2(x, 1.0)
    assert norm == pytest.approx(0.5)
    np.testing.assert_array_equal(clipped, x)
    clipped[0] = 9.0
    assert x[0] == 0.3


def test_single_array_clips_to_the_radius_along_its_direction():
    clipped, norm = clip_l2(np.array([3.0, 4.0]), 1.0)
    assert norm == 5.0
    np.testing.assert_allclose(clipped, [0.6, 0.8])


def test_norm_of_huge_finite_values_does_not_overflow():
    x = np.array([1e200, 1e200])
    clipped, norm = clip_l2(x, 1.0)
    assert norm == pytest.approx(math.sqrt(2) * 1e200)
    assert global_l2_norm(clipped) <= 1.0


@pytest.mark.parametrize("clip", [0.0, -1.0, math.inf, math.nan])
def test_non_positive_or_non_finite_clip_is_rejected(clip):
    with pytest.raises(ValueError, match="l2_clip"):
        clip_l2(np.ones(3), clip)


@pytest.mark.parametrize("bad", [np.array([1.0, np.nan]), [np.ones(2), np.array([np.inf])]])
def test_non_finite_update_is_rejected(bad):
    with pytest.raises(ValueError, match="non-finite"):
        clip_l2(bad, 1.0)


@pytest.mark.parametrize("bad", [[1.0, 2.0], "abc", [np.ones(2), [1.0]], np.array(["a"])])
def test_update_that_is_not_real_arrays_is_a_type_error(bad):
    with pytest.raises(TypeError):
        clip_l2(bad, 1.0)


def test_empty_layer_list_is_rejected():
    with pytest.raises(ValueError, match="at least one layer"):
        clip_l2([], 1.0)


@given(layers=st.lists(layer, min_size=1, max_size=4))
def test_unflatten_inverts_flatten_for_layer_lists(layers):
    vector, spec = flatten(layers)
    assert vector.shape == (sum(a.size for a in layers),)
    back = unflatten(vector, spec)
    assert isinstance(back, list)
    for a, b in zip(layers, back):
        np.testing.assert_array_equal(a, b)


def test_single_array_round_trips_as_an_array():
    x = np.arange(6.0).reshape(2, 3)
    vector, spec = flatten(x)
    assert spec.single
    back = unflatten(vector, spec)
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, x)


def test_unflatten_rejects_a_vector_of_the_wrong_length():
    _, spec = flatten([np.ones(2), np.ones(3)])
    with pytest.raises(ValueError, match="length 5"):
        unflatten(np.ones(4), spec)


def test_flat_spec_rejects_negative_dimensions():
    with pytest.raises(ValueError):
        FlatSpec(shapes=((2, -1),))
