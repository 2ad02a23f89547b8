"""The ordered key tree and the flag tree: multiproof round trips, every tamper rejected, the lemma."""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from secagg.errors import AbortReason, ProofError, RemoteProtocolError
from secagg.primitives.ordered_tree import (
    FLAG_ITEM_SIZE,
    MAX_WINDOW_PROOF_ITEMS,
    ORDERED_ITEM_SIZE,
    FlagTree,
    OrderedTree,
    flag_leaf,
    proof_item_count,
    ring_key,
    verify_flag_proof,
    verify_multiproof,
    window_positions,
)
from tests import vectors
from tests.vectors import unhex

ITEM = ORDERED_ITEM_SIZE


# ----------------------------------------------------------------------------- a reference written from the SPEC text


def ref_key(seed: bytes, u: int) -> bytes:
    return hashlib.sha256(b"secagg/v1/ring-order\x00" + seed + struct.pack("<I", u)).digest()


def ref_levels(items: list[bytes], combine) -> list[list[bytes]]:
    """Every level, leaves first; no ordering check (so it can build a lying tree)."""
    levels = [list(items)]
    while len(levels[-1]) > 1:
        cur = levels[-1]
        nxt = [combine(cur[j], cur[j + 1]) for j in range(0, len(cur) - 1, 2)]
        if len(cur) % 2:
            nxt.append(cur[-1])
        levels.append(nxt)
    return levels


def ref_ordered(left: bytes, right: bytes) -> bytes:
    return left[:32] + right[32:64] + hashlib.sha256(b"\x01" + left + right).digest()


