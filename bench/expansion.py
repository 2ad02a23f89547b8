"""Communication expansion of one client, from the codec's exact message sizes.

Bonawitz et al. (CCS 2017, arXiv:1611.04482) report, for 16-bit inputs, a
communication expansion of 1.73x with 2^10 users and 2^20 coordinates and
1.98x with 2^14 users and 2^24 coordinates, relative to sending the input in
the clear (``dim * 16`` bits). Their per-user cost (our reconstruction, which
reproduces both figures) is ``2n a_K + (5n - 4) a_S + m R`` bits with
``a_K = a_S = 256``: the keys and the shares it sends and receives plus the
masked vector of ``m`` coordinates at ``R = 16 + log2(n)`` bits (the sum of
``n`` 16-bit values needs that many bits). The masked vector alone is
``R / 16 = 1.625`` (2^10 users) or ``1.875`` (2^14 users).

This module computes the same ratio for our wire format. Every size is the
length of a real encoded message (:func:`secagg.codec.encode` of a message of
the right shape filled with dummy bytes), except the masked input, whose size
comes from :func:`secagg.codec.encoded_size_masked_input` (no multi-megabyte
buffer is built). :func:`client_traffic` follows the server's rules of who is
sent what, given the neighbour graph and the dropout schedule;
``tests/secagg/test_expansion.py`` checks it, message by message and client by
client, against the bytes that real small rounds move.

Run: ``.venv/bin/python bench/expansion.py``

>>> from secagg.params import Params
>>> p = Params(n_clients=4, dim=8, bits=16, graph="complete", neighbors=3, threshold=3)
>>> advertise_keys_size(p), share_keys_response_size(3), masked_input_response_size(p)
(74, 410, 58)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
from collections.abc import Mapping, Sequence

from secagg import codec
from secagg.driver import PHASES, Phase
from secagg.messages import (
    ENCRYPTED_SHARE_SIZE,
    KEY_SIZE,
    SESSION_ID_SIZE,
    SHARE_SIZE,
    SIGNATURE_SIZE,
    AddressedShare,
    AdvertiseKeys,
    ConsistencyCheckRequest,
    ConsistencyCheckResponse,
    MaskedInputRequest,
    RevealedShare,
    ShareKeysRequest,
    ShareKeysResponse,
    Signature,
    UnmaskingRequest,
    UnmaskingResponse,
)
from secagg.params import GraphKind, Params, ThreatModel
from secagg.primitives import ordered_tree
from secagg.protocol import graph, session

__all__ = [
    "ClientTraffic",
    "PAPER",
    "advertise_keys_size",
    "client_traffic",
    "consistency_check_request_size",
    "consistency_check_response_size",
    "expansion_rows",
    "main",
    "masked_input_request_size",
    "masked_input_response_size",
    "paper_expansion",
    "ring_view",
    "ring_window",
    "share_keys_request_size",
    "share_keys_response_size",
    "typical_client",
    "unmasking_request_size",
    "unmasking_response_size",
]

INPUT_BITS = 16
"""Bits of one input coordinate in the clear (Bonawitz et al.'s setting)."""

PAPER = {(2**10, 2**20): 1.73, (2**14, 2**24): 1.98}
"""Expansion reported by Bonawitz et al., keyed by (users, coordinates)."""

_SID = bytes(SESSION_ID_SIZE)
_KEY = bytes(KEY_SIZE)


def _ids(count: int, skip: int = 0) -> tuple[int, ...]:
    """``count`` distinct ids (sizes never depend on the id values), avoiding ``skip``."""
    return tuple(i for i in range(1, count + 2) if i != skip)[:count]


def advertise_keys_size(params: Params) -> int:
    """Encoded size of one AdvertiseKeys (signed in the active model).

    Args:
        params: the round parameters.

    Returns:
        The size in bytes.
    """
    sig = bytes(SIGNATURE_SIZE) if params.threat is ThreatModel.ACTIVE else b""
    return len(codec.encode(AdvertiseKeys(client_id=1, c_pk=_KEY, s_pk=_KEY, signature=sig)))


def ring_window(params: Params, ids: Sequence[int], graph_seed: bytes, client_id: int) -> tuple[int, ...]:
    """Return the ids of a client's window (its ShareKeysRequest entries) in the wire-version-3 ring over ``ids``.

    Args:
        params: the round parameters.
        ids: the clients that advertised keys.
        graph_seed: the public graph seed.
        client_id: the client, one of ``ids``.

    Returns:
        The window's ids in ring order (in the active model the extended
        window W2, whose signers' signatures its UnmaskingRequest carries).

    Raises:
        ValueError: if ``client_id`` is not in ``ids``.
    """
    ring = graph.ring_order(ids, graph_seed)
    return tuple(ring[q] for q in session.window_of(params, len(ring), ring.index(client_id)))


def ring_view(params: Params, ids: Sequence[int], graph_seed: bytes, client_id: int) -> tuple[int, tuple[int, ...]]:
    """Return a client's ring position and neighbours in the wire-version-3 ring over ``ids``.

    The ring is ``ids`` sorted by :func:`secagg.primitives.ordered_tree.ring_key`
    (O(m log m) for the ``m`` ids), the neighbours are read from the client's
    window exactly as the client reads them (:mod:`secagg.protocol.session`).

    Args:
        params: the round parameters.
        ids: the clients that advertised keys.
        graph_seed: the public graph seed.
        client_id: the client, one of ``ids``.

    Returns:
        ``(position, neighbours ascending)``.

    Raises:
        ValueError: if ``client_id`` is not in ``ids``.
    """
    ring = graph.ring_order(ids, graph_seed)
    m, position = len(ring), ring.index(client_id)
    positions = session.window_of(params, m, position)
    return position, session.window_neighbors(params, m, positions[0], [ring[q] for q in positions], position)


def share_keys_request_size(params: Params, m: int, position: int) -> int:
    """Encoded size of the ShareKeysRequest (wire version 3) the client at ring ``position`` receives.

    Its window of ``count`` AdvertiseKeys (``session.window_shape``) and one
    multiproof of ``proof_item_count(m, window positions)`` 96-byte items
    (none when the window is the whole ring): ``2 + 32 + 4 + 4 + 4 + count *
    entry + 4 + 96 * items`` bytes, O(k + log m).

    Args:
        params: the round parameters.
        m: the number of participants.
        position: the receiver's ring position, ``0 <= position < m``.

    Returns:
        The size in bytes.
    """
    positions = session.window_of(params, m, position)
    count = len(positions)
    items = 0 if count == m else ordered_tree.proof_item_count(m, positions)
    entry = advertise_keys_size(params) - 2
    return 2 + 32 + 4 + 4 + 4 + count * entry + 4 + ordered_tree.ORDERED_ITEM_SIZE * items


def _addressed(count: int, skip: int = 0) -> tuple[AddressedShare, ...]:
    return tuple(AddressedShare(peer=v, blob=bytes(ENCRYPTED_SHARE_SIZE)) for v in _ids(count, skip))


def share_keys_response_size(n_neighbors: int) -> int:
    """Encoded size of a ShareKeysResponse: one encrypted share pair per neighbour.

    Args:
        n_neighbors: the client's number of neighbours ``k``.

    Returns:
        The size in bytes.
    """
    msg = ShareKeysResponse(client_id=n_neighbors + 1, session_id=_SID, seed_commitment=bytes(32), shares=_addressed(n_neighbors))
    return len(codec.encode(msg))


def masked_input_request_size(n_senders: int) -> int:
    """Encoded size of a MaskedInputRequest forwarding ``n_senders`` encrypted share pairs.

    Args:
        n_senders: neighbours whose ShareKeysResponse reached the server.

    Returns:
        The size in bytes.
    """
    return len(codec.encode(MaskedInputRequest(session_id=_SID, shares=_addressed(n_senders))))


def masked_input_response_size(params: Params) -> int:
    """Encoded size of a MaskedInputResponse (``dim`` words packed at ``bits``).

    Args:
        params: the round parameters.

    Returns:
        The size in bytes, from :func:`secagg.codec.encoded_size_masked_input`.
    """
    return codec.encoded_size_masked_input(params)


def consistency_check_request_size(params: Params, m: int, position: int) -> int:
    """Encoded size of the ConsistencyCheckRequest (wire version 3, active model) the client at ring ``position`` receives.

    The flag-tree root, one bit per position of its extended window W2
    (``session.window_shape``) and one multiproof of 32-byte items (none when
    the window is the whole ring): ``2 + 32 + 32 + 4 + ceil(count / 8) + 4 +
    32 * items`` bytes, O(k + log m).

    Args:
        params: the round parameters (active model).
        m: the number of participants.
        position: the receiver's ring position, ``0 <= position < m``.

    Returns:
        The size in bytes.
    """
    positions = session.window_of(params, m, position)
    count = len(positions)
    items = 0 if count == m else ordered_tree.proof_item_count(m, positions)
    return 2 + 32 + 32 + 4 + (count + 7) // 8 + 4 + ordered_tree.FLAG_ITEM_SIZE * items


def consistency_check_response_size() -> int:
    """Encoded size of a ConsistencyCheckResponse (one Ed25519 signature).

    Returns:
        The size in bytes.
    """
    return len(codec.encode(ConsistencyCheckResponse(client_id=1, session_id=_SID, signature=bytes(SIGNATURE_SIZE))))


def unmasking_request_size(n_survivors: int, n_dropped: int, n_signatures: int = 0) -> int:
    """Encoded size of an UnmaskingRequest.

    Args:
        n_survivors: ids in the survivor list.
        n_dropped: ids in the dropped list.
        n_signatures: forwarded consistency signatures (active model).

    Returns:
        The size in bytes.
    """
    ids = _ids(n_survivors + n_dropped)
    sigs = tuple(Signature(signer=u, signature=bytes(SIGNATURE_SIZE)) for u in _ids(n_signatures))
    msg = UnmaskingRequest(session_id=_SID, survivors=ids[:n_survivors], dropped=ids[n_survivors:], signatures=sigs)
    return len(codec.encode(msg))


def unmasking_response_size(n_seed_shares: int, n_key_shares: int) -> int:
    """Encoded size of an UnmaskingResponse.

    Args:
        n_seed_shares: revealed shares of self-mask seeds (surviving holders'
            owners, the client itself included).
        n_key_shares: revealed shares of dropped neighbours' mask keys.

    Returns:
        The size in bytes.
    """
    ids = _ids(n_seed_shares + n_key_shares)
    seed = tuple(RevealedShare(owner=u, share=bytes(SHARE_SIZE)) for u in ids[:n_seed_shares])
    key = tuple(RevealedShare(owner=u, share=bytes(SHARE_SIZE)) for u in ids[n_seed_shares:])
    return len(codec.encode(UnmaskingResponse(client_id=65535, session_id=_SID, seed_shares=seed, key_shares=key)))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClientTraffic:
    """What one client sends and receives in one round, per message.

    Attributes:
        sent: ``{message class name: bytes}`` for the messages the client sends.
        received: ``{message class name: bytes}`` for the messages the server
            sends it.
    """

    sent: dict[str, int]
    received: dict[str, int]

    @property
    def sent_total(self) -> int:
        """Bytes the client sends."""
        return sum(self.sent.values())

    @property
    def received_total(self) -> int:
        """Bytes the client receives."""
        return sum(self.received.values())


def _alive(dropouts: Mapping[int, Phase], u: int, phase: Phase) -> bool:
    drop = dropouts.get(u)
    return drop is None or PHASES.index(drop) > PHASES.index(phase)


def client_traffic(
    params: Params,
    *,
    client_id: int,
    neighbors: Sequence[int],
    dropouts: Mapping[int, Phase] | None = None,
    position: int = 0,
    window: Sequence[int] | None = None,
) -> ClientTraffic:
    """Predict the bytes one client sends and receives, message by message.

    Follows the protocol's rules: the server sends a client its window of the
    ring (its holders' keys, and in the active model those of its neighbours'
    holders) with one multiproof, the shares of its neighbours that answered
    ShareKeys, and (semi-honest, semi-malicious) the survivors among its
    neighbours plus itself and its neighbours that dropped after sharing; in
    the active model also its window's survivor flags with one multiproof and
    the consistency signatures of the signers in its window.
    The client reveals seed shares for its surviving neighbours and itself and
    key shares for its dropped ones. A client that drops before phase X sends
    nothing from X on but still receives phase X's request.

    Args:
        params: the round parameters.
        client_id: the client, ``1..n``.
        neighbors: its neighbours (from the graph over the clients that
            advertised keys).
        dropouts: ``{id: Phase}`` as for :func:`secagg.driver.secure_sum`.
        position: its ring position among the clients that advertised keys
            (:func:`ring_view`); it fixes the length of its multiproof (with
            a sparse window the length varies by a few items with it).
        window: the ids of its window (:func:`ring_window`); needed in the
            active model only (the signatures it receives are its window's).

    Returns:
        A :class:`ClientTraffic` (empty if the client never advertised keys).

    Raises:
        ValueError: if ``client_id`` is out of range or among its neighbours,
            or the active model's ``window`` is missing.
    """
    n = params.n_clients
    if not 1 <= client_id <= n or client_id in neighbors:
        raise ValueError(f"client_id {client_id} must be in [1, {n}] and not its own neighbour")
    drops = dict(dropouts or {})
    me = client_id
    ids = range(1, n + 1)
    u1 = [u for u in ids if _alive(drops, u, Phase.ADVERTISE_KEYS)]
    u2 = {u for u in u1 if _alive(drops, u, Phase.SHARE_KEYS)}
    u3 = {u for u in u2 if _alive(drops, u, Phase.MASKED_INPUT)}
    active = params.threat is ThreatModel.ACTIVE
    if active and window is None:
        raise ValueError("the active model needs the client's window (ring_window)")
    signers = {u for u in u3 if _alive(drops, u, Phase.CONSISTENCY_CHECK)} if active else u3
    nbrs = set(neighbors)
    sent: dict[str, int] = {}
    received: dict[str, int] = {}
    if me not in u1:
        return ClientTraffic(sent=sent, received=received)
    sent["AdvertiseKeys"] = advertise_keys_size(params)
    received["ShareKeysRequest"] = share_keys_request_size(params, len(u1), position)
    if me not in u2:
        return ClientTraffic(sent=sent, received=received)
    sent["ShareKeysResponse"] = share_keys_response_size(len(nbrs))
    received["MaskedInputRequest"] = masked_input_request_size(len(nbrs & u2))
    if me not in u3:
        return ClientTraffic(sent=sent, received=received)
    sent["MaskedInputResponse"] = masked_input_response_size(params)
    dropped = nbrs & (u2 - u3)
    live = (nbrs & u3) | {me}
    if active:
        received["ConsistencyCheckRequest"] = consistency_check_request_size(params, len(u1), position)
        if me not in signers:
            return ClientTraffic(sent=sent, received=received)
        sent["ConsistencyCheckResponse"] = consistency_check_response_size()
        received["UnmaskingRequest"] = unmasking_request_size(len(live), len(dropped), len(signers & set(window)))
    else:
        received["UnmaskingRequest"] = unmasking_request_size(len(live), len(dropped))
    if _alive(drops, me, Phase.UNMASKING):
        sent["UnmaskingResponse"] = unmasking_response_size(len(live), len(dropped))
    return ClientTraffic(sent=sent, received=received)


def typical_client(params: Params, *, dropout_rate: float, graph_seed: bytes = bytes(32)) -> ClientTraffic:
    """The traffic of client 1 when ``ceil(dropout_rate * n)`` clients drop after ShareKeys.

    Client 1's neighbours come from the real graph for ``graph_seed``; the
    same fraction of them (rounded up) is among the dropped, the rest of the
    dropped are non-neighbours. Dropping after sharing keys is the costliest
    case for the survivors (they reveal a key share for each dropped neighbour).

    Args:
        params: the round parameters.
        dropout_rate: the fraction of clients that drop, in ``[0, 1)``.
        graph_seed: the public graph seed (fixes the Harary relabelling).

    Returns:
        Client 1's :class:`ClientTraffic`.

    Raises:
        ValueError: if ``dropout_rate`` is outside ``[0, 1)``.
    """
    if not 0 <= dropout_rate < 1:
        raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate}")
    n = params.n_clients
    ids = tuple(range(1, n + 1))
    position, nbrs = ring_view(params, ids, graph_seed, 1)
    total = math.ceil(dropout_rate * n - 1e-9)
    among = min(math.ceil(dropout_rate * len(nbrs) - 1e-9), total)
    others = [u for u in ids[1:] if u not in set(nbrs)]
    dropped = list(nbrs[:among]) + others[: total - among]
    return client_traffic(
        params,
        client_id=1,
        neighbors=nbrs,
        dropouts={u: Phase.MASKED_INPUT for u in dropped},
        position=position,
        window=ring_window(params, ids, graph_seed, 1),
    )


