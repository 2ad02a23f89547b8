"""The server side of SecAgg / SecAgg+ as a sans-I/O state machine.

The server never decides when a round ends: the caller (driver, framework
adapter, a timer of its own) calls :meth:`Server.advance` when it stops
waiting; clients that have not answered by then are dropped for the rest of
the session. :data:`SERVER_TABLE` maps ``(state class, message class)`` to the
receive handler and ``(state class, "advance")`` to the handler that closes
the round; a pair not in the table is OUT_OF_ROUND. The facade checks the
sender, its eligibility, replays and the session id once; a handler validates
the rest completely before it records anything, so a rejected message
changes nothing. States are in :mod:`secagg.protocol.server_states`, the
robust reconstruction in :mod:`secagg.protocol.reconstruct`; memory is
O(dim) (masked inputs are summed as they arrive).

>>> from secagg.params import Params
>>> p = Params(n_clients=3, dim=4, bits=16, graph="complete", neighbors=2, threshold=2)
>>> s = Server(p)
>>> type(s.state).__name__, s.phase.name
('ServerR0AdvertiseKeys', 'ADVERTISE_KEYS')
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np

from secagg import codec
from secagg.errors import AbortReason, InvalidKey, InvalidShareError, InvalidSignature, LocalProtocolError, RemoteProtocolError
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
    ShareKeysRequest,
    ShareKeysResponse,
    Signature,
    UnmaskingRequest,
    UnmaskingResponse,
)
from secagg.params import Params
from secagg.primitives import kex, ordered_tree, shamir, sign
from secagg.primitives.masking import accumulate_packed, add_masks
from secagg.primitives.randomness import DEFAULT_RANDOM, RandomSource, random_bytes
from secagg.primitives.words import word_dtype
from secagg.protocol import session
from secagg.protocol._abort import AbortSignal, encode_abort
from secagg.protocol.reconstruct import MAX_SUBSET_ATTEMPTS, reconstruct_all, require_shares
from secagg.protocol.server_states import (
    ServerAborted,
    ServerCompleted,
    ServerR0AdvertiseKeys,
    ServerR1ShareKeys,
    ServerR2MaskedInput,
    ServerR3ConsistencyCheck,
    ServerR4Unmasking,
    ServerState,
    SessionView,
)

__all__ = [
    "MAX_SEED_DRAWS",
    "MAX_SUBSET_ATTEMPTS",
    "ADVANCE",
    "SERVER_TABLE",
    "SERVER_TRANSITIONS",
    "Server",
    "ServerAborted",
    "ServerCompleted",
    "ServerR0AdvertiseKeys",
    "ServerR1ShareKeys",
    "ServerR2MaskedInput",
    "ServerR3ConsistencyCheck",
    "ServerR4Unmasking",
    "ServerState",
]


@dataclasses.dataclass(frozen=True)
class _Context:
    """What every handler may read: the round's fixed inputs."""

    params: Params
    pki: Mapping[int, bytes]
    random: RandomSource
    min_contributors: int


def _reject(ok: bool, reason: AbortReason, detail: str) -> None:
    if not ok:
        raise RemoteProtocolError(reason, detail)


def _enough(ctx: _Context, count: int, what: str) -> None:
    t, m = ctx.params.threshold, ctx.min_contributors
    if count < m:
        need = f"threshold t = {t}" if m == t else f"required r = max(t, min_contributors) = {m} (threshold t = {t})"
        raise AbortSignal(AbortReason.TOO_FEW_SURVIVORS, f"{count} {what}, {need}")


# ---------------------------------------------------------------------------- R0: AdvertiseKeys


def _take_keys(ctx: _Context, st: ServerR0AdvertiseKeys, sender: int, msg: AdvertiseKeys) -> None:
    """Fresh, distinct, not low-order keys; signed iff active."""
    _reject(not ({msg.c_pk, msg.s_pk} & st.keys_seen) and msg.c_pk != msg.s_pk, AbortReason.INCONSISTENT, f"client {sender} advertised a key already in use")
    for key in (msg.c_pk, msg.s_pk):
        try:
            kex.check_not_low_order(key)
        except InvalidKey:
            raise RemoteProtocolError(AbortReason.MALFORMED, f"client {sender} advertised a low-order key") from None
    active = ctx.params.threat is ThreatModel.ACTIVE
    _reject(active or not msg.signature, AbortReason.MALFORMED, f"client {sender} signed its keys outside the active model")
    _reject(not active or session.advertise_signature_ok(ctx.params, ctx.pki, msg), AbortReason.AUTHENTICATION, f"bad key signature from client {sender}")
    st.advertised[sender] = msg
    st.keys_seen.update((msg.c_pk, msg.s_pk))


