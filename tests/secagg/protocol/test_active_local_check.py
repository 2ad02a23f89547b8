"""The active model's localized consistency check on a sparse graph (wire v3), against a lying server.

Cohort: Harary ring of n = 13, k = 4, t = 3 (2t > k + 1), so a client's
extended window W2 is 9 of the 13 ring positions and ``H(x)`` is the 5
positions around ``x``. Positions are ring positions: ``ring[p]`` is the id
there. The server's lies are built from the SPEC text (flag_forge.py); the
rule under test is SPEC "Threat models", active: the honest holders of one
owner can reveal its shares under one root only, so never both secrets.
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from secagg import codec
from secagg.errors import AbortReason, RemoteProtocolError
from secagg.messages import ConsistencyCheckRequest, Signature, UnmaskingRequest, UnmaskingResponse
from secagg.primitives import ordered_tree, sign
from secagg.protocol import session
from secagg.protocol.client import ClientAborted, ClientCompleted, ClientR3ConsistencyCheck
from secagg.protocol.server import ServerCompleted
from tests.secagg.protocol.conftest import Harness, Step, decode, flip, make_params, rewrite, run_schedule
from tests.secagg.protocol.flag_forge import flag_root, forge_consistency, local_lists, ring_of, unmasking_for, window_of
from tests.secagg.protocol.test_client_rules import assert_aborted

N, K, T = 13, 4, 3


def sparse(seed: str = "sparse", n: int = N) -> Harness:
    return Harness(make_params(n, k=K, t=T, threat="active", dim=3, bits=20), seed=seed)


def at_check(seed: str = "sparse", masked=None, n: int = N) -> Harness:
    h = sparse(seed, n)
    h.to_masked_input()
    h.step(masked)
    return h


def at_unmasking(seed: str = "sparse", masked=None) -> Harness:
    h = at_check(seed, masked)
    h.step()
    return h


def holders(h: Harness, p: int) -> list[int]:
    ring = ring_of(h)
    return sorted(ring[(p + d) % len(ring)] for d in range(-K // 2, K // 2 + 1))


# --------------------------------------------------------------------------- honest rounds, O(k) messages


def test_an_honest_sparse_active_round_gives_the_exact_sum_with_window_sized_messages():
    h = at_check()
    for u in h.ids:
        req = h.request(u)
        m, positions, window = window_of(h, u)
        assert len(window) == 2 * K + 1 < m == N
        assert len(req.flags) == 2 and len(req.proof) == 32 * ordered_tree.proof_item_count(m, positions)
    h.step()
    for u in h.ids:
        req = h.request(u)
        assert isinstance(h.clients[u].state, ClientR3ConsistencyCheck)
        assert len(req.survivors) == K + 1 and req.dropped == ()
        assert {s.signer for s in req.signatures} == set(h.clients[u].state.window)
    result = h.finish()
    assert result.included == tuple(h.ids) and result.total.tolist() == h.expected(h.ids)


def test_consistency_and_unmasking_requests_do_not_grow_with_n():
    sizes = {}
    for n in (13, 61):
        h = at_check(f"grow-{n}", n=n)
        cc = [len(h.outbox[u]) for u in h.ids]
        h.step()
        um = [len(h.outbox[u]) for u in h.ids]
        sizes[n] = (max(cc), max(um))
        assert all(len(h.request(u).signatures) <= 2 * K + 1 for u in h.ids)
    # flags and signatures are the window's (2k + 1 = 9 positions); only the multiproof grows, by <= 4 items a level
    assert sizes[61][1] == sizes[13][1]
    assert sizes[61][0] - sizes[13][0] <= 4 * 32 * 2


# --------------------------------------------------------------------------- R3: the flags and their proof


def test_own_flag_cleared_aborts_inconsistent():
    h = at_check()
    bad = codec.encode(forge_consistency(h, 1, set(h.ids) - {1}))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="own id")


@pytest.mark.parametrize("change", ["flag-of-a-neighbour", "root", "proof-truncated", "proof-extended", "proof-item"])
def test_flags_that_do_not_lead_to_the_root_abort_inconsistent(change):
    h = at_check()
    req = h.request(1)
    index = h.clients[1].state.window.index(1)
    if change == "flag-of-a-neighbour":  # a flag flipped after the tree was built: the proof no longer matches
        j = index + 1
        bad = dataclasses.replace(req, flags=flip(req.flags, j // 8, 1 << (j % 8)))
    elif change == "root":
        bad = dataclasses.replace(req, survivors_root=flip(req.survivors_root, 0))
    elif change == "proof-truncated":
        bad = dataclasses.replace(req, proof=req.proof[:-32])
    elif change == "proof-extended":
        bad = dataclasses.replace(req, proof=req.proof + req.proof[:32])
    else:
        bad = dataclasses.replace(req, proof=flip(req.proof, 5))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, codec.encode(bad), later=[h.outbox[1]])


@pytest.mark.parametrize("flags", [b"\xff", b"\xff\x03"])
def test_flags_of_the_wrong_size_or_with_high_bits_set_abort_malformed(flags):
    h = at_check()
    bad = rewrite(h.params, h.outbox[1], flags=flags)  # 9 positions: exactly 2 bytes, bits 9..15 zero
    assert_aborted(h, 1, AbortReason.MALFORMED, bad, later=[h.outbox[1]])


def test_flags_longer_than_any_window_do_not_decode_and_change_nothing():
    h = at_check()
    state = h.clients[1].state
    with pytest.raises(RemoteProtocolError) as info:
        h.answer(1, rewrite(h.params, h.outbox[1], flags=b"\xff\x01\x00"))
    assert info.value.reason is AbortReason.MALFORMED and "limit" in info.value.detail
    assert h.clients[1].state is state


def test_fewer_than_t_flagged_holders_abort_too_few_survivors():
    h = at_check()
    p = ring_of(h).index(1)
    others = [v for v in holders(h, p) if v != 1]
    view = set(h.ids) - set(others[:3])  # 2 of its 5 holders left flagged (itself and one)
    bad = codec.encode(forge_consistency(h, 1, view))
    assert_aborted(h, 1, AbortReason.TOO_FEW_SURVIVORS, bad, later=[h.outbox[1]], detail="holders")


def test_the_client_signs_the_root_and_nothing_about_clients_outside_its_window():
    h = at_check()
    ring = ring_of(h)
    _, _, window = window_of(h, 1)
    outside = [v for v in ring if v not in window]
    assert outside  # a view that differs only outside the window: same flags, another root, accepted and signed
    view = set(h.ids) - {outside[0]}
    req = forge_consistency(h, 1, view)
    assert req.flags == h.request(1).flags and req.survivors_root != h.request(1).survivors_root
    reply = decode(h.params, h.answer(1, codec.encode(req)))
    sign.verify(h.pki[1], session.consistency_statement(req.session_id, flag_root(ring, view)), reply.signature)


# --------------------------------------------------------------------------- R4: signatures, quorum, lists


def _window_position(h: Harness, u: int) -> tuple[tuple[int, ...], int]:
    ring = ring_of(h)
    return ring, ring.index(u)


def test_signatures_from_window_members_that_are_not_holders_do_not_count():
    h = at_unmasking()
    u = 1
    ring, p = _window_position(h, u)
    req = h.request(u)
    own = set(holders(h, p))
    far = tuple(s for s in req.signatures if s.signer not in own)
    assert len(far) >= T  # valid, flagged, in W2, but none holds a share of u
    bad = codec.encode(dataclasses.replace(req, signatures=far))
    assert_aborted(h, u, AbortReason.TOO_FEW_SURVIVORS, bad, later=[h.outbox[u]], detail=f"holders of client {u}")


@pytest.mark.parametrize("shift", [-2, -1, 0, 1, 2])
def test_too_few_holder_signatures_for_any_owner_abort_too_few_survivors(shift):
    # Remove signatures until the holders of one owner (the client itself or a neighbour) have t - 1 of them.
    h = at_unmasking()
    u = 1
    ring, p = _window_position(h, u)
    owner = ring[(p + shift) % N]
    keep_of_owner = set(holders(h, (p + shift) % N)[: T - 1])
    req = h.request(u)
    sigs = tuple(s for s in req.signatures if s.signer not in holders(h, (p + shift) % N) or s.signer in keep_of_owner)
    bad = codec.encode(dataclasses.replace(req, signatures=sigs))
    assert_aborted(h, u, AbortReason.TOO_FEW_SURVIVORS, bad, later=[h.outbox[u]], detail="consistency signatures")
    assert f"client {owner}" in h.clients[u].state.detail or shift != 0


def test_exactly_t_holder_signatures_for_every_owner_is_enough():
    h = at_unmasking()
    u = 1
    ring, p = _window_position(h, u)
    req = h.request(u)
    # the signers at W2 offsets -3, -1, +1, +3 plus itself: every owner x at offset -2..2 has t = 3 signers in H(x)
    keep = {ring[(p + d) % N] for d in (-3, -1, 0, 1, 3)}
    sigs = tuple(s for s in req.signatures if s.signer in keep)
    reply = h.answer(u, codec.encode(dataclasses.replace(req, signatures=sigs)))
    assert isinstance(h.clients[u].state, ClientCompleted) and reply is not None


def test_a_signature_from_a_client_flagged_dropped_aborts_inconsistent():
    h = sparse("flagged-dropped")
    h.to_masked_input()
    ring = ring_of(h)
    u = 1
    p = ring.index(u)
    gone = ring[(p + 1) % N]  # a neighbour that drops before its masked input: flag 0
    h.step([v for v in h.ids if v != gone])
    h.step()
    req = h.request(u)
    assert gone in req.dropped
    root = h.clients[u].state.survivors_root
    forged = Signature(signer=gone, signature=h.signing_keys[gone].sign(session.consistency_statement(req.session_id, root)))
    sigs = tuple(sorted((*req.signatures, forged), key=lambda s: s.signer))
    bad = codec.encode(dataclasses.replace(req, signatures=sigs))
    assert_aborted(h, u, AbortReason.INCONSISTENT, bad, later=[h.outbox[u]], detail="not flagged as a survivor")


def test_a_signature_from_a_survivor_outside_the_window_aborts_inconsistent():
    h = at_unmasking()
    u = 1
    _, _, window = window_of(h, u)
    stranger = next(v for v in ring_of(h) if v not in window)
    req = h.request(u)
    root = h.clients[u].state.survivors_root
    forged = Signature(signer=stranger, signature=h.signing_keys[stranger].sign(session.consistency_statement(req.session_id, root)))
    sigs = tuple(sorted((*req.signatures[1:], forged), key=lambda s: s.signer))  # a window's worth of signatures
    bad = codec.encode(dataclasses.replace(req, signatures=sigs))
    assert_aborted(h, u, AbortReason.INCONSISTENT, bad, later=[h.outbox[u]], detail="in its window")


def test_signatures_replayed_from_another_session_abort_authentication():
    # Same identity keys, same ring, same flags; only the round counter (hence the session id) differs.
    params = make_params(N, k=K, t=T, threat="active", dim=3, bits=20)
    other = Harness(dataclasses.replace(params, round_counter=1), seed="replay")
    other.to_unmasking()
    h = Harness(params, seed="replay")
    h.to_unmasking()
    assert ring_of(other) == ring_of(h) and other.request(1).session_id != h.request(1).session_id
    bad = rewrite(h.params, h.outbox[1], signatures=other.request(1).signatures)
    assert_aborted(h, 1, AbortReason.AUTHENTICATION, bad, later=[h.outbox[1]])


def test_a_signature_under_another_signers_name_aborts_authentication():
    h = at_unmasking()
    req = h.request(1)
    sigs = list(req.signatures)
    sigs[0] = Signature(signer=sigs[0].signer, signature=sigs[1].signature)
    assert_aborted(h, 1, AbortReason.AUTHENTICATION, codec.encode(dataclasses.replace(req, signatures=tuple(sigs))), later=[h.outbox[1]])


def _drop_neighbour(seed: str):
    h = sparse(seed)
    h.to_masked_input()
    ring = ring_of(h)
    p = ring.index(1)
    gone = ring[(p - 1) % N]
    h.step([v for v in h.ids if v != gone])
    h.step()
    return h, gone, [ring[(p + d) % N] for d in (1, 2)]


@pytest.mark.parametrize("lie", ["survivor-flagged-dropped", "dropped-flagged-survivor", "survivor-left-out", "stranger-survivor"])
def test_lists_that_do_not_match_the_signed_flags_abort_inconsistent(lie):
    h, gone, alive = _drop_neighbour(f"lists-{lie}")
    req = h.request(1)
    assert req.dropped == (gone,)
    if lie == "survivor-flagged-dropped":  # the dropped neighbour claimed alive: would reveal its self-mask seed
        bad = dataclasses.replace(req, survivors=tuple(sorted((*req.survivors, gone))), dropped=())
    elif lie == "dropped-flagged-survivor":  # a flagged survivor claimed dropped: would reveal its mask key
        bad = dataclasses.replace(req, survivors=tuple(v for v in req.survivors if v != alive[0]), dropped=tuple(sorted((gone, alive[0]))))
    elif lie == "survivor-left-out":
        bad = dataclasses.replace(req, survivors=tuple(v for v in req.survivors if v != alive[1]))
    else:
        stranger = next(v for v in h.ids if v not in h.clients[1].state.window)
        bad = dataclasses.replace(req, survivors=tuple(sorted((*req.survivors, stranger))))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, codec.encode(bad), later=[h.outbox[1]])


def test_the_honest_lists_with_a_dropped_neighbour_reveal_its_key_share_and_the_round_is_exact():
    h, gone, _ = _drop_neighbour("lists-honest")
    result = h.finish()
    survivors = tuple(v for v in h.ids if v != gone)
    assert result.included == survivors and result.total.tolist() == h.expected(survivors)


# --------------------------------------------------------------------------- two roots for the holders of one owner


def _split_round(seed: str, owner_position: int, offsets):
    """The server shows root R2 (owner dropped) to the holders at ``offsets`` from the owner and every client outside
    ``H(owner)``, and root R1 (everyone survived) to the rest of ``H(owner)``; it forwards to each client every
    same-root signature of its window, then collects whatever the clients reveal."""
    h = at_check(seed)
    ring = ring_of(h)
    owner = ring[owner_position]
    hold = set(holders(h, owner_position))
    second = {ring[(owner_position + d) % N] for d in offsets}
    first = hold - second  # the owner itself is always here: its own flag must be 1
    everyone = set(h.ids)
    views = {u: (everyone if u in first else everyone - {owner}) for u in h.ids}
    roots = {u: flag_root(ring, views[u]) for u in h.ids}
    signatures = {}
    for u in h.ids:
        reply = h.answer(u, codec.encode(forge_consistency(h, u, views[u])))
        signatures[u] = decode(h.params, reply).signature
    revealed = {"seed": {}, "key": {}}
    outcome = {}
    for u in h.ids:
        _, _, window = window_of(h, u)
        same = {v: signatures[v] for v in window if roots[v] == roots[u]}
        req = unmasking_for(h, u, views[u], same)
        try:
            reply = h.answer(u, codec.encode(req))
        except RemoteProtocolError as exc:
            outcome[u] = exc.reason
            continue
        outcome[u] = "revealed"
        msg = decode(h.params, reply)
        assert isinstance(msg, UnmaskingResponse)
        for s in msg.seed_shares:
            revealed["seed"].setdefault(s.owner, set()).add(u)
        for s in msg.key_shares:
            revealed["key"].setdefault(s.owner, set()).add(u)
    return h, owner, first, second, revealed, outcome


@pytest.mark.parametrize("second", [(1, 2), (-1, 1), (-2, -1, 1), (-2, 1, 2), (-2, -1, 1, 2)], ids=str)
def test_two_roots_for_the_holders_of_one_owner_never_yield_both_of_its_secrets(second):
    h, owner, first, group, revealed, outcome = _split_round("split", 6, second)
    seeds, keys = revealed["seed"].get(owner, set()), revealed["key"].get(owner, set())
    # at most one of the owner's two secrets: the two groups cannot both have t signers among H(owner)
    assert not (seeds and keys)
    assert not (len(seeds) >= T and len(keys) >= T)
    if len(group) >= T:  # R2 certified for the owner: its holders reveal key shares, the R1 group aborts
        assert len(keys) == len(group) and not seeds
        assert all(outcome[u] is AbortReason.TOO_FEW_SURVIVORS for u in first)
    else:  # R1 certified for the owner: the R2 holders refuse (their quorum for the owner is short)
        assert not keys
        assert all(outcome[u] is AbortReason.TOO_FEW_SURVIVORS for u in group)
    # and for every other owner too, the honest holders revealed one kind of share only
    for other in h.ids:
        assert not (revealed["seed"].get(other) and revealed["key"].get(other)), other


@pytest.mark.slow
def test_every_split_of_every_owners_holders_reveals_one_kind_of_share_per_owner():
    for position in (0, 6):
        others = [d for d in range(-K // 2, K // 2 + 1) if d]
        for size in range(1, len(others) + 1):
            for ds in itertools.combinations(others, size):
                h, owner, _, _, revealed, _ = _split_round("split-all", position, ds)
                for x in h.ids:
                    assert not (revealed["seed"].get(x) and revealed["key"].get(x)), (position, ds, x)


@pytest.mark.parametrize(
    "schedule",
    [
        {},
        {2: Step.SHARE_KEYS, 7: Step.MASKED_INPUT},
        {3: Step.CONSISTENCY_CHECK, 9: Step.UNMASKING},
        {1: Step.MASKED_INPUT, 4: Step.CONSISTENCY_CHECK, 11: Step.UNMASKING, 12: Step.ADVERTISE_KEYS},
        {u: Step.CONSISTENCY_CHECK for u in range(1, 7)},
    ],
    ids=["none", "share-and-masked", "check-and-unmasking", "every-phase", "half-at-the-check"],
)
def test_sparse_active_rounds_with_dropouts_are_exact_or_abort_for_too_few(schedule):
    h = sparse("dropouts-" + "-".join(f"{u}{s.value}" for u, s in sorted(schedule.items())))
    outcome = run_schedule(h, schedule)
    assert all(r is AbortReason.TOO_FEW_SURVIVORS for r in outcome.client_aborts.values())
    if isinstance(outcome.state, ServerCompleted):
        senders = outcome.sent[Step.MASKED_INPUT]
        assert outcome.state.included == senders  # a signer's dropout at the check still has its input summed
        assert outcome.state.total.tolist() == h.expected(senders)
    else:
        assert outcome.state.reason is AbortReason.TOO_FEW_SURVIVORS
    # with six of 13 signers gone at the check, some owner's holders cannot reach t signatures; otherwise exact
    assert isinstance(outcome.state, ServerCompleted) == (len(schedule) < 6)
