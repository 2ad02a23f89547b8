"""A lying server: signed keys, the consistency check, split views (active model), lying key trees (SecAgg+).

Standard cohort: complete graph, n = 6, t = 4, active model, every client with
a long-term Ed25519 identity in the PKI. The last section uses a Harary ring
(semi-malicious) and key trees the server builds itself.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from secagg import codec
from secagg.errors import AbortReason, DecodeError, LocalProtocolError, RemoteProtocolError
from secagg.messages import (
    AddressedShare,
    AdvertiseKeys,
    ConsistencyCheckRequest,
    MaskedInputRequest,
    Signature,
    UnmaskingRequest,
)
from secagg.primitives import kex, shamir, sign
from secagg.primitives.masking import accumulate_packed, mask_input
from secagg.primitives.sign import Ed25519SigningKey
from secagg.primitives.words import word_dtype
from secagg.protocol import session
from secagg.protocol.client import Client, ClientAborted, ClientCompleted, ClientR1ShareKeys, ClientR3ConsistencyCheck
from secagg.protocol.server import Server, ServerCompleted
from tests.detrandom import DeterministicRandom
from tests.secagg.protocol.conftest import Harness, decode, flip, forge_share_keys, make_params, rewrite, spec_ring
from tests.secagg.protocol.flag_forge import flag_root, forge_consistency, local_lists, ring_of, unmasking_for
from tests.secagg.protocol.test_client_rules import assert_aborted

ACTIVE = dict(t=4, threat="active", dim=5, bits=24)


def active(seed: str = "active", **kw) -> Harness:
    return Harness(make_params(6, **{**ACTIVE, **kw}), seed=seed)


# --------------------------------------------------------------------------- construction


def test_active_client_without_identity_key_or_pki_is_a_value_error():
    params = make_params(6, **ACTIVE)
    key = Ed25519SigningKey.generate(random=DeterministicRandom("id"))
    pki = {1: key.public_bytes}
    with pytest.raises(ValueError, match="identity_key and pki"):
        Client(1, params, input=[0] * 5)
    with pytest.raises(ValueError, match="identity_key and pki"):
        Client(1, params, input=[0] * 5, identity_key=key)
    with pytest.raises(ValueError, match="identity_key and pki"):
        Client(1, params, input=[0] * 5, pki=pki)


def test_active_client_whose_key_is_not_its_pki_entry_is_a_value_error():
    params = make_params(6, **ACTIVE)
    key = Ed25519SigningKey.generate(random=DeterministicRandom("id"))
    other = Ed25519SigningKey.generate(random=DeterministicRandom("other"))
    with pytest.raises(ValueError, match=r"pki\[1\]"):
        Client(1, params, input=[0] * 5, identity_key=key, pki={1: other.public_bytes})
    with pytest.raises(ValueError, match=r"pki\[1\]"):
        Client(1, params, input=[0] * 5, identity_key=key, pki={2: key.public_bytes})


def test_active_server_without_pki_is_a_value_error():
    with pytest.raises(ValueError, match="pki"):
        Server(make_params(6, **ACTIVE))


# --------------------------------------------------------------------------- R1: signed keys


def _entry(h: Harness, u: int, v: int) -> int:
    """The index of client ``v``'s entry in client ``u``'s ShareKeysRequest."""
    return [a.client_id for a in h.request(u).entries].index(v)


def test_share_keys_request_with_a_modified_neighbour_signature_aborts_authentication():
    h = active().to_share_keys()
    entries = list(h.request(1).entries)
    i = _entry(h, 1, 3)
    entries[i] = dataclasses.replace(entries[i], signature=flip(entries[i].signature, 10))
    bad = rewrite(h.params, h.outbox[1], entries=tuple(entries))
    assert_aborted(h, 1, AbortReason.AUTHENTICATION, bad, later=[h.outbox[1]], detail="client 3")


@pytest.mark.parametrize("forgery", ["empty", "swapped", "signed-by-server"])
def test_share_keys_request_with_a_forged_neighbour_signature_aborts_authentication(forgery):
    h = active().to_share_keys()
    entries = list(h.request(1).entries)
    i = _entry(h, 1, 5)
    target = entries[i]
    if forgery == "empty":
        signature = b""
    elif forgery == "swapped":
        signature = entries[_entry(h, 1, 4)].signature
    else:
        server_key = Ed25519SigningKey.generate(random=DeterministicRandom("server identity"))
        signature = server_key.sign(session.advertise_statement(h.params, target.client_id, target.c_pk, target.s_pk))
    entries[i] = dataclasses.replace(target, signature=signature)
    bad = rewrite(h.params, h.outbox[1], entries=tuple(entries))
    assert_aborted(h, 1, AbortReason.AUTHENTICATION, bad, later=[h.outbox[1]], detail="client 5")


def _substitute_keys(h: Harness, victim: int, receiver: int) -> bytes:
    """The ShareKeysRequest for ``receiver`` with ``victim``'s keys replaced by the server's own. The complete
    graph's window is the whole ring, so the receiver hashes the key tree over the substituted keys itself:
    the tree is consistent by construction (no proof to fail)."""
    mine = DeterministicRandom("server's keys")
    entries = tuple(
        dataclasses.replace(
            a,
            c_pk=kex.X25519KeyPair.generate(random=mine).public_bytes,
            s_pk=kex.X25519KeyPair.generate(random=mine).public_bytes,
        )
        if a.client_id == victim
        else a
        for a in h.request(receiver).entries
    )
    return rewrite(h.params, h.outbox[receiver], entries=entries)


def test_server_substituting_a_neighbours_keys_under_a_consistent_key_tree_is_caught_by_the_signature():
    h = active().to_share_keys()
    bad = _substitute_keys(h, victim=3, receiver=1)
    assert_aborted(h, 1, AbortReason.AUTHENTICATION, bad, later=[h.outbox[1]], detail="client 3")


def test_the_same_key_substitution_goes_unnoticed_at_share_keys_without_signatures():
    # Contrast: in the semi-malicious model only the signatures could catch it,
    # so the client accepts (the substitution changes its session id instead).
    h = active(threat="semi-malicious").to_share_keys()
    reply = h.answer(1, _substitute_keys(h, victim=3, receiver=1))
    assert reply is not None
    assert isinstance(h.clients[1].state, ClientR1ShareKeys)
    assert decode(h.params, reply).session_id != decode(h.params, h.answer(2)).session_id


# --------------------------------------------------------------------------- R3: the consistency check


def at_consistency_check(seed: str = "cc") -> Harness:
    h = active(seed)
    h.to_masked_input()
    h.step()
    assert all(isinstance(h.request(u), ConsistencyCheckRequest) for u in h.ids)
    return h


def test_consistency_check_request_without_the_clients_own_id_aborts_inconsistent():
    h = at_consistency_check()
    bad = codec.encode(forge_consistency(h, 1, (2, 3, 4, 5, 6)))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="own id")


def test_consistency_check_request_naming_a_client_that_never_advertised_aborts_inconsistent():
    # Wire v3: the flags are the client's own window (ids fixed in R1), so a stranger can only enter through
    # the flag tree's leaves; a tree with client 6 (who never advertised) in place of a participant fails the proof.
    h = active("cc-stranger")
    h.to_masked_input(advertise=[1, 2, 3, 4, 5])
    h.step()
    ring = list(ring_of(h))
    ring[ring.index(5)] = 6
    bad = codec.encode(forge_consistency(h, 1, (1, 2, 3, 4, 5, 6), ring=ring))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="proof")


def test_consistency_check_request_with_fewer_than_threshold_survivors_aborts_too_few_survivors():
    h = at_consistency_check()
    bad = codec.encode(forge_consistency(h, 1, (1, 2, 3)))
    assert_aborted(h, 1, AbortReason.TOO_FEW_SURVIVORS, bad, later=[h.outbox[1]])


def test_consistency_check_request_of_another_session_is_replayed_and_changes_nothing():
    h = at_consistency_check()
    state = h.clients[1].state
    with pytest.raises(RemoteProtocolError) as info:
        h.clients[1].receive(rewrite(h.params, h.outbox[1], session_id=bytes(32)))
    assert info.value.reason is AbortReason.REPLAYED
    assert h.clients[1].state is state
    assert h.complete().total.tolist() == h.expected(h.ids)


def test_client_signs_exactly_the_survivor_set_it_was_shown():
    h = at_consistency_check()
    sid = h.request(1).session_id
    root = flag_root(ring_of(h), (1, 2, 3, 4, 5, 6))
    assert h.request(1).survivors_root == root
    response = decode(h.params, h.answer(1))
    sign.verify(h.pki[1], session.consistency_statement(sid, root), response.signature)
    assert h.clients[1].state.signed == (1, 2, 3, 4, 5, 6)
    assert h.clients[1].state.survivors_root == root


# --------------------------------------------------------------------------- R4: signatures forwarded


def at_active_unmasking(seed: str = "unmask") -> Harness:
    h = active(seed)
    h.to_unmasking()
    assert isinstance(h.clients[1].state, ClientR3ConsistencyCheck)
    assert len(h.request(1).signatures) == 6
    return h


def test_honest_active_round_gives_the_exact_sum():
    h = at_active_unmasking()
    result = h.finish()
    assert result.included == (1, 2, 3, 4, 5, 6)
    assert result.total.tolist() == h.expected(h.ids)


def test_unmasking_request_whose_survivors_differ_from_the_signed_set_aborts_inconsistent():
    h = at_active_unmasking()
    bad = rewrite(h.params, h.outbox[1], survivors=(1, 2, 3, 4, 5), dropped=(6,))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="differs from the flags it signed")


@pytest.mark.parametrize("index", [0, 3, 5])
def test_unmasking_request_with_a_forged_consistency_signature_aborts_authentication(index):
    h = at_active_unmasking()
    sigs = list(h.request(1).signatures)
    sigs[index] = dataclasses.replace(sigs[index], signature=flip(sigs[index].signature, 33))
    bad = rewrite(h.params, h.outbox[1], signatures=tuple(sigs))
    assert_aborted(h, 1, AbortReason.AUTHENTICATION, bad, later=[h.outbox[1]], detail=f"client {index + 1}")


def test_unmasking_request_with_a_signature_under_another_signers_name_aborts_authentication():
    h = at_active_unmasking()
    sigs = list(h.request(1).signatures)
    sigs[1] = Signature(signer=2, signature=sigs[2].signature)
    bad = rewrite(h.params, h.outbox[1], signatures=tuple(sigs))
    assert_aborted(h, 1, AbortReason.AUTHENTICATION, bad, later=[h.outbox[1]])


def test_unmasking_request_with_fewer_than_threshold_signatures_aborts_too_few_survivors():
    h = at_active_unmasking()
    bad = rewrite(h.params, h.outbox[1], signatures=h.request(1).signatures[:3])
    assert_aborted(h, 1, AbortReason.TOO_FEW_SURVIVORS, bad, later=[h.outbox[1]])


def test_unmasking_request_with_exactly_threshold_signatures_is_answered():
    h = at_active_unmasking()
    reply = h.answer(1, rewrite(h.params, h.outbox[1], signatures=h.request(1).signatures[2:]))
    assert reply is not None and isinstance(h.clients[1].state, ClientCompleted)


def test_unmasking_request_with_signatures_from_another_session_aborts_authentication():
    other = at_active_unmasking("another session")
    h = at_active_unmasking()
    bad = rewrite(h.params, h.outbox[1], signatures=other.request(1).signatures)
    assert_aborted(h, 1, AbortReason.AUTHENTICATION, bad, later=[h.outbox[1]])


def test_unmasking_request_with_a_signature_from_a_non_survivor_aborts_inconsistent():
    h = active("non-survivor")
    h.to_unmasking(masked=[1, 2, 3, 4, 5])
    req = h.request(1)
    assert req.survivors == (1, 2, 3, 4, 5) and req.dropped == (6,)
    key6 = h.signing_keys[6]
    root = h.clients[1].state.survivors_root
    forged = Signature(signer=6, signature=key6.sign(session.consistency_statement(req.session_id, root)))
    bad = rewrite(h.params, h.outbox[1], signatures=(*req.signatures, forged))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="not flagged as a survivor")


# --------------------------------------------------------------------------- a split view


def test_split_survivor_views_make_signatures_useless_across_groups_and_never_yield_a_wrong_sum():
    """The server tells {1, 2, 3, 6} that everyone survived and {4, 5} that 6 dropped,
    hoping to collect 6's self-mask seed shares from the first group and its mask
    key shares from the second (which would unmask 6's input)."""
    h = active("split")
    h.to_masked_input()
    h.step()  # all six sent masked inputs; outbox: ConsistencyCheckRequests over (1..6)
    view_a, view_b = (1, 2, 3, 4, 5, 6), (1, 2, 3, 4, 5)
    group_a, group_b = (1, 2, 3, 6), (4, 5)
    for u in group_b:
        h.outbox[u] = codec.encode(forge_consistency(h, u, view_b))
    signatures = {}
    for u in (*group_a, *group_b):
        signatures[u] = decode(h.params, h.answer(u)).signature
    # The server's own check refuses the signatures over the wrong view.
    for u in group_b:
        state = h.server.state
        with pytest.raises(RemoteProtocolError) as info:
            h.server.receive(u, h.replies["ConsistencyCheckResponse"][u])
        assert info.value.reason is AbortReason.AUTHENTICATION
        assert h.server.state is state
    for u in group_a:
        h.server.receive(u, h.replies["ConsistencyCheckResponse"][u])
    h.advance()
    sid = h.request(1).session_id
    sigs_a = tuple(Signature(signer=u, signature=signatures[u]) for u in sorted(group_a))
    sigs_b = tuple(Signature(signer=u, signature=signatures[u]) for u in group_b)

    def lie(signed_by):
        return codec.encode(UnmaskingRequest(session_id=sid, survivors=view_b, dropped=(6,), signatures=signed_by))

    assert all(local_lists(h, u, view_b) == (view_b, (6,)) for u in group_b)  # the complete graph: lists = views

    # Group A's signatures do not verify over view B, and view A with them is not what B signed.
    with pytest.raises(RemoteProtocolError) as info:
        h.answer(4, lie(sigs_a))
    assert info.value.reason is AbortReason.AUTHENTICATION
    with pytest.raises(RemoteProtocolError) as info:
        h.answer(5, h.outbox[1])  # the genuine request of group A: survivors (1..6), A's signatures
    assert info.value.reason is AbortReason.INCONSISTENT
    # Group B's own signatures are too few; mixing them with A's fails verification.
    other = active("split")  # an identical round: the same keys, the same signatures
    other.to_masked_input()
    other.step()
    for u in group_b:
        other.outbox[u] = codec.encode(forge_consistency(other, u, view_b))
        other.answer(u)
    with pytest.raises(RemoteProtocolError) as info:
        other.answer(4, lie(sigs_b))
    assert info.value.reason is AbortReason.TOO_FEW_SURVIVORS
    mixed = tuple(sorted((*sigs_b, *sigs_a[:2]), key=lambda s: s.signer))
    with pytest.raises(RemoteProtocolError) as info:
        other.answer(5, lie(mixed))
    assert info.value.reason is AbortReason.AUTHENTICATION
    assert all(isinstance(c.state, ClientAborted) for c in (h.clients[4], h.clients[5], other.clients[4], other.clients[5]))
    # No honest client revealed a share of 6's mask key: only the self-mask seed of 6 can be rebuilt.
    h.deliver(group_a)
    responses = [decode(h.params, h.replies["UnmaskingResponse"][u]) for u in group_a]
    assert all(not r.key_shares for r in responses)
    h.advance()
    assert isinstance(h.server.state, ServerCompleted)
    result = h.server.result()
    assert result.included == view_a
    assert result.total.tolist() == h.expected(view_a)


def test_split_view_where_no_view_reaches_threshold_signatures_aborts_the_round():
    h = active("split-small")
    h.to_masked_input()
    h.step()
    view_b = (1, 2, 3, 4, 5)
    for u in (4, 5):
        h.outbox[u] = codec.encode(forge_consistency(h, u, view_b))
    for u in h.ids:
        h.answer(u)
    # Only 1, 2, 3, 6 signed the true view: drop one so the honest view falls short too.
    for u in (1, 2, 3):
        h.server.receive(u, h.replies["ConsistencyCheckResponse"][u])
    out = h.advance()
    assert h.server.state.reason is AbortReason.TOO_FEW_SURVIVORS
    for u in h.ids:
        if isinstance(h.clients[u].state, ClientR3ConsistencyCheck):
            assert h.clients[u].receive(out[u]) is None
            assert h.clients[u].state.reason is AbortReason.PEER_ABORTED
    with pytest.raises(LocalProtocolError):
        h.server.result()


# --------------------------------------------------------------------------- R1: freshness of signed keys (wire v2)


def _round(counter: int, *, victim_seed: str | None = None) -> Harness:
    """The standard active cohort under one PKI (identity keys fixed by the seed) at ``round_counter``.

    ``victim_seed`` gives client 3 its own randomness, so that its round keys differ from other rounds'.
    """
    params = dataclasses.replace(make_params(6, **ACTIVE), round_counter=counter)
    h = Harness(params, seed="pki")
    if victim_seed is not None:
        h.clients[3] = Client(
            3, params, input=h.inputs[3], identity_key=h.signing_keys[3], pki=h.pki, random=DeterministicRandom(victim_seed)
        )
    return h


def _replay_keys(h: Harness, old: AdvertiseKeys, receiver: int) -> bytes:
    """The ShareKeysRequest for ``receiver`` with ``old`` (signed in another round) in place of its sender's
    fresh keys, at the sender's ring position (the whole ring: the receiver hashes the tree itself)."""
    entries = tuple(old if a.client_id == old.client_id else a for a in h.request(receiver).entries)
    return rewrite(h.params, h.outbox[receiver], entries=entries)


def test_keys_signed_in_an_earlier_round_under_the_same_pki_are_refused_by_the_client():
    earlier = _round(1, victim_seed="round 1 keys").to_share_keys()
    old = decode(earlier.params, earlier.advertised[3])
    assert old.signature  # genuinely signed by client 3's identity key, in round 1
    now = _round(2, victim_seed="round 2 keys").to_share_keys()
    assert now.pki == earlier.pki and decode(now.params, now.advertised[3]).c_pk != old.c_pk
    bad = _replay_keys(now, old, receiver=1)
    assert_aborted(now, 1, AbortReason.AUTHENTICATION, bad, later=[now.outbox[1]], detail="client 3")


def test_keys_signed_in_an_earlier_round_are_refused_by_the_server_too():
    earlier = _round(1, victim_seed="round 1 keys").to_share_keys()
    now = _round(2)
    with pytest.raises(RemoteProtocolError) as info:
        now.server.receive(3, earlier.advertised[3])
    assert info.value.reason is AbortReason.AUTHENTICATION


def test_the_signed_statement_binds_the_round_counter():
    params = make_params(6, **ACTIVE)
    keys = (bytes([1]) * 32, bytes([2]) * 32)
    statements = {
        session.advertise_statement(dataclasses.replace(params, round_counter=r), 3, *keys) for r in (0, 1, 2**64 - 1)
    }
    assert len(statements) == 3


def test_a_client_refuses_a_round_counter_it_has_already_used():
    h = _round(5)
    params = h.params
    kw = dict(input=h.inputs[1], identity_key=h.signing_keys[1], pki=h.pki)
    for last in (5, 6, 2**64):
        with pytest.raises(ValueError, match="round_counter=5 is not above last_round"):
            Client(1, params, last_round=last, **kw)
    with pytest.raises(TypeError, match="last_round"):
        Client(1, params, last_round=4.0, **kw)
    assert Client(1, params, last_round=4, **kw).start()


def test_same_counter_replay_is_what_the_monotonic_counter_rules_out():
    # Contrast: a server that gets the SAME counter used twice (two sessions at round 1) can replay the keys
    # of the first into the second: the signature verifies. This is why each client keeps the counter strictly
    # increasing itself (last_round) instead of taking it from the server.
    earlier = _round(1, victim_seed="first session").to_share_keys()
    again = _round(1, victim_seed="second session").to_share_keys()
    bad = _replay_keys(again, decode(earlier.params, earlier.advertised[3]), receiver=1)
    assert again.answer(1, bad) is not None


# --------------------------------------------------------------------------- R1: lying key trees (wire v3)
#
# Harary(4) over 12 clients, semi-malicious: each client receives the 5 ring positions around it and one
# multiproof. The server below builds its own trees (tests/secagg/protocol/conftest.py: no ordering checks).

SPARSE = dict(k=4, t=3, threat="semi-malicious", dim=3, bits=12)


def sparse(seed: str = "lying-tree", advertise=None) -> Harness:
    return Harness(make_params(12, **SPARSE), seed=seed).to_share_keys(advertise=advertise)


def _window_start(ring, u: int) -> int:
    return ([a.client_id for a in ring].index(u) - 2) % len(ring)


def _lie(h: Harness, u: int, ring, **kw) -> bytes:
    seed = h.request(u).graph_seed
    return codec.encode(forge_share_keys(seed, ring, _window_start(ring, u), 5, **kw))


def test_an_out_of_order_tree_that_moves_a_stranger_next_to_the_client_aborts_inconsistent():
    h = sparse()
    ring = h.honest_ring()
    p = [a.client_id for a in ring].index(1)
    stranger = ring[(p + 6) % 12]
    lie = [a for a in ring if a.client_id != stranger.client_id]
    lie.insert(lie.index(ring[p]) + 1, stranger)  # the stranger becomes 1's right neighbour
    assert len(lie) == 12
    assert_aborted(h, 1, AbortReason.INCONSISTENT, _lie(h, 1, lie), later=[h.outbox[1]], detail="does not verify")


def test_an_out_of_order_tree_with_made_up_ring_keys_that_look_sorted_aborts_inconsistent():
    # The server even commits to keys of its choosing that ARE sorted; the client computes each key itself.
    h = sparse()
    ring = h.honest_ring()
    p = [a.client_id for a in ring].index(1)
    stranger = ring[(p + 6) % 12]
    lie = [a for a in ring if a.client_id != stranger.client_id]
    lie.insert(lie.index(ring[p]) + 1, stranger)
    made_up = [bytes([i]) * 32 for i in range(1, 13)]  # strictly increasing
    bad = _lie(h, 1, lie, keys=made_up)
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="does not verify")


