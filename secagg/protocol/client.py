"""The client side of SecAgg / SecAgg+ as a sans-I/O state machine.

Bytes in, bytes out: :class:`Client` never touches a socket, a thread or a
clock. The states (:mod:`secagg.protocol.client_states`) are frozen records;
:data:`CLIENT_TABLE` maps ``(state class, message class)`` to the handler
that computes ``(next state, reply)`` from a frozen :class:`_Context`. A pair
not in the table is refused as OUT_OF_ROUND; the facade checks the session id
once, before any handler runs. SPEC.md renders the same table as a diagram.

Error semantics:

* a malformed, out-of-round or replayed message (another session id) raises
  :class:`RemoteProtocolError` and leaves the state unchanged;
* a server that breaks a rule (chapter "Protocol") moves the client to the
  sticky :class:`ClientAborted` state, whose :attr:`Client.abort_message` is
  the Abort to send, and raises :class:`RemoteProtocolError` with the reason;
* calling the API wrongly raises :class:`LocalProtocolError`.

>>> from secagg.params import Params
>>> p = Params(n_clients=3, dim=4, bits=16, graph="complete", neighbors=2, threshold=2)
>>> c = Client(1, p, input=[1, 2, 3, 4])
>>> _ = c.start()
>>> type(c.state).__name__, c.phase.name, c.finished
('ClientR0AdvertiseKeys', 'SHARE_KEYS', False)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from secagg import codec
from secagg.errors import (
    AbortReason,
    InvalidShareError,
    InvalidSignature,
    LocalProtocolError,
    ProofError,
    RemoteProtocolError,
)
from secagg.kinds import Phase, ThreatModel
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
from secagg.params import Params
from secagg.primitives import kex, ordered_tree, shamir, sign
from secagg.primitives.masking import mask_input, pack
from secagg.primitives.randomness import DEFAULT_RANDOM, RandomSource, random_bytes
from secagg.primitives.words import word_dtype
from secagg.protocol import session, state_codec
from secagg.protocol._abort import AbortSignal, encode_abort
from secagg.protocol.client_states import (
    NEXT_PHASE,
    ClientAborted,
    ClientCompleted,
    ClientR0AdvertiseKeys,
    ClientR1ShareKeys,
    ClientR2MaskedInput,
    ClientR3ConsistencyCheck,
    ClientState,
)

__all__ = [
    "CLIENT_TABLE",
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


@dataclasses.dataclass(frozen=True)
class _Context:
    """What every handler may read: who this client is, and the round's fixed inputs."""

    client_id: int
    params: Params
    random: RandomSource
    identity_key: sign.Ed25519SigningKey | None
    pki: Mapping[int, bytes] | None
    input: np.ndarray | None = None


def _require(ok: bool, reason: AbortReason, detail: str) -> None:
    if not ok:
        raise AbortSignal(reason, detail)


# ---------------------------------------------------------------------------- handlers


