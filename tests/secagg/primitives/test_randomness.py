"""The injectable randomness source: a source that misbehaves is a clear error, never a hang."""

import numpy as np
import pytest

from secagg.primitives import shamir
from secagg.primitives.randomness import OSRandom, random_bytes, random_uint64, uniform_below


class ShortSource:
    """Returns one byte fewer than asked for (an exhausted or broken stream)."""

    def token_bytes(self, n: int) -> bytes:
        return bytes(max(n - 1, 0))


class NotBytesSource:
    def token_bytes(self, n: int):
        return [0] * n


def test_random_bytes_returns_exactly_n_bytes():
    assert len(random_bytes(OSRandom(), 0)) == 0
    assert len(random_bytes(OSRandom(), 33)) == 33


@pytest.mark.parametrize("source", [ShortSource(), NotBytesSource()])
def test_random_bytes_rejects_a_source_that_returns_the_wrong_thing(source):
    with pytest.raises(ValueError, match=r"token_bytes\(8\) returned"):
        random_bytes(source, 8)


def test_uniform_below_with_a_short_source_raises_instead_of_looping():
    with pytest.raises(ValueError, match="not 72 bytes"):
        uniform_below(ShortSource(), 7, 5)


def test_shamir_split_with_a_short_source_raises_instead_of_looping():
    with pytest.raises(ValueError, match="returned"):
        shamir.split([bytes(32)], threshold=2, xs=[1, 2], random=ShortSource())


def test_random_uint64_draws_words_from_the_source():
    words = random_uint64(OSRandom(), 1000)
    assert words.dtype == np.uint64 and words.shape == (1000,)
    assert len(set(words.tolist())) == 1000  # 64-bit words: a collision would mean a broken source


def test_dp_random_bytes_checks_lengths_too():
    from dp.randomness import random_bytes as dp_random_bytes

    with pytest.raises(ValueError, match="returned"):
        dp_random_bytes(ShortSource(), 4)
