"""Tests of dp.ddp_rdp against an independent mpmath evaluation of the papers' formulas."""

from __future__ import annotations

import math

import dp_accounting
import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dp.accounting import RDP_ORDERS, ddp_epsilon, epsilon
from dp.ddp_rdp import (
    DistributedNoiseDpEvent,
    ddg_rdp,
    ddg_tau,
    event_from_plan,
    poisson_subsampled_rdp,
    rdp_curve,
    skellam_rdp,
)
from dp.distributed import DistributedDPConfig, plan
from dp.errors import UnsupportedEventError



# --------------------------------------------------------------------------- independent oracle (mpmath)


def _mp_ddg(alpha, n, var, d2, dim):
    """Kairouz-Liu-Steinke Theorem 1, evaluated from its statement with mpmath."""
    n, var, d2, dim, a = (mpmath.mpf(x) for x in (n, var, d2, dim, alpha))
    tau = 10 * mpmath.fsum(mpmath.exp(-2 * mpmath.pi**2 * var * k / (k + 1)) for k in range(1, int(n)))
    first = a * d2**2 / (2 * n * var) + tau * dim
    second = a / 2 * (d2 / mpmath.sqrt(n * var) + tau * mpmath.sqrt(dim)) ** 2
    return min(first, second)


def _mp_skellam(alpha, mu, d2, d1):
    """Agarwal-Kairouz-Liu multi-dimensional Skellam RDP bound, with mpmath."""
    a, mu, d2, d1 = (mpmath.mpf(x) for x in (alpha, mu, d2, d1))
    return a * d2**2 / (2 * mu) + min(((2 * a - 1) * d2**2 + 6 * d1) / (4 * mu**2), 3 * d1 / (2 * mu))


def _mp_zhu_wang(alpha, q, eps):
    """Zhu & Wang (ICML 2019) general upper bound for Poisson subsampling, with mpmath."""
    q = mpmath.mpf(q)
    total = (1 - q) ** (alpha - 1) * (alpha * q - q + 1)
    total += mpmath.binomial(alpha, 2) * q**2 * (1 - q) ** (alpha - 2) * mpmath.exp(eps(2))
    for l in range(3, alpha + 1):
        total += 3 * mpmath.binomial(alpha, l) * q**l * (1 - q) ** (alpha - l) * mpmath.exp((l - 1) * eps(l))
    return min(mpmath.log(total) / (alpha - 1), eps(alpha))


def _mp_exact_sampled_gaussian(alpha, q, z):
    """Mironov, Talwar, Zhang (2019) exact RDP of the sampled Gaussian at integer alpha."""
    q, z = mpmath.mpf(q), mpmath.mpf(z)
    total = mpmath.fsum(
        mpmath.binomial(alpha, k) * (1 - q) ** (alpha - k) * q**k * mpmath.exp((k * k - k) / (2 * z * z))
        for k in range(alpha + 1)
    )
    return mpmath.log(total) / (alpha - 1)


def _precise(fn):
    def wrapped(*args):
        with mpmath.workdps(60):
            return fn(*args)

    return wrapped


mp_ddg = _precise(_mp_ddg)
mp_skellam = _precise(_mp_skellam)
mp_zhu_wang = _precise(_mp_zhu_wang)
mp_exact_sampled_gaussian = _precise(_mp_exact_sampled_gaussian)

EVENTS = [
    DistributedNoiseDpEvent(mechanism="dgauss", clients=3, local_variance=0.3, l2_sensitivity=2.0, l1_sensitivity=4.0, dim=8),
    DistributedNoiseDpEvent(mechanism="dgauss", clients=100, local_variance=2274.2, l2_sensitivity=494.4, l1_sensitivity=1.2e5, dim=65536),
    DistributedNoiseDpEvent(mechanism="dgauss", clients=20, local_variance=1.0, l2_sensitivity=5.0, l1_sensitivity=25.0, dim=1024),
    DistributedNoiseDpEvent(mechanism="skellam", clients=100, local_variance=2274.2, l2_sensitivity=494.4, l1_sensitivity=1.2e5, dim=65536),
    DistributedNoiseDpEvent(mechanism="skellam", clients=5, local_variance=3.0, l2_sensitivity=6.0, l1_sensitivity=30.0, dim=64),
]


