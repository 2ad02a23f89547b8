"""The client side of SecAgg / SecAgg+ as a sans-I/O state machine.

Bytes in, bytes out: :class:`Client` never touches a socket, a thread or a
clock. One class per state, named after the round it waits in; a base class
rejects every message a state does not expect.

Transition table (also rendered as the diagram in SPEC.md)::

    ClientR0AdvertiseKeys     --ShareKeysRequest-->        ClientR1ShareKeys
    ClientR1ShareKeys         --MaskedInputRequest-->      ClientR2MaskedInput
    ClientR2MaskedInput       --ConsistencyCheckRequest--> ClientR3ConsistencyCheck  (active)
    ClientR2MaskedInput       --UnmaskingRequest-->        ClientCompleted           (not active)
    ClientR3ConsistencyCheck  --UnmaskingRequest-->        ClientCompleted           (active)
    any non-terminal          --Abort-->                   ClientAborted

Error semantics:

* a malformed, out-of-round or replayed message (another session id) raises
  :class:`RemoteProtocolError` and leaves the state unchanged: the message is
  simply rejected;
* a server that breaks a rule (asks for both shares of a peer, lists the client
  as dropped, gives inconsistent lists, bad signatures, too few survivors)
  moves the client to the sticky :class:`ClientAborted` state, whose
  :attr:`Client.abort_message` is the Abort to send, and raises
  :class:`RemoteProtocolError` carrying the reason;
* calling the API wrongly raises :class:`LocalProtocolError`.

Key material moves forward only into the states that need it; terminal states
hold none.

>>> from secagg.params import Params
>>> p = Params(n_clients=3, dim=4, bits=16, graph="complete", neighbors=2, threshold=2)
>>> c = Client(1, p, input=[1, 2, 3, 4])
>>> _ = c.start()
>>> type(c.state).__name__, c.finished
('ClientR0AdvertiseKeys', False)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from secagg import codec
from secagg.errors import (
    AbortReason,
    InvalidCiphertext,
    InvalidKey,
    InvalidShareError,
    InvalidSignature,
    LocalProtocolError,
    RemoteProtocolError,
)
from secagg.messages import (
    Abort,
    AddressedShare,
    AdvertiseKeys,
    ConsistencyCheckRequest,
    ConsistencyCheckResponse,
    MaskedInputRequest,
    MaskedInputResponse,
    Message,
    RevealedShare,
    ShareKeysRequest,
    ShareKeysResponse,
    UnmaskingRequest,
    UnmaskingResponse,
)
from secagg.params import Params, ThreatModel
from secagg.primitives import aead, kex, merkle, shamir, sign
from secagg.primitives.masking import mask_input, pack
from secagg.primitives.randomness import DEFAULT_RANDOM, RandomSource, random_bytes
from secagg.primitives.words import word_dtype
from secagg.protocol import session
from secagg.protocol._abort import AbortSignal, encode_abort
from secagg.protocol.graph import neighbors_of

__all__ = [
    "CLIENT_TRANSITIONS",
    "Client",
    "ClientAborted",
    "ClientCompleted",
    "ClientR0AdvertiseKeys",
    "ClientR1ShareKeys",
    "ClientR2MaskedInput",
    "ClientR3ConsistencyCheck",
    "ClientState",
]

CLIENT_TRANSITIONS: dict[tuple[str, str], str] = {
    ("ClientR0AdvertiseKeys", "ShareKeysRequest"): "ClientR1ShareKeys",
    ("ClientR1ShareKeys", "MaskedInputRequest"): "ClientR2MaskedInput",
    ("ClientR2MaskedInput", "ConsistencyCheckRequest"): "ClientR3ConsistencyCheck",
    ("ClientR2MaskedInput", "UnmaskingRequest"): "ClientCompleted",
    ("ClientR3ConsistencyCheck", "UnmaskingRequest"): "ClientCompleted",
    ("ClientR0AdvertiseKeys", "Abort"): "ClientAborted",
    ("ClientR1ShareKeys", "Abort"): "ClientAborted",
    ("ClientR2MaskedInput", "Abort"): "ClientAborted",
    ("ClientR3ConsistencyCheck", "Abort"): "ClientAborted",
}
"""Every allowed (state, message) pair and the state it leads to."""


@dataclasses.dataclass(frozen=True)
class _Context:
    """What every state needs and that holds no secret."""

    client_id: int
    params: Params
    random: RandomSource
    identity_key: sign.Ed25519SigningKey | None
    pki: Mapping[int, bytes] | None


class ClientState:
    """Base state: every message is unexpected unless a subclass handles it."""

    terminal = False

    def handle(self, ctx: _Context, msg: Message, client: "Client") -> tuple["ClientState", Message | None]:
        """Process ``msg``; return the next state and the reply (or None).

        Raises:
            RemoteProtocolError: OUT_OF_ROUND here; subclasses add their own.
        """
        raise RemoteProtocolError(
            AbortReason.OUT_OF_ROUND, f"{type(msg).__name__} is unexpected in state {type(self).__name__}"
        )

    def _check_session(self, sid: bytes, msg_sid: bytes) -> None:
        if msg_sid != sid:
            raise RemoteProtocolError(AbortReason.REPLAYED, "message belongs to another session")


class ClientR0AdvertiseKeys(ClientState):
    """Keys advertised; waiting for the ShareKeysRequest."""

    def __init__(self, c_keys: kex.X25519KeyPair, s_keys: kex.X25519KeyPair, advertised: AdvertiseKeys) -> None:
        self.c_keys = c_keys
        self.s_keys = s_keys
        self.advertised = advertised

    def handle(self, ctx, msg, client):
        if not isinstance(msg, ShareKeysRequest):
            return super().handle(ctx, msg, client)
        p, me = ctx.params, ctx.client_id
        participants = msg.participants
        if participants and participants[-1] > p.n_clients:
            raise AbortSignal(AbortReason.MALFORMED, f"participant id above n_clients={p.n_clients}")
        if len(participants) < p.threshold:
            raise AbortSignal(
                AbortReason.TOO_FEW_SURVIVORS, f"{len(participants)} clients advertised keys, threshold is {p.threshold}"
            )
        if me not in participants:
            raise AbortSignal(AbortReason.INCONSISTENT, "own id missing from the participants")
        neighbors = neighbors_of(p, participants, msg.graph_seed, me)
        holders = sorted((*neighbors, me))
        entries = msg.advertised
        if [a.client_id for a in entries] != holders:
            raise AbortSignal(AbortReason.INCONSISTENT, "the keys sent are not exactly this client's and its neighbours'")
        own = entries[holders.index(me)]
        if own.c_pk != self.advertised.c_pk or own.s_pk != self.advertised.s_pk:
            raise AbortSignal(AbortReason.INCONSISTENT, "own advertised keys did not come back unchanged")
        keys = [a.c_pk for a in entries] + [a.s_pk for a in entries]
        if len(set(keys)) != len(keys):
            raise AbortSignal(AbortReason.INCONSISTENT, "two advertised public keys are equal")
        position = {u: i for i, u in enumerate(participants)}
        roots = set()
        for a, proof in zip(entries, msg.proofs):
            try:
                roots.add(merkle.root_from_proof(session.key_leaf(a), position[a.client_id], len(participants), proof))
            except ValueError:
                raise AbortSignal(AbortReason.INCONSISTENT, f"malformed key proof for client {a.client_id}") from None
        if len(roots) != 1:
            raise AbortSignal(AbortReason.INCONSISTENT, "key proofs lead to different roots")
        if p.threat is ThreatModel.ACTIVE:
            for a in entries:
                vk = ctx.pki.get(a.client_id)
                if vk is None:
                    raise AbortSignal(AbortReason.AUTHENTICATION, f"client {a.client_id} is not in the PKI")
                try:
                    sign.verify(vk, session.advertise_statement(p, a.client_id, a.c_pk, a.s_pk), a.signature)
                except InvalidSignature:
                    raise AbortSignal(AbortReason.AUTHENTICATION, f"bad key signature of client {a.client_id}") from None
        sid = session.session_id(p, msg.graph_seed, participants, roots.pop())
        if len(holders) < p.threshold:
            raise AbortSignal(AbortReason.TOO_FEW_SURVIVORS, f"{len(holders)} share holders, threshold is {p.threshold}")
        by_id = {a.client_id: a for a in entries}
        seed = random_bytes(ctx.random, 32)
        shares = shamir.split([seed, self.s_keys.private_bytes()], threshold=p.threshold, xs=holders, random=ctx.random)
        out: list[AddressedShare] = []
        own_share = b""
        share_keys: dict[int, bytes] = {}
        for row, holder in enumerate(holders):
            share_bytes = shamir.shares_to_bytes(shares[row])
            if holder == me:
                own_share = share_bytes
                continue
            try:
                key = session.share_key(self.c_keys, by_id[holder].c_pk, sid, me, holder)
            except InvalidKey:
                raise AbortSignal(AbortReason.MALFORMED, f"client {holder} advertised an invalid key") from None
            share_keys[holder] = key
            plaintext = me.to_bytes(4, "little") + holder.to_bytes(4, "little") + share_bytes
            blob = aead.encrypt(key, plaintext, session.share_associated_data(sid, me, holder), random=ctx.random)
            out.append(AddressedShare(peer=holder, blob=blob))
        reply = ShareKeysResponse(
            client_id=me, session_id=sid, seed_commitment=session.seed_commitment(sid, me, seed), shares=tuple(out)
        )
        peers = {v: by_id[v].s_pk for v in neighbors}
        nxt = ClientR1ShareKeys(sid, participants, tuple(neighbors), peers, share_keys, self.s_keys, seed, own_share)
        return nxt, reply


class ClientR1ShareKeys(ClientState):
    """Shares sent; waiting for the MaskedInputRequest."""

    def __init__(self, sid, all_ids, neighbors, peers, share_keys, s_keys, seed, own_share) -> None:
        self.sid = sid
        self.all_ids = all_ids
        self.neighbors = neighbors
        self.peers = peers
        self.share_keys = share_keys
        self.s_keys = s_keys
        self.seed = seed
        self.own_share = own_share

    def handle(self, ctx, msg, client):
        if not isinstance(msg, MaskedInputRequest):
            return super().handle(ctx, msg, client)
        self._check_session(self.sid, msg.session_id)
        p, me = ctx.params, ctx.client_id
        x = client._input
        if x is None:
            raise LocalProtocolError(AbortReason.LOCAL, "set_input() must be called before the MaskedInputRequest")
        held: dict[int, bytes] = {me: self.own_share}
        neighbor_set = set(self.neighbors)
        for entry in msg.shares:
            v = entry.peer
            if v not in neighbor_set:
                raise AbortSignal(AbortReason.INCONSISTENT, f"share from client {v}, who is not a neighbour")
            try:
                plaintext = aead.decrypt(self.share_keys[v], entry.blob, session.share_associated_data(self.sid, v, me))
            except InvalidCiphertext:
                raise AbortSignal(AbortReason.AUTHENTICATION, f"share from client {v} failed to decrypt") from None
            if plaintext[:4] != v.to_bytes(4, "little") or plaintext[4:8] != me.to_bytes(4, "little"):
                raise AbortSignal(AbortReason.INCONSISTENT, f"share from client {v} names other endpoints")
            body = plaintext[8:]
            try:
                shamir.shares_from_bytes(body, 2)
            except InvalidShareError:
                raise AbortSignal(AbortReason.MALFORMED, f"share from client {v} is not a valid share") from None
            held[v] = body
        alive = tuple(sorted(v for v in held if v != me))
        if len(alive) + 1 < p.threshold:
            raise AbortSignal(
                AbortReason.TOO_FEW_SURVIVORS, f"{len(alive) + 1} live share holders, threshold is {p.threshold}"
            )
        pair_seeds = []
        pair_signs = []
        for v in alive:
            try:
                pair_seeds.append(session.mask_seed(self.s_keys, self.peers[v], self.sid, me, v))
            except InvalidKey:
                raise AbortSignal(AbortReason.MALFORMED, f"client {v} advertised an invalid key") from None
            pair_signs.append(session.pair_sign(me, v))
        masked = mask_input(
            x, bits=p.bits, session_id=self.sid, self_seed=self.seed, pair_seeds=pair_seeds, pair_signs=pair_signs
        )
        reply = MaskedInputResponse(client_id=me, session_id=self.sid, masked=pack(masked, p.bits))
        return ClientR2MaskedInput(self.sid, self.all_ids, self.neighbors, alive, held), reply


class ClientR2MaskedInput(ClientState):
    """Masked input sent; waiting for Unmasking (or ConsistencyCheck, active model).

    Holds only the shares it received; keys and seed are gone.
    """

    def __init__(self, sid, all_ids, neighbors, alive, held) -> None:
        self.sid = sid
        self.all_ids = all_ids
        self.neighbors = neighbors
        self.alive = alive
        self.held = held

    def handle(self, ctx, msg, client):
        p, me = ctx.params, ctx.client_id
        if isinstance(msg, ConsistencyCheckRequest) and p.threat is ThreatModel.ACTIVE:
            self._check_session(self.sid, msg.session_id)
            survivors = msg.survivors
            if me not in survivors:
                raise AbortSignal(AbortReason.INCONSISTENT, "own id missing from the survivor set")
            if not set(survivors) <= set(self.all_ids):
                raise AbortSignal(AbortReason.INCONSISTENT, "survivor set names clients that never advertised keys")
            if len(survivors) < p.threshold:
                raise AbortSignal(AbortReason.TOO_FEW_SURVIVORS, f"{len(survivors)} survivors, threshold {p.threshold}")
            signature = ctx.identity_key.sign(session.consistency_statement(self.sid, survivors))
            reply = ConsistencyCheckResponse(client_id=me, session_id=self.sid, signature=signature)
            return ClientR3ConsistencyCheck(self.sid, self.neighbors, self.alive, self.held, survivors), reply
        if isinstance(msg, UnmaskingRequest) and p.threat is not ThreatModel.ACTIVE:
            self._check_session(self.sid, msg.session_id)
            if msg.signatures:
                raise AbortSignal(AbortReason.INCONSISTENT, "consistency signatures outside the active model")
            return _unmask(ctx, msg, self.neighbors, self.alive, self.held)
        return super().handle(ctx, msg, client)


class ClientR3ConsistencyCheck(ClientState):
    """Survivor set signed (active model); waiting for the UnmaskingRequest."""

    def __init__(self, sid, neighbors, alive, held, signed) -> None:
        self.sid = sid
        self.neighbors = neighbors
        self.alive = alive
        self.held = held
        self.signed = signed

    def handle(self, ctx, msg, client):
        if not isinstance(msg, UnmaskingRequest):
            return super().handle(ctx, msg, client)
        self._check_session(self.sid, msg.session_id)
        p = ctx.params
        if msg.survivors != self.signed:
            raise AbortSignal(AbortReason.INCONSISTENT, "survivor set differs from the one signed")
        statement = session.consistency_statement(self.sid, self.signed)
        signed_set = set(self.signed)
        for s in msg.signatures:
            if s.signer not in signed_set:
                raise AbortSignal(AbortReason.INCONSISTENT, f"signature from client {s.signer}, not a survivor")
            try:
                sign.verify(ctx.pki[s.signer], statement, s.signature)
            except (InvalidSignature, KeyError):
                raise AbortSignal(AbortReason.AUTHENTICATION, f"bad consistency signature of client {s.signer}") from None
        if len(msg.signatures) < p.threshold:
            raise AbortSignal(
                AbortReason.TOO_FEW_SURVIVORS, f"{len(msg.signatures)} consistency signatures, threshold {p.threshold}"
            )
        return _unmask(ctx, msg, self.neighbors, self.alive, self.held)


def _unmask(ctx: _Context, msg: UnmaskingRequest, neighbors, alive, held) -> tuple["ClientState", Message]:
    """The R4 rules shared by the active and the other models."""
    p, me = ctx.params, ctx.client_id
    survivors, dropped = set(msg.survivors), set(msg.dropped)
    if survivors & dropped:
        raise AbortSignal(AbortReason.INCONSISTENT, f"clients listed both alive and dropped: {sorted(survivors & dropped)[:8]}")
    if me in dropped:
        raise AbortSignal(AbortReason.INCONSISTENT, "own id listed as dropped")
    if me not in survivors:
        raise AbortSignal(AbortReason.INCONSISTENT, "own id missing from the survivors")
    strangers = survivors - set(neighbors) - {me}
    if strangers:
        raise AbortSignal(AbortReason.INCONSISTENT, f"survivors list non-neighbours: {sorted(strangers)[:8]}")
    alive_set = set(alive)
    if not dropped <= alive_set:
        raise AbortSignal(AbortReason.INCONSISTENT, "dropped list names clients whose shares this client never received")
    live = sorted((survivors & alive_set) | {me})
    if len(live) < p.threshold:
        raise AbortSignal(AbortReason.TOO_FEW_SURVIVORS, f"{len(live)} surviving share holders, threshold {p.threshold}")
    half = shamir.SHARE_SIZE
    seed_shares = tuple(RevealedShare(owner=v, share=held[v][:half]) for v in live)
    key_shares = tuple(RevealedShare(owner=v, share=held[v][half:]) for v in sorted(dropped))
    reply = UnmaskingResponse(client_id=me, session_id=msg.session_id, seed_shares=seed_shares, key_shares=key_shares)
    return ClientCompleted(), reply


class ClientCompleted(ClientState):
    """Terminal: the client answered the unmasking request. Holds no key material."""

    terminal = True


class ClientAborted(ClientState):
    """Terminal and sticky: the client aborted. Holds no key material.

    Attributes:
        reason: the :class:`AbortReason`.
        detail: explanation.
    """

    terminal = True

    def __init__(self, reason: AbortReason, detail: str) -> None:
        self.reason = reason
        self.detail = detail


class Client:
    """One client of one secure-aggregation round (sans-I/O facade).

    Args:
        client_id: this client's id, 1..n_clients.
        params: the round parameters (shared by everyone).
        input: the client's vector in Z_{2^bits} (length ``params.dim``); may be
            given later with :meth:`set_input`, before the MaskedInputRequest.
        identity_key: the long-term Ed25519 key (active model only).
        pki: ``{client id: Ed25519 public key}`` of every client (active model only).
        random: the randomness source (OS CSPRNG by default).

    Raises:
        TypeError, ValueError: on a bad id, input, or a missing identity key or
            PKI in the active model.
    """

    def __init__(
        self,
        client_id: int,
        params: Params,
        *,
        input: Sequence[int] | np.ndarray | None = None,
        identity_key: sign.Ed25519SigningKey | None = None,
        pki: Mapping[int, bytes] | None = None,
        random: RandomSource = DEFAULT_RANDOM,
    ) -> None:
        if not isinstance(params, Params):
            raise TypeError(f"params must be Params, got {type(params).__name__}")
        if isinstance(client_id, bool) or not isinstance(client_id, int):
            raise TypeError(f"client_id must be an int, got {type(client_id).__name__}")
        if not 1 <= client_id <= params.n_clients:
            raise ValueError(f"client_id must be in [1, {params.n_clients}], got {client_id}")
        if params.threat is ThreatModel.ACTIVE:
            if identity_key is None or pki is None:
                raise ValueError("the active threat model needs identity_key and pki")
            if pki.get(client_id) != identity_key.public_bytes:
                raise ValueError(f"pki[{client_id}] is not this client's identity key")
        self._ctx = _Context(client_id, params, random, identity_key, dict(pki) if pki is not None else None)
        self._input: np.ndarray | None = None
        self._state: ClientState | None = None
        self._abort_message: bytes | None = None
        if input is not None:
            self.set_input(input)

    @property
    def client_id(self) -> int:
        """This client's id."""
        return self._ctx.client_id

    @property
    def state(self) -> ClientState | None:
        """The current state (None before :meth:`start`)."""
        return self._state

    @property
    def finished(self) -> bool:
        """True in a terminal state (completed or aborted)."""
        return self._state is not None and self._state.terminal

    @property
    def abort_message(self) -> bytes | None:
        """The encoded Abort to send to the server once aborted, else None."""
        return self._abort_message

    def set_input(self, x: Sequence[int] | np.ndarray) -> None:
        """Set the vector to aggregate.

        Args:
            x: ``params.dim`` integers in ``[0, 2**bits)``.

        Raises:
            ValueError: wrong length or values out of range.
            TypeError: not integer-valued.
        """
        p = self._ctx.params
        arr = np.asarray(x)
        if arr.ndim != 1 or arr.shape[0] != p.dim:
            raise ValueError(f"input must have shape ({p.dim},), got {arr.shape}")
        if arr.dtype.kind not in "iu":
            raise TypeError(f"input must be integers, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or int(arr.max()) >= 2**p.bits):
            raise ValueError(f"input values must be in [0, 2**{p.bits})")
        self._input = np.ascontiguousarray(arr, dtype=word_dtype(p.bits))

    def start(self) -> bytes:
        """Make fresh keys and return the encoded AdvertiseKeys.

        Raises:
            LocalProtocolError: if already started.
        """
        if self._state is not None:
            raise LocalProtocolError(AbortReason.LOCAL, "start() was already called")
        ctx = self._ctx
        c_keys = kex.X25519KeyPair.generate(random=ctx.random)
        s_keys = kex.X25519KeyPair.generate(random=ctx.random)
        signature = b""
        if ctx.params.threat is ThreatModel.ACTIVE:
            statement = session.advertise_statement(ctx.params, ctx.client_id, c_keys.public_bytes, s_keys.public_bytes)
            signature = ctx.identity_key.sign(statement)
        msg = AdvertiseKeys(client_id=ctx.client_id, c_pk=c_keys.public_bytes, s_pk=s_keys.public_bytes, signature=signature)
        self._state = ClientR0AdvertiseKeys(c_keys, s_keys, msg)
        return codec.encode(msg)

    def receive(self, data: bytes) -> bytes | None:
        """Process one message from the server.

        Args:
            data: the encoded message.

        Returns:
            The encoded reply, or None (after an Abort from the server).

        Raises:
            LocalProtocolError: before :meth:`start`, or without an input when
                one is needed (state unchanged).
            RemoteProtocolError: a rejected message (malformed, out of round,
                other session; state unchanged), or a rule the server broke
                (the client is now :class:`ClientAborted` and
                :attr:`abort_message` holds the Abort to send).
        """
        if self._state is None:
            raise LocalProtocolError(AbortReason.LOCAL, "receive() before start()")
        msg = codec.decode(data, params=self._ctx.params)
        state = self._state
        if state.terminal:
            raise RemoteProtocolError(AbortReason.OUT_OF_ROUND, f"{type(msg).__name__} after the client finished")
        if isinstance(msg, Abort):
            self._state = ClientAborted(AbortReason.PEER_ABORTED, f"server aborted: {msg.reason.value} {msg.detail}")
            return None
        try:
            nxt, reply = state.handle(self._ctx, msg, self)
        except AbortSignal as a:
            self._state = ClientAborted(a.reason, a.detail)
            self._abort_message = encode_abort(a.reason, a.detail)
            raise RemoteProtocolError(a.reason, a.detail) from None
        self._state = nxt
        return codec.encode(reply) if reply is not None else None
