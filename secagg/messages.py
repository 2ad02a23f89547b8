"""Typed protocol messages: one frozen, slotted, keyword-only dataclass per message.

Every invariant that does not depend on the round's parameters (sizes of keys,
signatures and shares, ids in range, sorted and unique id lists) is checked in
``__post_init__``, so an invalid message cannot be built. Parameter-dependent
checks (counts against ``n_clients``, the masked vector's length) are done by
the codec before allocation and again by the state machines.

Compatibility rules (after dp_accounting's ``dp_event.py``):

* never change what a field means; add a new message or a new codec version;
* every field is covered by the codec's round-trip and corruption tests and by
  the vectors in ``protocol_spec/vectors/codec.json``.

Rounds and who sends what (``S`` server, ``C`` client)::

    R0  C->S AdvertiseKeys
    R1  S->C ShareKeysRequest         C->S ShareKeysResponse
    R2  S->C MaskedInputRequest       C->S MaskedInputResponse
    R3  S->C ConsistencyCheckRequest  C->S ConsistencyCheckResponse  (active only)
    R4  S->C UnmaskingRequest         C->S UnmaskingResponse
        either way: Abort

>>> m = ConsistencyCheckRequest(session_id=bytes(32), survivors_root=bytes(32), flags=b"\\x07")
>>> m.flags
b'\\x07'
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from typing import Union

from secagg.errors import AbortReason
from secagg.kinds import MAX_CLIENTS
from secagg.primitives.aead import NONCE_SIZE, TAG_SIZE
from secagg.primitives.kex import KEY_SIZE
from secagg.primitives.ordered_tree import FLAG_ITEM_SIZE, HASH_SIZE, MAX_WINDOW_PROOF_ITEMS, ORDERED_ITEM_SIZE
from secagg.primitives.prg import SESSION_ID_SIZE
from secagg.primitives.shamir import SHARE_SIZE
from secagg.primitives.sign import SIGNATURE_SIZE

__all__ = [
    "ENCRYPTED_SHARE_SIZE",
    "FLAG_ITEM_SIZE",
    "FLAG_ROOT_SIZE",
    "KEY_SIZE",
    "MAX_FLAG_BYTES",
    "MAX_FLAG_PROOF_BYTES",
    "MAX_CLIENT_ID",
    "MAX_PROOF_BYTES",
    "MAX_PROOF_ITEMS",
    "PROOF_ITEM_SIZE",
    "SESSION_ID_SIZE",
    "SHARE_PLAINTEXT_SIZE",
    "SHARE_SIZE",
    "SIGNATURE_SIZE",
    "Abort",
    "AddressedShare",
    "AdvertiseKeys",
    "ConsistencyCheckRequest",
    "ConsistencyCheckResponse",
    "MaskedInputRequest",
    "MaskedInputResponse",
    "Message",
    "RevealedShare",
    "ShareKeysRequest",
    "ShareKeysResponse",
    "Signature",
    "UnmaskingRequest",
    "UnmaskingResponse",
]

# Sizes come from the primitive that defines them (KEY_SIZE: X25519 keys; SHARE_SIZE: one Shamir share, 9 x u32le).
SHARE_PLAINTEXT_SIZE = 4 + 4 + 2 * SHARE_SIZE  # u32 sender, u32 receiver, share of b, share of s_sk
ENCRYPTED_SHARE_SIZE = NONCE_SIZE + SHARE_PLAINTEXT_SIZE + TAG_SIZE  # nonce || ciphertext || tag
MAX_CLIENT_ID = MAX_CLIENTS  # 2**20: ids travel as u32le, the bound is the protocol's
MAX_DETAIL = 256
PROOF_ITEM_SIZE = ORDERED_ITEM_SIZE  # one ordered-tree node in a multiproof: lo (32) || hi (32) || hash (32)
MAX_PROOF_ITEMS = MAX_WINDOW_PROOF_ITEMS  # a window (at most two ring ranges) needs <= 4 siblings per level: 80
MAX_PROOF_BYTES = PROOF_ITEM_SIZE * MAX_PROOF_ITEMS  # 7,680
FLAG_ROOT_SIZE = HASH_SIZE  # the flag tree's root (ConsistencyCheckRequest.survivors_root)
MAX_FLAG_BYTES = (MAX_CLIENTS + 7) // 8  # one bit per window position; the codec bounds it by the window of params
MAX_FLAG_PROOF_BYTES = FLAG_ITEM_SIZE * MAX_WINDOW_PROOF_ITEMS  # 2,560: the same loop as the key tree, 32-byte items


def _check_id(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 1 <= value <= MAX_CLIENT_ID:
        raise ValueError(f"{name} must be in [1, {MAX_CLIENT_ID}], got {value}")


def _check_bytes(name: str, value: object, sizes: tuple[int, ...]) -> None:
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be bytes, got {type(value).__name__}")
    if len(value) not in sizes:
        want = " or ".join(str(s) for s in sizes)
        raise ValueError(f"{name} must be {want} bytes, got {len(value)}")


def _check_ids(name: str, ids: object) -> None:
    if not isinstance(ids, tuple):
        raise TypeError(f"{name} must be a tuple, got {type(ids).__name__}")
    if ids and set(map(type, ids)) != {int}:  # bool is excluded: type(True) is bool
        for i in ids:
            _check_id(f"{name} entry", i)
    if not all(map(operator.lt, ids, ids[1:])):
        raise ValueError(f"{name} must be strictly increasing (sorted, unique), got {ids[:8]}...")
    if ids and (ids[0] < 1 or ids[-1] > MAX_CLIENT_ID):  # sorted, so the ends bound the rest
        raise ValueError(f"{name} entries must be in [1, {MAX_CLIENT_ID}]")


def _check_entries(name: str, entries: object, cls: type, key: str) -> None:
    if not isinstance(entries, tuple):
        raise TypeError(f"{name} must be a tuple, got {type(entries).__name__}")
    for e in entries:
        if not isinstance(e, cls):
            raise TypeError(f"{name} entries must be {cls.__name__}, got {type(e).__name__}")
    keys = [getattr(e, key) for e in entries]
    if any(a >= b for a, b in zip(keys, keys[1:])):
        raise ValueError(f"{name} must be sorted by {key} with no repeats")


_FROZEN = dict(frozen=True, slots=True, kw_only=True)


@dataclasses.dataclass(**_FROZEN)
class AdvertiseKeys:
    """R0, client to server: the client's two fresh X25519 public keys.

    Attributes:
        client_id: the sender, ``1..MAX_CLIENT_ID`` (``2**20``).
        c_pk: channel public key (share encryption), 32 bytes.
        s_pk: mask public key (pairwise mask seeds), 32 bytes.
        signature: Ed25519 signature over the keys (64 bytes) in the active
            threat model, ``b""`` otherwise.
    """

    client_id: int
    c_pk: bytes
    s_pk: bytes
    signature: bytes = b""

    def __post_init__(self) -> None:
        _check_id("client_id", self.client_id)
        _check_bytes("c_pk", self.c_pk, (KEY_SIZE,))
        _check_bytes("s_pk", self.s_pk, (KEY_SIZE,))
        _check_bytes("signature", self.signature, (0, SIGNATURE_SIZE))


@dataclasses.dataclass(**_FROZEN)
class ShareKeysRequest:
    """R1, server to client (wire version 3): the client's window of the ring and its proof.

    The ``m`` participants sit on a ring sorted by their ring keys (SPEC.md,
    chapter "Parameters and graphs"); the request carries only the keys of
    the ring positions ``start, start + 1, ... (mod m)`` that the client
    needs, and one multiproof that they are those positions of the ordered
    key tree whose root the session id commits to.

    Attributes:
        graph_seed: 32 public random bytes that fix the ring order.
        m: the number of participants, ``1..MAX_CLIENT_ID``.
        start: the ring position of the first entry, ``0 <= start < m``.
        entries: the AdvertiseKeys at ring positions ``start, start + 1, ...
            (mod m)``, in that (ring) order, at most ``m`` of them, distinct ids.
        proof: the multiproof of the entries' positions: a multiple of
            ``PROOF_ITEM_SIZE`` (96) bytes, at most ``MAX_PROOF_BYTES``.
    """

    graph_seed: bytes
    m: int
    start: int
    entries: tuple[AdvertiseKeys, ...]
    proof: bytes

    def __post_init__(self) -> None:
        _check_bytes("graph_seed", self.graph_seed, (32,))
        _check_id("m", self.m)
        if isinstance(self.start, bool) or not isinstance(self.start, int):
            raise TypeError(f"start must be an int, got {type(self.start).__name__}")
        if not 0 <= self.start < self.m:
            raise ValueError(f"start must be in [0, m={self.m}), got {self.start}")
        if not isinstance(self.entries, tuple):
            raise TypeError(f"entries must be a tuple, got {type(self.entries).__name__}")
        for e in self.entries:
            if not isinstance(e, AdvertiseKeys):
                raise TypeError(f"entries must be AdvertiseKeys, got {type(e).__name__}")
        if len(self.entries) > self.m:
            raise ValueError(f"{len(self.entries)} entries for m = {self.m} participants")
        if len({e.client_id for e in self.entries}) != len(self.entries):
            raise ValueError("entries must name distinct clients")
        if not isinstance(self.proof, bytes):
            raise TypeError(f"proof must be bytes, got {type(self.proof).__name__}")
        if len(self.proof) % PROOF_ITEM_SIZE or len(self.proof) > MAX_PROOF_BYTES:
            raise ValueError(f"proof must be a multiple of {PROOF_ITEM_SIZE} bytes, at most {MAX_PROOF_BYTES}")


@dataclasses.dataclass(**_FROZEN)
class AddressedShare:
    """An AEAD-encrypted share pair addressed to (or from) one peer.

    Attributes:
        peer: the receiver (in ShareKeysResponse) or the sender (in
            MaskedInputRequest).
        blob: ``ENCRYPTED_SHARE_SIZE`` bytes: nonce || ciphertext || tag.
    """

    peer: int
    blob: bytes

    def __post_init__(self) -> None:
        _check_id("peer", self.peer)
        _check_bytes("blob", self.blob, (ENCRYPTED_SHARE_SIZE,))


@dataclasses.dataclass(**_FROZEN)
class ShareKeysResponse:
    """R1, client to server: encrypted shares for each neighbour.

    Attributes:
        client_id: the sender.
        session_id: the 32-byte session id the client computed.
        seed_commitment: SHA-256 commitment to the self-mask seed, checked by
            the server after reconstruction.
        shares: one :class:`AddressedShare` per neighbour, sorted by peer.
    """

    client_id: int
    session_id: bytes
    seed_commitment: bytes
    shares: tuple[AddressedShare, ...]

    def __post_init__(self) -> None:
        _check_id("client_id", self.client_id)
        _check_bytes("session_id", self.session_id, (SESSION_ID_SIZE,))
        _check_bytes("seed_commitment", self.seed_commitment, (32,))
        _check_entries("shares", self.shares, AddressedShare, "peer")
        if any(s.peer == self.client_id for s in self.shares):
            raise ValueError("a client does not send a share to itself")


@dataclasses.dataclass(**_FROZEN)
class MaskedInputRequest:
    """R2, server to client: the shares that the client's live neighbours sent it.

    Attributes:
        session_id: the session id.
        shares: :class:`AddressedShare` entries whose ``peer`` is the sender,
            sorted by peer.
    """

    session_id: bytes
    shares: tuple[AddressedShare, ...]

    def __post_init__(self) -> None:
        _check_bytes("session_id", self.session_id, (SESSION_ID_SIZE,))
        _check_entries("shares", self.shares, AddressedShare, "peer")


@dataclasses.dataclass(**_FROZEN)
class MaskedInputResponse:
    """R2, client to server: the masked input, bit-packed at ``bits`` per word.

    Attributes:
        client_id: the sender.
        session_id: the session id.
        masked: ``packed_size(dim, bits)`` bytes (checked by the codec).
    """

    client_id: int
    session_id: bytes
    masked: bytes

    def __post_init__(self) -> None:
        _check_id("client_id", self.client_id)
        _check_bytes("session_id", self.session_id, (SESSION_ID_SIZE,))
        if not isinstance(self.masked, bytes):
            raise TypeError(f"masked must be bytes, got {type(self.masked).__name__}")


@dataclasses.dataclass(**_FROZEN)
class ConsistencyCheckRequest:
    """R3 (active model), server to client: the survivor flags of the client's window, under one root.

    Wire version 3: the server commits to every participant's flag (1 iff its
    masked input arrived, i.e. it is in ``U3``) with the flag tree over the
    ring, and sends each survivor only the flags of its extended window W2
    and one multiproof (SPEC.md, "Protocol", R3).

    Attributes:
        session_id: the session id.
        survivors_root: the 32-byte root of the flag tree (what the client signs).
        flags: one bit per W2 position in window order, bit ``j`` at
            ``flags[j // 8] >> (j % 8)``; unused high bits zero (checked by the
            client, which knows the window size).
        proof: the flag tree multiproof of the window's positions (32-byte
            items, at most :data:`MAX_FLAG_PROOF_BYTES`).
    """

    session_id: bytes
    survivors_root: bytes
    flags: bytes
    proof: bytes = b""

    def __post_init__(self) -> None:
        _check_bytes("session_id", self.session_id, (SESSION_ID_SIZE,))
        _check_bytes("survivors_root", self.survivors_root, (FLAG_ROOT_SIZE,))
        if not isinstance(self.flags, bytes):
            raise TypeError(f"flags must be bytes, got {type(self.flags).__name__}")
        if not 1 <= len(self.flags) <= MAX_FLAG_BYTES:
            raise ValueError(f"flags must be 1..{MAX_FLAG_BYTES} bytes, got {len(self.flags)}")
        if not isinstance(self.proof, bytes):
            raise TypeError(f"proof must be bytes, got {type(self.proof).__name__}")
        if len(self.proof) % FLAG_ITEM_SIZE or len(self.proof) > MAX_FLAG_PROOF_BYTES:
            raise ValueError(
                f"proof must be a multiple of {FLAG_ITEM_SIZE} bytes, at most {MAX_FLAG_PROOF_BYTES}, got {len(self.proof)}"
            )


@dataclasses.dataclass(**_FROZEN)
class ConsistencyCheckResponse:
    """R3 (active model), client to server: a signature over the survivor set.

    Attributes:
        client_id: the sender.
        session_id: the session id.
        signature: Ed25519 signature (64 bytes).
    """

    client_id: int
    session_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        _check_id("client_id", self.client_id)
        _check_bytes("session_id", self.session_id, (SESSION_ID_SIZE,))
        _check_bytes("signature", self.signature, (SIGNATURE_SIZE,))


@dataclasses.dataclass(**_FROZEN)
class Signature:
    """One client's consistency-check signature, forwarded by the server.

    Attributes:
        signer: the signing client's id.
        signature: 64 bytes.
    """

    signer: int
    signature: bytes

    def __post_init__(self) -> None:
        _check_id("signer", self.signer)
        _check_bytes("signature", self.signature, (SIGNATURE_SIZE,))


@dataclasses.dataclass(**_FROZEN)
class UnmaskingRequest:
    """R4, server to client: who survived and who dropped.

    Attributes:
        session_id: the session id.
        survivors: the client itself and its neighbours whose masked input
            the server holds, sorted (every model; in the active model they
            must be exactly the neighbours flagged 1 in the window it signed).
        dropped: neighbours that completed ShareKeys but sent no masked input.
        signatures: consistency-check signatures (active model), sorted by
            signer: those of the signers in the client's extended window W2
            (wire version 3; every signer for the complete graph).
    """

    session_id: bytes
    survivors: tuple[int, ...]
    dropped: tuple[int, ...]
    signatures: tuple[Signature, ...] = ()

    def __post_init__(self) -> None:
        _check_bytes("session_id", self.session_id, (SESSION_ID_SIZE,))
        _check_ids("survivors", self.survivors)
        _check_ids("dropped", self.dropped)
        _check_entries("signatures", self.signatures, Signature, "signer")


@dataclasses.dataclass(**_FROZEN)
class RevealedShare:
    """One revealed Shamir share of a peer's secret.

    Attributes:
        owner: the client whose secret this is a share of.
        share: ``SHARE_SIZE`` bytes (9 x u32le field elements).
    """

    owner: int
    share: bytes

    def __post_init__(self) -> None:
        _check_id("owner", self.owner)
        _check_bytes("share", self.share, (SHARE_SIZE,))


@dataclasses.dataclass(**_FROZEN)
class UnmaskingResponse:
    """R4, client to server: self-mask shares of survivors, key shares of the dropped.

    Attributes:
        client_id: the sender.
        session_id: the session id.
        seed_shares: shares of survivors' self-mask seeds, sorted by owner.
        key_shares: shares of dropped clients' mask keys, sorted by owner.
    """

    client_id: int
    session_id: bytes
    seed_shares: tuple[RevealedShare, ...]
    key_shares: tuple[RevealedShare, ...]

    def __post_init__(self) -> None:
        _check_id("client_id", self.client_id)
        _check_bytes("session_id", self.session_id, (SESSION_ID_SIZE,))
        _check_entries("seed_shares", self.seed_shares, RevealedShare, "owner")
        _check_entries("key_shares", self.key_shares, RevealedShare, "owner")
        both = {s.owner for s in self.seed_shares} & {s.owner for s in self.key_shares}
        if both:
            raise ValueError(f"both shares of the same client revealed: {sorted(both)}")


@dataclasses.dataclass(**_FROZEN)
class Abort:
    """Either direction: the sender aborted the session.

    Attributes:
        reason: the :class:`~secagg.errors.AbortReason`.
        detail: at most 256 bytes of UTF-8 text.
    """

    reason: AbortReason
    detail: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.reason, AbortReason):
            raise TypeError(f"reason must be an AbortReason, got {self.reason!r}")
        if not isinstance(self.detail, str):
            raise TypeError(f"detail must be str, got {type(self.detail).__name__}")
        if len(self.detail.encode("utf-8")) > MAX_DETAIL:
            raise ValueError(f"detail must be at most {MAX_DETAIL} UTF-8 bytes")


def _unchecked(cls: type) -> Callable[..., object]:
    """Return a positional constructor of the message class ``cls`` that skips ``__post_init__``.

    Private to :mod:`secagg.codec`: its decoder reads every field, checks
    every invariant that ``cls.__post_init__`` checks (and the bounds of the
    round's parameters) on the values themselves, and only then builds the
    message through this path, so re-running the checks on already-checked
    values is the only thing skipped. The values go in in the order of
    ``dataclasses.fields(cls)``; the object is the same (equal, hashable,
    frozen) as the checked constructor's. Anything else builds messages
    through the checked keyword constructors.
    """
    new = object.__new__
    setters = tuple(cls.__dict__[f.name].__set__ for f in dataclasses.fields(cls))  # the slots' descriptors
    if len(setters) == 2:
        set_a, set_b = setters

        def build(a, b):
            obj = new(cls)
            set_a(obj, a)
            set_b(obj, b)
            return obj

    elif len(setters) == 4:
        set_a, set_b, set_c, set_d = setters

        def build(a, b, c, d):
            obj = new(cls)
            set_a(obj, a)
            set_b(obj, b)
            set_c(obj, c)
            set_d(obj, d)
            return obj

    else:

        def build(*values):
            if len(values) != len(setters):
                raise TypeError(f"{cls.__name__} takes {len(setters)} values, got {len(values)}")
            obj = new(cls)
            for setter, value in zip(setters, values):
                setter(obj, value)
            return obj

    return build


Message = Union[
    AdvertiseKeys,
    ShareKeysRequest,
    ShareKeysResponse,
    MaskedInputRequest,
    MaskedInputResponse,
    ConsistencyCheckRequest,
    ConsistencyCheckResponse,
    UnmaskingRequest,
    UnmaskingResponse,
    Abort,
]
