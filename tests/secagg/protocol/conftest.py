"""A step-by-step harness for the SecAgg state machines, and helpers to play a lying server.

:class:`Harness` owns one :class:`Server` and ``n`` :class:`Client` objects
with deterministic randomness, and moves the bytes between them one phase at a
time. Between ``advance()`` and ``deliver()`` a test may rewrite any message
the server is about to send (decode -> ``dataclasses.replace`` -> encode) with
:meth:`Harness.tamper`, or hand a client bytes of its own making.

:func:`run_schedule` plays a whole round with a dropout schedule (a client
vanishes before sending its message of the given phase), written
independently of :mod:`secagg.driver`, and records which clients actually sent
each kind of message.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import struct
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from secagg import codec
from secagg.errors import AbortReason, RemoteProtocolError
from secagg.messages import AdvertiseKeys, Message, ShareKeysRequest
from secagg.params import GraphKind, Params, ThreatModel
from secagg.primitives.sign import Ed25519SigningKey
from secagg.protocol.client import Client, ClientAborted
from secagg.protocol.server import Server, ServerAborted, ServerCompleted, ServerState
from tests.detrandom import DeterministicRandom


class Step(enum.IntEnum):
    """The client messages in protocol order (a dropout happens *before* one)."""

    ADVERTISE_KEYS = 0
    SHARE_KEYS = 1
    MASKED_INPUT = 2
    CONSISTENCY_CHECK = 3
    UNMASKING = 4


def make_params(
    n: int,
    *,
    k: int | None = None,
    t: int,
    threat: str | ThreatModel = "semi-honest",
    dim: int = 4,
    bits: int = 16,
) -> Params:
    """Params for ``n`` clients: the complete graph if ``k`` is None or ``n - 1``, else Harary(k)."""
    k = n - 1 if k is None else k
    graph = GraphKind.COMPLETE if k == n - 1 else GraphKind.HARARY
    return Params(n_clients=n, dim=dim, bits=bits, graph=graph, neighbors=k, threshold=t, threat=threat)


def decode(params: Params, data: bytes) -> Message:
    """Decode wire bytes under ``params``."""
    return codec.decode(data, params=params)


def rewrite(params: Params, data: bytes, **changes) -> bytes:
    """Return ``data`` with some fields of its message replaced (decode -> replace -> encode)."""
    return codec.encode(dataclasses.replace(decode(params, data), **changes))


def plain_sum(inputs: Mapping[int, np.ndarray], ids: Iterable[int], bits: int) -> list[int]:
    """The sum mod 2**bits of the given clients' inputs, in Python integers."""
    ids = list(ids)
    dim = len(next(iter(inputs.values())))
    return [sum(int(inputs[u][i]) for u in ids) % (1 << bits) for i in range(dim)]


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    """``data`` with the byte at ``index`` XORed with ``mask``."""
    out = bytearray(data)
    out[index] ^= mask
    return bytes(out)


