"""The client's states: frozen records of exactly what each round needs.

A state holds no reference to the :class:`~secagg.protocol.client.Client`
facade or to another state; key material moves forward only into the states
that need it, and terminal states hold none. Mappings are read-only by
convention (nothing writes to them after construction). The bytes of each
state are in SPEC.md, chapter "Client state".

>>> ClientAborted(AbortReason.LOCAL, "example").terminal
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from secagg.errors import AbortReason
from secagg.kinds import Phase
from secagg.messages import AdvertiseKeys
from secagg.primitives import kex

__all__ = [
    "ClientAborted",
    "ClientCompleted",
    "ClientR0AdvertiseKeys",
    "ClientR1ShareKeys",
    "ClientR2MaskedInput",
    "ClientR3ConsistencyCheck",
    "ClientState",
]


@dataclasses.dataclass(frozen=True, eq=False)
class ClientState:
    """Base of every client state."""

    terminal = False


@dataclasses.dataclass(frozen=True, eq=False)
class ClientR0AdvertiseKeys(ClientState):
    """Keys advertised; waiting for the ShareKeysRequest.

    Attributes:
        c_keys: the share-encryption key pair.
        s_keys: the mask key pair.
        advertised: the AdvertiseKeys this client sent (the request must echo it).
    """

    c_keys: kex.X25519KeyPair
    s_keys: kex.X25519KeyPair
    advertised: AdvertiseKeys


@dataclasses.dataclass(frozen=True, eq=False)
class ClientR1ShareKeys(ClientState):
    """Shares sent; waiting for the MaskedInputRequest.

    Attributes:
        sid: the session id (every later request must carry it).
        m: the number of participants.
        start: the ring position of ``window[0]``.
        window: the ids of the ShareKeysRequest's entries, in ring order
            (positions ``start, start + 1, ... mod m``): this client, its
            neighbours and, in the active model, their holders.
        neighbors: this client's neighbours, ascending.
        peers: ``{neighbour: its mask public key s_pk}``.
        share_keys: ``{neighbour: AEAD key of the shares between us}``.
        s_keys: the mask key pair.
        seed: the self-mask seed.
        own_share: this client's own share pair of (seed, s_sk).
    """

    sid: bytes
    m: int
    start: int
    window: tuple[int, ...]
    neighbors: tuple[int, ...]
    peers: Mapping[int, bytes]
    share_keys: Mapping[int, bytes]
    s_keys: kex.X25519KeyPair
    seed: bytes
    own_share: bytes


@dataclasses.dataclass(frozen=True, eq=False)
class ClientR2MaskedInput(ClientState):
    """Masked input sent; waiting for Unmasking (or ConsistencyCheck, active model).

    Holds only the shares it received; keys and seed are gone.

    Attributes:
        sid: the session id (every later request must carry it).
        m: the number of participants.
        start: the ring position of ``window[0]``.
        window: the ids of the ShareKeysRequest's entries, in ring order.
        neighbors: this client's neighbours, ascending.
        alive: the neighbours whose shares arrived (their masks are in the input).
        held: ``{owner: share pair}`` for this client and every ``alive`` neighbour.
    """

    sid: bytes
    m: int
    start: int
    window: tuple[int, ...]
    neighbors: tuple[int, ...]
    alive: tuple[int, ...]
    held: Mapping[int, bytes]


@dataclasses.dataclass(frozen=True, eq=False)
class ClientR3ConsistencyCheck(ClientR2MaskedInput):
    """Survivor flags signed (active model); waiting for the UnmaskingRequest.

    Attributes:
        signed: the ids of its window flagged 1 (in ``U3``) under the root it
            signed, ascending; it includes this client.
        survivors_root: the flag-tree root it signed.
    """

    signed: tuple[int, ...]
    survivors_root: bytes


@dataclasses.dataclass(frozen=True, eq=False)
class ClientCompleted(ClientState):
    """Terminal: the client answered the unmasking request. Holds no key material."""

    terminal = True


@dataclasses.dataclass(frozen=True, eq=False)
class ClientAborted(ClientState):
    """Terminal and sticky: the client aborted. Holds no key material.

    Attributes:
        reason: the :class:`AbortReason`.
        detail: explanation.
    """

    terminal = True
    reason: AbortReason
    detail: str


NEXT_PHASE: dict[type, Phase] = {
    ClientR0AdvertiseKeys: Phase.SHARE_KEYS,
    ClientR1ShareKeys: Phase.MASKED_INPUT,
    ClientR3ConsistencyCheck: Phase.UNMASKING,
}
"""The phase of the next message a client in each state sends (R2 depends on the threat model)."""
