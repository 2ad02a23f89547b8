"""CKKS parameter sets for summation, and the precision each promises.

A sum needs only ciphertext + ciphertext (no rescaling, relinearisation or
Galois keys), so a parameter set is just ``poly_modulus_degree`` N (``N/2``
slots per ciphertext), the coefficient moduli (the data primes bound how large
a sum may grow) and the scale ``2**scale_bits`` (the precision).
:func:`predicted_abs_error` is a per-slot bound on the error of a sum of ``n``
clients with values bounded by ``B``: ``20 * sqrt(n) * 0.17 * N / 2**scale_bits
+ 2**-52 * log2(N) * n * B``. The measurements behind the noise coefficient,
the tail and the magnitude term, and the table of the sets ``default``,
``compact`` and ``large``, are in SPEC.md, chapter "CKKS aggregation",
sections "Parameter sets" and "Precision".

>>> p = PARAMETER_SETS["default"]
>>> p.slots, p.data_modulus_bits
(4096, 140)
>>> f"{predicted_abs_error(p, clients=100):.1e}"
'2.5e-07'
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from types import MappingProxyType

from secagg.ckks.errors import PlanError, PrecisionError

__all__ = [
    "CKKSParams",
    "MAX_COEFF_MODULUS_BITS",
    "PARAMETER_SETS",
    "check_precision",
    "max_abs_sum",
    "predicted_abs_error",
    "resolve_params",
]

MAX_COEFF_MODULUS_BITS: Mapping[int, int] = MappingProxyType(
    {2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881}
)
"""Largest total coefficient-modulus bit count per ``poly_modulus_degree`` for
128-bit security (HomomorphicEncryption.org standard, as enforced by SEAL)."""

_NOISE_COEFFICIENT = 0.17
"""sigma_1 * scale / N, fitted on TenSEAL 0.3.18 (see the module docstring)."""

_TAIL_FACTOR = 20.0
"""bound / (sqrt(n) * sigma_1): the Laplace fit of the measured errors puts
P(|error| > 20 sigma) near exp(-20 * sqrt(2)) = 5e-13 per slot."""


def _check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CKKSParams:
    """One CKKS parameter set, validated on construction.

    Attributes:
        poly_modulus_degree: N, a power of two in 2048..32768.
        coeff_mod_bit_sizes: bit sizes of the coefficient-modulus primes, each
            in 20..60, at least two (the last one is SEAL's special prime used
            only for key switching), total at most
            :data:`MAX_COEFF_MODULUS_BITS` ``[N]`` (128-bit security).
        scale_bits: the encoding scale is ``2**scale_bits``; at least 20 and
            leaving at least 8 bits of headroom below the data modulus.

    Raises:
        TypeError: if a field has the wrong type.
        PlanError: (a :class:`ValueError`) if a field is out of range or the
            parameters fall below 128-bit security.
    """

    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    scale_bits: int

    def __post_init__(self) -> None:
        n = _check_int("poly_modulus_degree", self.poly_modulus_degree)
        if n not in MAX_COEFF_MODULUS_BITS:
            raise PlanError(
                f"poly_modulus_degree must be one of {sorted(MAX_COEFF_MODULUS_BITS)}, got {n!r}"
            )
        if not isinstance(self.coeff_mod_bit_sizes, (tuple, list)):
            raise TypeError(f"coeff_mod_bit_sizes must be a tuple of ints, got {self.coeff_mod_bit_sizes!r}")
        sizes = tuple(_check_int("coeff_mod_bit_sizes[i]", b) for b in self.coeff_mod_bit_sizes)
        object.__setattr__(self, "coeff_mod_bit_sizes", sizes)
        if len(sizes) < 2 or len(sizes) > 16:
            raise PlanError(f"coeff_mod_bit_sizes needs 2..16 primes, got {sizes!r}")
        if any(b < 20 or b > 60 for b in sizes):
            raise PlanError(f"every coefficient prime must have 20..60 bits, got {sizes!r}")
        if sum(sizes) > MAX_COEFF_MODULUS_BITS[n]:
            raise PlanError(
                f"coefficient modulus of {sum(sizes)} bits exceeds the 128-bit-security bound "
                f"of {MAX_COEFF_MODULUS_BITS[n]} bits for poly_modulus_degree {n}"
            )
        scale = _check_int("scale_bits", self.scale_bits)
        if scale < 20 or scale > self.data_modulus_bits - len(self.data_bit_sizes) - 8:
            raise PlanError(
                f"scale_bits must be in 20..{self.data_modulus_bits - len(self.data_bit_sizes) - 8} "
                f"for data primes {self.data_bit_sizes!r}, got {scale!r}"
            )

    @property
    def slots(self) -> int:
        """Values per ciphertext: ``poly_modulus_degree // 2``."""
        return self.poly_modulus_degree // 2

    @property
    def data_bit_sizes(self) -> tuple[int, ...]:
        """The primes a fresh ciphertext lives under (all but the special prime)."""
        return self.coeff_mod_bit_sizes[:-1]

    @property
    def data_modulus_bits(self) -> int:
        """Bits of the data modulus Q (the product of the data primes)."""
        return sum(self.data_bit_sizes)

    @property
    def ciphertext_memory_bytes(self) -> int:
        """Exact in-memory size of one fresh ciphertext: 2 polynomials x N x primes x 8 bytes."""
        return 2 * self.poly_modulus_degree * len(self.data_bit_sizes) * 8

    @property
    def public_key_memory_bytes(self) -> int:
        """In-memory size of the public key: 2 polynomials x N x all primes x 8 bytes."""
        return 2 * self.poly_modulus_degree * len(self.coeff_mod_bit_sizes) * 8


