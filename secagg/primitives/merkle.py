"""A SHA-256 Merkle tree over advertised keys, with inclusion proofs.

The session id commits to every advertised key through the root of this tree,
yet a client of a sparse (SecAgg+) graph only receives its neighbours' keys:
each comes with an inclusion proof, so the client checks that its own keys and
its neighbours' keys are all under the one root its session id is bound to,
with O(k log n) bytes instead of O(n).

Definition (normative text in SPEC.md, chapter "Protocol"):

* leaf hashes ``L_i`` (i = 0..m-1) are given in ascending client-id order;
* a level is reduced by hashing pairs: ``H(0x01 || left || right)`` for
  nodes ``2j, 2j+1``; an odd last node is promoted unchanged;
* the root is the single node left (for m = 1, the leaf itself);
* a proof for index i lists the sibling at each level where one exists,
  bottom-up; its length is therefore fixed by (i, m) and checked exactly.

>>> leaves = [leaf_hash(bytes([i])) for i in range(5)]
>>> root = merkle_root(leaves)
>>> root_from_proof(leaves[3], 3, 5, merkle_proof(leaves, 3)) == root
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["HASH_SIZE", "MAX_DEPTH", "leaf_hash", "merkle_levels", "merkle_proof", "merkle_root", "root_from_proof"]

HASH_SIZE = 32
MAX_DEPTH = 20  # enough for 2**20 leaves (secagg.kinds.MAX_CLIENTS)


def leaf_hash(data: bytes) -> bytes:
    """Return ``SHA-256(0x00 || data)``.

    Args:
        data: the bytes to hash (any length; a bytes-like object).

    Returns:
        The 32-byte leaf hash.

    Raises:
        TypeError: if ``data`` cannot be concatenated to ``bytes`` (for
            example a ``str``); there is no other validation.
    """
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Return every level of the tree, leaves first, root last.

    Args:
        leaves: the 32-byte leaf hashes in ascending client-id order.

    Returns:
        A list of levels, each a list of 32-byte hashes: ``levels[0]`` is a
        copy of ``leaves`` and ``levels[-1]`` is ``[root]`` (a single level
        when there is one leaf).

    Raises:
        ValueError: if there are no leaves or a leaf is not 32 bytes.
    """
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    if any(len(x) != HASH_SIZE for x in leaves):
        raise ValueError(f"leaves must be {HASH_SIZE}-byte hashes")
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        cur = levels[-1]
        nxt = [_node(cur[j], cur[j + 1]) for j in range(0, len(cur) - 1, 2)]
        if len(cur) % 2:
            nxt.append(cur[-1])
        levels.append(nxt)
    return levels


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Return the root over ``leaves``.

    Args:
        leaves: the 32-byte leaf hashes in ascending client-id order.

    Returns:
        The 32-byte root (the leaf itself when there is one leaf).

    Raises:
        ValueError: as :func:`merkle_levels`.
    """
    return merkle_levels(leaves)[-1][0]


def merkle_proof(levels_or_leaves: Sequence, index: int) -> bytes:
    """Return the inclusion proof of leaf ``index`` as concatenated 32-byte hashes.

    Args:
        levels_or_leaves: the output of :func:`merkle_levels` (reuse it for
            many proofs) or the list of leaves.
        index: the leaf's position, ``0 <= index < m``.

    Returns:
        The sibling hashes bottom-up, concatenated: ``32 * d`` bytes where
        ``d`` is the number of levels at which leaf ``index`` has a sibling
        (``b""`` for a single leaf).

    Raises:
        IndexError: if ``index`` is out of range.
        ValueError: as :func:`merkle_levels`, when given leaves (no leaves,
            or a leaf that is not 32 bytes).
    """
    levels = levels_or_leaves if levels_or_leaves and isinstance(levels_or_leaves[0], list) else merkle_levels(levels_or_leaves)
    if not 0 <= index < len(levels[0]):
        raise IndexError(f"leaf index {index} out of range [0, {len(levels[0])})")
    out = []
    i = index
    for level in levels[:-1]:
        sibling = i ^ 1
        if sibling < len(level):
            out.append(level[sibling])
        i //= 2
    return b"".join(out)


def root_from_proof(leaf: bytes, index: int, m: int, proof: bytes) -> bytes:
    """Recompute the root from a leaf and its proof.

    Args:
        leaf: the 32-byte leaf hash.
        index: the leaf's position among the ``m`` leaves.
        m: the number of leaves.
        proof: concatenated sibling hashes, exactly as many as (index, m) need.

    Returns:
        The 32-byte root the proof leads to (compare it with the expected one).

    Raises:
        ValueError: if ``index``/``m`` are out of range or the proof has the
            wrong length.
    """
    if not 1 <= m <= 2**MAX_DEPTH or not 0 <= index < m:
        raise ValueError(f"leaf index {index} out of range for {m} leaves")
    if len(proof) % HASH_SIZE:
        raise ValueError("proof length is not a multiple of 32")
    node, i, size, pos = leaf, index, m, 0
    while size > 1:
        sibling = i ^ 1
        if sibling < size:
            if pos + HASH_SIZE > len(proof):
                raise ValueError("proof too short")
            h = proof[pos : pos + HASH_SIZE]
            pos += HASH_SIZE
            node = _node(node, h) if i % 2 == 0 else _node(h, node)
        i //= 2
        size = (size + 1) // 2
    if pos != len(proof):
        raise ValueError("proof too long")
    return node
