"""Goodness of fit and reproducibility of the noise samplers in dp.mechanisms.

Statistical design: every test uses a fixed DeterministicRandom seed, so its
outcome is reproducible. The pass threshold is a chi-square p-value above
ALPHA = 1e-3: for a correct sampler a *fresh* seed fails with probability
1e-3 per test, and :func:`test_chi_square_harness_rejects_a_two_percent_wrong_sigma`
shows the same harness and sample size reject a sampler whose scale is off by
only 2 percent (p far below ALPHA), so the threshold has power. Moments are
checked to within 5 standard errors computed from the exact PMF.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

import dp.mechanisms as mech
from dp.mechanisms import (
    add_central_gaussian,
    discrete_gaussian,
    discrete_gaussian_reference,
    gaussian_noise,
    poisson,
    skellam,
)
from tests.detrandom import DeterministicRandom

ALPHA = 1e-3
N = 200_000


class RecordingRandom:
    """Wraps a source and keeps every byte it hands out."""

    def __init__(self, inner):
        self.inner = inner
        self.chunks = []

    def token_bytes(self, n):
        data = self.inner.token_bytes(n)
        self.chunks.append(data)
        return data

    def words(self):
        return np.frombuffer(b"".join(self.chunks), dtype="<u8").astype(np.uint64)


def discrete_gaussian_pmf(sigma_sq):
    half = int(math.ceil(40 * math.sqrt(sigma_sq))) + 20
    support = np.arange(-half, half + 1)
    weights = np.exp(-(support.astype(np.float64) ** 2) / (2 * sigma_sq))
    return support, weights / math.fsum(weights)


def skellam_pmf(mu):
    half = int(math.ceil(40 * math.sqrt(2 * mu))) + 20
    support = np.arange(-half, half + 1)
    pmf = scipy.stats.skellam.pmf(support, mu, mu)
    return support, pmf / pmf.sum()


def poisson_pmf(lam):
    top = int(math.ceil(lam + 40 * math.sqrt(lam))) + 40
    support = np.arange(0, top + 1)
    pmf = scipy.stats.poisson.pmf(support, lam)
    return support, pmf / pmf.sum()


def chi_square_p(samples, support, pmf, bins=60):
    """Pool the exact PMF into about ``bins`` bins of equal mass; return the p-value."""
    n = samples.shape[0]
    target = 1.0 / bins
    uppers, masses, acc = [], [], 0.0
    for value, p in zip(support, pmf):
        acc += p
        if acc >= target:
            uppers.append(value)
            masses.append(acc)
            acc = 0.0
    if acc > 0:
        masses[-1] += acc
    uppers[-1] = np.iinfo(np.int64).max  # the last bin takes the upper tail
    idx = np.searchsorted(np.array(uppers), samples, side="left")
    observed = np.bincount(idx, minlength=len(uppers))
    expected = np.array(masses) / sum(masses) * n
    assert expected.min() >= 5, "bins too small for the chi-square approximation"
    return scipy.stats.chisquare(observed, expected).pvalue


def assert_moments(samples, support, pmf):
    n = samples.shape[0]
    mean = float(np.dot(support, pmf))
    var = float(np.dot((support - mean) ** 2, pmf))
    mu4 = float(np.dot((support - mean) ** 4, pmf))
    assert abs(samples.mean() - mean) <= 5 * math.sqrt(var / n)
    assert abs(samples.var() - var) <= 5 * math.sqrt((mu4 - var * var) / n)


@pytest.mark.parametrize("sigma_sq", [0.3, 1.0, 2.0, 2.5, 100.0, 1e4, 1e6, 123456.789])
def test_discrete_gaussian_matches_the_exact_pmf(sigma_sq):
    samples = discrete_gaussian(N, sigma_sq, random=DeterministicRandom(f"dg-{sigma_sq}"))
    support, pmf = discrete_gaussian_pmf(sigma_sq)
    assert chi_square_p(samples, support, pmf) > ALPHA
    assert_moments(samples, support, pmf)


@pytest.mark.parametrize("sigma_sq", [0.1, 0.05])
def test_discrete_gaussian_with_small_sigma_puts_the_exact_mass_on_plus_minus_one(sigma_sq):
    samples = discrete_gaussian(N, sigma_sq, random=DeterministicRandom(f"dg-small-{sigma_sq}"))
    support, pmf = discrete_gaussian_pmf(sigma_sq)
    p_one = float(pmf[support == 1][0] + pmf[support == -1][0])
    observed = float(np.mean(np.abs(samples) == 1))
    assert abs(observed - p_one) <= 5 * math.sqrt(p_one * (1 - p_one) / N)
    assert np.all(np.abs(samples) <= 2)


def test_discrete_gaussian_with_the_smallest_sigma_is_zero():
    assert not discrete_gaussian(10_000, mech.MIN_SIGMA_SQ, random=DeterministicRandom("dg-min")).any()


def test_discrete_gaussian_at_the_largest_sigma_has_the_right_moments():
    sigma_sq = mech.MAX_SIGMA_SQ
    samples = discrete_gaussian(50_000, sigma_sq, random=DeterministicRandom("dg-max"))
    # Near-Gaussian at this scale: the sample variance has relative SE sqrt(2/n).
    assert abs(samples.var() / sigma_sq - 1) <= 5 * math.sqrt(2 / samples.size)
    assert abs(samples.mean()) <= 5 * math.sqrt(sigma_sq / samples.size)


def test_discrete_gaussian_parameters_keep_every_integer_below_2_to_62():
    for sigma_sq in [mech.MIN_SIGMA_SQ, 0.3, 0.999999, 1.0, 1.5, 2.0**20 + 0.1, 3.3e9, mech.MAX_SIGMA_SQ, 2.0**52 - 1]:
        t, s, a, b, f, d, emax = mech._dgauss_parameters(sigma_sq)
        assert max(t, s, d, 2 * t) < 2**62 and f * emax * emax < 2**62, sigma_sq
        # the proposal scale and acceptance realise sigma^2 exactly (or its 2^-20 ceiling below 1)
        target = Fraction(sigma_sq) if sigma_sq >= 1 else Fraction(math.ceil(sigma_sq * 2**20), 2**20)
        tau = Fraction(t, s)
        assert Fraction(b, a) == target / tau
        assert Fraction(d, f) == 2 * target * a * a
        # what is cut is negligible: acceptance at e > emax is below exp(-256)
        assert Fraction(f * (emax + 1) ** 2, d) > 256


def test_poisson_log_pmf_in_the_ptrs_test_matches_mpmath_up_to_max_mu():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    for lam in [10.0, 37.5, 1e3, 1e6, 5.5e11, mech.MAX_MU]:
        for dk in [-5, -1, -0.3, 0, 0.5, 1, 3, 10]:
            k = max(0, math.floor(lam + dk * math.sqrt(lam)))
            exact = -lam + k * mpmath.log(lam) - mpmath.loggamma(k + 1)
            assert abs(mech._poisson_log_pmf(float(k), lam) - float(exact)) < 1e-12, (lam, k)


def test_chi_square_harness_rejects_a_two_percent_wrong_sigma():
    sigma_sq = 100.0
    samples = discrete_gaussian(N, sigma_sq * 1.02**2, random=DeterministicRandom("dg-power"))
    support, pmf = discrete_gaussian_pmf(sigma_sq)
    assert chi_square_p(samples, support, pmf) < 1e-6


@pytest.mark.parametrize("mu", [0.3, 4.0, 9.99, 10.0, 150.0, 1e6])
def test_skellam_matches_the_exact_pmf(mu):
    samples = skellam(N, mu, random=DeterministicRandom(f"sk-{mu}"))
    support, pmf = skellam_pmf(mu)
    assert chi_square_p(samples, support, pmf) > ALPHA
    assert_moments(samples, support, pmf)


@pytest.mark.parametrize("lam", [0.5, 7.0, 10.0, 37.5, 1e4])
def test_poisson_matches_the_exact_pmf_on_both_sides_of_the_ptrs_switch(lam):
    samples = poisson(N, lam, random=DeterministicRandom(f"po-{lam}"))
    support, pmf = poisson_pmf(lam)
    assert chi_square_p(samples, support, pmf) > ALPHA
    assert_moments(samples, support, pmf)


def test_skellam_with_very_large_mu_has_the_right_variance():
    mu = 1e12
    samples = skellam(50_000, mu, random=DeterministicRandom("sk-huge"))
    var = 2 * mu
    # Skellam is near-Gaussian here: the sample variance has relative SE sqrt(2/n).
    assert abs(samples.var() / var - 1) <= 5 * math.sqrt(2 / samples.size)
    assert abs(samples.mean()) <= 5 * math.sqrt(var / samples.size)


@given(size=st.integers(0, 400), sigma_sq=st.floats(0.05, 2.0**52), seed=st.integers(0, 2**32))
def test_numba_discrete_gaussian_kernel_equals_the_pure_python_reference(size, sigma_sq, seed):
    source = RecordingRandom(DeterministicRandom(seed))
    samples = discrete_gaussian(size, sigma_sq, random=source)
    reference = discrete_gaussian_reference(source.words(), sigma_sq)
    np.testing.assert_array_equal(samples, reference[:size])


def test_refilling_small_batches_continues_the_attempt_stream_exactly(monkeypatch):
    monkeypatch.setattr(mech, "_DG_MAX_BATCH_WORDS", 7)
    source = RecordingRandom(DeterministicRandom("refill"))
    samples = discrete_gaussian(500, 30.0, random=source)
    assert len(source.chunks) > 50
    np.testing.assert_array_equal(samples, discrete_gaussian_reference(source.words(), 30.0)[:500])


def test_refilling_small_batches_keeps_the_skellam_distribution(monkeypatch):
    monkeypatch.setattr(mech, "_MAX_BATCH_ATTEMPTS", 5)
    samples = skellam(20_000, 50.0, random=DeterministicRandom("refill-sk"))
    support, pmf = skellam_pmf(50.0)
    assert chi_square_p(samples, support, pmf, bins=30) > ALPHA


def test_same_seed_gives_the_same_samples_and_different_seeds_differ():
    a = skellam(1000, 500.0, random=DeterministicRandom(1))
    b = skellam(1000, 500.0, random=DeterministicRandom(1))
    c = skellam(1000, 500.0, random=DeterministicRandom(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_zero_mu_gives_zeros_and_zero_size_gives_empty():
    assert skellam(5, 0.0).tolist() == [0] * 5
    assert discrete_gaussian(0, 4.0).shape == (0,)
    assert poisson(0, 40.0).dtype == np.int64


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: discrete_gaussian(10, 0.0), ValueError),
        (lambda: discrete_gaussian(10, -1.0), ValueError),
        (lambda: discrete_gaussian(10, math.nan), ValueError),
        (lambda: discrete_gaussian(10, 2.0**81), ValueError),
        (lambda: discrete_gaussian(-1, 1.0), ValueError),
        (lambda: discrete_gaussian(1.5, 1.0), TypeError),
        (lambda: discrete_gaussian(True, 1.0), TypeError),
        (lambda: skellam(10, -0.1), ValueError),
        (lambda: skellam(10, 1e14), ValueError),
        (lambda: skellam(10, "1"), TypeError),
        (lambda: poisson(10, math.inf), ValueError),
        (lambda: gaussian_noise((2, -1), 1.0), ValueError),
        (lambda: gaussian_noise(3, -1.0), ValueError),
        (lambda: gaussian_noise("3", 1.0), TypeError),
    ],
)
def test_bad_sampler_arguments_raise_typed_errors(call, error):
    with pytest.raises(error):
        call()


def test_central_gaussian_noise_is_normal_with_the_requested_stddev():
    z = gaussian_noise(N, 3.0, random=DeterministicRandom("gauss"))
    assert scipy.stats.kstest(z / 3.0, "norm").pvalue > ALPHA
    assert abs(z.std() / 3.0 - 1) <= 5 * math.sqrt(1 / (2 * N))


def test_gaussian_noise_has_the_requested_shape_and_zero_stddev_gives_zeros():
    assert gaussian_noise((3, 5), 1.0).shape == (3, 5)
    assert gaussian_noise(7, 1.0).shape == (7,)
    assert not gaussian_noise((2, 2), 0.0).any()


def test_add_central_gaussian_adds_noise_of_stddev_multiplier_times_clip():
    total = np.full(N, 10.0)
    noisy = add_central_gaussian(total, l2_clip=2.0, noise_multiplier=1.5, random=DeterministicRandom("central"))
    assert noisy.shape == total.shape
    residual = noisy - total
    assert abs(residual.std() / 3.0 - 1) <= 5 * math.sqrt(1 / (2 * N))
    assert (total == 10.0).all()


def test_add_central_gaussian_rejects_non_finite_sums_and_bad_parameters():
    with pytest.raises(ValueError, match="non-finite"):
        add_central_gaussian(np.array([np.nan]), l2_clip=1.0, noise_multiplier=1.0)
    with pytest.raises(ValueError, match="l2_clip"):
        add_central_gaussian(np.zeros(2), l2_clip=0.0, noise_multiplier=1.0)
    with pytest.raises(TypeError):
        add_central_gaussian([0.0], l2_clip=1.0, noise_multiplier=1.0)