def _share_keys(ctx: _Context, st: ClientR0AdvertiseKeys, msg: ShareKeysRequest):
    """R0 -> R1: check the window and its proof, fix the session, send encrypted shares (O(k + log m))."""
    p, me, m, entries = ctx.params, ctx.client_id, msg.m, msg.entries
    ids = tuple(a.client_id for a in entries)
    _require(all(v <= p.n_clients for v in ids), AbortReason.MALFORMED, "entry id above n_clients")
    _require(m >= p.threshold, AbortReason.TOO_FEW_SURVIVORS, f"{m} clients advertised keys, threshold t = {p.threshold}")
    count, centre = session.window_shape(p, m)
    _require(len(entries) == count, AbortReason.INCONSISTENT, f"{len(entries)} entries, expected a window of {count} for m = {m}")
    if centre is None:
        _require(msg.start == 0, AbortReason.INCONSISTENT, "a whole-ring window must start at ring position 0")
        _require(me in ids, AbortReason.INCONSISTENT, "own id missing from the window")
        index = ids.index(me)
    else:
        _require(ids[centre] == me, AbortReason.INCONSISTENT, f"own entry is not at the window's centre (index {centre})")
        index = centre
    _check_entries(entries, entries[index], st.advertised)
    root = session.verified_window_root(msg)
    if p.threat is ThreatModel.ACTIVE:
        session.verify_key_signatures(p, ctx.pki, entries)
    sid = session.session_id(p, msg.graph_seed, m, root)
    neighbors = session.window_neighbors(p, m, msg.start, ids, (msg.start + index) % m)
    holders = sorted((*neighbors, me))
    _require(len(holders) >= p.threshold, AbortReason.TOO_FEW_SURVIVORS, f"{len(holders)} share holders, threshold t = {p.threshold}")
    by_id = {a.client_id: a for a in entries}
    seed = random_bytes(ctx.random, shamir.SECRET_SIZE)
    shares = shamir.split([seed, st.s_keys.private_bytes()], threshold=p.threshold, xs=holders, random=ctx.random)
    pair = 2 * shamir.SHARE_SIZE  # one holder's shares of (seed, s_sk), in split's holder-major order
    flat = shamir.shares_to_bytes(shares.reshape(-1, shamir.LIMBS))  # one range check for every holder's pair
    by_holder = {h: flat[row * pair : (row + 1) * pair] for row, h in enumerate(holders)}
    share_keys = session._pair_keys(st.c_keys, {v: by_id[v].c_pk for v in neighbors}, sid, me, kex.PURPOSE_SHARE_ENCRYPTION, 1)
    out = tuple(
        AddressedShare(peer=v, blob=session.seal_share(share_keys[v], sid, me, v, by_holder[v], ctx.random)) for v in neighbors
    )
    reply = ShareKeysResponse(client_id=me, session_id=sid, seed_commitment=session.seed_commitment(sid, me, seed), shares=out)
    peers = {v: by_id[v].s_pk for v in neighbors}
    nxt = ClientR1ShareKeys(sid, m, msg.start, ids, neighbors, peers, share_keys, st.s_keys, seed, by_holder[me])
    return nxt, reply


def _check_entries(entries: Sequence[AdvertiseKeys], mine: AdvertiseKeys, own: AdvertiseKeys) -> None:
    _require((mine.c_pk, mine.s_pk) == (own.c_pk, own.s_pk), AbortReason.INCONSISTENT, "own advertised keys did not come back unchanged")
    keys = [a.c_pk for a in entries] + [a.s_pk for a in entries]
    _require(len(set(keys)) == len(keys), AbortReason.INCONSISTENT, "two advertised public keys are equal")


def _masked_input(ctx: _Context, st: ClientR1ShareKeys, msg: MaskedInputRequest):
    """R1 -> R2: open the neighbours' shares and send the masked input."""
    p, me = ctx.params, ctx.client_id
    if ctx.input is None:
        raise LocalProtocolError(AbortReason.LOCAL, "set_input() must be called before the MaskedInputRequest")
    held = {me: st.own_share}
    for entry in msg.shares:
        v = entry.peer
        _require(v in st.share_keys, AbortReason.INCONSISTENT, f"share from client {v}, who is not a neighbour")
        body = session.open_share(st.share_keys[v], st.sid, v, me, entry.blob)
        try:
            shamir.check_shares(body, 2)
        except InvalidShareError:
            raise AbortSignal(AbortReason.MALFORMED, f"share from client {v} is not a valid share") from None
        held[v] = body
    alive = tuple(sorted(v for v in held if v != me))
    _require(len(alive) + 1 >= p.threshold, AbortReason.TOO_FEW_SURVIVORS, f"{len(alive) + 1} live share holders, threshold t = {p.threshold}")
    seeds = list(session._pair_keys(st.s_keys, {v: st.peers[v] for v in alive}, st.sid, me, kex.PURPOSE_MASK_SEED, 2).values())
    signs = [session.pair_sign(me, v) for v in alive]
    masked = mask_input(ctx.input, bits=p.bits, session_id=st.sid, self_seed=st.seed, pair_seeds=seeds, pair_signs=signs)
    reply = MaskedInputResponse(client_id=me, session_id=st.sid, masked=pack(masked, p.bits))
    return ClientR2MaskedInput(st.sid, st.m, st.start, st.window, st.neighbors, alive, held), reply


