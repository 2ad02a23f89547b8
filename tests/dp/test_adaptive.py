"""Adaptive clipping (Andrew et al. 2021) with distributed discrete noise: convergence, accounting, modulus."""

from __future__ import annotations

import math

import dp_accounting
import numpy as np
import pytest
from scipy import special

from dp.accounting import RDP_ORDERS, make_accountant
from dp.adaptive import (
    AdaptiveClipping,
    decode_round,
    encode_round,
    equivalent_noise_multiplier,
    update_noise_multiplier,
)
from dp.ddp_rdp import ddg_rdp, event_from_plan, poisson_subsampled_rdp, skellam_rdp
from dp.distributed import DistributedDPConfig
from dp.errors import BitWidthError
from dp.ledger import PrivacyLedger
from tests.detrandom import DeterministicRandom

N, DIM = 50, 8


def base(mechanism="skellam", **overrides):
    kw = dict(mechanism=mechanism, bits=20, l2_clip=1.0, noise_multiplier=1.0, dim=DIM, min_clients=N, max_clients=N)
    kw.update(overrides)
    return DistributedDPConfig(**kw)


def run(ac, rounds, rng, sigma=0.5, mechanism_seed="x"):
    """Rounds of lognormal-norm updates (median 1) through encode -> modular sum -> decode -> update."""
    random = DeterministicRandom(f"adaptive/{mechanism_seed}")
    clips = []
    for _ in range(rounds):
        rp = ac.round_plan()
        seed = rng.bytes(32)
        norms = np.exp(rng.normal(0.0, sigma, size=N))
        dirs = rng.normal(size=(N, DIM))
        updates = dirs / np.linalg.norm(dirs, axis=1, keepdims=True) * norms[:, None]
        words = [encode_round(u, rp, rotation_seed=seed, random=random) for u in updates]
        total = sum(w.astype(np.uint64) for w in words) % np.uint64(1 << rp.update.config.bits)
        _, indicator_sum = decode_round(total, rp, rotation_seed=seed, n_clients=N)
        clips.append(ac.update(indicator_sum, N))
    return clips


@pytest.mark.parametrize("mechanism", ["skellam", "dgauss"])
@pytest.mark.parametrize("quantile", [0.5, 0.8])
def test_the_clip_converges_to_the_target_quantile_of_the_norms(mechanism, quantile):
    # Norms are lognormal(0, 0.5): the q-quantile is exp(0.5 * Phi^-1(q)) (1.0 at 0.5, 1.523 at 0.8).
    truth = math.exp(0.5 * math.sqrt(2) * float(special.erfinv(2 * quantile - 1)))
    ac = AdaptiveClipping(base(mechanism), target_quantile=quantile, initial_clip=0.1, indicator_stddev=N / 20)
    clips = run(ac, 80, np.random.default_rng(3), mechanism_seed=f"{mechanism}/{quantile}")
    assert clips[0] < 0.2  # it started 10x too small
    late = np.array(clips[-25:])
    assert abs(np.mean(late) / truth - 1) < 0.1, (truth, late)
    # The fraction of fresh norms under the late clip is the target.
    norms = np.exp(np.random.default_rng(4).normal(0.0, 0.5, size=20000))
    assert abs(np.mean(norms <= np.mean(late)) - quantile) < 0.05


def test_the_update_rule_is_geometric_and_clamped():
    ac = AdaptiveClipping(base(), target_quantile=0.5, initial_clip=1.0, indicator_stddev=2.5, learning_rate=0.2,
                          min_clip=0.5, max_clip=1.5)
    # 40 of 50 unclipped (indicator sum 40 - 25 = 15): b = 0.8, C <- C exp(-0.2 * 0.3).
    assert ac.update(15.0, 50) == pytest.approx(math.exp(-0.06))
    assert ac.update(-25.0, 50) == pytest.approx(math.exp(-0.06) * math.exp(0.1))  # nobody unclipped: grow
    for _ in range(50):
        ac.update(25.0, 50)  # everyone unclipped: shrink, down to min_clip
    assert ac.clip == 0.5
    for _ in range(50):
        ac.update(-25.0, 50)
    assert ac.clip == 1.5


