"""SecAgg+ parameter finder: the sparsest Harary graph and a threshold that are safe.

Given ``n``, the largest dropout and adversarial fractions and the threat
model, :func:`find_parameters` returns the smallest even number of neighbours
``k`` and a Shamir threshold ``t`` such that security fails with probability
at most ``2^-40`` (the graph stays connected and no honest client has enough
corrupted share holders: one budget for both events) and the round fails with
probability below ``2^-20``; if no sparse graph qualifies it falls back to the complete graph,
and if even that fails it raises ``ValueError``. Every decision is exact
(a floating-point scan proposes, integer arithmetic confirms). The three rules
and the worst-case counts are in SPEC.md, chapter "Parameters and graphs",
section "Choosing k and t".

>>> c = find_parameters(n_clients=1000, dropout_rate=0.1, adversarial_rate=0.05, threat="semi-honest")
>>> c.graph.value, c.neighbors, c.threshold
('harary', 34, 18)
>>> find_parameters(n_clients=4, dropout_rate=0.25, adversarial_rate=0.25, threat="semi-honest").graph.value
'complete'
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from secagg.kinds import MAX_CLIENTS, GraphKind, ThreatModel

__all__ = [
    "DEFAULT_FAILURE_BITS",
    "DEFAULT_SECURITY_BITS",
    "ParameterChoice",
    "complete_parameters",
    "find_parameters",
    "harary_disconnection_log2_bound",
    "hypergeometric_lower_tail",
    "hypergeometric_upper_tail",
    "worst_case_count",
]

DEFAULT_SECURITY_BITS = 40
"""Statistical security: the adversary wins with probability at most ``2^-40``."""

DEFAULT_FAILURE_BITS = 20
"""Correctness: the round fails with probability below ``2^-20``."""

SEMI_HONEST_RATE_LIMIT = 0.9
"""Refuse ``adversarial_rate + dropout_rate`` above this (semi-honest), or
``adversarial_rate + 2 * dropout_rate`` (semi-malicious, active); as fcp."""

_RATE_TOLERANCE = 1e-9
_FLOAT_SLACK = 1e-6  # relative slack that keeps the float pre-filter permissive


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ParameterChoice:
    """What the finder chose, and why.

    Attributes:
        graph: :class:`GraphKind.HARARY` or :class:`GraphKind.COMPLETE`.
        neighbors: ``k`` (``n - 1`` for the complete graph).
        threshold: ``t``, the smallest threshold meeting the security rule.
        max_threshold: the largest threshold that still meets the failure
            bound (``min(z, k + 1)``); any ``t`` in
            ``[threshold, max_threshold]`` is safe.
        adversarial_bound: ``a``, the high-probability bound on the corrupted
            holders of every honest client (rules 1 and 2 share the ``2^-s``).
        survivor_bound: ``z``, the largest threshold that every client's
            surviving holders meet except with probability below ``2^-f``.
        note: one sentence explaining the choice.
    """

    graph: GraphKind
    neighbors: int
    threshold: int
    max_threshold: int
    adversarial_bound: int
    survivor_bound: int
    note: str


# --------------------------------------------------------------------------- exact tails


def _check_hypergeometric(population: int, successes: int, draws: int) -> None:
    for name, value in (("population", population), ("successes", successes), ("draws", draws)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if population < 0 or not 0 <= successes <= population or not 0 <= draws <= population:
        raise ValueError(
            f"need 0 <= successes, draws <= population, got population={population}, "
            f"successes={successes}, draws={draws}"
        )


_TERMS: dict[tuple[int, int, int], tuple[int, int]] = {}
_WALK = 64


def _term(N: int, K: int, h: int, j: int) -> int:
    """Return ``C(K, j) C(N - K, h - j)`` (``j`` inside the support), exactly.

    The finder asks for terms next to ones it just computed (the next ``x``,
    the next ``K``): those are reached from a cached term by the exact ratio
    recurrences, a few small multiplications and exact divisions instead of
    two binomials of 10^5 bits each.
    """
    hit = _TERMS.get((N, K, h))
    if hit is None or abs(hit[0] - j) > _WALK:
        up = _TERMS.get((N, K + 1, h))  # C(K+1, j) C(N-K-1, h-j) (K+1-j)(N-K) = C(K, j) C(N-K, h-j) (K+1)(N-K-h+j)
        if up is not None and abs(up[0] - j) <= _WALK and N - K - h + j >= 1:
            term = _term(N, K + 1, h, j) * (K + 1 - j) * (N - K) // ((K + 1) * (N - K - h + j))
        else:
            term = math.comb(K, j) * math.comb(N - K, h - j)
    else:
        j0, term = hit
        while j0 < j:
            term = term * (K - j0) * (h - j0) // ((j0 + 1) * (N - K - h + j0 + 1))
            j0 += 1
        while j0 > j:
            term = term * j0 * (N - K - h + j0) // ((K - j0 + 1) * (h - j0 + 1))
            j0 -= 1
    if len(_TERMS) >= 64:
        _TERMS.clear()
    _TERMS[(N, K, h)] = (j, term)
    return term


def _count_between(N: int, K: int, h: int, lo: int, hi: int) -> int:
    """Return ``sum_{lo <= j <= hi} C(K, j) C(N - K, h - j)`` exactly."""
    lo = max(lo, 0, h - (N - K))
    hi = min(hi, K, h)
    if lo > hi:
        return 0
    term = _term(N, K, h, lo)
    total = term
    for j in range(lo, hi):
        # C(K, j+1) C(N-K, h-j-1) = C(K, j) C(N-K, h-j) (K-j)(h-j) / ((j+1)(N-K-h+j+1)), an exact division
        term = term * (K - j) * (h - j) // ((j + 1) * (N - K - h + j + 1))
        total += term
    return total


_EXACT_TERMS = 256
"""Tails of at most this many terms are summed exactly; longer ones are bounded (:func:`_tail_count_bound`)."""


def _tail_count_bound(N: int, K: int, h: int, lo: int, hi: int, *, upper: bool) -> int:
    """An integer ``>= _count_between(N, K, h, lo, hi)``, exact for short tails.

    For a tail beyond the mode the hypergeometric terms fall off with a ratio
    that only shrinks further out (the pmf is log-concave), so the tail is at
    most its first term times ``1 / (1 - r)`` with ``r`` the first ratio, a
    geometric bound computed exactly with integers. Used where tails span
    thousands of terms of 10^5-bit integers (``k`` in the thousands at
    ``n = 10^6``): the finder then decides with a bound that can only make it
    more conservative (a larger ``a``, a smaller ``z``), never less safe.
    """
    lo = max(lo, 0, h - (N - K))
    hi = min(hi, K, h)
    if hi - lo < _EXACT_TERMS:
        return _count_between(N, K, h, lo, hi)
    if upper:  # terms j = lo, lo+1, ...: ratio (K-j)(h-j) / ((j+1)(N-K-h+j+1)) at j = lo
        first = _term(N, K, h, lo)
        num, den = (K - lo) * (h - lo), (lo + 1) * (N - K - h + lo + 1)
    else:  # terms j = hi, hi-1, ...: ratio j(N-K-h+j) / ((K-j+1)(h-j+1)) at j = hi
        first = _term(N, K, h, hi)
        num, den = hi * (N - K - h + hi), (K - hi + 1) * (h - hi + 1)
    if num >= den:  # not beyond the mode: no geometric bound, sum exactly
        return _count_between(N, K, h, lo, hi)
    return -(-first * den // (den - num))


def hypergeometric_upper_tail(population: int, successes: int, draws: int, x: int) -> float:
    """Return ``P[X >= x]`` for ``X ~ HG(population, successes, draws)``.

    Computed exactly with integers, then rounded once to the nearest float.

    Args:
        population: ``N``, the number of items.
        successes: ``K``, the number of marked items.
        draws: ``h``, the number drawn without replacement.
        x: the bound (any int).

    Returns:
        ``sum_{j >= x} C(K, j) C(N - K, h - j) / C(N, h)``.

    Raises:
        TypeError: if an argument is not an int.
        ValueError: unless ``0 <= successes, draws <= population``.
    """
    _check_hypergeometric(population, successes, draws)
    if isinstance(x, bool) or not isinstance(x, int):
        raise TypeError(f"x must be an int, got {type(x).__name__}")
    return _count_between(population, successes, draws, x, draws) / math.comb(population, draws)


def hypergeometric_lower_tail(population: int, successes: int, draws: int, x: int) -> float:
    """Return ``P[X <= x]`` for ``X ~ HG(population, successes, draws)``.

    Computed exactly with integers, then rounded once to the nearest float.

    Args:
        population: ``N``, the number of items.
        successes: ``K``, the number of marked items.
        draws: ``h``, the number drawn without replacement.
        x: the bound (any int).

    Returns:
        ``sum_{j <= x} C(K, j) C(N - K, h - j) / C(N, h)``.

    Raises:
        TypeError: if an argument is not an int.
        ValueError: unless ``0 <= successes, draws <= population``.
    """
    _check_hypergeometric(population, successes, draws)
    if isinstance(x, bool) or not isinstance(x, int):
        raise TypeError(f"x must be an int, got {type(x).__name__}")
    return _count_between(population, successes, draws, 0, x) / math.comb(population, draws)


def harary_disconnection_log2_bound(n_clients: int, k: int, removed: int) -> float:
    """Return ``log2`` of the union bound on the randomly relabelled ``H(k, n)`` disconnecting.

    With ``removed`` clients removed at uniformly random ring positions, the
    graph on the rest disconnects only if two disjoint, non-adjacent runs of
    ``k/2`` consecutive positions are all removed. There are
    ``n (n - k - 1) / 2`` such pairs of runs, and a given set of ``k``
    positions is all removed with probability ``C(n - k, B - k) / C(n, B)``.

    Args:
        n_clients: ``n``, the ring size.
        k: the even degree, ``2 <= k < n - 1``.
        removed: ``B``, the number of removed clients, ``0 <= B <= n``.

    Returns:
        ``log2(n (n - k - 1) / 2 * C(n - k, B - k) / C(n, B))``, or
        ``-inf`` when ``B < k``.

    Raises:
        TypeError: if an argument is not an int.
        ValueError: if an argument is out of range.
    """
    for name, value in (("n_clients", n_clients), ("k", k), ("removed", removed)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if k < 2 or k % 2 or k >= n_clients - 1:
        raise ValueError(f"k must be even with 2 <= k < n_clients - 1 = {n_clients - 1}, got {k}")
    if not 0 <= removed <= n_clients:
        raise ValueError(f"removed must be in [0, {n_clients}], got {removed}")
    if removed < k:
        return -math.inf
    pairs = n_clients * (n_clients - k - 1)
    num = pairs * math.comb(n_clients - k, removed - k)
    den = 2 * math.comb(n_clients, removed)
    return math.log2(num) - math.log2(den)


# --------------------------------------------------------------------------- validation


def _check_rate(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if not 0.0 <= v < 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return v


def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")
    return int(value)


def _check_threat(value: object) -> ThreatModel:
    if isinstance(value, ThreatModel):
        return value
    if not isinstance(value, str):
        raise TypeError(f"threat must be a ThreatModel or its string value, got {type(value).__name__}")
    try:
        return ThreatModel(value)
    except ValueError:
        raise ValueError(f"threat must be one of {[m.value for m in ThreatModel]}, got {value!r}") from None


def worst_case_count(rate: float, n_clients: int) -> int:
    """Return ``floor(rate * n + 1e-9)``, the most clients a fraction ``rate`` of ``n`` allows.

    "At most a fraction ``rate``" of ``n`` clients is at most
    ``floor(rate * n)`` of them; the tolerance keeps
    ``0.29 * 100 = 28.999999999999996`` at 29.

    Args:
        rate: a fraction of the clients, ``0 <= rate < 1`` (a real number).
        n_clients: the number of clients, ``2 <= n_clients <= 2**20``.

    Returns:
        The count as an ``int`` in ``[0, n_clients - 1]``.

    Raises:
        TypeError: if ``rate`` is not a real number or ``n_clients`` is not an
            int (``bool`` is refused for both).
        ValueError: if ``rate`` is not in ``[0, 1)`` (including NaN) or
            ``n_clients`` is not in ``[2, 2**20]``.
    """
    rate = _check_rate("rate", rate)
    n = _check_int("n_clients", n_clients, 2, MAX_CLIENTS)
    return min(n - 1, math.floor(rate * n + _RATE_TOLERANCE))


def _validate(n_clients, dropout_rate, adversarial_rate, threat, security_bits, failure_bits):
    n = _check_int("n_clients", n_clients, 2, MAX_CLIENTS)
    delta = _check_rate("dropout_rate", dropout_rate)
    alpha = _check_rate("adversarial_rate", adversarial_rate)
    threat = _check_threat(threat)
    s = _check_int("security_bits", security_bits, 1, 128)
    f = _check_int("failure_bits", failure_bits, 1, 64)
    if threat is ThreatModel.SEMI_HONEST:
        if alpha + delta > SEMI_HONEST_RATE_LIMIT + _RATE_TOLERANCE:
            raise ValueError(
                f"infeasible: the semi-honest model needs adversarial_rate + dropout_rate <= 0.9, "
                f"got {alpha} + {delta} = {alpha + delta:.6g}"
            )
    elif alpha + 2 * delta > SEMI_HONEST_RATE_LIMIT + _RATE_TOLERANCE:
        raise ValueError(
            f"infeasible: the {threat.value} model needs adversarial_rate + 2 * dropout_rate <= 0.9, "
            f"got {alpha} + 2 * {delta} = {alpha + 2 * delta:.6g}"
        )
    return n, delta, alpha, threat, s, f


# --------------------------------------------------------------------------- the search


_STIRLING_FROM = 32


@functools.cache
def _log_factorials() -> np.ndarray:
    """``log(i!)`` for ``i = 0..MAX_CLIENTS``: ``math.lgamma`` below 32, Stirling's series above.

    The series ``(m - 1/2) log m - m + log(2 pi)/2 + 1/(12m) - 1/(360m^3) +
    1/(1260m^5)`` for ``log Gamma(m)``, ``m = i + 1 >= 33``, is off by less
    than ``1/(1680 m^7) < 1e-13``, below float rounding of the values; it
    only proposes candidates, which the exact integer rules then confirm.
    """
    out = np.empty(MAX_CLIENTS + 1, dtype=np.float64)
    out[:_STIRLING_FROM] = [math.lgamma(i + 1) for i in range(_STIRLING_FROM)]
    m = np.arange(_STIRLING_FROM + 1, MAX_CLIENTS + 2, dtype=np.float64)  # Gamma(m) = (m - 1)!
    inv = 1.0 / m
    inv2 = inv * inv
    out[_STIRLING_FROM:] = (
        (m - 0.5) * np.log(m) - m + 0.5 * math.log(2 * math.pi) + inv * (1 / 12 - inv2 * (1 / 360 - inv2 / 1260))
    )
    return out


def _pmf(N: int, K: int, h: int, *, upper: bool) -> tuple[int, np.ndarray]:
    """Float pmf of HG(N, K, h) on the upper (or lower) half of its support, and the first point.

    Every tail quantile the finder needs lies beyond the median, which is
    within one of the mean ``hK/N``, so half the support suffices.
    """
    lf = _log_factorials()
    jmin, jmax = max(0, h - (N - K)), min(K, h)
    mean = h * K // N
    if upper:
        jmin = max(jmin, min(jmax, mean - 1))
    else:
        jmax = min(jmax, max(jmin, mean + 2))
    # log C(K, j) + log C(N-K, h-j) - log C(N, h) for j = jmin..jmax, with slices (views) not gathers
    lf_j = lf[jmin : jmax + 1]
    lf_k_minus_j = lf[K - jmax : K - jmin + 1][::-1]
    lf_h_minus_j = lf[h - jmax : h - jmin + 1][::-1]
    lf_rest = lf[N - K - h + jmin : N - K - h + jmax + 1]
    const = lf[K] + lf[N - K] - (lf[N] - lf[h] - lf[N - h])
    return jmin, np.exp(const - lf_j - lf_k_minus_j - lf_h_minus_j - lf_rest)


@functools.lru_cache(maxsize=64)
def _comb(N: int, h: int) -> int:
    return math.comb(N, h)


class _Rules:
    """The three rules for fixed (n, A, D, threat, bits), float and exact."""

    def __init__(self, n: int, A: int, D: int, threat: ThreatModel, s: int, f: int) -> None:
        self.n, self.A, self.D, self.threat, self.s, self.f = n, A, D, threat, s, f
        self.B = min(A + D, n)
        self.H = n - A  # honest clients: the union bound of rule 2 runs over them
        self.target_f = 2.0**-f
        self._p1: dict[int, tuple[int, int]] = {}
        self._p1_ceiling: dict[int, int] = {}

    # rule 1 ---------------------------------------------------------------
    def disconnection_log(self, k: int) -> float:
        """``log`` of the union bound on disconnection (``-inf`` when ``B < k``), in floats."""
        n, B = self.n, self.B
        if B < k or k >= n - 1:  # the complete graph never disconnects
            return -math.inf
        lf = _log_factorials()
        return (
            math.log(n) + math.log(n - k - 1) - math.log(2)
            + (lf[n - k] - lf[B - k] - lf[n - B]) - (lf[n] - lf[B] - lf[n - B])
        )

    def disconnection_exact(self, k: int) -> tuple[int, int]:
        """The same bound as an exact fraction ``(num, den)``."""
        if k not in self._p1:
            n, B = self.n, self.B
            if B < k or k >= n - 1:
                self._p1[k] = (0, 1)
            else:
                # C(n - k, B - k) / C(n, B) = B! (n - k)! / ((B - k)! n!) = perm(B, k) / perm(n, k)
                self._p1[k] = (n * (n - k - 1) * math.perm(B, k), 2 * math.perm(n, k))
        return self._p1[k]

    def connected_float(self, k: int) -> bool:
        return self.disconnection_log(k) <= -self.s * math.log(2) + _FLOAT_SLACK

    def connected_exact(self, k: int) -> bool:
        num, den = self.disconnection_exact(k)
        return num * 2**self.s <= den

    # rule 2 ---------------------------------------------------------------
    def disconnection_ceiling(self, k: int) -> int:
        """``P`` with ``p1 <= P / 2^M``, ``M = s + 64``: rule 1's bound rounded up, so rule 2 works with small numbers."""
        if k not in self._p1_ceiling:
            num, den = self.disconnection_exact(k)
            self._p1_ceiling[k] = -(-(num << (self.s + 64)) // den)
        return self._p1_ceiling[k]

    def _adv_ok_exact(self, k: int, x: int) -> bool:  # P / 2^M + H P[Y > x] <= 2^-s, M = s + 64
        N, M = self.n - 1, self.s + 64
        c = _comb(N, k)
        tail = _tail_count_bound(N, self.A, k, x + 1, k, upper=True)
        return (self.H * tail) << M <= c * ((1 << 64) - self.disconnection_ceiling(k))

    def adversarial_bound(self, k: int, exact: bool) -> int:
        p1 = math.exp(self.disconnection_log(k))
        budget = (2.0**-self.s - p1 * (1 - _FLOAT_SLACK)) / self.H * (1 + _FLOAT_SLACK)
        jmin, pmf = _pmf(self.n - 1, self.A, k, upper=True)
        tail_gt = np.append(np.cumsum(pmf[::-1])[::-1][1:], 0.0)  # tail_gt[i] = P[X > jmin + i]
        a = jmin + int(np.argmax(tail_gt <= budget))
        if exact:
            while not self._adv_ok_exact(k, a):
                a += 1
            while a > 0 and self._adv_ok_exact(k, a - 1):
                a -= 1
        return a

    # rule 3 ---------------------------------------------------------------
    def _surv_ok_exact(self, k: int, z: int) -> bool:  # D P[Z <= z - 1] + (n - D) P[Z' <= z - 2] < 2^-f
        N, n, D = self.n - 1, self.n, self.D
        dropped = _tail_count_bound(N, n - D, k, 0, z - 1, upper=False)
        alive = _tail_count_bound(N, n - D - 1, k, 0, z - 2, upper=False)
        return (D * dropped + (n - D) * alive) * 2**self.f < _comb(N, k)

    def survivor_bound(self, k: int, exact: bool) -> int:
        if self.D == 0:
            return k + 1
        N, n, D = self.n - 1, self.n, self.D
        jz, cdf_z = self._lower_cdf(N, n - D, k)
        jy, cdf_y = self._lower_cdf(N, n - D - 1, k)
        ts = np.arange(jz, jz + len(cdf_z) + 1)  # candidate thresholds z: P[Z <= z - 1] is known for them

        def at(j0: int, cdf: np.ndarray, x: np.ndarray) -> np.ndarray:
            return np.where(x < j0, 0.0, cdf[np.clip(x - j0, 0, len(cdf) - 1)])

        fail = D * at(jz, cdf_z, ts - 1) + (n - D) * at(jy, cdf_y, ts - 2)
        ok = fail < self.target_f * (1 + _FLOAT_SLACK)
        z = int(ts[ok][-1]) if ok.any() else jz
        z = min(z, k)
        if exact:
            while z > 0 and not self._surv_ok_exact(k, z):
                z -= 1
            while z < k and self._surv_ok_exact(k, z + 1):
                z += 1
        return z

    @staticmethod
    def _lower_cdf(N: int, K: int, h: int) -> tuple[int, np.ndarray]:
        jmin, pmf = _pmf(N, K, h, upper=False)
        return jmin, np.cumsum(pmf)

    def threshold_range(self, k: int, exact: bool) -> tuple[int, int, int, int]:
        a = self.adversarial_bound(k, exact)
        z = self.survivor_bound(k, exact)
        if self.threat is ThreatModel.SEMI_HONEST:
            t_lo = a + 1
        else:
            t_lo = (k + 1 + a) // 2 + 1
        return max(2, t_lo), min(z, k + 1), a, z


_LINEAR_SCAN = 512
"""Every even degree below this is tried in order; above it the search gallops (see :func:`_candidate_degrees`)."""

_BACKTRACK = 128
"""How far below the galloping search's boundary the ordered scan restarts."""


def _float_ok(rules: _Rules, k: int) -> bool:
    if not rules.connected_float(k):
        return False
    t_lo, t_hi, _, _ = rules.threshold_range(k, exact=False)
    return t_lo <= t_hi


def _candidate_degrees(n: int, rules: _Rules):
    """The even degrees ``2 <= k < n - 1`` to try, in increasing order.

    Below :data:`_LINEAR_SCAN` every even degree, in order. Beyond it (large
    cohorts near the rate limits, where ``k`` reaches thousands and trying each
    one costs seconds) the float rules are galloped (doubling, then bisection)
    to the first degree that passes them, and the ordered scan restarts
    :data:`_BACKTRACK` below it. The rules pass from some degree on (more
    neighbours only help, up to parity wiggles of a few), so the degree found
    is the smallest up to wiggles wider than the backtrack window; every
    degree returned is still confirmed by the exact rules.
    """
    stop = n - 1
    yield from range(2, min(_LINEAR_SCAN, stop), 2)
    if _LINEAR_SCAN >= stop:
        return
    lo, hi = _LINEAR_SCAN - 2, _LINEAR_SCAN  # lo fails (it was scanned), hi is the next to test
    while hi < stop and not _float_ok(rules, hi):
        lo, hi = hi, min(2 * hi, stop - 1 - (stop - 1) % 2)
        if hi <= lo:
            break
    while hi - lo > 2:  # lo fails, hi passes (or is the last even degree)
        mid = (lo + hi) // 4 * 2
        if mid <= lo:
            break
        if _float_ok(rules, mid):
            hi = mid
        else:
            lo = mid
    yield from range(max(_LINEAR_SCAN, hi - _BACKTRACK), stop, 2)


def _describe(n: int, A: int, D: int) -> str:
    return f"A={A} corrupted and D={D} dropped of n={n} clients"


@functools.lru_cache(maxsize=256)
def _find(
    n: int, delta: float, alpha: float, threat: ThreatModel, s: int, f: int, complete_only: bool
) -> ParameterChoice:
    A = worst_case_count(alpha, n)
    D = worst_case_count(delta, n)
    rules = _Rules(n, A, D, threat, s, f)
    if not complete_only and threat is not ThreatModel.ACTIVE:
        for k in _candidate_degrees(n, rules):
            if not rules.connected_float(k):
                continue
            t_lo, t_hi, _, _ = rules.threshold_range(k, exact=False)
            if t_lo > t_hi:  # the float targets carry a relative slack, so this never drops a good k
                continue
            if not rules.connected_exact(k):
                continue
            t_lo, t_hi, a, z = rules.threshold_range(k, exact=True)
            if t_lo <= t_hi:
                return ParameterChoice(
                    graph=GraphKind.HARARY,
                    neighbors=k,
                    threshold=t_lo,
                    max_threshold=t_hi,
                    adversarial_bound=a,
                    survivor_bound=z,
                    note=(
                        f"SecAgg+ Harary graph: the smallest even degree meeting 2^-{s} security and "
                        f"2^-{f} failure for {_describe(n, A, D)}"
                    ),
                )
    k = n - 1
    t_lo, t_hi, a, z = rules.threshold_range(k, exact=True)
    if t_lo > t_hi:
        raise ValueError(
            f"no graph meets the bounds for n_clients={n}, dropout_rate={delta}, adversarial_rate={alpha}, "
            f"threat={threat.value}: even the complete graph needs threshold >= {t_lo} "
            f"but only {t_hi} surviving holders are guaranteed ({_describe(n, A, D)})"
        )
    if threat is ThreatModel.ACTIVE:
        note = (
            f"the active model needs the complete graph (its signed survivor set binds every client); "
            f"threshold meeting the bounds for {_describe(n, A, D)}"
        )
    elif complete_only:
        note = f"complete graph (SecAgg) as requested, threshold meeting the bounds for {_describe(n, A, D)}"
    elif n <= 3:
        note = f"no sparse degree below n-1 exists for n={n}; using the complete graph"
    else:
        note = (
            f"no sparse degree below n-1 meets the bounds for {_describe(n, A, D)}; using the complete graph"
        )
    return ParameterChoice(
        graph=GraphKind.COMPLETE,
        neighbors=k,
        threshold=t_lo,
        max_threshold=t_hi,
        adversarial_bound=a,
        survivor_bound=z,
        note=note,
    )


def find_parameters(
    *,
    n_clients: int,
    dropout_rate: float,
    adversarial_rate: float,
    threat: ThreatModel | str,
    security_bits: int = DEFAULT_SECURITY_BITS,
    failure_bits: int = DEFAULT_FAILURE_BITS,
) -> ParameterChoice:
    """Return the smallest even degree ``k`` and the smallest safe threshold ``t``.

    The rules are in the module docstring and, with their derivation, in the
    chapter "Parameters and graphs". Results are cached per argument tuple.

    Args:
        n_clients: ``n``, ``2..2**20``.
        dropout_rate: the largest fraction of clients that drop out (at any
            phase), in ``[0, 1)``.
        adversarial_rate: the largest fraction of clients that collude with
            the server, in ``[0, 1)``.
        threat: :class:`ThreatModel` or its string value.
        security_bits: ``s``: the adversary wins with probability at most
            ``2^-s`` (disconnection and too many corrupted holders together),
            ``1..128``.
        failure_bits: ``f``: the round fails with probability below ``2^-f``,
            ``1..64``.

    Returns:
        A :class:`ParameterChoice`: a Harary graph, or the complete graph (with
        a note saying why) when no even ``k < n - 1`` meets the bounds or the
        threat model is active (which needs the complete graph, see
        :class:`secagg.Params`).

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if an argument is out of range; if
            ``adversarial_rate + dropout_rate > 0.9`` (semi-honest) or
            ``adversarial_rate + 2 * dropout_rate > 0.9`` (semi-malicious,
            active); or if even the complete graph cannot meet the bounds. The
            message names the numbers.

    Warning:
        The rates are worst cases, not averages: if more clients than
        ``floor(dropout_rate * n)`` drop out the round may abort, and if more
        than ``floor(adversarial_rate * n)`` collude with the server (more
        than the fraction given) the ``2^-40`` bound no longer holds. The analysis also assumes that the
        corrupted and dropped clients do not depend on the graph seed (see
        :func:`secagg.protocol.graph.harary_neighbors`).
    """
    args = _validate(n_clients, dropout_rate, adversarial_rate, threat, security_bits, failure_bits)
    return _find(*args, complete_only=False)


def complete_parameters(
    *,
    n_clients: int,
    dropout_rate: float,
    adversarial_rate: float,
    threat: ThreatModel | str,
    security_bits: int = DEFAULT_SECURITY_BITS,
    failure_bits: int = DEFAULT_FAILURE_BITS,
) -> ParameterChoice:
    """Return the complete graph (SecAgg) with the smallest threshold meeting the same bounds.

    With ``k = n - 1`` the counts are deterministic: ``a = A`` and ``z = n - D``
    (``n`` when ``D = 0``), so ``t = A + 1`` (semi-honest) or
    ``t = floor((n + A) / 2) + 1`` (semi-malicious, active), provided ``t <= z``.

    Args:
        n_clients, dropout_rate, adversarial_rate, threat, security_bits,
        failure_bits: as :func:`find_parameters`.

    Returns:
        A :class:`ParameterChoice` with ``graph = GraphKind.COMPLETE``.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: as :func:`find_parameters`, including when the complete
            graph cannot meet the bounds.
    """
    args = _validate(n_clients, dropout_rate, adversarial_rate, threat, security_bits, failure_bits)
    return _find(*args, complete_only=True)
