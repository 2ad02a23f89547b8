"""Vectors for the ordered key tree and the flag tree (:mod:`secagg.primitives.ordered_tree`), wire version 3.

* generate, ``kind = "ordered"``: a ring of ``m`` clients from a fixed
  ``seed``: ``ids`` in ring order, their ring ``keys``, ``leaf_data``
  (``u32le(id) || c_pk || s_pk``, hex), the leaf hashes ``leaves`` =
  SHA-256(0x00 || data), the ``root``, and ``proofs``: for each listed set of
  ``positions`` (windows, wrapping windows, the whole ring, single leaves and
  scattered sets) the multiproof ``proof`` and its item count. Sizes 1 to 9,
  16, 17, 33 and 100 cover every promotion pattern.
* generate, ``kind = "flag"``: ``ids`` in ring order, ``flags`` (0/1),
  ``leaves`` = SHA-256(0x02 || u32le(id) || u8(flag)), ``root``, ``proofs``
  as above (32-byte items).
* verify: none (no external vectors exist for these trees).
* invalid: ``operation = "verify_multiproof"`` (``m``, ``positions``,
  ``keys``, ``leaves``, ``proof``) refused with ``ProofError``: a proof one
  item short or long or not a multiple of 96 bytes, a proof item with
  ``lo > hi``, opened leaves out of order, a tree built over an out-of-order
  ring, a duplicated leaf; with ``ValueError``: a position outside
  ``[0, m)``, repeated positions, ``m`` outside ``[1, 2^20]``.
  ``operation = "verify_flag_proof"`` (``m``, ``positions``, ``leaves``,
  ``proof``) with a proof of the wrong length (``ProofError``).
  ``operation = "build"`` (``keys``, ``leaves``) with keys that are not
  strictly increasing (``ValueError``).
"""

from __future__ import annotations

import hashlib
import struct

from detrandom import DeterministicRandom

from secagg.primitives.ordered_tree import (
    FlagTree,
    OrderedTree,
    flag_leaf,
    proof_item_count,
    ring_key,
    window_positions,
)

SIZES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 33, 100)


def _below(random: DeterministicRandom, n: int) -> int:
    return int.from_bytes(random.token_bytes(8), "little") % n  # test data only: the tiny bias is harmless


