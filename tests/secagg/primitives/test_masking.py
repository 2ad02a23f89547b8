"""Masking kernels against their NumPy references, and pairwise-mask cancellation."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.primitives import masking
from secagg.primitives.masking import accumulate, add_masks, mask_input
from secagg.primitives.masking_reference import (
    accumulate_reference,
    add_masks_reference,
    mask_input_reference,
)
from secagg.primitives.prg import expand_mask
from secagg.primitives.words import modulus_mask, word_dtype

SEED = st.binary(min_size=32, max_size=32)
SIGN = st.sampled_from([1, -1])
# Small chunk sizes exercise chunk boundaries on short vectors; the real one is included.
CHUNK_BYTES = st.sampled_from([8, 24, 64, masking.CHUNK_BYTES])


def _words(rng: np.random.Generator, bits: int, length: int) -> np.ndarray:
    return (rng.integers(0, 2**63, size=length, dtype=np.uint64) & np.uint64(modulus_mask(bits))).astype(
        word_dtype(bits)
    )


@st.composite
def _lengths(draw, chunk_bytes, bits):
    chunk = max(1, chunk_bytes // word_dtype(bits).itemsize)
    return draw(
        st.one_of(
            st.integers(1, 20),
            st.sampled_from([chunk - 1, chunk, chunk + 1, 2 * chunk - 1, 2 * chunk + 1, 3 * chunk + 7]).filter(
                lambda n: 1 <= n <= 40_000
            ),
        )
    )


# Fewer rows per pass than masks exercises the passes over a chunk and their sign split.
MAX_ROWS = st.sampled_from([1, 2, 3, masking.MAX_ROWS])


@given(data=st.data(), bits=st.integers(1, 62), chunk_bytes=CHUNK_BYTES, max_rows=MAX_ROWS, session_id=SEED)
def test_add_masks_matches_the_full_expansion_reference(data, bits, chunk_bytes, max_rows, session_id):
    length = data.draw(_lengths(chunk_bytes, bits))
    k = data.draw(st.integers(0, 10 if length < 100 else 3))
    seeds = data.draw(st.lists(SEED, min_size=k, max_size=k))
    signs = data.draw(st.lists(SIGN, min_size=k, max_size=k))
    acc = _words(np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))), bits, length)
    expected = add_masks_reference(acc, seeds, signs, session_id=session_id, bits=bits)
    with mock.patch.object(masking, "CHUNK_BYTES", chunk_bytes), mock.patch.object(masking, "MAX_ROWS", max_rows):
        add_masks(acc, seeds, signs, session_id=session_id, bits=bits)
    np.testing.assert_array_equal(acc, expected)


@given(data=st.data(), bits=st.integers(1, 62), chunk_bytes=CHUNK_BYTES, session_id=SEED, self_seed=SEED)
def test_mask_input_matches_the_reference(data, bits, chunk_bytes, session_id, self_seed):
    length = data.draw(_lengths(chunk_bytes, bits))
    k = data.draw(st.integers(0, 4 if length < 100 else 1))
    pair_seeds = data.draw(st.lists(SEED, min_size=k, max_size=k))
    pair_signs = data.draw(st.lists(SIGN, min_size=k, max_size=k))
    x = _words(np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))), bits, length)
    kwargs = dict(bits=bits, session_id=session_id, self_seed=self_seed, pair_seeds=pair_seeds, pair_signs=pair_signs)
    with mock.patch.object(masking, "CHUNK_BYTES", chunk_bytes):
        y = mask_input(x, **kwargs)
    assert y.dtype == word_dtype(bits)
    np.testing.assert_array_equal(y, mask_input_reference(x, **kwargs))


@given(
    bits=st.one_of(st.integers(1, 62), st.just(32)),
    length=st.one_of(st.integers(1, 50), st.sampled_from([masking._SUM_BLOCK - 1, masking._SUM_BLOCK + 1])),
    seed=st.integers(0, 2**32 - 1),
)
def test_accumulate_matches_the_reference(bits, length, seed):
    rng = np.random.default_rng(seed)
    acc, vec = _words(rng, bits, length), _words(rng, bits, length)
    expected = accumulate_reference(acc, vec, bits=bits)
    accumulate(acc, vec, bits=bits)
    np.testing.assert_array_equal(acc, expected)


@given(
    data=st.data(),
    parties=st.integers(3, 6),
    bits=st.integers(1, 62),
    length=st.integers(1, 300),
    session_id=SEED,
)
def test_pairwise_masks_cancel_so_the_masked_sum_minus_self_masks_is_the_plain_sum(
    data, parties, bits, length, session_id
):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    inputs = [_words(rng, bits, length) for _ in range(parties)]
    self_seeds = data.draw(st.lists(SEED, min_size=parties, max_size=parties))
    pair = {(u, v): data.draw(SEED) for u in range(parties) for v in range(u + 1, parties)}
    total = np.zeros(length, dtype=word_dtype(bits))
    for u in range(parties):
        others = [v for v in range(parties) if v != u]
        y = mask_input(
            inputs[u],
            bits=bits,
            session_id=session_id,
            self_seed=self_seeds[u],
            pair_seeds=[pair[min(u, v), max(u, v)] for v in others],
            pair_signs=[1 if v > u else -1 for v in others],
        )
        accumulate(total, y, bits=bits)
    add_masks(total, self_seeds, [-1] * parties, session_id=session_id, bits=bits)
    expected = [sum(int(x[i]) for x in inputs) % (1 << bits) for i in range(length)]
    assert total.tolist() == expected


def test_add_then_subtract_the_same_masks_is_the_identity_at_the_real_chunk_size():
    bits, n = 32, masking.CHUNK_BYTES // 4 + 1
    acc = _words(np.random.default_rng(1), bits, n)
    before = acc.copy()
    seeds = [bytes([i]) * 32 for i in range(3)]
    add_masks(acc, seeds, [1, -1, 1], session_id=bytes(32), bits=bits)
    assert not np.array_equal(acc, before)
    add_masks(acc, seeds, [-1, 1, -1], session_id=bytes(32), bits=bits)
    np.testing.assert_array_equal(acc, before)


def test_one_positive_mask_on_zeros_is_the_expanded_mask():
    for bits in (7, 32, 45):
        acc = np.zeros(1000, dtype=word_dtype(bits))
        add_masks(acc, [b"\x05" * 32], [1], session_id=b"\x09" * 32, bits=bits)
        np.testing.assert_array_equal(acc, expand_mask(b"\x05" * 32, session_id=b"\x09" * 32, length=1000, bits=bits))


def test_add_masks_with_no_seeds_leaves_acc_unchanged():
    acc = np.arange(10, dtype=np.uint32)
    add_masks(acc, [], [], session_id=bytes(32), bits=8)
    np.testing.assert_array_equal(acc, np.arange(10))


@pytest.mark.parametrize(
    ("acc", "error"),
    [
        (np.zeros(4, dtype=np.uint64), TypeError),
        (np.zeros(4, dtype=np.int32), TypeError),
        ([0, 0, 0], TypeError),
        (np.zeros((2, 2), dtype=np.uint32), ValueError),
        (np.zeros(0, dtype=np.uint32), ValueError),
        (np.zeros(8, dtype=np.uint32)[::2], ValueError),
        (np.array([0, 256], dtype=np.uint32), ValueError),
    ],
    ids=["wrong-width", "signed", "list", "2-d", "empty", "strided", "unreduced"],
)
def test_add_masks_rejects_a_bad_accumulator(acc, error):
    with pytest.raises(error):
        add_masks(acc, [bytes(32)], [1], session_id=bytes(32), bits=8)


def test_add_masks_rejects_a_read_only_accumulator():
    acc = np.zeros(4, dtype=np.uint32)
    acc.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        add_masks(acc, [bytes(32)], [1], session_id=bytes(32), bits=8)


@pytest.mark.parametrize(
    ("seeds", "signs", "error"),
    [
        ([bytes(32)], [1, -1], ValueError),
        ([bytes(32)], [0], ValueError),
        ([bytes(32)], [2], ValueError),
        ([bytes(32)], [True], TypeError),
        ([bytes(32)], [1.0], TypeError),
        ([bytes(31)], [1], ValueError),
        (["x" * 32], [1], TypeError),
    ],
    ids=["length-mismatch", "zero-sign", "sign-2", "bool-sign", "float-sign", "short-seed", "str-seed"],
)
def test_add_masks_rejects_bad_seeds_or_signs_before_touching_acc(seeds, signs, error):
    acc = np.arange(5, dtype=np.uint32)
    with pytest.raises(error):
        add_masks(acc, [bytes([9]) * 32, *seeds], [1, *signs], session_id=bytes(32), bits=8)
    np.testing.assert_array_equal(acc, np.arange(5))


def test_add_masks_rejects_a_bad_session_id():
    with pytest.raises(ValueError):
        add_masks(np.zeros(3, dtype=np.uint32), [bytes(32)], [1], session_id=bytes(16), bits=8)


def test_mask_input_rejects_values_outside_the_modulus_and_non_integer_input():
    kwargs = dict(bits=8, session_id=bytes(32), self_seed=bytes(32), pair_seeds=[], pair_signs=[])
    with pytest.raises(ValueError, match="256"):
        mask_input(np.array([0, 256]), **kwargs)
    with pytest.raises(ValueError, match="-1"):
        mask_input(np.array([-1, 3]), **kwargs)
    with pytest.raises(TypeError):
        mask_input(np.array([1.0, 2.0]), **kwargs)
    with pytest.raises(ValueError):
        mask_input(np.zeros(0, dtype=np.uint32), **kwargs)


@pytest.mark.parametrize(
    "x, bits, ok",
    [
        (np.array([0, 255], dtype=np.uint8), 8, True),  # the dtype cannot exceed the modulus: no scan
        (np.array([0, 2**32 - 1], dtype=np.uint32), 32, True),
        (np.array([0, 256], dtype=np.uint16), 8, False),  # a wider dtype is scanned
        (np.array([0, 2**32], dtype=np.uint64), 32, False),
        (np.array([0, -1], dtype=np.int8), 8, False),  # a signed one always
        (np.array([0, 127], dtype=np.int8), 8, True),
    ],
)
def test_mask_input_range_check_by_dtype(x, bits, ok):
    kwargs = dict(bits=bits, session_id=bytes(32), self_seed=b"\x01" * 32, pair_seeds=[], pair_signs=[])
    if ok:
        assert mask_input(x, **kwargs).shape == x.shape
    else:
        with pytest.raises(ValueError, match="outside"):
            mask_input(x, **kwargs)


def test_mask_input_returns_a_new_array_and_leaves_x_alone():
    x = np.arange(6, dtype=np.int64)
    y = mask_input(x, bits=20, session_id=bytes(32), self_seed=b"\x01" * 32, pair_seeds=[], pair_signs=[])
    np.testing.assert_array_equal(x, np.arange(6))
    assert y.dtype == np.uint32 and not np.shares_memory(x, y)


def test_accumulate_with_an_unreduced_value_late_in_vec_raises_and_leaves_acc_unchanged():
    n = 3 * masking._SUM_BLOCK + 11
    rng = np.random.default_rng(3)
    acc, vec = _words(rng, 20, n), _words(rng, 20, n)
    vec[-2] = 1 << 20
    before = acc.copy()
    with pytest.raises(ValueError, match="2\\*\\*20"):
        accumulate(acc, vec, bits=20)
    np.testing.assert_array_equal(acc, before)


def test_accumulate_rejects_mismatched_or_aliased_arrays():
    acc = np.zeros(4, dtype=np.uint32)
    with pytest.raises(TypeError):
        accumulate(acc, np.zeros(4, dtype=np.uint64), bits=8)
    with pytest.raises(ValueError):
        accumulate(acc, np.zeros(5, dtype=np.uint32), bits=8)
    with pytest.raises(ValueError, match="share memory"):
        accumulate(acc, acc, bits=8)
    with pytest.raises(TypeError):
        accumulate(acc, [0, 0, 0, 0], bits=8)