def mp_base(event):
    if event.mechanism == "dgauss":
        return lambda a: mp_ddg(a, event.clients, event.local_variance, event.l2_sensitivity, event.dim)
    return lambda a: mp_skellam(a, event.clients * event.local_variance, event.l2_sensitivity, event.l1_sensitivity)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: f"{e.mechanism}-n{e.clients}-v{e.local_variance}")
@pytest.mark.parametrize("order", [2, 3, 7, 32, 128])
def test_unsampled_curve_matches_the_mpmath_evaluation_of_the_theorem(event, order):
    fn = ddg_rdp if event.mechanism == "dgauss" else skellam_rdp
    assert fn(order, event) == pytest.approx(float(mp_base(event)(order)), rel=1e-11)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: f"{e.mechanism}-n{e.clients}-v{e.local_variance}")
@pytest.mark.parametrize(("order", "q"), [(2, 0.01), (3, 0.3), (8, 0.001), (25, 0.05), (64, 0.01)])
def test_subsampled_curve_matches_the_mpmath_zhu_wang_bound(event, order, q):
    got = rdp_curve(event, sampling_rate=q, orders=[float(order)])[0]
    assert got == pytest.approx(float(mp_zhu_wang(order, q, mp_base(event))), rel=1e-9)


@pytest.mark.parametrize(("order", "q", "z"), [(2, 0.01, 1.0), (5, 0.1, 0.8), (16, 0.01, 1.1), (40, 0.004, 1.5)])
def test_generic_subsampling_bound_on_a_gaussian_is_above_the_exact_sampled_gaussian_rdp(order, q, z):
    generic = poisson_subsampled_rdp(order, q, lambda l: l / (2 * z * z))
    exact = float(mp_exact_sampled_gaussian(order, q, z))
    assert generic >= exact * (1 - 1e-12)
    assert generic <= order / (2 * z * z)


def test_ddg_first_term_is_the_gaussian_rdp_when_tau_vanishes():
    ev = DistributedNoiseDpEvent(mechanism="dgauss", clients=10, local_variance=1e4, l2_sensitivity=100.0, l1_sensitivity=1e3, dim=4)
    assert ddg_rdp(9, ev) == pytest.approx(9 * 100.0**2 / (2 * 10 * 1e4), rel=1e-15)


def test_skellam_with_one_client_uses_the_same_total_variance_as_many():
    one = DistributedNoiseDpEvent(mechanism="skellam", clients=1, local_variance=500.0, l2_sensitivity=7.0, l1_sensitivity=20.0, dim=9)
    many = DistributedNoiseDpEvent(mechanism="skellam", clients=50, local_variance=10.0, l2_sensitivity=7.0, l1_sensitivity=20.0, dim=9)
    assert skellam_rdp(6, one) == pytest.approx(skellam_rdp(6, many), rel=1e-15)


@settings(max_examples=40, deadline=None)
@given(
    order=st.integers(2, 200),
    q=st.floats(1e-4, 0.999),
    var=st.floats(1.0, 1e6),
    d2=st.floats(1.0, 1e3),
    mech=st.sampled_from(["dgauss", "skellam"]),
)
def test_subsampled_bound_never_exceeds_the_unsampled_curve_and_grows_with_q(order, q, var, d2, mech):
    ev = DistributedNoiseDpEvent(mechanism=mech, clients=10, local_variance=var, l2_sensitivity=d2, l1_sensitivity=d2 * 3, dim=16)
    base = rdp_curve(ev, sampling_rate=1.0, orders=[order])[0]
    low = rdp_curve(ev, sampling_rate=q / 2, orders=[order])[0]
    high = rdp_curve(ev, sampling_rate=q, orders=[order])[0]
    assert 0 <= low <= high * (1 + 1e-12) + 1e-300
    assert high <= base


def test_non_integer_orders_get_infinity():
    curve = rdp_curve(EVENTS[3], sampling_rate=0.1, orders=[1.5, 2.0, 2.5, 3.0])
    assert math.isinf(curve[0]) and math.isinf(curve[2])
    assert np.isfinite(curve[[1, 3]]).all()


