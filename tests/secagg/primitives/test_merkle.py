"""The Merkle tree of wire versions 1 and 2 (merkle.py): proofs, tamper detection, the key leaf layout."""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.messages import AdvertiseKeys
from secagg.params import Params
from secagg.primitives import merkle
from secagg.primitives.merkle import leaf_hash, merkle_levels, merkle_proof, merkle_root, root_from_proof
from secagg.protocol import session
from tests import vectors
from tests.vectors import unhex

H = 32


def _leaves(m: int, tag: int = 0) -> list[bytes]:
    return [leaf_hash(bytes([tag]) + struct.pack("<I", i)) for i in range(m)]


def reference_root(leaves: list[bytes]) -> bytes:
    """The root as the chapter "Protocol" defines it, written without the library."""
    level = list(leaves)
    while len(level) > 1:
        nxt = [hashlib.sha256(b"\x01" + level[j] + level[j + 1]).digest() for j in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def proof_hashes(index: int, m: int) -> int:
    """How many hashes the proof of leaf ``index`` of ``m`` has: one per level with a sibling."""
    count, i, size = 0, index, m
    while size > 1:
        count += (i ^ 1) < size
        i //= 2
        size = (size + 1) // 2
    return count


# --------------------------------------------------------------------------- completeness


@pytest.mark.parametrize("m", range(1, 71))
def test_every_proof_leads_back_to_the_root_for_every_tree_size_up_to_70(m):
    leaves = _leaves(m)
    levels = merkle_levels(leaves)
    root = levels[-1][0]
    assert root == reference_root(leaves) == merkle_root(leaves)
    for i in range(m):
        proof = merkle_proof(levels, i)
        assert proof == merkle_proof(leaves, i)  # from levels or from leaves alike
        assert len(proof) == H * proof_hashes(i, m)
        assert root_from_proof(leaves[i], i, m, proof) == root


def test_a_single_leaf_is_its_own_root_with_an_empty_proof():
    leaf = leaf_hash(b"only")
    assert merkle_root([leaf]) == leaf
    assert merkle_proof([leaf], 0) == b""
    assert root_from_proof(leaf, 0, 1, b"") == leaf


def test_leaf_and_node_hashes_are_domain_separated():
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert a == hashlib.sha256(b"\x00a").digest()
    # a two-leaf root is a node hash, never the leaf hash of the concatenation
    assert merkle_root([a, b]) == hashlib.sha256(b"\x01" + a + b).digest()
    assert merkle_root([a, b]) != leaf_hash(a + b)


def test_a_tree_of_2_to_the_16_leaves_has_proofs_of_16_hashes():
    m = 2**16
    leaves = [i.to_bytes(32, "little") for i in range(m)]  # any 32-byte strings will do
    levels = merkle_levels(leaves)
    proof = merkle_proof(levels, m - 1)
    assert len(proof) == H * 16
    assert root_from_proof(leaves[-1], m - 1, m, proof) == levels[-1][0]


def test_the_largest_tree_of_2_to_the_20_leaves_takes_proofs_of_20_hashes_and_no_more():
    assert merkle.MAX_DEPTH == 20
    leaf = leaf_hash(b"x")
    proof = bytes(H * 20)
    root = root_from_proof(leaf, 2**20 - 1, 2**20, proof)  # a proof of the last leaf: 20 siblings
    assert len(root) == H
    with pytest.raises(ValueError):
        root_from_proof(leaf, 0, 2**20 + 1, proof + bytes(H))
    with pytest.raises(ValueError):
        root_from_proof(leaf, 2**20 - 1, 2**20, proof[:-H])


# --------------------------------------------------------------------------- soundness


def _root_or_error(leaf: bytes, index: int, m: int, proof: bytes) -> bytes | None:
    try:
        return root_from_proof(leaf, index, m, proof)
    except ValueError:
        return None


@given(m=st.integers(1, 70), data=st.data())
def test_any_flipped_bit_in_the_leaf_or_the_proof_changes_the_root(m, data):
    leaves = _leaves(m, tag=1)
    levels = merkle_levels(leaves)
    root = levels[-1][0]
    i = data.draw(st.integers(0, m - 1), label="index")
    proof = merkle_proof(levels, i)
    blob = leaves[i] + proof
    bit = data.draw(st.integers(0, 8 * len(blob) - 1), label="bit")
    flipped = bytearray(blob)
    flipped[bit // 8] ^= 1 << (bit % 8)
    assert _root_or_error(bytes(flipped[:H]), i, m, bytes(flipped[H:])) != root


@pytest.mark.parametrize("m", range(2, 71))
def test_a_proof_checked_at_another_index_of_the_same_tree_never_gives_the_root(m):
    leaves = _leaves(m, tag=2)
    levels = merkle_levels(leaves)
    root = levels[-1][0]
    for i in range(m):
        proof = merkle_proof(levels, i)
        for j in range(m):
            if j != i:
                assert _root_or_error(leaves[i], j, m, proof) != root
                assert _root_or_error(leaves[j], i, m, proof) != root  # another leaf at i


@pytest.mark.parametrize("m", range(1, 71))
def test_one_hash_more_or_less_in_a_proof_raises_value_error(m):
    leaves = _leaves(m, tag=3)
    levels = merkle_levels(leaves)
    for i in range(m):
        proof = merkle_proof(levels, i)
        with pytest.raises(ValueError, match="too long"):
            root_from_proof(leaves[i], i, m, proof + leaves[0])
        if proof:
            with pytest.raises(ValueError, match="too short"):
                root_from_proof(leaves[i], i, m, proof[:-H])
            with pytest.raises(ValueError, match="multiple of 32"):
                root_from_proof(leaves[i], i, m, proof[:-1])


@pytest.mark.parametrize("m", range(1, 71))
def test_a_proof_checked_against_another_tree_size_fails_or_has_the_same_audit_path_shape(m):
    # The proof does not bind the number of leaves m: when the path of leaf i
    # has the same shape (a sibling on the same side at every level) in a tree
    # of m' leaves, the same proof gives the same root. The protocol binds m
    # separately: the session id hashes u32le(m) next to the root.
    leaves = _leaves(m, tag=4)
    levels = merkle_levels(leaves)
    root = levels[-1][0]

    def shape(i: int, size: int) -> list[str]:
        out = []
        while size > 1:
            if (i ^ 1) < size:
                out.append("L" if i % 2 else "R")
            i //= 2
            size = (size + 1) // 2
        return out

    for i in range(m):
        proof = merkle_proof(levels, i)
        for m2 in range(i + 1, 75):
            if m2 != m and _root_or_error(leaves[i], i, m2, proof) == root:
                assert shape(i, m2) == shape(i, m)


def test_the_session_id_binds_the_number_of_participants_that_the_proof_does_not():
    p = Params(n_clients=5, dim=4, bits=16, graph="complete", neighbors=4, threshold=3)
    leaves = _leaves(3, tag=5)
    levels = merkle_levels(leaves)
    proof = merkle_proof(levels, 0)
    root = levels[-1][0]
    assert root_from_proof(leaves[0], 0, 4, proof) == root  # same path shape for m = 3 and m = 4
    # wire v3: the session id binds m next to the root (the participant ids are committed to by the key tree)
    assert session.session_id(p, bytes(32), 3, root) != session.session_id(p, bytes(32), 4, root)


def test_out_of_range_index_or_tree_size_raises():
    leaves = _leaves(4)
    proof = merkle_proof(leaves, 1)
    for index, m in ((4, 4), (-1, 4), (0, 0), (0, 2**16 + 1)):
        with pytest.raises(ValueError):
            root_from_proof(leaves[1], index, m, proof)
    with pytest.raises(IndexError):
        merkle_proof(leaves, 4)
    with pytest.raises(IndexError):
        merkle_proof(leaves, -1)


def test_a_tree_needs_leaves_of_32_bytes():
    with pytest.raises(ValueError):
        merkle_levels([])
    with pytest.raises(ValueError):
        merkle_root([bytes(32), bytes(31)])


def test_key_leaf_vector_uses_the_protocol_leaf_layout():
    # merkle.json now holds the ordered key tree of wire version 3, whose leaves are these key leaves
    v = next(e for e in vectors.load("merkle")["generate"] if e["id"] == "ordered-m33")
    for data, leaf in zip(v["leaf_data"], v["leaves"]):
        raw = unhex(data)
        (cid,) = struct.unpack("<I", raw[:4])
        entry = AdvertiseKeys(client_id=cid, c_pk=raw[4:36], s_pk=raw[36:68])
        assert session.key_leaf(entry).hex() == leaf
