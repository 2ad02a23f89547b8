"""Pre-parse of serialised ``CKKSVector`` chunks and public contexts, before TenSEAL sees a byte.

:func:`check_public_context` walks a public context the same way (SPEC
chapter 50, "Public-context layout"): declared sizes against the parameter
set, no relinearisation or Galois key field at all. The rest of this
docstring is about chunks.

TenSEAL deserialises a chunk completely (every ciphertext it lists, each
decompressed and allocated) before anyone can ask how many ciphertexts it
held. A hand-made chunk that repeats a small zstd-compressed 16-polynomial
ciphertext a thousand times is a 135 KB upload that makes the receiver
allocate gigabytes. :func:`check_vector_blob` therefore walks the bytes
itself, bounds-checked and allocation-free, and accepts exactly the layout a
fresh :meth:`Client.encrypt` chunk has (SPEC chapter 50, "Chunk layout"):

1. TenSEAL's ``CKKSVectorProto`` in protobuf, canonical order, nothing else::

       0x0A  varint(len)  varint(length)          field 1 "sizes", packed, one value
       0x12  varint(L)    L bytes                 field 2 "ciphertexts", exactly once
       0x19  8 bytes                              field 3 "scale", f64le == 2**scale_bits

2. the one ciphertext, a SEAL object: a 16-byte header (``u16le`` magic
   ``0xA15E``, ``u8`` header size 16, ``u8`` major version 4, ``u8`` minor
   version, ``u8`` compression mode 2 = zstd, ``u16`` reserved 0, ``u64le``
   size == ``L``) and then one zstd frame;

3. the zstd frame (RFC 8878) must declare its decompressed size, and that
   size must be exactly what a fresh ciphertext of the parameter set
   decompresses to, ``97 + 2 * N * data_primes * 8`` bytes (SEAL's metadata:
   parms_id 32, NTT flag 1, five u64/f64 fields 40, the coefficient array's
   own 16-byte header and 8-byte count; then two polynomials). The frame's
   blocks are walked to its end, which must be the end of the chunk (no
   second frame), with no reserved block type and no block above 128 KiB.

zstd refuses to produce more than the size a frame declares (checked: a
16-polynomial ciphertext relabelled with a 2-polynomial size is an I/O error
before SEAL allocates it), so after this check TenSEAL allocates at most one
2-polynomial ciphertext per chunk: the planner's figure.

>>> import struct
>>> from secagg.ckks.params import PARAMETER_SETS
>>> p = PARAMETER_SETS["compact"]
>>> expected_decompressed_bytes(p)
131169
>>> try:
...     check_vector_blob(b"\\x0a\\x01\\x05" + b"\\x12\\x00" * 2, p, length=5, index=0)
... except EnvelopeError as exc:
...     print(exc)
malformed: chunk 0: field 2 at offset 5 is not the single ciphertext entry expected
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable

from secagg.ckks.errors import ContextError, EnvelopeError
from secagg.ckks.params import MAX_COEFF_MODULUS_BITS, CKKSParams

__all__ = [
    "ContextLayout",
    "SEAL_HEADER_SIZE",
    "SEAL_MAGIC",
    "ZSTD_MODE",
    "check_public_context",
    "check_vector_blob",
    "expected_decompressed_bytes",
]

SEAL_MAGIC = 0xA15E
SEAL_HEADER_SIZE = 16
SEAL_MAJOR_VERSION = 4
ZSTD_MODE = 2
"""SEAL's ``compr_mode_type.zstd``: the only compression mode a client produces."""

_SEAL_HEADER = struct.Struct("<HBBBBHQ")
_ZSTD_MAGIC = 0xFD2FB528
_ZSTD_MAX_BLOCK = 128 * 1024
_SEAL_CIPHERTEXT_METADATA = 32 + 1 + 5 * 8 + 16 + 8
"""parms_id, is_ntt_form, size/N/primes/scale/correction, DynArray header and count."""


def expected_decompressed_bytes(params: CKKSParams) -> int:
    """Return how many bytes a fresh ciphertext of ``params`` decompresses to.

    Args:
        params: the parameter set.

    Returns:
        ``97 + 2 * N * data_primes * 8``.

    Raises:
        Nothing of its own: ``params`` is a validated :class:`CKKSParams`.
    """
    return _SEAL_CIPHERTEXT_METADATA + params.ciphertext_memory_bytes


def _fail(index: int, detail: str) -> EnvelopeError:
    return EnvelopeError(f"chunk {index}: {detail}")


