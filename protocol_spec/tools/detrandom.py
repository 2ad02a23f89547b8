"""A deterministic randomness source for the vector tools only (never in the library).

SHAKE-256 over a seed, read as one long stream: the same seed gives the same
bytes, so failures replay.
"""

from __future__ import annotations

import hashlib


class DeterministicRandom:
    """``token_bytes(n)`` from a SHAKE-256 stream keyed by ``seed``."""

    def __init__(self, seed: bytes | int | str = 0) -> None:
        if isinstance(seed, int):
            seed = seed.to_bytes(16, "little", signed=False)
        elif isinstance(seed, str):
            seed = seed.encode()
        self._seed = bytes(seed)
        self._counter = 0

    def token_bytes(self, n: int) -> bytes:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self._counter += 1
        return hashlib.shake_256(self._seed + self._counter.to_bytes(8, "little")).digest(n) if n else b""
