"""The active model against a lying server: signed keys, the consistency check, split views.

Standard cohort: complete graph, n = 6, t = 4, active model, every client with
a long-term Ed25519 identity in the PKI.
"""

from __future__ import annotations

import dataclasses

import pytest

from secagg import codec
from secagg.errors import AbortReason, LocalProtocolError, RemoteProtocolError
from secagg.messages import AdvertiseKeys, ConsistencyCheckRequest, Signature, UnmaskingRequest
from secagg.primitives import kex, merkle, sign
from secagg.primitives.sign import Ed25519SigningKey
from secagg.protocol import session
from secagg.protocol.client import Client, ClientAborted, ClientCompleted, ClientR1ShareKeys, ClientR3ConsistencyCheck
from secagg.protocol.server import Server, ServerCompleted
from tests.detrandom import DeterministicRandom
from tests.secagg.protocol.conftest import Harness, decode, flip, make_params, rewrite
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


def test_share_keys_request_with_a_modified_neighbour_signature_aborts_authentication():
    h = active().to_share_keys()
    entries = list(h.request(1).advertised)
    entries[2] = dataclasses.replace(entries[2], signature=flip(entries[2].signature, 10))
    bad = rewrite(h.params, h.outbox[1], advertised=tuple(entries))
    assert_aborted(h, 1, AbortReason.AUTHENTICATION, bad, later=[h.outbox[1]], detail="client 3")


@pytest.mark.parametrize("forgery", ["empty", "swapped", "signed-by-server"])
def test_share_keys_request_with_a_forged_neighbour_signature_aborts_authentication(forgery):
    h = active().to_share_keys()
    entries = list(h.request(1).advertised)
    target = entries[4]
    if forgery == "empty":
        signature = b""
    elif forgery == "swapped":
        signature = entries[3].signature
    else:
        server_key = Ed25519SigningKey.generate(random=DeterministicRandom("server identity"))
        signature = server_key.sign(session.advertise_statement(h.params, target.client_id, target.c_pk, target.s_pk))
    entries[4] = dataclasses.replace(target, signature=signature)
    bad = rewrite(h.params, h.outbox[1], advertised=tuple(entries))
    assert_aborted(h, 1, AbortReason.AUTHENTICATION, bad, later=[h.outbox[1]], detail="client 5")


def _substitute_keys(h: Harness, victim: int, receiver: int) -> bytes:
    """The ShareKeysRequest for ``receiver`` with ``victim``'s keys replaced by the server's own,
    under a Merkle tree rebuilt over the substituted keys (so every proof checks)."""
    req = h.request(receiver)
    adverts = {u: decode(h.params, data) for u, data in h.advertised.items()}
    mine = DeterministicRandom("server's keys")
    adverts[victim] = dataclasses.replace(
        adverts[victim],
        c_pk=kex.X25519KeyPair.generate(random=mine).public_bytes,
        s_pk=kex.X25519KeyPair.generate(random=mine).public_bytes,
    )
    ids = list(req.participants)
    levels = merkle.merkle_levels([session.key_leaf(adverts[u]) for u in ids])
    holders = [a.client_id for a in req.advertised]
    return rewrite(
        h.params,
        h.outbox[receiver],
        advertised=tuple(adverts[u] for u in holders),
        proofs=tuple(merkle.merkle_proof(levels, ids.index(u)) for u in holders),
    )


def test_server_substituting_a_neighbours_keys_under_a_consistent_merkle_tree_is_caught_by_the_signature():
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
    bad = rewrite(h.params, h.outbox[1], survivors=(2, 3, 4, 5, 6))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="own id")


def test_consistency_check_request_naming_a_client_that_never_advertised_aborts_inconsistent():
    h = active("cc-stranger")
    h.to_masked_input(advertise=[1, 2, 3, 4, 5])
    h.step()
    bad = rewrite(h.params, h.outbox[1], survivors=(1, 2, 3, 4, 5, 6))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="never advertised")


def test_consistency_check_request_with_fewer_than_threshold_survivors_aborts_too_few_survivors():
    h = at_consistency_check()
    bad = rewrite(h.params, h.outbox[1], survivors=(1, 2, 3))
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
    response = decode(h.params, h.answer(1))
    sign.verify(h.pki[1], session.consistency_statement(sid, (1, 2, 3, 4, 5, 6)), response.signature)
    assert h.clients[1].state.signed == (1, 2, 3, 4, 5, 6)


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
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="differs from the one signed")


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
    forged = Signature(signer=6, signature=key6.sign(session.consistency_statement(req.session_id, req.survivors)))
    bad = rewrite(h.params, h.outbox[1], signatures=(*req.signatures, forged))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="not a survivor")


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
        h.tamper(u, survivors=view_b)
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
        other.tamper(u, survivors=view_b)
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
        h.tamper(u, survivors=view_b)
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
    fresh keys, under a Merkle tree rebuilt over the replayed keys (so every proof checks)."""
    req = h.request(receiver)
    adverts = {u: decode(h.params, data) for u, data in h.advertised.items()}
    adverts[old.client_id] = old
    ids = list(req.participants)
    levels = merkle.merkle_levels([session.key_leaf(adverts[u]) for u in ids])
    holders = [a.client_id for a in req.advertised]
    return rewrite(
        h.params,
        h.outbox[receiver],
        advertised=tuple(adverts[u] for u in holders),
        proofs=tuple(merkle.merkle_proof(levels, ids.index(u)) for u in holders),
    )


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
