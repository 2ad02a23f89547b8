"""Noise mechanisms: the central Gaussian and the discrete samplers of distributed DP.

Every sampler is driven by the injected randomness source (default: the OS
CSPRNG through :data:`dp.randomness.DEFAULT_RANDOM`), never by ``np.random``.
Random 64-bit words are drawn in bulk, consumed by a Numba kernel
(``cache=True``) one *attempt* at a time, and refilled when used up.

How the discrete samplers are built, and how exact they are:

* :func:`discrete_gaussian` is Algorithm 3 of Canonne, Kamath and Steinke,
  "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020): with
  ``t = floor(sigma) + 1``, propose ``Y`` from the discrete Laplace
  ``P(Y = y) ∝ exp(-|y| / t)`` and accept with probability
  ``exp(-(|Y| - sigma^2 / t)^2 / (2 sigma^2))``; the first accepted ``Y`` is
  exactly distributed as ``P(y) ∝ exp(-y^2 / (2 sigma^2))`` for any ``t > 0``.
  We use the *float-based variant of TensorFlow Privacy* rather than CKS's
  rational-arithmetic Bernoulli(exp(-gamma)): ``Y = G1 - G2`` with
  ``G = floor(-t ln U)``, ``U`` uniform on the grid ``{1, ..., 2^53} / 2^53``
  (a geometric variable, so ``G1 - G2`` is exactly discrete Laplace up to
  float rounding), and the acceptance coin is ``V < exp(-gamma)`` with ``V``
  uniform on ``{0, ..., 2^53 - 1} / 2^53``. Why: every attempt consumes
  exactly three words, so attempts vectorise and the code has no 128-bit
  rational arithmetic (``(|Y| t q - p)^2`` overflows 64 bits at sigma ~ 1000).
  Cost of the choice: each probability the sampler realises differs from the
  ideal one by a few units of 2^-53 (the uniform grid plus one-ulp errors of
  ``log`` / ``exp``), and the geometric tail beyond ``37 t`` is cut. The
  total variation distance per sample is therefore below about 2^-48, far
  under any delta used in practice; it is not the bit-exact sampler of CKS.
* :func:`skellam` returns ``P1 - P2`` with ``P1, P2`` independent
  Poisson(``mu``), so it is exactly Skellam(``mu``, ``mu``) (variance
  ``2 mu``) whenever the Poisson sampler is. Poisson(``lam``) for
  ``lam < 10`` is inversion by sequential search from one 53-bit uniform; for
  ``lam >= 10`` it is PTRS, the transformed rejection method of Hörmann,
  "The transformed rejection method for generating Poisson random variables"
  (Insurance: Mathematics and Economics 12, 1993), an exact rejection sampler
  whose acceptance test is evaluated in float64 (``lgamma``): the same
  few-ulp caveat as above, and ``mu`` is capped at :data:`MAX_MU` where
  ``k ln(lam) - lgamma(k + 1)`` still has ~1e-4 absolute accuracy.
* Rejection is only ever restarted *between* attempts: a batch of words is
  refilled before an attempt, never in the middle of one, and attempts are
  i.i.d., so refilling does not bias the output.
* :func:`gaussian_noise` (central, continuous) is Box-Muller on 53-bit
  uniforms. Warning: it is a floating-point Gaussian; the least significant
  bits of a float sample can leak information about the value it is added to
  (Mironov, CCS 2012). Use it for simulation and the trusted-server central
  model; the distributed pipeline uses only the integer samplers.

>>> from dp.randomness import OSRandom
>>> z = discrete_gaussian(1000, 25.0, random=OSRandom())
>>> z.dtype, bool(abs(z.mean()) < 1.0)
(dtype('int64'), True)
>>> s = skellam(4, 0.0)
>>> s.tolist()
[0, 0, 0, 0]
"""

from __future__ import annotations

import math

import numba
import numpy as np

from dp.randomness import DEFAULT_RANDOM, RandomSource, random_uint64

__all__ = [
    "MAX_MU",
    "MAX_SIGMA_SQ",
    "add_central_gaussian",
    "discrete_gaussian",
    "discrete_gaussian_reference",
    "gaussian_noise",
    "poisson",
    "skellam",
]