MAX_SEED_DRAWS = 8
"""How many graph seeds the server draws before it gives up on a ring-key collision (SPEC.md, "Protocol", R0)."""


def _close_keys(ctx: _Context, st: ServerR0AdvertiseKeys):
    """Draw the graph seed, build the ordered key tree, send each participant its window and one multiproof."""
    p, u1 = ctx.params, list(st.advertised)
    _enough(ctx, len(u1), "clients advertised keys")
    m = len(u1)
    for _ in range(MAX_SEED_DRAWS):
        graph_seed = random_bytes(ctx.random, 32)
        keyed = sorted((ordered_tree.ring_key(graph_seed, u), u) for u in u1)
        try:
            tree = ordered_tree.OrderedTree.build([(key, session.key_leaf(st.advertised[u])) for key, u in keyed])
        except ValueError:  # two equal ring keys (probability < 2**-216): no strictly sorted ring, draw again
            continue
        break
    else:
        raise AbortSignal(AbortReason.INCONSISTENT, f"ring-key collisions under {MAX_SEED_DRAWS} graph seeds")
    ring = [u for _, u in keyed]
    del keyed
    sid = session.session_id(p, graph_seed, m, tree.root)
    _, centre = session.window_shape(p, m)
    neighbors: dict[int, tuple[int, ...]] = {}
    out: dict[int, Message] = {}
    if centre is None:  # the whole ring for everyone: one request, encoded once
        whole = ShareKeysRequest(graph_seed=graph_seed, m=m, start=0, entries=tuple(st.advertised[u] for u in ring), proof=b"")
        for p_u, u in enumerate(ring):
            neighbors[u] = session.window_neighbors(p, m, 0, ring, p_u)
            out[u] = whole
    else:
        for p_u, u in enumerate(ring):
            positions = session.window_of(p, m, p_u)
            start, window = positions[0], [ring[q] for q in positions]
            neighbors[u] = session.window_neighbors(p, m, start, window, p_u)
            out[u] = ShareKeysRequest(
                graph_seed=graph_seed,
                m=m,
                start=start,
                entries=tuple(st.advertised[v] for v in window),
                proof=tree.multiproof(positions),
            )
    del tree
    sets = {u: frozenset(vs) for u, vs in neighbors.items()}
    return ServerR1ShareKeys(SessionView(sid, dict(st.advertised), neighbors, sets, tuple(ring))), dict(sorted(out.items()))


# ---------------------------------------------------------------------------- R1: ShareKeys


def _take_shares(ctx: _Context, st: ServerR1ShareKeys, sender: int, msg: ShareKeysResponse) -> None:
    """Exactly one share per neighbour, in order."""
    _reject(tuple(s.peer for s in msg.shares) == st.sess.neighbors[sender], AbortReason.INCONSISTENT, f"client {sender} did not send one share per neighbour")
    st.responses[sender] = msg


def _close_shares(ctx: _Context, st: ServerR1ShareKeys):
    """Route each share to its responding recipient."""
    p, u2 = ctx.params, sorted(st.responses)
    _enough(ctx, len(u2), "clients shared keys")
    inbox: dict[int, list[AddressedShare]] = defaultdict(list)
    for u in u2:  # ascending, so every inbox list is sorted by sender
        for s in st.responses[u].shares:
            if s.peer in st.responses:
                inbox[s.peer].append(AddressedShare(peer=u, blob=s.blob))
    out = {v: MaskedInputRequest(session_id=st.sess.sid, shares=tuple(inbox[v])) for v in u2}
    commitments = {u: st.responses[u].seed_commitment for u in u2}
    tail_bits = (p.dim * p.bits) % 8
    pad_mask = (0xFF << tail_bits) & 0xFF if tail_bits else 0
    acc = np.zeros(p.dim, dtype=word_dtype(p.bits))
    return ServerR2MaskedInput(st.sess, frozenset(u2), commitments, acc, pad_mask), out