def test_skipping_an_honest_neighbour_under_the_honest_proof_aborts_inconsistent():
    h = sparse()
    ring = h.honest_ring()
    p = [a.client_id for a in ring].index(1)
    req = h.request(1)
    shifted = (ring[(p - 2) % 12], ring[(p - 1) % 12], ring[p], ring[(p + 2) % 12], ring[(p + 3) % 12])  # skips p + 1
    bad = rewrite(h.params, h.outbox[1], entries=shifted)
    assert req.proof == decode(h.params, bad).proof
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="does not verify")


def test_skipping_an_honest_neighbour_in_a_consistent_smaller_ring_is_another_session_its_peers_refuse():
    """The server drops 1's right neighbour v from the ring it shows client 1 only (a sorted, consistent tree
    over m - 1 clients). Client 1 accepts, but its session id differs from everyone else's, so the share it
    addresses to a neighbour it has in both views fails to decrypt there: the lie buys the server nothing
    it could not get by making v drop before R0 for everyone."""
    h = sparse()
    ring = h.honest_ring()
    p = [a.client_id for a in ring].index(1)
    v = ring[(p + 1) % 12].client_id
    lie = [a for a in ring if a.client_id != v]
    reply = decode(h.params, h.answer(1, _lie(h, 1, lie)))
    honest = {u: decode(h.params, h.answer(u)) for u in h.ids if u != 1}
    assert len({r.session_id for r in honest.values()}) == 1
    assert reply.session_id != honest[2].session_id
    w = ring[(p - 1) % 12].client_id  # a neighbour of 1 in both views
    blob = next(s.blob for s in reply.shares if s.peer == w)
    lying_forward = MaskedInputRequest(
        session_id=honest[w].session_id,
        shares=tuple(sorted((AddressedShare(peer=1, blob=blob), *_inbox(h, honest, w)), key=lambda s: s.peer)),
    )
    with pytest.raises(RemoteProtocolError) as info:
        h.answer(w, codec.encode(lying_forward))
    assert info.value.reason is AbortReason.AUTHENTICATION
    assert "client 1" in info.value.detail


