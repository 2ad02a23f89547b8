"""Every rule a client enforces against the server, one behaviour per test.

The standard scenario (complete graph, n = 6, t = 4, semi-malicious): client 6
advertises keys and then vanishes (it never sends shares), client 5 shares its
keys and then vanishes (it never sends a masked input). Client 1 therefore
holds shares from 2, 3, 4, 5, and the honest UnmaskingRequest tells it
survivors (1, 2, 3, 4) and dropped (5,).
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg import codec
from secagg.errors import AbortReason, DecodeError, RemoteProtocolError
from secagg.messages import (
    Abort,
    AddressedShare,
    AdvertiseKeys,
    ConsistencyCheckRequest,
    ShareKeysResponse,
    Signature,
    UnmaskingRequest,
    UnmaskingResponse,
)
from secagg.primitives import kex
from secagg.protocol.client import ClientAborted, ClientCompleted, ClientR0AdvertiseKeys, ClientR2MaskedInput
from tests.detrandom import DeterministicRandom
from tests.secagg.protocol.conftest import Harness, decode, flip, forge_share_keys, make_params, rewrite

MALICIOUS = dict(t=4, threat="semi-malicious", dim=6, bits=20)


def scenario(seed="rules", **kw) -> Harness:
    """Clients 1..6; 6 never shares keys, 5 never sends a masked input; outbox: UnmaskingRequests."""
    h = Harness(make_params(6, **{**MALICIOUS, **kw}), seed=seed)
    h.to_unmasking(share=[1, 2, 3, 4, 5], masked=[1, 2, 3, 4])
    return h


def assert_aborted(h: Harness, u: int, reason: AbortReason, data: bytes, *, later: list[bytes], detail: str = ""):
    """Client ``u`` aborts with ``reason`` on ``data``; the abort is sticky and announced."""
    client = h.clients[u]
    with pytest.raises(RemoteProtocolError) as info:
        h.answer(u, data)
    assert info.value.reason is reason
    assert detail in info.value.detail
    state = client.state
    assert isinstance(state, ClientAborted)
    assert state.reason is reason
    assert client.finished
    abort = decode(h.params, client.abort_message)
    assert isinstance(abort, Abort) and abort.reason is reason
    for message in later:  # sticky: even the genuine message is refused now
        with pytest.raises(RemoteProtocolError) as again:
            client.receive(message)
        assert again.value.reason is AbortReason.OUT_OF_ROUND
        assert client.state is state
        assert decode(h.params, client.abort_message) == abort


def assert_refused_unchanged(h: Harness, u: int, data: bytes, detail: str) -> None:
    """Client ``u``'s decoder refuses ``data`` (malformed) and the client's state does not move."""
    client = h.clients[u]
    before = client.state
    with pytest.raises(RemoteProtocolError) as info:
        h.answer(u, data)
    assert info.value.reason is AbortReason.MALFORMED
    assert detail in str(info.value)
    assert client.state is before and not client.finished


def tampered(h: Harness, u: int, **changes) -> bytes:
    return rewrite(h.params, h.outbox[u], **changes)


# --------------------------------------------------------------------------- R4: UnmaskingRequest


def test_honest_unmasking_request_lists_survivors_and_the_dropped_neighbour():
    h = scenario()
    req = h.request(1)
    assert (req.survivors, req.dropped) == ((1, 2, 3, 4), (5,))
    response = decode(h.params, h.answer(1))
    assert [s.owner for s in response.seed_shares] == [1, 2, 3, 4]
    assert [s.owner for s in response.key_shares] == [5]
    assert isinstance(h.clients[1].state, ClientCompleted)


def test_unmasking_request_listing_a_client_both_as_survivor_and_dropped_aborts_inconsistent():
    h = scenario()
    bad = tampered(h, 1, survivors=(1, 2, 3, 4, 5), dropped=(5,))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="both alive and dropped")
    assert "UnmaskingResponse" not in h.replies


def test_unmasking_request_listing_the_client_itself_as_dropped_aborts_inconsistent():
    h = scenario()
    bad = tampered(h, 1, survivors=(2, 3, 4), dropped=(1, 5))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="listed as dropped")


def test_unmasking_request_omitting_the_client_from_the_survivors_aborts_inconsistent():
    h = scenario()
    bad = tampered(h, 1, survivors=(2, 3, 4), dropped=(5,))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="missing from the survivors")


@pytest.mark.parametrize("dropped", [(5, 6), (6,)], ids=["advertised-but-never-shared", "only-the-silent-one"])
def test_unmasking_request_dropping_a_neighbour_whose_shares_never_arrived_aborts_inconsistent(dropped):
    h = scenario()
    bad = tampered(h, 1, dropped=dropped)
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="never received")


def test_unmasking_request_with_fewer_than_threshold_survivors_aborts_too_few_survivors():
    h = scenario()
    bad = tampered(h, 1, survivors=(1, 2, 3), dropped=(5,))  # 3 live holders, t = 4
    assert_aborted(h, 1, AbortReason.TOO_FEW_SURVIVORS, bad, later=[h.outbox[1]])


def test_unmasking_survivors_beyond_the_clients_shares_do_not_count_towards_the_threshold():
    h = scenario()
    # 6 never sent shares, so naming it a survivor cannot lift client 1 to t = 4 live holders.
    bad = tampered(h, 1, survivors=(1, 2, 3, 6), dropped=(5,))
    assert_aborted(h, 1, AbortReason.TOO_FEW_SURVIVORS, bad, later=[h.outbox[1]])


def test_unmasking_request_naming_a_non_neighbour_as_survivor_aborts_inconsistent():
    h = Harness(make_params(8, k=2, t=2), seed="stranger").to_unmasking()
    req = h.request(1)
    stranger = min(set(range(2, 9)) - set(req.survivors) - set(req.dropped))
    # a survivor list longer than a holder set (k + 1 = 3) is refused by the decoder already
    assert len(req.survivors) == 3
    bad = tampered(h, 1, survivors=tuple(sorted((*req.survivors, stranger))))
    assert_refused_unchanged(h, 1, bad, "survivors: count 4 exceeds the limit 3")
    # within the count, a stranger in place of a neighbour is the client's rule
    neighbour = max(v for v in req.survivors if v != 1)
    survivors = tuple(sorted((*(v for v in req.survivors if v != neighbour), stranger)))
    bad = tampered(h, 1, survivors=survivors)
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="non-neighbours")


def test_unmasking_request_carrying_signatures_outside_the_active_model_aborts_inconsistent():
    h = scenario()
    bad = tampered(h, 1, signatures=(Signature(signer=2, signature=bytes(64)),))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="outside the active model")


# --------------------------------------------------------------------------- never both shares


def test_never_both_shares_of_one_peer_in_one_request_nor_across_two_requests():
    h = scenario()
    honest = h.outbox[1]
    # One request asking for both shares of 5: rejected, nothing revealed.
    greedy = tampered(h, 2, survivors=(1, 2, 3, 4, 5), dropped=(5,))
    with pytest.raises(RemoteProtocolError) as info:
        h.answer(2, greedy)
    assert info.value.reason is AbortReason.INCONSISTENT
    assert 2 not in h.replies.get("UnmaskingResponse", {})
    # The honest request: 5 dropped, so its key share and no seed share.
    response = decode(h.params, h.answer(1, honest))
    assert {s.owner for s in response.key_shares} == {5}
    assert 5 not in {s.owner for s in response.seed_shares}
    # A second request now claiming 5 survived (to get its seed share too) is out of round.
    second = rewrite(h.params, honest, survivors=(1, 2, 3, 4, 5), dropped=())
    state = h.clients[1].state
    with pytest.raises(RemoteProtocolError) as info:
        h.answer(1, second)
    assert info.value.reason is AbortReason.OUT_OF_ROUND
    assert h.clients[1].state is state
    assert h.replies["UnmaskingResponse"] == {1: h.replies["UnmaskingResponse"][1]}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from([1, 2, 3, 4, 5, 6]), unique=True).map(lambda x: tuple(sorted(x))),
    st.lists(st.sampled_from([1, 2, 3, 4, 5, 6]), unique=True).map(lambda x: tuple(sorted(x))),
)
def test_unmasking_response_never_holds_both_shares_of_one_owner_whatever_the_server_claims(survivors, dropped):
    h = Harness(make_params(6, t=2, dim=2, bits=8), seed="never-both")
    h.to_unmasking(share=[1, 2, 3, 4, 5], masked=[1, 2, 3, 4])
    try:
        reply = h.answer(1, tampered(h, 1, survivors=survivors, dropped=dropped))
    except RemoteProtocolError:
        assert isinstance(h.clients[1].state, ClientAborted)
        return
    response = decode(h.params, reply)
    seeds = {s.owner for s in response.seed_shares}
    keys = {s.owner for s in response.key_shares}
    assert not seeds & keys
    assert seeds <= set(survivors) and 1 in seeds
    assert keys == set(dropped) <= {2, 3, 4, 5}
    assert not set(survivors) & set(dropped)


# --------------------------------------------------------------------------- R1: ShareKeysRequest (wire v3)


def share_keys_scenario(n=6, **kw) -> Harness:
    """The complete graph: every client gets the whole ring (start 0, no proof)."""
    return Harness(make_params(n, **{**MALICIOUS, **kw}), seed="share-keys").to_share_keys()


def fresh_key(label: str) -> bytes:
    return kex.X25519KeyPair.generate(random=DeterministicRandom(label)).public_bytes


def own_index(h: Harness, u: int = 1) -> int:
    return [a.client_id for a in h.request(u).entries].index(u)


def test_whole_ring_window_is_every_participant_in_ring_order_from_position_zero():
    h = share_keys_scenario()
    req = h.request(1)
    assert (req.m, req.start, req.proof) == (6, 0, b"")
    assert list(req.entries) == h.honest_ring(req.graph_seed)
    assert all(h.outbox[u] == h.outbox[1] for u in h.ids)  # one broadcast


def test_share_keys_request_without_the_clients_own_keys_aborts_inconsistent():
    h = share_keys_scenario()
    req = h.request(1)
    i = own_index(h)
    bad = tampered(h, 1, entries=req.entries[:i] + req.entries[i + 1 :])
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="expected a window of 6")


def test_share_keys_request_whose_whole_ring_omits_the_client_aborts_inconsistent():
    h = Harness(make_params(7, **MALICIOUS), seed="share-keys").to_share_keys(advertise=range(1, 7))
    req = h.request(1)
    stranger = AdvertiseKeys(client_id=7, c_pk=fresh_key("7c"), s_pk=fresh_key("7s"))
    bad = tampered(h, 1, entries=tuple(a if a.client_id != 1 else stranger for a in req.entries))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="own id missing")


@pytest.mark.parametrize("field", ["c_pk", "s_pk"])
def test_share_keys_request_changing_the_clients_own_keys_aborts_inconsistent(field):
    h = share_keys_scenario()
    entries = list(h.request(1).entries)
    i = own_index(h)
    entries[i] = dataclasses.replace(entries[i], **{field: fresh_key(field)})
    bad = tampered(h, 1, entries=tuple(entries))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="own advertised keys")


@pytest.mark.parametrize(
    "copy", [("c_pk", 1, "c_pk", 2), ("s_pk", 3, "s_pk", 4), ("c_pk", 2, "s_pk", 2), ("s_pk", 0, "c_pk", 4)]
)
def test_share_keys_request_with_two_equal_keys_aborts_inconsistent(copy):
    source_field, source, target_field, target = copy
    h = share_keys_scenario()
    entries = list(h.request(1).entries)
    others = [i for i in range(6) if i != own_index(h)]  # indices into the neighbours' entries
    source, target = others[source], others[target]
    entries[target] = dataclasses.replace(entries[target], **{target_field: getattr(entries[source], source_field)})
    bad = tampered(h, 1, entries=tuple(entries))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="equal")


def test_share_keys_request_missing_a_neighbour_aborts_inconsistent():
    h = share_keys_scenario()
    req = h.request(1)
    j = (own_index(h) + 3) % 6
    bad = tampered(h, 1, entries=req.entries[:j] + req.entries[j + 1 :])
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="expected a window")


def test_whole_ring_window_not_starting_at_position_zero_aborts_inconsistent():
    h = share_keys_scenario()
    bad = tampered(h, 1, start=1)
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="start at ring position 0")


def test_whole_ring_out_of_ring_order_aborts_inconsistent():
    h = share_keys_scenario()
    entries = list(h.request(1).entries)
    entries[0], entries[-1] = entries[-1], entries[0]
    bad = tampered(h, 1, entries=tuple(entries))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="does not verify")


def test_share_keys_request_with_a_substituted_neighbour_key_gives_another_session_and_no_share_decrypts():
    # The complete graph carries no proof: the client hashes the whole ring itself, so a substituted key
    # (semi-malicious: no signatures) is a different root, hence a session no honest peer is in.
    h = share_keys_scenario()
    entries = list(h.request(1).entries)
    j = (own_index(h) + 1) % 6
    entries[j] = dataclasses.replace(entries[j], s_pk=fresh_key("server's own key"))
    reply = h.answer(1, tampered(h, 1, entries=tuple(entries)))
    honest = decode(h.params, h.answer(2)).session_id
    assert decode(h.params, reply).session_id != honest
    for u in range(3, 7):
        h.server.receive(u, h.answer(u))
    h.server.receive(2, h.replies["ShareKeysResponse"][2])
    with pytest.raises(RemoteProtocolError) as info:
        h.server.receive(1, reply)
    assert info.value.reason is AbortReason.REPLAYED  # another session: the server refuses it outright


def test_share_keys_request_with_fewer_than_threshold_participants_aborts_too_few_survivors():
    h = share_keys_scenario()
    req = h.request(1)
    i = own_index(h)
    entries = (req.entries[i], *[a for a in req.entries if a.client_id != 1][:2])
    bad = tampered(h, 1, m=3, entries=entries)
    assert_aborted(h, 1, AbortReason.TOO_FEW_SURVIVORS, bad, later=[h.outbox[1]], detail="3 clients advertised keys")


def test_share_keys_request_naming_an_id_above_n_clients_aborts_malformed():
    h = share_keys_scenario()
    entries = list(h.request(1).entries)
    j = (own_index(h) + 2) % 6
    entries[j] = dataclasses.replace(entries[j], client_id=7)
    bad = tampered(h, 1, entries=tuple(entries))
    assert_aborted(h, 1, AbortReason.MALFORMED, bad, later=[h.outbox[1]], detail="above n_clients")


def test_share_keys_request_repeating_an_entry_is_undecodable_and_changes_nothing():
    h = share_keys_scenario()
    data = bytearray(h.outbox[1])
    req = h.request(1)
    first, second = (codec.encode(req)[2 + 32 + 12 + 72 * i : 2 + 32 + 12 + 72 * (i + 1)] for i in (0, 1))
    data[2 + 32 + 12 + 72 : 2 + 32 + 12 + 144] = first  # entry 1 := entry 0
    state = h.clients[1].state
    with pytest.raises(DecodeError, match="distinct"):
        h.clients[1].receive(bytes(data))
    assert h.clients[1].state is state and second != first


# --------------------------------------------------------------------------- R1: a window of the Harary ring

HARARY = dict(k=4, t=3, dim=3, bits=12)


def harary_window(seed: str = "window") -> Harness:
    """Harary(4) over 12 clients: each request is the 5 ring positions around its receiver, and a multiproof."""
    return Harness(make_params(12, **{**MALICIOUS, **HARARY}), seed=seed).to_share_keys()


def ring_position(h: Harness, u: int) -> int:
    return [a.client_id for a in h.honest_ring()].index(u)


def forged(h: Harness, u: int, ring=None, *, start=None, count=5, **kw) -> bytes:
    req = h.request(u)
    ring = h.honest_ring() if ring is None else ring
    if start is None:
        start = ([a.client_id for a in ring].index(u) - 2) % len(ring)
    return codec.encode(forge_share_keys(req.graph_seed, ring, start, count, **kw))


def test_harary_request_is_the_window_around_the_client_and_the_multiproof_of_its_positions():
    h = harary_window()
    ring = h.honest_ring()
    for u in h.ids:
        p = ring_position(h, u)
        assert h.outbox[u] == forged(h, u)  # the spec's construction, byte for byte
        assert [a.client_id for a in h.request(u).entries] == [ring[(p + d) % 12].client_id for d in range(-2, 3)]


def test_a_client_off_the_centre_of_its_window_aborts_inconsistent():
    h = harary_window()
    p = ring_position(h, 1)
    for start in ((p - 1) % 12, (p - 3) % 12):  # a valid proof, the client at index 1 or 3
        g = harary_window()
        assert_aborted(g, 1, AbortReason.INCONSISTENT, forged(g, 1, start=start), later=[g.outbox[1]], detail="centre")


@pytest.mark.parametrize("count", [3, 4])
def test_a_window_of_the_wrong_size_aborts_inconsistent(count):
    h = harary_window()
    start = (ring_position(h, 1) - count // 2) % 12
    assert_aborted(h, 1, AbortReason.INCONSISTENT, forged(h, 1, start=start, count=count), later=[h.outbox[1]], detail="window of 5")


@pytest.mark.parametrize("count", [6, 7])
def test_a_window_longer_than_max_window_is_refused_by_the_decoder(count):
    h = harary_window()
    start = (ring_position(h, 1) - count // 2) % 12
    assert_refused_unchanged(h, 1, forged(h, 1, start=start, count=count), f"entries: count {count} exceeds the limit 5")


@pytest.mark.parametrize("index", [0, 1, 3, 4])
def test_swapping_a_neighbour_for_a_non_neighbour_under_the_honest_proof_aborts_inconsistent(index):
    h = harary_window()
    req = h.request(1)
    window = {a.client_id for a in req.entries}
    stranger = next(a for a in h.honest_ring() if a.client_id not in window)
    entries = list(req.entries)
    entries[index] = stranger
    bad = tampered(h, 1, entries=tuple(entries))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="does not verify")


@pytest.mark.parametrize("pair", [(0, 1), (3, 4), (0, 4)])
def test_swapping_two_neighbours_in_the_window_aborts_inconsistent(pair):
    h = harary_window()
    entries = list(h.request(1).entries)
    i, j = pair
    entries[i], entries[j] = entries[j], entries[i]
    bad = tampered(h, 1, entries=tuple(entries))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="does not verify")


@pytest.mark.parametrize("change", ["truncated", "extended", "empty", "one item more"])
def test_a_proof_of_the_wrong_length_aborts_inconsistent(change):
    h = harary_window()
    proof = h.request(1).proof
    proof = {
        "truncated": proof[:-96],
        "extended": proof + proof[-96:],
        "empty": b"",
        "one item more": proof + bytes(96),
    }[change]
    bad = tampered(h, 1, proof=proof)
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="does not verify")


def _sid_of(h: Harness, u: int, data: bytes) -> bytes | None:
    """The session id client ``u`` computes from ``data``, or None if it aborts INCONSISTENT on it."""
    try:
        reply = h.answer(u, data)
    except RemoteProtocolError as exc:
        assert exc.reason is AbortReason.INCONSISTENT
        return None
    return decode(h.params, reply).session_id


def _honest_sid(h: Harness) -> bytes:
    return decode(h.params, h.answer(2)).session_id


def test_a_wrong_m_is_refused_outright_or_is_another_session():
    # 10 of 12 clients advertise, so m = 10 and claims up to n = 12 decode.
    refused = 0
    for claim in (6, 7, 8, 9, 11, 12):
        h = Harness(make_params(12, **{**MALICIOUS, **HARARY}), seed="wrong-m").to_share_keys(advertise=range(1, 11))
        req = h.request(1)
        assert req.m == 10
        if req.start >= claim:
            continue
        sid = _sid_of(h, 1, tampered(h, 1, m=claim))
        assert sid is None or sid != _honest_sid(h), claim
        refused += sid is None
    assert refused >= 3


@pytest.mark.parametrize("shift", [-2, -1, 1, 2])
def test_a_wrong_start_is_refused_or_is_another_session(shift):
    h = harary_window()
    req = h.request(1)
    sid = _sid_of(h, 1, tampered(h, 1, start=(req.start + shift) % 12))
    assert sid is None or sid != _honest_sid(h)


def test_a_flipped_proof_byte_is_refused_or_is_another_session_everywhere_in_the_proof():
    h0 = harary_window()
    proof = h0.request(1).proof
    honest = _honest_sid(h0)
    for i in range(0, len(proof), 7):
        h = harary_window()
        sid = _sid_of(h, 1, tampered(h, 1, proof=flip(proof, i, 0x80)))
        assert sid is None or sid != honest, i


# --------------------------------------------------------------------------- R2: MaskedInputRequest


def masked_scenario() -> Harness:
    return Harness(make_params(6, **MALICIOUS), seed="masked").to_masked_input()


def test_masked_input_request_with_a_tampered_share_aborts_authentication():
    h = masked_scenario()
    shares = list(h.request(1).shares)
    shares[2] = dataclasses.replace(shares[2], blob=flip(shares[2].blob, 40))
    bad = tampered(h, 1, shares=tuple(shares))
    assert_aborted(h, 1, AbortReason.AUTHENTICATION, bad, later=[h.outbox[1]])


@pytest.mark.parametrize("where", [0, 11, 12 + 80, 12 + 80 + 15], ids=["nonce", "nonce-end", "ciphertext", "tag"])
def test_masked_input_request_share_flipped_anywhere_aborts_authentication(where):
    h = masked_scenario()
    shares = list(h.request(1).shares)
    shares[0] = dataclasses.replace(shares[0], blob=flip(shares[0].blob, where, 0x80))
    assert_aborted(h, 1, AbortReason.AUTHENTICATION, tampered(h, 1, shares=tuple(shares)), later=[h.outbox[1]])


def test_masked_input_request_share_relabelled_with_another_sender_aborts_authentication():
    h = masked_scenario()
    shares = list(h.request(1).shares)
    assert [s.peer for s in shares] == [2, 3, 4, 5, 6]
    shares[0], shares[1] = (
        AddressedShare(peer=2, blob=shares[1].blob),
        AddressedShare(peer=3, blob=shares[0].blob),
    )
    assert_aborted(h, 1, AbortReason.AUTHENTICATION, tampered(h, 1, shares=tuple(shares)), later=[h.outbox[1]])


def test_masked_input_request_forwarding_a_share_meant_for_another_client_aborts_authentication():
    h = masked_scenario()
    mine = list(h.request(1).shares)
    theirs = {s.peer: s for s in h.request(2).shares}  # what 3 sent to client 2
    mine[1] = AddressedShare(peer=3, blob=theirs[3].blob)
    assert_aborted(h, 1, AbortReason.AUTHENTICATION, tampered(h, 1, shares=tuple(mine)), later=[h.outbox[1]])


def test_masked_input_request_with_a_share_from_a_non_neighbour_aborts_inconsistent():
    h = harary_window()
    window = {a.client_id for a in h.request(1).entries}
    stranger = min(set(h.ids) - window)
    h.step()
    shares = {s.peer: s for s in h.request(1).shares}
    shares[stranger] = AddressedShare(peer=stranger, blob=next(iter(shares.values())).blob)
    bad = tampered(h, 1, shares=tuple(shares[u] for u in sorted(shares)))
    assert_aborted(h, 1, AbortReason.INCONSISTENT, bad, later=[h.outbox[1]], detail="not a neighbour")


def test_masked_input_request_with_fewer_than_threshold_live_holders_aborts_too_few_survivors():
    h = masked_scenario()
    shares = h.request(1).shares
    bad = tampered(h, 1, shares=shares[:2])  # 2 neighbours + itself = 3 < t = 4
    assert_aborted(h, 1, AbortReason.TOO_FEW_SURVIVORS, bad, later=[h.outbox[1]])


def test_masked_input_request_with_threshold_live_holders_is_accepted():
    h = masked_scenario()
    reply = h.answer(1, tampered(h, 1, shares=h.request(1).shares[:3]))  # 3 neighbours + itself = t
    assert reply is not None
    assert isinstance(h.clients[1].state, ClientR2MaskedInput)
    assert h.clients[1].state.alive == (2, 3, 4)


# --------------------------------------------------------------------------- rejected, not aborted


def test_masked_input_request_of_another_session_is_rejected_as_replayed_and_the_round_still_completes():
    h = masked_scenario()
    client = h.clients[1]
    state = client.state
    replayed = tampered(h, 1, session_id=flip(h.request(1).session_id, 0))
    with pytest.raises(RemoteProtocolError) as info:
        client.receive(replayed)
    assert info.value.reason is AbortReason.REPLAYED
    assert client.state is state
    assert client.abort_message is None
    result = h.complete()
    assert result.included == (1, 2, 3, 4, 5, 6)
    assert result.total.tolist() == h.expected(h.ids)


def test_message_from_a_previous_session_is_rejected_as_replayed():
    old = Harness(make_params(6, **MALICIOUS), seed="old").to_masked_input()
    h = masked_scenario()
    state = h.clients[1].state
    with pytest.raises(RemoteProtocolError) as info:
        h.clients[1].receive(old.outbox[1])
    assert info.value.reason is AbortReason.REPLAYED
    assert h.clients[1].state is state


def _unmasking_request() -> bytes:
    return codec.encode(UnmaskingRequest(session_id=bytes(32), survivors=(1, 2, 3, 4), dropped=()))


def test_unmasking_request_while_waiting_for_share_keys_is_out_of_round_and_changes_nothing():
    h = share_keys_scenario()
    client = h.clients[1]
    state = client.state
    assert isinstance(state, ClientR0AdvertiseKeys)
    with pytest.raises(RemoteProtocolError) as info:
        client.receive(_unmasking_request())
    assert info.value.reason is AbortReason.OUT_OF_ROUND
    assert client.state is state and client.abort_message is None
    assert isinstance(decode(h.params, h.answer(1)), ShareKeysResponse)


def test_a_second_share_keys_request_after_answering_is_out_of_round():
    h = share_keys_scenario()
    first = h.outbox[1]
    h.answer(1)
    state = h.clients[1].state
    with pytest.raises(RemoteProtocolError) as info:
        h.clients[1].receive(first)
    assert info.value.reason is AbortReason.OUT_OF_ROUND
    assert h.clients[1].state is state


def test_consistency_check_request_outside_the_active_model_is_out_of_round():
    h = scenario()
    client = h.clients[1]
    state = client.state
    request = ConsistencyCheckRequest(session_id=h.request(1).session_id, survivors_root=bytes(32), flags=b"\x0f")
    with pytest.raises(RemoteProtocolError) as info:
        client.receive(codec.encode(request))
    assert info.value.reason is AbortReason.OUT_OF_ROUND
    assert client.state is state
    h.answer(1)
    assert isinstance(client.state, ClientCompleted)


def test_unmasking_request_skipping_the_consistency_check_in_the_active_model_is_out_of_round():
    h = Harness(make_params(5, t=3, threat="active"), seed="skip").to_masked_input()
    h.step()
    assert isinstance(h.request(1), ConsistencyCheckRequest)
    client = h.clients[1]
    state = client.state
    skip = UnmaskingRequest(session_id=h.request(1).session_id, survivors=(1, 2, 3, 4, 5), dropped=())
    with pytest.raises(RemoteProtocolError) as info:
        client.receive(codec.encode(skip))
    assert info.value.reason is AbortReason.OUT_OF_ROUND
    assert client.state is state


_CORRUPTIONS = {
    "empty": lambda d: b"",
    "version-only": lambda d: d[:1],
    "truncated-by-one": lambda d: d[:-1],
    "truncated-in-header": lambda d: d[:20],
    "trailing-byte": lambda d: d + b"\x00",
    "oversized": lambda d: d + bytes(4096),
    "unknown-version": lambda d: b"\x01" + d[1:],  # a wire-version-1 peer
    "unknown-tag": lambda d: d[:1] + b"\x63" + d[2:],
    "huge-share-count": lambda d: d[:34] + b"\xff\xff\xff\xff" + d[38:],
    "count-above-n": lambda d: d[:34] + (7).to_bytes(4, "little") + d[38:],
    "garbage": lambda d: DeterministicRandom("garbage").token_bytes(len(d)),
}


@pytest.mark.parametrize("corrupt", list(_CORRUPTIONS.values()), ids=list(_CORRUPTIONS))
def test_undecodable_bytes_raise_decode_error_and_leave_the_client_able_to_finish(corrupt):
    h = masked_scenario()
    client = h.clients[1]
    state = client.state
    with pytest.raises(DecodeError) as info:
        client.receive(corrupt(h.outbox[1]))
    assert info.value.reason is AbortReason.MALFORMED
    assert client.state is state and client.abort_message is None
    assert h.complete().total.tolist() == h.expected(h.ids)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_undecodable_bytes_never_move_a_waiting_client(data):
    params = make_params(3, t=2, dim=2, bits=8)
    try:
        codec.decode(data, params=params)
    except DecodeError:
        pass
    else:
        return  # a valid message by chance: not this test's concern
    h = Harness(params, seed="fuzz").to_masked_input()
    state = h.clients[1].state
    with pytest.raises(DecodeError):
        h.clients[1].receive(data)
    assert h.clients[1].state is state


def test_server_abort_moves_the_client_to_aborted_with_peer_aborted_and_no_reply():
    h = share_keys_scenario()
    abort = codec.encode(Abort(reason=AbortReason.TOO_FEW_SURVIVORS, detail="too few"))
    assert h.clients[1].receive(abort) is None
    assert isinstance(h.clients[1].state, ClientAborted)
    assert h.clients[1].state.reason is AbortReason.PEER_ABORTED
    assert h.clients[1].abort_message is None
    with pytest.raises(RemoteProtocolError) as info:
        h.clients[1].receive(h.outbox[1])
    assert info.value.reason is AbortReason.OUT_OF_ROUND


def test_completed_client_refuses_everything_and_keeps_its_state():
    h = scenario()
    h.answer(1)
    state = h.clients[1].state
    for data in (h.outbox[1], codec.encode(Abort(reason=AbortReason.LOCAL))):
        with pytest.raises(RemoteProtocolError) as info:
            h.clients[1].receive(data)
        assert info.value.reason is AbortReason.OUT_OF_ROUND
        assert h.clients[1].state is state


def test_unmasking_response_reveals_a_different_share_for_each_owner_bound_to_the_session():
    h = scenario()
    response = decode(h.params, h.answer(1))
    assert isinstance(response, UnmaskingResponse)
    assert response.client_id == 1 and response.session_id == h.request(1).session_id
    assert all(len(s.share) == 36 for s in (*response.seed_shares, *response.key_shares))
    # One share of each owner's independent random polynomial: no two alike.
    values = {s.share for s in (*response.seed_shares, *response.key_shares)}
    assert len(values) == len(response.seed_shares) + len(response.key_shares)
