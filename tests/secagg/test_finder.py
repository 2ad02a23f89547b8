"""The SecAgg+ parameter finder, checked against scipy.stats.hypergeom and brute force."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from secagg.params import GraphKind, Params, ThreatModel
from secagg.finder import (
    complete_parameters,
    find_parameters,
    harary_disconnection_log2_bound,
    hypergeometric_lower_tail,
    hypergeometric_upper_tail,
    worst_case_count,
)

SEMI = ThreatModel.SEMI_HONEST
MAL = ThreatModel.SEMI_MALICIOUS


# --------------------------------------------------------------------------- exact tails against scipy


@st.composite
def hypergeometric_cases(draw):
    population = draw(st.integers(1, 3000))
    successes = draw(st.integers(0, population))
    draws = draw(st.integers(0, population))
    x = draw(st.integers(-2, draws + 2))
    return population, successes, draws, x


def close(ours: float, theirs: float) -> bool:
    if ours < 1e-280 and theirs < 1e-280:
        return True
    return math.isclose(ours, theirs, rel_tol=1e-7, abs_tol=0.0)


@given(hypergeometric_cases())
def test_upper_tail_matches_scipy_survival_function(case):
    population, successes, draws, x = case
    theirs = float(scipy.stats.hypergeom(population, successes, draws).sf(x - 1))
    assert close(hypergeometric_upper_tail(population, successes, draws, x), theirs)


@given(hypergeometric_cases())
def test_lower_tail_matches_scipy_cdf(case):
    population, successes, draws, x = case
    theirs = float(scipy.stats.hypergeom(population, successes, draws).cdf(x))
    assert close(hypergeometric_lower_tail(population, successes, draws, x), theirs)


@pytest.mark.parametrize(
    ("population", "successes", "draws", "x"),
    [(65534, 3277, 46, 22), (65534, 58982, 86, 30), (9999, 500, 42, 21), (65534, 19661, 594, 300)],
)
def test_tails_at_the_largest_cohorts_match_scipy_deep_in_the_tail(population, successes, draws, x):
    h = scipy.stats.hypergeom(population, successes, draws)
    assert close(hypergeometric_upper_tail(population, successes, draws, x), float(h.sf(x - 1)))
    assert close(hypergeometric_lower_tail(population, successes, draws, x), float(h.cdf(x)))


def test_upper_and_lower_tails_sum_to_one_exactly_across_the_split():
    for x in range(0, 12):
        total = hypergeometric_upper_tail(100, 30, 10, x) + hypergeometric_lower_tail(100, 30, 10, x - 1)
        assert total == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize(
    ("args", "error"),
    [((10, 11, 2, 0), ValueError), ((10, 3, 11, 0), ValueError), ((10.0, 3, 2, 0), TypeError), ((10, 3, 2, 0.5), TypeError)],
)
def test_tails_reject_bad_arguments(args, error):
    with pytest.raises(error):
        hypergeometric_upper_tail(*args)
    with pytest.raises(error):
        hypergeometric_lower_tail(*args)


# --------------------------------------------------------------------------- the union bound on disconnection


def ring_disconnected(n: int, k: int, removed: tuple[int, ...]) -> bool:
    alive = [p for p in range(n) if p not in set(removed)]
    if len(alive) <= 1:
        return False
    half = k // 2
    seen, stack = {alive[0]}, [alive[0]]
    alive_set = set(alive)
    while stack:
        p = stack.pop()
        for d in range(-half, half + 1):
            q = (p + d) % n
            if q in alive_set and q not in seen:
                seen.add(q)
                stack.append(q)
    return len(seen) != len(alive)


@pytest.mark.parametrize(("n", "k"), [(10, 2), (11, 4), (12, 4), (13, 6), (14, 6)])
def test_disconnection_bound_covers_the_exact_probability_by_enumeration(n, k):
    for removed_count in range(0, n + 1):
        bad = sum(ring_disconnected(n, k, r) for r in itertools.combinations(range(n), removed_count))
        exact = Fraction(bad, math.comb(n, removed_count))
        log_bound = harary_disconnection_log2_bound(n, k, removed_count)
        if removed_count < k:
            assert exact == 0 and log_bound == -math.inf
        else:
            assert float(exact) <= 2.0**log_bound * (1 + 1e-12)


def test_disconnection_bound_matches_its_closed_form():
    n, k, b = 1000, 36, 150
    closed = Fraction(n * (n - k - 1), 2) * Fraction(math.comb(n - k, b - k), math.comb(n, b))
    assert harary_disconnection_log2_bound(n, k, b) == pytest.approx(math.log2(closed), rel=1e-12)


@pytest.mark.parametrize(("n", "k", "b"), [(10, 3, 4), (10, 0, 4), (10, 9, 4), (10, 4, 11), (10, 4, -1)])
def test_disconnection_bound_rejects_bad_arguments(n, k, b):
    with pytest.raises(ValueError):
        harary_disconnection_log2_bound(n, k, b)


# --------------------------------------------------------------------------- an independent finder on scipy


def counts(n: int, dropout: float, adversarial: float) -> tuple[int, int]:
    """``A = floor(alpha n)``, ``D = floor(delta n)`` from the decimal rates, with fractions."""
    return math.floor(Fraction(str(adversarial)) * n), math.floor(Fraction(str(dropout)) * n)


def disconnection(n: int, k: int, B: int) -> Fraction:
    if k >= n - 1 or B < k:
        return Fraction(0)
    return Fraction(n * (n - k - 1), 2) * Fraction(math.comb(n - k, B - k), math.comb(n, B))


def round_failure(n: int, D: int, k: int, t):
    """``D P[Z <= t - 1] + (n - D) P[Z' <= t - 2]``: a dropped client's and a live client's holders (``t`` may be an array)."""
    t = np.asarray(t)
    if D == 0:
        return np.zeros(t.shape)
    dropped = scipy.stats.hypergeom(n - 1, n - D, k).cdf(t - 1)
    alive = scipy.stats.hypergeom(n - 1, n - D - 1, k).cdf(t - 2) if n - D - 1 > 0 else (t - 2 >= 0).astype(float)
    return D * dropped + (n - D) * alive


def reference_choice(n: int, dropout: float, adversarial: float, threat: ThreatModel, sec: int = 40, fail: int = 20):
    """The chapter's rules, re-implemented on scipy.stats.hypergeom and fractions."""
    A, D = counts(n, dropout, adversarial)
    B = min(A + D, n)
    for k in [*range(2, n - 1, 2), n - 1]:
        complete = k == n - 1
        p1 = disconnection(n, k, B)
        if p1 > Fraction(1, 2**sec):
            continue
        xs = np.arange(0, k + 2)
        sf = scipy.stats.hypergeom(n - 1, A, k).sf(xs) if A else np.zeros(len(xs))  # P[Y > x]
        a = int(xs[(n - A) * sf <= (2.0**-sec - float(p1)) * (1 + 1e-9)][0])
        t_lo = max(2, a + 1) if threat is SEMI else max(2, (k + 1 + a) // 2 + 1)
        if D == 0:
            z = k + 1
        else:
            z = int(xs[round_failure(n, D, k, xs) < 2.0**-fail][-1])
        t_hi = min(z, k + 1)
        if t_lo <= t_hi:
            return (GraphKind.COMPLETE if complete else GraphKind.HARARY), k, t_lo, t_hi, a, z
    return None


GRID = [
    (n, d, a, th)
    for n in (5, 12, 20, 50, 100, 300, 1000)
    for d in (0.0, 0.1, 0.3)
    for a in (0.0, 0.05, 0.2)
    for th in (SEMI, MAL)
    if (a + d <= 0.9 if th is SEMI else a + 2 * d <= 0.9)
]


@pytest.mark.parametrize(("n", "dropout", "adversarial", "threat"), GRID)
def test_finder_agrees_with_an_independent_scipy_implementation(n, dropout, adversarial, threat):
    ref = reference_choice(n, dropout, adversarial, threat)
    if ref is None:
        with pytest.raises(ValueError, match="no graph meets the bounds"):
            find_parameters(n_clients=n, dropout_rate=dropout, adversarial_rate=adversarial, threat=threat)
        return
    c = find_parameters(n_clients=n, dropout_rate=dropout, adversarial_rate=adversarial, threat=threat)
    assert (c.graph, c.neighbors, c.threshold, c.max_threshold, c.adversarial_bound, c.survivor_bound) == ref


@pytest.mark.parametrize(
    ("n", "dropout", "adversarial", "threat"),
    [(10000, 0.1, 0.05, SEMI), (10000, 0.3, 0.05, SEMI), (10000, 0.1, 0.05, MAL), (65535, 0.1, 0.05, SEMI)],
)
def test_large_cohort_choice_meets_each_bound_by_scipy(n, dropout, adversarial, threat):
    c = find_parameters(n_clients=n, dropout_rate=dropout, adversarial_rate=adversarial, threat=threat)
    A, D = counts(n, dropout, adversarial)
    k, t = c.neighbors, c.threshold
    assert c.graph is GraphKind.HARARY
    p1 = float(disconnection(n, k, A + D))
    assert p1 + (n - A) * scipy.stats.hypergeom(n - 1, A, k).sf(c.adversarial_bound) <= 2.0**-40
    assert p1 + (n - A) * scipy.stats.hypergeom(n - 1, A, k).sf(c.adversarial_bound - 1) > 2.0**-40
    assert round_failure(n, D, k, c.max_threshold) < 2.0**-20 <= round_failure(n, D, k, c.max_threshold + 1)
    assert t > c.adversarial_bound if threat is SEMI else 2 * t > k + 1 + c.adversarial_bound
    assert t <= c.max_threshold


# --------------------------------------------------------------------------- the shape of the answer


def test_thousand_clients_need_tens_of_neighbors():
    c = find_parameters(n_clients=1000, dropout_rate=0.1, adversarial_rate=0.05, threat="semi-honest")
    assert c.graph is GraphKind.HARARY and 10 <= c.neighbors < 100 and c.neighbors % 2 == 0


def test_ten_thousand_clients_need_a_few_percent_or_less_and_grow_slowly():
    small = find_parameters(n_clients=1000, dropout_rate=0.1, adversarial_rate=0.05, threat="semi-honest")
    large = find_parameters(n_clients=10000, dropout_rate=0.1, adversarial_rate=0.05, threat="semi-honest")
    assert large.neighbors <= 0.05 * 10000
    assert small.neighbors <= large.neighbors < 2 * small.neighbors


rates = st.sampled_from([0.0, 0.01, 0.05, 0.1, 0.2, 0.3])


def cost(n: int, dropout: float, adversarial: float) -> tuple[float, float]:
    """(k, t) of the choice, or (inf, inf) when no graph meets the bounds."""
    try:
        c = find_parameters(n_clients=n, dropout_rate=dropout, adversarial_rate=adversarial, threat=SEMI)
    except ValueError as e:
        assert "no graph meets the bounds" in str(e)
        return math.inf, math.inf
    return c.neighbors, c.threshold


@given(st.integers(4, 400), rates, rates, rates)
def test_more_dropouts_never_need_fewer_neighbors(n, adversarial, d1, d2):
    lo, hi = sorted((d1, d2))
    assert cost(n, lo, adversarial)[0] <= cost(n, hi, adversarial)[0]


@given(st.integers(4, 400), rates, rates, rates)
def test_more_adversaries_never_need_fewer_neighbors_or_a_lower_threshold_for_the_same_k(n, dropout, a1, a2):
    lo, hi = sorted((a1, a2))
    (k_lo, t_lo), (k_hi, t_hi) = cost(n, dropout, lo), cost(n, dropout, hi)
    assert k_lo <= k_hi
    if k_lo == k_hi:
        assert t_lo <= t_hi


@given(st.integers(4, 400), st.sampled_from([0.0, 0.05, 0.1, 0.2]), rates)
def test_semi_malicious_needs_at_least_as_many_neighbors_and_a_majority(n, dropout, adversarial):
    try:
        mal = find_parameters(n_clients=n, dropout_rate=dropout, adversarial_rate=adversarial, threat=MAL)
    except ValueError:
        return
    honest = find_parameters(n_clients=n, dropout_rate=dropout, adversarial_rate=adversarial, threat=SEMI)
    assert honest.neighbors <= mal.neighbors
    assert 2 * mal.threshold > mal.neighbors + 1 + mal.adversarial_bound


def test_active_gets_the_complete_graph_with_the_semi_malicious_complete_threshold():
    for n in (30, 500, 5000):
        rates = dict(n_clients=n, dropout_rate=0.1, adversarial_rate=0.05)
        a = find_parameters(**rates, threat="active")
        b = complete_parameters(**rates, threat="semi-malicious")
        assert a.graph is GraphKind.COMPLETE and "active model needs the complete graph" in a.note
        assert (a.neighbors, a.threshold) == (b.neighbors, b.threshold) == (n - 1, b.threshold)
        # what the finder prints for the active model is what Params accepts and Params.auto picks
        p = Params(n_clients=n, dim=4, bits=16, graph=a.graph, neighbors=a.neighbors, threshold=a.threshold, threat="active")
        assert p == Params.auto(n_clients=n, dim=4, bits=16, threat="active", **{k: v for k, v in rates.items() if k != "n_clients"})


def test_no_dropouts_lets_every_holder_count_as_a_survivor():
    c = find_parameters(n_clients=1000, dropout_rate=0.0, adversarial_rate=0.05, threat=SEMI)
    assert c.survivor_bound == c.neighbors + 1 == c.max_threshold


# --------------------------------------------------------------------------- complete graph and refusals


def test_small_cohort_falls_back_to_the_complete_graph_and_says_so():
    c = find_parameters(n_clients=4, dropout_rate=0.25, adversarial_rate=0.25, threat=SEMI)
    assert c.graph is GraphKind.COMPLETE and c.neighbors == 3
    assert "no sparse degree below n-1" in c.note and "complete graph" in c.note


@pytest.mark.parametrize("n", [2, 3])
def test_two_or_three_clients_always_get_the_complete_graph(n):
    c = find_parameters(n_clients=n, dropout_rate=0.0, adversarial_rate=0.0, threat=SEMI)
    assert c.graph is GraphKind.COMPLETE and c.neighbors == n - 1 and c.threshold == 2


@given(
    st.integers(2, 2000),
    st.sampled_from([0.0, 0.05, 0.1, 0.3]),
    st.sampled_from([0.0, 0.05, 0.2]),
    st.sampled_from([SEMI, MAL]),
)
def test_complete_parameters_follow_the_closed_form(n, dropout, adversarial, threat):
    A, D = counts(n, dropout, adversarial)
    t = max(2, A + 1) if threat is SEMI else max(2, (n + A) // 2 + 1)
    z = n - D if D else n
    if (adversarial + dropout > 0.9) if threat is SEMI else (adversarial + 2 * dropout > 0.9):
        return
    if t > z:
        with pytest.raises(ValueError, match="even the complete graph"):
            complete_parameters(n_clients=n, dropout_rate=dropout, adversarial_rate=adversarial, threat=threat)
        return
    c = complete_parameters(n_clients=n, dropout_rate=dropout, adversarial_rate=adversarial, threat=threat)
    assert (c.graph, c.neighbors, c.threshold, c.max_threshold) == (GraphKind.COMPLETE, n - 1, t, z)
    assert "as requested" in c.note


def test_when_even_the_complete_graph_fails_the_error_names_the_numbers():
    # with counts rounded down, only Shamir's t >= 2 can exceed the n - D survivors: 2 clients, one may drop
    with pytest.raises(ValueError) as info:
        find_parameters(n_clients=2, dropout_rate=0.5, adversarial_rate=0.0, threat="semi-honest")
    msg = str(info.value)
    assert "n_clients=2" in msg and "dropout_rate=0.5" in msg and "adversarial_rate=0.0" in msg
    assert "threshold >= 2" in msg and "only 1" in msg


@pytest.mark.parametrize(
    ("dropout", "adversarial", "threat", "numbers"),
    [
        (0.5, 0.45, SEMI, "0.45 + 0.5 = 0.95"),
        (0.0, 0.95, SEMI, "0.95 + 0.0"),
        (0.45, 0.1, MAL, "0.1 + 2 * 0.45 = 1"),
        (0.3, 0.31, ThreatModel.ACTIVE, "0.31 + 2 * 0.3 = 0.91"),
    ],
)
def test_infeasible_rates_are_refused_naming_the_numbers(dropout, adversarial, threat, numbers):
    with pytest.raises(ValueError, match="infeasible") as info:
        find_parameters(n_clients=1000, dropout_rate=dropout, adversarial_rate=adversarial, threat=threat)
    assert numbers in str(info.value)


def test_rates_exactly_at_the_limit_are_accepted():
    assert find_parameters(n_clients=1000, dropout_rate=0.45, adversarial_rate=0.45, threat=SEMI).neighbors > 0
    assert find_parameters(n_clients=1000, dropout_rate=0.3, adversarial_rate=0.3, threat=MAL).neighbors > 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(n_clients=1), ValueError, "got 1"),
        (dict(n_clients=2**20 + 1), ValueError, "got 1048577"),
        (dict(n_clients=100.0), TypeError, "n_clients"),
        (dict(n_clients=True), TypeError, "n_clients"),
        (dict(dropout_rate=-0.1), ValueError, "-0.1"),
        (dict(dropout_rate=1.0), ValueError, "1.0"),
        (dict(dropout_rate=float("nan")), ValueError, "nan"),
        (dict(adversarial_rate="0.1"), TypeError, "adversarial_rate"),
        (dict(threat="malicious"), ValueError, "'malicious'"),
        (dict(threat=None), TypeError, "threat"),
        (dict(security_bits=0), ValueError, "security_bits"),
        (dict(failure_bits=65), ValueError, "failure_bits"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, match):
    args = dict(n_clients=100, dropout_rate=0.1, adversarial_rate=0.05, threat="semi-honest")
    args.update(kwargs)
    with pytest.raises(error, match=match):
        find_parameters(**args)


def test_stronger_security_needs_at_least_as_many_neighbors():
    base = find_parameters(n_clients=2000, dropout_rate=0.1, adversarial_rate=0.05, threat=SEMI)
    strong = find_parameters(n_clients=2000, dropout_rate=0.1, adversarial_rate=0.05, threat=SEMI, security_bits=80)
    assert strong.neighbors > base.neighbors


@pytest.mark.parametrize(
    ("rate", "n", "count"),
    [(0.07, 100, 7), (0.05, 1000, 50), (0.05, 1001, 50), (0.0, 10, 0), (0.29, 100, 29), (0.33, 10, 3), (0.05, 10, 0)],
)
def test_worst_case_counts_are_the_most_clients_the_fraction_allows_and_absorb_binary_rounding(rate, n, count):
    assert worst_case_count(rate, n) == count
