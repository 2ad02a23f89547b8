"""Secure aggregation and distributed DP for Flower (flwr >= 1.41): a ServerApp grid and a client mod.

Install with the ``flower`` extra (``pip install 'secagg-dp[flower]'``). Swap
Flower's SecAgg+ for ours by changing two lines, with the strategy and the
training code untouched::

    # server_app.py                                   # client_app.py
    result = FedAvg().start(                          app = ClientApp(mods=[secagg_mod])
        grid=SecAggGrid(grid, context), ...)

:class:`SecAggGrid` runs every training round as one secure sum over the
real grid; :func:`secagg_mod` answers the protocol's stages on each node and
calls the user's ``@app.train()`` once, at the masked-input stage. The run
config's ``secagg-*`` keys set the encoding and timeouts, its ``dp-*`` keys
turn on distributed DP (see :mod:`secagg_flower.config`). This package
depends on :mod:`secagg` and :mod:`dp`; neither depends on it.
"""

try:
    import flwr  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "secagg_flower needs Flower: install the 'flower' extra (pip install 'secagg-dp[flower]')"
    ) from exc

from secagg_flower.client import secagg_mod
from secagg_flower.config import DistributedDPSettings, SecAggSettings
from secagg_flower.server import RoundReport, SecAggGrid, SecureRoundAborted

__all__ = [
    "DistributedDPSettings",
    "RoundReport",
    "SecAggGrid",
    "SecAggSettings",
    "SecureRoundAborted",
    "secagg_mod",
]
