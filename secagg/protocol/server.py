"""The server side of SecAgg / SecAgg+ as a sans-I/O state machine.

The server never decides when a round ends: the caller (driver, framework
adapter, a timer of its own) calls :meth:`Server.advance` when it stops
waiting; clients that have not answered by then are dropped for the rest of
the session. :meth:`Server.receive` validates a message completely before it
touches any state, so a rejected message changes nothing (the sender is simply
treated as silent unless it sends a valid message later in the same round).

Transition table (``advance`` moves to the next round)::

    ServerR0AdvertiseKeys      --advance-->  ServerR1ShareKeys
    ServerR1ShareKeys          --advance-->  ServerR2MaskedInput
    ServerR2MaskedInput        --advance-->  ServerR3ConsistencyCheck   (active)
    ServerR2MaskedInput        --advance-->  ServerR4Unmasking          (not active)
    ServerR3ConsistencyCheck   --advance-->  ServerR4Unmasking
    ServerR4Unmasking          --advance-->  ServerCompleted
    any non-terminal           --advance-->  ServerAborted  (too few clients, failed reconstruction)

Memory: the masked inputs are summed as they arrive (O(dim), not O(n*dim)).
Reconstruction uses exactly ``threshold`` shares per secret, reuses Lagrange
coefficients for secrets with the same responder set, and checks every
reconstructed mask key against the advertised public key and every self-mask
seed against its commitment; a mismatch makes it try other share subsets
before aborting with RECONSTRUCTION_FAILED.

>>> from secagg.params import Params
>>> p = Params(n_clients=3, dim=4, bits=16, graph="complete", neighbors=2, threshold=2)
>>> s = Server(p)
>>> type(s.state).__name__
'ServerR0AdvertiseKeys'
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping

import numpy as np

from secagg import codec
from secagg.errors import AbortReason, InvalidKey, InvalidShareError, InvalidSignature, LocalProtocolError, RemoteProtocolError
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
from secagg.kinds import Phase, ThreatModel
from secagg.params import Params
from secagg.primitives import kex, merkle, shamir, sign
from secagg.primitives.masking import accumulate_packed, add_masks
from secagg.primitives.randomness import DEFAULT_RANDOM, RandomSource, random_bytes
from secagg.primitives.words import word_dtype
from secagg.protocol import session
from secagg.protocol._abort import AbortSignal, encode_abort
from secagg.protocol.graph import build_neighbors

__all__ = [
    "MAX_SUBSET_ATTEMPTS",
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

SERVER_TRANSITIONS: dict[tuple[str, str], str] = {
    ("ServerR0AdvertiseKeys", "AdvertiseKeys"): "ServerR0AdvertiseKeys",
    ("ServerR0AdvertiseKeys", "advance"): "ServerR1ShareKeys",
    ("ServerR1ShareKeys", "ShareKeysResponse"): "ServerR1ShareKeys",
    ("ServerR1ShareKeys", "advance"): "ServerR2MaskedInput",
    ("ServerR2MaskedInput", "MaskedInputResponse"): "ServerR2MaskedInput",
    ("ServerR2MaskedInput", "advance"): "ServerR3ConsistencyCheck | ServerR4Unmasking",
    ("ServerR3ConsistencyCheck", "ConsistencyCheckResponse"): "ServerR3ConsistencyCheck",
    ("ServerR3ConsistencyCheck", "advance"): "ServerR4Unmasking",
    ("ServerR4Unmasking", "UnmaskingResponse"): "ServerR4Unmasking",
    ("ServerR4Unmasking", "advance"): "ServerCompleted",
}
"""Every allowed (state, input) pair; any non-terminal state may also go to ServerAborted."""

MAX_SUBSET_ATTEMPTS = 32
"""How many further share subsets the server tries per secret, after the
single-holder swaps of the first subset, before giving up."""


def _reject(reason: AbortReason, detail: str) -> RemoteProtocolError:
    return RemoteProtocolError(reason, detail)


class ServerState:
    """Base state: every message is unexpected unless a subclass handles it."""

    terminal = False
    expects: type | None = None

    def check_sender(self, sender: int, msg: Message, seen: Mapping[int, object], eligible) -> None:
        """Check who sent ``msg``, before a state looks at its content.

        Args:
            sender: the transport-authenticated id of the sending client.
            msg: the decoded message.
            seen: the clients whose message this round already accepted.
            eligible: the ids allowed to send in this round (any container
                supporting ``in``), or ``None`` for everyone.

        Raises:
            RemoteProtocolError: MALFORMED if ``msg.client_id`` (when the
                message has one) differs from ``sender``; OUT_OF_ROUND if
                ``sender`` is not in ``eligible``; REPLAYED if ``sender`` is in
                ``seen``. Nothing is modified.
        """
        if getattr(msg, "client_id", sender) != sender:
            raise _reject(AbortReason.MALFORMED, f"message from {sender} claims to be from {msg.client_id}")
        if eligible is not None and sender not in eligible:
            raise _reject(AbortReason.OUT_OF_ROUND, f"client {sender} is not part of this round")
        if sender in seen:
            raise _reject(AbortReason.REPLAYED, f"second {type(msg).__name__} from client {sender}")

    def receive(self, server: "Server", sender: int, msg: Message) -> None:
        """Validate one decoded message completely, then record it.

        Contract for every state: all checks run before any mutation, so on
        error the state is unchanged. The base version accepts nothing.

        Args:
            server: the owning :class:`Server` (params, PKI, randomness).
            sender: the transport-authenticated id of the sending client.
            msg: the decoded message.

        Raises:
            RemoteProtocolError: the message is rejected (the typed
                :class:`AbortReason` says why); here always OUT_OF_ROUND,
                since the base state expects no message.
        """
        raise _reject(AbortReason.OUT_OF_ROUND, f"{type(msg).__name__} is unexpected in {type(self).__name__}")

    def advance(self, server: "Server") -> tuple["ServerState", dict[int, Message]]:
        """Close the round: return ``(next state, {client id: message})``.

        Contract for every non-terminal state: either return the next state
        and its outbox, or raise :class:`AbortSignal`, which the
        :class:`Server` turns into :class:`ServerAborted`. The base version
        is reached only by terminal states.

        Args:
            server: the owning :class:`Server`.

        Returns:
            The next state and the messages to send, keyed by client id.

        Raises:
            AbortSignal: (overrides) the round cannot go on, for example
                fewer than ``threshold`` clients answered.
            LocalProtocolError: (base) called in a terminal state.
        """
        raise LocalProtocolError(AbortReason.LOCAL, f"advance() in terminal state {type(self).__name__}")


class _Session:
    """What the server knows once the keys are fixed (R1 on)."""

    def __init__(self, sid: bytes, advertised: dict[int, AdvertiseKeys], neighbors: dict[int, tuple[int, ...]]) -> None:
        self.sid = sid
        self.advertised = advertised
        self.neighbors = neighbors
        self.neighbor_sets = {u: frozenset(vs) for u, vs in neighbors.items()}


class ServerR0AdvertiseKeys(ServerState):
    """Collecting AdvertiseKeys."""

    def __init__(self) -> None:
        self.advertised: dict[int, AdvertiseKeys] = {}
        self.keys_seen: set[bytes] = set()

    def receive(self, server, sender, msg):
        """Accept AdvertiseKeys: one per client, fresh non-low-order distinct keys, signed iff active."""
        if not isinstance(msg, AdvertiseKeys):
            return super().receive(server, sender, msg)
        self.check_sender(sender, msg, self.advertised, None)
        if msg.c_pk in self.keys_seen or msg.s_pk in self.keys_seen or msg.c_pk == msg.s_pk:
            raise _reject(AbortReason.INCONSISTENT, f"client {sender} advertised a key already in use")
        for key in (msg.c_pk, msg.s_pk):
            try:
                kex.check_not_low_order(key)
            except InvalidKey:
                raise _reject(AbortReason.MALFORMED, f"client {sender} advertised a low-order key") from None
        p = server.params
        if p.threat is not ThreatModel.ACTIVE and msg.signature:
            raise _reject(AbortReason.MALFORMED, f"client {sender} signed its keys outside the active model")
        if p.threat is ThreatModel.ACTIVE:
            vk = server.pki.get(sender)
            try:
                if vk is None:
                    raise InvalidSignature()
                sign.verify(vk, session.advertise_statement(p, sender, msg.c_pk, msg.s_pk), msg.signature)
            except InvalidSignature:
                raise _reject(AbortReason.AUTHENTICATION, f"bad key signature from client {sender}") from None
        self.advertised[sender] = msg
        self.keys_seen.update((msg.c_pk, msg.s_pk))

    def advance(self, server):
        """Needs ``threshold`` advertisers; draws the graph seed, fixes the session id, sends ShareKeysRequests.

        Also raises ``ValueError`` if ``server.random`` returns the wrong number of bytes.
        """
        p = server.params
        u1 = sorted(self.advertised)
        if len(u1) < server.min_contributors:
            raise AbortSignal(AbortReason.TOO_FEW_SURVIVORS, f"{len(u1)} clients advertised keys, {_needed(server)}")
        graph_seed = random_bytes(server.random, 32)
        levels = merkle.merkle_levels([session.key_leaf(self.advertised[u]) for u in u1])
        sid = session.session_id(p, graph_seed, u1, levels[-1][0])
        neighbors = build_neighbors(p, u1, graph_seed)
        proofs = {u: merkle.merkle_proof(levels, i) for i, u in enumerate(u1)}
        participants = tuple(u1)
        out = {}
        for u in u1:
            holders = sorted((*neighbors[u], u))
            out[u] = ShareKeysRequest(
                graph_seed=graph_seed,
                participants=participants,
                advertised=tuple(self.advertised[v] for v in holders),
                proofs=tuple(proofs[v] for v in holders),
            )
        nxt = ServerR1ShareKeys(_Session(sid, dict(self.advertised), neighbors))
        return nxt, out


class ServerR1ShareKeys(ServerState):
    """Collecting ShareKeysResponses (encrypted shares to forward)."""

    def __init__(self, sess: _Session) -> None:
        self.sess = sess
        self.responses: dict[int, ShareKeysResponse] = {}

    def receive(self, server, sender, msg):
        """Accept ShareKeysResponse from a participant: this session, exactly one share per neighbour in order."""
        if not isinstance(msg, ShareKeysResponse):
            return super().receive(server, sender, msg)
        self.check_sender(sender, msg, self.responses, self.sess.neighbors)
        if msg.session_id != self.sess.sid:
            raise _reject(AbortReason.REPLAYED, f"client {sender} sent a message of another session")
        if tuple(s.peer for s in msg.shares) != self.sess.neighbors[sender]:
            raise _reject(AbortReason.INCONSISTENT, f"client {sender} did not send one share per neighbour")
        self.responses[sender] = msg

    def advance(self, server):
        """Needs ``threshold`` responders; routes each share to its responding recipient as a MaskedInputRequest."""
        p = server.params
        u2 = sorted(self.responses)
        if len(u2) < server.min_contributors:
            raise AbortSignal(AbortReason.TOO_FEW_SURVIVORS, f"{len(u2)} clients shared keys, {_needed(server)}")
        inbox: dict[int, list[AddressedShare]] = defaultdict(list)
        for u in u2:  # ascending, so every inbox list is sorted by sender
            for s in self.responses[u].shares:
                if s.peer in self.responses:
                    inbox[s.peer].append(AddressedShare(peer=u, blob=s.blob))
        out = {v: MaskedInputRequest(session_id=self.sess.sid, shares=tuple(inbox[v])) for v in u2}
        commitments = {u: self.responses[u].seed_commitment for u in u2}
        return ServerR2MaskedInput(self.sess, frozenset(u2), commitments, p), out


class ServerR2MaskedInput(ServerState):
    """Summing masked inputs as they arrive."""

    def __init__(self, sess: _Session, u2: frozenset[int], commitments: dict[int, bytes], p: Params) -> None:
        self.sess = sess
        self.u2 = u2
        self.commitments = commitments
        self.acc = np.zeros(p.dim, dtype=word_dtype(p.bits))
        self.received: dict[int, bool] = {}
        tail_bits = (p.dim * p.bits) % 8
        self._pad_mask = (0xFF << tail_bits) & 0xFF if tail_bits else 0

    def receive(self, server, sender, msg):
        """Accept MaskedInputResponse from a round-1 responder: this session, zero padding bits; add it to the sum."""
        if not isinstance(msg, MaskedInputResponse):
            return super().receive(server, sender, msg)
        self.check_sender(sender, msg, self.received, self.u2)
        if msg.session_id != self.sess.sid:
            raise _reject(AbortReason.REPLAYED, f"client {sender} sent a message of another session")
        if msg.masked and msg.masked[-1] & self._pad_mask:
            raise _reject(AbortReason.MALFORMED, f"client {sender} sent non-zero padding bits")
        accumulate_packed(self.acc, msg.masked, bits=server.params.bits)  # validated above: cannot fail half-way
        self.received[sender] = True

    def advance(self, server):
        """Needs ``threshold`` masked inputs; goes to consistency check (active) or straight to unmasking."""
        p = server.params
        u3 = tuple(sorted(self.received))
        if len(u3) < server.min_contributors:
            raise AbortSignal(AbortReason.TOO_FEW_SURVIVORS, f"{len(u3)} masked inputs, {_needed(server)}")
        if p.threat is ThreatModel.ACTIVE:
            req = ConsistencyCheckRequest(session_id=self.sess.sid, survivors=u3)
            return ServerR3ConsistencyCheck(self, u3), {u: req for u in u3}
        return _start_unmasking(self, u3, u3, ())


class ServerR3ConsistencyCheck(ServerState):
    """Collecting signatures over the survivor set (active model)."""

    def __init__(self, prev: ServerR2MaskedInput, u3: tuple[int, ...]) -> None:
        self.prev = prev
        self.u3 = u3
        self.u3_set = frozenset(u3)
        self.signatures: dict[int, bytes] = {}
        self.statement = session.consistency_statement(prev.sess.sid, u3)

    def receive(self, server, sender, msg):
        """Accept ConsistencyCheckResponse from a survivor: this session, valid signature over the survivor set."""
        if not isinstance(msg, ConsistencyCheckResponse):
            return super().receive(server, sender, msg)
        self.check_sender(sender, msg, self.signatures, self.u3_set)
        if msg.session_id != self.prev.sess.sid:
            raise _reject(AbortReason.REPLAYED, f"client {sender} sent a message of another session")
        try:
            sign.verify(server.pki[sender], self.statement, msg.signature)
        except InvalidSignature:
            raise _reject(AbortReason.AUTHENTICATION, f"bad consistency signature from client {sender}") from None
        self.signatures[sender] = msg.signature

    def advance(self, server):
        """Needs ``threshold`` signatures; sends UnmaskingRequests carrying them to the signers."""
        p = server.params
        signers = tuple(sorted(self.signatures))
        if len(signers) < p.threshold:
            raise AbortSignal(AbortReason.TOO_FEW_SURVIVORS, f"{len(signers)} consistency signatures, threshold {p.threshold}")
        sigs = tuple(Signature(signer=u, signature=self.signatures[u]) for u in signers)
        return _start_unmasking(self.prev, self.u3, signers, sigs)


def _needed(server) -> str:
    """How many are needed, for an abort detail."""
    t, m = server.params.threshold, server.min_contributors
    return f"threshold {t}" if m == t else f"at least {m} needed (min_contributors; threshold {t})"


def _start_unmasking(prev: ServerR2MaskedInput, u3: tuple[int, ...], recipients, sigs) -> tuple[ServerState, dict]:
    sess = prev.sess
    u3_set = frozenset(u3)
    dropped_all = prev.u2 - u3_set
    out: dict[int, Message] = {}
    for u in recipients:
        nbrs = sess.neighbor_sets[u]
        if sigs:  # active: the signed, global survivor set
            survivors = u3
        else:
            survivors = tuple(sorted((nbrs & u3_set) | {u}))
        dropped = tuple(sorted(nbrs & dropped_all))
        out[u] = UnmaskingRequest(session_id=sess.sid, survivors=survivors, dropped=dropped, signatures=sigs)
    return ServerR4Unmasking(prev, u3_set, frozenset(recipients), frozenset(dropped_all)), out


class ServerR4Unmasking(ServerState):
    """Collecting revealed shares; ``advance`` reconstructs and unmasks."""

    def __init__(self, prev: ServerR2MaskedInput, u3: frozenset[int], asked: frozenset[int], dropped: frozenset[int]) -> None:
        self.prev = prev
        self.u3 = u3
        self.asked = asked
        self.dropped = dropped
        self.seed_shares: dict[int, dict[int, np.ndarray]] = defaultdict(dict)  # owner -> {holder: share}
        self.key_shares: dict[int, dict[int, np.ndarray]] = defaultdict(dict)
        self.responded: dict[int, bool] = {}

    def receive(self, server, sender, msg):
        """Accept UnmaskingResponse from an asked client: this session, only the shares it may reveal, all well-formed."""
        if not isinstance(msg, UnmaskingResponse):
            return super().receive(server, sender, msg)
        self.check_sender(sender, msg, self.responded, self.asked)
        sess = self.prev.sess
        if msg.session_id != sess.sid:
            raise _reject(AbortReason.REPLAYED, f"client {sender} sent a message of another session")
        nbrs = sess.neighbor_sets[sender]
        may_seed = (nbrs & self.u3) | {sender}
        may_key = nbrs & self.dropped
        if not {s.owner for s in msg.seed_shares} <= may_seed:
            raise _reject(AbortReason.INCONSISTENT, f"client {sender} revealed seed shares it was not asked for")
        if not {s.owner for s in msg.key_shares} <= may_key:
            raise _reject(AbortReason.INCONSISTENT, f"client {sender} revealed key shares it was not asked for")
        try:
            seeds = [(s.owner, shamir.shares_from_bytes(s.share, 1)[0]) for s in msg.seed_shares]
            keys = [(s.owner, shamir.shares_from_bytes(s.share, 1)[0]) for s in msg.key_shares]
        except InvalidShareError:
            raise _reject(AbortReason.MALFORMED, f"client {sender} sent an invalid share") from None
        for owner, share in seeds:
            self.seed_shares[owner][sender] = share
        for owner, share in keys:
            self.key_shares[owner][sender] = share
        self.responded[sender] = True

    def advance(self, server):
        """Reconstructs survivors' seeds and dropped clients' mask keys (AbortSignal if none verify), unmasks the sum in place."""
        p = server.params
        sess = self.prev.sess
        # Self-mask seeds of the survivors, checked against their commitments.
        suspects: set[int] = set()  # holders caught sending a bad share, used last from then on
        seeds = _reconstruct_all(
            p.threshold,
            {u: self.seed_shares.get(u, {}) for u in sorted(self.u3)},
            lambda u, secret: session.seed_commitment(sess.sid, u, secret) == self.prev.commitments[u],
            "self-mask seed",
            suspects,
        )
        # Mask keys of the clients that dropped after sharing, checked against s_pk.
        needed = sorted(u for u in self.dropped if sess.neighbor_sets[u] & self.u3)  # masks some survivor holds
        keys = _reconstruct_all(
            p.threshold,
            {u: self.key_shares.get(u, {}) for u in needed},
            lambda u, secret: kex.X25519KeyPair.from_private_bytes(secret).public_bytes == sess.advertised[u].s_pk,
            "mask key",
            suspects,
        )
        mask_seeds: list[bytes] = []
        signs: list[int] = []
        for u in sorted(self.u3):
            mask_seeds.append(seeds[u])
            signs.append(-1)
        for u in needed:
            pair = kex.X25519KeyPair.from_private_bytes(keys[u])
            for v in sess.neighbors[u]:
                if v in self.u3:
                    mask_seeds.append(session.mask_seed(pair, sess.advertised[v].s_pk, sess.sid, u, v))
                    signs.append(-session.pair_sign(v, u))
        acc = self.prev.acc
        add_masks(acc, mask_seeds, signs, session_id=sess.sid, bits=p.bits)
        included = tuple(sorted(self.u3))
        dropped = tuple(i for i in range(1, p.n_clients + 1) if i not in self.u3)
        return ServerCompleted(acc, included, dropped), {}


def _reconstruct_all(threshold, shares_by_owner, check, what, suspects: set[int] | None = None) -> dict[int, bytes]:
    """Reconstruct one secret per owner from exactly ``threshold`` shares.

    Owners whose first ``threshold`` holders coincide share one Lagrange
    object. Holders in ``suspects`` (found to have sent a bad share) are used
    last. A secret that fails ``check`` is retried with other subsets, and a
    holder whose removal fixes it joins ``suspects``.
    """
    suspects = set() if suspects is None else suspects
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for owner, by_holder in shares_by_owner.items():
        if len(by_holder) < threshold:
            raise AbortSignal(
                AbortReason.TOO_FEW_SURVIVORS,
                f"{len(by_holder)} shares of client {owner}'s {what}, threshold {threshold}",
            )
        ordered = sorted(by_holder, key=lambda h: (h in suspects, h))
        groups[tuple(sorted(ordered[:threshold]))].append(owner)
    out: dict[int, bytes] = {}
    for xs, owners in groups.items():
        ys = np.stack([np.stack([shares_by_owner[o][x] for o in owners]) for x in xs])  # (t, m, LIMBS)
        try:
            secrets = shamir.Lagrange(xs).reconstruct(ys)
        except InvalidShareError:
            secrets = [None] * len(owners)
        for owner, secret in zip(owners, secrets):
            if secret is not None and _safe_check(check, owner, secret):
                out[owner] = secret
            else:
                out[owner] = _retry(threshold, owner, shares_by_owner[owner], check, what, skip=xs, suspects=suspects)
    return out


def _safe_check(check, owner, secret) -> bool:
    try:
        return bool(check(owner, secret))
    except ValueError:
        return False


def _retry(threshold, owner, by_holder, check, what, skip, suspects: set[int]) -> bytes:
    """Find a subset of ``threshold`` shares whose secret passes ``check``.

    First swaps each holder of the failed subset ``skip`` for one of at most
    two spare holders, non-suspects first (``2 * threshold`` attempts find
    any single bad share, whose holder then joins ``suspects`` so later
    secrets use it last), then tries up to :data:`MAX_SUBSET_ATTEMPTS` subsets
    of all holders, those with the fewest suspects first. At most
    ``2 * threshold + MAX_SUBSET_ATTEMPTS`` interpolations per secret,
    whatever the number of holders.

    Suspicion only reorders, it never excludes: two colluding holders can make
    their errors cancel in one subset, so that the swap that fixes it blames an
    honest holder; excluding that holder could leave fewer than ``threshold``
    usable shares although ``threshold`` honest ones are there.
    """
    holders = sorted(by_holder, key=lambda h: (h in suspects, h))
    spares = [h for h in holders if h not in skip][:2]

    def candidates():
        for i in sorted(range(len(skip)), key=lambda i: skip[i] not in suspects):  # known suspects first
            for spare in spares:
                yield tuple(sorted((*skip[:i], *skip[i + 1 :], spare))), skip[i]
        for xs in itertools.islice(itertools.combinations(holders, threshold), MAX_SUBSET_ATTEMPTS):
            yield tuple(sorted(xs)), None

    seen = {tuple(skip)}
    for xs, removed in candidates():
        if xs in seen:
            continue
        seen.add(xs)
        ys = np.stack([by_holder[x][None, :] for x in xs])
        try:
            secret = shamir.Lagrange(xs).reconstruct(ys)[0]
        except InvalidShareError:
            continue
        if _safe_check(check, owner, secret):
            if removed is not None:
                suspects.add(removed)
            return secret
    raise AbortSignal(AbortReason.RECONSTRUCTION_FAILED, f"no subset of shares reconstructs client {owner}'s {what}")


class ServerCompleted(ServerState):
    """Terminal: the sum is known. Holds no key material.

    Attributes:
        total: the sum mod 2**bits of the included clients' inputs.
        included: sorted ids whose inputs are in ``total``.
        dropped: the other ids.
    """

    terminal = True

    def __init__(self, total: np.ndarray, included: tuple[int, ...], dropped: tuple[int, ...]) -> None:
        self.total = total
        self.included = included
        self.dropped = dropped


class ServerAborted(ServerState):
    """Terminal and sticky: the round aborted.

    Attributes:
        reason: the :class:`AbortReason`.
        detail: explanation.
    """

    terminal = True

    def __init__(self, reason: AbortReason, detail: str) -> None:
        self.reason = reason
        self.detail = detail


_PHASE_OF = {
    ServerR0AdvertiseKeys: Phase.ADVERTISE_KEYS,
    ServerR1ShareKeys: Phase.SHARE_KEYS,
    ServerR2MaskedInput: Phase.MASKED_INPUT,
    ServerR3ConsistencyCheck: Phase.CONSISTENCY_CHECK,
    ServerR4Unmasking: Phase.UNMASKING,
}


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
        ValueError: active model without a PKI, or ``min_contributors`` above
            ``params.n_clients``.

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
        if min_contributors > params.n_clients:
            raise ValueError(f"min_contributors={min_contributors} exceeds n_clients={params.n_clients}")
        self.min_contributors = max(params.threshold, min_contributors)
        self.params = params
        self.pki = dict(pki) if pki is not None else {}
        self.random = random
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
        self._state.receive(self, sender, msg)
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
            nxt, out = state.advance(self)
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
