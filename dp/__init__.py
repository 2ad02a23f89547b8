"""Differential privacy for federated learning: clipping, central and
distributed discrete noise that survives modular secure aggregation, and
Rényi-DP / PLD accounting over Google's dp-accounting with a budget ledger.

``dp`` never imports ``secagg`` (nor the reverse): it produces and consumes
unsigned integer vectors in Z_{2^bits}.
"""

from dp.errors import BitWidthError, BudgetExceededError, DpError, LedgerFormatError, UnsupportedEventError

__all__ = ["BitWidthError", "BudgetExceededError", "DpError", "LedgerFormatError", "UnsupportedEventError"]