def _position_sets(m: int, random: DeterministicRandom) -> list[list[int]]:
    sets: list[list[int]] = [list(range(m))]
    if m <= 9:
        sets += [[i] for i in range(m) if [i] not in sets]
    for half in (1, 2):
        for p in sorted({0, min(1, m - 1), m // 2, m - 1}):
            w = window_positions(p, m, half)
            if w not in sets:
                sets.append(w)
    if m > 4:
        scattered = sorted({_below(random, m) for _ in range(4)})
        if scattered not in sets:
            sets.append(scattered)
    return sets


def _ordered(m: int, random: DeterministicRandom) -> dict:
    seed = random.token_bytes(32)
    ids = sorted({_below(random, 2**20) + 1 for _ in range(2 * m)})[:m]
    ring = sorted(ids, key=lambda u: ring_key(seed, u))
    data = [struct.pack("<I", u) + random.token_bytes(32) + random.token_bytes(32) for u in ring]
    keys = [ring_key(seed, u) for u in ring]
    leaves = [hashlib.sha256(b"\x00" + d).digest() for d in data]
    tree = OrderedTree.build(list(zip(keys, leaves)))
    return {
        "id": f"ordered-m{m}",
        "kind": "ordered",
        "m": m,
        "seed": seed.hex(),
        "ids": ring,
        "keys": [k.hex() for k in keys],
        "leaf_data": [d.hex() for d in data],
        "leaves": [x.hex() for x in leaves],
        "root": tree.root.hex(),
        "proofs": [
            {"positions": pos, "items": proof_item_count(m, pos), "proof": tree.multiproof(pos).hex()}
            for pos in _position_sets(m, random)
        ],
    }


def _flag(m: int, random: DeterministicRandom) -> dict:
    ids = list(range(1, m + 1))
    flags = [_below(random, 4) != 0 for _ in ids]
    leaves = [flag_leaf(u, f) for u, f in zip(ids, flags)]
    tree = FlagTree.build(leaves)
    return {
        "id": f"flag-m{m}",
        "kind": "flag",
        "m": m,
        "ids": ids,
        "flags": [int(f) for f in flags],
        "leaves": [x.hex() for x in leaves],
        "root": tree.root.hex(),
        "proofs": [
            {"positions": pos, "items": proof_item_count(m, pos), "proof": tree.multiproof(pos).hex()}
            for pos in _position_sets(m, random)
        ],
    }


def _unchecked_levels(items: list[bytes]) -> list[list[bytes]]:
    """A lying server's tree: hashed as the SPEC says but without the ordering REQUIRE."""
    levels = [items]
    while len(levels[-1]) > 1:
        cur = levels[-1]
        nxt = [cur[j][:32] + cur[j + 1][32:64] + hashlib.sha256(b"\x01" + cur[j] + cur[j + 1]).digest() for j in range(0, len(cur) - 1, 2)]
        if len(cur) % 2:
            nxt.append(cur[-1])
        levels.append(nxt)
    return levels


def _unchecked_proof(levels: list[list[bytes]], positions: list[int]) -> bytes:
    out, known, width, level = [], sorted(positions), len(levels[0]), 0
    while width > 1:
        out += [levels[level][s] for s in sorted({i ^ 1 for i in known if (i ^ 1) < width} - set(known))]
        known = sorted({i // 2 for i in known})
        width, level = (width + 1) // 2, level + 1
    return b"".join(out)


def generate() -> dict:
    random = DeterministicRandom(b"secagg/vectors/merkle")
    gen = [_ordered(m, random) for m in SIZES]
    gen += [_flag(m, random) for m in (1, 2, 5, 9, 33)]

    invalid = []
    base = gen[SIZES.index(17)]
    m, keys, leaves = base["m"], base["keys"], base["leaves"]
    pos = window_positions(16, m, 2)  # [14, 15, 16, 0, 1]: a wrapping window
    proof = bytes.fromhex(next(p["proof"] for p in base["proofs"] if p["positions"] == pos))

    def bad(ident: str, what: str, error: str, m=m, positions=pos, ks=None, ls=None, proof=proof) -> None:
        ks = ks if ks is not None else [keys[i] for i in positions]
        ls = ls if ls is not None else [leaves[i] for i in positions]
        invalid.append(
            {"id": ident, "operation": "verify_multiproof", "what": what, "m": m, "positions": positions,
             "keys": ks, "leaves": ls, "proof": proof.hex(), "error": error}
        )

    bad("proof-one-item-short", "the wrapping window's proof without its last item", "ProofError", proof=proof[:-96])
    bad("proof-one-item-long", "the proof with its first item repeated at the end", "ProofError", proof=proof + proof[:96])
    bad("proof-not-a-multiple-of-96", "the proof one byte long", "ProofError", proof=proof + b"\x00")
    bad("proof-empty", "no proof for a window of 17 leaves", "ProofError", proof=b"")
    at = next(j for j in range(0, len(proof), 96) if proof[j : j + 32] != proof[j + 32 : j + 64])  # an inner node
    item = proof[at : at + 96]
    bad("item-lo-above-hi", "the first inner-node item with lo and hi exchanged", "ProofError",
        proof=proof[:at] + item[32:64] + item[:32] + item[64:] + proof[at + 96 :])
    swapped = [keys[i] for i in pos]
    swapped[0], swapped[1] = swapped[1], swapped[0]
    swapped_leaves = [leaves[i] for i in pos]
    swapped_leaves[0], swapped_leaves[1] = swapped_leaves[1], swapped_leaves[0]
    bad("opened-leaves-swapped", "positions 14 and 15 given each other's entries", "ProofError", ks=swapped, ls=swapped_leaves)

    items = [bytes.fromhex(k) * 2 + bytes.fromhex(h) for k, h in zip(keys, leaves)]
    lie = list(items)
    lie[3], lie[4] = lie[4], lie[3]
    levels = _unchecked_levels(lie)
    w = window_positions(4, m, 2)
    bad("tree-out-of-order", "a tree over a ring with positions 3 and 4 exchanged, window around 4", "ProofError",
        positions=w, ks=[lie[i][:32].hex() for i in w], ls=[lie[i][64:].hex() for i in w], proof=_unchecked_proof(levels, w))
    dup = list(items)
    dup[8] = dup[7]
    levels = _unchecked_levels(dup)
    w = window_positions(8, m, 2)
    bad("leaf-duplicated", "a tree with the entry of position 7 again at position 8, window around 8", "ProofError",
        positions=w, ks=[dup[i][:32].hex() for i in w], ls=[dup[i][64:].hex() for i in w], proof=_unchecked_proof(levels, w))
    bad("position-equals-m", "position 17 of 17 leaves", "ValueError", positions=[17], ks=[keys[0]], ls=[leaves[0]], proof=b"")
    bad("positions-repeated", "position 3 twice", "ValueError", positions=[3, 3], ks=[keys[3]] * 2, ls=[leaves[3]] * 2, proof=b"")
    bad("m-zero", "no leaves", "ValueError", m=0, positions=[0], ks=[keys[0]], ls=[leaves[0]], proof=b"")
    bad("m-above-2-20", "m = 2^20 + 1", "ValueError", m=2**20 + 1, positions=[0], ks=[keys[0]], ls=[leaves[0]], proof=b"")

    flag = gen[-2]  # flag-m9
    fproof = bytes.fromhex(next(p["proof"] for p in flag["proofs"] if p["positions"] == [4]))
    for ident, what, p in (
        ("flag-proof-one-item-short", "the proof of leaf 4 of 9 without its last hash", fproof[:-32]),
        ("flag-proof-one-item-long", "the proof of leaf 4 of 9 with an extra hash", fproof + bytes(32)),
        ("flag-proof-not-a-multiple-of-32", "the proof one byte short", fproof[:-1]),
    ):
        invalid.append(
            {"id": ident, "operation": "verify_flag_proof", "what": what, "m": 9, "positions": [4],
             "leaves": [flag["leaves"][4]], "proof": p.hex(), "error": "ProofError"}
        )
    invalid.append(
        {"id": "build-keys-not-increasing", "operation": "build", "what": "positions 0 and 1 of ordered-m5 exchanged",
         "keys": [gen[4]["keys"][1], gen[4]["keys"][0], *gen[4]["keys"][2:]], "leaves": gen[4]["leaves"], "error": "ValueError"}
    )
    invalid.append(
        {"id": "build-keys-equal", "operation": "build", "what": "one key twice",
         "keys": [gen[4]["keys"][0]] * 2, "leaves": gen[4]["leaves"][:2], "error": "ValueError"}
    )
    return {
        "name": "merkle",
        "version": 1,
        "source": "protocol_spec/tools/gen_merkle.py (library output on fixed leaves); "
        "re-derived from the chapter 'Protocol' text by tests/secagg/primitives/test_ordered_tree.py "
        "and protocol_spec/tools/verify_independent.py",
        "generate": gen,
        "verify": [],
        "invalid": invalid,
    }
