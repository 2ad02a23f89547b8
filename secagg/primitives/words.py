"""Machine words for vectors in Z_{2^bits}.

Every vector in Z_{2^bits} is held in the smallest unsigned NumPy dtype that
fits: ``uint32`` for ``bits <= 32`` and ``uint64`` for ``33 <= bits <= 62``.
Arithmetic in that dtype wraps mod 2**32 or 2**64, and since 2**bits divides
both, one AND with :func:`modulus_mask` at the end gives the value mod
2**bits; kernels keep every stored value reduced.

>>> word_dtype(20), word_bytes(40), modulus_mask(4)
(dtype('uint32'), 8, 15)
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_BITS", "MIN_BITS", "check_bits", "modulus_mask", "word_bytes", "word_dtype"]

MIN_BITS = 1
MAX_BITS = 62


def check_bits(bits: int) -> int:
    """Validate a modulus bit width.

    Args:
        bits: the modulus is ``2**bits``.

    Returns:
        ``bits`` unchanged.

    Raises:
        TypeError: if ``bits`` is not an int.
        ValueError: if ``bits`` is outside ``[1, 62]``.
    """
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise TypeError(f"bits must be an int, got {type(bits).__name__}")
    if not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"bits must be in [{MIN_BITS}, {MAX_BITS}], got {bits}")
    return int(bits)


def word_dtype(bits: int) -> np.dtype:
    """Return ``uint32`` for ``bits <= 32`` and ``uint64`` above.

    Args:
        bits: the modulus is ``2**bits``, ``1 <= bits <= 62``.

    Returns:
        ``np.dtype('uint32')`` or ``np.dtype('uint64')``.

    Raises:
        TypeError, ValueError: as :func:`check_bits`.
    """
    return np.dtype(np.uint32) if check_bits(bits) <= 32 else np.dtype(np.uint64)


def word_bytes(bits: int) -> int:
    """Return the byte size of one word for ``bits`` (4 or 8).

    Args:
        bits: the modulus is ``2**bits``, ``1 <= bits <= 62``.

    Returns:
        ``4`` for ``bits <= 32``, ``8`` above (an ``int``).

    Raises:
        TypeError, ValueError: as :func:`check_bits`.
    """
    return word_dtype(bits).itemsize


def modulus_mask(bits: int) -> int:
    """Return ``2**bits - 1``.

    Args:
        bits: the modulus is ``2**bits``, ``1 <= bits <= 62``.

    Returns:
        ``2**bits - 1`` as a Python ``int`` (the AND mask that reduces a word
        mod ``2**bits``).

    Raises:
        TypeError, ValueError: as :func:`check_bits`.
    """
    return (1 << check_bits(bits)) - 1
