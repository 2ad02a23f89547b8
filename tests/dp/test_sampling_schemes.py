"""Sampling schemes: Poisson, fixed size without replacement, every client every round; one relation per budget."""

from __future__ import annotations

import dp_accounting
import pytest

from dp.accounting import gaussian_round_event, sampling_scheme
from dp.errors import UnsupportedEventError
from dp.ledger import PrivacyLedger

# dp-accounting 0.6.0's own RdpAccountant (its default orders) on the same runs, computed once and pinned.
PINNED = [
    # (scheme, relation, charge kwargs, rounds, dp-accounting epsilon at delta 1e-5)
    ("poisson", "add_or_remove_one", {"sampling_rate": 256 / 60000}, 14063, 2.596655529521983),
    ("fixed_size", "replace_one", {"sample_size": 100, "population": 10000}, 1000, 3.576111482350549),
    ("all", "add_or_remove_one", {"sampling_rate": 1.0}, 100, 10.725509696418232),
]


@pytest.mark.parametrize(("scheme", "relation", "kwargs", "rounds", "expected"), PINNED, ids=[p[0] for p in PINNED])
def test_each_scheme_reproduces_dp_accountings_figure(scheme, relation, kwargs, rounds, expected):
    z = 1.1 if scheme == "poisson" else 1.0 if scheme == "fixed_size" else 5.0
    ledger = PrivacyLedger(max_epsilon=100.0, delta=1e-5, neighbouring_relation=relation)
    spent = ledger.charge_gaussian_round(noise_multiplier=z, count=rounds, **kwargs)
    assert spent == pytest.approx(expected, rel=0.01)
    assert spent <= expected * (1 + 1e-9)  # our orders are a superset of dp-accounting's: never looser
    (event, count), = ledger.entries
    assert sampling_scheme(event) == scheme and count == rounds
    assert PrivacyLedger.from_json(ledger.to_json()) == ledger  # the scheme is recorded in the file


def test_every_client_every_round_is_accepted_under_both_relations():
    for relation in ("add_or_remove_one", "replace_one"):
        ledger = PrivacyLedger(epsilon=50.0, delta=1e-5, neighbouring_relation=relation)
        ledger.charge_gaussian_round(noise_multiplier=5.0, sampling_rate=1.0, count=10)
        ledger.charge_gaussian_round(noise_multiplier=5.0, sample_size=7, population=7)  # everyone: no sampling


@pytest.mark.parametrize(
    ("relation", "kwargs"),
    [
        ("replace_one", {"sampling_rate": 0.01}),
        ("add_or_remove_one", {"sample_size": 10, "population": 1000}),
    ],
)
def test_a_budget_never_mixes_neighbouring_relations(relation, kwargs):
    ledger = PrivacyLedger(epsilon=10.0, delta=1e-5, neighbouring_relation=relation)
    ledger.charge_gaussian_round(noise_multiplier=2.0, sampling_rate=1.0)
    before = ledger.to_json()
    with pytest.raises(UnsupportedEventError, match="never mixes neighbouring relations"):
        ledger.charge_gaussian_round(noise_multiplier=2.0, **kwargs)
    mixed = dp_accounting.ComposedDpEvent(
        [gaussian_round_event(noise_multiplier=2.0, sampling_rate=0.1),
         gaussian_round_event(noise_multiplier=2.0, sample_size=10, population=100)]
    )
    assert sampling_scheme(mixed) == "mixed"
    with pytest.raises(UnsupportedEventError, match="never mixes"):
        ledger.spend(mixed)
    assert ledger.to_json() == before


def test_the_scheme_arguments_are_checked():
    with pytest.raises(ValueError, match="not both or neither"):
        gaussian_round_event(noise_multiplier=1.0)
    with pytest.raises(ValueError, match="not both or neither"):
        gaussian_round_event(noise_multiplier=1.0, sampling_rate=0.1, sample_size=3, population=10)
    with pytest.raises(ValueError, match="sample_size <= population"):
        gaussian_round_event(noise_multiplier=1.0, sample_size=11, population=10)
    with pytest.raises(TypeError, match="sample_size must be an int"):
        gaussian_round_event(noise_multiplier=1.0, sample_size=1.5, population=10)


def test_flower_and_opacus_names():
    ledger = PrivacyLedger(max_epsilon=2.0, delta=1e-5)
    assert ledger.max_epsilon == ledger.epsilon_budget == 2.0
    event = gaussian_round_event(noise_multiplier=1.0, sampling_rate=0.01)
    fit = ledger.remaining_rounds(event)
    assert not ledger.would_exceed(event, count=fit) and ledger.would_exceed(event, count=fit + 1)
    assert ledger.entries == ()  # asking charges nothing
    ledger.spend(event, count=fit)
    assert ledger.get_epsilon() == ledger.spent_epsilon() <= 2.0
    assert ledger.get_epsilon(1e-3) < ledger.get_epsilon(1e-7)
    with pytest.raises(TypeError, match="exactly once"):
        PrivacyLedger(epsilon=1.0, max_epsilon=1.0, delta=1e-5)