def ref_flag(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x03" + left + right).digest()


def ref_multiproof(levels: list[list[bytes]], positions) -> bytes:
    out, known, width, level = [], sorted(positions), len(levels[0]), 0
    while width > 1:
        for s in sorted({i ^ 1 for i in known if (i ^ 1) < width} - set(known)):
            out.append(levels[level][s])
        known = sorted({i // 2 for i in known})
        width, level = (width + 1) // 2, level + 1
    return b"".join(out)


def leaf_item(key: bytes, h: bytes) -> bytes:
    return key + key + h


def honest_leaves(m: int, seed: bytes = bytes(32)) -> list[tuple[bytes, bytes]]:
    ids = sorted(range(1, m + 1), key=lambda u: ref_key(seed, u))
    return [(ref_key(seed, u), hashlib.sha256(b"\x00" + struct.pack("<I", u)).digest()) for u in ids]


def rejected_or_other_root(m, positions, leaves, proof, root) -> bool:
    """A tamper is caught: the proof is refused, or it leads to another root (another session id)."""
    try:
        return verify_multiproof(m, positions, leaves, proof) != root
    except ProofError:
        return True


sizes = st.integers(1, 300)


@st.composite
def tree_and_positions(draw, max_m: int = 300):
    m = draw(st.integers(1, max_m))
    kind = draw(st.sampled_from(["window", "wide", "set"]))
    if kind == "set":
        positions = draw(st.lists(st.integers(0, m - 1), min_size=1, max_size=m, unique=True))
    else:
        p = draw(st.integers(0, m - 1))
        half = draw(st.integers(0, 12)) if kind == "window" else draw(st.integers(0, m))
        positions = window_positions(p, m, half)
    return m, positions


# ----------------------------------------------------------------------------- ring keys and windows


def test_ring_key_is_the_spec_formula():
    seed = bytes(range(32))
    assert ring_key(seed, 7) == ref_key(seed, 7)
    assert ring_key(seed, 2**20) == ref_key(seed, 2**20)


@pytest.mark.parametrize(
    ("seed", "u", "error"),
    [(bytes(31), 1, ValueError), ("x" * 32, 1, TypeError), (bytes(32), 0, ValueError), (bytes(32), 2**20 + 1, ValueError), (bytes(32), True, TypeError)],
)
def test_ring_key_rejects_bad_arguments(seed, u, error):
    with pytest.raises(error):
        ring_key(seed, u)


def test_window_positions_wrap_and_centre():
    assert window_positions(0, 10, 2) == [8, 9, 0, 1, 2]
    assert window_positions(9, 10, 2) == [7, 8, 9, 0, 1]
    assert window_positions(4, 10, 2) == [2, 3, 4, 5, 6]
    assert window_positions(3, 5, 2) == [0, 1, 2, 3, 4]  # 2*half + 1 >= m: the whole ring from 0
    assert window_positions(0, 1, 0) == [0]


@given(st.integers(1, 300), st.data())
def test_window_has_its_centre_at_index_half_unless_it_is_the_whole_ring(m, data):
    p, half = data.draw(st.integers(0, m - 1)), data.draw(st.integers(0, 200))
    w = window_positions(p, m, half)
    if 2 * half + 1 >= m:
        assert w == list(range(m))
    else:
        assert len(w) == len(set(w)) == 2 * half + 1 and w[half] == p
        assert all((b - a) % m == 1 for a, b in zip(w, w[1:]))


@pytest.mark.parametrize(("p", "m", "half", "error"), [(5, 5, 1, ValueError), (-1, 5, 1, ValueError), (0, 0, 1, ValueError), (0, 5, -1, ValueError), (0, 2**20 + 1, 1, ValueError), (0.0, 5, 1, TypeError)])
def test_window_positions_rejects_bad_arguments(p, m, half, error):
    with pytest.raises(error):
        window_positions(p, m, half)


# ----------------------------------------------------------------------------- round trips


@settings(max_examples=150, deadline=None)
@given(tree_and_positions())
def test_multiproof_round_trip_matches_the_reference_byte_for_byte(case):
    m, positions = case
    leaves = honest_leaves(m)
    tree = OrderedTree.build(leaves)
    levels = ref_levels([leaf_item(*x) for x in leaves], ref_ordered)
    assert tree.m == m and tree.root == levels[-1][0][-32:]
    proof = tree.multiproof(positions)
    assert proof == ref_multiproof(levels, positions)
    assert len(proof) == ITEM * proof_item_count(m, positions)
    opened = [leaves[i] for i in positions]
    assert verify_multiproof(m, positions, opened, proof) == tree.root
    assert [tree.leaf(i) for i in positions] == opened


@settings(max_examples=100, deadline=None)
@given(tree_and_positions())
def test_flag_tree_round_trip_matches_the_reference(case):
    m, positions = case
    hashes = [flag_leaf(i + 1, i % 3 == 0) for i in range(m)]
    tree = FlagTree.build(hashes)
    levels = ref_levels(hashes, ref_flag)
    assert tree.root == levels[-1][0]
    proof = tree.multiproof(positions)
    assert proof == ref_multiproof(levels, positions)
    assert len(proof) == FLAG_ITEM_SIZE * proof_item_count(m, positions)
    assert verify_flag_proof(m, positions, [hashes[i] for i in positions], proof) == tree.root


def test_flag_leaf_is_the_spec_formula():
    assert flag_leaf(5, True) == hashlib.sha256(b"\x02" + struct.pack("<I", 5) + b"\x01").digest()
    assert flag_leaf(5, False) == hashlib.sha256(b"\x02" + struct.pack("<I", 5) + b"\x00").digest()
    with pytest.raises(TypeError):
        flag_leaf(5, 1)  # type: ignore[arg-type]


def test_single_leaf_tree_root_is_the_leaf_hash_and_needs_no_proof():
    leaves = honest_leaves(1)
    tree = OrderedTree.build(leaves)
    assert tree.root == leaves[0][1] and tree.multiproof([0]) == b""
    assert verify_multiproof(1, [0], leaves, b"") == tree.root


def test_the_whole_ring_needs_no_proof():
    leaves = honest_leaves(37)
    tree = OrderedTree.build(leaves)
    assert tree.multiproof(range(37)) == b""  # type: ignore[arg-type]
    assert verify_multiproof(37, list(range(37)), leaves, b"") == tree.root


# ----------------------------------------------------------------------------- the proof-length bound


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 2**20), st.data())
def test_a_window_proof_needs_at_most_two_items_per_level(m, data):
    p = data.draw(st.integers(0, m - 1))
    half = data.draw(st.sampled_from([0, 1, 2, 5, 15, 60, 300]))
    levels = (m - 1).bit_length()  # ceil(log2 m)
    n = proof_item_count(m, window_positions(p, m, half))
    assert n <= 2 * levels <= MAX_WINDOW_PROOF_ITEMS
    assert n <= 4 * levels  # the SPEC's decoder bound


def test_the_bound_is_reached_at_most_by_the_largest_ring():
    m = 2**20
    worst = max(proof_item_count(m, window_positions(p, m, 15)) for p in (1, 2**19 - 7, m - 3, 12345, 2**19))
    assert worst <= 2 * 20 and MAX_WINDOW_PROOF_ITEMS * ITEM == 7680


# ----------------------------------------------------------------------------- tampering


@settings(max_examples=60, deadline=None)
@given(tree_and_positions(max_m=120), st.data())
def test_every_change_to_any_proof_byte_is_caught(case, data):
    m, positions = case
    leaves = honest_leaves(m)
    tree = OrderedTree.build(leaves)
    proof = tree.multiproof(positions)
    assume(proof)
    opened = [leaves[i] for i in positions]
    at = data.draw(st.integers(0, len(proof) - 1))  # a lo, hi or hash byte of a sibling item: a range lie or a hash lie
    bad = proof[:at] + bytes([proof[at] ^ data.draw(st.integers(1, 255))]) + proof[at + 1 :]
    assert rejected_or_other_root(m, positions, opened, bad, tree.root)


@pytest.mark.parametrize("cut", ["truncated", "extended", "misaligned"])
def test_truncated_or_extended_proof_is_refused(cut):
    leaves = honest_leaves(50)
    tree = OrderedTree.build(leaves)
    pos = window_positions(20, 50, 3)
    proof = tree.multiproof(pos)
    bad = {"truncated": proof[:-ITEM], "extended": proof + proof[:ITEM], "misaligned": proof + b"\x00"}[cut]
    with pytest.raises(ProofError) as info:
        verify_multiproof(50, pos, [leaves[i] for i in pos], bad)
    assert info.value.reason is AbortReason.INCONSISTENT and isinstance(info.value, RemoteProtocolError)


def test_flag_proof_of_wrong_length_is_refused():
    hashes = [flag_leaf(i + 1, True) for i in range(9)]
    proof = FlagTree.build(hashes).multiproof([4])
    for bad in (proof[:-32], proof + bytes(32), proof[:-1]):
        with pytest.raises(ProofError):
            verify_flag_proof(9, [4], [hashes[4]], bad)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 150), st.data())