def test_ddp_epsilon_refuses_when_no_integer_order_is_available():
    with pytest.raises(UnsupportedEventError):
        ddp_epsilon(plan=EVENTS[3], sampling_rate=0.1, steps=10, delta=1e-5, orders=[1.5, 2.5])


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("mechanism", "laplace", ValueError),
        ("mechanism", 3, TypeError),
        ("clients", 0, ValueError),
        ("clients", 2.0, TypeError),
        ("clients", True, TypeError),
        ("local_variance", 0.0, ValueError),
        ("local_variance", float("inf"), ValueError),
        ("l2_sensitivity", -1.0, ValueError),
        ("l1_sensitivity", "1", TypeError),
        ("dim", 0, ValueError),
    ],
)
def test_distributed_noise_event_rejects_bad_fields(field, value, error):
    fields = {"mechanism": "skellam", "clients": 2, "local_variance": 1.0, "l2_sensitivity": 1.0, "l1_sensitivity": 1.0, "dim": 1}
    fields[field] = value
    with pytest.raises(error):
        DistributedNoiseDpEvent(**fields)


@pytest.mark.parametrize("order", [1, 2.5, 0, 10**6, "3"])
def test_curves_reject_orders_that_are_not_integers_in_range(order):
    with pytest.raises(ValueError):
        skellam_rdp(order, EVENTS[3])


def test_ddg_refuses_per_client_noise_below_half_a_step():
    with pytest.raises(ValueError, match="1/4"):
        ddg_rdp(2, DistributedNoiseDpEvent(mechanism="dgauss", clients=2, local_variance=0.2, l2_sensitivity=1.0, l1_sensitivity=1.0, dim=1))


def test_event_from_plan_rejects_objects_that_are_not_plans():
    with pytest.raises(TypeError):
        event_from_plan(object())


# --------------------------------------------------------------------------- with real plans


def _plan(mech: str, bits: int):
    return plan(
        DistributedDPConfig(mechanism=mech, bits=bits, l2_clip=1.0, noise_multiplier=1.0, dim=2**16, min_clients=100)
    )


@pytest.mark.parametrize("mech", ["skellam", "dgauss"])
def test_ddp_epsilon_falls_with_more_bits_and_stays_above_the_central_gaussian(mech):
    gauss = epsilon(noise_multiplier=1.0, sampling_rate=0.01, steps=1000, delta=1e-5)
    eps = [ddp_epsilon(plan=_plan(mech, b), sampling_rate=0.01, steps=1000, delta=1e-5)[0] for b in (12, 16, 20)]
    assert eps[0] > eps[1] > eps[2] > gauss


def test_ddp_epsilon_is_the_rdp_conversion_of_steps_times_the_curve():
    p = _plan("skellam", 16)
    eps, order = ddp_epsilon(plan=p, sampling_rate=0.01, steps=500, delta=1e-5)
    curve = rdp_curve(event_from_plan(p), sampling_rate=0.01, orders=RDP_ORDERS)
    ref = dp_accounting.rdp.rdp_privacy_accountant.compute_epsilon(RDP_ORDERS, curve * 500, 1e-5)
    assert (eps, order) == (pytest.approx(ref[0], rel=1e-15), ref[1])
    assert float(order).is_integer()


@settings(max_examples=15, deadline=None)
@given(steps=st.integers(1, 5000), extra=st.integers(1, 5000), q=st.floats(1e-3, 1.0))
def test_ddp_epsilon_grows_with_steps(steps, extra, q):
    ev = EVENTS[3]
    a = ddp_epsilon(plan=ev, sampling_rate=q, steps=steps, delta=1e-5)[0]
    b = ddp_epsilon(plan=ev, sampling_rate=q, steps=steps + extra, delta=1e-5)[0]
    assert b >= a


def test_zero_steps_cost_nothing():
    assert ddp_epsilon(plan=EVENTS[0], sampling_rate=0.5, steps=0, delta=1e-5)[0] == 0.0


@pytest.mark.parametrize("clients", [4097, 5000, 70_001, 2**20])
@pytest.mark.parametrize("variance", [0.25, 0.5, 1.0, 4.0, 30.0, 76.0, 200.0])
def test_ddg_tau_series_matches_the_direct_sum(clients, variance):
    # The tail series makes tau cost independent of clients (ledger loading is O(events)).
    from dp.ddp_rdp import _tau_direct

    direct = _tau_direct(clients, variance)
    fast = ddg_tau(clients=clients, local_variance=variance)
    assert fast == pytest.approx(direct, rel=1e-11, abs=1e-300)
