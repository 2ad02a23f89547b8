"""The envelope codec: round trip, and every malformed envelope is a typed error."""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.ckks.envelope import (
    HEADER_SIZE,
    MAGIC,
    EnvelopeKind,
    chunk_count,
    context_fingerprint,
    decode_envelope,
    encode_envelope,
)
from secagg.ckks.errors import EnvelopeError
from secagg.errors import AbortReason, DecodeError, SecAggError

SLOTS = 4
MAX_CHUNK = 64
FP = context_fingerprint(b"the public context")


@st.composite
def envelopes(draw):
    kind = draw(st.sampled_from(list(EnvelopeKind)))
    dim = draw(st.integers(1, 5 * SLOTS))
    chunks = draw(st.lists(st.binary(min_size=1, max_size=MAX_CHUNK), min_size=chunk_count(dim, SLOTS),
                           max_size=chunk_count(dim, SLOTS)))
    contributors = 1 if kind is EnvelopeKind.UPLOAD else draw(st.integers(1, 2**32 - 1))
    return kind, dim, contributors, chunks


def _decode(data, kind=EnvelopeKind.UPLOAD, dim=5, fingerprint=FP):
    return decode_envelope(data, kind=kind, fingerprint=fingerprint, dim=dim, slots=SLOTS, max_chunk_bytes=MAX_CHUNK)


def _good(dim=5, kind=EnvelopeKind.UPLOAD, contributors=1):
    return encode_envelope(kind, fingerprint=FP, dim=dim, contributors=contributors,
                           chunks=[b"a" * 10] * chunk_count(dim, SLOTS))


@given(envelopes())
def test_decode_inverts_encode(case):
    kind, dim, contributors, chunks = case
    data = encode_envelope(kind, fingerprint=FP, dim=dim, contributors=contributors, chunks=chunks)
    env = _decode(data, kind=kind, dim=dim)
    assert (env.kind, env.fingerprint, env.dim, env.contributors) == (kind, FP, dim, contributors)
    assert [bytes(c) for c in env.chunks] == chunks
    assert len(data) == HEADER_SIZE + sum(4 + len(c) for c in chunks)


@given(envelopes(), st.data())
def test_every_truncation_is_rejected(case, data):
    kind, dim, contributors, chunks = case
    blob = encode_envelope(kind, fingerprint=FP, dim=dim, contributors=contributors, chunks=chunks)
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(EnvelopeError):
        _decode(blob[:cut], kind=kind, dim=dim)


