"""The result of one secure-aggregation round, shared by every backend.

Both the masking protocol (SecAgg / SecAgg+) and the CKKS backend return a
:class:`SumResult`, so an FL loop switches backends by changing one argument.

>>> import numpy as np
>>> r = SumResult(total=np.zeros(3), included=(1, 2), dropped=(3,), stats=RoundStats())
>>> r.included
(1, 2)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["RoundStats", "SumResult"]


@dataclasses.dataclass(slots=True)
class RoundStats:
    """Per-phase timings and byte counts of one round.

    Attributes:
        seconds: ``{role: {phase: seconds}}`` with roles ``"server"`` and
            ``"clients"`` (summed over all clients) and phase names as in
            :class:`secagg.Phase` plus ``"total"``.
        bytes_sent: ``{role: bytes}`` sent by the server and by all clients.
        bytes_received: ``{role: bytes}`` received by the server and by all clients.
        bytes_by_phase: ``{role: {phase: bytes}}`` sent by each role in each
            phase; a role's phases sum to its ``bytes_sent``. The server's
            requests count in the phase they open.
        extra: backend-specific figures (graph degree, threshold, ...).
    """

    seconds: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    bytes_sent: dict[str, int] = dataclasses.field(default_factory=dict)
    bytes_received: dict[str, int] = dataclasses.field(default_factory=dict)
    bytes_by_phase: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SumResult:
    """What a round outputs: the sum and who is in it.

    Attributes:
        total: the sum of the included clients' inputs. Integer inputs give a
            ``uint32``/``uint64`` array reduced mod ``2**bits``; float inputs give
            a ``float64`` array (decoded fixed point, or CKKS).
        included: sorted ids of the clients whose inputs are in ``total``.
        dropped: sorted ids of the clients whose inputs are not.
        stats: timings and byte counts.
    """

    total: np.ndarray
    included: tuple[int, ...]
    dropped: tuple[int, ...]
    stats: RoundStats