def _consistency_check(ctx: _Context, st: ClientR2MaskedInput, msg: ConsistencyCheckRequest):
    """R2 -> R3 (active): check the window's survivor flags against their root, sign the root (O(k + log m))."""
    p, me, m, window = ctx.params, ctx.client_id, st.m, st.window
    flags = session.unpack_flags(msg.flags, len(window))
    index = window.index(me)
    _require(flags[index], AbortReason.INCONSISTENT, "own id is not flagged as a survivor")
    positions = [(st.start + j) % m for j in range(len(window))]
    leaves = [ordered_tree.flag_leaf(v, f) for v, f in zip(window, flags)]
    try:
        root = ordered_tree.verify_flag_proof(m, positions, leaves, msg.proof)
    except (ProofError, ValueError) as exc:
        raise AbortSignal(AbortReason.INCONSISTENT, f"the survivor flag proof does not verify ({exc})") from None
    _require(root == msg.survivors_root, AbortReason.INCONSISTENT, "the survivor flag proof leads to another root")
    signed = tuple(sorted(v for v, f in zip(window, flags) if f))
    own = session.window_holders(p, m, st.start, window, positions[index])
    flagged = len(set(own) & set(signed))
    _require(flagged >= p.threshold, AbortReason.TOO_FEW_SURVIVORS, f"{flagged} of its holders flagged as survivors, threshold t = {p.threshold}")
    signature = ctx.identity_key.sign(session.consistency_statement(st.sid, root))
    reply = ConsistencyCheckResponse(client_id=me, session_id=st.sid, signature=signature)
    return ClientR3ConsistencyCheck(st.sid, m, st.start, window, st.neighbors, st.alive, st.held, signed, root), reply


def _unmask_passive(ctx: _Context, st: ClientR2MaskedInput, msg: UnmaskingRequest):
    """R2 -> Completed (not active): reveal the shares."""
    _require(not msg.signatures, AbortReason.INCONSISTENT, "consistency signatures outside the active model")
    live, dropped = _unmask_rules(ctx, st, msg)
    return _reveal(ctx, st, live, dropped)


def _unmask_active(ctx: _Context, st: ClientR3ConsistencyCheck, msg: UnmaskingRequest):
    """R3 -> Completed (active): signatures of its window on its root, lists = its flags, a quorum for every owner."""
    p, me, m, window = ctx.params, ctx.client_id, st.m, st.window
    flagged = set(st.signed)
    expected = tuple(sorted((flagged & set(st.neighbors)) | {me}))
    _require(msg.survivors == expected, AbortReason.INCONSISTENT, "survivor list differs from the flags it signed")
    lied = sorted(flagged & set(msg.dropped))[:8]
    _require(not lied, AbortReason.INCONSISTENT, f"dropped list names clients flagged as survivors: {lied}")
    statement = session.consistency_statement(st.sid, st.survivors_root)
    for s in msg.signatures:
        _require(s.signer in flagged, AbortReason.INCONSISTENT, f"signature from client {s.signer}, not flagged as a survivor in its window")
        try:
            sign.verify(ctx.pki[s.signer], statement, s.signature)
        except (InvalidSignature, KeyError):
            raise AbortSignal(AbortReason.AUTHENTICATION, f"bad consistency signature of client {s.signer}") from None
    live, dropped = _unmask_rules(ctx, st, msg)
    signers = {s.signer for s in msg.signatures}
    t, index, owners = p.threshold, {v: j for j, v in enumerate(window)}, (*live, *dropped)
    quorums = session.window_holder_counts(p, m, st.start, window, [(st.start + index[v]) % m for v in owners], signers)
    for owner, quorum in zip(owners, quorums):  # O(|W2|) in all: one prefix count, not a holder set per owner
        _require(quorum >= t, AbortReason.TOO_FEW_SURVIVORS, f"{quorum} consistency signatures among the holders of client {owner}, threshold t = {t}")
    return _reveal(ctx, st, live, dropped)


def _unmask_rules(ctx: _Context, st: ClientR2MaskedInput, msg: UnmaskingRequest) -> tuple[list[int], list[int]]:
    """The R4 rules shared by every model: never both shares of one peer. Returns (live, dropped) owners."""
    me, survivors, dropped = ctx.client_id, set(msg.survivors), set(msg.dropped)
    both = sorted(survivors & dropped)[:8]
    _require(not both, AbortReason.INCONSISTENT, f"clients listed both alive and dropped: {both}")
    _require(me not in dropped, AbortReason.INCONSISTENT, "own id listed as dropped")
    _require(me in survivors, AbortReason.INCONSISTENT, "own id missing from the survivors")
    strangers = sorted(survivors - set(st.neighbors) - {me})[:8]
    _require(not strangers, AbortReason.INCONSISTENT, f"survivors list non-neighbours: {strangers}")
    _require(dropped <= set(st.alive), AbortReason.INCONSISTENT, "dropped list names clients whose shares this client never received")
    live = sorted((survivors & set(st.alive)) | {me})
    t = ctx.params.threshold
    _require(len(live) >= t, AbortReason.TOO_FEW_SURVIVORS, f"{len(live)} surviving share holders, threshold t = {t}")
    return live, sorted(dropped)


