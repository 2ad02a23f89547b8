"""Secure aggregation for federated learning: the narrow API.

The server learns only the sum of the clients' vectors. :func:`secure_sum`
runs a whole round in one process with real cryptography (SecAgg, SecAgg+,
or CKKS through TenSEAL); :class:`Client` and :class:`Server` are the sans-I/O
state machines that run it across machines, bytes in and bytes out.

>>> import numpy as np, secagg
>>> vs = [np.full(4, i, dtype=np.uint32) for i in range(1, 6)]
>>> r = secagg.secure_sum(vs, bits=16, dropouts={5: secagg.Phase.MASKED_INPUT}, neighbors=4, threshold=3)
>>> r.total.tolist(), r.included
([10, 10, 10, 10], (1, 2, 3, 4))
"""

from secagg.driver import Phase, secure_sum
from secagg.errors import (
    AbortReason,
    BitBudgetError,
    DecodeError,
    LocalProtocolError,
    ProtocolAborted,
    ProtocolError,
    RemoteProtocolError,
    SecAggError,
)
from secagg.params import GraphKind, Params, ThreatModel
from secagg.protocol.client import Client
from secagg.protocol.server import Server
from secagg.result import RoundStats, SumResult

__all__ = [
    "AbortReason",
    "BitBudgetError",
    "Client",
    "DecodeError",
    "GraphKind",
    "LocalProtocolError",
    "Params",
    "Phase",
    "ProtocolAborted",
    "ProtocolError",
    "RemoteProtocolError",
    "RoundStats",
    "SecAggError",
    "Server",
    "SumResult",
    "ThreatModel",
    "secure_sum",
]
