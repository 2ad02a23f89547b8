"""The CKKS envelope: our versioned binary wrapper around TenSEAL ciphertexts.

Normative layout (SPEC chapter 50, all integers little-endian)::

    offset  size  field
    0       4     magic          b"SGCK"
    4       1     version        u8, 2
    5       1     kind           u8, 1 = UPLOAD (one client), 2 = AGGREGATE (a sum)
    6       16    fingerprint    context_fingerprint(public context bytes)
    22      8     dim            u64le, 1 <= dim
    30      4     chunk_count    u32le, == ceil(dim / slots)
    34      4     contributors   u32le, 1 for UPLOAD, >= 1 for AGGREGATE
    38      32    digest         SHA-256(bytes[0:38] || bytes[70:])
    70      ...   chunk_count x ( u32le length L, 1 <= L <= max_chunk_bytes ; L bytes )

and nothing after the last chunk. Chunk ``i`` is TenSEAL's serialisation of
one ``CKKSVector`` holding elements ``[i*slots, min((i+1)*slots, dim))``.

The digest (new in version 2; version 1 had none and is refused) turns
transport corruption into a typed error: the review found that 1 to 3 flipped
bits inside a ciphertext were often accepted by TenSEAL and decrypted to
garbage. It is not authentication: anyone who alters an envelope on purpose
can recompute it.

:func:`decode_envelope` checks every field against the values the receiver
expects and against limits derived from the parameters *before* it slices
anything; it never deserialises a ciphertext (that is the roles' job) and
never uses pickle.

>>> fp = context_fingerprint(b"public context bytes")
>>> data = encode_envelope(EnvelopeKind.UPLOAD, fingerprint=fp, dim=3, contributors=1, chunks=[b"ct"])
>>> env = decode_envelope(data, kind=EnvelopeKind.UPLOAD, fingerprint=fp, dim=3, slots=4096, max_chunk_bytes=10)
>>> env.dim, [bytes(c) for c in env.chunks]
(3, [b'ct'])
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import struct
from collections.abc import Sequence

from secagg.ckks.errors import EnvelopeError
from secagg.errors import AbortReason

__all__ = [
    "DIGEST_SIZE",
    "FINGERPRINT_SIZE",
    "HEADER_SIZE",
    "MAGIC",
    "VERSION",
    "Envelope",
    "EnvelopeBuilder",
    "EnvelopeKind",
    "chunk_count",
    "context_fingerprint",
    "decode_envelope",
    "encode_envelope",
]

MAGIC = b"SGCK"
VERSION = 2
FINGERPRINT_SIZE = 16
DIGEST_SIZE = 32
_FIELDS = struct.Struct("<4sBB16sQII")
_DIGEST_OFFSET = _FIELDS.size  # 38
HEADER_SIZE = _DIGEST_OFFSET + DIGEST_SIZE  # 70
_LEN = struct.Struct("<I")
_FINGERPRINT_LABEL = b"secagg/v1/ckks-context\x00"
_U32_MAX = 2**32 - 1


class EnvelopeKind(enum.IntEnum):
    """What an envelope carries (the ``kind`` byte)."""

    UPLOAD = 1
    """One client's encrypted vector, client -> server."""
    AGGREGATE = 2
    """The server's encrypted sum, server -> key holder."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """A decoded envelope; the chunks are views into the received bytes.

    Attributes:
        kind: :class:`EnvelopeKind`.
        fingerprint: the 16-byte context fingerprint.
        dim: vector length.
        contributors: how many clients' inputs the ciphertexts sum.
        chunks: one TenSEAL ``CKKSVector`` serialisation per ``slots`` values.
    """

    kind: EnvelopeKind
    fingerprint: bytes
    dim: int
    contributors: int
    chunks: tuple[memoryview, ...]


def context_fingerprint(public_context: bytes) -> bytes:
    """Return the 16-byte fingerprint that binds an envelope to a public context.

    ``SHA-256(b"secagg/v1/ckks-context" || 0x00 || public_context)[:16]``.

    Warning:
        The fingerprint catches configuration mistakes (a client that encrypted
        under another round's or another key holder's context), not attacks:
        anyone can write any fingerprint into an envelope.

    Args:
        public_context: the exact context bytes the key holder exported.

    Returns:
        16 bytes.

    Raises:
        TypeError: if ``public_context`` is not bytes-like.
    """
    if not isinstance(public_context, (bytes, bytearray, memoryview)):
        raise TypeError(f"public_context must be bytes, got {type(public_context).__name__}")
    return hashlib.sha256(_FINGERPRINT_LABEL + bytes(public_context)).digest()[:FINGERPRINT_SIZE]


def chunk_count(dim: int, slots: int) -> int:
    """Return ``ceil(dim / slots)``, the number of ciphertexts for ``dim`` values.

    Args:
        dim: the vector length (>= 0).
        slots: the values per ciphertext (>= 1).

    Returns:
        The number of ciphertexts.

    Raises:
        ZeroDivisionError: if ``slots`` is 0 (callers pass a validated
            parameter set's slot count).
    """
    return -(-dim // slots)


def _check_positive_int(name: str, value: object, upper: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not 1 <= value <= upper:
        raise ValueError(f"{name} must be in 1..{upper}, got {value!r}")
    return value


def _envelope_digest(view: memoryview) -> bytes:
    h = hashlib.sha256(view[:_DIGEST_OFFSET])
    h.update(view[HEADER_SIZE:])
    return h.digest()


class EnvelopeBuilder:
    """Writes an envelope chunk by chunk into one preallocated buffer.

    A client holds one serialised ciphertext at a time and copies it straight
    into the envelope, instead of keeping a list of chunks and joining it
    (which needed the upload twice in memory).

    Args:
        kind: :class:`EnvelopeKind`.
        fingerprint: 16 bytes from :func:`context_fingerprint`.
        dim: vector length, 1..2**64-1.
        contributors: 1 for ``UPLOAD``; the number of summed clients for ``AGGREGATE``.
        chunk_count: how many chunks :meth:`add` will be given, 1..2**32-1.
        capacity: the largest total envelope size (the buffer is allocated
            once at this size and shrunk in place by :meth:`finish`).

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if a value is out of range (also an UPLOAD with
            ``contributors != 1``).
    """

    __slots__ = ("_buf", "_count", "_expected", "_header", "_offset")

    def __init__(
        self, kind: EnvelopeKind, *, fingerprint: bytes, dim: int, contributors: int, chunk_count: int, capacity: int
    ) -> None:
        kind = EnvelopeKind(kind)
        if not isinstance(fingerprint, bytes) or len(fingerprint) != FINGERPRINT_SIZE:
            raise ValueError(f"fingerprint must be {FINGERPRINT_SIZE} bytes, got {fingerprint!r}")
        _check_positive_int("dim", dim, 2**64 - 1)
        _check_positive_int("contributors", contributors, _U32_MAX)
        _check_positive_int("chunk_count", chunk_count, _U32_MAX)
        _check_positive_int("capacity", capacity, 2**62)
        if kind is EnvelopeKind.UPLOAD and contributors != 1:
            raise ValueError(f"an UPLOAD envelope has exactly 1 contributor, got {contributors!r}")
        self._header = _FIELDS.pack(MAGIC, VERSION, int(kind), fingerprint, dim, chunk_count, contributors)
        self._expected = chunk_count
        self._count = 0
        self._buf = bytearray(max(capacity, HEADER_SIZE))
        self._offset = HEADER_SIZE

    def add(self, chunk: bytes | bytearray | memoryview) -> None:
        """Append one serialised ciphertext (1..2**32-1 bytes).

        Raises:
            TypeError: if ``chunk`` is not bytes-like.
            ValueError: if it is empty or too long, one chunk too many, or
                the envelope would exceed ``capacity``.
        """
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise TypeError(f"chunk {self._count} must be bytes, got {type(chunk).__name__}")
        size = len(chunk)
        if not 1 <= size <= _U32_MAX:
            raise ValueError(f"chunk {self._count} must be 1..{_U32_MAX} bytes, got {size}")
        if self._count >= self._expected:
            raise ValueError(f"the envelope was declared with {self._expected} chunks")
        end = self._offset + _LEN.size + size
        if end > len(self._buf):
            raise ValueError(f"chunk {self._count} would make the envelope {end:,} bytes, above {len(self._buf):,}")
        _LEN.pack_into(self._buf, self._offset, size)
        self._buf[self._offset + _LEN.size : end] = chunk
        self._offset = end
        self._count += 1

    def finish(self) -> bytearray:
        """Write the header and digest and return the envelope (shrunk in place, not copied).

        Returns:
            The envelope, a ``bytearray`` (bytes-like; no second copy is made).

        Raises:
            ValueError: if fewer chunks were added than declared.
        """
        if self._count != self._expected:
            raise ValueError(f"{self._count} chunks added, {self._expected} declared")
        buf = self._buf
        del buf[self._offset :]
        buf[:_DIGEST_OFFSET] = self._header
        view = memoryview(buf)
        try:
            view[_DIGEST_OFFSET:HEADER_SIZE] = _envelope_digest(view)
        finally:
            view.release()
        return buf


def encode_envelope(
    kind: EnvelopeKind, *, fingerprint: bytes, dim: int, contributors: int, chunks: Sequence[bytes]
) -> bytes:
    """Serialise an envelope (the layout in the module docstring).

    Args:
        kind: :class:`EnvelopeKind`.
        fingerprint: 16 bytes from :func:`context_fingerprint`.
        dim: vector length, 1..2**64-1.
        contributors: 1 for ``UPLOAD``; the number of summed clients for ``AGGREGATE``.
        chunks: the serialised ciphertexts, each 1..2**32-1 bytes.

    Returns:
        The envelope bytes.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if a value is out of range (also an UPLOAD with
            ``contributors != 1``).
    """
    if not 1 <= len(chunks) <= _U32_MAX:
        raise ValueError(f"chunk count must be in 1..{_U32_MAX}, got {len(chunks)}")
    for i, chunk in enumerate(chunks):
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise TypeError(f"chunk {i} must be bytes, got {type(chunk).__name__}")
    builder = EnvelopeBuilder(
        kind,
        fingerprint=fingerprint,
        dim=dim,
        contributors=contributors,
        chunk_count=len(chunks),
        capacity=HEADER_SIZE + sum(_LEN.size + len(c) for c in chunks),
    )
    for chunk in chunks:
        builder.add(chunk)
    return bytes(builder.finish())


def decode_envelope(
    data: bytes,
    *,
    kind: EnvelopeKind,
    fingerprint: bytes,
    dim: int,
    slots: int,
    max_chunk_bytes: int,
) -> Envelope:
    """Parse an envelope, checking it against what the receiver expects.

    Args:
        data: the received bytes.
        kind: the only kind the receiver accepts.
        fingerprint: the receiver's own context fingerprint.
        dim: the round's vector length.
        slots: values per ciphertext (``poly_modulus_degree // 2``).
        max_chunk_bytes: the largest serialised ciphertext the parameters allow.

    Returns:
        The :class:`Envelope`; its chunks are views into ``data`` (no copy).

    Raises:
        TypeError: if ``data`` is not bytes-like.
        EnvelopeError: on a short header, bad magic, unknown version or kind,
            a kind other than expected, another context's fingerprint
            (reason ``INCONSISTENT``), another vector length (``INCONSISTENT``),
            a chunk count other than ``ceil(dim / slots)``, a contributor count
            out of range, a total length outside the bounds the header implies,
            a chunk length of 0 or above ``max_chunk_bytes``, truncation,
            trailing bytes, or (checked last) a SHA-256 digest that does not
            match the contents.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"envelope must be bytes, got {type(data).__name__}")
    view = memoryview(data).cast("B")
    if len(view) < HEADER_SIZE:
        raise EnvelopeError(f"envelope of {len(view)} bytes is shorter than the {HEADER_SIZE}-byte header")
    magic, version, raw_kind, fp, got_dim, count, contributors = _FIELDS.unpack_from(view, 0)
    if magic != MAGIC:
        raise EnvelopeError(f"bad magic {magic!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise EnvelopeError(f"unsupported envelope version {version}, expected {VERSION}")
    if raw_kind not in EnvelopeKind._value2member_map_:
        raise EnvelopeError(f"unknown envelope kind {raw_kind}")
    if raw_kind != kind:
        raise EnvelopeError(f"expected a {EnvelopeKind(kind).name} envelope, got {EnvelopeKind(raw_kind).name}")
    if not hmac.compare_digest(fp, fingerprint):
        raise EnvelopeError(
            f"envelope was made under another public context (fingerprint {fp.hex()}, expected {fingerprint.hex()})",
            AbortReason.INCONSISTENT,
        )
    if got_dim != dim:
        raise EnvelopeError(f"envelope holds a vector of length {got_dim}, expected {dim}", AbortReason.INCONSISTENT)
    expected_count = chunk_count(dim, slots)
    if count != expected_count:
        raise EnvelopeError(f"envelope declares {count} chunks, expected ceil({dim}/{slots}) = {expected_count}")
    if contributors < 1 or (raw_kind == EnvelopeKind.UPLOAD and contributors != 1):
        raise EnvelopeError(f"contributor count {contributors} is invalid for a {EnvelopeKind(raw_kind).name}")
    smallest = HEADER_SIZE + count * (_LEN.size + 1)
    largest = HEADER_SIZE + count * (_LEN.size + max_chunk_bytes)
    if not smallest <= len(view) <= largest:
        raise EnvelopeError(f"envelope of {len(view)} bytes is outside {smallest}..{largest} for {count} chunks")
    chunks = []
    offset = HEADER_SIZE
    for i in range(count):
        if offset + _LEN.size > len(view):
            raise EnvelopeError(f"envelope truncated in the length of chunk {i}")
        (length,) = _LEN.unpack_from(view, offset)
        offset += _LEN.size
        if not 1 <= length <= max_chunk_bytes:
            raise EnvelopeError(f"chunk {i} declares {length} bytes, outside 1..{max_chunk_bytes}")
        if offset + length > len(view):
            raise EnvelopeError(f"envelope truncated in chunk {i} ({len(view) - offset} of {length} bytes)")
        chunks.append(view[offset : offset + length])
        offset += length
    if offset != len(view):
        raise EnvelopeError(f"{len(view) - offset} trailing bytes after the last chunk")
    if not hmac.compare_digest(bytes(view[_DIGEST_OFFSET:HEADER_SIZE]), _envelope_digest(view)):
        raise EnvelopeError("envelope digest does not match its contents: the bytes were corrupted in transport")
    return Envelope(
        kind=EnvelopeKind(raw_kind), fingerprint=bytes(fp), dim=got_dim, contributors=contributors, chunks=tuple(chunks)
    )
