"""TEMPORARY stand-in for the "tree" helper's module (V3_DESIGN.md, "Module API"); replaced by theirs on merge.

The ordered key tree over the ring, multiproofs, windows.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

from secagg.errors import AbortReason, RemoteProtocolError

__all__ = ["ProofError", "OrderedTree", "ring_key", "verify_multiproof", "window_positions"]

ITEM_SIZE = 96


class ProofError(RemoteProtocolError):
    """A multiproof that does not verify."""

    def __init__(self, detail: str) -> None:
        super().__init__(AbortReason.INCONSISTENT, detail)


def ring_key(graph_seed: bytes, client_id: int) -> bytes:
    """SHA-256(b"secagg/v1/ring-order" || 0x00 || graph_seed || u32le(id))."""
    return hashlib.sha256(b"secagg/v1/ring-order\x00" + graph_seed + struct.pack("<I", client_id)).digest()


def _parent(left: tuple, right: tuple) -> tuple:
    if not left[1] < right[0]:
        raise ProofError("ordering check failed")
    h = hashlib.sha256(b"\x01" + left[0] + left[1] + left[2] + right[0] + right[1] + right[2]).digest()
    return (left[0], right[1], h)


class OrderedTree:
    """Nodes (lo, hi, hash)."""

    def __init__(self, levels):
        self.levels = levels

    @classmethod
    def build(cls, leaves: Sequence[tuple[bytes, bytes]]) -> "OrderedTree":
        if not leaves:
            raise ValueError("no leaves")
        level = [(k, k, h) for k, h in leaves]
        for a, b in zip(level, level[1:]):
            if not a[0] < b[0]:
                raise ValueError("keys not strictly increasing")
        levels = [level]
        while len(level) > 1:
            nxt = [_parent(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            levels.append(nxt)
            level = nxt
        return cls(levels)

    @property
    def m(self) -> int:
        return len(self.levels[0])

    @property
    def root(self) -> bytes:
        return self.levels[-1][0][2]

    def multiproof(self, positions: Sequence[int]) -> bytes:
        out = []
        known = sorted(set(positions))
        for level in self.levels[:-1]:
            L = len(level)
            ks = set(known)
            for s in sorted({i ^ 1 for i in known if (i ^ 1) < L} - ks):
                lo, hi, h = level[s]
                out.append(lo + hi + h)
            known = sorted({i // 2 for i in known})
        return b"".join(out)


def verify_multiproof(m: int, positions: Sequence[int], leaves: Sequence[tuple[bytes, bytes]], proof: bytes) -> bytes:
    if len(positions) != len(leaves) or not positions:
        raise ProofError("positions and leaves differ in number")
    nodes = {}
    for p, (k, h) in zip(positions, leaves):
        if not 0 <= p < m or p in nodes:
            raise ProofError("bad position")
        nodes[p] = (k, k, h)
    if len(proof) % ITEM_SIZE:
        raise ProofError("proof length")
    items = [proof[i : i + ITEM_SIZE] for i in range(0, len(proof), ITEM_SIZE)]
    used = 0
    L = m
    while L > 1:
        for s in sorted({i ^ 1 for i in nodes if (i ^ 1) < L} - set(nodes)):
            if used >= len(items):
                raise ProofError("proof too short")
            it = items[used]
            used += 1
            nodes[s] = (it[:32], it[32:64], it[64:])
        nxt = {}
        for i in sorted(nodes):
            j = i // 2
            if j in nxt:
                continue
            if i % 2 == 0 and i + 1 < L:
                nxt[j] = _parent(nodes[i], nodes[i + 1])
            elif i % 2 == 0:
                nxt[j] = nodes[i]
            else:
                nxt[j] = _parent(nodes[i - 1], nodes[i])
        nodes = nxt
        L = (L + 1) // 2
    if used != len(items):
        raise ProofError("proof too long")
    return nodes[0][2]


def window_positions(p: int, m: int, half: int) -> list[int]:
    if 2 * half + 1 >= m:
        return list(range(m))
    return [(p + d) % m for d in range(-half, half + 1)]
