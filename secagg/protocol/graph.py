"""Neighbour graphs: who shares keys and masks with whom.

SecAgg uses the complete graph; SecAgg+ (Bell et al., CCS 2020) a Harary graph
``H(k, m)`` whose ``m`` participants sit on a ring in an order every client
recomputes from the server's public 32-byte graph seed (a Fisher-Yates
shuffle driven by an AES-256-CTR keystream), each linked to the ``k/2``
clients on either side. The session id binds the seed and the participants,
so clients shown different graphs hold different session ids. Every
neighbour tuple is sorted ascending. The exact permutation is in SPEC.md,
chapter "Parameters and graphs", section "Neighbour graphs".

>>> g = harary_neighbors([1, 2, 3, 4, 5, 6], 2, bytes(32))
>>> all(len(v) == 2 for v in g.values()), all(u in g[v] for u in g for v in g[u])
(True, True)
>>> neighbors_complete([3, 1, 2])
{1: (2, 3), 2: (1, 3), 3: (1, 2)}
"""

from __future__ import annotations

import functools
import hashlib
import operator
from collections.abc import Iterator, Sequence

import numpy as np

from secagg.kinds import MAX_CLIENTS, GraphKind
from secagg.params import Params
from secagg.primitives.prg import Keystream

__all__ = [
    "GRAPH_PERMUTATION_LABEL",
    "GRAPH_SEED_SIZE",
    "build_neighbors",
    "graph_permutation",
    "harary_neighbors",
    "neighbors_complete",
    "neighbors_of",
]

GRAPH_PERMUTATION_LABEL = b"secagg/v1/graph-permutation"
"""Domain-separation label of the permutation key (followed by ``0x00``)."""

GRAPH_SEED_SIZE = 32
"""Length in bytes of the public graph seed."""

_TWO64 = 1 << 64
_CHUNK_WORDS = 1024


def _check_ids(ids: object) -> list[int]:
    if isinstance(ids, (tuple, list)) and ids and set(map(type, ids)) == {int}:  # fast path
        out = sorted(ids)
        if out[0] < 1 or out[-1] > MAX_CLIENTS:
            bad = out[0] if out[0] < 1 else out[-1]
            raise ValueError(f"client ids must be in [1, {MAX_CLIENTS}], got {bad}")
        if any(map(operator.eq, out, out[1:])):
            raise ValueError(f"client ids must be distinct, got {len(out) - len(set(out))} duplicate(s)")
        return out
    if isinstance(ids, (str, bytes)) or not isinstance(ids, (Sequence, set, frozenset, np.ndarray)):
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


def _stream(seed: bytes) -> Keystream:
    return Keystream(hashlib.sha256(GRAPH_PERMUTATION_LABEL + b"\x00" + seed).digest())


def _words(seed: bytes) -> Iterator[int]:
    stream = _stream(seed)
    while True:
        yield from np.frombuffer(stream.read(8 * _CHUNK_WORDS), dtype="<u8").tolist()


