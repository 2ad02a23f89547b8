"""Randomised Hadamard rotation with public per-round signs.

``rotate(x, seed)`` pads ``x`` with zeros to ``n = 2^k >= len(x)``, multiplies
coordinate ``i`` by a sign ``s_i`` in {+1, -1}, and applies the normalised
Walsh-Hadamard transform ``H_n / sqrt(n)`` (Sylvester order, the order of
``scipy.linalg.hadamard``). The map ``x -> H D x / sqrt(n)`` is orthogonal, so it
preserves the L2 norm; its inverse is ``D H y / sqrt(n)`` because ``H / sqrt(n)``
is symmetric and its own inverse. After rotation every coordinate of a vector
of norm ``c`` is, with high probability, about ``c / sqrt(n)`` in magnitude,
which is what lets the distributed pipeline round and wrap without overflow
(Kairouz, Liu, Steinke, ICML 2021, Section 4).

Sign derivation (normative): ``stream = SHAKE-256(SIGN_LABEL || seed)`` read
for ``ceil(n / 8)`` bytes; bit ``i`` is bit ``i mod 8`` (least significant
first) of byte ``i div 8``; ``s_i = +1`` if the bit is 0 and ``-1`` if 1. The
seed is 32 bytes, public and fresh per round (every client and the server use
the same one); it need not be secret, but it must not be chosen by the party
whose data is rotated after seeing the data.

The transform is a Numba kernel (``cache=True``, in place, ``n log2 n``
additions); :func:`fwht_reference` is the NumPy reference it is tested against.

>>> x = np.array([3.0, 4.0, 0.0])
>>> y = rotate(x, bytes(32))
>>> y.shape, round(float(np.linalg.norm(y)), 12)
((4,), 5.0)
>>> np.allclose(unrotate(y, bytes(32), 3), x)
True
"""

from __future__ import annotations

import hashlib
import math

import numba
import numpy as np

__all__ = [
    "MAX_DIM",
    "SEED_SIZE",
    "SIGN_LABEL",
    "fwht_inplace",
    "fwht_reference",
    "padded_dim",
    "rotate",
    "rotation_signs",
    "unrotate",
]

SEED_SIZE = 32
SIGN_LABEL = b"dp/v1/rotation-signs"
MAX_DIM = 2**30


def _check_seed(seed: object) -> bytes:
    if not isinstance(seed, (bytes, bytearray, memoryview)):
        raise TypeError(f"seed must be bytes, got {type(seed).__name__}")
    seed = bytes(seed)
    if len(seed) != SEED_SIZE:
        raise ValueError(f"seed must be {SEED_SIZE} bytes, got {len(seed)}")
    return seed


def _check_dim(name: str, dim: object) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(dim).__name__}")
    if not 1 <= dim <= MAX_DIM:
        raise ValueError(f"{name} must be in [1, {MAX_DIM}], got {dim}")
    return int(dim)


def padded_dim(dim: int) -> int:
    """Return the smallest power of two ``>= dim``.

    Args:
        dim: a vector length, ``1 <= dim <= MAX_DIM``.

    Returns:
        ``2**ceil(log2(dim))`` as an ``int`` (``dim`` itself when it is a
        power of two).

    Raises:
        TypeError: if ``dim`` is not an int.
        ValueError: if ``dim`` is outside ``[1, MAX_DIM]``.
    """
    dim = _check_dim("dim", dim)
    return 1 << (dim - 1).bit_length()