# ---------------------------------------------------------------------------- R2: MaskedInput


def _take_masked(ctx: _Context, st: ServerR2MaskedInput, sender: int, msg: MaskedInputResponse) -> None:
    """Zero padding bits; then add to the sum (validated: cannot fail half-way)."""
    _reject(not (msg.masked and msg.masked[-1] & st.pad_mask), AbortReason.MALFORMED, f"client {sender} sent non-zero padding bits")
    accumulate_packed(st.acc, msg.masked, bits=ctx.params.bits)
    st.received[sender] = True


def _close_masked(ctx: _Context, st: ServerR2MaskedInput):
    """Consistency check (active) or straight to unmasking."""
    u3 = tuple(sorted(st.received))
    _enough(ctx, len(u3), "masked inputs")
    if ctx.params.threat is ThreatModel.ACTIVE:
        u3_set = frozenset(u3)
        root, out = _flag_requests(ctx.params, st.sess, u3_set)
        statement = session.consistency_statement(st.sess.sid, root)
        return ServerR3ConsistencyCheck(st.sess, st.u2, st.commitments, st.acc, u3, u3_set, statement), out
    return _start_unmasking(st.sess, st.u2, st.commitments, st.acc, u3, u3, None)


def _windows(params: Params, ring: tuple[int, ...], targets) -> dict[int, tuple[int, list[int]]]:
    """``{u: (start, positions)}`` of each target's window (the extended W2 in the active model)."""
    m = len(ring)
    position = {u: q for q, u in enumerate(ring)}
    out = {}
    for u in targets:
        positions = session.window_of(params, m, position[u])
        out[u] = (positions[0], positions)
    return out


def _flag_requests(params: Params, sess: SessionView, u3: frozenset[int]) -> tuple[bytes, dict[int, Message]]:
    """Build the flag tree over the ring once; each survivor gets its window's flags and one multiproof."""
    ring = sess.ring
    tree = ordered_tree.FlagTree.build([ordered_tree.flag_leaf(u, u in u3) for u in ring])
    out: dict[int, Message] = {}
    made: dict[int, ConsistencyCheckRequest] = {}  # by window start: a whole-ring window is one request for all
    for u, (start, positions) in sorted(_windows(params, ring, u3).items()):
        if len(positions) == len(ring) and start in made:
            out[u] = made[start]
            continue
        out[u] = made[start] = ConsistencyCheckRequest(
            session_id=sess.sid,
            survivors_root=tree.root,
            flags=session.pack_flags([ring[q] in u3 for q in positions]),
            proof=tree.multiproof(positions),
        )
    return tree.root, out


# ---------------------------------------------------------------------------- R3: ConsistencyCheck


def _take_signature(ctx: _Context, st: ServerR3ConsistencyCheck, sender: int, msg: ConsistencyCheckResponse) -> None:
    """A valid signature over the one statement (sid and the flag-tree root)."""
    try:
        sign.verify(ctx.pki[sender], st.statement, msg.signature)
    except InvalidSignature:
        raise RemoteProtocolError(AbortReason.AUTHENTICATION, f"bad consistency signature from client {sender}") from None
    st.signatures[sender] = msg.signature


def _close_signatures(ctx: _Context, st: ServerR3ConsistencyCheck):
    """Needs ``threshold`` signers; each unmasking request carries the signatures of the recipient's window."""
    signers = tuple(sorted(st.signatures))
    t = ctx.params.threshold
    if len(signers) < t:
        raise AbortSignal(AbortReason.TOO_FEW_SURVIVORS, f"{len(signers)} consistency signatures, threshold t = {t}")
    ring, sigs = st.sess.ring, {}
    for u, (_, positions) in _windows(ctx.params, ring, signers).items():
        window = sorted(ring[q] for q in positions)
        sigs[u] = tuple(Signature(signer=v, signature=st.signatures[v]) for v in window if v in st.signatures)
    return _start_unmasking(st.sess, st.u2, st.commitments, st.acc, st.u3, signers, sigs)


