"""The injectable randomness source for :mod:`dp` (``dp`` never imports ``secagg``).

Any object with ``token_bytes(n) -> bytes`` works, including the one from
``secagg.primitives.randomness``; the default reads ``os.urandom``. Helpers here
turn bytes into the uniform integers and floats that exact samplers need.

>>> u = uniform_float64(OSRandom(), 5)
>>> bool(((0.0 <= u) & (u < 1.0)).all())
True
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["DEFAULT_RANDOM", "OSRandom", "RandomSource", "random_bytes", "random_uint64", "uniform_float64"]


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

        Raises:
            ValueError: if ``n`` is negative.
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
    """Return ``size`` uniform 64-bit words as a ``uint64`` array.

    Reads ``8 * size`` bytes from ``random`` and interprets them as
    little-endian words.

    Args:
        random: the randomness source.
        size: number of words (>= 0).

    Returns:
        A new ``uint64`` array of shape ``(size,)``.

    Raises:
        ValueError: if ``size`` is negative, or ``random`` returned anything
            but ``8 * size`` bytes (as :func:`random_bytes`).
        TypeError: if ``size`` is not an integer (not checked here; the
            comparison or the source raises it).
    """
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    return np.frombuffer(random_bytes(random, 8 * size), dtype="<u8").astype(np.uint64)


def uniform_float64(random: RandomSource, size: int) -> np.ndarray:
    """Return ``size`` floats uniform on the 2**-53 grid of ``[0, 1)``.

    ``u = (w >> 11) * 2**-53`` for each word ``w`` of
    :func:`random_uint64`, so every value is exact and ``0 <= u < 1``.

    Args:
        random: the randomness source.
        size: number of floats (>= 0).

    Returns:
        A new ``float64`` array of shape ``(size,)``.

    Raises:
        ValueError: if ``size`` is negative, or ``random`` returned the wrong
            number of bytes.
        TypeError: if ``size`` is not an integer (as :func:`random_uint64`).
    """
    return (random_uint64(random, size) >> np.uint64(11)).astype(np.float64) * (2.0**-53)
