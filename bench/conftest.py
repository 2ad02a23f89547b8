"""Shared helpers for the benchmark suites (never collected by ``make test``).

Every suite warms up its Numba kernels before timing (the kernels are compiled
with ``cache=True``, so later runs load them from the cache), and names its
pytest-benchmark groups so the table reads as side-by-side comparisons.
"""

from __future__ import annotations

import numpy as np


def random_words(rng: np.random.Generator, length: int, bits: int, dtype=np.uint32) -> np.ndarray:
    """Uniform test data in [0, 2**bits) (not secret: np.random is fine here)."""
    return (rng.integers(0, 2**63, size=length, dtype=np.uint64) & np.uint64((1 << bits) - 1)).astype(dtype)