def _start_unmasking(sess: SessionView, u2, commitments, acc, u3: tuple[int, ...], recipients, sigs):
    """Each recipient's survivors ``(N(u) & U3) | {u}``, dropped ``N(u) & (U2 - U3)`` and, active, its window's signatures."""
    u3_set = frozenset(u3)
    dropped_all = u2 - u3_set
    out: dict[int, Message] = {}
    for u in recipients:
        nbrs = sess.neighbor_sets[u]
        survivors = tuple(sorted((nbrs & u3_set) | {u}))
        dropped = tuple(sorted(nbrs & dropped_all))
        signatures = sigs[u] if sigs is not None else ()
        out[u] = UnmaskingRequest(session_id=sess.sid, survivors=survivors, dropped=dropped, signatures=signatures)
    return ServerR4Unmasking(sess, commitments, acc, u3_set, frozenset(recipients), frozenset(dropped_all)), out


# ---------------------------------------------------------------------------- R4: Unmasking


def _take_unmasking(ctx: _Context, st: ServerR4Unmasking, sender: int, msg: UnmaskingResponse) -> None:
    """Only the shares the sender may reveal, all well-formed."""
    nbrs = st.sess.neighbor_sets[sender]
    _reject({s.owner for s in msg.seed_shares} <= (nbrs & st.u3) | {sender}, AbortReason.INCONSISTENT, f"client {sender} revealed seed shares it was not asked for")
    _reject({s.owner for s in msg.key_shares} <= nbrs & st.dropped, AbortReason.INCONSISTENT, f"client {sender} revealed key shares it was not asked for")
    revealed = msg.seed_shares + msg.key_shares
    try:  # every share is SHARE_SIZE bytes (RevealedShare), so one parse checks each of them
        rows = shamir.shares_from_bytes(b"".join(s.share for s in revealed), len(revealed))
    except InvalidShareError:
        raise RemoteProtocolError(AbortReason.MALFORMED, f"client {sender} sent an invalid share") from None
    split = len(msg.seed_shares)
    for s, share in zip(msg.seed_shares, rows[:split]):
        st.seed_shares.setdefault(s.owner, {})[sender] = share
    for s, share in zip(msg.key_shares, rows[split:]):
        st.key_shares.setdefault(s.owner, {})[sender] = share
    st.responded[sender] = True


def _close_unmasking(ctx: _Context, st: ServerR4Unmasking):
    """Reconstruct the survivors' seeds and the dropped clients' mask keys, checked; unmask the sum."""
    p, sess = ctx.params, st.sess
    suspects: set[int] = set()  # holders caught sending a bad share, used last from then on
    survivors = sorted(st.u3)
    needed = sorted(u for u in st.dropped if sess.neighbor_sets[u] & st.u3)  # masks some survivor holds
    seed_shares = {u: st.seed_shares.get(u, {}) for u in survivors}
    key_shares = {u: st.key_shares.get(u, {}) for u in needed}
    # Step 1 before steps 2-3: too few shares of any secret, seed or key, aborts before a secret is rebuilt.
    require_shares(p.threshold, seed_shares, "self-mask seed")
    require_shares(p.threshold, key_shares, "mask key")
    seeds = reconstruct_all(
        p.threshold,
        seed_shares,
        lambda u, secret: session.seed_commitment(sess.sid, u, secret) == st.commitments[u],
        "self-mask seed",
        suspects,
    )
    keys = reconstruct_all(
        p.threshold,
        key_shares,
        lambda u, secret: kex.X25519KeyPair.from_private_bytes(secret).public_bytes == sess.advertised[u].s_pk,
        "mask key",
        suspects,
    )
    mask_seeds, signs = [seeds[u] for u in survivors], [-1] * len(survivors)
    for u in needed:
        pair = kex.X25519KeyPair.from_private_bytes(keys[u])
        for v in sess.neighbors[u]:
            if v in st.u3:
                mask_seeds.append(session.mask_seed(pair, sess.advertised[v].s_pk, sess.sid, u, v))
                signs.append(-session.pair_sign(v, u))
    add_masks(st.acc, mask_seeds, signs, session_id=sess.sid, bits=p.bits)
    dropped = tuple(i for i in range(1, p.n_clients + 1) if i not in st.u3)
    return ServerCompleted(st.acc, tuple(survivors), dropped), {}


# ---------------------------------------------------------------------------- the table


class Transition(NamedTuple):
    """One entry of :data:`SERVER_TABLE`.

    Attributes:
        handler: receive: ``handler(ctx, state, sender, msg) -> None`` (records
            into the state); advance: ``handler(ctx, state) -> (next state, outbox)``.
        targets: the possible next state classes.
    """

    handler: Callable
    targets: tuple[type, ...]