@given(envelopes(), st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_rejected(case, extra):
    kind, dim, contributors, chunks = case
    blob = encode_envelope(kind, fingerprint=FP, dim=dim, contributors=contributors, chunks=chunks)
    with pytest.raises(EnvelopeError):
        _decode(blob + extra, kind=kind, dim=dim)


def test_header_layout_matches_the_spec():
    data = _good(dim=5, kind=EnvelopeKind.AGGREGATE, contributors=7)
    assert data[:4] == b"SGCK" and data[4] == 2 and data[5] == 2
    assert HEADER_SIZE == 70
    assert data[38:70] == hashlib.sha256(data[:38] + data[70:]).digest()
    assert data[6:22] == FP
    assert struct.unpack_from("<QII", data, 22) == (5, 2, 7)
    assert struct.unpack_from("<I", data, HEADER_SIZE)[0] == 10


def test_fingerprint_is_truncated_labelled_sha256():
    import hashlib

    assert FP == hashlib.sha256(b"secagg/v1/ckks-context\x00the public context").digest()[:16]


def _patch(data: bytes, offset: int, fmt: str, value) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, value)
    return bytes(buf)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: b"XXXX" + d[4:], "magic"),
        (lambda d: _patch(d, 4, "<B", 1), "version"),
        (lambda d: _patch(d, 5, "<B", 9), "unknown envelope kind"),
        (lambda d: _patch(d, 5, "<B", 2), "expected a UPLOAD"),
        (lambda d: _patch(d, 30, "<I", 3), "declares 3 chunks"),
        (lambda d: _patch(d, 34, "<I", 0), "contributor count 0"),
        (lambda d: _patch(d, 34, "<I", 2), "contributor count 2"),
        (lambda d: _patch(d, HEADER_SIZE, "<I", MAX_CHUNK + 1), "declares 65 bytes"),
        (lambda d: _patch(d, HEADER_SIZE, "<I", 2**32 - 1), "declares 4294967295 bytes"),
        (lambda d: _patch(d, HEADER_SIZE, "<I", 0), "declares 0 bytes"),
        (lambda d: _patch(d, HEADER_SIZE, "<I", 11), "chunk 1 declares|truncated|trailing"),
        (lambda d: _patch(d, HEADER_SIZE, "<I", 9), "chunk 1 declares|truncated|trailing"),
        (lambda d: d[:HEADER_SIZE - 1], "shorter than"),
        (lambda d: d + bytes(2 * (4 + MAX_CHUNK)), "outside"),
    ],
    ids=["magic", "version", "unknown_kind", "wrong_kind", "chunk_count", "zero_contributors",
         "upload_with_two_contributors", "oversize_chunk", "huge_chunk_length", "empty_chunk",
         "length_too_long", "length_too_short", "short_header", "far_too_long"],
)
def test_malformed_envelope_is_rejected_as_malformed(mutate, match):
    with pytest.raises(EnvelopeError, match=match) as info:
        _decode(mutate(_good()))
    assert info.value.reason is AbortReason.MALFORMED
    assert isinstance(info.value, DecodeError) and isinstance(info.value, SecAggError)


def test_envelope_of_another_context_is_rejected_as_inconsistent():
    with pytest.raises(EnvelopeError, match="another public context") as info:
        _decode(_good(), fingerprint=context_fingerprint(b"another context"))
    assert info.value.reason is AbortReason.INCONSISTENT


def test_envelope_of_another_vector_length_is_rejected_as_inconsistent():
    with pytest.raises(EnvelopeError, match="length 5, expected 6") as info:
        _decode(_good(dim=5), dim=6)
    assert info.value.reason is AbortReason.INCONSISTENT


def test_decode_refuses_non_bytes():
    with pytest.raises(TypeError):
        _decode("SGCK")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fingerprint": b"short"},
        {"dim": 0},
        {"contributors": 2},
        {"chunks": []},
        {"chunks": [b""]},
    ],
)
def test_encode_refuses_out_of_range_fields(kwargs):
    args = {"fingerprint": FP, "dim": 1, "contributors": 1, "chunks": [b"x"]} | kwargs
    with pytest.raises(ValueError):
        encode_envelope(EnvelopeKind.UPLOAD, **args)


def test_encode_refuses_wrong_types():
    with pytest.raises(TypeError):
        encode_envelope(EnvelopeKind.UPLOAD, fingerprint=FP, dim=1.0, contributors=1, chunks=[b"x"])
    with pytest.raises(TypeError):
        encode_envelope(EnvelopeKind.UPLOAD, fingerprint=FP, dim=1, contributors=1, chunks=["x"])


def test_magic_constant_is_four_ascii_bytes():
    assert MAGIC == b"SGCK"


@given(envelopes(), st.data())
def test_any_single_bit_flip_is_rejected(case, data):
    kind, dim, contributors, chunks = case
    blob = bytearray(encode_envelope(kind, fingerprint=FP, dim=dim, contributors=contributors, chunks=chunks))
    bit = data.draw(st.integers(0, 8 * len(blob) - 1))
    blob[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(EnvelopeError):
        _decode(bytes(blob), kind=kind, dim=dim)


def test_flip_inside_a_chunk_is_reported_as_transport_corruption():
    blob = bytearray(_good())
    blob[HEADER_SIZE + 4 + 3] ^= 0x40
    with pytest.raises(EnvelopeError, match="digest does not match") as info:
        _decode(bytes(blob))
    assert info.value.reason is AbortReason.MALFORMED
