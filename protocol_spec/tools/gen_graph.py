"""Vectors for the ring order and the neighbour graphs (:mod:`secagg.protocol.graph`).

* generate: for a fixed (seed, ids, k): every id's ring key
  ``SHA-256(b"secagg/v1/ring-order" || 0x00 || seed || u32le(id))`` (``keys``,
  aligned with the sorted ``ids``), the ring (the ids sorted by key), every
  client's neighbours (aligned with the sorted ids) and, at three ring
  positions, the window ``W`` (half-width ``k/2``) and the active model's
  extended window ``W2`` (half-width ``k``) as ring positions and ids.
  Harary graphs from 5 to 128 clients with k from 2 to 12, ids contiguous and
  scattered up to 2^20, the all-zero seed, and the cases where ``m - 1 <= k``
  makes it the complete graph; plus complete-graph entries (``graph =
  "complete"``), which use the same ring and whose windows are the whole ring.
* verify: none (no external vectors exist for this derivation).
* invalid: odd or too small ``k``, seeds of the wrong size, duplicate, zero,
  too large or missing ids (``ValueError``); a non-bytes seed and a bool id
  (``TypeError``).
"""

from __future__ import annotations

from detrandom import DeterministicRandom

from secagg.primitives.ordered_tree import ring_key, window_positions
from secagg.protocol.graph import harary_neighbors, neighbors_complete, ring_order

# (vector id, ids, k, seed): seed "zero" is bytes(32), None a fresh deterministic draw
_HARARY = [
    ("harary-m5-k2-zero-seed", list(range(1, 6)), 2, "zero"),
    ("harary-m6-k2", list(range(1, 7)), 2, None),
    ("harary-m8-k4", list(range(1, 9)), 4, None),
    ("harary-m10-k4", list(range(1, 11)), 4, None),
    ("harary-m12-k6-scattered-ids", [3, 9, 17, 42, 100, 257, 1000, 4096, 30000, 65000, 65534, 2**20], 6, None),
    ("harary-m20-k6", list(range(1, 21)), 6, None),
    ("harary-m33-k8-gaps", [i for i in range(1, 41) if i % 6], 8, None),
    ("harary-m64-k10", list(range(1, 65)), 10, None),
    ("harary-m128-k12", list(range(1, 129)), 12, None),
    ("harary-m3-k2-is-complete", [1, 2, 3], 2, None),
    ("harary-m5-k4-is-complete", [2, 4, 6, 8, 10], 4, None),
    ("harary-m7-k8-is-complete", list(range(1, 8)), 8, None),
    ("harary-m1-k2-single", [7], 2, None),
]

_COMPLETE = [
    ("complete-m2", [1, 2]),
    ("complete-m4-unsorted", [4, 2, 3, 1]),
    ("complete-m5-scattered", [5, 60000, 17, 65535, 2]),
]


def _windows(ring: tuple[int, ...], half: int, k: int | None) -> list[dict]:
    m = len(ring)
    out = []
    for p in sorted({0, m // 2, m - 1}):
        for name, h in (("W", half), ("W2", k if k is not None else half)):
            pos = window_positions(p, m, h)
            out.append({"position": p, "window": name, "half": h, "positions": pos, "ids": [ring[q] for q in pos]})
    return out


def _entry(ident: str, graph: str, ids: list[int], k: int | None, seed: bytes) -> dict:
    order = sorted(ids)
    ring = ring_order(ids, seed)
    nbrs = harary_neighbors(ids, k, seed) if graph == "harary" else neighbors_complete(ids)
    half = k // 2 if graph == "harary" else len(ids)  # the complete graph's window is the whole ring
    entry = {"id": ident, "graph": graph, "seed": seed.hex(), "ids": order}
    if k is not None:
        entry["k"] = k
    entry.update(
        {
            "keys": [ring_key(seed, u).hex() for u in order],
            "ring": list(ring),
            "neighbors": [list(nbrs[u]) for u in order],
            "windows": _windows(ring, half, k if graph == "harary" else None),
        }
    )
    return entry


def generate() -> dict:
    random = DeterministicRandom(b"secagg/vectors/graph")
    gen = []
    for ident, ids, k, how in _HARARY:
        seed = bytes(32) if how == "zero" else random.token_bytes(32)
        gen.append(_entry(ident, "harary", ids, k, seed))
    for ident, ids in _COMPLETE:
        gen.append(_entry(ident, "complete", ids, None, random.token_bytes(32)))

    seed = "55" * 32
    invalid = []

    def bad(ident: str, error: str, **fields) -> None:
        entry = {"id": ident, "operation": "harary", "seed": seed, "ids": [1, 2, 3, 4, 5, 6], "k": 2}
        entry.update(fields)
        entry["error"] = error
        invalid.append(entry)

    bad("k-odd", "ValueError", k=3)
    bad("k-zero", "ValueError", k=0)
    bad("k-negative", "ValueError", k=-2)
    bad("seed-31-bytes", "ValueError", seed="55" * 31)
    bad("seed-33-bytes", "ValueError", seed="55" * 33)
    bad("seed-empty", "ValueError", seed="")
    bad("seed-not-bytes", "TypeError", seed=None)
    bad("ids-duplicate", "ValueError", ids=[1, 2, 3, 3, 4, 5])
    bad("ids-zero", "ValueError", ids=[0, 1, 2, 3, 4, 5])
    bad("ids-above-2-20", "ValueError", ids=[1, 2, 3, 4, 5, 2**20 + 1])
    bad("ids-negative", "ValueError", ids=[-1, 1, 2, 3, 4, 5])
    bad("ids-empty", "ValueError", ids=[])
    bad("ids-bool", "TypeError", ids=[True, 2, 3, 4, 5, 6])
    bad("complete-ids-duplicate", "ValueError", operation="complete", ids=[1, 1])
    bad("complete-ids-zero", "ValueError", operation="complete", ids=[0, 1])
    return {
        "name": "graph",
        "version": 1,
        "source": "protocol_spec/tools/gen_graph.py (library output from fixed inputs); "
        "re-derived independently in tests/secagg/protocol/test_graph.py",
        "generate": gen,
        "verify": [],
        "invalid": invalid,
    }