def test_wrong_m_is_refused_or_gives_another_root_or_another_m(m, data):
    leaves = honest_leaves(m)
    tree = OrderedTree.build(leaves)
    pos = window_positions(data.draw(st.integers(0, m - 1)), m, data.draw(st.integers(0, 4)))
    proof = tree.multiproof(pos)
    other = data.draw(st.integers(max(pos) + 1, 2 * m + 2).filter(lambda x: x != m))
    try:
        root = verify_multiproof(other, pos, [leaves[i] for i in pos], proof)
    except ProofError:
        return
    assert (other, root) != (m, tree.root)  # the session id binds m beside the root


def test_the_root_alone_does_not_fix_m_so_the_session_id_binds_m():
    # m = 3 and m = 4 give leaf 0 the same path shape (leaf 2 promoted = a level-1 node): one root, two m
    leaves = honest_leaves(3)
    tree = OrderedTree.build(leaves)
    proof = tree.multiproof([0])
    assert verify_multiproof(4, [0], leaves[:1], proof) == tree.root


@settings(max_examples=60, deadline=None)
@given(st.integers(3, 150), st.data())
def test_wrong_positions_are_caught(m, data):
    leaves = honest_leaves(m)
    tree = OrderedTree.build(leaves)
    p, half = data.draw(st.integers(0, m - 1)), data.draw(st.integers(0, 4))
    pos = window_positions(p, m, half)
    assume(len(pos) < m)
    proof = tree.multiproof(pos)
    shift = data.draw(st.integers(1, m - 1))
    moved = [(i + shift) % m for i in pos]  # the same leaves claimed at other positions
    assert rejected_or_other_root(m, moved, [leaves[i] for i in pos], proof, tree.root)


@settings(max_examples=60, deadline=None)
@given(st.integers(3, 150), st.data())
def test_a_swapped_or_substituted_leaf_is_caught(m, data):
    leaves = honest_leaves(m)
    tree = OrderedTree.build(leaves)
    pos = window_positions(data.draw(st.integers(0, m - 1)), m, data.draw(st.integers(1, 4)))
    proof = tree.multiproof(pos)
    opened = [leaves[i] for i in pos]
    a, b = data.draw(st.lists(st.integers(0, len(pos) - 1), min_size=2, max_size=2, unique=True))
    swapped = list(opened)
    swapped[a], swapped[b] = swapped[b], swapped[a]
    with pytest.raises(ProofError):  # two opened leaves out of order: the ordering check itself
        verify_multiproof(m, pos, swapped, proof)
    outsider = data.draw(st.sampled_from([i for i in range(m) if i not in pos] or [None]))
    if outsider is not None:
        substituted = list(opened)
        substituted[a] = leaves[outsider]
        assert rejected_or_other_root(m, pos, substituted, proof, tree.root)


