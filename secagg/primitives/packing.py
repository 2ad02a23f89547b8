"""Bit packing of vectors in Z_{2^bits} for the wire (normative: SPEC chapter 16).

Format: a little-endian bit stream. Word ``i`` occupies stream bits
``[i*bits, (i+1)*bits)``, least significant bit first; stream bit ``j`` is bit
``j mod 8`` of byte ``j // 8``; the unused high bits of the last byte are zero.
A vector of ``length`` words therefore takes exactly
``packed_size(length, bits) = ceil(length*bits/8)`` bytes, and the encoding is
canonical: every vector has exactly one encoding and :func:`unpack` rejects
anything else.

The decoder is a Numba kernel that adds the decoded words straight into an
accumulator (:func:`unpack_add_into`), so the server can sum packed uploads
without ever materialising an unpacked copy; :func:`unpack` is that kernel run
on a zero vector. Byte-aligned widths 8, 16, 24 and 32 have vectorised fast
paths; every other width reads each word from two little-endian uint32 (bits < 32)
or from a 9-byte window (bits > 32), one word at a time.

>>> import numpy as np
>>> data = pack(np.array([1, 2, 3], dtype=np.uint32), 4)
>>> data.hex(), packed_size(3, 4)
('2103', 2)
>>> unpack(data, 4, 3).tolist()
[1, 2, 3]
"""

from __future__ import annotations

import numba
import numpy as np

from secagg.primitives.words import check_bits, modulus_mask, word_dtype

__all__ = ["pack", "packed_size", "unpack", "unpack_add_into"]

_BLOCK = 1024
"""Words per block in the fused decoder: the range check of a block of the
accumulator runs while that block is in L1, just before it is updated."""


def packed_size(length: int, bits: int) -> int:
    """Return the number of bytes that ``length`` words of ``bits`` bits pack into.

    Args:
        length: number of words (>= 0).
        bits: modulus bits (1..62).

    Returns:
        ``ceil(length * bits / 8)``.

    Raises:
        TypeError: if ``length`` or ``bits`` is not an int.
        ValueError: if ``length`` is negative or ``bits`` is outside 1..62.
    """
    bits = check_bits(bits)
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)):
        raise TypeError(f"length must be an int, got {type(length).__name__}")
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    return (int(length) * bits + 7) // 8


# --------------------------------------------------------------------------- kernels


@numba.njit(cache=True, nogil=True)
def _pack_generic(words, bits, out):  # pragma: no cover - compiled
    b = np.uint64(bits)
    nbytes = out.shape[0]
    for i in range(words.shape[0]):
        off = np.uint64(i) * b
        q = off >> np.uint64(3)
        s = off & np.uint64(7)
        v = np.uint64(words[i])
        lo = v << s
        k = np.uint64(0)
        while k < np.uint64(8) and q + k < nbytes:
            out[q + k] |= np.uint8((lo >> (np.uint64(8) * k)) & np.uint64(0xFF))
            k += np.uint64(1)
        if s + b > np.uint64(64):
            out[q + np.uint64(8)] |= np.uint8(v >> (np.uint64(64) - s))


@numba.njit(cache=True, nogil=True)
def _read_word_slow(data, i, bits, mask):  # pragma: no cover - compiled
    # Word i of the stream, byte by byte (for the last few words of a buffer).
    nbytes = np.uint64(data.shape[0])
    off = np.uint64(i) * np.uint64(bits)
    q = off >> np.uint64(3)
    s = off & np.uint64(7)
    v = np.uint64(0)
    k = np.uint64(0)
    while k < np.uint64(8) and q + k < nbytes:
        v |= np.uint64(data[q + k]) << (np.uint64(8) * k)
        k += np.uint64(1)
    v >>= s
    if s + np.uint64(bits) > np.uint64(64):
        v |= np.uint64(data[q + np.uint64(8)]) << (np.uint64(64) - s)
    return v & np.uint64(mask)