ADVANCE = "advance"
"""The event key of :meth:`Server.advance` in :data:`SERVER_TABLE`."""

SERVER_TABLE: dict[tuple[type, type | str], Transition] = {
    (ServerR0AdvertiseKeys, AdvertiseKeys): Transition(_take_keys, (ServerR0AdvertiseKeys,)),
    (ServerR0AdvertiseKeys, ADVANCE): Transition(_close_keys, (ServerR1ShareKeys,)),
    (ServerR1ShareKeys, ShareKeysResponse): Transition(_take_shares, (ServerR1ShareKeys,)),
    (ServerR1ShareKeys, ADVANCE): Transition(_close_shares, (ServerR2MaskedInput,)),
    (ServerR2MaskedInput, MaskedInputResponse): Transition(_take_masked, (ServerR2MaskedInput,)),
    (ServerR2MaskedInput, ADVANCE): Transition(_close_masked, (ServerR3ConsistencyCheck, ServerR4Unmasking)),
    (ServerR3ConsistencyCheck, ConsistencyCheckResponse): Transition(_take_signature, (ServerR3ConsistencyCheck,)),
    (ServerR3ConsistencyCheck, ADVANCE): Transition(_close_signatures, (ServerR4Unmasking,)),
    (ServerR4Unmasking, UnmaskingResponse): Transition(_take_unmasking, (ServerR4Unmasking,)),
    (ServerR4Unmasking, ADVANCE): Transition(_close_unmasking, (ServerCompleted,)),
}
"""The server machine; any non-terminal state may also go to ServerAborted (an AbortSignal in an advance handler)."""

SERVER_TRANSITIONS: dict[tuple[str, str], str] = {
    (s.__name__, e if isinstance(e, str) else e.__name__): " | ".join(t.__name__ for t in tr.targets)
    for (s, e), tr in SERVER_TABLE.items()
}
""":data:`SERVER_TABLE` by class names (what SPEC.md draws)."""

_PHASE_OF = {
    ServerR0AdvertiseKeys: Phase.ADVERTISE_KEYS,
    ServerR1ShareKeys: Phase.SHARE_KEYS,
    ServerR2MaskedInput: Phase.MASKED_INPUT,
    ServerR3ConsistencyCheck: Phase.CONSISTENCY_CHECK,
    ServerR4Unmasking: Phase.UNMASKING,
}


def _check_sender(state: ServerState, sender: int, msg: Message) -> None:
    """Who sent it, whether they may, whether they already did, and for which session."""
    _reject(getattr(msg, "client_id", sender) == sender, AbortReason.MALFORMED, f"message from {sender} claims to be from {getattr(msg, 'client_id', sender)}")
    _reject(state.eligible is None or sender in state.eligible, AbortReason.OUT_OF_ROUND, f"client {sender} is not part of this round")
    _reject(sender not in state.seen, AbortReason.REPLAYED, f"second {type(msg).__name__} from client {sender}")
    sess = getattr(state, "sess", None)
    _reject(sess is None or msg.session_id == sess.sid, AbortReason.REPLAYED, f"client {sender} sent a message of another session")