def lying_tree(keys_and_hashes: list[tuple[bytes, bytes]]) -> list[list[bytes]]:
    """A server's tree hashed honestly over leaves in the order it likes (no ordering check)."""
    return ref_levels([leaf_item(*x) for x in keys_and_hashes], ref_ordered)


def test_out_of_order_tree_refused_for_every_window_over_the_swap():
    leaves = honest_leaves(40)
    lie = list(leaves)
    lie[10], lie[11] = lie[11], lie[10]
    levels = lying_tree(lie)
    root = levels[-1][0][-32:]
    far = 0
    for p in range(40):
        pos = window_positions(p, 40, 2)
        proof = ref_multiproof(levels, pos)
        if {10, 11} & set(pos):  # the two paths meet at a node whose left range ends above its right one
            with pytest.raises(ProofError):
                verify_multiproof(40, pos, [lie[i] for i in pos], proof)
        else:  # far away it verifies, unless its proof carries the bad subtree (an item with lo > hi)
            try:
                assert verify_multiproof(40, pos, [lie[i] for i in pos], proof) == root
            except ProofError as err:
                assert "lo > hi" in str(err)
                far += 1
    assert far < 40 - 6


@pytest.mark.parametrize(("first", "second"), [(5, 6), (5, 30), (0, 39)])
def test_a_duplicated_leaf_is_refused_in_at_least_one_of_its_two_places(first, second):
    leaves = honest_leaves(40)
    lie = list(leaves)
    lie[second] = lie[first]  # one id at two positions (the client that was there dropped from the ring)
    levels = lying_tree(lie)
    refused = 0
    for p in (first, second):
        pos = window_positions(p, 40, 2)
        try:
            verify_multiproof(40, pos, [lie[i] for i in pos], ref_multiproof(levels, pos))
        except ProofError:
            refused += 1
    assert refused >= 1  # the lemma: an id opened twice against one root sits at one position


def test_a_skipped_honest_neighbour_cannot_be_hidden_from_a_window():
    # the server drops ring position 12 from the tree the client at 11 sees, but the client at 13 is honest
    # and verifies the true ring: the two roots differ (two session ids), or the lying tree fails to verify.
    leaves = honest_leaves(40)
    honest_root = OrderedTree.build(leaves).root
    lie = leaves[:12] + leaves[13:]
    levels = lying_tree(lie)
    pos = window_positions(11, 39, 2)
    root = verify_multiproof(39, pos, [lie[i] for i in pos], ref_multiproof(levels, pos))
    assert root != honest_root


def test_a_sibling_range_lie_is_refused_or_changes_the_root():
    leaves = honest_leaves(64)
    tree = OrderedTree.build(leaves)
    pos = window_positions(20, 64, 2)
    proof = tree.multiproof(pos)
    at = next(j for j in range(0, len(proof), ITEM) if proof[j : j + 32] != proof[j + 32 : j + 64])  # an inner node
    first = proof[at : at + ITEM]
    proof = proof[:at] + proof[at + ITEM :]
    pos_items = (proof[:at], proof[at:])
    # lo > hi in an item
    inverted = first[32:64] + first[:32] + first[64:]
    with pytest.raises(ProofError, match="lo > hi"):
        verify_multiproof(64, pos, [leaves[i] for i in pos], pos_items[0] + inverted + pos_items[1])
    # a narrower, still ordered range: the parent hash binds it, so another root
    narrowed = first[:31] + bytes([first[31] ^ 1]) + first[32:]
    assert rejected_or_other_root(64, pos, [leaves[i] for i in pos], pos_items[0] + narrowed + pos_items[1], tree.root)
    assert verify_multiproof(64, pos, [leaves[i] for i in pos], pos_items[0] + first + pos_items[1]) == tree.root


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 40), st.data())
def test_lemma_two_windows_verified_against_one_root_agree_on_the_order(m, data):
    """Against ANY tree a server may hash (leaf-level items with any lo, hi), leaves opened against one root
    are ordered by position: pos(a) < pos(b) <=> key(a) < key(b)."""
    small = st.integers(0, 7)
    items = []
    for i in range(m):
        lo = data.draw(small)
        hi = lo if data.draw(st.booleans()) else data.draw(small)  # mostly leaves, some forged ranges
        items.append(bytes([lo]) + bytes(31) + bytes([hi]) + bytes(31) + hashlib.sha256(bytes([i])).digest())
    levels = ref_levels(items, ref_ordered)
    root = levels[-1][0][-32:]
    opened: dict[int, bytes] = {}
    for _ in range(4):
        pos = window_positions(data.draw(st.integers(0, m - 1)), m, data.draw(st.integers(0, 2)))
        if any(items[i][:32] != items[i][32:64] for i in pos):
            continue  # a verifier computes its leaves as key || key || hash
        leaves = [(items[i][:32], items[i][64:]) for i in pos]
        try:
            if verify_multiproof(m, pos, leaves, ref_multiproof(levels, pos)) != root:
                continue
        except ProofError:
            continue
        opened.update({i: items[i][:32] for i in pos})
    for a in opened:
        for b in opened:
            if a < b:
                assert opened[a] < opened[b]


