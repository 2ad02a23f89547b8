"""The sans-I/O protocol layer: neighbour graphs, parameter finder, state machines.

Nothing here touches a socket or a clock. :mod:`secagg.protocol.graph` builds
the neighbour graph on the ring that the public graph seed orders;
:mod:`secagg.finder` (re-exported here) chooses the number of neighbours and the Shamir
threshold for a cohort.

>>> from secagg.protocol import neighbors_complete
>>> neighbors_complete([1, 2, 3])[2]
(1, 3)
"""

from __future__ import annotations

from secagg.finder import ParameterChoice, complete_parameters, find_parameters
from secagg.protocol.graph import (
    build_neighbors,
    harary_neighbors,
    neighbors_complete,
    neighbors_of,
    ring_neighbors,
    ring_order,
)

__all__ = [
    "ParameterChoice",
    "build_neighbors",
    "complete_parameters",
    "find_parameters",
    "harary_neighbors",
    "neighbors_complete",
    "neighbors_of",
    "ring_neighbors",
    "ring_order",
]
