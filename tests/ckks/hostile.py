"""Builders of hostile CKKS inputs, shared by the CKKS tests and bench/test_ckks.py.

They write the protobuf, SEAL and zstd framing by hand (independently of
``secagg.ckks.wire``, which is what they attack), so each builder is a second
reading of the layouts that chapter 50 of the SPEC describes.
"""

from __future__ import annotations

import struct

import tenseal as ts
import tenseal.sealapi as sealapi

_CONTEXT_FROM = ts.context_from  # captured before any test replaces it with a refusal


def varint(n: int) -> bytes:
    """Protobuf base-128 varint of ``n``."""
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_varint(data: bytes, offset: int) -> tuple[int, int]:
    """(value, offset after it) of the varint at ``offset``."""
    value = shift = 0
    while True:
        b = data[offset]
        value |= (b & 0x7F) << shift
        offset += 1
        shift += 7
        if not b & 0x80:
            return value, offset


def field(tag: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (``tag`` is the whole key byte)."""
    return bytes([tag]) + varint(len(payload)) + payload


def split_context(context: bytes) -> tuple[bytes, bytes]:
    """(encryption-parameters field, public part) of a real public context."""
    assert context[0] == 0x0A
    size, offset = read_varint(context, 1)
    params_field = context[: offset + size]
    assert context[offset + size] == 0x12
    size2, offset2 = read_varint(context, offset + size + 1)
    assert offset2 + size2 == len(context)
    return params_field, context[offset2:]


def with_public_part(context: bytes, public: bytes, tail: bytes = b"") -> bytes:
    """``context`` with its public part replaced by ``public`` (and ``tail`` appended)."""
    params_field, _ = split_context(context)
    return params_field + b"\x12" + varint(len(public)) + public + tail


def zstd_zero_frame(size: int) -> bytes:
    """A zstd frame declaring ``size`` bytes, made of 128 KiB RLE blocks of zeros (4 bytes each)."""
    frame = bytearray(struct.pack("<I", 0xFD2FB528)) + bytes([0xE0]) + struct.pack("<Q", size)  # single segment, FCS 8
    block = 128 * 1024
    while size > 0:
        n = min(size, block)
        size -= n
        frame += ((1 if size == 0 else 0) | (1 << 1) | (n << 3)).to_bytes(3, "little") + b"\x00"
    return bytes(frame)


def seal_object(frame: bytes) -> bytes:
    """A SEAL serialisation header (zstd compression) around ``frame``."""
    return struct.pack("<HBBBBHQ", 0xA15E, 16, 4, 0, 2, 0, 16 + len(frame)) + frame


def relin_bomb(public_context: bytes) -> bytes:
    """The review's hostile context: a relinearisation-key field whose zstd frame declares 2 GB."""
    _, public = split_context(public_context)
    return with_public_part(public_context, public + field(0x22, seal_object(zstd_zero_frame(2 * 2**30))))


def zeroed_16_polynomial_ciphertext(holder, tmp_path) -> bytes:
    """SEAL's zstd serialisation of an all-zero 16-polynomial ciphertext under ``holder``'s parameters."""
    seal_context = _CONTEXT_FROM(holder.public_context).seal_context().data
    ct = sealapi.Ciphertext(seal_context)
    ct.resize(seal_context, 16)
    path = tmp_path / "ct16"
    ct.save(str(path))
    return path.read_bytes()
