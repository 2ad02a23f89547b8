"""Noise mechanisms: the central Gaussian and the discrete samplers of distributed DP.

Every sampler is driven by the injected randomness source (default: the OS
CSPRNG through :data:`dp.randomness.DEFAULT_RANDOM`), never by ``np.random``.
:func:`discrete_gaussian` is exact (Canonne, Kamath, Steinke 2020, in
integer arithmetic) up to cut events of probability below ``2^-369`` per
attempt; :func:`skellam` is a difference of two Poisson draws (PTRS rejection
for large means, log-PMF accurate to 1e-12): a float sampler, not a bit-exact
one. :func:`gaussian_noise` is a floating-point Gaussian for simulation and
the trusted-server central model only (float samples can leak, Mironov 2012).
How each sampler is built and how exact it is: SPEC chapter 41, section 41.2.

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
    "MIN_SIGMA_SQ",
    "add_central_gaussian",
    "discrete_gaussian",
    "discrete_gaussian_reference",
    "gaussian_noise",
    "poisson",
    "skellam",
]

MAX_SIGMA_SQ = 2.0**52
"""Largest discrete-Gaussian ``sigma^2`` accepted (its numerator fits the exact integer sampler)."""
MIN_SIGMA_SQ = 2.0**-20
"""Smallest discrete-Gaussian ``sigma^2`` accepted (its denominator fits the exact integer sampler)."""
MAX_MU = 1e13
"""Largest Poisson / Skellam ``mu`` accepted (float64 accuracy of PTRS's test)."""
MAX_SIZE = 2**31
_MAX_BATCH_ATTEMPTS = 1 << 20
_TWO_M53 = 2.0**-53
_PTRS_THRESHOLD = 10.0
_INT62 = 2**62
_DG_WORDS_PER_SAMPLE = 4  # about 200 bits are used on average (the kernel reports them); a refill tops up
_DG_MAX_BATCH_WORDS = 1 << 20  # words drawn per refill at most
_LN_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


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


# ---------------------------------------------------------------------------
# The exact discrete Gaussian: integer arithmetic only, on a bit stream. The
# helpers are closures inside the kernel (Numba inlines them; module-level
# helpers taking the ``words`` array cost a reference-count round trip per
# call, ten times the work). Each helper takes and returns the bit position
# ``p``; a value of -1 means the pool ran dry, and the kernel then hands the
# unfinished attempt back to the driver, which re-runs it from its first bit
# on a longer pool.


@numba.njit(cache=True, nogil=True, inline="always")
def _bit_length(x):  # pragma: no cover - compiled
    k = 0
    while x > 0:
        k += 1
        x >>= 1
    return k


@numba.njit(cache=True, nogil=True)
def _dgauss_kernel(words, out, start, first_bit, nbits, t, s, a, b, f, d, emax):  # pragma: no cover - compiled
    # Propose Y from the discrete Laplace of scale t/s and accept it with
    # probability exp(-f (a|Y| - b)^2 / d) (CKS 2020, Algorithm 3; see
    # _dgauss_parameters). Returns (next free index in out, first bit of the
    # unfinished attempt, or the next unused bit when out is full).
    tb = _bit_length(t - 1)
    db = _bit_length(d - 1)
    ymax = (_INT62 - 1) // a

    def below(p, m, mb):
        # Uniform in [0, m), 1 <= m <= 2**62, by rejection on mb = bit_length(m - 1) bits.
        if m <= 1:
            return 0, p
        while True:
            if p + mb > nbits:
                return -1, p
            wi = p >> 6
            off = p & 63
            x = words[wi] >> np.uint64(off)
            if off + mb > 64:
                x |= words[wi + 1] << np.uint64(64 - off)
            v = np.int64(x & np.uint64((1 << mb) - 1))
            p += mb
            if v < m:
                return v, p

    def bern_exp_frac(p, num, den, denb):
        # Bernoulli(exp(-num/den)), 0 <= num <= den (CKS 2020, Algorithm 1):
        # K <- 1; while Bernoulli(gamma / K): K <- K + 1; return K odd, with
        # Bernoulli(gamma / K) drawn as Bernoulli(1/K) and Bernoulli(num/den).
        k = 1
        while True:
            x, p = below(p, k, _bit_length(k - 1))
            if x < 0:
                return -1, p
            if x != 0:
                break
            x, p = below(p, den, denb)
            if x < 0:
                return -1, p
            if x >= num:
                break
            k += 1
        return k & 1, p

    def bern_exp(p, num, den, denb):
        # Bernoulli(exp(-num/den)), num >= 0: floor(num/den) coins of
        # Bernoulli(exp(-1)), then Bernoulli(exp(-remainder/den)).
        g = num // den
        for _ in range(g):
            c, p = bern_exp_frac(p, 1, 1, 0)
            if c != 1:
                return c, p
        return bern_exp_frac(p, num - g * den, den, denb)

    def laplace(p):
        # P(Y = y) ∝ exp(-|y| s / t) (CKS 2020, Algorithm 2, scale t/s): X is
        # geometric in steps of 1/t and Y = floor(X / s); an X above 2**62
        # (probability below exp(1 - 2**62 / t)) is rejected, not overflowed.
        # Returns (y, dry, p).
        while True:
            u, p = below(p, t, tb)
            if u < 0:
                return 0, True, p
            c, p = bern_exp_frac(p, u, t, tb)
            if c < 0:
                return 0, True, p
            if c == 0:
                continue
            v = 0
            while True:
                c, p = bern_exp_frac(p, 1, 1, 0)
                if c < 0:
                    return 0, True, p
                if c == 0:
                    break
                v += 1
            if v > (_INT62 - u) // t:
                continue
            y = (u + t * v) // s
            sign, p = below(p, 2, 1)
            if sign < 0:
                return 0, True, p
            if sign == 1 and y == 0:
                continue
            return (-y if sign == 1 else y), False, p

    p = first_bit
    i = start
    n = out.shape[0]
    while i < n:
        begin = p
        y, dry, p = laplace(p)
        if dry:
            return i, begin
        if abs(y) > ymax:  # a |y| would pass 2**62 (sigma < 1 only; probability below exp(-2**42))
            continue
        e = a * abs(y) - b
        if e < 0:
            e = -e
        if e > emax:  # f e^2 would pass 2**62; acceptance below exp(-256)
            continue
        c, p = bern_exp(p, f * e * e, d, db)
        if c < 0:
            return i, begin
        if c == 1:
            out[i] = y
            i += 1
    return i, p


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
def _stirlerr(n):  # pragma: no cover - compiled
    # lgamma(n + 1) - (n + 1/2) ln(n) + n - ln(sqrt(2 pi)), for n >= 1.
    if n <= 15.0:
        return math.lgamma(n + 1.0) - (n + 0.5) * math.log(n) + n - _LN_SQRT_2PI
    nn = n * n
    s0, s1, s2, s3, s4 = 1.0 / 12.0, 1.0 / 360.0, 1.0 / 1260.0, 1.0 / 1680.0, 1.0 / 1188.0
    if n > 500.0:
        return (s0 - s1 / nn) / n
    if n > 80.0:
        return (s0 - (s1 - s2 / nn) / nn) / n
    if n > 35.0:
        return (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / n
    return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n


@numba.njit(cache=True, nogil=True)
def _bd0(x, m):  # pragma: no cover - compiled
    # x ln(x / m) + m - x without cancellation (a series when x is near m).
    if abs(x - m) < 0.1 * (x + m):
        v = (x - m) / (x + m)
        s = (x - m) * v
        ej = 2.0 * x * v
        v = v * v
        for j in range(1, 1000):
            ej *= v
            s1 = s + ej / (2 * j + 1)
            if s1 == s:
                return s1
            s = s1
        return s
    return x * math.log(x / m) + m - x


@numba.njit(cache=True, nogil=True)
def _poisson_log_pmf(k, lam):  # pragma: no cover - compiled
    # ln(lam^k exp(-lam) / k!) for an integer-valued k >= 0 and lam > 0.
    if k == 0.0:
        return -lam
    return -_stirlerr(k) - _bd0(k, lam) - 0.5 * math.log(2.0 * math.pi * k)


@numba.njit(cache=True, nogil=True)
def _poisson_ptrs_kernel(words, out, start, lam):  # pragma: no cover - compiled
    i = start
    n = out.shape[0]
    nw = words.shape[0]
    shift = np.uint64(11)
    slam = math.sqrt(lam)
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
        if math.log(v) + log_invalpha - math.log(a / (us * us) + b) <= _poisson_log_pmf(k, lam):
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


def _dgauss_parameters(sigma_sq: object) -> tuple[int, ...]:
    """Validate ``sigma_sq``; return the integers ``(t, s, a, b, f, d, emax)`` of the kernel.

    With ``sigma^2 = num/den`` exactly, the proposal is the discrete Laplace
    of scale ``tau = t/s`` and the acceptance ``exp(-f (a|Y| - b)^2 / d)``
    equals ``exp(-(|Y| - sigma^2/tau)^2 / (2 sigma^2))``:

    * ``sigma >= 1``: ``c = floor(sigma)``, ``tau = sigma^2 / c``, so
      ``t = num, s = den c, a = 1, b = c, f = den, d = 2 num``;
    * ``sigma < 1``: ``sigma^2`` is first rounded *up* to the grid
      ``2^-20`` (at most ``2^-20`` more variance), ``tau = 1``, so
      ``t = s = 1, a = den, b = num, f = 1, d = 2 num den``.
    """
    sigma_sq = _check_real("sigma_sq", sigma_sq, low=MIN_SIGMA_SQ, high=MAX_SIGMA_SQ, low_open=False)
    if sigma_sq >= 1.0:
        num, den = sigma_sq.as_integer_ratio()
        c = math.isqrt(num // den)
        t, s, a, b, f, d = num, den * c, 1, c, den, 2 * num
    else:
        num, den = math.ceil(sigma_sq * 2**20), 2**20
        g = math.gcd(num, den)
        num, den = num // g, den // g
        t, s, a, b, f, d = 1, 1, den, num, 1, 2 * num * den
    emax = math.isqrt((_INT62 - 1) // f)  # f e^2 < 2**62 for e <= emax
    return t, s, a, b, f, d, emax


def discrete_gaussian(size: int, sigma_sq: float, *, random: RandomSource = DEFAULT_RANDOM) -> np.ndarray:
    """Draw ``size`` independent discrete Gaussians ``P(x) ∝ exp(-x^2 / (2 sigma_sq))``.

    The exact sampler of Canonne, Kamath and Steinke (2020) in integer
    arithmetic, for ``sigma_sq`` taken as the exact rational value of its
    float; see SPEC section 41.2 for the two cut events of probability
    below ``exp(-256)``. Note that the variance of the discrete Gaussian is
    slightly *below* ``sigma_sq`` (by 2.1e-7 relative at ``sigma_sq = 1``,
    1.6e-11 at 1.5, and less above).

    Random bits are drawn from ``random`` in batches; an attempt that runs
    past the end of a batch is re-run from its first bit once more bits are
    appended, so the output is the same function of the bit stream whatever
    the batch sizes.

    Args:
        size: number of samples (0..2**31).
        sigma_sq: the scale parameter sigma^2, in [MIN_SIGMA_SQ, MAX_SIGMA_SQ].
        random: the randomness source.

    Returns:
        An ``int64`` array of shape ``(size,)``.

    Raises:
        TypeError: if ``size`` is not an int or ``sigma_sq`` not a real number.
        ValueError: if either is out of range.
    """
    size = _check_size(size)
    params = _dgauss_parameters(sigma_sq)
    out = np.empty(size, dtype=np.int64)
    filled, first_bit = 0, 0
    pool = np.empty(0, dtype=np.uint64)
    while filled < size:
        fresh = min(_DG_MAX_BATCH_WORDS, (size - filled) * _DG_WORDS_PER_SAMPLE + 16)
        pool = np.concatenate([pool, random_uint64(random, fresh)])
        filled, begin = _dgauss_kernel(pool, out, filled, first_bit, 64 * pool.size, *params)
        pool, first_bit = pool[begin // 64 :], begin % 64  # keep the unfinished attempt's bits
    return out


def discrete_gaussian_reference(words: np.ndarray, sigma_sq: float) -> np.ndarray:
    """Pure-Python reference of the discrete-Gaussian kernel over given words.

    Reads ``words`` as one little-endian bit stream and runs the same
    algorithm with Python integers (no overflow possible), returning the
    samples of every attempt that finishes within the stream, in order. For
    tests: :func:`discrete_gaussian` must give the same samples from the same
    words.

    Args:
        words: a ``uint64`` array.
        sigma_sq: as :func:`discrete_gaussian`.

    Returns:
        The accepted ``int64`` samples.

    Raises:
        TypeError: if ``words`` is not a uint64 array.
        ValueError: if ``sigma_sq`` is out of range.
    """
    if not isinstance(words, np.ndarray) or words.dtype != np.uint64:
        raise TypeError("words must be a uint64 ndarray")
    t, s, a, b, f, d, emax = _dgauss_parameters(sigma_sq)
    stream = int.from_bytes(words.astype("<u8").tobytes(), "little")
    total = 64 * words.size
    pos = 0

    class _Dry(Exception):
        pass

    def bits(k: int) -> int:
        nonlocal pos
        if pos + k > total:
            raise _Dry
        x = (stream >> pos) & ((1 << k) - 1)
        pos += k
        return x

    def below(m: int) -> int:
        if m <= 1:
            return 0
        k = (m - 1).bit_length()
        while (x := bits(k)) >= m:
            pass
        return x

    def bern_exp_frac(n: int, m: int) -> int:
        k = 1
        while below(k) == 0 and below(m) < n:
            k += 1
        return k & 1

    def bern_exp(n: int, m: int) -> int:
        g, r = divmod(n, m)
        return int(all(bern_exp_frac(1, 1) for _ in range(g)) and bern_exp_frac(r, m))

    def laplace() -> int:
        while True:
            u = below(t)
            if not bern_exp_frac(u, t):
                continue
            v = 0
            while bern_exp_frac(1, 1):
                v += 1
            if u + t * v > _INT62:
                continue
            y = (u + t * v) // s
            sign = bits(1)
            if sign and y == 0:
                continue
            return -y if sign else y

    out = []
    try:
        while True:
            y = laplace()
            e = abs(a * abs(y) - b)
            if abs(y) <= (_INT62 - 1) // a and e <= emax and bern_exp(f * e * e, d):
                out.append(y)
    except _Dry:
        pass
    return np.array(out, dtype=np.int64)


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
        only; see SPEC section 41.2 on the float caveat.

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
