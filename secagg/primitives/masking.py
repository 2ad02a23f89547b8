"""Masking hot path: fused PRG-and-add kernels and the streaming server sum.

Math (normative text in SPEC chapter 16): vectors live in Z_{2^bits}, held in
``word_dtype(bits)`` (uint32 for bits <= 32, uint64 above). For a mask seed
``s`` the mask is ``PRG(s)`` of :mod:`secagg.primitives.prg` (length = the
vector length), and

* :func:`add_masks`: ``acc <- acc + sum_j signs[j] * PRG(seeds[j]) mod 2**bits``;
* :func:`mask_input`: ``y = x + PRG(self_seed) + sum_j pair_signs[j] * PRG(pair_seeds[j])``;
* :func:`accumulate` / :func:`accumulate_packed`: ``acc <- acc + vec mod 2**bits``.

Arithmetic wraps in the word dtype (mod 2**32 or 2**64), and since 2**bits
divides both, a final AND with ``2**bits - 1`` yields the value mod 2**bits;
every stored value stays reduced.

:func:`add_masks` is fused: no mask is ever expanded to full length. It walks
the accumulator in chunks of at most :data:`CHUNK_BYTES`; for each chunk the
masks' AES-CTR keystreams (one per seed, the bytes of
:class:`~secagg.primitives.prg.AESCTRPrg`, all advancing in lockstep) are written :data:`MAX_ROWS` at a time into
a small per-thread scratch buffer, and one Numba call adds the positive rows,
subtracts the negative rows and reduces, while the accumulator chunk and the
rows are still in cache. Plain NumPy
references of every kernel live in :mod:`secagg.primitives.masking_reference`.

>>> import numpy as np
>>> sid, a, b = bytes(32), bytes([1]) * 32, bytes([2]) * 32
>>> x = np.array([5, 6, 7], dtype=np.uint32)
>>> y = mask_input(x, bits=16, session_id=sid, self_seed=a, pair_seeds=[b], pair_signs=[+1])
>>> add_masks(y, [a, b], [-1, -1], session_id=sid, bits=16)
>>> y.tolist()
[5, 6, 7]
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numba
import numpy as np

from secagg.primitives.packing import check_accumulator, pack, packed_size, unpack, unpack_add_into
from secagg.primitives import prg
from secagg.primitives.prg import SEED_SIZE, prg_key
from secagg.primitives.words import check_bits, modulus_mask, word_dtype

__all__ = [
    "CHUNK_BYTES",
    "accumulate",
    "accumulate_packed",
    "add_masks",
    "mask_input",
    "pack",
    "packed_size",
    "unpack",
]

MAX_ROWS = 8
"""Masks expanded side by side per pass over an accumulator chunk (more seeds take more passes)."""

CHUNK_BYTES = 128 * 1024
"""The largest chunk of the accumulator, in bytes, that :func:`add_masks` works on
(and the keystream bytes per ``update_into`` call). ``MAX_ROWS`` rows of
keystream (1 MiB) plus the accumulator chunk stay in a core's L2; tuned on
``bench/test_masking.py`` with k = 36 masks of d = 1e5 words against the
earlier 64 KiB x 64 rows (2.3 MiB, read back from L3) and against whole-mask
rows (fewer calls, but 1.6 MiB rows per pass of four)."""

_SCRATCH = threading.local()
"""Per-thread ``(rows, zeros)`` scratch of :func:`add_masks`: ``MAX_ROWS x
CHUNK_BYTES`` keystream bytes and ``CHUNK_BYTES`` zeros, allocated once per
thread (a fresh 1 MiB buffer per call is an mmap and 256 page faults)."""


def _scratch(rows: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    bufs = getattr(_SCRATCH, "bufs", None)
    if bufs is None or bufs[0].shape != (rows, width):
        bufs = _SCRATCH.bufs = (np.empty((rows, width), dtype=np.uint8), np.zeros(width, dtype=np.uint8))
    return bufs


_SUM_BLOCK = 1024
"""Words per block in :func:`accumulate`: each block of ``acc`` and ``vec`` is
range-checked while in L1, just before it is added."""


# --------------------------------------------------------------------------- kernels


@numba.njit(cache=True, nogil=True)
def _add_rows(acc, lo, hi, rows, npos, mask):  # pragma: no cover - compiled
    # acc[lo:hi] <- acc[lo:hi] + sum(rows[:npos]) - sum(rows[npos:]), reduced.
    # (A slice plus 0-based indices keeps the loops free of negative-index
    # fix-ups, so LLVM vectorises them.)
    m = acc.dtype.type(mask)
    out = acc[lo:hi]
    n = hi - lo
    k = rows.shape[0]
    r = 0
    # Four rows per pass over the chunk: fewer loads/stores of the accumulator.
    while r + 3 < npos:
        a, b, c, e = rows[r], rows[r + 1], rows[r + 2], rows[r + 3]
        for i in range(n):
            out[i] += (a[i] + b[i]) + (c[i] + e[i])
        r += 4
    while r < npos:
        a = rows[r]
        for i in range(n):
            out[i] += a[i]
        r += 1
    while r + 3 < k:
        a, b, c, e = rows[r], rows[r + 1], rows[r + 2], rows[r + 3]
        for i in range(n):
            out[i] -= (a[i] + b[i]) + (c[i] + e[i])
        r += 4
    while r < k:
        a = rows[r]
        for i in range(n):
            out[i] -= a[i]
        r += 1
    for i in range(n):
        out[i] &= m


@numba.njit(cache=True, nogil=True)
def _or_all(acc):  # pragma: no cover - compiled
    bad = acc.dtype.type(0)
    for i in range(acc.shape[0]):
        bad |= acc[i]
    return bad


@numba.njit(cache=True, nogil=True)
def _accumulate(acc, vec, mask, check):  # pragma: no cover - compiled
    # Returns -1 on success, else the start of the first block where acc or vec
    # holds a value >= 2**bits; then acc is left exactly as it was.
    n = acc.shape[0]
    m = acc.dtype.type(mask)
    for lo in range(0, n, _SUM_BLOCK):
        hi = min(n, lo + _SUM_BLOCK)
        a = acc[lo:hi]  # slices + 0-based indices: no negative-index fix-ups,
        v = vec[lo:hi]  # so LLVM vectorises the loops
        if check:
            bad = acc.dtype.type(0)
            for i in range(hi - lo):
                bad |= a[i] | v[i]
            if bad & ~m:
                for i in range(lo):
                    acc[i] = (acc[i] - vec[i]) & m
                return lo
        for i in range(hi - lo):
            a[i] = (a[i] + v[i]) & m
    return -1


# --------------------------------------------------------------------------- validation


def _check_signs(seeds: Sequence[bytes], signs: Sequence[int]) -> tuple[list[bytes], list[int]]:
    seeds = list(seeds)
    signs = list(signs)
    if len(seeds) != len(signs):
        raise ValueError(f"got {len(seeds)} seeds but {len(signs)} signs")
    for s in signs:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"each sign must be the int +1 or -1, got {s!r}")
        if s not in (1, -1):
            raise ValueError(f"each sign must be +1 or -1, got {s!r}")
    return seeds, [int(s) for s in signs]


# --------------------------------------------------------------------------- public API


def add_masks(
    acc: np.ndarray,
    seeds: Sequence[bytes],
    signs: Sequence[int],
    *,
    session_id: bytes,
    bits: int,
) -> None:
    """Add signed PRG masks into ``acc`` in place, mod ``2**bits``.

    Computes ``acc <- acc + sum_j signs[j] * PRG(seeds[j]) mod 2**bits`` where
    ``PRG(seed)`` is :func:`~secagg.primitives.prg.expand_mask` with
    ``length = len(acc)``, without expanding any mask to full length (see the
    module docstring). All arguments are validated before ``acc`` is touched.

    Args:
        acc: 1-D C-contiguous writable array of dtype ``word_dtype(bits)``,
            values in ``[0, 2**bits)``.
        seeds: 32-byte mask seeds.
        signs: one of ``+1`` / ``-1`` per seed.
        session_id: the 32-byte session id bound into every PRG key.
        bits: modulus bits (1..62).

    Raises:
        TypeError: if ``acc`` is not an array of dtype ``word_dtype(bits)``, a
            sign is not an int, or a seed/session id is not bytes.
        ValueError: if ``acc`` is not a non-empty 1-D C-contiguous writable
            array or holds a value ``>= 2**bits``; if ``seeds`` and ``signs``
            differ in length; if a sign is not ``+1``/``-1``; if a seed or the
            session id is not 32 bytes.

    Warning:
        A mask is a one-time pad: never apply the same (seed, session_id) to two
        different vectors of the same length and bit width.
    """
    bits = check_bits(bits)
    check_accumulator(acc, bits)
    seeds, signs = _check_signs(seeds, signs)
    n = acc.shape[0]
    prg_key(bytes(SEED_SIZE), session_id=session_id, length=n, bits=bits)  # session id and length, before acc is touched
    for seed in seeds:
        if not isinstance(seed, (bytes, bytearray, memoryview)):
            raise TypeError(f"seed must be bytes, got {type(seed).__name__}")
        if len(seed) != SEED_SIZE:
            raise ValueError(f"seed must be {SEED_SIZE} bytes, got {len(seed)}")
    mask = modulus_mask(bits)
    if bits != 32 and int(_or_all(acc)) & ~mask:
        raise ValueError(f"acc holds a value >= 2**{bits}")
    if not seeds:
        return
    sid = bytes(session_id)
    order = [j for j in range(len(seeds)) if signs[j] > 0] + [j for j in range(len(seeds)) if signs[j] < 0]
    npos = len(seeds) - signs.count(-1)
    # Every argument is checked above, and the loop below reads exactly n words from each stream
    # (AESCTRPrg's cap for length n): the keystreams of AESCTRPrg(seed, sid, n, bits), without that layer.
    streams = prg._mask_keystreams([bytes(seeds[j]) for j in order], sid, n, bits)
    dtype = word_dtype(bits)
    wsize = dtype.itemsize
    width = max(1, CHUNK_BYTES // wsize)
    buf, zeros = _scratch(MAX_ROWS, width * wsize)
    rows = buf.view(dtype)
    chunks = -(-n // width)
    chunk = -(-n // chunks)  # equal chunks, no small tail
    writers = [stream.read_into for stream in streams]
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        nbytes = (hi - lo) * wsize
        z = zeros[:nbytes]
        outs = [row[:nbytes] for row in buf]
        for g in range(0, len(writers), MAX_ROWS):
            group = writers[g : g + MAX_ROWS]
            for write, out in zip(group, outs):
                write(z, out)
            _add_rows(acc, lo, hi, rows[: len(group)], min(max(npos - g, 0), len(group)), mask)
        if not lo:  # past every stream's head: straight to each one's bulk engine (the same bytes)
            writers = prg._bulk_writers(streams)


def mask_input(
    x: np.ndarray,
    *,
    bits: int,
    session_id: bytes,
    self_seed: bytes,
    pair_seeds: Sequence[bytes],
    pair_signs: Sequence[int],
) -> np.ndarray:
    """Return the masked input ``y = x + PRG(self_seed) + sum_j pair_signs[j] * PRG(pair_seeds[j])``.

    Args:
        x: 1-D non-empty array of an integer dtype with values in ``[0, 2**bits)``
            (the encoded update).
        bits: modulus bits (1..62).
        session_id: the 32-byte session id.
        self_seed: the client's 32-byte self-mask seed ``b``.
        pair_seeds: the 32-byte pairwise seeds ``s_uv``, one per neighbour.
        pair_signs: ``+1`` where the neighbour's index is larger, ``-1`` where
            it is smaller (so the pair's masks cancel in the sum).

    Returns:
        A new array of dtype ``word_dtype(bits)`` with values in ``[0, 2**bits)``.

    Raises:
        TypeError: if ``x`` is not a NumPy integer array, or as :func:`add_masks`.
        ValueError: if ``x`` is not 1-D and non-empty or holds a value outside
            ``[0, 2**bits)``, or as :func:`add_masks`.

    Warning:
        Draw a fresh ``self_seed`` every session; reusing one across two inputs
        of a session reveals their difference.
    """
    bits = check_bits(bits)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy array, got {type(x).__name__}")
    if x.dtype.kind not in "ui":
        raise TypeError(f"x must have an integer dtype, got {x.dtype}")
    if x.ndim != 1 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty 1-D array, got shape {x.shape}")
    if x.dtype.kind == "i" or 8 * x.dtype.itemsize > bits:  # an unsigned dtype of at most `bits` bits needs no scan
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > modulus_mask(bits):
            raise ValueError(f"x holds {lo if lo < 0 else hi}, outside [0, 2**{bits})")
    pair_seeds, pair_signs = _check_signs(pair_seeds, pair_signs)
    y = np.array(x, dtype=word_dtype(bits), order="C", copy=True)
    add_masks(y, [self_seed, *pair_seeds], [1, *pair_signs], session_id=session_id, bits=bits)
    return y


def accumulate(acc: np.ndarray, vec: np.ndarray, *, bits: int) -> None:
    """Add ``vec`` into ``acc`` in place, mod ``2**bits`` (streaming server sum).

    Both arrays are range-checked block by block just before each block is
    added; on failure the blocks already added are subtracted again, so an
    error leaves ``acc`` unchanged.

    Args:
        acc: 1-D C-contiguous writable array of dtype ``word_dtype(bits)``,
            values in ``[0, 2**bits)``.
        vec: array of the same dtype and length, values in ``[0, 2**bits)``.
        bits: modulus bits (1..62).

    Raises:
        TypeError: if ``acc`` or ``vec`` is not an array of dtype ``word_dtype(bits)``.
        ValueError: if a shape, the layout or a length is wrong, or a value of
            ``acc`` or ``vec`` is ``>= 2**bits``.
    """
    bits = check_bits(bits)
    check_accumulator(acc, bits)
    dtype = word_dtype(bits)
    if not isinstance(vec, np.ndarray):
        raise TypeError(f"vec must be a numpy array, got {type(vec).__name__}")
    if vec.dtype != dtype:
        raise TypeError(f"vec must have dtype {dtype} for bits={bits}, got {vec.dtype}")
    if vec.shape != acc.shape:
        raise ValueError(f"vec has shape {vec.shape}, acc has shape {acc.shape}")
    if np.may_share_memory(acc, vec):
        raise ValueError("vec must not share memory with acc")
    mask = modulus_mask(bits)
    bad = _accumulate(acc, vec, mask, bits != 32)
    if bad >= 0:
        raise ValueError(f"acc or vec holds a value >= 2**{bits} in the block starting at index {bad}")


def accumulate_packed(acc: np.ndarray, packed: object, *, bits: int) -> None:
    """Add a packed vector (the wire bytes) into ``acc`` in place, mod ``2**bits``.

    Decoding and adding are fused (:func:`secagg.primitives.packing.unpack_add_into`):
    no unpacked temporary is made. The encoding must be canonical, as for
    :func:`unpack`; an error leaves ``acc`` unchanged.

    Args:
        acc: 1-D C-contiguous writable array of dtype ``word_dtype(bits)``,
            values in ``[0, 2**bits)``.
        packed: ``packed_size(len(acc), bits)`` bytes (bytes, bytearray,
            memoryview or a 1-D uint8 array).
        bits: modulus bits (1..62).

    Raises:
        TypeError: if ``acc`` or ``packed`` has the wrong type or dtype.
        ValueError: if ``acc`` has the wrong shape or layout or holds a value
            ``>= 2**bits``; if ``packed`` has the wrong length or non-zero
            padding bits.
    """
    unpack_add_into(acc, packed, bits=bits)