def rotation_signs(seed: bytes, n: int) -> np.ndarray:
    """Return the ``n`` signs (float64 +1.0 / -1.0) derived from ``seed``.

    Args:
        seed: the 32-byte public rotation seed.
        n: how many signs (1..MAX_DIM).

    Returns:
        A float64 array of shape ``(n,)``.

    Raises:
        TypeError: if ``seed`` is not bytes or ``n`` not an int.
        ValueError: if ``seed`` is not 32 bytes or ``n`` out of range.
    """
    seed = _check_seed(seed)
    n = _check_dim("n", n)
    stream = np.frombuffer(hashlib.shake_256(SIGN_LABEL + seed).digest((n + 7) // 8), dtype=np.uint8)
    bits = np.unpackbits(stream, bitorder="little")[:n]
    return 1.0 - 2.0 * bits.astype(np.float64)


@numba.njit(cache=True, nogil=True)
def _fwht_kernel(x):  # pragma: no cover - compiled
    n = x.shape[0]
    h = 1
    while h < n:
        for start in range(0, n, 2 * h):
            for j in range(start, start + h):
                a = x[j]
                b = x[j + h]
                x[j] = a + b
                x[j + h] = a - b
        h *= 2
    scale = 1.0 / math.sqrt(n)
    for j in range(n):
        x[j] *= scale


def _check_vector(x: object, *, power_of_two: bool) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"vector must be an ndarray, got {type(x).__name__}")
    if x.ndim != 1 or x.shape[0] < 1 or x.shape[0] > MAX_DIM:
        raise ValueError(f"vector must be 1-D with 1..{MAX_DIM} entries, got shape {x.shape}")
    if power_of_two and x.shape[0] & (x.shape[0] - 1):
        raise ValueError(f"length must be a power of two, got {x.shape[0]}")
    if x.dtype.kind not in "iuf":
        raise TypeError(f"vector must hold real numbers, got dtype {x.dtype}")
    return x


def fwht_inplace(x: np.ndarray) -> None:
    """Apply the normalised Walsh-Hadamard transform ``H_n x / sqrt(n)`` in place.

    Args:
        x: a contiguous writable float64 vector whose length is a power of two.

    Raises:
        TypeError: if ``x`` is not a writable C-contiguous float64 ndarray.
        ValueError: if it is not 1-D or its length is not a power of two.
    """
    _check_vector(x, power_of_two=True)
    if x.dtype != np.float64 or not x.flags.c_contiguous or not x.flags.writeable:
        raise TypeError("x must be a writable C-contiguous float64 array")
    _fwht_kernel(x)


def fwht_reference(x: np.ndarray) -> np.ndarray:
    """NumPy reference of :func:`fwht_inplace` (returns a new array).

    Unlike :func:`fwht_inplace` it accepts any real dtype, layout and
    writability, since it copies ``x`` to float64 first; ``x`` is unchanged.
    Values are not checked for nan / inf.

    Args:
        x: a 1-D real vector whose length is a power of two (1..MAX_DIM).

    Returns:
        A new float64 vector ``H_n x / sqrt(n)`` of the same length.

    Raises:
        TypeError: if ``x`` is not an ndarray or its dtype is not integer or
            floating.
        ValueError: if ``x`` is not 1-D, has no entries or more than
            ``MAX_DIM``, or its length is not a power of two.
    """
    _check_vector(x, power_of_two=True)
    y = np.array(x, dtype=np.float64)
    n = y.shape[0]
    h = 1
    while h < n:
        y = y.reshape(-1, 2, h)
        y = np.stack([y[:, 0] + y[:, 1], y[:, 0] - y[:, 1]], axis=1).reshape(n)
        h *= 2
    return y / math.sqrt(n)


def rotate(x: np.ndarray, seed: bytes) -> np.ndarray:
    """Pad ``x`` to a power of two and rotate it: ``H D pad(x) / sqrt(n)``.

    Args:
        x: a 1-D real vector of 1..MAX_DIM entries.
        seed: the 32-byte public rotation seed of this round.

    Returns:
        A new float64 vector of length ``padded_dim(len(x))``.

    Raises:
        TypeError: if ``x`` is not a real ndarray or ``seed`` not bytes.
        ValueError: if ``x`` is not 1-D of valid length, holds nan / inf, or
            ``seed`` is not 32 bytes.

    Warning:
        The seed must be fresh per round and fixed before clients compute
        their updates; a seed chosen adversarially after seeing the data can
        concentrate a coordinate and cause modular overflow downstream.
    """
    _check_vector(x, power_of_two=False)
    if not np.isfinite(x).all():
        raise ValueError("x holds a non-finite value (nan or inf)")
    n = padded_dim(x.shape[0])
    y = np.zeros(n, dtype=np.float64)
    y[: x.shape[0]] = x
    y *= rotation_signs(seed, n)
    _fwht_kernel(y)
    return y


def unrotate(y: np.ndarray, seed: bytes, dim: int) -> np.ndarray:
    """Invert :func:`rotate`: ``(D H y / sqrt(n))[:dim]``.

    Args:
        y: a rotated float vector of power-of-two length ``n``.
        seed: the same 32-byte seed given to :func:`rotate`.
        dim: the original length, ``1 <= dim <= n``.

    Returns:
        A new float64 vector of length ``dim``.

    Raises:
        TypeError: if ``y`` is not a real ndarray, ``seed`` not bytes or ``dim`` not an int.
        ValueError: if ``y`` is not of power-of-two length, holds nan / inf,
            ``dim`` exceeds it, or ``seed`` is not 32 bytes.
    """
    _check_vector(y, power_of_two=True)
    dim = _check_dim("dim", dim)
    n = y.shape[0]
    if dim > n:
        raise ValueError(f"dim {dim} exceeds the rotated length {n}")
    if padded_dim(dim) != n:
        raise ValueError(f"dim {dim} pads to {padded_dim(dim)}, not to the rotated length {n}")
    if not np.isfinite(y).all():
        raise ValueError("y holds a non-finite value (nan or inf)")
    x = np.array(y, dtype=np.float64)
    _fwht_kernel(x)
    x *= rotation_signs(seed, n)
    return x[:dim].copy()
