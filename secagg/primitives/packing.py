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
on a zero vector. Every width has a vectorised path in both directions: words
go in groups of 16 (bits <= 32) or 8 (bits > 32), whose bytes start on a byte
boundary and span at most 64 bytes, so each word's byte position and bit shift
inside its group are compile-time constants and one SIMD byte shuffle plus a
per-lane shift moves a whole group (see the kernels section). One kernel pair
is compiled per width on first use and cached on disk.

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
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from secagg.primitives.words import check_bits, modulus_mask, word_dtype

__all__ = ["pack", "packed_size", "unpack", "unpack_add_into"]

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
#
# The vector path works on groups of L words (L = 16 for uint32 words, bits <=
# 32; L = 8 for uint64 words, bits > 32). A group is L*bits/8 <= 64 bytes of
# the stream and starts on a byte boundary, so group g of the stream is bytes
# [g*G, (g+1)*G) with G = L*bits/8, and inside a group word k always sits at
# byte (k*bits) >> 3, bit (k*bits) & 7. Those positions are compile-time
# constants: one LLVM byte shuffle of a 64-byte window gathers each word's
# bytes into its lane (vpermb on AVX-512 VBMI; LLVM lowers the same shuffle for
# any other x86 or ARM target), a per-lane constant shift and an AND finish
# the word. A group is handled by the vector path when its whole 64-byte
# window lies inside the buffer; the last few words go through a scalar
# byte-by-byte path. One pair of kernels is compiled per width, lazily, and
# cached on disk (``cache=True``): about 0.8 s per width the first time on this
# 2-core machine, then loaded from the cache. The lane layout assumes a
# little-endian host (x86-64, AArch64), as does the uint32 path of pack.

_ADD, _SUB, _ADD_CHECKED = 0, 1, 2
_WINDOW = 64
"""Bytes read (unpack) or written (pack) per group by the vector path."""


def _lanes(bits: int) -> tuple[int, int]:
    # (words per group, bytes per word)
    return (16, 4) if bits <= 32 else (8, 8)


def _unpack_shuffles(bits: int) -> tuple[list[int], list[int], list[int], list[int]]:
    # Byte-shuffle indices into the 64-byte window (64 = a zero byte) that put
    # the W bytes from word k's first byte into lane k (lo), and the one byte
    # after them into lane k (hi) where the word spills past them; the shift
    # right of lo and the shift left of hi for each lane.
    lanes, width = _lanes(bits)
    lo, hi, shr, shl = [], [], [], []
    for k in range(lanes):
        q, s = (k * bits) >> 3, (k * bits) & 7
        lo += [q + c for c in range(width)]
        shr.append(s)
        if s + bits > 8 * width:
            hi += [q + width] + [_WINDOW] * (width - 1)
            shl.append(8 * width - s)
        else:
            hi += [_WINDOW] * width
            shl.append(0)
    return lo, hi, shr, shl


def _pack_shuffles(bits: int) -> list[list[int]]:
    # Word k, shifted left by s_k inside a 64-bit lane, covers bytes
    # q_k .. q_k + 8 of the group (byte 8 is the spill of a uint64 word, kept in
    # a second 64-byte half of the pool). Output byte j is the OR of the pool
    # bytes of every word overlapping it: one shuffle per "phase" p takes the
    # p-th such word's byte (128 + 0 = a zero byte where there is none).
    lanes, width = _lanes(bits)
    contrib: list[list[int]] = [[] for _ in range(_WINDOW)]
    for k in range(lanes):
        first, last = k * bits, (k + 1) * bits - 1
        q = first >> 3
        for j in range(q, (last >> 3) + 1):
            c = j - q
            contrib[j].append(8 * k + c if c < 8 else 64 + 8 * k)
    phases = max(len(c) for c in contrib)
    zero = 2 * _WINDOW
    return [[c[p] if p < len(c) else zero for c in contrib] for p in range(phases)]


def _vec(typ, values):
    return ir.Constant(ir.VectorType(typ, len(values)), values)


