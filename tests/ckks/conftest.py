"""Shared fixtures of the CKKS tests: key holders are made once per session
(key generation is the slow part), clients and servers per test."""

from __future__ import annotations

import numpy as np
import pytest

from secagg.ckks import KeyHolder


@pytest.fixture(scope="session")
def compact_holder() -> KeyHolder:
    return KeyHolder("compact")


@pytest.fixture(scope="session")
def default_holder() -> KeyHolder:
    return KeyHolder("default")


@pytest.fixture(scope="session")
def other_compact_holder() -> KeyHolder:
    """A second key holder with the same parameters but other keys."""
    return KeyHolder("compact")


@pytest.fixture
def rng() -> np.random.Generator:
    # Test data only (not secret): np.random is fine here.
    return np.random.default_rng(20240611)
