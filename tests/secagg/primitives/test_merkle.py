"""The key leaf hash (merkle.py) and the session id's binding of m, which the key tree's root does not fix."""

from __future__ import annotations

import hashlib
import struct

from secagg.messages import AdvertiseKeys
from secagg.params import Params
from secagg.primitives.merkle import leaf_hash
from secagg.primitives.ordered_tree import OrderedTree, ring_key, verify_multiproof
from secagg.protocol import session
from tests import vectors
from tests.vectors import unhex


def test_leaf_hash_is_sha256_of_0x00_and_the_data_so_no_leaf_is_an_inner_node():
    assert leaf_hash(b"a") == hashlib.sha256(b"\x00a").digest()
    assert leaf_hash(b"") != hashlib.sha256(b"\x01").digest()


def test_the_session_id_binds_the_number_of_participants_that_the_proof_does_not():
    p = Params(n_clients=5, dim=4, bits=16, graph="complete", neighbors=4, threshold=3)
    seed = bytes(32)
    ring = sorted((1, 2, 3), key=lambda u: ring_key(seed, u))
    leaves = [(ring_key(seed, u), leaf_hash(struct.pack("<I", u) + bytes(64))) for u in ring]
    tree = OrderedTree.build(leaves)
    proof = tree.multiproof([0])
    assert verify_multiproof(4, [0], leaves[:1], proof) == tree.root  # same path shape for m = 3 and m = 4
    # wire v3: the session id binds m next to the root (the participant ids are committed to by the key tree)
    assert session.session_id(p, seed, 3, tree.root) != session.session_id(p, seed, 4, tree.root)


def test_key_leaf_vector_uses_the_protocol_leaf_layout():
    # merkle.json holds the ordered key tree of wire version 3, whose leaves are these key leaves
    v = next(e for e in vectors.load("merkle")["generate"] if e["id"] == "ordered-m33")
    for data, leaf in zip(v["leaf_data"], v["leaves"]):
        raw = unhex(data)
        (cid,) = struct.unpack("<I", raw[:4])
        entry = AdvertiseKeys(client_id=cid, c_pk=raw[4:36], s_pk=raw[36:68])
        assert session.key_leaf(entry).hex() == leaf == leaf_hash(raw).hex()