def paper_expansion(n_clients: int, dim: int, key_bits: int = 256, share_bits: int = 256) -> float:
    """Bonawitz et al.'s per-user expansion ``(2n a_K + (5n - 4) a_S + m R) / (16 m)``.

    Args:
        n_clients: ``n``.
        dim: ``m``.
        key_bits, share_bits: ``a_K`` and ``a_S``.

    Returns:
        The ratio, with ``R = 16 + ceil(log2 n)``.
    """
    r = INPUT_BITS + math.ceil(math.log2(n_clients))
    return (2 * n_clients * key_bits + (5 * n_clients - 4) * share_bits + dim * r) / (INPUT_BITS * dim)


def expansion_rows(n_clients: int, dim: int, *, dropout_rate: float = 0.1, threat: str = "semi-honest") -> list[dict]:
    """One row per (graph, actual dropout) for the finder's SecAgg+ choice and the complete graph.

    Args:
        n_clients: number of clients.
        dim: coordinates per input.
        dropout_rate: the rate the finder plans for; rows are computed with
            no dropout and with this rate of dropouts after ShareKeys.
        threat: the threat model.

    Returns:
        Dicts with keys ``graph, k, t, bits, dropped, sent, received, clear,
        sent_x, received_x, total_x``.
    """
    bits = INPUT_BITS + math.ceil(math.log2(n_clients))
    clear = dim * INPUT_BITS // 8
    rows = []
    for graph in ("auto", "complete"):
        p = Params.auto(n_clients=n_clients, dim=dim, bits=bits, dropout_rate=dropout_rate, threat=threat, graph=graph)
        for rate in (0.0, dropout_rate):
            tr = typical_client(p, dropout_rate=rate)
            rows.append(
                dict(
                    graph="SecAgg+ (Harary)" if p.graph is GraphKind.HARARY else "SecAgg (complete)",
                    k=p.neighbors,
                    t=p.threshold,
                    bits=bits,
                    dropped=rate,
                    sent=tr.sent_total,
                    received=tr.received_total,
                    clear=clear,
                    sent_x=tr.sent_total / clear,
                    received_x=tr.received_total / clear,
                    total_x=(tr.sent_total + tr.received_total) / clear,
                )
            )
    return rows


