"""Timing of the accounting calls an FL loop makes (pytest-benchmark; no assertions on time).

Run: ``.venv/bin/python -m pytest bench/test_dp_accounting.py --benchmark-min-rounds=3``
"""

from __future__ import annotations

import dp_accounting

from dp.accounting import calibrate_noise, epsilon
from dp.accounting import ddp_epsilon
from dp.ddp_rdp import DistributedNoiseDpEvent
from dp.ledger import PrivacyLedger

Q, STEPS = 256 / 60000, 14063
DDP = DistributedNoiseDpEvent(
    mechanism="skellam", clients=100, local_variance=582244.9, l2_sensitivity=7632.1, l1_sensitivity=1953812.2, dim=65536
)


def test_rdp_epsilon_of_14063_sampled_gaussian_steps(benchmark):
    eps = benchmark(epsilon, noise_multiplier=1.1, sampling_rate=Q, steps=STEPS, delta=1e-5)
    assert round(eps, 3) == 2.597


def test_pld_epsilon_of_14063_sampled_gaussian_steps(benchmark):
    eps = benchmark(epsilon, noise_multiplier=1.1, sampling_rate=Q, steps=STEPS, delta=1e-5, accountant="pld")
    assert round(eps, 3) == 2.382


def test_rdp_calibration(benchmark):
    z = benchmark(calibrate_noise, epsilon=2.0, delta=1e-5, sampling_rate=0.01, steps=1000)
    assert epsilon(noise_multiplier=z, sampling_rate=0.01, steps=1000, delta=1e-5) <= 2.0


def test_ddp_epsilon_skellam(benchmark):
    eps, _ = benchmark(ddp_epsilon, plan=DDP, sampling_rate=0.01, steps=1000, delta=1e-5)
    assert eps > 0


def test_ledger_charge_of_one_more_round(benchmark):
    ledger = PrivacyLedger(epsilon=1e6, delta=1e-5)
    ledger.spend(dp_accounting.PoissonSampledDpEvent(0.01, DDP), count=10)

    def charge() -> float:
        return ledger.charge_gaussian_round(noise_multiplier=1.0, sampling_rate=0.01)

    assert benchmark(charge) > 0