def _inbox(h: Harness, replies, w: int):
    return [AddressedShare(peer=u, blob=s.blob) for u, r in replies.items() if u != w for s in r.shares if s.peer == w]


def test_a_duplicated_leaf_inside_the_window_is_undecodable():
    h = sparse()
    entries = list(h.request(1).entries)
    entries[4] = entries[3]
    data = bytearray(h.outbox[1])
    body = codec.encode(h.request(1))
    size = len(codec.encode(entries[3])) - 2
    off = 2 + 32 + 12
    data[off + 4 * size : off + 5 * size] = body[off + 3 * size : off + 4 * size]
    state = h.clients[1].state
    with pytest.raises(DecodeError, match="distinct"):
        h.clients[1].receive(bytes(data))
    assert h.clients[1].state is state


def test_a_duplicated_leaf_just_outside_the_window_fails_the_ordering_check():
    h = sparse(advertise=range(1, 12))  # m = 11, so the lie fits in n = 12
    ring = h.honest_ring()
    p = [a.client_id for a in ring].index(1)
    edge = ring[(p + 2) % 11]
    lie = list(ring)
    lie.insert(lie.index(edge) + 1, edge)  # edge, then edge again at the next position (outside 1's window)
    assert len(lie) == 12 and len({a.client_id for a in lie}) == 11
    assert_aborted(h, 1, AbortReason.INCONSISTENT, _lie(h, 1, lie), later=[h.outbox[1]], detail="does not verify")


