"""The ground floor: the names every layer uses for a round's shape.

:class:`GraphKind`, :class:`ThreatModel` and :data:`MAX_CLIENTS` import
nothing from :mod:`secagg`, so the parameter finder, :class:`~secagg.params.Params`
and the protocol can all name them without importing each other. Their
meaning is in SPEC.md, chapters "Parameters and graphs" and "Threat models".

>>> ThreatModel("active").name, GraphKind.HARARY.value, MAX_CLIENTS
('ACTIVE', 'harary', 65535)
"""

from __future__ import annotations

import enum

__all__ = ["MAX_CLIENTS", "GraphKind", "ThreatModel"]

MAX_CLIENTS = 65535
"""Largest number of clients in one round (ids are 1..65535)."""


class ThreatModel(enum.Enum):
    """Who may misbehave, and how (see the chapter "Threat models").

    * ``SEMI_HONEST``: the server and the corrupted clients follow the protocol
      but pool everything they see.
    * ``SEMI_MALICIOUS``: the server may also lie about who dropped out, so that
      it asks different honest clients for different shares of the same peer.
    * ``ACTIVE``: semi-malicious, plus signed keys and a consistency check
      against a server that tells different clients different stories.
    """

    SEMI_HONEST = "semi-honest"
    SEMI_MALICIOUS = "semi-malicious"
    ACTIVE = "active"


class GraphKind(enum.Enum):
    """The neighbour graph: ``COMPLETE`` (SecAgg) or ``HARARY`` (SecAgg+)."""

    COMPLETE = "complete"
    HARARY = "harary"