def test_a_forged_sibling_range_with_lo_above_hi_is_refused():
    # without the lo <= hi check on proof items, leaf 0 (key 50) and leaf 2 (key 20) would both verify
    def item(lo: int, hi: int, tag: bytes) -> bytes:
        return bytes([lo]) + bytes(31) + bytes([hi]) + bytes(31) + hashlib.sha256(tag).digest()

    items = [item(50, 50, b"a"), item(60, 10, b"forged"), item(20, 20, b"b"), item(30, 30, b"c")]
    levels = ref_levels(items, ref_ordered)
    root = levels[-1][0][-32:]
    leaf_b = (items[2][:32], items[2][64:])
    leaf_a = (items[0][:32], items[0][64:])
    assert ref_ordered(levels[1][0], levels[1][1])[-32:] == root  # 10 < 20: the root's own check passes
    for pos, leaf in (([0], leaf_a), ([2], leaf_b)):  # node [0, 1] reaches b as an item (50, 10), item 1 reaches a
        with pytest.raises(ProofError, match="lo > hi"):
            verify_multiproof(4, pos, [leaf], ref_multiproof(levels, pos))


# ----------------------------------------------------------------------------- caller errors


def test_build_refuses_non_increasing_keys_and_bad_leaves():
    leaves = honest_leaves(5)
    with pytest.raises(ValueError, match="strictly increasing"):
        OrderedTree.build([leaves[1], leaves[0]] + leaves[2:])
    with pytest.raises(ValueError, match="strictly increasing"):
        OrderedTree.build([leaves[0], leaves[0]])
    with pytest.raises(ValueError):
        OrderedTree.build([])
    with pytest.raises(ValueError):
        OrderedTree.build([(bytes(31), bytes(32))])
    with pytest.raises(TypeError):
        OrderedTree.build([[bytes(32), bytes(32)]])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        FlagTree.build([bytes(31)])


@pytest.mark.parametrize(
    ("m", "positions", "error"),
    [(5, [5], ValueError), (5, [1, 1], ValueError), (0, [0], ValueError), (2**20 + 1, [0], ValueError), (5, [], ValueError), (5, "ab", TypeError), (5, [1.0], TypeError)],
)
def test_verify_refuses_bad_positions_before_reading_the_proof(m, positions, error):
    leaves = honest_leaves(2)[:1] * max(1, len(positions))
    with pytest.raises(error):
        verify_multiproof(m, positions, leaves, b"")


def test_verify_refuses_leaves_that_do_not_match_the_positions():
    leaves = honest_leaves(5)
    with pytest.raises(ValueError):
        verify_multiproof(5, [0, 1], leaves[:1], b"")
    with pytest.raises(TypeError):
        verify_multiproof(5, [0], leaves[:1], bytearray())  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- vectors (merkle.json)