def _varint(view: memoryview, offset: int, end: int, index: int | Callable[[str], Exception]) -> tuple[int, int]:
    """Read a protobuf varint of at most 10 bytes inside ``view[offset:end]``."""
    fail = _failer(index)
    value = shift = 0
    for i in range(10):
        if offset + i >= end:
            raise fail(f"varint truncated at offset {offset}")
        byte = view[offset + i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset + i + 1
        shift += 7
    raise fail(f"varint longer than 10 bytes at offset {offset}")


def _failer(index: int | Callable[[str], Exception]) -> Callable[[str], Exception]:
    """A chunk index (EnvelopeError naming the chunk) or an error factory (contexts)."""
    if callable(index):
        return index
    return lambda detail: _fail(index, detail)


def _seal_object(view: memoryview, what: str, fail: Callable[[str], Exception]) -> tuple[memoryview, int]:
    """Check a SEAL object header (zstd, size = the entry); return its zstd frame and declared size."""
    if len(view) < SEAL_HEADER_SIZE:
        raise fail(f"{what} of {len(view)} bytes is shorter than SEAL's header")
    magic, header_size, major, _minor, mode, reserved, size = _SEAL_HEADER.unpack_from(view, 0)
    if magic != SEAL_MAGIC or header_size != SEAL_HEADER_SIZE or reserved != 0:
        raise fail(f"{what} does not start with a SEAL header")
    if major != SEAL_MAJOR_VERSION:
        raise fail(f"SEAL version {major} is not {SEAL_MAJOR_VERSION}")
    if mode != ZSTD_MODE:
        raise fail(f"SEAL compression mode {mode} is refused (clients write zstd, mode {ZSTD_MODE})")
    if size != len(view):
        raise fail(f"SEAL header says {size} bytes, the entry holds {len(view)}")
    frame = view[SEAL_HEADER_SIZE:]
    return frame, _zstd_declared_size(frame, what, fail)


def _check_seal_ciphertext(view: memoryview, params: CKKSParams, index: int) -> None:
    fail = _failer(index)
    frame, declared = _seal_object(view, "ciphertext", fail)
    expected = expected_decompressed_bytes(params)
    if declared != expected:
        raise fail(
            f"ciphertext decompresses to {declared} bytes, a fresh 2-polynomial ciphertext of these "
            f"parameters to {expected}"
        )
    _check_zstd_frame(frame, expected, fail)


def _zstd_declared_size(view: memoryview, what: str, fail: Callable[[str], Exception]) -> int:
    end = len(view)
    if end < 6 or struct.unpack_from("<I", view, 0)[0] != _ZSTD_MAGIC:
        raise fail(f"{what} body is not a zstd frame")
    descriptor = view[4]
    fcs_flag, single_segment = descriptor >> 6, (descriptor >> 5) & 1
    offset = 5 + (0 if single_segment else 1)
    fcs_size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    if fcs_size == 0:
        raise fail("zstd frame does not declare its decompressed size")
    if offset + fcs_size > end:
        raise fail("zstd frame header truncated")
    return int.from_bytes(view[offset : offset + fcs_size], "little") + (256 if fcs_size == 2 else 0)


def _check_zstd_frame(view: memoryview, expected: int, index: int | Callable[[str], Exception]) -> None:
    fail = _failer(index)
    end = len(view)
    if end < 6 or struct.unpack_from("<I", view, 0)[0] != _ZSTD_MAGIC:
        raise fail("ciphertext body is not a zstd frame")
    descriptor = view[4]
    fcs_flag, single_segment = descriptor >> 6, (descriptor >> 5) & 1
    has_checksum, dict_flag, reserved = (descriptor >> 2) & 1, descriptor & 3, (descriptor >> 3) & 1
    if reserved or dict_flag:
        raise fail("zstd frame uses a dictionary or reserved bits")
    offset = 5 + (0 if single_segment else 1)
    fcs_size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    if fcs_size == 0:
        raise fail("zstd frame does not declare its decompressed size")
    if offset + fcs_size > end:
        raise fail("zstd frame header truncated")
    declared = int.from_bytes(view[offset : offset + fcs_size], "little") + (256 if fcs_size == 2 else 0)
    offset += fcs_size
    if declared != expected:
        raise fail(f"zstd frame declares {declared} bytes, expected {expected}")
    literal = 0
    while True:
        if offset + 3 > end:
            raise fail("zstd block header truncated")
        header = int.from_bytes(view[offset : offset + 3], "little")
        offset += 3
        last, block_type, block_size = header & 1, (header >> 1) & 3, header >> 3
        if block_type == 3:
            raise fail("zstd block of the reserved type")
        if block_size > _ZSTD_MAX_BLOCK:
            raise fail(f"zstd block of {block_size} bytes exceeds {_ZSTD_MAX_BLOCK}")
        if block_type in (0, 1):  # raw / RLE: the size is the decoded size
            literal += block_size
            if literal > expected:
                raise fail("zstd frame holds more data than it declares")
        offset += 1 if block_type == 1 else block_size
        if offset > end:
            raise fail("zstd block truncated")
        if last:
            break
    offset += 4 if has_checksum else 0
    if offset > end:
        raise fail("zstd checksum truncated")
    if offset != end:
        raise fail(f"{end - offset} bytes after the zstd frame (a second frame is refused)")


def check_vector_blob(blob: bytes | memoryview, params: CKKSParams, *, length: int, index: int) -> None:
    """Check that ``blob`` is one fresh ciphertext of ``length`` values, without allocating it.

    Args:
        blob: TenSEAL's serialisation of one ``CKKSVector`` (a chunk).
        params: the receiver's parameter set.
        length: how many values the chunk must hold.
        index: the chunk's position (for messages).

    Returns:
        None; the blob may then be handed to TenSEAL.

    Raises:
        EnvelopeError: if the protobuf is not exactly ``sizes = [length]``,
            one ciphertext, ``scale = 2**scale_bits`` in that order; if the
            ciphertext's SEAL header is not magic 0xA15E, header size 16,
            version 4, zstd, reserved 0, size equal to the entry; or if its
            zstd frame does not declare exactly
            :func:`expected_decompressed_bytes` or is not one well-formed frame
            ending at the end of the entry.
    """
    view = memoryview(blob).cast("B")
    end = len(view)
    offset = 0
    # field 1: packed sizes holding exactly `length`
    if end < 1 or view[0] != 0x0A:
        raise _fail(index, "does not start with the vector-size field (protobuf tag 0x0A)")
    packed, offset = _varint(view, 1, end, index)
    if packed < 1 or packed > 10 or offset + packed > end:
        raise _fail(index, f"vector-size field of {packed} bytes is invalid")
    value, after = _varint(view, offset, offset + packed, index)
    if after != offset + packed:
        raise _fail(index, "vector-size field holds more than one size")
    if value != length:
        raise _fail(index, f"holds {value} values, expected {length}")
    offset = after
    # field 2: exactly one ciphertext
    if offset >= end or view[offset] != 0x12:
        raise _fail(index, f"no ciphertext entry (protobuf tag 0x12) at offset {offset}")
    size, offset = _varint(view, offset + 1, end, index)
    if offset + size > end:
        raise _fail(index, f"ciphertext entry of {size} bytes runs past the chunk")
    ciphertext = view[offset : offset + size]
    offset += size
    # field 3: the scale, and nothing after it
    if offset + 9 != end or view[offset] != 0x19:
        tag = view[offset] if offset < end else None
        if tag == 0x12:
            raise _fail(index, f"field 2 at offset {offset} is not the single ciphertext entry expected")
        raise _fail(index, f"expected only the scale field (protobuf tag 0x19, 9 bytes) after the ciphertext at offset {offset}")
    (scale,) = struct.unpack_from("<d", view, offset + 1)
    if scale != 2.0**params.scale_bits:
        raise _fail(index, f"vector scale {scale!r} is not 2^{params.scale_bits}")
    _check_seal_ciphertext(ciphertext, params, index)


_ENCRYPTION_PARAMETERS_FIXED = 1 + 8 + 8 + 24
"""SEAL's EncryptionParameters: scheme u8, degree u64, prime count u64, plain modulus (16 + 8)."""
_ENCRYPTION_PARAMETERS_PER_PRIME = 16 + 8
"""Each coefficient prime is a SEAL ``Modulus`` object: its own 16-byte header and the u64 value."""
_MIN_PRIMES, _MAX_PRIMES = 2, 16
_MAX_AUTO_FLAGS = 7
"""TenSEAL's auto_relin | auto_rescale | auto_mod_switch."""


@dataclasses.dataclass(frozen=True, slots=True)
class ContextLayout:
    """What :func:`check_public_context` read from the declared sizes of a public context.

    Attributes:
        poly_modulus_degree: N, from the public key's declared size.
        primes: k, the number of coefficient primes, from the parameters' declared size.
        public_key_bytes: the public key's declared decompressed size, ``97 + 2 * N * k * 8``.
    """

    poly_modulus_degree: int
    primes: int
    public_key_bytes: int


def _unexpected_tag(view: memoryview, offset: int, expected: str) -> str:
    tag = view[offset] if offset < len(view) else None
    if tag == 0x22:
        return "it carries a relinearisation-key field (field 4; even an empty one is refused): a sum needs none"
    if tag == 0x2A:
        return "it carries a Galois-key field (field 5; even an empty one is refused): a sum needs none"
    found = "the end" if tag is None else f"protobuf tag 0x{tag:02X}"
    return f"expected {expected} at offset {offset}, found {found}"


def _context_fail(detail: str) -> ContextError:
    return ContextError(f"public context refused before parsing: {detail}")


def check_public_context(data: bytes | memoryview) -> ContextLayout:
    """Walk public-context bytes without allocating, before TenSEAL parses them.

    Accepts exactly the layout :attr:`KeyHolder.public_context` has (SPEC
    chapter 50, "Public-context layout"), TenSEAL's ``TenSEALContextProto``
    in canonical order::

        0x0A varint(L1) <SEAL EncryptionParameters, zstd, declares 41 + 24 k bytes>
        0x12 varint(L2) [ 0x0A varint(L3) <SEAL PublicKey, zstd, declares 97 + 16 N k bytes>
                          (0x10 varint(auto_flags <= 7))
                          0x19 f64le(scale) ]

    and nothing else: no relinearisation-key (0x22) or Galois-key (0x2A)
    field, not even an empty one; no private part (0x1A); no encryption-type
    field (0x20). ``N`` must be an accepted degree and ``k`` in 2..16 within
    the 128-bit-security bound for ``N`` (at least 20 bits a prime); each zstd
    frame is walked to its end like a chunk's. TenSEAL then decompresses at
    most the public key's declared size (8.4 MB for N = 32768, k = 16).

    Args:
        data: the context bytes.

    Returns:
        The :class:`ContextLayout` read from the declared sizes; the caller
        checks it against the parameters TenSEAL reports.

    Raises:
        TypeError: if ``data`` is not bytes-like.
        ContextError: on any other layout, naming the offending field.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"public context must be bytes, got {type(data).__name__}")
    fail = _context_fail
    view = memoryview(data).cast("B")
    end = len(view)
    # top level field 1: the encryption parameters
    if end < 1 or view[0] != 0x0A:
        raise fail("does not start with the encryption-parameters field (protobuf tag 0x0A)")
    size, offset = _varint(view, 1, end, fail)
    if offset + size > end:
        raise fail(f"encryption-parameters field of {size} bytes runs past the end")
    frame, declared = _seal_object(view[offset : offset + size], "encryption parameters", fail)
    primes, rest = divmod(declared - _ENCRYPTION_PARAMETERS_FIXED, _ENCRYPTION_PARAMETERS_PER_PRIME)
    if rest or not _MIN_PRIMES <= primes <= _MAX_PRIMES:
        raise fail(f"encryption parameters declare {declared} bytes, which is not 41 + 24 k for 2 <= k <= 16 primes")
    _check_zstd_frame(frame, declared, fail)
    offset += size
    # top level field 2: the public part, which must run to the end
    if offset >= end or view[offset] != 0x12:
        raise fail(f"no public part (protobuf tag 0x12) at offset {offset}")
    size, offset = _varint(view, offset + 1, end, fail)
    if offset + size != end:
        tag = view[offset + size] if offset + size < end else None
        if tag == 0x1A:
            raise fail("it carries a private part (field 3) with the SECRET key: only the key holder may hold it")
        if tag == 0x20:
            raise fail("it carries an encryption-type field (field 4): a public-key context has none")
        raise fail(f"public part of {size} bytes at offset {offset} does not end at the end of the {end} bytes")
    public_end = end
    # public part field 1: the public key
    if offset >= public_end or view[offset] != 0x0A:
        raise fail("public part does not start with the public-key field (protobuf tag 0x0A)")
    size, offset = _varint(view, offset + 1, public_end, fail)
    if offset + size > public_end:
        raise fail(f"public-key field of {size} bytes runs past the end")
    frame, declared = _seal_object(view[offset : offset + size], "public key", fail)
    degree, rest = divmod(declared - _SEAL_CIPHERTEXT_METADATA, 2 * primes * 8)
    if rest or degree not in MAX_COEFF_MODULUS_BITS or 20 * primes > MAX_COEFF_MODULUS_BITS[degree]:
        raise fail(
            f"public key declares {declared} bytes, which is not 97 + 16 N k for k = {primes} primes and an "
            f"accepted degree N within the 128-bit-security bound"
        )
    _check_zstd_frame(frame, declared, fail)
    offset += size
    # public part field 2 (optional): auto flags; field 3: the scale, and nothing after it
    if offset < public_end and view[offset] == 0x10:
        flags, offset = _varint(view, offset + 1, public_end, fail)
        if flags > _MAX_AUTO_FLAGS:
            raise fail(f"auto-flags field {flags} is above {_MAX_AUTO_FLAGS}")
    if offset < public_end and view[offset] == 0x19 and offset + 9 <= public_end:
        offset += 9
    else:
        raise fail(_unexpected_tag(view, offset, "a scale field (protobuf tag 0x19)"))
    if offset != public_end:
        raise fail(_unexpected_tag(view, offset, "the end after the scale"))
    return ContextLayout(poly_modulus_degree=degree, primes=primes, public_key_bytes=declared)
