"""Type predicates shared by every :mod:`dp` module (written once here)."""

from __future__ import annotations

import numpy as np

__all__ = ["is_int", "is_real"]


def is_real(value: object) -> bool:
    """Whether ``value`` is a real number (Python or NumPy int or float), not a bool.

    Args:
        value: anything.

    Returns:
        ``True`` for ``int``, ``float``, ``np.integer`` and ``np.floating``
        values other than ``bool``; ``False`` otherwise.

    Raises:
        Nothing of its own.
    """
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def is_int(value: object) -> bool:
    """Whether ``value`` is an integer (Python or NumPy), not a bool.

    Args:
        value: anything.

    Returns:
        ``True`` for ``int`` and ``np.integer`` values other than ``bool``.

    Raises:
        Nothing of its own.
    """
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
