"""Neighbour graphs: who shares keys and masks with whom.

SecAgg uses the complete graph; SecAgg+ (Bell et al., CCS 2020) a Harary graph
``H(k, m)`` whose ``m`` participants sit on a ring, each linked to the ``k/2``
clients on either side. The ring is the participants sorted by their ring key
``SHA-256("secagg/v1/ring-order" || 0x00 || graph_seed || u32le(id))``
(:func:`secagg.primitives.ordered_tree.ring_key`): a sort, so a client checks
its place with O(k + log m) data against the ordered key tree, and the server
orders m clients in O(m log m). Both graphs use the same ring. Every neighbour
tuple is sorted ascending. The exact definition is in SPEC.md, chapter
"Parameters and graphs", section "Neighbour graphs".

>>> g = harary_neighbors([1, 2, 3, 4, 5, 6], 2, bytes(32))
>>> all(len(v) == 2 for v in g.values()), all(u in g[v] for u in g for v in g[u])
(True, True)
>>> neighbors_complete([3, 1, 2])
{1: (2, 3), 2: (1, 3), 3: (1, 2)}
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence

import numpy as np

from secagg.kinds import MAX_CLIENTS, GraphKind
from secagg.params import Params
from secagg.primitives.ordered_tree import ring_key

__all__ = [
    "GRAPH_SEED_SIZE",
    "build_neighbors",
    "harary_neighbors",
    "neighbors_complete",
    "neighbors_of",
    "ring_neighbors",
    "ring_order",
]

GRAPH_SEED_SIZE = 32
"""Length in bytes of the public graph seed."""


def _check_ids(ids: object) -> list[int]:
    if isinstance(ids, (tuple, list)) and ids and set(map(type, ids)) == {int}:  # fast path
        out = sorted(ids)
        if out[0] < 1 or out[-1] > MAX_CLIENTS:
            bad = out[0] if out[0] < 1 else out[-1]
            raise ValueError(f"client ids must be in [1, {MAX_CLIENTS}], got {bad}")
        if any(map(operator.eq, out, out[1:])):
            raise ValueError(f"client ids must be distinct, got {len(out) - len(set(out))} duplicate(s)")
        return out
    if isinstance(ids, (str, bytes)) or not isinstance(ids, (Sequence, set, frozenset, np.ndarray, range)):
        raise TypeError(f"ids must be a sequence of ints, got {type(ids).__name__}")
    out: list[int] = []
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"client ids must be ints, got {type(i).__name__}")
        if not 1 <= i <= MAX_CLIENTS:
            raise ValueError(f"client ids must be in [1, {MAX_CLIENTS}], got {int(i)}")
        out.append(int(i))
    if not out:
        raise ValueError("ids must not be empty")
    if len(set(out)) != len(out):
        raise ValueError(f"client ids must be distinct, got {len(out) - len(set(out))} duplicate(s)")
    return sorted(out)


def _check_seed(seed: object) -> bytes:
    if not isinstance(seed, bytes):
        raise TypeError(f"seed must be bytes, got {type(seed).__name__}")
    if len(seed) != GRAPH_SEED_SIZE:
        raise ValueError(f"seed must be {GRAPH_SEED_SIZE} bytes, got {len(seed)}")
    return seed


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    k = int(k)
    if k < 2 or k % 2:
        raise ValueError(f"k must be even and at least 2, got {k}")
    return k


def _sorted_ring(order: Sequence[int], seed: bytes) -> tuple[int, ...]:
    keyed = sorted((ring_key(seed, u), u) for u in order)
    if any(a[0] == b[0] for a, b in zip(keyed, keyed[1:])):
        raise ValueError("two clients have the same ring key: draw a new graph seed")
    return tuple(u for _, u in keyed)


def ring_order(ids: Sequence[int], seed: bytes) -> tuple[int, ...]:
    """Return the ids in ring order: element ``p`` is the client at position ``p``.

    The ids sorted by ``ring_key(seed, id)`` ascending, the keys compared as
    bytes (SPEC.md, "Neighbour graphs"). O(m log m).

    Args:
        ids: the distinct client ids (any order), each in ``1..2**20``.
        seed: the 32-byte public graph seed.

    Returns:
        A permutation of the ids.

    Raises:
        TypeError: if ``ids`` is not a sequence of ints or ``seed`` not bytes.
        ValueError: if ``ids`` is empty, has duplicates or an id outside
            ``1..2**20``, ``seed`` is not 32 bytes, or two ids have the same
            ring key (probability below ``2**-216`` for ``2**20`` ids; the
            server then draws a new seed).
    """
    return _ring(tuple(_check_ids(ids)), _check_seed(seed))[0]


@functools.lru_cache(maxsize=8)
def _ring(order: tuple[int, ...], seed: bytes) -> tuple[tuple[int, ...], dict[int, int]]:
    """The ring of :func:`ring_order` and each id's position in it.

    Public data only; cached because every client of a simulated round asks
    for the same ring. Callers must not mutate the returned dict.
    """
    ring = _sorted_ring(order, seed)
    return ring, {u: p for p, u in enumerate(ring)}


def ring_neighbors(ring: Sequence[int], position: int, k: int) -> tuple[int, ...]:
    """Return the Harary neighbours of the client at ``position`` of ``ring``.

    O(k): the ids at positions ``position ± d (mod m)`` for ``d = 1..k/2``, or
    every other id of the ring when ``m - 1 <= k`` (the complete graph).

    Args:
        ring: the ids in ring order (:func:`ring_order`).
        position: the client's position, ``0 <= position < len(ring)``.
        k: the even number of neighbours, ``k >= 2``.

    Returns:
        The neighbour ids, ascending.

    Raises:
        TypeError: if ``k`` or ``position`` is not an int.
        ValueError: if ``k`` is odd or below 2, or ``position`` is out of range.
    """
    k = _check_k(k)
    if isinstance(position, bool) or not isinstance(position, int):
        raise TypeError(f"position must be an int, got {type(position).__name__}")
    m = len(ring)
    if not 0 <= position < m:
        raise ValueError(f"position {position} out of range [0, {m})")
    if m - 1 <= k:
        me = ring[position]
        return tuple(sorted(v for v in ring if v != me))
    half = k // 2
    return tuple(sorted(ring[(position + d) % m] for d in range(-half, half + 1) if d))


def neighbors_complete(ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
    """Return the complete graph over ``ids``: everyone else is a neighbour.

    Args:
        ids: the distinct client ids, each in ``1..2**20``.

    Returns:
        ``{id: every other id, ascending}``, keyed in ascending id order.

    Raises:
        TypeError: if ``ids`` is not a sequence of ints.
        ValueError: if ``ids`` is empty, has duplicates or an id out of range.
    """
    order = _check_ids(ids)
    return {u: tuple(v for v in order if v != u) for u in order}


def harary_neighbors(ids: Sequence[int], k: int, seed: bytes) -> dict[int, tuple[int, ...]]:
    """Return the Harary graph ``H(k, m)`` over ``ids`` on the ring of ``seed``.

    With ``R = ring_order(ids, seed)`` and ``m = len(ids)``, client ``R[p]``
    is linked to ``R[(p ± d) mod m]`` for ``d = 1..k/2``. If ``m - 1 <= k``
    the result is the complete graph over ``ids``. The graph is symmetric,
    every client has exactly ``min(k, m - 1)`` neighbours, and it stays
    connected after removing any ``k - 1`` clients (``H(k, m)`` is
    ``k``-connected).

    Args:
        ids: the distinct ids of the clients that advertised keys, each in
            ``1..2**20``.
        k: the even number of neighbours, ``k >= 2``.
        seed: the 32-byte public graph seed.

    Returns:
        ``{id: neighbour ids, ascending}``, keyed in ascending id order.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if ``k`` is odd or below 2, ``seed`` is not 32 bytes,
            ``ids`` is empty, has duplicates or an id out of range, or two ids
            share a ring key (:func:`ring_order`).

    Warning:
        The security analysis (chapter "Parameters and graphs") assumes the
        ring order is independent of which clients are corrupted or drop
        out. The seed must come from a CSPRNG, fresh for every round, and be
        bound into the session id (the protocol does both). A server that
        colludes with clients can still draw many seeds and keep one that
        gives an honest client many corrupted neighbours; against a malicious
        server each such trial costs it little, so the ``2^-40`` bound then
        degrades by the number of seeds it can try.
    """
    k = _check_k(k)
    seed = _check_seed(seed)
    order = _check_ids(ids)
    if len(order) - 1 <= k:
        return neighbors_complete(order)
    ring = _ring(tuple(order), seed)[0]
    out = {u: ring_neighbors(ring, p, k) for p, u in enumerate(ring)}
    return {u: out[u] for u in order}


def _check_params(params: object, order: list[int]) -> Params:
    if not isinstance(params, Params):
        raise TypeError(f"params must be Params, got {type(params).__name__}")
    if order[-1] > params.n_clients:
        raise ValueError(f"client id {order[-1]} is above n_clients={params.n_clients}")
    return params


def build_neighbors(params: Params, ids: Sequence[int], seed: bytes) -> dict[int, tuple[int, ...]]:
    """Return the neighbour graph of a round over the clients that advertised keys.

    Args:
        params: the round parameters (``params.graph`` picks the graph,
            ``params.neighbors`` is ``k`` for the Harary graph).
        ids: the distinct ids of the clients that advertised keys, each in
            ``1..params.n_clients``.
        seed: the 32-byte public graph seed (checked for both kinds, used by
            the Harary graph only).

    Returns:
        ``{id: neighbour ids, ascending}``.

    Raises:
        TypeError: if ``params`` is not :class:`Params` or another argument
            has the wrong type.
        ValueError: if an id is outside ``1..params.n_clients``, ids repeat or
            are empty, ``seed`` is not 32 bytes, or two ids share a ring key.
    """
    if not isinstance(params, Params):
        raise TypeError(f"params must be Params, got {type(params).__name__}")
    seed = _check_seed(seed)
    order = _check_ids(ids)
    _check_params(params, order)
    if params.graph is GraphKind.COMPLETE:
        return neighbors_complete(order)
    return harary_neighbors(order, params.neighbors, seed)


def neighbors_of(params: Params, ids: Sequence[int], seed: bytes, client_id: int) -> tuple[int, ...]:
    """Return one client's neighbours, without building the whole graph.

    Equal to ``build_neighbors(params, ids, seed)[client_id]``; the ring is
    cached, so each further client of the same round costs O(k).

    Args:
        params: the round parameters.
        ids: the distinct ids of the clients that advertised keys.
        seed: the 32-byte public graph seed.
        client_id: the client whose neighbours are wanted; must be in ``ids``.

    Returns:
        The neighbour ids, ascending.

    Raises:
        TypeError, ValueError: as :func:`build_neighbors`, or if ``client_id``
            is not in ``ids``.
    """
    if not isinstance(params, Params):
        raise TypeError(f"params must be Params, got {type(params).__name__}")
    order = _check_ids(ids)
    seed = _check_seed(seed)
    _check_params(params, order)
    if params.graph is GraphKind.COMPLETE or len(order) - 1 <= params.neighbors:
        if client_id not in order:
            raise ValueError(f"client {client_id} is not among the ids")
        return tuple(v for v in order if v != client_id)
    ring, positions = _ring(tuple(order), seed)
    if client_id not in positions:
        raise ValueError(f"client {client_id} is not among the ids")
    return ring_neighbors(ring, positions[client_id], params.neighbors)