def test_a_sibling_range_lie_is_refused_or_is_another_session():
    # The parent hash binds both children's ranges: moving a sibling's lo or hi changes the root.
    h0 = sparse()
    proof = h0.request(1).proof
    honest = decode(h0.params, h0.answer(2)).session_id
    outcomes = []
    for item in range(len(proof) // 96):
        for field in (0, 32):  # lo, hi
            h = sparse()
            at = 96 * item + field + 31  # the last byte of the big-endian key
            lied = flip(proof, at, 0x01)
            try:
                sid = decode(h.params, h.answer(1, rewrite(h.params, h.outbox[1], proof=lied))).session_id
            except RemoteProtocolError as exc:
                assert exc.reason is AbortReason.INCONSISTENT
                outcomes.append("refused")
                continue
            assert sid != honest
            outcomes.append("other session")
    assert "other session" in outcomes  # some lies pass every ordering check: only the hash catches them


# --------------------------------------------------------------------------- sparse active: a ring of the server's choosing
#
# Documented limitations (SPEC.md, "Threat models", active, "A ring of the server's choosing"): on a Harary
# graph a client sees only its window of the ring, so the server may show it a ring made of clients it picked.
# The tests play the lie with the real client code for everyone (the corrupted clients run it too; the
# adversary reads their states) and recover one honest input exactly from what that client sent.

FAKE = dict(k=4, t=3, threat="active", dim=5, bits=24)  # Harary(4) over 12, t = 3: 2t > k + 1, rule 2b with a = 0


def _fake_session(seed: str, members) -> Harness:
    """The session the server runs with ``members`` only (its own honest code over the ring of its choice)."""
    return Harness(make_params(12, **FAKE), seed=seed).to_share_keys(advertise=members)


def _masked(h: Harness, u: int) -> np.ndarray:
    y = np.zeros(h.params.dim, dtype=word_dtype(h.params.bits))
    accumulate_packed(y, decode(h.params, h.replies["MaskedInputResponse"][u]).masked, bits=h.params.bits)
    return y


def _secret(half: dict[int, bytes], t: int) -> bytes:
    """Shamir-reconstruct one secret from ``{holder id: its SHARE_SIZE-byte share}`` (first t used)."""
    xs = sorted(half)[:t]
    ys = np.stack([shamir.shares_from_bytes(half[v], 1) for v in xs])
    return shamir.reconstruct(xs, ys, threshold=t)[0]


def _unmask(h: Harness, u: int, sid: bytes, seed: bytes, pair_seeds: dict[int, bytes]) -> list[int]:
    """``y_u - PRG(b_u) - sum of u's pair masks``: ``u``'s input, if the secrets are right."""
    p = h.params
    zero = np.zeros(p.dim, dtype=word_dtype(p.bits))
    peers = sorted(pair_seeds)
    mask = mask_input(zero, bits=p.bits, session_id=sid, self_seed=seed, pair_seeds=[pair_seeds[v] for v in peers],
                      pair_signs=[session.pair_sign(u, v) for v in peers])
    return [(int(a) - int(b)) % (1 << p.bits) for a, b in zip(_masked(h, u), mask)]


def _revealed(h: Harness, holders, owner: int, kind: str) -> dict[int, bytes]:
    """``{holder: its revealed share of owner's b (kind "seed_shares") or s_sk ("key_shares")}`` from the replies."""
    out = {}
    for u in holders:
        response = decode(h.params, h.replies["UnmaskingResponse"][u])
        out.update({u: r.share for r in getattr(response, kind) if r.owner == owner})
    return out


@pytest.mark.parametrize("corrupted", [2, 5], ids=["t-1: H(x) is the whole ring", "k+1: a Harary ring, H(x) 5 of 6"])
def test_sparse_active_fake_ring_isolates_one_input_documented_limitation(corrupted):
    """A LIMITATION, not a guarantee: SPEC.md, "Threat models", active, "A ring of the server's choosing".

    The server shows honest client x a ring of x and ``corrupted >= t - 1`` corrupted clients (their own
    signed keys, its own Merkle root and session id) while the other honest clients run a round of their own.
    x checks only ``m >= t``, every holder of x is corrupted, and x's input comes out of x's own masked input
    with x's own share of b_x and the corrupted holders' shares and mask keys: x completes without a complaint.
    """
    x, bad = 1, list(range(2, 2 + corrupted))
    h = _fake_session("fake ring", [x, *bad])
    assert h.request(x).m == corrupted + 1 >= h.params.threshold  # x's only check on the ring's size
    h.deliver()
    s_keys = {c: h.clients[c].state.s_keys for c in bad}  # the corrupted clients' R1 states: the adversary's
    h.advance()
    alive = [s.peer for s in h.request(x).shares]  # whose shares the server forwarded to x: x masks with them
    assert set(alive) <= set(bad) and len(alive) >= h.params.threshold - 1
    h.step()  # masked inputs
    h.step()  # consistency check: every signer of x's root is x or corrupted
    h.deliver()
    assert isinstance(h.clients[x].state, ClientCompleted)
    sid = decode(h.params, h.replies["MaskedInputResponse"][x]).session_id
    b_shares = _revealed(h, (x, *bad), x, "seed_shares")  # x flagged 1: x and its corrupted holders reveal b_x
    assert x in b_shares and len(b_shares) >= h.params.threshold
    s_pk_x = h.adverts()[x].s_pk
    pair = {c: session.mask_seed(s_keys[c], s_pk_x, sid, c, x) for c in alive}
    assert _unmask(h, x, sid, _secret(b_shares, h.params.threshold), pair) == h.inputs[x].tolist()
    # Meanwhile the other honest clients finish a round of their own, which x simply missed.
    rest = Harness(make_params(12, **FAKE), seed="fake ring")
    result = rest.to_unmasking(advertise=[u for u in rest.ids if u != x]).finish()
    assert x not in result.included and result.total.tolist() == rest.expected(result.included)


def test_sparse_active_ring_of_k_plus_1_gives_both_secrets_with_2t_minus_k_minus_1_corrupted_documented_limitation():
    """A LIMITATION, not a guarantee: SPEC.md, "Threat models", active, "A ring of the server's choosing".

    Fewer corrupted clients suffice when the server also puts honest clients in the ring it picks: a ring of
    k + 1 = 5 (so every H(.) is the whole ring) with the victim w, honest g1, honest g2, g3 and ONE corrupted
    client c (2t - k - 1 = 1; t = 3 is rule 2b's threshold for a = 0, and w's place in the true ring of 12
    plays no part). Two roots: w and g1 see everyone alive and g2, g3 see w dropped; c signs
    both. Each root has t = 3 signers, so {w, g1, c} reveal b_w and {g2, g3, c} reveal s_sk_w: the
    theorem's premise 2t > k + 1 + c_w fails (6 > 6), and w's input comes out of w's masked input.
    """
    w, g1, g2, g3, c = 1, 2, 3, 4, 5
    h = _fake_session("both secrets", [w, g1, g2, g3, c])
    assert h.request(w).m == 5 == h.params.neighbors + 1
    h.step()
    assert sorted(s.peer for s in h.request(w).shares) == [g1, g2, g3, c]  # w masks with all four
    h.step()  # masked inputs; outbox: the honest ConsistencyCheckRequests (everyone alive)
    everyone, without_w = (w, g1, g2, g3, c), (g1, g2, g3, c)
    for u in (g2, g3):
        h.outbox[u] = codec.encode(forge_consistency(h, u, without_w))
    sigs = {u: decode(h.params, h.answer(u)).signature for u in (w, g1, g2, g3)}
    sid = h.clients[w].state.sid
    key_c = h.signing_keys[c]  # the corrupted client signs both roots
    sig_all = {w: sigs[w], g1: sigs[g1], c: key_c.sign(session.consistency_statement(sid, flag_root(ring_of(h), everyone)))}
    sig_drop = {g2: sigs[g2], g3: sigs[g3], c: key_c.sign(session.consistency_statement(sid, flag_root(ring_of(h), without_w)))}
    held_c = h.clients[c].state.held  # c's own decrypted shares (its R2 state)
    for u in (w, g1):
        h.answer(u, codec.encode(unmasking_for(h, u, everyone, sig_all)))
    for u in (g2, g3):
        h.answer(u, codec.encode(unmasking_for(h, u, without_w, sig_drop)))
    assert all(isinstance(h.clients[u].state, ClientCompleted) for u in (w, g1, g2, g3))
    half = shamir.SHARE_SIZE
    b_w = _secret(_revealed(h, (w, g1), w, "seed_shares") | {c: held_c[w][:half]}, 3)
    s_sk_w = _secret(_revealed(h, (g2, g3), w, "key_shares") | {c: held_c[w][half:]}, 3)
    s_keys_w = kex.X25519KeyPair.from_private_bytes(s_sk_w)
    assert s_keys_w.public_bytes == h.adverts()[w].s_pk
    adverts = h.adverts()
    pair = {v: session.mask_seed(s_keys_w, adverts[v].s_pk, sid, w, v) for v in (g1, g2, g3, c)}
    assert _unmask(h, w, sid, b_w, pair) == h.inputs[w].tolist()
    # The honest helpers' inputs stay hidden: b and s_sk of each came from one root only.
    assert not _revealed(h, (w, g1, g2, g3), g1, "key_shares")


def test_complete_graph_active_refuses_the_fake_ring_a_rule_2b_adversary_could_fill():
    """The contrast (SPEC.md, same paragraph): on the complete graph the ring is every participant and rule 2b
    reads 2t > n + a with a = every corrupted client, so t - 1 >= a: a ring of x and the corrupted clients is
    below t. Standard active cohort n = 6, t = 4 (a <= 1): x and one corrupted client are refused."""
    h = active("complete fake ring").to_share_keys()
    seed = h.request(1).graph_seed
    ring = spec_ring(seed, [a for u, a in h.adverts().items() if u in (1, 2)])
    lie = codec.encode(forge_share_keys(seed, ring, 0, 2))
    assert_aborted(h, 1, AbortReason.TOO_FEW_SURVIVORS, lie, later=[h.outbox[1]], detail="2 clients advertised keys, threshold t = 4")


def test_the_same_two_root_ring_without_a_corrupted_client_is_refused_by_the_quorum():
    """The contrast (SPEC.md, same paragraph): with |C| = 0 < min(t - 1, 2t - k - 1) = 1 the split of five
    honest clients into {w, g1} (everyone alive) and {g2, g3, g4} (w dropped) leaves the first root with
    two signers, below t = 3: w and g1 refuse to reveal anything of w."""
    w, g1, g2, g3, g4 = 1, 2, 3, 4, 5
    h = _fake_session("no corrupted", [w, g1, g2, g3, g4])
    h.step()
    h.step()
    everyone, without_w = (w, g1, g2, g3, g4), (g1, g2, g3, g4)
    for u in (g2, g3, g4):
        h.outbox[u] = codec.encode(forge_consistency(h, u, without_w))
    sigs = {u: decode(h.params, h.answer(u)).signature for u in everyone}
    for u in (w, g1):
        bad = codec.encode(unmasking_for(h, u, everyone, {v: sigs[v] for v in (w, g1)}))
        assert_aborted(h, u, AbortReason.TOO_FEW_SURVIVORS, bad, later=[bad], detail="2 consistency signatures")