def graph_permutation(ids: Sequence[int], seed: bytes) -> tuple[int, ...]:
    """Return the ids in ring order: element ``p`` is the client at position ``p``.

    Fisher-Yates over the sorted ids, driven by the AES-256-CTR keystream of
    ``SHA-256(GRAPH_PERMUTATION_LABEL || 0x00 || seed)`` read as u64le words,
    with unbiased rejection sampling (module docstring).

    Args:
        ids: the distinct client ids (any order), each in ``1..2**20``.
        seed: the 32-byte public graph seed.

    Returns:
        A permutation of the sorted ids.

    Raises:
        TypeError: if ``ids`` is not a sequence of ints or ``seed`` not bytes.
        ValueError: if ``ids`` is empty, has duplicates or an id outside
            ``1..2**20``, or ``seed`` is not 32 bytes.
    """
    perm = _check_ids(ids)
    seed = _check_seed(seed)
    m = len(perm)
    if m > 1:
        # Fast path: the first m - 1 words, unless one of them is rejected
        # (probability below m**2 / 2**64); then the generic loop below
        # consumes the very same words one by one.
        w = np.frombuffer(_stream(seed).read(8 * (m - 1)), dtype="<u8").astype(np.uint64)
        bounds = np.arange(m, 1, -1, dtype=np.uint64)  # i + 1 for i = m-1 .. 1
        rem = (np.uint64(0) - bounds) % bounds  # 2**64 mod bound
        limit = np.uint64(0) - rem  # 2**64 - rem, wrapping to 0 when rem == 0
        if not np.any((rem != 0) & (w >= limit)):
            js = (w % bounds).tolist()
            for i, j in zip(range(m - 1, 0, -1), js):
                perm[i], perm[j] = perm[j], perm[i]
            return tuple(perm)
    words = _words(seed)
    for i in range(len(perm) - 1, 0, -1):
        bound = i + 1
        limit = _TWO64 - _TWO64 % bound
        w = next(words)
        while w >= limit:
            w = next(words)
        j = w % bound
        perm[i], perm[j] = perm[j], perm[i]
    return tuple(perm)


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
    """Return the randomly relabelled Harary graph ``H(k, m)`` over ``ids``.

    With ``P = graph_permutation(ids, seed)`` and ``m = len(ids)``, client
    ``P[p]`` is linked to ``P[(p ± d) mod m]`` for ``d = 1..k/2``. If
    ``m - 1 <= k`` the result is the complete graph over ``ids``. The graph is
    symmetric, every client has exactly ``min(k, m - 1)`` neighbours, and it
    stays connected after removing any ``k - 1`` clients (``H(k, m)`` is
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
        ValueError: if ``k`` is odd or below 2, ``seed`` is not 32 bytes, or
            ``ids`` is empty, has duplicates or an id out of range.

    Warning:
        The security analysis (chapter "Parameters and graphs") assumes the
        permutation is independent of which clients are corrupted or drop
        out. The seed must come from a CSPRNG, fresh for every round, and be
        bound into the session id (the protocol does both). A server that
        colludes with clients can still draw many seeds and keep one that
        gives an honest client many corrupted neighbours; against a malicious
        server each such trial costs it little, so the ``2^-40`` bound then
        degrades by the number of seeds it can try.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    k = int(k)
    if k < 2 or k % 2:
        raise ValueError(f"k must be even and at least 2, got {k}")
    seed = _check_seed(seed)
    order = _check_ids(ids)
    m = len(order)
    if m - 1 <= k:
        return neighbors_complete(order)
    ring = graph_permutation(order, seed)
    half = k // 2
    out: dict[int, tuple[int, ...]] = {}
    for p, u in enumerate(ring):
        out[u] = tuple(sorted(ring[(p + d) % m] for d in range(-half, half + 1) if d))
    return {u: out[u] for u in order}


@functools.lru_cache(maxsize=8)
def _ring(order: tuple[int, ...], seed: bytes) -> tuple[tuple[int, ...], dict[int, int]]:
    """The ring of :func:`graph_permutation` and each id's position in it.

    Public data only; cached because every client of a round (and, in one
    process, all of them) asks for the same ring. Callers must not mutate
    the returned dict.
    """
    ring = graph_permutation(order, seed)
    return ring, {u: p for p, u in enumerate(ring)}


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
            are empty, or ``seed`` is not 32 bytes.
    """
    if not isinstance(params, Params):
        raise TypeError(f"params must be Params, got {type(params).__name__}")
    seed = _check_seed(seed)
    order = _check_ids(ids)
    if order[-1] > params.n_clients:
        raise ValueError(f"client id {order[-1]} is above n_clients={params.n_clients}")
    if params.graph is GraphKind.COMPLETE:
        return neighbors_complete(order)
    return harary_neighbors(order, params.neighbors, seed)


def neighbors_of(params: Params, ids: Sequence[int], seed: bytes, client_id: int) -> tuple[int, ...]:
    """Return one client's neighbours, without building the whole graph.

    Equal to ``build_neighbors(params, ids, seed)[client_id]`` at O(m) cost
    (one permutation) instead of O(m k log k), which matters when each of
    ``m`` clients computes its own neighbourhood.

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
    if order[-1] > params.n_clients:
        raise ValueError(f"ids must be in 1..{params.n_clients}, got {order[-1]}")
    if client_id not in order:
        raise ValueError(f"client {client_id} is not among the ids")
    m, k = len(order), params.neighbors
    if params.graph is GraphKind.COMPLETE or m - 1 <= k:
        return tuple(v for v in order if v != client_id)
    ring, positions = _ring(tuple(order), seed)
    p = positions[client_id]
    half = k // 2
    return tuple(sorted(ring[(p + d) % m] for d in range(-half, half + 1) if d))
