"""Vectors for the Merkle tree over advertised keys (:mod:`secagg.primitives.merkle`).

* generate: ``leaf_data`` (hex, one per leaf, in order), the leaf hashes
  ``leaves = SHA-256(0x00 || data)``, the ``root``, and ``proofs[i]`` (the
  concatenated sibling hashes of leaf ``i``, bottom-up). Tree sizes 1 to 9, 16,
  17 and 33 cover every promotion pattern of an odd last node. One entry uses
  real key leaves ``u32le(id) || c_pk || s_pk`` of the protocol.
* verify: none (no external vectors exist for this tree shape).
* invalid: ``operation = "root_from_proof"`` with a proof one hash too short,
  one hash too long, not a multiple of 32 bytes, an index outside ``[0, m)``
  or ``m`` outside ``[1, 2^20]`` (``ValueError``); ``operation =
  "merkle_root"`` with no leaves or a leaf that is not 32 bytes
  (``ValueError``).
"""

from __future__ import annotations

import struct

from detrandom import DeterministicRandom

from secagg.primitives.merkle import leaf_hash, merkle_levels, merkle_proof

SIZES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 33)


def _tree(ident: str, data: list[bytes]) -> dict:
    leaves = [leaf_hash(d) for d in data]
    levels = merkle_levels(leaves)
    return {
        "id": ident,
        "m": len(data),
        "leaf_data": [d.hex() for d in data],
        "leaves": [x.hex() for x in leaves],
        "root": levels[-1][0].hex(),
        "proofs": [merkle_proof(levels, i).hex() for i in range(len(data))],
    }


def generate() -> dict:
    random = DeterministicRandom(b"secagg/vectors/merkle")
    gen = [_tree(f"m{m}", [bytes([i]) for i in range(m)]) for m in SIZES]
    keys = [struct.pack("<I", u) + random.token_bytes(32) + random.token_bytes(32) for u in (1, 2, 4, 7, 9)]
    gen.append(_tree("key-leaves-ids-1-2-4-7-9", keys))

    five = gen[SIZES.index(5)]
    leaf3, proof3 = five["leaves"][3], five["proofs"][3]
    invalid = []

    def bad(ident: str, what: str, **fields) -> None:
        invalid.append({"id": ident, "operation": "root_from_proof", **fields, "what": what, "error": "ValueError"})

    bad("proof-one-hash-short", "proof of leaf 3 of 5 without its last hash", leaf=leaf3, index=3, m=5, proof=proof3[:-64])
    bad("proof-one-hash-long", "proof of leaf 3 of 5 with an extra hash", leaf=leaf3, index=3, m=5, proof=proof3 + "00" * 32)
    bad("proof-empty", "empty proof for leaf 3 of 5", leaf=leaf3, index=3, m=5, proof="")
    bad("proof-31-bytes-short", "proof one byte short", leaf=leaf3, index=3, m=5, proof=proof3[:-2])
    bad("proof-one-byte-long", "proof one byte long", leaf=leaf3, index=3, m=5, proof=proof3 + "00")
    bad("proof-for-single-leaf", "a one-leaf tree has an empty proof", leaf=leaf3, index=0, m=1, proof="00" * 32)
    bad("index-equals-m", "index 5 of 5 leaves", leaf=leaf3, index=5, m=5, proof=proof3)
    bad("index-negative", "index -1", leaf=leaf3, index=-1, m=5, proof=proof3)
    bad("m-zero", "no leaves", leaf=leaf3, index=0, m=0, proof="")
    bad("m-above-2-20", "m = 2^20 + 1", leaf=leaf3, index=0, m=2**20 + 1, proof="00" * 32 * 21)
    invalid.append(
        {"id": "root-of-no-leaves", "operation": "merkle_root", "leaves": [], "what": "empty tree", "error": "ValueError"}
    )
    invalid.append(
        {
            "id": "root-leaf-31-bytes",
            "operation": "merkle_root",
            "leaves": [leaf3, leaf3[:-2]],
            "what": "a leaf that is not a 32-byte hash",
            "error": "ValueError",
        }
    )
    return {
        "name": "merkle",
        "version": 1,
        "source": "protocol_spec/tools/gen_merkle.py (library output on fixed leaves); "
        "tests/secagg/primitives/test_merkle.py recomputes every root from the chapter 'Protocol' text",
        "generate": gen,
        "verify": [],
        "invalid": invalid,
    }
