"""Differential privacy for federated learning: clipping, central and
distributed discrete noise that survives modular secure aggregation, and
Rényi-DP / PLD accounting over Google's dp-accounting with a budget ledger.

``dp`` never imports ``secagg`` (nor the reverse): it produces and consumes
unsigned integer vectors in Z_{2^bits}.

>>> ledger = PrivacyLedger(epsilon=8.0, delta=1e-5)
>>> _ = ledger.charge_gaussian_round(noise_multiplier=1.0, sampling_rate=0.01, count=10)
>>> ledger.spent_epsilon() <= 8.0
True
"""

from dp.accounting import (
    calibrate_noise,
    ddp_epsilon,
    ddp_round_event,
    delta,
    epsilon,
    gaussian_round_event,
    make_accountant,
)
from dp.errors import BitWidthError, BudgetExceededError, DpError, LedgerFormatError, UnsupportedEventError
from dp.ledger import PrivacyLedger

__all__ = [
    "BitWidthError",
    "BudgetExceededError",
    "DpError",
    "LedgerFormatError",
    "PrivacyLedger",
    "UnsupportedEventError",
    "calibrate_noise",
    "ddp_epsilon",
    "ddp_round_event",
    "delta",
    "epsilon",
    "gaussian_round_event",
    "make_accountant",
]