class Server:
    """The server of one secure-aggregation round (sans-I/O facade).

    Args:
        params: the round parameters.
        pki: ``{client id: Ed25519 public key}`` (required in the active model).
        random: the randomness source for the graph seed.
        min_contributors: the fewest masked inputs a sum may hold (default and
            at least ``params.threshold``). Every round closes with a
            ``TOO_FEW_SURVIVORS`` abort once fewer clients than this remain,
            so no output ever sums fewer inputs. Set it to the
            ``min_clients`` a distributed-DP plan calibrated its noise to.

    Raises:
        TypeError: if ``params`` is not :class:`Params` or
            ``min_contributors`` not an int.
        ValueError: active model without a PKI, or ``min_contributors``
            outside ``[2, params.n_clients]``.

    Warning:
        ``min_contributors`` is enforced by the server, which the
        semi-honest model trusts to follow the protocol. Clients check only
        the threshold (and, in the active model, that they signed a survivor
        set of at least ``threshold`` clients).
    """

    def __init__(
        self,
        params: Params,
        *,
        pki: Mapping[int, bytes] | None = None,
        random: RandomSource = DEFAULT_RANDOM,
        min_contributors: int | None = None,
    ) -> None:
        if not isinstance(params, Params):
            raise TypeError(f"params must be Params, got {type(params).__name__}")
        if params.threat is ThreatModel.ACTIVE and pki is None:
            raise ValueError("the active threat model needs a pki")
        if min_contributors is None:
            min_contributors = params.threshold
        if isinstance(min_contributors, bool) or not isinstance(min_contributors, int):
            raise TypeError(f"min_contributors must be an int, got {min_contributors!r}")
        if not 2 <= min_contributors <= params.n_clients:
            raise ValueError(
                f"min_contributors must be in [2, n_clients={params.n_clients}] (a sum of one client is its input), "
                f"got {min_contributors}"
            )
        if not callable(getattr(random, "token_bytes", None)):
            raise TypeError(f"random must have a token_bytes(n) method, got {type(random).__name__}")
        self.min_contributors = max(params.threshold, min_contributors)
        self.params = params
        self.pki = dict(pki) if pki is not None else {}
        self.random = random
        self._ctx = _Context(params, self.pki, random, self.min_contributors)
        self._state: ServerState = ServerR0AdvertiseKeys()
        self._members: set[int] = set()  # clients with at least one accepted message

    @property
    def state(self) -> ServerState:
        """The current state."""
        return self._state

    @property
    def phase(self) -> Phase | None:
        """The phase whose client messages the server is collecting; None once finished."""
        return _PHASE_OF.get(type(self._state))

    @property
    def finished(self) -> bool:
        """True once completed or aborted."""
        return self._state.terminal

    def receive(self, sender: int, data: bytes) -> None:
        """Process one message from client ``sender``.

        An Abort from a client is accepted and changes nothing: the client
        simply does not answer any more, which the next :meth:`advance`
        treats as a dropout.

        Args:
            sender: the transport-authenticated id of the sending client.
            data: the encoded message.

        Raises:
            RemoteProtocolError: the message was rejected (malformed, out of
                round, replayed, from another session, inconsistent); the
                server state is unchanged.
            LocalProtocolError: the server already finished.
        """
        if self._state.terminal:
            raise LocalProtocolError(AbortReason.LOCAL, f"receive() in terminal state {type(self._state).__name__}")
        if isinstance(sender, bool) or not isinstance(sender, int) or not 1 <= sender <= self.params.n_clients:
            raise RemoteProtocolError(AbortReason.MALFORMED, f"unknown sender {sender!r}")
        msg = codec.decode(data, params=self.params)
        if isinstance(msg, Abort):
            return  # the client leaves; it simply does not answer any more
        state = self._state
        entry = SERVER_TABLE.get((type(state), type(msg)))
        _reject(entry is not None, AbortReason.OUT_OF_ROUND, f"{type(msg).__name__} is unexpected in {type(state).__name__}")
        _check_sender(state, sender, msg)
        entry.handler(self._ctx, state, sender, msg)
        self._members.add(sender)

    def advance(self) -> dict[int, bytes]:
        """Close the current round and return the messages of the next one.

        Returns:
            ``{client id: encoded message}``; after an abort, an Abort message
            for every client that took part; empty once completed.

        Raises:
            LocalProtocolError: if the server already finished.
        """
        state = self._state
        if state.terminal:
            raise LocalProtocolError(AbortReason.LOCAL, f"advance() in terminal state {type(state).__name__}")
        try:
            nxt, out = SERVER_TABLE[type(state), ADVANCE].handler(self._ctx, state)
        except AbortSignal as a:
            self._state = ServerAborted(a.reason, a.detail)
            abort = encode_abort(a.reason, a.detail)
            return {u: abort for u in sorted(self._members)}
        self._state = nxt
        cache: dict[int, bytes] = {}
        encoded = {}
        for u, m in out.items():  # identical messages (broadcasts) are encoded once
            key = id(m)
            if key not in cache:
                cache[key] = codec.encode(m)
            encoded[u] = cache[key]
        return encoded

    def result(self) -> ServerCompleted:
        """Return the completed state (total, included, dropped).

        Raises:
            LocalProtocolError: if the round has not completed.
        """
        if not isinstance(self._state, ServerCompleted):
            raise LocalProtocolError(AbortReason.LOCAL, f"no result in state {type(self._state).__name__}")
        return self._state