@pytest.mark.parametrize("v", vectors.params("merkle", "generate"))
def test_generate_vectors_match_the_library_and_the_reference(v):
    m, leaves = v["m"], [unhex(x) for x in v["leaves"]]
    assert len(leaves) == len(v["ids"]) == m
    if v["kind"] == "ordered":
        seed = unhex(v["seed"])
        keys = [ring_key(seed, u) for u in v["ids"]]
        assert [k.hex() for k in keys] == v["keys"] == [ref_key(seed, u).hex() for u in v["ids"]]
        assert keys == sorted(keys)
        data = [unhex(d) for d in v["leaf_data"]]
        assert [struct.unpack("<I", d[:4])[0] for d in data] == v["ids"]
        assert leaves == [hashlib.sha256(b"\x00" + d).digest() for d in data]
        tree = OrderedTree.build(list(zip(keys, leaves)))
        levels = ref_levels([leaf_item(k, h) for k, h in zip(keys, leaves)], ref_ordered)
        assert tree.root.hex() == v["root"] == levels[-1][0][-32:].hex()
        for p in v["proofs"]:
            pos, proof = p["positions"], unhex(p["proof"])
            assert tree.multiproof(pos) == proof == ref_multiproof(levels, pos)
            assert len(proof) == ITEM * p["items"]
            assert verify_multiproof(m, pos, [(keys[i], leaves[i]) for i in pos], proof) == tree.root
    else:
        assert leaves == [flag_leaf(u, bool(f)) for u, f in zip(v["ids"], v["flags"])]
        tree = FlagTree.build(leaves)
        levels = ref_levels(leaves, ref_flag)
        assert tree.root.hex() == v["root"] == levels[-1][0].hex()
        for p in v["proofs"]:
            pos, proof = p["positions"], unhex(p["proof"])
            assert tree.multiproof(pos) == proof == ref_multiproof(levels, pos)
            assert len(proof) == FLAG_ITEM_SIZE * p["items"]
            assert verify_flag_proof(m, pos, [leaves[i] for i in pos], proof) == tree.root


def test_the_vectors_cover_wrapping_windows_promotions_and_the_whole_ring():
    ordered = [e for e in vectors.load("merkle")["generate"] if e["kind"] == "ordered"]
    sets = [(e["m"], p["positions"]) for e in ordered for p in e["proofs"]]
    assert any(pos[0] > pos[-1] for _, pos in sets)  # a window that wraps past m - 1
    assert any(pos == list(range(m)) and m > 1 for m, pos in sets)
    assert {e["m"] % 2 for e in ordered} == {0, 1} and max(e["m"] for e in ordered) >= 100


@pytest.mark.parametrize("v", vectors.params("merkle", "invalid"))
def test_invalid_vectors_raise_the_named_error(v):
    error = {"ProofError": ProofError, "ValueError": ValueError}[v["error"]]
    with vectors.raises_exactly(error):
        if v["operation"] == "verify_multiproof":
            leaves = [(unhex(k), unhex(h)) for k, h in zip(v["keys"], v["leaves"])]
            verify_multiproof(v["m"], v["positions"], leaves, unhex(v["proof"]))
        elif v["operation"] == "verify_flag_proof":
            verify_flag_proof(v["m"], v["positions"], [unhex(h) for h in v["leaves"]], unhex(v["proof"]))
        else:
            OrderedTree.build([(unhex(k), unhex(h)) for k, h in zip(v["keys"], v["leaves"])])


@settings(max_examples=150, deadline=None)
@given(tree_and_positions(max_m=64), st.binary(max_size=2000))
def test_any_proof_bytes_give_a_root_or_a_proof_error_never_another_exception(case, junk):
    m, positions = case
    leaves = honest_leaves(m)
    opened = [leaves[i] for i in positions]
    try:
        root = verify_multiproof(m, positions, opened, junk)
    except ProofError:
        return
    assert len(root) == 32 and len(junk) == ITEM * proof_item_count(m, positions)


@settings(max_examples=60, deadline=None)
@given(tree_and_positions(max_m=80), st.data())
def test_every_change_to_a_flag_proof_or_flag_changes_the_root(case, data):
    m, positions = case
    hashes = [flag_leaf(i + 1, bool(i % 2)) for i in range(m)]
    tree = FlagTree.build(hashes)
    proof = tree.multiproof(positions)
    opened = [hashes[i] for i in positions]
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1))
        bad = proof[:at] + bytes([proof[at] ^ 1]) + proof[at + 1 :]
        assert verify_flag_proof(m, positions, opened, bad) != tree.root
    j = data.draw(st.integers(0, len(positions) - 1))
    flipped = list(opened)
    flipped[j] = flag_leaf(positions[j] + 1, not bool(positions[j] % 2))
    assert verify_flag_proof(m, positions, flipped, proof) != tree.root