class Harness:
    """One round of clients 1..n and a server, moved by hand.

    Attributes:
        params: the round parameters.
        inputs: ``{id: vector}``.
        server: the server.
        clients: ``{id: Client}``.
        signing_keys: ``{id: Ed25519SigningKey}`` (active model only, else empty).
        pki: ``{id: public key}`` or None.
        outbox: the last ``server.advance()`` output, ``{id: bytes}``; tests may edit it.
        advertised: ``{id: AdvertiseKeys bytes}`` as the clients sent them.
        replies: ``{message type name: {id: bytes}}`` every reply a client produced.
    """

    def __init__(self, params: Params, *, seed: int | str = 0, inputs: Mapping[int, np.ndarray] | None = None) -> None:
        self.params = params
        n = params.n_clients
        if inputs is None:
            data_seed = int.from_bytes(hashlib.sha256(f"inputs/{seed}".encode()).digest()[:8], "little")
            rng = np.random.default_rng(data_seed)  # test data, not secret
            inputs = {u: rng.integers(0, 1 << params.bits, size=params.dim, dtype=np.uint64) for u in range(1, n + 1)}
        self.inputs = dict(inputs)
        self.signing_keys: dict[int, Ed25519SigningKey] = {}
        self.pki = None
        if params.threat is ThreatModel.ACTIVE:
            self.signing_keys = {
                u: Ed25519SigningKey.generate(random=DeterministicRandom(f"{seed}/identity/{u}")) for u in range(1, n + 1)
            }
            self.pki = {u: key.public_bytes for u, key in self.signing_keys.items()}
        self.server = Server(params, pki=self.pki, random=DeterministicRandom(f"{seed}/server"))
        self.clients = {
            u: Client(
                u,
                params,
                input=self.inputs[u],
                identity_key=self.signing_keys.get(u),
                pki=self.pki,
                random=DeterministicRandom(f"{seed}/client/{u}"),
            )
            for u in range(1, n + 1)
        }
        self.outbox: dict[int, bytes] = {}
        self.advertised: dict[int, bytes] = {}
        self.replies: dict[str, dict[int, bytes]] = {}

    # ---------------------------------------------------------------- moving bytes

    def start(self, ids: Iterable[int] | None = None) -> dict[int, bytes]:
        """Start the given clients (all by default) and hand their AdvertiseKeys to the server."""
        ids = range(1, self.params.n_clients + 1) if ids is None else ids
        for u in ids:
            data = self.clients[u].start()
            self.advertised[u] = data
            self.replies.setdefault("AdvertiseKeys", {})[u] = data
            self.server.receive(u, data)
        return dict(self.advertised)

    def advance(self) -> dict[int, bytes]:
        """Close the server's round; the messages of the next one land in :attr:`outbox`."""
        self.outbox = self.server.advance()
        return self.outbox

    def request(self, u: int) -> Message:
        """The decoded message the server is about to send to client ``u``."""
        return decode(self.params, self.outbox[u])

    def tamper(self, u: int, **changes) -> Message:
        """Rewrite fields of the message for client ``u`` in :attr:`outbox`; return the new message."""
        self.outbox[u] = rewrite(self.params, self.outbox[u], **changes)
        return self.request(u)

    def answer(self, u: int, data: bytes | None = None) -> bytes | None:
        """Client ``u`` processes ``data`` (default: its outbox message); return its reply (not yet sent)."""
        reply = self.clients[u].receive(self.outbox[u] if data is None else data)
        if reply is not None:
            name = type(decode(self.params, reply)).__name__
            self.replies.setdefault(name, {})[u] = reply
        return reply

    def deliver(self, ids: Iterable[int] | None = None) -> dict[int, bytes]:
        """Every listed client (default: all in the outbox) answers and the server receives the reply."""
        ids = sorted(self.outbox) if ids is None else ids
        out = {}
        for u in ids:
            reply = self.answer(u)
            if reply is not None:
                self.server.receive(u, reply)
                out[u] = reply
        return out

    def step(self, ids: Iterable[int] | None = None) -> dict[int, bytes]:
        """:meth:`deliver` then :meth:`advance`."""
        self.deliver(ids)
        return self.advance()

    # ---------------------------------------------------------------- shortcuts

    @property
    def ids(self) -> list[int]:
        return list(range(1, self.params.n_clients + 1))

    def to_share_keys(self, advertise: Iterable[int] | None = None) -> "Harness":
        """Keys advertised; :attr:`outbox` holds the ShareKeysRequests."""
        self.start(advertise)
        self.advance()
        return self

    def to_masked_input(self, share: Iterable[int] | None = None, **kw) -> "Harness":
        """:attr:`outbox` holds the MaskedInputRequests (only ``share`` answered ShareKeys)."""
        self.to_share_keys(**kw)
        self.step(share)
        return self

    def to_unmasking(self, masked: Iterable[int] | None = None, signed: Iterable[int] | None = None, **kw) -> "Harness":
        """:attr:`outbox` holds the UnmaskingRequests (the ConsistencyCheck round is played in the active model)."""
        self.to_masked_input(**kw)
        self.step(masked)
        if self.params.threat is ThreatModel.ACTIVE:
            self.step(signed)
        return self

    def finish(self, ids: Iterable[int] | None = None) -> ServerCompleted:
        """Deliver the current outbox, advance, and return the server's result."""
        self.step(ids)
        return self.server.result()

    def complete(self) -> ServerCompleted:
        """Play every remaining round honestly (everyone answers) and return the server's result."""
        while not self.server.finished:
            self.step()
        return self.server.result()

    def expected(self, ids: Iterable[int]) -> list[int]:
        return plain_sum(self.inputs, ids, self.params.bits)

    def adverts(self) -> dict[int, AdvertiseKeys]:
        """``{id: AdvertiseKeys}`` as the clients sent them."""
        return {u: decode(self.params, data) for u, data in self.advertised.items()}

    def honest_ring(self, graph_seed: bytes | None = None) -> list[AdvertiseKeys]:
        """The ring the server should have built: every advertised key, sorted by ring key."""
        if graph_seed is None:
            graph_seed = self.request(next(iter(self.outbox))).graph_seed
        return spec_ring(graph_seed, self.adverts().values())