def _reveal(ctx: _Context, st: ClientR2MaskedInput, live: list[int], dropped: list[int]):
    """Answer with the share of ``b_v`` for every live owner and of ``s_sk_v`` for every dropped one."""
    half = shamir.SHARE_SIZE
    seed_shares = tuple(RevealedShare(owner=v, share=st.held[v][:half]) for v in live)
    key_shares = tuple(RevealedShare(owner=v, share=st.held[v][half:]) for v in dropped)
    reply = UnmaskingResponse(client_id=ctx.client_id, session_id=st.sid, seed_shares=seed_shares, key_shares=key_shares)
    return ClientCompleted(), reply


def _peer_aborted(ctx: _Context, st: ClientState, msg: Abort):
    """Any live state -> Aborted: the server gave up; nothing to send back."""
    return ClientAborted(AbortReason.PEER_ABORTED, f"server aborted: {msg.reason.value} {msg.detail}"), None


# ---------------------------------------------------------------------------- the table


class Transition(NamedTuple):
    """One entry of :data:`CLIENT_TABLE`.

    Attributes:
        handler: ``handler(ctx, state, msg) -> (next state, reply or None)``.
        target: the class of the next state.
        threats: the threat models in which the entry applies (None: all).
    """

    handler: Callable
    target: type
    threats: frozenset[ThreatModel] | None = None


_ACTIVE = frozenset({ThreatModel.ACTIVE})
_NOT_ACTIVE = frozenset(ThreatModel) - _ACTIVE
_LIVE = (ClientR0AdvertiseKeys, ClientR1ShareKeys, ClientR2MaskedInput, ClientR3ConsistencyCheck)

CLIENT_TABLE: dict[tuple[type, type], Transition] = {
    (ClientR0AdvertiseKeys, ShareKeysRequest): Transition(_share_keys, ClientR1ShareKeys),
    (ClientR1ShareKeys, MaskedInputRequest): Transition(_masked_input, ClientR2MaskedInput),
    (ClientR2MaskedInput, ConsistencyCheckRequest): Transition(_consistency_check, ClientR3ConsistencyCheck, _ACTIVE),
    (ClientR2MaskedInput, UnmaskingRequest): Transition(_unmask_passive, ClientCompleted, _NOT_ACTIVE),
    (ClientR3ConsistencyCheck, UnmaskingRequest): Transition(_unmask_active, ClientCompleted, _ACTIVE),
    **{(state, Abort): Transition(_peer_aborted, ClientAborted) for state in _LIVE},
}
"""The client machine: every allowed ``(state, message)`` pair; anything else is OUT_OF_ROUND."""

CLIENT_TRANSITIONS: dict[tuple[str, str], str] = {
    (s.__name__, m.__name__): t.target.__name__ for (s, m), t in CLIENT_TABLE.items()
}
""":data:`CLIENT_TABLE` by class names (what SPEC.md draws)."""