PARAMETER_SETS: Mapping[str, CKKSParams] = MappingProxyType(
    {
        "default": CKKSParams(poly_modulus_degree=8192, coeff_mod_bit_sizes=(60, 40, 40, 60), scale_bits=40),
        "compact": CKKSParams(poly_modulus_degree=8192, coeff_mod_bit_sizes=(60, 60), scale_bits=40),
        "large": CKKSParams(poly_modulus_degree=16384, coeff_mod_bit_sizes=(60, 50, 60), scale_bits=50),
    }
)
"""The named parameter sets (see the module docstring for their precision)."""


def resolve_params(params: CKKSParams | str | None) -> CKKSParams:
    """Turn ``None``, a set name or a :class:`CKKSParams` into a :class:`CKKSParams`.

    Args:
        params: ``None`` (the ``"default"`` set), a key of
            :data:`PARAMETER_SETS`, or a :class:`CKKSParams`.

    Returns:
        The parameter set.

    Raises:
        TypeError: if ``params`` is of another type.
        ValueError: if the name is unknown.
    """
    if params is None:
        return PARAMETER_SETS["default"]
    if isinstance(params, CKKSParams):
        return params
    if isinstance(params, str):
        if params not in PARAMETER_SETS:
            raise ValueError(f"unknown CKKS parameter set {params!r}; known: {sorted(PARAMETER_SETS)}")
        return PARAMETER_SETS[params]
    raise TypeError(f"params must be None, a parameter-set name or CKKSParams, got {params!r}")


def _check_clients(clients: int) -> int:
    clients = _check_int("clients", clients)
    if clients < 1:
        raise ValueError(f"clients must be >= 1, got {clients!r}")
    return clients


def predicted_abs_error(params: CKKSParams, *, clients: int, value_bound: float | None = None) -> float:
    """Return the per-slot absolute-error bound of a sum of ``clients`` ciphertexts.

    The bound is ``20 * sqrt(clients) * 0.17 * N / 2**scale_bits`` (the
    encryption noise) plus, when ``value_bound`` is given,
    ``2**-52 * log2(N) * clients * value_bound`` (the double-precision
    encoding error, which grows with the magnitude; module docstring).

    Args:
        params: the parameter set.
        clients: how many ciphertexts are summed (>= 1).
        value_bound: the largest ``|x_i|`` of any client, or ``None`` to
            leave out the magnitude term (valid only for values near 1).

    Returns:
        The bound, in the units of the inputs.

    Raises:
        TypeError: if ``clients`` is not an int.
        ValueError: if ``clients < 1``.
    """
    clients = _check_clients(clients)
    sigma_1 = _NOISE_COEFFICIENT * params.poly_modulus_degree / 2.0**params.scale_bits
    noise = _TAIL_FACTOR * math.sqrt(clients) * sigma_1
    if value_bound is None:
        return noise
    magnitude = 2.0**-52 * math.log2(params.poly_modulus_degree) * clients * float(value_bound)
    return noise + magnitude


def max_abs_sum(params: CKKSParams) -> float:
    """Return the largest ``|sum|`` per slot that decrypts without wrapping around.

    Each data prime of ``b`` bits exceeds ``2**(b-1)``, so the data modulus Q
    exceeds ``2**(data_modulus_bits - primes)``; an encoded value must stay
    below ``Q / 2`` with a further factor 2 of headroom for the noise:
    ``2**(data_modulus_bits - primes - 2 - scale_bits)``.

    Args:
        params: the parameter set.

    Returns:
        The bound, in the units of the inputs.

    Raises:
        Nothing of its own: ``params`` is a validated :class:`CKKSParams`.
    """
    exponent = params.data_modulus_bits - len(params.data_bit_sizes) - 2 - params.scale_bits
    return float(2.0**exponent)


def check_precision(
    params: CKKSParams, *, clients: int, abs_error: float | None = None, value_bound: float | None = None
) -> float:
    """Refuse a parameter set that cannot meet a requested error or magnitude.

    Args:
        params: the parameter set.
        clients: how many ciphertexts will be summed (>= 1).
        abs_error: the largest acceptable per-slot absolute error, or ``None``
            for no requirement.
        value_bound: the largest ``|x_i|`` any client may submit, or ``None``
            to skip the overflow check.

    Returns:
        The predicted error bound (:func:`predicted_abs_error`, with the
        magnitude term when ``value_bound`` is given).

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if ``clients < 1`` or a bound is not finite and positive.
        PrecisionError: if the predicted error exceeds ``abs_error``.
        PlanError: if ``clients * value_bound`` exceeds :func:`max_abs_sum`.
    """
    for name, value in (("abs_error", abs_error), ("value_bound", value_bound)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a float, got {value!r}")
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    predicted = predicted_abs_error(params, clients=clients, value_bound=value_bound)
    if abs_error is not None and predicted > abs_error:
        raise PrecisionError(
            f"parameters N={params.poly_modulus_degree}, moduli={list(params.coeff_mod_bit_sizes)}, "
            f"scale=2^{params.scale_bits} give an error bound of {predicted:.3g} for {clients} clients, "
            f"above the requested {abs_error:.3g}; use a larger scale_bits or another set "
            f"(for example 'large')",
            predicted=predicted,
            requested=float(abs_error),
        )
    if value_bound is not None and clients * value_bound > max_abs_sum(params):
        raise PlanError(
            f"{clients} clients x |x| <= {value_bound:.6g} can reach {clients * value_bound:.6g}, above "
            f"{max_abs_sum(params):.6g}, the largest sum these parameters decrypt without wrapping"
        )
    return predicted
