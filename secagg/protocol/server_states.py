"""The server's states: frozen records of what each round collects, with no link to the previous state.

A collecting state's containers (the accumulator, the dicts of accepted
messages) are filled by the receive handlers of :mod:`secagg.protocol.server`
after every check passed; nothing else is ever rebound. Each state names the
clients allowed to send in it (``eligible``, None for everyone) and those
already heard (``seen``), so the facade checks sender, eligibility and replay
once for every state.

>>> ServerR0AdvertiseKeys().eligible is None
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from secagg.errors import AbortReason
from secagg.messages import AdvertiseKeys, ShareKeysResponse

__all__ = [
    "ServerAborted",
    "ServerCompleted",
    "ServerR0AdvertiseKeys",
    "ServerR1ShareKeys",
    "ServerR2MaskedInput",
    "ServerR3ConsistencyCheck",
    "ServerR4Unmasking",
    "ServerState",
    "SessionView",
]

_frozen = dataclasses.dataclass(frozen=True, eq=False)


@_frozen
class ServerState:
    """Base of every server state."""

    terminal = False

    @property
    def eligible(self):
        """The ids that may send in this state (any container), or None for everyone."""
        return None

    @property
    def seen(self) -> Mapping[int, object]:
        """The ids whose message this state already accepted."""
        return {}


@_frozen
class SessionView:
    """What the server knows once the keys are fixed (R1 on).

    Attributes:
        sid: the session id.
        advertised: ``{id: AdvertiseKeys}`` of every participant.
        neighbors: ``{id: sorted neighbour ids}``.
        neighbor_sets: the same as frozensets.
        ring: the participants in ring order (the active model's flag tree
            is built over it in R3).
    """

    sid: bytes
    advertised: Mapping[int, AdvertiseKeys]
    neighbors: Mapping[int, tuple[int, ...]]
    neighbor_sets: Mapping[int, frozenset[int]]
    ring: tuple[int, ...] = ()


@_frozen
class ServerR0AdvertiseKeys(ServerState):
    """Collecting AdvertiseKeys.

    Attributes:
        advertised: ``{id: AdvertiseKeys}`` accepted so far.
        keys_seen: every public key accepted so far.
    """

    advertised: dict[int, AdvertiseKeys] = dataclasses.field(default_factory=dict)
    keys_seen: set[bytes] = dataclasses.field(default_factory=set)

    @property
    def seen(self) -> Mapping[int, object]:
        """The clients that advertised keys."""
        return self.advertised


@_frozen
class ServerR1ShareKeys(ServerState):
    """Collecting ShareKeysResponses (encrypted shares to forward).

    Attributes:
        sess: the session.
        responses: ``{id: ShareKeysResponse}`` accepted so far.
    """

    sess: SessionView
    responses: dict[int, ShareKeysResponse] = dataclasses.field(default_factory=dict)

    @property
    def eligible(self):
        """The participants."""
        return self.sess.neighbors

    @property
    def seen(self) -> Mapping[int, object]:
        """The clients that shared keys."""
        return self.responses


@_frozen
class ServerR2MaskedInput(ServerState):
    """Summing masked inputs as they arrive.

    Attributes:
        sess: the session.
        u2: the clients that shared keys.
        commitments: ``{id: seed commitment}`` of ``u2``.
        acc: the running sum of the masked inputs.
        pad_mask: the padding bits of the packed input's last byte.
        received: ``{id: True}`` for every masked input added.
    """

    sess: SessionView
    u2: frozenset[int]
    commitments: Mapping[int, bytes]
    acc: np.ndarray
    pad_mask: int
    received: dict[int, bool] = dataclasses.field(default_factory=dict)

    @property
    def eligible(self):
        """The clients that shared keys."""
        return self.u2

    @property
    def seen(self) -> Mapping[int, object]:
        """The clients whose masked input was added."""
        return self.received


@_frozen
class ServerR3ConsistencyCheck(ServerState):
    """Collecting signatures over the survivor flags' root (active model).

    Attributes:
        sess: the session.
        u2: the clients that shared keys.
        commitments: their seed commitments.
        acc: the sum of the survivors' masked inputs.
        u3: the survivors (sorted).
        u3_set: the same as a frozenset.
        statement: the bytes every survivor signs (sid and the flag-tree root).
        signatures: ``{id: signature}`` accepted so far.
    """

    sess: SessionView
    u2: frozenset[int]
    commitments: Mapping[int, bytes]
    acc: np.ndarray
    u3: tuple[int, ...]
    u3_set: frozenset[int]
    statement: bytes
    signatures: dict[int, bytes] = dataclasses.field(default_factory=dict)

    @property
    def eligible(self):
        """The survivors."""
        return self.u3_set

    @property
    def seen(self) -> Mapping[int, object]:
        """The survivors that signed."""
        return self.signatures


@_frozen
class ServerR4Unmasking(ServerState):
    """Collecting revealed shares; the next ``advance`` reconstructs and unmasks.

    Attributes:
        sess: the session.
        commitments: the seed commitments.
        acc: the sum of the survivors' masked inputs (unmasked in place at the end).
        u3: the survivors.
        asked: the clients sent an UnmaskingRequest.
        dropped: the clients that shared keys but sent no masked input.
        seed_shares: ``{owner: {holder: share}}`` of self-mask seeds.
        key_shares: ``{owner: {holder: share}}`` of mask keys.
        responded: ``{id: True}`` for every response accepted.
    """

    sess: SessionView
    commitments: Mapping[int, bytes]
    acc: np.ndarray
    u3: frozenset[int]
    asked: frozenset[int]
    dropped: frozenset[int]
    seed_shares: dict[int, dict[int, np.ndarray]] = dataclasses.field(default_factory=dict)
    key_shares: dict[int, dict[int, np.ndarray]] = dataclasses.field(default_factory=dict)
    responded: dict[int, bool] = dataclasses.field(default_factory=dict)

    @property
    def eligible(self):
        """The clients asked to unmask."""
        return self.asked

    @property
    def seen(self) -> Mapping[int, object]:
        """The clients that answered."""
        return self.responded


@_frozen
class ServerCompleted(ServerState):
    """Terminal: the sum is known. Holds no key material.

    Attributes:
        total: the sum mod 2**bits of the included clients' inputs.
        included: sorted ids whose inputs are in ``total``.
        dropped: the other ids.
    """

    terminal = True
    total: np.ndarray
    included: tuple[int, ...]
    dropped: tuple[int, ...]


@_frozen
class ServerAborted(ServerState):
    """Terminal and sticky: the round aborted.

    Attributes:
        reason: the :class:`AbortReason`.
        detail: explanation.
    """

    terminal = True
    reason: AbortReason
    detail: str