# ---------------------------------------------------------------------------- the facade


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
        last_round: the largest ``params.round_counter`` this client has
            already advertised keys for, from the client's own records (never
            from the server), or None for its first round. In the active model
            the signed keys of every client bind ``params.round_counter``, so a
            client that keeps it strictly increasing refuses keys replayed
            from any earlier round (SPEC.md, "Protocol", "Freshness").

    Raises:
        TypeError, ValueError: on a bad id, input, or a missing identity key or
            PKI in the active model; ValueError if ``params.round_counter`` is
            not above ``last_round``.
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
        last_round: int | None = None,
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
        if not callable(getattr(random, "token_bytes", None)):
            raise TypeError(f"random must have a token_bytes(n) method, got {type(random).__name__}")
        if last_round is not None:
            if isinstance(last_round, bool) or not isinstance(last_round, int):
                raise TypeError(f"last_round must be an int or None, got {type(last_round).__name__}")
            if params.round_counter <= last_round:
                raise ValueError(
                    f"params.round_counter={params.round_counter} is not above last_round={last_round}: "
                    "a round counter must never repeat (keys signed for it could be replayed)"
                )
        self._ctx = _Context(client_id, params, random, identity_key, dict(pki) if pki is not None else None)
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
    def phase(self) -> Phase | None:
        """The phase of the next message this client sends; None once finished."""
        if self._state is None:
            return Phase.ADVERTISE_KEYS
        if type(self._state) is ClientR2MaskedInput:
            return Phase.CONSISTENCY_CHECK if self._ctx.params.threat is ThreatModel.ACTIVE else Phase.UNMASKING
        return NEXT_PHASE.get(type(self._state))

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
        self._ctx = dataclasses.replace(self._ctx, input=np.ascontiguousarray(arr, dtype=word_dtype(p.bits)))

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
        self._state = state_codec.advertised_state(ctx.params, ctx.client_id, c_keys, s_keys, ctx.identity_key)
        return codec.encode(self._state.advertised)

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
        entry = CLIENT_TABLE.get((type(state), type(msg)))
        if entry is None or (entry.threats is not None and self._ctx.params.threat not in entry.threats):
            raise RemoteProtocolError(
                AbortReason.OUT_OF_ROUND, f"{type(msg).__name__} is unexpected in state {type(state).__name__}"
            )
        if getattr(msg, "session_id", None) not in (None, getattr(state, "sid", None)):
            raise RemoteProtocolError(AbortReason.REPLAYED, "message belongs to another session")
        try:
            nxt, reply = entry.handler(self._ctx, state, msg)
        except AbortSignal as a:
            self._state = ClientAborted(a.reason, a.detail)
            self._abort_message = encode_abort(a.reason, a.detail)
            raise RemoteProtocolError(a.reason, a.detail) from None
        self._state = nxt
        return codec.encode(reply) if reply is not None else None

    def to_state(self) -> bytes:
        """Serialise this client (SPEC.md, chapter "Client state") so that it can resume in another process.

        Warning:
            The bytes carry this round's secret keys, the self-mask seed, the
            shares this client holds and its input: store them as you would a
            private key (never on the server). Restore them once per message
            and store the state that follows together with sending its reply:
            restoring an old state after keys were advertised can give a
            wrong sum or expose the input to a server that opens two sessions
            (SPEC.md, "Client state", "Single use"). The identity key, PKI and
            randomness source are not included; :meth:`from_state` takes them.

        Returns:
            The versioned state bytes, bound to ``params``, this client's id and
            (from the share-keys phase on) the session id.

        Raises:
            Nothing of its own.
        """
        ctx = self._ctx
        return state_codec.encode_client(ctx.params, ctx.client_id, self._state, ctx.input, self._abort_message)

    @classmethod
    def from_state(
        cls,
        data: bytes,
        client_id: int,
        params: Params,
        *,
        identity_key: sign.Ed25519SigningKey | None = None,
        pki: Mapping[int, bytes] | None = None,
        random: RandomSource = DEFAULT_RANDOM,
    ) -> Client:
        """Rebuild a client from :meth:`to_state` bytes.

        The arguments are those of the constructor (minus ``input``, which the
        state carries if it was set); the state must have been made for the
        same ``client_id`` and ``params``. A restored client refuses a message
        of another phase (OUT_OF_ROUND) or another session (REPLAYED) exactly
        as the original would, and before the session exists the share-keys
        request must echo the keys the state advertised.

        Args:
            data: the state bytes.
            client_id: this client's id.
            params: the round parameters.
            identity_key: the long-term Ed25519 key (active model only).
            pki: ``{client id: Ed25519 public key}`` (active model only).
            random: the randomness source from here on.

        Returns:
            The restored :class:`Client`.

        Raises:
            DecodeError: malformed bytes (unknown version or phase, a count or
                length beyond its bound, an invalid key or share, trailing bytes).
            ValueError: a state of another client or other parameters, or an
                identity key that does not match the signature the state advertised.
            TypeError: as the constructor.
        """
        client = cls(client_id, params, identity_key=identity_key, pki=pki, random=random)
        state, x, announce = state_codec.decode_client(data, params, client_id, identity_key)
        if x is not None:
            client.set_input(x)
        client._state = state
        client._abort_message = encode_abort(state.reason, state.detail) if announce else None
        return client