@numba.njit(cache=True, nogil=True)
def _add_generic(a, data, first, bits, mask, negate):  # pragma: no cover - compiled
    # a[j] <- a[j] +/- word (first + j) of the stream, reduced.
    n = a.shape[0]
    nbytes = data.shape[0]
    m = a.dtype.type(mask)
    um = np.uint64(mask)
    b = np.uint64(bits)
    # Words whose 9-byte window [q, q+9) lies inside data take the fast path.
    safe = 0
    if nbytes >= 9:
        safe = min(n, max(0, ((nbytes - 9) * 8) // bits + 1 - first))
    u1 = np.uint64(1)
    u2 = np.uint64(2)
    u3 = np.uint64(3)
    u4 = np.uint64(4)
    u5 = np.uint64(5)
    u6 = np.uint64(6)
    u7 = np.uint64(7)
    u8 = np.uint64(8)
    for j in range(safe):
        off = np.uint64(first + j) * b
        q = off >> u3
        s = off & u7
        v = (
            np.uint64(data[q])
            | (np.uint64(data[q + u1]) << u8)
            | (np.uint64(data[q + u2]) << np.uint64(16))
            | (np.uint64(data[q + u3]) << np.uint64(24))
            | (np.uint64(data[q + u4]) << np.uint64(32))
            | (np.uint64(data[q + u5]) << np.uint64(40))
            | (np.uint64(data[q + u6]) << np.uint64(48))
            | (np.uint64(data[q + u7]) << np.uint64(56))
        ) >> s
        if s + b > np.uint64(64):
            v |= np.uint64(data[q + u8]) << (np.uint64(64) - s)
        x = a.dtype.type(v & um)
        if negate:
            a[j] = (a[j] - x) & m
        else:
            a[j] = (a[j] + x) & m
    for j in range(safe, n):
        x = a.dtype.type(_read_word_slow(data, first + j, bits, mask))
        if negate:
            a[j] = (a[j] - x) & m
        else:
            a[j] = (a[j] + x) & m


@numba.njit(cache=True, nogil=True)
def _add_generic32(a, w32, first, bits, mask, negate):  # pragma: no cover - compiled
    # bits < 32: a[j] +/-= word (first + j), read as two little-endian uint32
    # words: ((W[lo] | W[lo+1] << 32) >> (off & 31)) & mask with lo = off >> 5.
    # Handles the words whose two uint32 lie inside w32; returns how many.
    n = a.shape[0]
    nw = w32.shape[0]
    safe = 0
    if nw >= 2:
        safe = min(n, max(0, ((nw - 2) * 32) // bits + 1 - first))
    m = a.dtype.type(mask)
    b = np.uint64(bits)
    u1 = np.uint64(1)
    for j in range(safe):
        off = np.uint64(first + j) * b
        lo = off >> np.uint64(5)
        x = a.dtype.type(
            ((np.uint64(w32[lo]) | (np.uint64(w32[lo + u1]) << np.uint64(32))) >> (off & np.uint64(31)))
            & np.uint64(0xFFFFFFFF)
        )
        if negate:
            a[j] = (a[j] - x) & m
        else:
            a[j] = (a[j] + x) & m
    return safe


@numba.njit(cache=True, nogil=True)
def _add_range(acc, data, w32, bits, mask, lo, hi, negate):  # pragma: no cover - compiled
    # acc[lo:hi] <- acc[lo:hi] +/- decoded words, reduced; lo is a multiple of 4.
    # Loops run over slices with 0-based indices, which keeps them free of
    # negative-index fix-ups so that LLVM vectorises them.
    m = acc.dtype.type(mask)
    i = lo
    if bits == 32:
        n = min(hi, w32.shape[0])
        a = acc[i:n]
        w = w32[i:n]
        if negate:
            for j in range(n - i):
                a[j] = (a[j] - w[j]) & m
        else:
            for j in range(n - i):
                a[j] = (a[j] + w[j]) & m
        i = max(i, n)
    elif bits == 24:
        g0 = i // 4
        g1 = max(g0, min(hi // 4, w32.shape[0] // 3))
        a = acc[4 * g0 : 4 * g1]
        w = w32[3 * g0 : 3 * g1]
        s8 = np.uint32(8)
        s16 = np.uint32(16)
        s24 = np.uint32(24)
        if negate:
            for g in range(g1 - g0):
                x = w[3 * g]
                y = w[3 * g + 1]
                z = w[3 * g + 2]
                a[4 * g] = (a[4 * g] - x) & m
                a[4 * g + 1] = (a[4 * g + 1] - ((x >> s24) | (y << s8))) & m
                a[4 * g + 2] = (a[4 * g + 2] - ((y >> s16) | (z << s16))) & m
                a[4 * g + 3] = (a[4 * g + 3] - (z >> s8)) & m
        else:
            # The high bits the shifts leave behind are cleared by the AND.
            for g in range(g1 - g0):
                x = w[3 * g]
                y = w[3 * g + 1]
                z = w[3 * g + 2]
                a[4 * g] = (a[4 * g] + x) & m
                a[4 * g + 1] = (a[4 * g + 1] + ((x >> s24) | (y << s8))) & m
                a[4 * g + 2] = (a[4 * g + 2] + ((y >> s16) | (z << s16))) & m
                a[4 * g + 3] = (a[4 * g + 3] + (z >> s8)) & m
        i = 4 * g1
    elif bits == 16 or bits == 8:
        per = 32 // bits
        n = max(i, min(hi, w32.shape[0] * per))
        a = acc[i:n]
        w = w32[i // per :]
        sh = np.uint32(bits)
        sign = np.uint32(0xFFFFFFFF) if negate else np.uint32(1)
        for j in range(n - i):
            a[j] = (a[j] + sign * (w[j // per] >> (sh * np.uint32(j % per)))) & m
        i = n
    elif bits < 32:
        i += _add_generic32(acc[i:hi], w32, i, bits, mask, negate)
    if i < hi:
        _add_generic(acc[i:hi], data, i, bits, mask, negate)


@numba.njit(cache=True, nogil=True)
def _unpack_add(acc, data, w32, bits, mask, check):  # pragma: no cover - compiled
    # Returns -1 on success, else the index of the first block of acc holding
    # a value >= 2**bits; in that case acc is left exactly as it was.
    n = acc.shape[0]
    m = acc.dtype.type(mask)
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        if check:
            bad = acc.dtype.type(0)
            blk = acc[lo:hi]
            for j in range(hi - lo):
                bad |= blk[j]
            if bad & ~m:
                for lo2 in range(0, lo, _BLOCK):
                    _add_range(acc, data, w32, bits, mask, lo2, min(n, lo2 + _BLOCK), True)
                return lo
        _add_range(acc, data, w32, bits, mask, lo, hi, False)
    return -1


# --------------------------------------------------------------------------- validation


def _as_bytes_array(data: object) -> np.ndarray:
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8 or data.ndim != 1:
            raise TypeError(f"packed data must be a 1-D uint8 array, got {data.dtype} with shape {data.shape}")
        return np.ascontiguousarray(data)
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data)
        if view.ndim != 1 or view.itemsize != 1:
            raise TypeError(f"packed data must be a flat byte buffer, got format {view.format!r} shape {view.shape}")
        return np.frombuffer(view.cast("B") if view.format != "B" else view, dtype=np.uint8)
    raise TypeError(f"packed data must be bytes, bytearray, memoryview or a uint8 array, got {type(data).__name__}")


def _check_packed(data: object, bits: int, length: int) -> np.ndarray:
    arr = _as_bytes_array(data)
    expected = packed_size(length, bits)
    if arr.shape[0] != expected:
        raise ValueError(f"packed data has {arr.shape[0]} bytes, expected {expected} for {length} words of {bits} bits")
    used = (length * bits) % 8
    if used and int(arr[-1]) >> used:
        raise ValueError(
            f"non-canonical packing: the {8 - used} unused high bits of the last byte are "
            f"not zero (last byte {int(arr[-1]):#04x})"
        )
    return arr


def _u32_view(arr: np.ndarray) -> np.ndarray:
    # A (possibly unaligned) uint32 view of the whole 4-byte words of arr.
    usable = arr.shape[0] - arr.shape[0] % 4
    return arr[:usable].view(np.uint32)


def check_accumulator(acc: object, bits: int, *, name: str = "acc", length: int | None = None) -> np.ndarray:
    """Validate an in-place accumulator (shared by the masking kernels).

    Args:
        acc: the array to validate.
        bits: modulus bits.
        name: the argument name used in error messages.
        length: the required length, if any.

    Returns:
        ``acc`` itself.

    Raises:
        TypeError: if ``acc`` is not a NumPy array of dtype ``word_dtype(bits)``.
        ValueError: if it is not 1-D, empty, not C-contiguous, read-only, or of
            the wrong length.
    """
    dtype = word_dtype(bits)
    if not isinstance(acc, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(acc).__name__}")
    if acc.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype} for bits={bits}, got {acc.dtype}")
    if acc.ndim != 1 or acc.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {acc.shape}")
    if not acc.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if not acc.flags.writeable:
        raise ValueError(f"{name} must be writable")
    if length is not None and acc.shape[0] != length:
        raise ValueError(f"{name} has length {acc.shape[0]}, expected {length}")
    return acc


# --------------------------------------------------------------------------- public API


def unpack_add_into(acc: np.ndarray, data: object, *, bits: int) -> None:
    """Add the packed vector ``data`` into ``acc`` in place, mod ``2**bits``.

    Decodes and adds in one pass (no unpacked temporary). ``acc`` is checked to
    hold reduced values block by block just before each block is updated; if a
    block fails, the blocks already updated are rolled back exactly, so the
    error leaves ``acc`` unchanged.

    Args:
        acc: 1-D C-contiguous writable array of dtype ``word_dtype(bits)``
            with values in ``[0, 2**bits)``.
        data: ``packed_size(len(acc), bits)`` bytes (bytes, bytearray,
            memoryview or a 1-D uint8 array).
        bits: modulus bits (1..62).

    Raises:
        TypeError: if ``acc`` or ``data`` has the wrong type or dtype.
        ValueError: if ``acc`` has the wrong shape or layout or holds a value
            ``>= 2**bits``, if ``data`` has the wrong length, or if the unused
            high bits of its last byte are not zero.
    """
    bits = check_bits(bits)
    check_accumulator(acc, bits)
    arr = _check_packed(data, bits, acc.shape[0])
    mask = modulus_mask(bits)
    bad = _unpack_add(acc, arr, _u32_view(arr), bits, mask, bits not in (32, 64))
    if bad >= 0:
        raise ValueError(f"acc holds a value >= 2**{bits} in block starting at index {bad}")


def unpack(data: object, bits: int, length: int) -> np.ndarray:
    """Decode ``length`` words of ``bits`` bits from the packed bit stream.

    Args:
        data: exactly ``packed_size(length, bits)`` bytes (bytes, bytearray,
            memoryview or a 1-D uint8 array).
        bits: modulus bits (1..62).
        length: number of words (>= 1).

    Returns:
        A new array of dtype ``word_dtype(bits)`` with values in ``[0, 2**bits)``.

    Raises:
        TypeError: if ``data`` is not a byte buffer, or ``bits``/``length`` not ints.
        ValueError: if ``length < 1``, if ``len(data)`` is not
            ``packed_size(length, bits)``, or if the unused high bits of the last
            byte are not zero (non-canonical encoding).
    """
    bits = check_bits(bits)
    packed_size(length, bits)  # type checks
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    out = np.zeros(int(length), dtype=word_dtype(bits))
    unpack_add_into(out, data, bits=bits)
    return out


def pack(words: np.ndarray, bits: int) -> bytes:
    """Encode a vector in Z_{2^bits} as the canonical little-endian bit stream.

    Args:
        words: 1-D array of an integer dtype, values in ``[0, 2**bits)``.
        bits: modulus bits (1..62).

    Returns:
        ``packed_size(len(words), bits)`` bytes.

    Raises:
        TypeError: if ``words`` is not a NumPy integer array.
        ValueError: if it is not 1-D or a value does not fit in ``bits`` bits
            (negative or ``>= 2**bits``).
    """
    bits = check_bits(bits)
    if not isinstance(words, np.ndarray):
        raise TypeError(f"words must be a numpy array, got {type(words).__name__}")
    if words.dtype.kind not in "ui":
        raise TypeError(f"words must have an integer dtype, got {words.dtype}")
    if words.ndim != 1:
        raise ValueError(f"words must be 1-D, got shape {words.shape}")
    if words.size:
        lo, hi = int(words.min()), int(words.max())
        if lo < 0 or hi > modulus_mask(bits):
            bad = lo if lo < 0 else hi
            raise ValueError(f"word {bad} does not fit in {bits} bits")
    w = np.ascontiguousarray(words, dtype=word_dtype(bits))
    if bits == 32:
        return w.astype("<u4", copy=False).tobytes()
    if bits == 16:
        return w.astype("<u2").tobytes()
    if bits == 8:
        return w.astype(np.uint8).tobytes()
    if bits == 24:
        return w.astype("<u4", copy=False).view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    out = np.zeros(packed_size(w.shape[0], bits), dtype=np.uint8)
    _pack_generic(w, bits, out)
    return out.tobytes()