def main(argv: Sequence[str] = ()) -> None:
    """Print the expansion tables (markdown) for both of Bonawitz et al.'s settings."""
    print("Communication expansion of one client vs its input in the clear (16 bits x dim).")
    print("sent = AdvertiseKeys + ShareKeysResponse + MaskedInputResponse + UnmaskingResponse;")
    print("received = ShareKeysRequest + MaskedInputRequest + UnmaskingRequest (exact codec sizes).\n")
    for (n, dim), reported in PAPER.items():
        print(f"### n = 2^{n.bit_length() - 1} clients, dim = 2^{dim.bit_length() - 1}, 16-bit inputs\n")
        print(
            f"Paper: {reported}x; reconstruction 2n*256 + (5n-4)*256 + m*R bits: "
            f"{paper_expansion(n, dim):.3f}x; masked vector alone: {(INPUT_BITS + math.ceil(math.log2(n))) / 16:.3f}x\n"
        )
        print("| graph | k | t | bits | actual dropout | sent (B) | received (B) | clear (B) | sent / clear | received / clear | (sent + received) / clear |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in expansion_rows(n, dim):
            print(
                f"| {r['graph']} | {r['k']} | {r['t']} | {r['bits']} | {r['dropped']:.0%} | {r['sent']:,} | "
                f"{r['received']:,} | {r['clear']:,} | {r['sent_x']:.4f} | {r['received_x']:.4f} | {r['total_x']:.4f} |"
            )
        print()
    print(
        "The 0 % and 10 % rows coincide: a neighbour that drops after ShareKeys moves from the survivor list\n"
        "to the dropped list (4 bytes either way) and its revealed seed share becomes a key share (same size)."
    )


if __name__ == "__main__":
    main(sys.argv[1:])
