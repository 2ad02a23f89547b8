"""The AES-256-CTR mask PRG (secagg.primitives.prg)."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from secagg.errors import PrgLimitExceeded
from secagg.primitives.prg import MAX_LENGTH, AESCTRPrg, expand_mask, prg_key
from secagg.primitives.words import word_bytes
from tests.vectors import params, raises_exactly, unhex

ERRORS = {"PrgLimitExceeded": PrgLimitExceeded, "ValueError": ValueError}

SEED = bytes(range(32))
SID = bytes(range(32, 64))
bits_st = st.integers(min_value=1, max_value=62)


@given(bits=bits_st, length=st.integers(min_value=1, max_value=300))
def test_mask_words_are_below_two_to_the_bits_in_the_smallest_dtype(bits, length):
    mask = expand_mask(SEED, session_id=SID, length=length, bits=bits)
    assert mask.shape == (length,)
    assert mask.dtype == (np.uint32 if bits <= 32 else np.uint64)
    assert int(mask.max()) < 2**bits


@pytest.mark.parametrize("bits", [1, 20, 32, 33, 62])
def test_the_top_allowed_bit_is_used(bits):
    mask = expand_mask(SEED, session_id=SID, length=256, bits=bits)
    assert int(mask.max()) >= 2 ** (bits - 1)


@given(bits=bits_st, chunks=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=12))
def test_reading_in_chunks_gives_the_whole_mask(bits, chunks):
    length = max(1, sum(chunks))
    whole = expand_mask(SEED, session_id=SID, length=length, bits=bits)
    prg = AESCTRPrg(SEED, session_id=SID, length=length, bits=bits)
    parts = [prg.words(c) for c in chunks]
    assert np.array_equal(np.concatenate(parts), whole[: sum(chunks)])


@given(chunks=st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=10))
def test_keystream_chunks_of_any_byte_size_concatenate_to_the_whole_keystream(chunks):
    total = sum(chunks)
    length = max(1, -(-total // 8))
    whole = AESCTRPrg(SEED, session_id=SID, length=length, bits=40)
    expected = np.empty(total, dtype=np.uint8)
    whole.keystream_into(np.zeros(total, dtype=np.uint8), expected)
    prg = AESCTRPrg(SEED, session_id=SID, length=length, bits=40)
    got = []
    for c in chunks:
        out = np.empty(c, dtype=np.uint8)
        prg.keystream_into(np.zeros(c, dtype=np.uint8), out)
        got.append(out)
    assert np.array_equal(np.concatenate(got), expected)
    assert prg.produced == total


def test_keystream_is_aes256_ctr_under_prg_key_from_a_zero_counter_block():
    key = prg_key(SEED, session_id=SID, length=64, bits=32)
    prg = AESCTRPrg(SEED, session_id=SID, length=64, bits=32)
    stream = np.empty(256, dtype=np.uint8)
    prg.keystream_into(np.zeros(256, dtype=np.uint8), stream)
    # Counter blocks 0, 1, ..., 15 as 128-bit big-endian integers, through raw AES.
    blocks = b"".join(j.to_bytes(16, "big") for j in range(16))
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    assert stream.tobytes() == ecb.update(blocks) + ecb.finalize()


def test_words_are_little_endian_keystream_words_masked_to_bits():
    prg = AESCTRPrg(SEED, session_id=SID, length=16, bits=44)
    raw = np.empty(128, dtype=np.uint8)
    prg.keystream_into(np.zeros(128, dtype=np.uint8), raw)
    expected = [int.from_bytes(raw[8 * i : 8 * i + 8].tobytes(), "little") % 2**44 for i in range(16)]
    assert expand_mask(SEED, session_id=SID, length=16, bits=44).tolist() == expected


@pytest.mark.parametrize(
    "other",
    [
        {"seed": bytes(32)},
        {"session_id": bytes(32)},
        {"length": 65},
        {"bits": 21},
        {"bits": 52},
    ],
    ids=str,
)
def test_a_different_seed_session_length_or_bit_width_gives_a_different_mask(other):
    base = {"seed": SEED, "session_id": SID, "length": 64, "bits": 20}
    changed = {**base, **other}
    a = expand_mask(base.pop("seed"), **base)
    b = expand_mask(changed.pop("seed"), **changed)
    n = min(len(a), len(b))
    assert prg_key(SEED, session_id=SID, length=64, bits=20) != prg_key(
        other.get("seed", SEED),
        session_id=other.get("session_id", SID),
        length=other.get("length", 64),
        bits=other.get("bits", 20),
    )
    # Masked to the smaller width, the two streams still differ (different keys).
    m = (1 << min(20, other.get("bits", 20))) - 1
    assert not np.array_equal(a[:n].astype(np.uint64) & np.uint64(m), b[:n].astype(np.uint64) & np.uint64(m))


@given(
    a=st.tuples(st.integers(1, MAX_LENGTH), bits_st),
    b=st.tuples(st.integers(1, MAX_LENGTH), bits_st),
)
def test_prg_key_binds_length_and_bits(a, b):
    ka = prg_key(SEED, session_id=SID, length=a[0], bits=a[1])
    kb = prg_key(SEED, session_id=SID, length=b[0], bits=b[1])
    assert (ka == kb) == (a == b)


def test_one_bit_masks_are_balanced():
    mask = expand_mask(SEED, session_id=SID, length=40_000, bits=1)
    # mean 1/2, standard deviation 1/(2*sqrt(n)) = 0.0025: six sigma is 0.015.
    assert abs(float(mask.mean()) - 0.5) < 0.015


@pytest.mark.parametrize("bits", [1, 20, 32, 33, 62])
def test_reading_past_the_cap_raises_and_leaves_the_stream_usable(bits):
    prg = AESCTRPrg(SEED, session_id=SID, length=10, bits=bits)
    first = prg.words(6)
    with pytest.raises(PrgLimitExceeded):
        prg.words(5)
    rest = prg.words(4)
    assert np.array_equal(np.concatenate([first, rest]), expand_mask(SEED, session_id=SID, length=10, bits=bits))
    assert prg.produced == prg.limit == 10 * word_bytes(bits)
    with pytest.raises(PrgLimitExceeded):
        prg.words(1)
    with pytest.raises(PrgLimitExceeded):
        prg.keystream_into(np.zeros(1, dtype=np.uint8), np.empty(1, dtype=np.uint8))
    assert len(prg.words(0)) == 0


def test_a_mask_of_max_length_can_be_started_without_allocating_it():
    prg = AESCTRPrg(SEED, session_id=SID, length=MAX_LENGTH, bits=62)
    assert prg.limit == 8 * MAX_LENGTH
    assert prg.words(3).shape == (3,)


@pytest.mark.parametrize(
    "kwargs,error",
    [
        ({"length": 0}, ValueError),
        ({"length": MAX_LENGTH + 1}, ValueError),
        ({"bits": 0}, ValueError),
        ({"bits": 63}, ValueError),
        ({"seed": bytes(31)}, ValueError),
        ({"session_id": bytes(33)}, ValueError),
        ({"length": True}, TypeError),
        ({"length": 4.0}, TypeError),
        ({"seed": "00" * 32}, TypeError),
    ],
    ids=str,
)
def test_bad_arguments_are_refused_at_construction(kwargs, error):
    args = {"seed": SEED, "session_id": SID, "length": 4, "bits": 20, **kwargs}
    with pytest.raises(error):
        AESCTRPrg(args.pop("seed"), **args)


def test_negative_counts_and_mismatched_buffers_are_value_errors():
    prg = AESCTRPrg(SEED, session_id=SID, length=4, bits=20)
    with pytest.raises(ValueError):
        prg.words(-1)
    with pytest.raises(ValueError):
        prg.keystream_into(np.zeros(4, dtype=np.uint8), np.empty(5, dtype=np.uint8))


# ----------------------------------------------------------------- vectors


@pytest.mark.parametrize("vector", params("prg", "generate"))
def test_prg_generate_vector_reproduces(vector):
    seed, sid = unhex(vector["seed"]), unhex(vector["session_id"])
    length, bits, offset = vector["length"], vector["bits"], vector["offset"]
    assert prg_key(seed, session_id=sid, length=length, bits=bits) == unhex(vector["key"])
    w = word_bytes(bits)
    count = len(vector["words"])
    raw_prg = AESCTRPrg(seed, session_id=sid, length=length, bits=bits)
    word_prg = AESCTRPrg(seed, session_id=sid, length=length, bits=bits)
    if offset:
        raw_prg.keystream_into(np.zeros(offset * w, dtype=np.uint8), np.empty(offset * w, dtype=np.uint8))
        word_prg.words(offset)
    raw = np.empty(count * w, dtype=np.uint8)
    raw_prg.keystream_into(np.zeros(count * w, dtype=np.uint8), raw)
    assert raw.tobytes() == unhex(vector["keystream"])
    assert word_prg.words(count).tolist() == vector["words"]
    if length <= 4096:
        whole = expand_mask(seed, session_id=sid, length=length, bits=bits)
        assert whole[offset : offset + count].tolist() == vector["words"]


@pytest.mark.parametrize("vector", params("prg", "verify"))
def test_raw_aes256_ctr_matches_nist_sp800_38a_with_big_endian_counter(vector):
    assert vector["kind"] == "aes256-ctr"
    cipher = Cipher(algorithms.AES(unhex(vector["key"])), modes.CTR(unhex(vector["initial_counter"])))
    enc = cipher.encryptor()
    assert enc.update(unhex(vector["plaintext"])) + enc.finalize() == unhex(vector["ciphertext"])
    # The same mode object the PRG uses, fed the counter block by block: block j
    # is AES(key, counter + j) with the counter read as one big-endian integer.
    ecb = Cipher(algorithms.AES(unhex(vector["key"])), modes.ECB()).encryptor()
    counter = int(vector["initial_counter"], 16)
    blocks = b"".join(((counter + j) % 2**128).to_bytes(16, "big") for j in range(4))
    stream = ecb.update(blocks)
    pt = unhex(vector["plaintext"])
    assert bytes(a ^ b for a, b in zip(pt, stream)) == unhex(vector["ciphertext"])


@pytest.mark.parametrize("vector", params("prg", "invalid"))
def test_prg_invalid_vector_is_rejected(vector):
    args = {
        "session_id": unhex(vector["session_id"]),
        "length": vector["length"],
        "bits": vector["bits"],
    }
    seed = unhex(vector["seed"])
    if vector["operation"] == "read":
        prg = AESCTRPrg(seed, **args)
        *ok, last = vector["reads"]
        for count in ok:
            prg.words(count)
        with raises_exactly(ERRORS[vector["error"]]):
            prg.words(last)
    else:
        assert vector["operation"] == "expand_mask"
        with raises_exactly(ERRORS[vector["error"]]):
            expand_mask(seed, **args)


# ---------------------------------------------------------------------------- how the keystream is computed


def _ctr_blocks(key: bytes, first: int, count: int) -> bytes:
    # Counter blocks first .. first + count - 1 (128-bit big-endian) through raw AES: the definition.
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return ecb.update(b"".join(j.to_bytes(16, "big") for j in range(first, first + count))) + ecb.finalize()


@given(chunks=st.lists(st.integers(min_value=0, max_value=70), min_size=1, max_size=8), into=st.booleans())
def test_the_keystream_is_aes_ctr_across_the_switch_from_the_ctr_head_to_the_gcm_stream(chunks, into):
    # Bytes [0, 32) come from a CTR context, the rest from GCM's encryption stream: any chunking
    # across byte 32 gives AES-256-CTR's bytes, through read and through read_into.
    from secagg.primitives.prg import Keystream

    key = bytes(range(100, 132))
    ks = Keystream(key)
    parts = []
    for c in chunks:
        if into:
            out = bytearray(c)
            ks.read_into(bytes(c), out)
            parts.append(bytes(out))
        else:
            parts.append(ks.read(c))
    total = sum(chunks)
    assert b"".join(parts) == _ctr_blocks(key, 0, -(-total // 16) + 1)[:total]


def test_a_long_keystream_is_aes_ctr_well_past_the_gcm_switch():
    from secagg.primitives.prg import Keystream

    key = bytes(range(7, 39))
    ks, n = Keystream(key), 300_003
    out = np.empty(n, dtype=np.uint8)
    ks.read_into(np.zeros(5, dtype=np.uint8), out[:5])
    ks.read_into(np.zeros(n - 5, dtype=np.uint8), out[5:])
    expected = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update(bytes(n))
    assert out.tobytes() == expected


def test_past_two_to_the_36_bytes_the_keystream_continues_with_counter_block_two_to_the_32():
    # GCM's 32-bit counter ends at block 2**32 - 1; reading across byte 2**36 must switch to a CTR
    # context at block 2**32 (not wrap to block 0). The GCM context is replaced by a CTR context at
    # block 2**32 - 1 here (a real one would need 64 GiB of keystream to get there).
    from secagg.primitives import prg

    key = bytes(range(50, 82))
    ks = prg.Keystream(key)
    ks._pos = prg._GCM_END - 16
    ks._bulk = Cipher(algorithms.AES(key), modes.CTR((2**32 - 1).to_bytes(16, "big"))).encryptor()
    out = np.empty(48, dtype=np.uint8)
    ks.read_into(np.zeros(48, dtype=np.uint8), out)
    assert out.tobytes() == _ctr_blocks(key, 2**32 - 1, 3)
    assert ks.read(16) == _ctr_blocks(key, 2**32 + 2, 1)


@given(
    length=st.integers(1, 3000),
    bits=st.integers(1, 62),
    first=st.integers(0, 100),
    seeds=st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=3),
)
def test_mask_keystreams_and_their_bulk_writers_give_the_aesctrprg_bytes(length, bits, first, seeds):
    # add_masks' path: the keystream of AESCTRPrg(seed, ...) without that layer, then after a first
    # read the bulk writer; the bytes are the checked path's.
    from secagg.primitives import prg

    sid = bytes(range(32))
    streams = prg._mask_keystreams(seeds, sid, length, bits)
    total = length * (4 if bits <= 32 else 8)
    first = min(first, total)
    outs = [np.empty(total, dtype=np.uint8) for _ in seeds]
    for s, out in zip(streams, outs):
        s.read_into(np.zeros(first, dtype=np.uint8), out[:first])
    for write, out in zip(prg._bulk_writers(streams), outs):
        write(np.zeros(total - first, dtype=np.uint8), out[first:])
    for seed, out in zip(seeds, outs):
        checked = AESCTRPrg(seed, session_id=sid, length=length, bits=bits)
        expected = np.empty(total, dtype=np.uint8)
        checked.keystream_into(np.zeros(total, dtype=np.uint8), expected)
        assert out.tobytes() == expected.tobytes()