# ---------------------------------------------------------------- a server that builds its own (lying) key tree
#
# Written from the SPEC text (chapter "Protocol", "Bindings"), not from secagg.primitives.ordered_tree: the
# builder below checks no order, so a test can commit to any ring it likes and see what the client makes of it.


def spec_ring_key(graph_seed: bytes, client_id: int) -> bytes:
    """``SHA-256("secagg/v1/ring-order" || 0x00 || graph_seed || u32le(id))``."""
    return hashlib.sha256(b"secagg/v1/ring-order\x00" + graph_seed + struct.pack("<I", client_id)).digest()


def spec_key_leaf(a: AdvertiseKeys) -> bytes:
    """``SHA-256(0x00 || u32le(id) || c_pk || s_pk)``."""
    return hashlib.sha256(b"\x00" + struct.pack("<I", a.client_id) + a.c_pk + a.s_pk).digest()


def spec_tree_levels(nodes: Sequence[tuple[bytes, bytes, bytes]]) -> list[list[tuple[bytes, bytes, bytes]]]:
    """Every level of the ordered key tree over ``(lo, hi, hash)`` leaves, WITHOUT the ordering checks."""
    levels = [list(nodes)]
    while len(levels[-1]) > 1:
        level, up = levels[-1], []
        for i in range(0, len(level) - 1, 2):
            (llo, lhi, lh), (rlo, rhi, rh) = level[i], level[i + 1]
            up.append((llo, rhi, hashlib.sha256(b"\x01" + llo + lhi + lh + rlo + rhi + rh).digest()))
        if len(level) % 2:
            up.append(level[-1])
        levels.append(up)
    return levels


