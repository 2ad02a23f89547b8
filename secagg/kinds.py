"""The ground floor: the names every layer uses for a round's shape.

:class:`GraphKind`, :class:`ThreatModel`, :class:`Phase` and :data:`MAX_CLIENTS` import
nothing from :mod:`secagg`, so the parameter finder, :class:`~secagg.params.Params`
and the protocol can all name them without importing each other. Their
meaning is in SPEC.md, chapters "Parameters and graphs" and "Threat models".

>>> ThreatModel("active").name, GraphKind.HARARY.value, MAX_CLIENTS
('ACTIVE', 'harary', 1048576)
"""

from __future__ import annotations

import enum

__all__ = ["MAX_CLIENTS", "PHASES", "GraphKind", "Phase", "ThreatModel"]

MAX_CLIENTS = 2**20
"""Largest number of clients in one round (ids are 1..2**20 = 1,048,576)."""


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


class Phase(enum.Enum):
    """The protocol phases, in order, named after the client message each one collects.

    ``dropouts[id] = Phase.X`` (in :func:`secagg.secure_sum`) means the client
    vanishes before sending its phase-X message; ``Server.phase`` is the phase
    whose client messages the server is collecting, ``Client.phase`` the phase
    of the next message the client will send.
    """

    ADVERTISE_KEYS = "advertise_keys"
    SHARE_KEYS = "share_keys"
    MASKED_INPUT = "masked_input"
    CONSISTENCY_CHECK = "consistency_check"
    UNMASKING = "unmasking"


PHASES: tuple[Phase, ...] = tuple(Phase)
"""Every phase, in protocol order (``CONSISTENCY_CHECK`` runs in the active model only)."""