def test_the_modulus_holds_for_every_clip_the_rule_can_reach():
    ac = AdaptiveClipping(base("dgauss"), target_quantile=0.5, initial_clip=1.0, indicator_stddev=2.5,
                          min_clip=1e-4, max_clip=1e4)
    plans = []
    for target in (1e-4, 1.0, 1e4):
        ac._clip = target  # the rule only ever sets clips inside [min_clip, max_clip]
        plans.append(ac.round_plan())
    integer_parts = {(p.update.local_variance, p.update.l2_sensitivity, p.update.l1_sensitivity) for p in plans}
    assert len(integer_parts) == 1  # noise and sensitivities in integer units do not depend on the clip
    for p in plans:  # the scale is t / clip with one t
        assert p.update.scale * p.clip == pytest.approx(plans[0].update.scale * plans[0].clip, rel=1e-12)
    # And the accounted event is the same whatever the clip.
    events = [ac.round_event(p) for p in plans]
    assert all(e == events[0] for e in events)
    with pytest.raises(BitWidthError):
        AdaptiveClipping(base(bits=6), target_quantile=0.5, initial_clip=1.0, indicator_stddev=2.5)


def test_andrew_et_al_theorem_1_the_pair_is_one_gaussian():
    z, sigma_b = 1.1, 2.5
    z_u = update_noise_multiplier(z, sigma_b)
    assert equivalent_noise_multiplier(z_u, sigma_b) == pytest.approx(z, rel=1e-12)
    pair = dp_accounting.ComposedDpEvent([dp_accounting.GaussianDpEvent(z_u), dp_accounting.GaussianDpEvent(2 * sigma_b)])
    for q in (1.0, 0.05):
        one = dp_accounting.GaussianDpEvent(z)
        a, b = make_accountant(), make_accountant()
        a.compose(dp_accounting.SelfComposedDpEvent(pair if q == 1 else dp_accounting.PoissonSampledDpEvent(q, pair), 500))
        b.compose(dp_accounting.SelfComposedDpEvent(one if q == 1 else dp_accounting.PoissonSampledDpEvent(q, one), 500))
        assert a.get_epsilon(1e-5) == pytest.approx(b.get_epsilon(1e-5), rel=1e-9)
    with pytest.raises(ValueError, match="too small"):
        update_noise_multiplier(1.0, 0.5)


@pytest.mark.parametrize("mechanism", ["skellam", "dgauss"])
@pytest.mark.parametrize("q", [1.0, 0.1])
def test_adaptive_round_epsilon_equals_the_composition_by_hand(mechanism, q):
    ac = AdaptiveClipping(base(mechanism), target_quantile=0.5, initial_clip=0.3, indicator_stddev=2.5)
    rp = ac.round_plan()
    ev_u, ev_b = event_from_plan(rp.update), event_from_plan(rp.indicator)
    rdp = ddg_rdp if mechanism == "dgauss" else skellam_rdp
    by_hand = []
    for order in RDP_ORDERS:
        if not float(order).is_integer():
            by_hand.append(math.inf)
            continue
        joint = lambda a: rdp(a, ev_u) + rdp(a, ev_b)  # noqa: E731 - both noises on the same sample
        by_hand.append(poisson_subsampled_rdp(int(order), q, joint))
    rounds = 200
    expected = dp_accounting.rdp.rdp_privacy_accountant.compute_epsilon(
        list(RDP_ORDERS), [rounds * v for v in by_hand], 1e-5
    )[0]
    ledger = PrivacyLedger(epsilon=1e6, delta=1e-5)
    spent = ledger.spend(ac.round_event(rp, sampling_rate=q), count=rounds)
    assert spent == pytest.approx(expected, rel=1e-9)
    # Both noises are charged: more than the update alone.
    alone = PrivacyLedger(epsilon=1e6, delta=1e-5)
    solo = ev_u if q == 1 else dp_accounting.PoissonSampledDpEvent(q, ev_u)
    assert alone.spend(solo, count=rounds) < spent
    assert PrivacyLedger.from_json(ledger.to_json()) == ledger


def test_adaptive_arguments_are_checked():
    with pytest.raises(ValueError, match="target_quantile"):
        AdaptiveClipping(base(), target_quantile=1.0, initial_clip=1.0, indicator_stddev=1.0)
    with pytest.raises(ValueError, match="initial_clip"):
        AdaptiveClipping(base(), target_quantile=0.5, initial_clip=10.0, indicator_stddev=1.0, max_clip=5.0)
    with pytest.raises(TypeError, match="DistributedDPConfig"):
        AdaptiveClipping(object(), target_quantile=0.5, initial_clip=1.0, indicator_stddev=1.0)
    ac = AdaptiveClipping(base(), target_quantile=0.5, initial_clip=1.0, indicator_stddev=1.0)
    with pytest.raises(ValueError, match="noisy_indicator_sum"):
        ac.update(float("nan"), 10)
    with pytest.raises(ValueError, match="words"):
        decode_round(np.zeros(3, dtype=np.uint32), ac.round_plan(), rotation_seed=bytes(32), n_clients=N)
