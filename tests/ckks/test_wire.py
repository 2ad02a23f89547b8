"""The chunk pre-parse: decompression bombs and foreign layouts never reach TenSEAL."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest
import tenseal as ts

from secagg.ckks import Client, EnvelopeError, Server, decode_envelope, encode_envelope
from secagg.ckks.envelope import EnvelopeKind
from secagg.ckks.planner import max_ciphertext_bytes
from secagg.ckks.wire import check_vector_blob, expected_decompressed_bytes
from tests.ckks.hostile import varint, zeroed_16_polynomial_ciphertext


def _vector_proto(length: int, ciphertexts: list[bytes], scale: float = 2.0**40) -> bytes:
    """TenSEAL's CKKSVectorProto: sizes=[length], the ciphertexts, scale."""
    body = b"\x0a" + varint(len(varint(length))) + varint(length)
    for ct in ciphertexts:
        body += b"\x12" + varint(len(ct)) + ct
    return body + b"\x19" + struct.pack("<d", scale)


def _real_chunk(holder, dim=10) -> bytes:
    env = Client(holder.signed_context, key_holder_key=holder.verify_key).encrypt(np.ones(dim))
    decoded = decode_envelope(env, kind=EnvelopeKind.UPLOAD, fingerprint=holder.fingerprint, dim=dim,
                              slots=holder.params.slots, max_chunk_bytes=max_ciphertext_bytes(holder.params))
    return bytes(decoded.chunks[0])


def _seal_ciphertext(chunk: bytes) -> bytes:
    """The one SEAL ciphertext inside a real chunk."""
    size_field = 3
    assert chunk[size_field] == 0x12
    length, offset = 0, size_field + 1
    shift = 0
    while True:
        b = chunk[offset]
        length |= (b & 0x7F) << shift
        offset += 1
        shift += 7
        if not b & 0x80:
            break
    return chunk[offset : offset + length]


