"""Bit packing: kernels against the Python-integer reference, vectors, canonical form."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.primitives.masking import accumulate_packed
from secagg.primitives.masking_reference import (
    accumulate_packed_reference,
    pack_reference,
    unpack_reference,
)
from secagg.primitives.packing import pack, packed_size, unpack, unpack_add_into
from secagg.primitives.words import modulus_mask, word_dtype
from tests.vectors import params, unhex

# Lengths around the vector groups (16 words for bits <= 32, 8 above) and the
# point where the scalar tail takes over (the last group whose 64-byte window
# still fits in the buffer).
BOUNDARY_LENGTHS = [7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1025]
LENGTHS = st.one_of(st.integers(1, 40), st.sampled_from(BOUNDARY_LENGTHS))


def _words(rng: np.random.Generator, bits: int, length: int) -> np.ndarray:
    return (rng.integers(0, 2**63, size=length, dtype=np.uint64) & np.uint64(modulus_mask(bits))).astype(
        word_dtype(bits)
    )


BITS = st.one_of(st.integers(1, 62), st.sampled_from([8, 16, 24, 32]))


@given(bits=BITS, length=LENGTHS, seed=st.integers(0, 2**32 - 1))
def test_pack_matches_the_python_integer_reference(bits, length, seed):
    words = _words(np.random.default_rng(seed), bits, length)
    assert pack(words, bits) == pack_reference(words, bits)


@given(bits=BITS, length=LENGTHS, seed=st.integers(0, 2**32 - 1))
def test_unpack_inverts_pack_and_matches_the_reference(bits, length, seed):
    words = _words(np.random.default_rng(seed), bits, length)
    data = pack_reference(words, bits)
    out = unpack(data, bits, length)
    assert out.dtype == word_dtype(bits)
    np.testing.assert_array_equal(out, words)
    np.testing.assert_array_equal(out, unpack_reference(data, bits, length))


@given(bits=BITS, length=LENGTHS, seed=st.integers(0, 2**32 - 1))
def test_accumulate_packed_matches_unpack_then_add(bits, length, seed):
    rng = np.random.default_rng(seed)
    acc = _words(rng, bits, length)
    data = pack_reference(_words(rng, bits, length), bits)
    expected = accumulate_packed_reference(acc, data, bits=bits)
    accumulate_packed(acc, data, bits=bits)
    np.testing.assert_array_equal(acc, expected)


@given(bits=BITS, length=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
def test_packed_size_is_the_length_of_the_encoding(bits, length, seed):
    words = _words(np.random.default_rng(seed), bits, length)
    assert len(pack(words, bits)) == packed_size(length, bits) == -(-length * bits // 8)


def test_packed_input_may_be_bytes_bytearray_memoryview_or_uint8_array():
    words = np.array([3, 1, 4, 1, 5], dtype=np.uint32)
    data = pack(words, 5)
    for form in (data, bytearray(data), memoryview(data), np.frombuffer(data, dtype=np.uint8)):
        np.testing.assert_array_equal(unpack(form, 5, 5), words)


@pytest.mark.parametrize("bits", range(1, 63))
def test_every_width_packs_and_decodes_like_the_reference_across_group_boundaries(bits):
    rng = np.random.default_rng(1000 + bits)
    for length in BOUNDARY_LENGTHS:
        words = _words(rng, bits, length)
        data = pack_reference(words, bits)
        assert pack(words, bits) == data, length
        np.testing.assert_array_equal(unpack(data, bits, length), words)
        acc = _words(rng, bits, length)
        expected = accumulate_packed_reference(acc, data, bits=bits)
        accumulate_packed(acc, data, bits=bits)
        np.testing.assert_array_equal(acc, expected)


@pytest.mark.parametrize("bits", [1, 7, 8, 16, 20, 24, 27, 32, 33, 40, 45, 57, 58, 62])
def test_decoder_reads_an_unaligned_slice_of_a_larger_buffer(bits):
    words = _words(np.random.default_rng(bits), bits, 1001)
    data = pack(words, bits)
    buffer = b"\x01" + data + b"\x02"
    np.testing.assert_array_equal(unpack(memoryview(buffer)[1:-1], bits, 1001), words)
    np.testing.assert_array_equal(unpack(np.frombuffer(buffer, dtype=np.uint8)[1:-1], bits, 1001), words)


@pytest.mark.parametrize("vector", params("packing", "generate"))
def test_generate_vectors_pack_to_the_listed_bytes(vector):
    words = np.array(vector["words"], dtype=word_dtype(vector["bits"]))
    assert pack(words, vector["bits"]).hex() == vector["packed"]
    np.testing.assert_array_equal(unpack(unhex(vector["packed"]), vector["bits"], vector["length"]), words)


@pytest.mark.parametrize("vector", params("packing", "verify"))
def test_verify_vectors_decode_and_reencode(vector):
    out = unpack(unhex(vector["packed"]), vector["bits"], vector["length"])
    assert out.tolist() == vector["words"]
    assert pack(out, vector["bits"]).hex() == vector["packed"]


@pytest.mark.parametrize("vector", params("packing", "invalid"))
def test_invalid_vectors_are_rejected_by_unpack_and_accumulate_packed(vector):
    error = {"ValueError": ValueError}[vector["error"]]
    data = unhex(vector["packed"])
    with pytest.raises(error):
        unpack(data, vector["bits"], vector["length"])
    acc = np.zeros(vector["length"], dtype=word_dtype(vector["bits"]))
    with pytest.raises(error):
        accumulate_packed(acc, data, bits=vector["bits"])
    assert not acc.any()


@given(bits=st.integers(1, 62), length=st.integers(1, 30), bit=st.integers(0, 7))
def test_any_set_padding_bit_is_rejected(bits, length, bit):
    used = (length * bits) % 8
    if used == 0 or bit < used:
        return
    data = bytearray(packed_size(length, bits))
    data[-1] |= 1 << bit
    with pytest.raises(ValueError, match="non-canonical"):
        unpack(bytes(data), bits, length)


def test_pack_rejects_words_that_do_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        pack(np.array([0, 16], dtype=np.uint32), 4)
    with pytest.raises(ValueError, match="does not fit"):
        pack(np.array([-1, 0], dtype=np.int64), 4)


def test_pack_rejects_non_integer_and_non_array_input():
    with pytest.raises(TypeError):
        pack(np.array([1.0, 2.0]), 4)
    with pytest.raises(TypeError):
        pack([1, 2], 4)
    with pytest.raises(ValueError):
        pack(np.zeros((2, 2), dtype=np.uint32), 4)


def test_unpack_rejects_bad_arguments():
    with pytest.raises(TypeError):
        unpack("00", 8, 1)
    with pytest.raises(TypeError):
        unpack(np.zeros(1, dtype=np.uint16), 8, 1)
    with pytest.raises(ValueError):
        unpack(b"", 8, 0)
    with pytest.raises(ValueError):
        unpack(b"\x00", 0, 1)
    with pytest.raises(ValueError):
        packed_size(-1, 8)


@pytest.mark.parametrize("bits", [3, 20, 27, 31, 40, 62])
@pytest.mark.parametrize("where", ["first", "middle", "last vector group", "tail"])
def test_decoding_into_an_accumulator_with_an_unreduced_value_raises_and_leaves_it_unchanged(bits, where):
    length = 3077
    rng = np.random.default_rng(7)
    acc = _words(rng, bits, length)
    data = pack(_words(rng, bits, length), bits)
    lanes = 16 if bits <= 32 else 8
    last_vector_group = (len(data) - 64) // (lanes * bits // 8)
    index = {"first": 0, "middle": 1500, "last vector group": last_vector_group * lanes + 3, "tail": length - 1}[where]
    acc[index] = acc.dtype.type(1 << bits)  # out of range
    before = acc.copy()
    with pytest.raises(ValueError, match=f"2\\*\\*{bits} \\(the first at index {index}\\)"):
        unpack_add_into(acc, data, bits=bits)
    np.testing.assert_array_equal(acc, before)


@pytest.mark.parametrize("bits", [5, 20, 27, 40, 61])
@pytest.mark.parametrize("index", [0, 700, 999])
def test_pack_rejects_a_word_of_the_word_dtype_that_is_too_large_anywhere(bits, index):
    words = _words(np.random.default_rng(bits), bits, 1000)
    words[index] = words.dtype.type(modulus_mask(bits) + 1)
    with pytest.raises(ValueError, match=f"word {modulus_mask(bits) + 1} does not fit in {bits} bits"):
        pack(words, bits)


def test_pack_accepts_other_integer_dtypes_and_checks_them_before_converting():
    words = np.array([3, 1, 4, 1, 5, 9, 2, 6] * 10, dtype=np.int64)
    assert pack(words, 20) == pack_reference(words.astype(np.uint32), 20)
    with pytest.raises(ValueError, match="does not fit"):
        pack(np.array([2**32 + 1], dtype=np.int64), 20)  # would wrap to 1 as uint32


def test_accumulator_with_the_wrong_dtype_is_a_type_error():
    with pytest.raises(TypeError, match="uint32"):
        accumulate_packed(np.zeros(3, dtype=np.uint64), bytes(3), bits=8)
