"""Every exception that :mod:`dp` raises.

>>> from dp.errors import BudgetExceededError
>>> issubclass(BudgetExceededError, DpError)
True
"""

from __future__ import annotations

__all__ = [
    "BitWidthError",
    "BudgetExceededError",
    "ConditionalRoundingError",
    "DpError",
    "LedgerConflictError",
    "LedgerFormatError",
    "LedgerLockError",
    "UnsupportedEventError",
]


class DpError(Exception):
    """Base class of every error raised by :mod:`dp`."""


class BudgetExceededError(DpError):
    """A charge would push the spent (epsilon, delta) past the ledger's budget.

    Raised before anything is recorded: the ledger is unchanged.
    """


class BitWidthError(DpError, ValueError):
    """Too few modulus bits for the requested noise, clip and client count.

    The message names the numbers (bits needed, bits given).
    """


class UnsupportedEventError(DpError, ValueError):
    """An accountant was asked to compose an event it has no valid bound for."""


class LedgerFormatError(DpError, ValueError):
    """A saved ledger failed validation on load."""


class LedgerConflictError(DpError):
    """The ledger file holds committed charges this ledger object does not.

    Raised by :meth:`dp.ledger.PrivacyLedger.save` instead of overwriting
    (and so losing) another process's charges, and when a bound ledger's file
    was replaced by one with a different budget or fewer entries. Nothing is
    written.
    """


class LedgerLockError(DpError, TimeoutError):
    """The ledger file's lock could not be taken in time (another process holds it)."""


class ConditionalRoundingError(DpError, RuntimeError):
    """Conditional stochastic rounding kept exceeding the inflated L2 bound.

    Each retry fails with probability at most ``beta``, so this means the
    input was not clipped as the plan assumes (or the source is not random).
    """