@pytest.fixture
def tenseal_never_called(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("TenSEAL was asked to deserialise a chunk the pre-parse should have refused")

    monkeypatch.setattr(ts, "ckks_vector_from", refuse)


def _server_rejects_before_tenseal(holder, chunk, dim=10) -> EnvelopeError:
    server = Server(holder.signed_context, key_holder_key=holder.verify_key, dim=dim)
    envelope = encode_envelope(EnvelopeKind.UPLOAD, fingerprint=holder.fingerprint, dim=dim, contributors=1,
                               chunks=[chunk])
    start = time.perf_counter()
    with pytest.raises(EnvelopeError) as info:
        server.receive(1, envelope)
    assert time.perf_counter() - start < 0.5  # a walk over the bytes, no decompression
    assert server.included == ()
    return info.value


def test_real_chunks_pass_the_pre_parse(compact_holder, default_holder):
    for holder in (compact_holder, default_holder):
        for dim in (1, 10, holder.params.slots):
            check_vector_blob(_real_chunk(holder, dim), holder.params, length=dim, index=0)


def test_expected_decompressed_size_matches_what_seal_declares(default_holder):
    ct = _seal_ciphertext(_real_chunk(default_holder))
    assert int.from_bytes(ct[16 + 5 : 16 + 9], "little") == expected_decompressed_bytes(default_holder.params)


def test_decompression_bomb_repeating_a_16_polynomial_ciphertext_is_refused_before_tenseal(
    compact_holder, tmp_path, tenseal_never_called
):
    ct16 = zeroed_16_polynomial_ciphertext(compact_holder, tmp_path)
    assert len(ct16) < 200  # 1 MiB of zeros in memory
    bomb = _vector_proto(10, [ct16] * 200)  # would allocate 200 MiB; the review's 930 copies took 2 GB
    assert len(bomb) < max_ciphertext_bytes(compact_holder.params)
    err = _server_rejects_before_tenseal(compact_holder, bomb)
    assert "single ciphertext entry" in str(err)


def test_single_16_polynomial_ciphertext_is_refused_by_its_declared_size(compact_holder, tmp_path,
                                                                          tenseal_never_called):
    err = _server_rejects_before_tenseal(compact_holder,
                                         _vector_proto(10, [zeroed_16_polynomial_ciphertext(compact_holder, tmp_path)]))
    assert "fresh 2-polynomial ciphertext" in str(err)


def test_repeated_real_ciphertext_is_refused_before_tenseal(compact_holder, tenseal_never_called):
    ct = _seal_ciphertext(_real_chunk(compact_holder))
    _server_rejects_before_tenseal(compact_holder, _vector_proto(10, [ct, ct]))


def test_16_polynomial_frame_relabelled_with_a_2_polynomial_size_is_refused(compact_holder, tmp_path,
                                                                              tenseal_never_called):
    """The zeroed polynomials are stored as RLE blocks, whose decoded sizes the walk adds up."""
    ct16 = bytearray(zeroed_16_polynomial_ciphertext(compact_holder, tmp_path))
    ct16[16 + 5 : 16 + 9] = expected_decompressed_bytes(compact_holder.params).to_bytes(4, "little")
    err = _server_rejects_before_tenseal(compact_holder, _vector_proto(10, [bytes(ct16)]))
    assert "more data than it declares" in str(err)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda ct: ct[:5] + b"\x00" + ct[6:], "compression mode 0"),  # uncompressed
        (lambda ct: ct[:5] + b"\x01" + ct[6:], "compression mode 1"),  # zlib
        (lambda ct: b"\x00\x00" + ct[2:], "SEAL header"),
        (lambda ct: ct[:3] + b"\x03" + ct[4:], "SEAL version 3"),
        (lambda ct: ct[:8] + struct.pack("<Q", len(ct) + 1) + ct[16:], "SEAL header says"),
        (lambda ct: ct[:16] + b"\x00" + ct[17:], "not a zstd frame"),
        (lambda ct: ct[:20] + bytes([ct[20] & 0x3F & ~0x20]) + ct[21:], "declare its decompressed size"),
        (lambda ct: ct[:20] + bytes([ct[20] | 0x01]) + ct[21:], "dictionary"),
        (lambda ct: ct + ct[16:200], "after the zstd frame"),
        (lambda ct: ct[:-1], "truncated"),
    ],
)
def test_foreign_seal_or_zstd_layout_is_refused_before_tenseal(compact_holder, tenseal_never_called, mutate,
                                                               message):
    ct = _seal_ciphertext(_real_chunk(compact_holder))
    bad = mutate(ct)
    if message not in ("SEAL header says",):
        bad = bad[:8] + struct.pack("<Q", len(bad)) + bad[16:] if len(bad) >= 16 else bad
    err = _server_rejects_before_tenseal(compact_holder, _vector_proto(10, [bad]))
    assert message in str(err)


@pytest.mark.parametrize(
    ("chunk_of", "message"),
    [
        (lambda ct: _vector_proto(9, [ct]), "holds 9 values"),
        (lambda ct: _vector_proto(10, [ct], scale=2.0**30), "scale"),
        (lambda ct: _vector_proto(10, [ct]) + b"\x20\x01", "only the scale field"),
        (lambda ct: _vector_proto(10, [])[:3] + _vector_proto(10, [ct])[3:][:-9], "only the scale field"),
        (lambda ct: b"\x0a\x02\x0a\x0a" + _vector_proto(10, [ct])[3:], "more than one size"),
        (lambda ct: b"\x12" + _vector_proto(10, [ct]), "vector-size field"),
        (lambda ct: b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "varint"),
        (lambda ct: b"\x0a\x01\x0a\x12\xff\xff\xff\xff\x0f", "runs past the chunk"),
    ],
)
def test_foreign_protobuf_layout_is_refused_before_tenseal(compact_holder, tenseal_never_called, chunk_of, message):
    ct = _seal_ciphertext(_real_chunk(compact_holder))
    err = _server_rejects_before_tenseal(compact_holder, chunk_of(ct))
    assert message in str(err)


def test_every_truncation_of_a_real_chunk_is_refused(compact_holder):
    chunk = _real_chunk(compact_holder)
    for cut in list(range(0, 200)) + list(range(len(chunk) - 200, len(chunk))):
        with pytest.raises(EnvelopeError):
            check_vector_blob(chunk[:cut], compact_holder.params, length=10, index=0)
