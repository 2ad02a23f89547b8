"""Fixed-point encoding of real vectors into Z_{2^bits}, with a bit budget that never wraps.

A real coordinate ``x`` becomes the word

    ``code = R(clamp(x, -clip, clip) * scale)``,  ``word = code mod 2**bits``

where ``R`` is unbiased stochastic rounding (``floor(y) + 1`` with
probability ``y - floor(y)``, to within ``2**-52``) and negative codes are
stored in two's complement mod ``2**bits``. Decoding is the centred lift (a
word ``>= 2**(bits-1)`` stands for ``word - 2**bits``) divided by ``scale``.
The rounding bits of one encoding come from one 32-byte key drawn from the
randomness source and expanded with AES-256-CTR (SPEC chapter 14, "Encoding").

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
import threading
from dataclasses import dataclass
from fractions import Fraction

import numba
import numpy as np

from secagg.errors import BitBudgetError
from secagg.primitives.prg import Keystream
from secagg.primitives.randomness import DEFAULT_RANDOM, RandomSource, random_bytes
from secagg.primitives.words import MAX_BITS, check_bits, modulus_mask, word_dtype

__all__ = ["ROUNDING_KEY_SIZE", "BitPlan", "FixedPointEncoder", "plan_bits"]

ROUNDING_KEY_SIZE = 32
"""Bytes :meth:`FixedPointEncoder.encode` draws from its source per call: the AES-256 key of its rounding bits."""

_CHUNK = 16 * 1024
"""Coordinates encoded per keystream chunk: 128 KiB of rounding words, written
by AES-CTR and read back by the kernel while still in a core's L2."""

_SCRATCH = threading.local()
"""Per-thread ``(zeros, stream)`` byte buffers of ``8 * _CHUNK`` bytes, allocated once per thread."""


def _scratch() -> tuple[np.ndarray, np.ndarray]:
    bufs = getattr(_SCRATCH, "bufs", None)
    if bufs is None:
        bufs = _SCRATCH.bufs = (np.zeros(8 * _CHUNK, dtype=np.uint8), np.empty(8 * _CHUNK, dtype=np.uint8))
    return bufs


# --------------------------------------------------------------------------- kernels


@numba.njit(cache=True, nogil=True)
def _round_into(x, r, out, clip, scale, mask):  # pragma: no cover - compiled
    # out[i] = (floor(y) + (u < y - floor(y))) mod 2**bits with y = clamp(x[i]) * scale and
    # u = (r[i] >> 11) * 2**-53, all in binary64 (SPEC ch. 14); one pass, no temporaries.
    # Returns how many x[i] are NaN or infinite (those are encoded as 0 and the caller raises).
    m = np.uint64(mask)
    bad = 0
    for i in range(x.shape[0]):
        v = np.float64(x[i])
        finite = v - v == 0.0
        bad += not finite
        v = v if finite else 0.0
        v = -clip if v < -clip else (clip if v > clip else v)
        y = v * scale
        low = np.floor(y)
        u = np.float64(r[i] >> np.uint64(11)) * 1.1102230246251565e-16  # 2**-53
        out[i] = np.uint64(np.int64(low) + np.int64(u < y - low)) & m
    return bad


@numba.njit(cache=True, nogil=True)
def _lift_into(v, out, bits, scale):  # pragma: no cover - compiled
    # out[i] = lift(v[i]) / scale; returns how many v[i] lie outside [0, 2**bits) (as int64).
    modulus = np.int64(1) << np.int64(bits)
    half = modulus >> np.int64(1)
    bad = 0
    for i in range(v.shape[0]):
        w = np.int64(v[i])
        bad += (w < 0) | (w >= modulus)
        out[i] = np.float64(w - modulus if w >= half else w) / scale
    return bad


_ENCODE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_DECODE_DTYPES = (np.dtype(np.uint32), np.dtype(np.uint64), np.dtype(np.int64))


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

        Draws one :data:`ROUNDING_KEY_SIZE`-byte key ``K`` from ``random`` (one
        call, also for an empty ``x``) and reads the rounding words ``r_i``
        from the AES-256-CTR keystream of ``K``, 8 bytes per coordinate in C
        order. With ``y = clamp(x, -clip, clip) * scale`` in float64 and
        ``u = (r_i >> 11) * 2**-53``, ``code = floor(y) + (1 if u < y - floor(y)
        else 0)``: always ``floor(y)`` or ``ceil(y)``, and ``E[code] = y`` to
        within ``2**-52`` of a step (SPEC chapter 14, "Encoding").

        Args:
            x: real values, any shape (normally a 1-D update); float32 and
                float64 are read as they are, other real dtypes are converted
                to float64 first.
            random: the randomness source of the rounding key.

        Returns:
            Words ``code mod 2**bits`` of dtype ``word_dtype(bits)`` and the
            shape of ``x``.

        Raises:
            TypeError: ``x`` is not a real (float or integer) array.
            ValueError: ``x`` contains NaN or an infinity (the key drawn for
                it is discarded), or ``random`` returned other than 32 bytes.
        """
        arr = np.asarray(x)
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"x must be a real float or integer array, got dtype {arr.dtype}")
        return self._encode_from(arr, Keystream(random_bytes(random, ROUNDING_KEY_SIZE)))

    def _encode_from(self, x: np.ndarray, stream: Keystream) -> np.ndarray:
        # encode() with the rounding words read from `stream` (its read_into(zeros, out)); the
        # vector tests replay a recorded stream through here.
        arr = np.asarray(x)
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"x must be a real float or integer array, got dtype {arr.dtype}")
        flat = arr.reshape(-1) if arr.dtype in _ENCODE_DTYPES else arr.astype(np.float64).reshape(-1)
        size = flat.shape[0]
        out = np.empty(size, dtype=word_dtype(self.bits))
        zeros, buf = _scratch()
        words = buf.view(np.uint64)  # little-endian words: prg refuses to import on big-endian hosts
        mask, clip, scale = modulus_mask(self.bits), self.clip, self.scale
        bad = 0
        for lo in range(0, size, _CHUNK):
            hi = min(size, lo + _CHUNK)
            stream.read_into(zeros[: 8 * (hi - lo)], buf[: 8 * (hi - lo)])
            bad += _round_into(flat[lo:hi], words[: hi - lo], out[lo:hi], clip, scale, mask)
        if bad:
            where = np.argwhere(~np.isfinite(arr.astype(np.float64)))[0].tolist()
            raise ValueError(f"x must be finite, got {arr[tuple(where)]} at index {where}")
        return out.reshape(arr.shape)

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
        flat = arr.reshape(-1) if arr.dtype in _DECODE_DTYPES else arr.astype(np.int64).reshape(-1)
        out = np.empty(flat.shape[0], dtype=np.float64)
        if _lift_into(flat, out, self.bits, self.scale):
            raise ValueError(
                f"words must be in [0, 2**{self.bits}), got [{int(arr.min())}, {int(arr.max())}]"
            )
        return out.reshape(arr.shape)
