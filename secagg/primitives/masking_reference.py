"""Plain NumPy / Python-int references for the kernels in masking and packing.

These are the oracles of the property tests: short, obviously correct, slow.
They expand every mask in full with :func:`~secagg.primitives.prg.expand_mask`,
sum with Python integers where the kernels rely on machine wrap-around, and
pack through one big Python integer. They return new arrays and validate only
what the math needs; never use them on the hot path.

>>> import numpy as np
>>> pack_reference(np.array([1, 2, 3]), 4).hex()
'2103'
>>> unpack_reference(bytes.fromhex("2103"), 4, 3).tolist()
[1, 2, 3]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from secagg.primitives.prg import expand_mask
from secagg.primitives.words import modulus_mask, word_dtype

__all__ = [
    "accumulate_packed_reference",
    "accumulate_reference",
    "add_masks_reference",
    "mask_input_reference",
    "pack_reference",
    "unpack_reference",
]


def _to_ints(a: np.ndarray) -> list[int]:
    return [int(v) for v in a]


def _from_ints(values: list[int], bits: int) -> np.ndarray:
    modulus = 1 << bits
    return np.array([v % modulus for v in values], dtype=word_dtype(bits))


def add_masks_reference(
    acc: np.ndarray, seeds: Sequence[bytes], signs: Sequence[int], *, session_id: bytes, bits: int
) -> np.ndarray:
    """Return ``acc + sum_j signs[j] * expand_mask(seeds[j]) mod 2**bits`` (a new array).

    Args:
        acc: a 1-D integer vector; its values are not range-checked (each is
            taken as a Python int and the result reduced mod ``2**bits``).
        seeds: 32-byte mask seeds, each expanded to ``len(acc)`` words.
        signs: one integer multiplier per seed (normally +1 or -1; any int
            is accepted).
        session_id: the 32-byte session id bound into every mask.
        bits: the modulus is ``2**bits``.

    Returns:
        A new array of dtype ``word_dtype(bits)`` and shape ``(len(acc),)``;
        ``acc`` is not modified.

    Raises:
        ValueError: if ``seeds`` and ``signs`` differ in length.
        TypeError, ValueError: as :func:`~secagg.primitives.prg.expand_mask`
            (a seed or ``session_id`` not 32 bytes, ``bits`` outside
            ``[1, 62]``, or ``len(acc) == 0`` with at least one seed), and as
            :func:`~secagg.primitives.words.check_bits` for ``bits`` even when
            ``seeds`` is empty.
    """
    if len(seeds) != len(signs):
        raise ValueError("seeds and signs differ in length")
    total = _to_ints(acc)
    for seed, sign in zip(seeds, signs):
        mask = expand_mask(seed, session_id=session_id, length=len(acc), bits=bits)
        total = [t + sign * int(m) for t, m in zip(total, mask)]
    return _from_ints(total, bits)


def mask_input_reference(
    x: np.ndarray,
    *,
    bits: int,
    session_id: bytes,
    self_seed: bytes,
    pair_seeds: Sequence[bytes],
    pair_signs: Sequence[int],
) -> np.ndarray:
    """Return ``x + PRG(self_seed) + sum_j pair_signs[j] * PRG(pair_seeds[j]) mod 2**bits``.

    Args:
        x: the client's encoded 1-D input (converted with ``np.asarray``).
        bits: the modulus is ``2**bits``.
        session_id: the 32-byte session id.
        self_seed: the 32-byte self-mask seed (added with sign +1).
        pair_seeds: the 32-byte pairwise mask seeds.
        pair_signs: one sign per pairwise seed.

    Returns:
        A new array of dtype ``word_dtype(bits)`` and shape ``(len(x),)``.

    Raises:
        ValueError: if ``pair_seeds`` and ``pair_signs`` differ in length.
        TypeError, ValueError: as :func:`add_masks_reference`.
    """
    return add_masks_reference(
        np.asarray(x), [self_seed, *pair_seeds], [1, *pair_signs], session_id=session_id, bits=bits
    )


def accumulate_reference(acc: np.ndarray, vec: np.ndarray, *, bits: int) -> np.ndarray:
    """Return ``acc + vec mod 2**bits`` (a new array).

    Args:
        acc: a 1-D integer vector.
        vec: a 1-D integer vector, normally of the same length.

    Returns:
        A new array of dtype ``word_dtype(bits)``. Lengths are not checked:
        the pairs are taken with ``zip``, so the result has
        ``min(len(acc), len(vec))`` entries.

    Raises:
        TypeError, ValueError: as :func:`~secagg.primitives.words.check_bits`
            for ``bits``.
    """
    return _from_ints([a + v for a, v in zip(_to_ints(acc), _to_ints(vec))], bits)


def pack_reference(words: np.ndarray, bits: int) -> bytes:
    """Pack through one Python integer: ``sum_i words[i] << (i*bits)``, little-endian.

    Args:
        words: a 1-D integer vector, each value in ``[0, 2**bits)``.
        bits: the width of one packed word.

    Returns:
        ``ceil(len(words) * bits / 8)`` bytes (``b""`` for no words).

    Raises:
        ValueError: if a word is outside ``[0, 2**bits)``.
        TypeError, ValueError: as :func:`~secagg.primitives.words.check_bits`
            for ``bits`` (checked per word, so an empty ``words`` is not
            checked).
    """
    value = 0
    for i, w in enumerate(_to_ints(words)):
        if not 0 <= w <= modulus_mask(bits):
            raise ValueError(f"word {w} does not fit in {bits} bits")
        value |= w << (i * bits)
    return value.to_bytes((len(words) * bits + 7) // 8, "little")


def unpack_reference(data: bytes, bits: int, length: int) -> np.ndarray:
    """Unpack through one Python integer; rejects wrong lengths and padding bits.

    Args:
        data: the packed bytes (converted with ``bytes``).
        bits: the width of one packed word.
        length: the number of words to unpack.

    Returns:
        An array of dtype ``word_dtype(bits)`` and shape ``(length,)``, values
        in ``[0, 2**bits)``.

    Raises:
        ValueError: if ``len(data) != ceil(length*bits/8)`` or a bit at stream
            position ``>= length*bits`` is set.
        TypeError, ValueError: as :func:`~secagg.primitives.words.check_bits`
            for ``bits``.
    """
    data = bytes(data)
    if len(data) != (length * bits + 7) // 8:
        raise ValueError("wrong packed length")
    value = int.from_bytes(data, "little")
    if value >> (length * bits):
        raise ValueError("non-zero padding bits")
    mask = modulus_mask(bits)
    return np.array([(value >> (i * bits)) & mask for i in range(length)], dtype=word_dtype(bits))


def accumulate_packed_reference(acc: np.ndarray, data: bytes, *, bits: int) -> np.ndarray:
    """Return ``acc + unpack_reference(data) mod 2**bits`` (a new array).

    Args:
        acc: a 1-D integer vector; ``data`` must hold ``len(acc)`` words.
        data: the packed words.
        bits: the word width and modulus bits.

    Returns:
        A new array of dtype ``word_dtype(bits)`` and shape ``(len(acc),)``.

    Raises:
        TypeError, ValueError: as :func:`unpack_reference` with
            ``length=len(acc)``.
    """
    return accumulate_reference(acc, unpack_reference(data, bits, len(acc)), bits=bits)