MAX_SIGMA_SQ = 2.0**80
"""Largest discrete-Gaussian ``sigma^2`` accepted (samples stay far inside int64)."""
MAX_MU = 1e13
"""Largest Poisson / Skellam ``mu`` accepted (float64 accuracy of PTRS's test)."""
MAX_SIZE = 2**31
_MAX_BATCH_ATTEMPTS = 1 << 20
_TWO_M53 = 2.0**-53
_PTRS_THRESHOLD = 10.0


def _check_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"size must be an int, got {type(size).__name__}")
    if not 0 <= size <= MAX_SIZE:
        raise ValueError(f"size must be in [0, {MAX_SIZE}], got {size}")
    return int(size)


def _check_real(name: str, value: object, *, low: float, high: float, low_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    ok = math.isfinite(value) and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be in {bracket}{low}, {high}], got {value}")
    return value


# ---------------------------------------------------------------------------
# Numba kernels. Each consumes whole attempts from ``words`` and writes
# accepted samples into ``out`` from index ``start``; it returns the next free
# index. It stops when ``out`` is full or fewer words remain than one attempt.


@numba.njit(cache=True, nogil=True)
def _dgauss_kernel(words, out, start, sigma_sq, t):  # pragma: no cover - compiled
    i = start
    n = out.shape[0]
    w = 0
    nw = words.shape[0]
    shift = np.uint64(11)
    while i < n and w + 3 <= nw:
        u1 = (float(words[w] >> shift) + 1.0) * _TWO_M53
        u2 = (float(words[w + 1] >> shift) + 1.0) * _TWO_M53
        v = float(words[w + 2] >> shift) * _TWO_M53
        w += 3
        y = math.floor(-t * math.log(u1)) - math.floor(-t * math.log(u2))
        d = abs(y) - sigma_sq / t
        if v < math.exp(-(d * d) / (2.0 * sigma_sq)):
            out[i] = np.int64(y)
            i += 1
    return i


@numba.njit(cache=True, nogil=True)
def _poisson_inversion_kernel(words, out, start, lam):  # pragma: no cover - compiled
    i = start
    n = out.shape[0]
    nw = words.shape[0]
    shift = np.uint64(11)
    p0 = math.exp(-lam)
    kmax = int(20.0 * lam) + 200
    w = 0
    while i < n and w < nw:
        u = float(words[w] >> shift) * _TWO_M53
        w += 1
        k = 0
        p = p0
        cdf = p0
        while u >= cdf and k < kmax:
            k += 1
            p *= lam / k
            cdf += p
        out[i] = k
        i += 1
    return i


@numba.njit(cache=True, nogil=True)
def _poisson_ptrs_kernel(words, out, start, lam):  # pragma: no cover - compiled
    i = start
    n = out.shape[0]
    nw = words.shape[0]
    shift = np.uint64(11)
    slam = math.sqrt(lam)
    loglam = math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    log_invalpha = math.log(1.1239 + 1.1328 / (b - 3.4))
    vr = 0.9277 - 3.6224 / (b - 2.0)
    w = 0
    while i < n and w + 2 <= nw:
        # Midpoints of the 2^-53 grid: U never hits +-0.5 and V never 0.
        u = (float(words[w] >> shift) + 0.5) * _TWO_M53 - 0.5
        v = (float(words[w + 1] >> shift) + 0.5) * _TWO_M53
        w += 2
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            out[i] = np.int64(k)
            i += 1
            continue
        if k < 0.0 or (us < 0.013 and v > us):
            continue
        if math.log(v) + log_invalpha - math.log(a / (us * us) + b) <= -lam + k * loglam - math.lgamma(k + 1.0):
            out[i] = np.int64(k)
            i += 1
    return i


def _fill(kernel, size: int, words_per_attempt: int, attempts_per_sample: float, random: RandomSource, *args):
    out = np.empty(size, dtype=np.int64)
    filled = 0
    while filled < size:
        remaining = size - filled
        attempts = min(_MAX_BATCH_ATTEMPTS, int(remaining * attempts_per_sample) + 32)
        words = random_uint64(random, attempts * words_per_attempt)
        filled = int(kernel(words, out, filled, *args))
    return out


