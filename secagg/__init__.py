"""Secure aggregation for federated learning: the narrow API.

The server learns only the sum of client vectors. ``secure_sum`` runs a whole
round in one process with real cryptography; the sans-I/O state machines in
:mod:`secagg.protocol` run it across machines.
"""

from secagg.errors import AbortReason, ProtocolAborted, SecAggError
from secagg.result import RoundStats, SumResult

__all__ = ["AbortReason", "ProtocolAborted", "RoundStats", "SecAggError", "SumResult"]