def spec_multiproof(levels: list[list[tuple[bytes, bytes, bytes]]], positions: Iterable[int]) -> bytes:
    """The multiproof of ``positions`` (items ``lo || hi || hash``, in the SPEC's loop order)."""
    known, out = sorted(set(positions)), []
    for level in levels[:-1]:
        for s in sorted({i ^ 1 for i in known if (i ^ 1) < len(level)} - set(known)):
            out.append(b"".join(level[s]))
        known = sorted({i // 2 for i in known})
    return b"".join(out)


def spec_ring(graph_seed: bytes, adverts: Iterable[AdvertiseKeys]) -> list[AdvertiseKeys]:
    """The honest ring: the advertised keys sorted by ring key."""
    return sorted(adverts, key=lambda a: spec_ring_key(graph_seed, a.client_id))


def forge_share_keys(
    graph_seed: bytes,
    ring: Sequence[AdvertiseKeys],
    start: int,
    count: int,
    *,
    keys: Sequence[bytes] | None = None,
    m: int | None = None,
) -> ShareKeysRequest:
    """A ShareKeysRequest for the window ``start .. start + count - 1 (mod len(ring))`` of ANY claimed ring.

    Args:
        graph_seed: the seed to send.
        ring: the claimed ring order (honest or not).
        start: the window's first position.
        count: its length.
        keys: the leaves' ring keys (default: the true ones of each id, in the claimed order).
        m: the ``m`` to claim (default ``len(ring)``).
    """
    keys = [spec_ring_key(graph_seed, a.client_id) for a in ring] if keys is None else list(keys)
    levels = spec_tree_levels([(k, k, spec_key_leaf(a)) for k, a in zip(keys, ring)])
    positions = [(start + j) % len(ring) for j in range(count)]
    return ShareKeysRequest(
        graph_seed=graph_seed,
        m=len(ring) if m is None else m,
        start=start,
        entries=tuple(ring[q] for q in positions),
        proof=spec_multiproof(levels, positions),
    )


def spec_root(graph_seed: bytes, ring: Sequence[AdvertiseKeys]) -> bytes:
    """The root hash of the (unchecked) tree over ``ring``."""
    keys = [spec_ring_key(graph_seed, a.client_id) for a in ring]
    return spec_tree_levels([(k, k, spec_key_leaf(a)) for k, a in zip(keys, ring)])[-1][0][2]


# ---------------------------------------------------------------- "state unchanged", made checkable


def _freeze(value: object, depth: int = 0) -> object:
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, dict):
        return ("dict", tuple((k, _freeze(v, depth)) for k, v in sorted(value.items())))
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted(value)))
    if isinstance(value, ServerState) and depth < 2:
        return ("state", type(value).__name__, id(value), _freeze(vars(value), depth + 1))
    if isinstance(value, (bytes, int, str, tuple, type(None))) or dataclasses.is_dataclass(value):
        return value
    inner = _freeze(vars(value), depth + 1) if hasattr(value, "__dict__") and depth < 2 else None
    return ("object", type(value).__name__, id(value), inner)


def server_snapshot(server: Server) -> object:
    """Everything the server's current state holds (accumulator bytes included), comparable with ``==``."""
    return _freeze(server.state)


# ---------------------------------------------------------------- a whole round with a dropout schedule


@dataclasses.dataclass
class Outcome:
    """What :func:`run_schedule` saw.

    Attributes:
        state: the server's final state (completed or aborted).
        sent: ``{Step: sorted ids whose message of that step the server accepted}``.
        client_aborts: ``{id: AbortReason}`` of clients that aborted on their own.
    """

    state: object
    sent: dict[Step, tuple[int, ...]]
    client_aborts: dict[int, AbortReason]


def run_schedule(h: Harness, dropouts: Mapping[int, Step | None]) -> Outcome:
    """Play the round; client ``u`` vanishes before sending its ``dropouts[u]`` message.

    A client that rejects a server message sends its Abort instead (as a real
    client would). Rejections by the server are not expected from honest
    clients and propagate.
    """
    active = h.params.threat is ThreatModel.ACTIVE
    steps = [s for s in Step if s is not Step.CONSISTENCY_CHECK or active]
    sent: dict[Step, tuple[int, ...]] = {}
    aborts: dict[int, AbortReason] = {}

    def alive(u: int, step: Step) -> bool:
        d = dropouts.get(u)
        return d is None or d > step

    for step in steps:
        accepted = []
        if step is Step.ADVERTISE_KEYS:
            for u in h.ids:
                if alive(u, step):
                    h.server.receive(u, h.clients[u].start())
                    accepted.append(u)
        else:
            for u in sorted(h.outbox):
                client = h.clients[u]
                if not alive(u, step) or client.finished:
                    continue
                try:
                    reply = h.answer(u)
                except RemoteProtocolError as exc:
                    aborts[u] = exc.reason
                    assert isinstance(client.state, ClientAborted)
                    reply = client.abort_message
                    h.server.receive(u, reply)
                    continue
                if reply is not None:
                    h.server.receive(u, reply)
                    accepted.append(u)
        sent[step] = tuple(accepted)
        h.advance()
        if isinstance(h.server.state, ServerAborted):
            break
    return Outcome(h.server.state, sent, aborts)