def discrete_gaussian(size: int, sigma_sq: float, *, random: RandomSource = DEFAULT_RANDOM) -> np.ndarray:
    """Draw ``size`` independent discrete Gaussians ``P(x) ∝ exp(-x^2 / (2 sigma_sq))``.

    Algorithm 3 of Canonne, Kamath, Steinke (2020) with discrete Laplace
    proposals, float-based variant (see the module docstring for the exact
    error statement). Note that the variance of the discrete Gaussian is
    slightly *below* ``sigma_sq`` (by less than 1e-8 relative once
    ``sigma_sq >= 1``).

    Args:
        size: number of samples (0..2**31).
        sigma_sq: the scale parameter sigma^2, in (0, MAX_SIGMA_SQ].
        random: the randomness source.

    Returns:
        An ``int64`` array of shape ``(size,)``.

    Raises:
        TypeError: if ``size`` is not an int or ``sigma_sq`` not a real number.
        ValueError: if either is out of range.
    """
    size = _check_size(size)
    sigma_sq = _check_real("sigma_sq", sigma_sq, low=0.0, high=MAX_SIGMA_SQ, low_open=True)
    t = float(math.floor(math.sqrt(sigma_sq)) + 1)
    # Acceptance per attempt is about sqrt(2 pi) sigma (1-e^{-1/t})/(1+e^{-1/t}) >= ~0.4.
    return _fill(_dgauss_kernel, size, 3, 1.35, random, sigma_sq, t)


def discrete_gaussian_reference(words: np.ndarray, sigma_sq: float) -> np.ndarray:
    """NumPy reference of the discrete-Gaussian kernel over given words.

    Consumes ``words`` three at a time (one attempt each, as the kernel
    does) and returns the accepted samples in order. For tests: the Numba
    path must give the same samples from the same words.

    Args:
        words: a ``uint64`` array (a trailing partial attempt is ignored).
        sigma_sq: as :func:`discrete_gaussian`.

    Returns:
        The accepted ``int64`` samples.

    Raises:
        TypeError: if ``words`` is not a uint64 array.
        ValueError: if ``sigma_sq`` is out of range.
    """
    if not isinstance(words, np.ndarray) or words.dtype != np.uint64:
        raise TypeError("words must be a uint64 ndarray")
    sigma_sq = _check_real("sigma_sq", sigma_sq, low=0.0, high=MAX_SIGMA_SQ, low_open=True)
    t = float(math.floor(math.sqrt(sigma_sq)) + 1)
    m = words.shape[0] // 3
    w = (words[: 3 * m].reshape(m, 3) >> np.uint64(11)).astype(np.float64)
    u1 = (w[:, 0] + 1.0) * _TWO_M53
    u2 = (w[:, 1] + 1.0) * _TWO_M53
    v = w[:, 2] * _TWO_M53
    y = np.floor(-t * np.log(u1)) - np.floor(-t * np.log(u2))
    d = np.abs(y) - sigma_sq / t
    accept = v < np.exp(-(d * d) / (2.0 * sigma_sq))
    return y[accept].astype(np.int64)


def poisson(size: int, lam: float, *, random: RandomSource = DEFAULT_RANDOM) -> np.ndarray:
    """Draw ``size`` independent Poisson(``lam``) integers.

    Inversion for ``lam < 10``, PTRS (Hörmann 1993) above; see the module
    docstring for exactness.

    Args:
        size: number of samples (0..2**31).
        lam: the mean, in [0, MAX_MU]; ``lam == 0`` gives zeros and draws nothing.
        random: the randomness source.

    Returns:
        An ``int64`` array of shape ``(size,)``.

    Raises:
        TypeError: if ``size`` is not an int or ``lam`` not a real number.
        ValueError: if either is out of range.
    """
    size = _check_size(size)
    lam = _check_real("lam", lam, low=0.0, high=MAX_MU, low_open=False)
    if lam == 0.0 or size == 0:
        return np.zeros(size, dtype=np.int64)
    if lam < _PTRS_THRESHOLD:
        return _fill(_poisson_inversion_kernel, size, 1, 1.0, random, lam)
    return _fill(_poisson_ptrs_kernel, size, 2, 1.2, random, lam)


