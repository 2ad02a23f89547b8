"""Fixed-point encoding of real vectors into Z_{2^bits}, with a bit budget that never wraps.

A real coordinate ``x`` becomes the word

    ``code = R(clamp(x, -clip, clip) * scale)``,  ``word = code mod 2**bits``

where ``R`` is unbiased stochastic rounding (``floor(y) + 1`` with
probability ``y - floor(y)``) and negative codes are stored in two's
complement mod ``2**bits``. Decoding is the centred lift (a word
``>= 2**(bits-1)`` stands for ``word - 2**bits``) divided by ``scale``.

Because masked words are summed mod ``2**bits``, the sum of ``n`` encodings
decodes correctly only if the true integer sum stays in
``[-2**(bits-1), 2**(bits-1))``. :func:`plan_bits` picks the smallest
``bits`` with ``n_clients * (max_code + 1) < 2**(bits-1)``,
``max_code = ceil(clip * scale)``, and raises :class:`BitBudgetError` when
that needs more than ``max_bits`` (62): the sum never wraps silently.

Error bound (``scale`` a power of two, as :func:`plan_bits` gives, and
``|code| <= 2**53``): ``|decode(encode(x)) - clamp(x)| < 1/scale`` per
coordinate, and a decoded sum of ``n`` encodings is within ``n/scale`` of
the sum of the clamped inputs.

>>> plan = plan_bits(n_clients=1000, clip=1.0, precision=1e-4)
>>> plan.bits, plan.scale
(25, 16384.0)
>>> enc = FixedPointEncoder.from_plan(plan)
>>> words = enc.encode(np.array([0.5, -0.25, 3.0]))
>>> enc.decode(words).tolist()
[0.5, -0.25, 1.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from secagg.errors import BitBudgetError
from secagg.primitives.randomness import DEFAULT_RANDOM, RandomSource, random_uint64
from secagg.primitives.words import MAX_BITS, check_bits, modulus_mask, word_dtype

__all__ = ["BitPlan", "FixedPointEncoder", "plan_bits"]

_U53 = 2.0**-53


def _check_int(name: str, value: int, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return value


def _max_code(clip: float, scale: float) -> int:
    """``ceil(clip * scale)`` computed exactly (no float rounding)."""
    return math.ceil(Fraction(clip) * Fraction(scale))


def _check_budget(n: int, clip: float, scale: float, bits: int) -> None:
    need = n * (_max_code(clip, scale) + 1)
    if need >= 1 << (bits - 1):
        raise BitBudgetError(
            f"{n} encodings with clip={clip!r} and scale={scale!r} can sum to +-{need - n}, "
            f"which does not fit the centred range of {bits} bits (need n*(ceil(clip*scale)+1) "
            f"= {need} < 2**{bits - 1})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BitPlan:
    """A bit width and scale under which ``n_clients`` encodings sum without wrapping.

    Invariant (checked on construction): ``n_clients * (max_code + 1) <
    2**(bits - 1)`` with ``max_code = ceil(clip * scale)`` computed exactly.

    Attributes:
        bits: the modulus is ``2**bits``, ``1 <= bits <= 62``.
        scale: reals are multiplied by ``scale`` before rounding (the
            quantisation step is ``1/scale``).
        clip: every coordinate is clamped to ``[-clip, clip]``.
        n_clients: the most encodings whose sum the plan supports.

    Raises:
        TypeError: a field of the wrong type.
        ValueError: ``bits`` outside ``[1, 62]``, ``scale`` or ``clip`` not
            finite and positive, ``n_clients < 1``.
        BitBudgetError: the invariant does not hold (a ``ValueError``).
    """

    bits: int
    scale: float
    clip: float
    n_clients: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "bits", check_bits(self.bits))
        object.__setattr__(self, "scale", _check_positive("scale", self.scale))
        object.__setattr__(self, "clip", _check_positive("clip", self.clip))
        object.__setattr__(self, "n_clients", _check_int("n_clients", self.n_clients, 1))
        _check_budget(self.n_clients, self.clip, self.scale, self.bits)

    @property
    def max_code(self) -> int:
        """``ceil(clip * scale)``: the largest ``|code|`` one encoding can have."""
        return _max_code(self.clip, self.scale)


def plan_bits(*, n_clients: int, clip: float, precision: float, max_bits: int = MAX_BITS) -> BitPlan:
    """Choose the scale and the fewest bits so that the sum of ``n_clients`` encodings never wraps.

    Exact rule:

    * ``scale = 2**e`` for the smallest integer ``e`` with ``2**-e <=
      precision``; with ``precision = m * 2**k``, ``0.5 <= m < 1``
      (``math.frexp``), that is ``e = 1 - k``. So the step ``1/scale`` lies
      in ``(precision/2, precision]``.
    * ``max_code = ceil(clip * scale)`` (exact rational arithmetic).
    * ``bits = bit_length(n_clients * (max_code + 1)) + 1``, the smallest
      ``bits`` with ``n_clients * (max_code + 1) < 2**(bits - 1)``. The
      ``+ 1`` is one step of headroom beyond the largest code rounding can
      produce.

    Example: ``n_clients = 1000, clip = 1.0, precision = 1e-4`` gives
    ``1e-4 = 0.8192 * 2**-13``, ``scale = 2**14 = 16384``, ``max_code =
    16384``, ``1000 * 16385 = 16385000 < 2**24``, so ``bits = 25``.

    Args:
        n_clients: the number of encodings that will be summed (>= 1).
        clip: coordinates are clamped to ``[-clip, clip]`` (finite, > 0).
        precision: the largest acceptable quantisation step (finite, > 0).
        max_bits: the largest bit width allowed, ``1 <= max_bits <= 62``.

    Returns:
        The :class:`BitPlan`.

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: ``n_clients < 1``, ``clip`` or ``precision`` not finite
            and positive, ``max_bits`` outside ``[1, 62]``, or a scale beyond
            the float64 range.
        BitBudgetError: the plan needs more than ``max_bits`` bits; the
            message names ``n_clients``, ``clip``, ``precision``, the bits
            needed and ``max_bits``.
    """
    n = _check_int("n_clients", n_clients, 1)
    clip = _check_positive("clip", clip)
    precision = _check_positive("precision", precision)
    max_bits = check_bits(max_bits)
    e = 1 - math.frexp(precision)[1]
    exact_scale = Fraction(2) ** e
    max_code = math.ceil(Fraction(clip) * exact_scale)
    bits = (n * (max_code + 1)).bit_length() + 1
    if bits > max_bits:
        raise BitBudgetError(
            f"n_clients={n}, clip={clip!r}, precision={precision!r} need {bits} bits "
            f"(n_clients * (ceil(clip*scale) + 1) < 2**(bits-1) with scale=2**{e}), "
            f"more than max_bits={max_bits}; lower clip or n_clients, or accept a coarser precision"
        )
    if e > 1023:
        raise ValueError(f"precision={precision!r} needs scale 2**{e}, beyond the float64 range")
    return BitPlan(bits=bits, scale=math.ldexp(1.0, e), clip=clip, n_clients=n)


@dataclass(frozen=True, slots=True, kw_only=True)
class FixedPointEncoder:
    """Encode real vectors into ``Z_{2^bits}`` words and decode (sums of) them.

    Attributes:
        clip: coordinates are clamped to ``[-clip, clip]``.
        scale: the fixed-point scale (a power of two from :func:`plan_bits`
            makes ``x * scale`` exact; other positive scales work with one
            more float rounding).
        bits: the modulus is ``2**bits``.

    Raises:
        TypeError: a field of the wrong type.
        ValueError: ``bits`` outside ``[1, 62]``, ``clip`` or ``scale`` not
            finite and positive.
        BitBudgetError: even one encoding would not fit:
            ``ceil(clip * scale) + 1 >= 2**(bits - 1)`` (a ``ValueError``).

    Warning:
        :meth:`decode` cannot tell a wrapped sum from a correct one. Sum at
        most :attr:`max_summands` encodings (build the encoder with
        :meth:`from_plan` of a plan for your client count).
    """

    clip: float
    scale: float
    bits: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "clip", _check_positive("clip", self.clip))
        object.__setattr__(self, "scale", _check_positive("scale", self.scale))
        object.__setattr__(self, "bits", check_bits(self.bits))
        _check_budget(1, self.clip, self.scale, self.bits)

    @classmethod
    def from_plan(cls, plan: BitPlan) -> FixedPointEncoder:
        """Return the encoder with ``plan``'s clip, scale and bits.

        Args:
            plan: a :class:`BitPlan`, normally from :func:`plan_bits`.

        Returns:
            A :class:`FixedPointEncoder` whose :attr:`max_summands` is at
            least ``plan.n_clients``.

        Raises:
            TypeError: ``plan`` is not a :class:`BitPlan`. (A valid plan's
                invariant with ``n_clients >= 1`` implies the encoder's own,
                so construction raises nothing else.)
        """
        if not isinstance(plan, BitPlan):
            raise TypeError(f"plan must be a BitPlan, got {type(plan).__name__}")
        return cls(clip=plan.clip, scale=plan.scale, bits=plan.bits)

    @property
    def max_code(self) -> int:
        """``ceil(clip * scale)``: the largest ``|code|`` one encoding can have."""
        return _max_code(self.clip, self.scale)

    @property
    def max_summands(self) -> int:
        """The largest ``n`` with ``n * (max_code + 1) < 2**(bits - 1)``."""
        return ((1 << (self.bits - 1)) - 1) // (self.max_code + 1)

    def encode(self, x: np.ndarray, *, random: RandomSource = DEFAULT_RANDOM) -> np.ndarray:
        """Clamp, scale, round stochastically and reduce mod ``2**bits``.

        For each coordinate (in C order) with ``y = clamp(x, -clip, clip) *
        scale`` (float64): one 64-bit word ``r`` is drawn (all at once,
        ``random_uint64`` of the array size), ``u = (r >> 11) * 2**-53`` is
        uniform on ``[0, 1)``, and ``code = floor(y) + (1 if u < f else 0)``
        with ``f = y - floor(y)`` in float64 (exact unless ``-0.5 < y < 0``).
        So ``code`` is ``floor(y)`` or ``ceil(y)`` and ``E[code] = y`` to
        within ``2**-52`` of a step.

        Args:
            x: real values, any shape (normally a 1-D update); integer dtypes
                are converted to float64.
            random: the randomness source for the rounding.

        Returns:
            Words ``code mod 2**bits`` of dtype ``word_dtype(bits)`` and the
            shape of ``x``.

        Raises:
            TypeError: ``x`` is not a real (float or integer) array.
            ValueError: ``x`` contains NaN or an infinity.
        """
        arr = np.asarray(x)
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"x must be a real float or integer array, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
        finite = np.isfinite(arr)
        if not finite.all():
            where = np.argwhere(~finite)[0].tolist()
            raise ValueError(f"x must be finite, got {arr[tuple(where)]} at index {where}")
        y = np.clip(arr, -self.clip, self.clip) * self.scale
        low = np.floor(y)
        u = (random_uint64(random, y.size) >> np.uint64(11)).astype(np.float64).reshape(y.shape) * _U53
        code = low.astype(np.int64) + (u < (y - low))
        return (code.astype(np.uint64) & np.uint64(modulus_mask(self.bits))).astype(word_dtype(self.bits))

    def decode(self, v: np.ndarray) -> np.ndarray:
        """Centred lift divided by ``scale``: the inverse of :meth:`encode`, also for sums.

        A word ``w >= 2**(bits-1)`` stands for ``w - 2**bits``. The sum mod
        ``2**bits`` of at most :attr:`max_summands` encodings decodes to the
        sum of their codes over ``scale``.

        Args:
            v: integer words in ``[0, 2**bits)``, any shape.

        Returns:
            ``float64`` array of the shape of ``v``.

        Raises:
            TypeError: ``v`` is not an integer array.
            ValueError: a word outside ``[0, 2**bits)``.
        """
        arr = np.asarray(v)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"v must be an integer array, got dtype {arr.dtype}")
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) > modulus_mask(self.bits)):
            raise ValueError(
                f"words must be in [0, 2**{self.bits}), got [{int(arr.min())}, {int(arr.max())}]"
            )
        signed = arr.astype(np.int64)
        signed = np.where(signed >= 1 << (self.bits - 1), signed - (1 << self.bits), signed)
        return signed / self.scale
