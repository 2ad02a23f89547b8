"""Tests for dp.rotation: the Numba FWHT against NumPy / scipy references, and the rotation."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dp.rotation import (
    SIGN_LABEL,
    fwht_inplace,
    fwht_reference,
    padded_dim,
    rotate,
    rotation_signs,
    unrotate,
)

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
seeds = st.binary(min_size=32, max_size=32)


def vectors(max_len=300):
    return st.integers(1, max_len).flatmap(lambda n: hnp.arrays(np.float64, n, elements=finite))


@given(k=st.integers(0, 10), data=st.data())
def test_numba_fwht_equals_the_numpy_reference(k, data):
    x = data.draw(hnp.arrays(np.float64, 2**k, elements=finite))
    y = x.copy()
    fwht_inplace(y)
    np.testing.assert_allclose(y, fwht_reference(x), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("k", range(0, 8))
def test_fwht_reference_equals_the_scipy_hadamard_matrix(k):
    n = 2**k
    x = np.random.default_rng(k).normal(size=n)  # test data, not secret
    np.testing.assert_allclose(fwht_reference(x), scipy.linalg.hadamard(n) @ x / math.sqrt(n), atol=1e-12)


@given(x=vectors(200), seed=seeds)
def test_rotation_equals_the_explicit_matrix_h_times_signs(x, seed):
    n = padded_dim(x.shape[0])
    padded = np.zeros(n)
    padded[: x.shape[0]] = x
    expected = scipy.linalg.hadamard(n) @ (rotation_signs(seed, n) * padded) / math.sqrt(n)
    np.testing.assert_allclose(rotate(x, seed), expected, rtol=1e-12, atol=1e-9)


@given(x=vectors(), seed=seeds)
def test_rotation_preserves_the_l2_norm(x, seed):
    y = rotate(x, seed)
    assert y.shape == (padded_dim(x.shape[0]),)
    assert float(np.linalg.norm(y)) == pytest.approx(float(np.linalg.norm(x)), rel=1e-12, abs=1e-9)


@given(x=vectors(), seed=seeds)
def test_unrotate_inverts_rotate(x, seed):
    np.testing.assert_allclose(unrotate(rotate(x, seed), seed, x.shape[0]), x, rtol=1e-12, atol=1e-9)


def test_rotation_spreads_a_spike_over_all_coordinates():
    x = np.zeros(1000)
    x[17] = 5.0
    y = rotate(x, bytes(range(32)))
    np.testing.assert_allclose(np.abs(y), 5.0 / math.sqrt(1024))


def test_signs_follow_the_normative_shake256_derivation():
    seed = bytes(range(32))
    n = 100
    stream = hashlib.shake_256(SIGN_LABEL + seed).digest(13)
    expected = [1.0 if (stream[i // 8] >> (i % 8)) & 1 == 0 else -1.0 for i in range(n)]
    assert rotation_signs(seed, n).tolist() == expected


def test_signs_are_balanced_and_depend_on_the_seed():
    a = rotation_signs(bytes(32), 4096)
    b = rotation_signs(b"\x01" + bytes(31), 4096)
    assert abs(a.sum()) < 5 * math.sqrt(4096)
    assert not np.array_equal(a, b)


def test_a_different_seed_does_not_invert_the_rotation():
    x = np.arange(1.0, 9.0)
    y = rotate(x, bytes(32))
    assert not np.allclose(unrotate(y, b"\x07" * 32, 8), x)


@pytest.mark.parametrize(("dim", "padded"), [(1, 1), (2, 2), (3, 4), (1000, 1024), (1024, 1024), (1025, 2048)])
def test_padded_dim_is_the_next_power_of_two(dim, padded):
    assert padded_dim(dim) == padded


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: rotate(np.ones(3), bytes(31)), ValueError),
        (lambda: rotate(np.ones(3), "x" * 32), TypeError),
        (lambda: rotate(np.ones((2, 2)), bytes(32)), ValueError),
        (lambda: rotate(np.array([1.0, np.nan]), bytes(32)), ValueError),
        (lambda: rotate([1.0, 2.0], bytes(32)), TypeError),
        (lambda: unrotate(np.ones(6), bytes(32), 5), ValueError),
        (lambda: unrotate(np.ones(8), bytes(32), 9), ValueError),
        (lambda: unrotate(np.ones(8), bytes(32), 3), ValueError),
        (lambda: padded_dim(0), ValueError),
        (lambda: fwht_inplace(np.ones(3)), ValueError),
        (lambda: fwht_inplace(np.ones(4, dtype=np.float32)), TypeError),
    ],
)
def test_bad_rotation_arguments_raise_typed_errors(call, error):
    with pytest.raises(error):
        call()
