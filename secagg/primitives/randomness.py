"""The one injectable randomness source.

Every function in :mod:`secagg` that needs randomness takes a ``random``
keyword argument: any object with a ``token_bytes(n) -> bytes`` method. The
default, :data:`DEFAULT_RANDOM`, reads the operating system's CSPRNG
(``os.urandom``). Deterministic sources exist only under ``tests/`` and in the
vector tools of ``protocol_spec/``; never use :mod:`random` or ``np.random``
for keys, seeds, masks or noise. Bulk randomness is not read from the source
byte by byte: the fixed-point encoder draws one 32-byte key per encoding and
expands it with AES-256-CTR (:mod:`secagg.primitives.encoding`).

>>> len(OSRandom().token_bytes(16))
16
>>> x = uniform_below(OSRandom(), 10, 1000)
>>> bool((x < 10).all())
True
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["DEFAULT_RANDOM", "OSRandom", "RandomSource", "random_bytes", "random_uint64", "uniform_below"]


@runtime_checkable
class RandomSource(Protocol):
    """Anything that returns ``n`` uniformly random bytes from ``token_bytes(n)``."""

    def token_bytes(self, n: int) -> bytes:  # pragma: no cover - protocol
        """Return ``n`` uniformly random bytes."""
        ...


class OSRandom:
    """The operating system's CSPRNG (``os.urandom``); the default source."""

    __slots__ = ()

    def token_bytes(self, n: int) -> bytes:
        """Return ``n`` bytes from ``os.urandom``.

        Args:
            n: number of bytes (>= 0).

        Returns:
            ``n`` bytes from the operating system's CSPRNG.

        Raises:
            ValueError: if ``n`` is negative.
            TypeError: if ``n`` is not an integer (not checked here; the
                comparison or ``os.urandom`` raises it).
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        return os.urandom(n)

    def __repr__(self) -> str:
        return "OSRandom()"


DEFAULT_RANDOM: RandomSource = OSRandom()


def random_bytes(random: RandomSource, n: int) -> bytes:
    """Return exactly ``n`` bytes from ``random``, checking what it returned.

    A source that returns the wrong number of bytes (a broken test double, an
    exhausted deterministic stream) would otherwise make a caller loop forever
    or fail far from the cause.

    Args:
        random: the randomness source.
        n: number of bytes (>= 0).

    Returns:
        ``n`` bytes.

    Raises:
        ValueError: if ``n`` is negative, or ``random`` returned anything but
            ``n`` bytes.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    out = random.token_bytes(n)
    if not isinstance(out, (bytes, bytearray)) or len(out) != n:
        got = f"{len(out)} bytes" if isinstance(out, (bytes, bytearray)) else type(out).__name__
        raise ValueError(f"random.token_bytes({n}) returned {got}, not {n} bytes")
    return bytes(out)


def random_uint64(random: RandomSource, size: int) -> np.ndarray:
    """Return ``size`` independent uniform 64-bit words (little-endian bytes).

    Args:
        random: the randomness source.
        size: number of words (>= 0).

    Returns:
        A ``uint64`` array of shape ``(size,)``.

    Raises:
        ValueError: if ``size`` is negative.
    """
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    return np.frombuffer(random_bytes(random, 8 * size), dtype="<u8").astype(np.uint64)


def uniform_below(random: RandomSource, bound: int, size: int) -> np.ndarray:
    """Return ``size`` integers uniform in ``[0, bound)`` by rejection sampling.

    Draws 64-bit words and rejects those at or above the largest multiple of
    ``bound`` below 2**64, so the result has no modulo bias.

    Args:
        random: the randomness source.
        bound: exclusive upper bound, ``1 <= bound <= 2**63``.
        size: number of samples (>= 0).

    Returns:
        A ``uint64`` array of shape ``(size,)``.

    Raises:
        ValueError: if ``bound`` or ``size`` is out of range.
    """
    if not 1 <= bound <= 2**63:
        raise ValueError(f"bound must be in [1, 2**63], got {bound}")
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    limit = (2**64 // bound) * bound  # accept words < limit
    out = np.empty(size, dtype=np.uint64)
    filled = 0
    while filled < size:
        need = size - filled
        words = random_uint64(random, need + need // 8 + 4)
        if limit < 2**64:
            words = words[words < np.uint64(limit)]
        take = min(need, words.size)
        out[filled : filled + take] = words[:take] % np.uint64(bound)
        filled += take
    return out
