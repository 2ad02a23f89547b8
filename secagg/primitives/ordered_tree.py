"""The ring order and the ordered key tree, with multiproofs over sets of positions.

A SecAgg+ client checks its neighbourhood with O(k + log n) data: the server
sorts the participants by a public ``ring_key`` (the ring order), commits to
the sorted ring with an *ordered* Merkle tree whose nodes carry the key range
below them, and sends each client only its window of the ring plus one
multiproof. Verifying the multiproof checks, at every node on the way up,
that the left range ends strictly below the right one; so every honest client
that verifies against one root sees the same positions for the same ids
(SPEC.md, chapter "Protocol", section "Key commitment", and its lemma).

Definitions (normative text in SPEC.md, chapters "Parameters and graphs" and
"Protocol"):

* ``ring_key(seed, u) = SHA-256("secagg/v1/ring-order" || 0x00 || seed || u32le(u))``;
* an ordered node is an item ``lo || hi || hash`` (96 bytes); a leaf of key
  ``K`` and hash ``h`` is ``K || K || h``; the parent of ``L`` and ``R``
  requires ``L.hi < R.lo`` and is ``L.lo || R.hi || SHA-256(0x01 || L || R)``;
* a flag-tree node is a 32-byte hash; a leaf is ``SHA-256(0x02 || u32le(id)
  || u8(flag))`` and a parent ``SHA-256(0x03 || L || R)``;
* levels reduce pairwise, an odd last node is promoted unchanged, the root is
  the hash of the last node;
* a multiproof for positions ``I`` lists, level by level and ascending within
  a level, the siblings of known nodes that are not known themselves; its
  length is fixed by ``(m, I)`` and checked exactly.

>>> seed = bytes(32)
>>> ring = sorted(range(1, 8), key=lambda u: ring_key(seed, u))
>>> tree = OrderedTree.build([(ring_key(seed, u), bytes([u]) * 32) for u in ring])
>>> pos = window_positions(0, tree.m, 1)
>>> pos
[6, 0, 1]
>>> leaves = [(ring_key(seed, ring[i]), bytes([ring[i]]) * 32) for i in pos]
>>> verify_multiproof(tree.m, pos, leaves, tree.multiproof(pos)) == tree.root
True
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterator, Sequence

from secagg.errors import ProofError
from secagg.kinds import MAX_CLIENTS

__all__ = [
    "FLAG_ITEM_SIZE",
    "HASH_SIZE",
    "KEY_SIZE",
    "MAX_DEPTH",
    "MAX_WINDOW_PROOF_ITEMS",
    "ORDERED_ITEM_SIZE",
    "RING_ORDER_LABEL",
    "FlagTree",
    "OrderedTree",
    "flag_leaf",
    "proof_item_count",
    "ring_key",
    "verify_flag_proof",
    "verify_multiproof",
    "window_positions",
]

RING_ORDER_LABEL = b"secagg/v1/ring-order"
"""Domain-separation label of the ring keys (followed by ``0x00``)."""

HASH_SIZE = 32
"""Length in bytes of a node hash."""

KEY_SIZE = 32
"""Length in bytes of a ring key (compared as bytes, i.e. big-endian unsigned)."""

ORDERED_ITEM_SIZE = 2 * KEY_SIZE + HASH_SIZE
"""Length in bytes of an ordered-tree proof item ``lo || hi || hash``."""

FLAG_ITEM_SIZE = HASH_SIZE
"""Length in bytes of a flag-tree proof item (a hash)."""

MAX_DEPTH = 20
"""Levels above the leaves in a tree of up to ``2**20`` leaves (``MAX_CLIENTS``)."""

MAX_WINDOW_PROOF_ITEMS = 4 * MAX_DEPTH
"""Decoder bound on the items of a window's multiproof: at most 4 per level
(SPEC.md, "Key commitment"; a window, wrapping or not, in fact needs at most 2)."""

_SEED_SIZE = 32


# --------------------------------------------------------------------------- ring order


def ring_key(graph_seed: bytes, client_id: int) -> bytes:
    """Return the ring key of a client: ``SHA-256(RING_ORDER_LABEL || 0x00 || seed || u32le(id))``.

    The ring is the participants sorted by this key, ascending, as bytes.

    Args:
        graph_seed: the 32-byte public graph seed of the round.
        client_id: the client's id, in ``1..2**20``.

    Returns:
        The 32-byte key.

    Raises:
        TypeError: if ``graph_seed`` is not bytes or ``client_id`` not an int.
        ValueError: if ``graph_seed`` is not 32 bytes or ``client_id`` is out
            of range.
    """
    if not isinstance(graph_seed, bytes):
        raise TypeError(f"graph_seed must be bytes, got {type(graph_seed).__name__}")
    if len(graph_seed) != _SEED_SIZE:
        raise ValueError(f"graph_seed must be {_SEED_SIZE} bytes, got {len(graph_seed)}")
    _check_id(client_id)
    return hashlib.sha256(RING_ORDER_LABEL + b"\x00" + graph_seed + struct.pack("<I", client_id)).digest()


def _check_id(client_id: object) -> None:
    if isinstance(client_id, bool) or not isinstance(client_id, int):
        raise TypeError(f"client_id must be an int, got {type(client_id).__name__}")
    if not 1 <= client_id <= MAX_CLIENTS:
        raise ValueError(f"client_id must be in [1, {MAX_CLIENTS}], got {client_id}")


def _check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return value


def window_positions(p: int, m: int, half: int) -> list[int]:
    """Return the ring positions within ``half`` of ``p``, in ring order.

    Args:
        p: the centre position, ``0 <= p < m``.
        m: the ring size, ``1 <= m <= 2**20``.
        half: how far the window reaches on each side, ``>= 0``.

    Returns:
        ``[(p - half) mod m, ..., (p + half) mod m]`` (``2*half + 1``
        positions, the centre at index ``half``), or ``[0, ..., m - 1]`` when
        ``2*half + 1 >= m`` (the whole ring).

    Raises:
        TypeError: if an argument is not an int.
        ValueError: if ``m``, ``p`` or ``half`` is out of range.
    """
    p, m, half = _check_int("p", p), _check_int("m", m), _check_int("half", half)
    if not 1 <= m <= MAX_CLIENTS:
        raise ValueError(f"m must be in [1, {MAX_CLIENTS}], got {m}")
    if not 0 <= p < m:
        raise ValueError(f"position {p} out of range [0, {m})")
    if half < 0:
        raise ValueError(f"half must be >= 0, got {half}")
    if 2 * half + 1 >= m:
        return list(range(m))
    return [(p + d) % m for d in range(-half, half + 1)]


# --------------------------------------------------------------------------- the multiproof loop


def _plan(m: int, known: list[int]) -> Iterator[tuple[int, list[int], list[int]]]:
    """The multiproof loop: per level, ``(width, missing siblings, known positions)``.

    ``known`` is sorted and distinct. Both proving and verifying walk exactly
    this sequence, so a proof's length is a function of ``(m, known)``.
    """
    width = m
    while width > 1:
        have = set(known)
        missing = sorted({i ^ 1 for i in known if (i ^ 1) < width} - have)
        yield width, missing, known
        known = sorted({i // 2 for i in known})
        width = (width + 1) // 2


def _check_positions(m: object, positions: object) -> tuple[int, list[int]]:
    m = _check_int("m", m)
    if not 1 <= m <= MAX_CLIENTS:
        raise ValueError(f"m must be in [1, {MAX_CLIENTS}], got {m}")
    if isinstance(positions, (str, bytes)) or not isinstance(positions, Sequence):
        raise TypeError(f"positions must be a sequence of ints, got {type(positions).__name__}")
    if not 1 <= len(positions) <= m:
        raise ValueError(f"need 1..{m} positions, got {len(positions)}")
    for i in positions:
        if not 0 <= _check_int("position", i) < m:
            raise ValueError(f"position {i} out of range [0, {m})")
    known = sorted(positions)
    if len(set(known)) != len(known):
        raise ValueError("positions must be distinct")
    return m, known


def proof_item_count(m: int, positions: Sequence[int]) -> int:
    """Return how many items the multiproof of ``positions`` among ``m`` leaves has.

    The same for both trees; multiply by :data:`ORDERED_ITEM_SIZE` or
    :data:`FLAG_ITEM_SIZE` for the byte length.

    Args:
        m: the number of leaves, ``1 <= m <= 2**20``.
        positions: distinct leaf positions in ``[0, m)``, any order.

    Returns:
        The item count (0 when every leaf is known or ``m == 1``).

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if ``m`` or a position is out of range, or positions repeat.
    """
    m, known = _check_positions(m, positions)
    return sum(len(missing) for _, missing, _ in _plan(m, known))


class _Tree:
    """Every level of a tree as one ``bytes`` blob of fixed-size items, leaves first."""

    _item_size: int
    _combine: Callable[[bytes, bytes], bytes]
    _check_item: Callable[[bytes], None]

    __slots__ = ("_levels",)

    def __init__(self, items: bytes, m: int) -> None:
        size = self._item_size
        levels = [items]
        while m > 1:
            cur = levels[-1]
            combine = type(self)._combine
            parts = [combine(cur[j * size : (j + 1) * size], cur[(j + 1) * size : (j + 2) * size]) for j in range(0, m - 1, 2)]
            if m % 2:
                parts.append(cur[(m - 1) * size :])
            levels.append(b"".join(parts))
            m = (m + 1) // 2
        self._levels = levels

    @property
    def m(self) -> int:
        """The number of leaves."""
        return len(self._levels[0]) // self._item_size

    @property
    def root(self) -> bytes:
        """The 32-byte root: the hash of the last node (the leaf hash when ``m == 1``)."""
        return self._levels[-1][-HASH_SIZE:]

    def multiproof(self, positions: Sequence[int]) -> bytes:
        """Return the multiproof of the leaves at ``positions``.

        Args:
            positions: distinct leaf positions in ``[0, m)``, any order.

        Returns:
            The concatenated items, ``proof_item_count(m, positions)`` of them.

        Raises:
            TypeError: if ``positions`` is not a sequence of ints.
            ValueError: if a position is out of range or positions repeat.
        """
        m, known = _check_positions(self.m, positions)
        size = self._item_size
        out = []
        for level, (_, missing, _) in zip(self._levels, _plan(m, known)):
            out.extend(level[s * size : (s + 1) * size] for s in missing)
        return b"".join(out)


def _verify(tree: type[_Tree], m: int, positions: Sequence[int], items: list[bytes], proof: bytes) -> bytes:
    """Replay the loop over ``items`` (the known leaves, in ``positions`` order) and ``proof``."""
    m, known = _check_positions(m, positions)
    size, combine, check = tree._item_size, tree._combine, tree._check_item
    if not isinstance(proof, bytes):
        raise TypeError(f"proof must be bytes, got {type(proof).__name__}")
    if len(proof) % size:
        raise ProofError(f"proof length {len(proof)} is not a multiple of {size}")
    steps = list(_plan(m, known))
    need = sum(len(missing) for _, missing, _ in steps)
    if len(proof) != need * size:
        raise ProofError(f"proof has {len(proof) // size} items, the positions need {need}")
    nodes = dict(zip(positions, items))
    offset = 0
    for width, missing, level_known in steps:
        for s in missing:
            item = proof[offset : offset + size]
            offset += size
            check(item)
            nodes[s] = item
        parents: dict[int, bytes] = {}
        for i in level_known:
            j = i // 2
            if j in parents:
                continue
            left = 2 * j
            parents[j] = combine(nodes[left], nodes[left + 1]) if left + 1 < width else nodes[left]
        nodes = parents
    return nodes[0][-HASH_SIZE:]


# --------------------------------------------------------------------------- the ordered key tree


def _ordered_combine(left: bytes, right: bytes) -> bytes:
    if not left[KEY_SIZE : 2 * KEY_SIZE] < right[:KEY_SIZE]:
        raise ProofError("ordered tree: a left range does not end below its right sibling's")
    return left[:KEY_SIZE] + right[KEY_SIZE : 2 * KEY_SIZE] + hashlib.sha256(b"\x01" + left + right).digest()


def _ordered_check(item: bytes) -> None:
    if not item[:KEY_SIZE] <= item[KEY_SIZE : 2 * KEY_SIZE]:
        raise ProofError("ordered tree: a proof item's range has lo > hi")


def _ordered_leaves(leaves: object) -> list[bytes]:
    if isinstance(leaves, (str, bytes)) or not isinstance(leaves, Sequence):
        raise TypeError(f"leaves must be a sequence of (key, leaf_hash) pairs, got {type(leaves).__name__}")
    out = []
    for pair in leaves:
        if not isinstance(pair, tuple) or len(pair) != 2 or not all(isinstance(x, bytes) for x in pair):
            raise TypeError("each leaf must be a (key, leaf_hash) tuple of bytes")
        key, h = pair
        if len(key) != KEY_SIZE or len(h) != HASH_SIZE:
            raise ValueError(f"a leaf needs a {KEY_SIZE}-byte key and a {HASH_SIZE}-byte hash")
        out.append(key + key + h)
    return out


class OrderedTree(_Tree):
    """The ordered key tree over a ring: every node carries the key range below it.

    Build it with :meth:`build`; it keeps every level (O(m) memory, about
    ``2 * 96 * m`` bytes), so each multiproof costs O(|positions| log m).
    """

    __slots__ = ()
    _item_size = ORDERED_ITEM_SIZE
    _combine = staticmethod(_ordered_combine)
    _check_item = staticmethod(_ordered_check)

    @classmethod
    def build(cls, leaves: Sequence[tuple[bytes, bytes]]) -> OrderedTree:
        """Build the tree over ``(key, leaf_hash)`` pairs given in ring order.

        Args:
            leaves: one ``(key, leaf_hash)`` pair per position, 32 bytes each,
                keys strictly increasing.

        Returns:
            The tree.

        Raises:
            TypeError: if ``leaves`` is not a sequence of pairs of bytes.
            ValueError: if there are no leaves or more than ``2**20``, a key
                or hash is not 32 bytes, or the keys are not strictly
                increasing (a key collision: draw a new graph seed).
        """
        if isinstance(leaves, Sequence) and not 1 <= len(leaves) <= MAX_CLIENTS:
            raise ValueError(f"need 1..{MAX_CLIENTS} leaves, got {len(leaves)}")
        items = _ordered_leaves(leaves)
        for j in range(len(items) - 1):
            if not items[j][:KEY_SIZE] < items[j + 1][:KEY_SIZE]:
                raise ValueError(f"keys must be strictly increasing: positions {j} and {j + 1} are not")
        return cls(b"".join(items), len(items))

    def leaf(self, position: int) -> tuple[bytes, bytes]:
        """Return the ``(key, leaf_hash)`` pair at ``position``.

        Args:
            position: a leaf position, ``0 <= position < m``.

        Returns:
            The pair the tree was built from.

        Raises:
            IndexError: if ``position`` is out of range.
        """
        if not 0 <= position < self.m:
            raise IndexError(f"position {position} out of range [0, {self.m})")
        item = self._levels[0][position * ORDERED_ITEM_SIZE : (position + 1) * ORDERED_ITEM_SIZE]
        return item[:KEY_SIZE], item[2 * KEY_SIZE :]


def verify_multiproof(m: int, positions: Sequence[int], leaves: Sequence[tuple[bytes, bytes]], proof: bytes) -> bytes:
    """Verify an ordered-tree multiproof and return the root it leads to.

    The caller computes each key itself (:func:`ring_key`) and each leaf hash
    from the entry it received, and binds the returned root (the session id
    does); the ordering check runs at every combined pair, opened-opened
    pairs included, and every proof item must have ``lo <= hi``.

    Args:
        m: the number of leaves, ``1 <= m <= 2**20``.
        positions: distinct positions of the opened leaves, any order.
        leaves: ``(key, leaf_hash)`` for each position, in the same order.
        proof: the multiproof bytes.

    Returns:
        The 32-byte root.

    Raises:
        ProofError: if the proof has the wrong length or an ordering check
            fails (maps to the ``inconsistent`` abort reason).
        TypeError: if an argument has the wrong type.
        ValueError: if ``m`` or a position is out of range, positions repeat,
            ``leaves`` and ``positions`` differ in length, or a key or hash is
            not 32 bytes.
    """
    items = _ordered_leaves(leaves)
    if len(items) != len(positions):
        raise ValueError(f"{len(positions)} positions but {len(items)} leaves")
    return _verify(OrderedTree, m, positions, items, proof)


# --------------------------------------------------------------------------- the flag tree


def flag_leaf(client_id: int, flag: bool) -> bytes:
    """Return a flag-tree leaf: ``SHA-256(0x02 || u32le(id) || u8(flag))``.

    Args:
        client_id: the client's id, in ``1..2**20``.
        flag: the client's flag (in the active model's consistency check:
            whether it is in ``U3``).

    Returns:
        The 32-byte leaf hash.

    Raises:
        TypeError: if ``client_id`` is not an int or ``flag`` not a bool.
        ValueError: if ``client_id`` is out of range.
    """
    _check_id(client_id)
    if not isinstance(flag, bool):
        raise TypeError(f"flag must be a bool, got {type(flag).__name__}")
    return hashlib.sha256(b"\x02" + struct.pack("<IB", client_id, flag)).digest()


def _flag_combine(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x03" + left + right).digest()


def _flag_check(item: bytes) -> None:
    return None


def _flag_leaves(leaf_hashes: object) -> list[bytes]:
    if isinstance(leaf_hashes, (str, bytes)) or not isinstance(leaf_hashes, Sequence):
        raise TypeError(f"leaf_hashes must be a sequence of bytes, got {type(leaf_hashes).__name__}")
    for h in leaf_hashes:
        if not isinstance(h, bytes):
            raise TypeError(f"leaf hashes must be bytes, got {type(h).__name__}")
        if len(h) != HASH_SIZE:
            raise ValueError(f"leaf hashes must be {HASH_SIZE} bytes, got {len(h)}")
    return list(leaf_hashes)


class FlagTree(_Tree):
    """A plain Merkle tree (node prefix ``0x03``) over flag leaves in ring order.

    Same shape, promotion and multiproof loop as :class:`OrderedTree`, with
    32-byte items and no ordering.
    """

    __slots__ = ()
    _item_size = FLAG_ITEM_SIZE
    _combine = staticmethod(_flag_combine)
    _check_item = staticmethod(_flag_check)

    @classmethod
    def build(cls, leaf_hashes: Sequence[bytes]) -> FlagTree:
        """Build the tree over 32-byte leaf hashes (:func:`flag_leaf`) in ring order.

        Args:
            leaf_hashes: one hash per ring position.

        Returns:
            The tree.

        Raises:
            TypeError: if ``leaf_hashes`` is not a sequence of bytes.
            ValueError: if there are no leaves or more than ``2**20``, or a
                hash is not 32 bytes.
        """
        if isinstance(leaf_hashes, Sequence) and not 1 <= len(leaf_hashes) <= MAX_CLIENTS:
            raise ValueError(f"need 1..{MAX_CLIENTS} leaves, got {len(leaf_hashes)}")
        items = _flag_leaves(leaf_hashes)
        return cls(b"".join(items), len(items))


def verify_flag_proof(m: int, positions: Sequence[int], leaf_hashes: Sequence[bytes], proof: bytes) -> bytes:
    """Verify a flag-tree multiproof and return the root it leads to.

    Args:
        m: the number of leaves, ``1 <= m <= 2**20``.
        positions: distinct positions of the opened leaves, any order.
        leaf_hashes: the 32-byte leaf hash for each position, same order.
        proof: the multiproof bytes.

    Returns:
        The 32-byte root (compare it with the one the caller expects).

    Raises:
        ProofError: if the proof has the wrong length (maps to the
            ``inconsistent`` abort reason).
        TypeError: if an argument has the wrong type.
        ValueError: if ``m`` or a position is out of range, positions repeat,
            the lengths differ, or a hash is not 32 bytes.
    """
    items = _flag_leaves(leaf_hashes)
    if len(items) != len(positions):
        raise ValueError(f"{len(positions)} positions but {len(items)} leaf hashes")
    return _verify(FlagTree, m, positions, items, proof)
