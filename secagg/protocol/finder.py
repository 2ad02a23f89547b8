"""Alias of :mod:`secagg.finder`, where the parameter finder now lives.

The finder is pure math below :class:`~secagg.params.Params`, so it left the
protocol layer; this module keeps the old import path working.
"""

from secagg.finder import *  # noqa: F401,F403
from secagg.finder import __all__  # noqa: F401