@intrinsic
def _unpack_group(typingctx, acc, data, g, bits, mode):
    """acc[g*L : g*L + L] <- acc +/- words of group g, reduced (see above).

    ``mode`` is _ADD, _SUB or _ADD_CHECKED; the result is True only in
    _ADD_CHECKED mode when some of the L words of ``acc`` is not reduced, and
    then nothing is stored. The 64-byte window at g*G must lie inside ``data``.
    """
    if not isinstance(bits, types.IntegerLiteral) or not isinstance(mode, types.IntegerLiteral):
        return None
    b, md = bits.literal_value, mode.literal_value
    lanes, width = _lanes(b)
    lo_idx, hi_idx, shr, shl = _unpack_shuffles(b)
    mask = (1 << b) - 1

    def codegen(context, builder, signature, args):
        i8, i32, i64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
        iw = ir.IntType(8 * width)
        window_t = ir.VectorType(i8, _WINDOW)
        words_t = ir.VectorType(iw, lanes)
        a_arr = context.make_array(signature.args[0])(context, builder, args[0])
        d_arr = context.make_array(signature.args[1])(context, builder, args[1])
        gi = args[2]
        src = builder.gep(d_arr.data, [builder.mul(gi, ir.Constant(i64, lanes * b // 8))])
        window = builder.load(builder.bitcast(src, window_t.as_pointer()), align=1)
        zero = ir.Constant(window_t, None)
        x = builder.bitcast(builder.shuffle_vector(window, zero, _vec(i32, lo_idx)), words_t)
        x = builder.lshr(x, _vec(iw, shr))
        if any(shl):
            hi = builder.bitcast(builder.shuffle_vector(window, zero, _vec(i32, hi_idx)), words_t)
            x = builder.or_(x, builder.shl(hi, _vec(iw, shl)))
        dst = builder.bitcast(builder.gep(a_arr.data, [builder.mul(gi, ir.Constant(i64, lanes))]), words_t.as_pointer())
        old = builder.load(dst, align=1)
        new = builder.sub(old, x) if md == _SUB else builder.add(old, x)
        new = builder.and_(new, _vec(iw, [mask] * lanes))
        if md != _ADD_CHECKED or b == 8 * width:
            builder.store(new, dst, align=1)
            return ir.Constant(ir.IntType(1), 0)
        high = builder.and_(old, _vec(iw, [~mask & ((1 << (8 * width)) - 1)] * lanes))
        flags = builder.icmp_unsigned("!=", high, ir.Constant(words_t, None))
        bad = builder.icmp_unsigned("!=", builder.bitcast(flags, ir.IntType(lanes)), ir.Constant(ir.IntType(lanes), 0))
        with builder.if_then(builder.not_(bad), likely=True):
            builder.store(new, dst, align=1)
        return bad

    return types.boolean(acc, data, g, bits, mode), codegen


@intrinsic
def _pack_group(typingctx, words, out, g, bits):
    """Write group g (L words from g*L) to the 64 bytes at out[g*G:].

    The G bytes of the group are exact; the 64 - G bytes after them are
    overwritten with junk (the next group, or the scalar tail, rewrites them).
    Returns True if some of the L words is >= 2**bits (only reduced bits are
    written either way).
    """
    if not isinstance(bits, types.IntegerLiteral):
        return None
    b = bits.literal_value
    lanes, width = _lanes(b)
    phases = _pack_shuffles(b)
    mask = (1 << b) - 1
    shifts = [(k * b) & 7 for k in range(lanes)]

    def codegen(context, builder, signature, args):
        i8, i32, i64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
        iw = ir.IntType(8 * width)
        words_t = ir.VectorType(iw, lanes)
        wide_t = ir.VectorType(i64, lanes)
        pool_t = ir.VectorType(i8, 2 * _WINDOW)
        w_arr = context.make_array(signature.args[0])(context, builder, args[0])
        o_arr = context.make_array(signature.args[1])(context, builder, args[1])
        gi = args[2]
        src = builder.bitcast(builder.gep(w_arr.data, [builder.mul(gi, ir.Constant(i64, lanes))]), words_t.as_pointer())
        w = builder.load(src, align=1)
        high = builder.and_(w, _vec(iw, [~mask & ((1 << (8 * width)) - 1)] * lanes))
        flags = builder.icmp_unsigned("!=", high, ir.Constant(words_t, None))
        bad = builder.icmp_unsigned("!=", builder.bitcast(flags, ir.IntType(lanes)), ir.Constant(ir.IntType(lanes), 0))
        w = builder.and_(w, _vec(iw, [mask] * lanes))
        if width == 4:
            pool = builder.bitcast(builder.shl(builder.zext(w, wide_t), _vec(i64, shifts)), pool_t)
        else:
            lo = builder.bitcast(builder.shl(w, _vec(i64, shifts)), ir.VectorType(i8, _WINDOW))
            spill = builder.lshr(w, _vec(i64, [64 - s if s else 0 for s in shifts]))
            hi = builder.bitcast(spill, ir.VectorType(i8, _WINDOW))
            pool = builder.shuffle_vector(lo, hi, _vec(i32, list(range(2 * _WINDOW))))
        zero = ir.Constant(pool_t, None)
        res = None
        for idx in phases:
            part = builder.shuffle_vector(pool, zero, _vec(i32, idx))
            res = part if res is None else builder.or_(res, part)
        dst = builder.gep(o_arr.data, [builder.mul(gi, ir.Constant(i64, lanes * b // 8))])
        builder.store(res, builder.bitcast(dst, res.type.as_pointer()), align=1)
        return bad

    return types.boolean(words, out, g, bits), codegen


@numba.njit(cache=True, nogil=True)
def _read_word(data, i, bits, mask):  # pragma: no cover - compiled
    # Word i of the stream, byte by byte (never reads past the buffer).
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
def _add_scalar(acc, data, lo, hi, bits, mask, mode):  # pragma: no cover - compiled
    # acc[j] <- acc[j] +/- word j for lo <= j < hi, reduced. In _ADD_CHECKED
    # mode stops at the first unreduced acc[j] and returns j (acc[j:] untouched);
    # returns -1 otherwise.
    m = acc.dtype.type(mask)
    for j in range(lo, hi):
        a = acc[j]
        if mode == _ADD_CHECKED and a & ~m:
            return j
        x = acc.dtype.type(_read_word(data, j, bits, mask))
        if mode == _SUB:
            acc[j] = (a - x) & m
        else:
            acc[j] = (a + x) & m
    return -1


@numba.njit(cache=True, nogil=True)
def _pack_scalar(words, out, lo, bits, mask):  # pragma: no cover - compiled
    # ORs words[lo:] into out (whose bytes from word lo's first byte on must be
    # zero); returns True if some of them is >= 2**bits.
    b = np.uint64(bits)
    um = np.uint64(mask)
    nbytes = np.uint64(out.shape[0])
    bad = False
    for i in range(lo, words.shape[0]):
        v = np.uint64(words[i])
        bad |= (v & ~um) != 0
        v &= um
        off = np.uint64(i) * b
        q = off >> np.uint64(3)
        s = off & np.uint64(7)
        lo_bits = v << s
        k = np.uint64(0)
        while k < np.uint64(8) and q + k < nbytes:
            out[q + k] |= np.uint8((lo_bits >> (np.uint64(8) * k)) & np.uint64(0xFF))
            k += np.uint64(1)
        if s + b > np.uint64(64):
            out[q + np.uint64(8)] |= np.uint8(v >> (np.uint64(64) - s))
    return bad


def _build_kernels(bits: int):
    lanes = _lanes(bits)[0]
    group = lanes * bits // 8
    mask = (1 << bits) - 1

    @numba.njit(cache=True, nogil=True)
    def unpack_add(acc, data):  # pragma: no cover - compiled
        # Returns -1 on success; else an index whose acc word is unreduced,
        # and acc is left exactly as it was.
        n = acc.shape[0]
        nvec = 0
        if data.shape[0] >= _WINDOW:
            nvec = min(n // lanes, (data.shape[0] - _WINDOW) // group + 1)
        for g in range(nvec):
            if _unpack_group(acc, data, g, bits, _ADD_CHECKED):
                for h in range(g):
                    _unpack_group(acc, data, h, bits, _SUB)
                return g * lanes
        bad = _add_scalar(acc, data, nvec * lanes, n, bits, mask, _ADD_CHECKED)
        if bad >= 0:
            for h in range(nvec):
                _unpack_group(acc, data, h, bits, _SUB)
            _add_scalar(acc, data, nvec * lanes, bad, bits, mask, _SUB)
        return bad

    @numba.njit(cache=True, nogil=True)
    def pack_into(words, out):  # pragma: no cover - compiled
        # Writes the whole of out (any prior content); returns True if some
        # word is >= 2**bits.
        n = words.shape[0]
        nvec = 0
        if out.shape[0] >= _WINDOW:
            nvec = min(n // lanes, (out.shape[0] - _WINDOW) // group + 1)
        bad = False
        for g in range(nvec):
            bad |= _pack_group(words, out, g, bits)
        for j in range(nvec * group, out.shape[0]):
            out[j] = 0
        bad |= _pack_scalar(words, out, nvec * lanes, bits, mask)
        return bad

    return unpack_add, pack_into


_KERNELS: dict[int, tuple] = {}


def _kernels(bits: int) -> tuple:
    # The (unpack_add, pack_into) kernels of one width, built on first use.
    kernels = _KERNELS.get(bits)
    if kernels is None:
        kernels = _KERNELS[bits] = _build_kernels(bits)
    return kernels


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

    Decodes and adds in one pass (no unpacked temporary). Each group of 16 (or
    8) words of ``acc`` is checked to hold reduced values just before it is
    updated; if one fails, the groups already updated are rolled back exactly,
    so the error leaves ``acc`` unchanged.

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
    if arr.flags.writeable:  # one compiled kernel per width: always read-only data
        arr = arr.view()
        arr.flags.writeable = False
    if _kernels(bits)[0](acc, arr) >= 0:
        first = int(np.argmax(acc > modulus_mask(bits)))
        raise ValueError(f"acc holds a value >= 2**{bits} (the first at index {first})")


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
    dtype = word_dtype(bits)
    if words.dtype != dtype and words.size:
        # Checked before the conversion, which could wrap a large value.
        lo, hi = int(words.min()), int(words.max())
        if lo < 0 or hi > modulus_mask(bits):
            raise ValueError(f"word {lo if lo < 0 else hi} does not fit in {bits} bits")
    w = np.ascontiguousarray(words, dtype=dtype)
    if bits == 32:
        return w.astype("<u4", copy=False).tobytes()
    out = np.empty(packed_size(w.shape[0], bits), dtype=np.uint8)
    if _kernels(bits)[1](w, out):  # the kernel checks words of dtype word_dtype(bits)
        raise ValueError(f"word {int(w.max())} does not fit in {bits} bits")
    return out.tobytes()