def skellam(size: int, mu: float, *, random: RandomSource = DEFAULT_RANDOM) -> np.ndarray:
    """Draw ``size`` symmetric Skellam(``mu``) integers: Poisson(mu) - Poisson(mu).

    The variance is ``2 * mu``. Sums of independent Skellams are Skellam
    (the parameters add), which is why the distributed pipeline uses it.

    Args:
        size: number of samples (0..2**31).
        mu: the parameter of each Poisson, in [0, MAX_MU].
        random: the randomness source.

    Returns:
        An ``int64`` array of shape ``(size,)``.

    Raises:
        TypeError: if ``size`` is not an int or ``mu`` not a real number.
        ValueError: if either is out of range.
    """
    size = _check_size(size)
    mu = _check_real("mu", mu, low=0.0, high=MAX_MU, low_open=False)
    both = poisson(2 * size, mu, random=random)
    return both[:size] - both[size:]


def gaussian_noise(shape: int | tuple[int, ...], stddev: float, *, random: RandomSource = DEFAULT_RANDOM) -> np.ndarray:
    """Draw continuous N(0, stddev^2) noise by Box-Muller on 53-bit uniforms.

    Warning:
        A floating-point Gaussian, for the central (trusted-server) model
        only; see the module docstring on the float caveat.

    Args:
        shape: the output shape (an int or a tuple of non-negative ints).
        stddev: the standard deviation, finite and >= 0.
        random: the randomness source.

    Returns:
        A float64 array of ``shape``.

    Raises:
        TypeError: if ``shape`` or ``stddev`` has the wrong type.
        ValueError: if ``stddev`` is negative or not finite, or ``shape`` is
            negative or too large.
    """
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    if not isinstance(shape, tuple) or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) for n in shape):
        raise TypeError(f"shape must be an int or a tuple of ints, got {shape!r}")
    if any(n < 0 for n in shape):
        raise ValueError(f"shape must be non-negative, got {shape!r}")
    size = _check_size(math.prod(shape))
    stddev = _check_real("stddev", stddev, low=0.0, high=math.inf, low_open=False)
    pairs = (size + 1) // 2
    w = (random_uint64(random, 2 * pairs) >> np.uint64(11)).astype(np.float64)
    u1 = (w[:pairs] + 1.0) * _TWO_M53  # (0, 1]: log is finite
    u2 = w[pairs:] * _TWO_M53
    r = np.sqrt(-2.0 * np.log(u1))
    z = np.concatenate([r * np.cos(2.0 * math.pi * u2), r * np.sin(2.0 * math.pi * u2)])[:size]
    return (stddev * z).reshape(shape)


def add_central_gaussian(
    sum: np.ndarray, *, l2_clip: float, noise_multiplier: float, random: RandomSource = DEFAULT_RANDOM
) -> np.ndarray:
    """Return ``sum + N(0, (noise_multiplier * l2_clip)^2 I)`` (the central Gaussian mechanism).

    With each client's update clipped to L2 norm ``l2_clip``, this is the
    Gaussian mechanism with L2 sensitivity ``l2_clip`` (add/remove one
    client) and noise multiplier ``noise_multiplier``; the matching
    accounting event is ``GaussianDpEvent(noise_multiplier)``.

    Warning:
        The server that adds the noise sees the noiseless sum: this is the
        trusted-server model. Float caveat as :func:`gaussian_noise`.

    Args:
        sum: the clipped sum, a float array of any shape.
        l2_clip: the per-client clipping norm, finite and > 0.
        noise_multiplier: finite and >= 0.
        random: the randomness source.

    Returns:
        A new float64 array of the same shape.

    Raises:
        TypeError: if ``sum`` is not a real ndarray, or a parameter is not a number.
        ValueError: if a parameter is out of range or ``sum`` holds nan / inf.
    """
    if not isinstance(sum, np.ndarray) or sum.dtype.kind not in "iuf":
        raise TypeError(f"sum must be a real ndarray, got {type(sum).__name__}")
    if not np.isfinite(sum).all():
        raise ValueError("sum holds a non-finite value (nan or inf)")
    l2_clip = _check_real("l2_clip", l2_clip, low=0.0, high=math.inf, low_open=True)
    noise_multiplier = _check_real("noise_multiplier", noise_multiplier, low=0.0, high=math.inf, low_open=False)
    return sum.astype(np.float64) + gaussian_noise(sum.shape, noise_multiplier * l2_clip, random=random)
