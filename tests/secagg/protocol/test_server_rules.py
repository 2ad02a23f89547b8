"""Every rule the server enforces, and how it ends a round: exact sum, or an abort; never a wrong sum.

A rejected message must leave the server's state exactly as it was (compared
with :func:`server_snapshot`, which includes the accumulator's bytes).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from secagg import codec
from secagg.errors import AbortReason, DecodeError, LocalProtocolError, RemoteProtocolError
from secagg.messages import Abort, AddressedShare, RevealedShare
from secagg.primitives import kex, shamir
from secagg.primitives.masking import packed_size
from secagg.protocol.client import ClientAborted
from secagg.protocol.server import (
    Server,
    ServerAborted,
    ServerCompleted,
    ServerR0AdvertiseKeys,
    ServerR1ShareKeys,
    ServerR2MaskedInput,
    ServerR3ConsistencyCheck,
    ServerR4Unmasking,
)
from tests.detrandom import DeterministicRandom
from tests.secagg.protocol.conftest import Harness, decode, flip, make_params, rewrite, server_snapshot

SEMI = dict(t=3, dim=5, bits=13)  # 5 * 13 = 65 bits: the last byte has 7 padding bits
ACTIVE = dict(t=4, threat="active", dim=5, bits=13)


def rejected(h: Harness, sender: int, data: bytes, reason: AbortReason) -> RemoteProtocolError:
    """The server refuses ``data`` from ``sender`` with ``reason`` and changes nothing."""
    before = server_snapshot(h.server)
    state = h.server.state
    with pytest.raises(RemoteProtocolError) as info:
        h.server.receive(sender, data)
    assert info.value.reason is reason
    assert h.server.state is state
    assert server_snapshot(h.server) == before
    return info.value


# One genuine reply per phase, from client 1, in a state where the server waits for it.


def reply_at(phase: str, seed: str = "server-rules") -> tuple[Harness, bytes]:
    threat = ACTIVE if phase == "ConsistencyCheckResponse" else SEMI
    h = Harness(make_params(6, **threat), seed=seed)
    if phase == "AdvertiseKeys":
        data = h.clients[1].start()
        h.start(range(2, 7))
        return h, data
    h.to_share_keys()
    for name in ("ShareKeysResponse", "MaskedInputResponse", "ConsistencyCheckResponse", "UnmaskingResponse"):
        if name == "ConsistencyCheckResponse" and h.params.threat.value != "active":
            continue
        if name == phase:
            data = h.answer(1)
            h.deliver(range(2, 7))
            return h, data
        h.step()
    raise AssertionError(phase)


PHASES = ["AdvertiseKeys", "ShareKeysResponse", "MaskedInputResponse", "ConsistencyCheckResponse", "UnmaskingResponse"]


@pytest.mark.parametrize("phase", PHASES)
def test_message_whose_client_id_is_not_the_transport_sender_is_malformed_and_changes_nothing(phase):
    h, data = reply_at(phase)
    assert decode(h.params, data).client_id == 1
    rejected(h, 2, data, AbortReason.MALFORMED)
    h.server.receive(1, data)  # the genuine sender is still welcome


@pytest.mark.parametrize("phase", PHASES)
def test_second_message_from_the_same_client_in_a_round_is_replayed_and_changes_nothing(phase):
    h, data = reply_at(phase)
    h.server.receive(1, data)
    rejected(h, 1, data, AbortReason.REPLAYED)


@pytest.mark.parametrize("phase", PHASES[1:])
def test_message_of_another_session_is_replayed_and_changes_nothing(phase):
    h, data = reply_at(phase)
    other = rewrite(h.params, data, session_id=flip(decode(h.params, data).session_id, 31))
    rejected(h, 1, other, AbortReason.REPLAYED)
    h.server.receive(1, data)


def test_message_from_a_previous_round_of_another_session_is_replayed():
    old, data = reply_at("MaskedInputResponse", seed="yesterday")
    h, _ = reply_at("MaskedInputResponse")
    rejected(h, 1, data, AbortReason.REPLAYED)


def test_share_keys_response_from_a_client_that_never_advertised_is_out_of_round():
    h = Harness(make_params(6, **SEMI), seed="late-joiner").to_share_keys(advertise=[1, 2, 3, 4, 5])
    data = h.answer(1)
    forged = rewrite(h.params, data, client_id=6)  # shares to 2..5, as 6 might send them
    rejected(h, 6, forged, AbortReason.OUT_OF_ROUND)


def test_masked_input_from_a_client_that_shared_no_keys_is_out_of_round():
    h = Harness(make_params(6, **SEMI), seed="no-shares").to_masked_input(share=[1, 2, 3, 4, 5])
    data = h.answer(1)
    rejected(h, 6, rewrite(h.params, data, client_id=6), AbortReason.OUT_OF_ROUND)


def test_unmasking_response_from_a_client_that_sent_no_masked_input_is_out_of_round():
    h = Harness(make_params(6, **SEMI), seed="no-input").to_unmasking(masked=[1, 2, 3, 4, 5])
    assert 6 not in h.outbox
    data = h.answer(1)
    rejected(h, 6, rewrite(h.params, data, client_id=6), AbortReason.OUT_OF_ROUND)


def test_consistency_signature_from_a_client_outside_the_survivor_set_is_out_of_round():
    h = Harness(make_params(6, **ACTIVE), seed="cc-outsider").to_masked_input()
    h.step([1, 2, 3, 4, 5])
    data = h.answer(1)
    rejected(h, 6, rewrite(h.params, data, client_id=6), AbortReason.OUT_OF_ROUND)


def test_unmasking_response_from_a_survivor_that_did_not_sign_is_out_of_round():
    h = Harness(make_params(6, **ACTIVE), seed="unsigned").to_unmasking(signed=[1, 2, 3, 4, 5])
    assert sorted(h.outbox) == [1, 2, 3, 4, 5]
    data = h.answer(1)
    rejected(h, 6, rewrite(h.params, data, client_id=6), AbortReason.OUT_OF_ROUND)


@pytest.mark.parametrize("sender", [0, 7, -1, True, "1", None])
def test_message_from_an_unknown_sender_is_malformed(sender):
    h, data = reply_at("AdvertiseKeys")
    rejected(h, sender, data, AbortReason.MALFORMED)


@pytest.mark.parametrize("phase", PHASES)
def test_undecodable_message_is_a_decode_error_and_changes_nothing(phase):
    h, data = reply_at(phase)
    for bad in (data[:-1], data + b"\x00", b"\x01", b"", bytes(len(data))):
        before = server_snapshot(h.server)
        with pytest.raises(DecodeError):
            h.server.receive(1, bad)
        assert server_snapshot(h.server) == before
    h.server.receive(1, data)


# --------------------------------------------------------------------------- R0 and the active model


def test_advertised_key_already_in_use_is_inconsistent():
    h, data = reply_at("AdvertiseKeys")
    other = decode(h.params, h.advertised[2])
    rejected(h, 1, rewrite(h.params, data, c_pk=other.s_pk), AbortReason.INCONSISTENT)
    mine = decode(h.params, data)
    rejected(h, 1, rewrite(h.params, data, s_pk=mine.c_pk), AbortReason.INCONSISTENT)


@pytest.mark.parametrize("key", [bytes(32), (1).to_bytes(32, "little")], ids=["zero", "order-one"])
def test_advertised_low_order_key_is_malformed(key):
    h, data = reply_at("AdvertiseKeys")
    rejected(h, 1, rewrite(h.params, data, c_pk=key), AbortReason.MALFORMED)


def test_signed_advertise_keys_outside_the_active_model_is_malformed():
    h, data = reply_at("AdvertiseKeys")
    rejected(h, 1, rewrite(h.params, data, signature=bytes(64)), AbortReason.MALFORMED)


def test_active_server_rejects_an_unsigned_or_forged_advertise_keys():
    h = Harness(make_params(6, **ACTIVE), seed="active-advertise")
    data = h.clients[1].start()
    rejected(h, 1, rewrite(h.params, data, signature=b""), AbortReason.AUTHENTICATION)
    rejected(h, 1, rewrite(h.params, data, signature=flip(decode(h.params, data).signature, 0)), AbortReason.AUTHENTICATION)
    fresh = kex.X25519KeyPair.generate(random=DeterministicRandom("swap")).public_bytes
    rejected(h, 1, rewrite(h.params, data, s_pk=fresh), AbortReason.AUTHENTICATION)
    h.server.receive(1, data)
    assert sorted(h.server.state.advertised) == [1]


def test_active_server_rejects_a_forged_consistency_signature():
    h, data = reply_at("ConsistencyCheckResponse")
    forged = rewrite(h.params, data, signature=flip(decode(h.params, data).signature, 5))
    rejected(h, 1, forged, AbortReason.AUTHENTICATION)
    h.server.receive(1, data)


# --------------------------------------------------------------------------- R1 and R2


def test_share_keys_response_missing_a_neighbour_is_inconsistent():
    h, data = reply_at("ShareKeysResponse")
    shares = decode(h.params, data).shares
    rejected(h, 1, rewrite(h.params, data, shares=shares[:-1]), AbortReason.INCONSISTENT)
    rejected(h, 1, rewrite(h.params, data, shares=()), AbortReason.INCONSISTENT)


def test_share_keys_response_addressing_a_client_that_never_advertised_is_inconsistent():
    h = Harness(make_params(6, **SEMI), seed="ghost").to_share_keys(advertise=[1, 2, 3, 4, 5])
    data = h.answer(1)
    shares = decode(h.params, data).shares
    assert [s.peer for s in shares] == [2, 3, 4, 5]
    extra = (*shares, AddressedShare(peer=6, blob=shares[0].blob))
    rejected(h, 1, rewrite(h.params, data, shares=extra), AbortReason.INCONSISTENT)


def test_share_keys_response_addressing_a_non_neighbour_is_inconsistent():
    h = Harness(make_params(8, k=2, t=2, dim=3, bits=9), seed="sparse").to_share_keys()
    data = h.answer(1)
    shares = decode(h.params, data).shares
    window = {a.client_id for a in h.request(1).entries}
    stranger = min(set(range(2, 9)) - window)
    swapped = sorted([AddressedShare(peer=stranger, blob=shares[0].blob), *shares[1:]], key=lambda s: s.peer)
    rejected(h, 1, rewrite(h.params, data, shares=tuple(swapped)), AbortReason.INCONSISTENT)


def test_masked_input_with_non_zero_padding_bits_is_malformed_and_leaves_the_accumulator_alone():
    h, data = reply_at("MaskedInputResponse")
    assert (h.params.dim * h.params.bits) % 8 == 1
    masked = decode(h.params, data).masked
    acc = h.server.state.acc.copy()
    for bit in range(1, 8):
        bad = masked[:-1] + bytes([masked[-1] | (1 << bit)])
        rejected(h, 1, rewrite(h.params, data, masked=bad), AbortReason.MALFORMED)
        assert np.array_equal(h.server.state.acc, acc)
    h.server.receive(1, data)
    assert not np.array_equal(h.server.state.acc, acc) or not any(masked)


@pytest.mark.parametrize("delta", [-1, 1, 100])
def test_masked_input_of_the_wrong_length_is_a_decode_error_and_leaves_the_accumulator_alone(delta):
    h, data = reply_at("MaskedInputResponse")
    msg = decode(h.params, data)
    size = packed_size(h.params.dim, h.params.bits)
    assert len(msg.masked) == size
    wrong = msg.masked[: size + delta] if delta < 0 else msg.masked + bytes(delta)
    bad = codec.encode(dataclasses.replace(msg, masked=wrong))
    acc = h.server.state.acc.copy()
    with pytest.raises(DecodeError):
        h.server.receive(1, bad)
    assert np.array_equal(h.server.state.acc, acc)
    assert sorted(h.server.state.received) == [2, 3, 4, 5, 6]


def test_masked_inputs_are_summed_as_they_arrive():
    h = Harness(make_params(6, **SEMI), seed="streaming").to_masked_input()
    replies = {u: h.answer(u) for u in h.ids}
    assert not h.server.state.acc.any()
    expected = np.zeros(h.params.dim, dtype=np.uint64)
    for u in h.ids:
        h.server.receive(u, replies[u])
        words = np.array(
            [int.from_bytes(decode(h.params, replies[u]).masked, "little") >> (13 * i) & 0x1FFF for i in range(5)],
            dtype=np.uint64,
        )
        expected = (expected + words) % (1 << 13)
        assert h.server.state.acc.tolist() == expected.tolist()


# --------------------------------------------------------------------------- R4: revealed shares


def at_unmasking_with_dropout(seed: str = "reveal") -> Harness:
    """6 clients, t = 3; client 6 sends no masked input, so survivors reveal 6's key shares."""
    h = Harness(make_params(6, **SEMI), seed=seed)
    return h.to_unmasking(masked=[1, 2, 3, 4, 5])


def test_unmasking_response_revealing_a_key_share_of_a_survivor_is_inconsistent():
    h = at_unmasking_with_dropout()
    data = h.answer(1)
    msg = decode(h.params, data)
    seeds = tuple(s for s in msg.seed_shares if s.owner != 2)
    extra = RevealedShare(owner=2, share=msg.seed_shares[1].share)
    keys = tuple(sorted((*msg.key_shares, extra), key=lambda s: s.owner))
    rejected(h, 1, rewrite(h.params, data, seed_shares=seeds, key_shares=keys), AbortReason.INCONSISTENT)


def test_unmasking_response_revealing_a_seed_share_of_the_dropped_is_inconsistent():
    h = at_unmasking_with_dropout()
    data = h.answer(1)
    msg = decode(h.params, data)
    seeds = (*msg.seed_shares, RevealedShare(owner=6, share=msg.key_shares[0].share))
    rejected(h, 1, rewrite(h.params, data, seed_shares=seeds, key_shares=()), AbortReason.INCONSISTENT)


def test_unmasking_response_revealing_a_share_of_a_non_neighbour_is_inconsistent():
    h = Harness(make_params(8, k=2, t=2, dim=3, bits=9), seed="sparse-reveal").to_unmasking()
    data = h.answer(1)
    msg = decode(h.params, data)
    holders = {s.owner for s in msg.seed_shares}
    stranger = min(set(range(1, 9)) - holders)
    extra = RevealedShare(owner=stranger, share=msg.seed_shares[0].share)
    # one more owner than a holder set has (k + 1 = 3) is refused by the decoder already
    seeds = tuple(sorted((*msg.seed_shares, extra), key=lambda s: s.owner))
    assert len(seeds) > 3
    rejected(h, 1, rewrite(h.params, data, seed_shares=seeds), AbortReason.MALFORMED)
    # within the count, a stranger in place of a neighbour is the server's rule
    kept = [s for s in msg.seed_shares if s.owner == 1]
    seeds = tuple(sorted((*kept, extra), key=lambda s: s.owner))
    rejected(h, 1, rewrite(h.params, data, seed_shares=seeds), AbortReason.INCONSISTENT)


def test_unmasking_response_with_a_share_outside_the_field_is_malformed():
    h = at_unmasking_with_dropout()
    data = h.answer(1)
    msg = decode(h.params, data)
    bad = RevealedShare(owner=msg.seed_shares[0].owner, share=b"\xff" * 36)
    rejected(h, 1, rewrite(h.params, data, seed_shares=(bad, *msg.seed_shares[1:])), AbortReason.MALFORMED)


def corrupt(share: bytes, how: str) -> bytes:
    limbs = np.frombuffer(share, dtype="<u4").astype(np.int64)
    if how == "plus-one":
        limbs[0] = (limbs[0] + 1) % shamir.PRIME
    else:  # a fresh random field element in every limb
        rnd = DeterministicRandom(share).token_bytes(4 * 9)
        limbs = np.frombuffer(rnd, dtype="<u4").astype(np.int64) % shamir.PRIME
    return limbs.astype("<u4").tobytes()


def corrupt_reply(h: Harness, u: int, owner: int, kind: str, how: str) -> bytes:
    msg = decode(h.params, h.answer(u))
    field = "seed_shares" if kind == "seed" else "key_shares"
    entries = tuple(
        RevealedShare(owner=s.owner, share=corrupt(s.share, how)) if s.owner == owner else s for s in getattr(msg, field)
    )
    assert entries != getattr(msg, field)
    return codec.encode(dataclasses.replace(msg, **{field: entries}))


@pytest.mark.parametrize("how", ["plus-one", "random"])
@pytest.mark.parametrize("kind,owner", [("seed", 4), ("seed", 1), ("key", 6)])
def test_one_corrupted_share_is_outvoted_by_other_subsets_and_the_sum_is_exact(kind, owner, how):
    h = at_unmasking_with_dropout(f"corrupt-{kind}-{owner}-{how}")
    holder = 1 if owner != 1 else 2  # the lowest holder: its share is in the first subset tried
    h.server.receive(holder, corrupt_reply(h, holder, owner, kind, how))
    h.deliver([u for u in (1, 2, 3, 4, 5) if u != holder])
    h.advance()
    assert isinstance(h.server.state, ServerCompleted), getattr(h.server.state, "detail", "")
    assert h.server.result().total.tolist() == h.expected((1, 2, 3, 4, 5))


@pytest.mark.parametrize("n,t", [(8, 4), (10, 4), (12, 6)])
def test_one_corrupted_share_among_many_honest_ones_still_gives_the_exact_sum(n, t):
    # n honest holders of every share, one of them lying about one share: n - 1 >= t
    # correct shares remain, so the server must still find the secret.
    h = Harness(make_params(n, t=t, dim=3, bits=17), seed=f"one-liar-{n}").to_unmasking()
    h.server.receive(1, corrupt_reply(h, 1, owner=3, kind="seed", how="plus-one"))
    h.deliver(range(2, n + 1))
    h.advance()
    assert isinstance(h.server.state, ServerCompleted), getattr(h.server.state, "detail", "")
    assert h.server.result().total.tolist() == h.expected(range(1, n + 1))


def test_two_colluding_holders_cannot_frame_an_honest_holder_into_an_abort():
    # Holders 1 and 2 shift their shares of client 1's seed so that the errors
    # cancel in the subset (1, 2, 4, 5): the swap search then "fixes" another
    # owner's secret by removing honest holder 3. Suspicion must only reorder
    # the search, so the 4 honest shares of holders 3..6 still reconstruct.
    p = make_params(7, t=4)
    h = Harness(p, seed="frame").to_masked_input()
    h.step([1, 2, 3, 4, 5, 6])  # 7 vanishes before MaskedInput
    for u in sorted(h.outbox):
        msg = decode(p, h.answer(u))
        if u in (1, 2):
            shifted = tuple(
                RevealedShare(owner=s.owner, share=_shift(s.share, 1 if s.owner == 1 else u)) for s in msg.seed_shares
            )
            msg = dataclasses.replace(msg, seed_shares=shifted)
        h.server.receive(u, codec.encode(msg))
    h.advance()
    assert isinstance(h.server.state, ServerCompleted), getattr(h.server.state, "detail", "")
    assert h.server.result().total.tolist() == h.expected(range(1, 7))


def _shift(share: bytes, delta: int) -> bytes:
    limbs = np.frombuffer(share, dtype="<u4").astype(np.int64)
    limbs[0] = (limbs[0] + delta) % shamir.PRIME
    return limbs.astype("<u4").tobytes()


@pytest.mark.parametrize("how", ["plus-one", "random"])
@pytest.mark.parametrize("kind,owner", [("seed", 4), ("key", 6)])
def test_corrupted_share_with_exactly_threshold_shares_aborts_reconstruction_failed(kind, owner, how):
    h = at_unmasking_with_dropout(f"exact-{kind}-{how}")
    h.server.receive(1, corrupt_reply(h, 1, owner, kind, how))
    h.deliver([2, 3])  # 4 and 5 vanish: exactly t = 3 shares of every secret
    out = h.advance()
    assert isinstance(h.server.state, ServerAborted)
    assert h.server.state.reason is AbortReason.RECONSTRUCTION_FAILED
    assert {decode(h.params, m).reason for m in out.values()} == {AbortReason.RECONSTRUCTION_FAILED}
    with pytest.raises(LocalProtocolError):
        h.server.result()


# --------------------------------------------------------------------------- too few, and terminal states


def _too_few(phase: str) -> Harness:
    """A round where fewer than t clients take part in ``phase`` (t = 3 of 6; 4 of 6 active)."""
    params = make_params(6, **(ACTIVE if phase == "consistency" else SEMI))
    h = Harness(params, seed=f"too-few-{phase}")
    few = [1, 2] if params.threshold == 3 else [1, 2, 3]
    if phase == "advertise":
        h.start(few)
        return h
    h.to_share_keys()
    if phase == "share":
        h.deliver(few)
        return h
    h.step()
    if phase == "masked":
        h.deliver(few)
        return h
    h.step()
    if phase == "consistency":
        h.deliver(few)
        return h
    h.deliver(few)  # unmasking: only two holders reveal shares
    return h


@pytest.mark.parametrize("phase", ["advertise", "share", "masked", "consistency", "unmasking"])
def test_fewer_than_threshold_clients_at_any_advance_aborts_with_abort_messages_for_everyone(phase):
    h = _too_few(phase)
    out = h.server.advance()
    state = h.server.state
    assert isinstance(state, ServerAborted)
    assert state.reason is AbortReason.TOO_FEW_SURVIVORS
    took_part = [1, 2] if phase == "advertise" else list(range(1, 7))  # an Abort for every client that took part
    assert sorted(out) == took_part
    for data in out.values():
        abort = decode(h.params, data)
        assert isinstance(abort, Abort) and abort.reason is AbortReason.TOO_FEW_SURVIVORS
    # A waiting client takes the Abort and stops.
    waiting = [u for u in h.ids if h.clients[u].state is not None and not h.clients[u].finished]
    for u in waiting:
        assert h.clients[u].receive(out[u]) is None
        assert isinstance(h.clients[u].state, ClientAborted)
        assert h.clients[u].state.reason is AbortReason.PEER_ABORTED


@pytest.mark.parametrize("ending", ["completed", "aborted"])
def test_terminal_server_rejects_receive_and_advance_with_local_protocol_error(ending):
    if ending == "completed":
        h = Harness(make_params(6, **SEMI), seed="terminal")
        h.to_unmasking()
        late = h.answer(1)
        h.deliver(range(2, 7))
        h.advance()
        assert isinstance(h.server.state, ServerCompleted)
    else:
        h = _too_few("share")
        late = h.answer(3)
        h.advance()
        assert isinstance(h.server.state, ServerAborted)
    state = h.server.state
    assert h.server.finished
    with pytest.raises(LocalProtocolError):
        h.server.advance()
    with pytest.raises(LocalProtocolError):
        h.server.receive(1, late)
    with pytest.raises(LocalProtocolError):
        h.server.receive(1, codec.encode(Abort(reason=AbortReason.LOCAL)))
    assert h.server.state is state


def test_result_before_completion_raises_local_protocol_error_in_every_state():
    h = Harness(make_params(6, **ACTIVE), seed="result")
    seen = []
    h.start()
    for i in range(5):
        seen.append(type(h.server.state))
        with pytest.raises(LocalProtocolError):
            h.server.result()
        h.advance()
        if i < 4:
            h.deliver()
    assert seen == [ServerR0AdvertiseKeys, ServerR1ShareKeys, ServerR2MaskedInput, ServerR3ConsistencyCheck, ServerR4Unmasking]
    assert h.server.result().total.tolist() == h.expected(h.ids)


def test_client_abort_message_changes_nothing_on_the_server():
    h, data = reply_at("MaskedInputResponse")
    before = server_snapshot(h.server)
    h.server.receive(1, codec.encode(Abort(reason=AbortReason.TOO_FEW_SURVIVORS, detail="bye")))
    assert server_snapshot(h.server) == before


@pytest.mark.parametrize("drop, completes", [((5,), True), ((4, 5), False)])
def test_server_min_contributors_aborts_rather_than_output_a_sum_of_fewer_inputs(drop, completes):
    params = make_params(6, t=3)
    h = Harness(params, seed=f"min-contributors-{drop}")
    h.server = Server(params, random=DeterministicRandom("min-contributors-server"), min_contributors=5)
    h.to_masked_input()
    h.step([u for u in range(1, 7) if u not in drop])
    if completes:
        h.step()  # unmasking
        assert h.server.result().included == tuple(u for u in range(1, 7) if u not in drop)
    else:
        assert isinstance(h.server.state, ServerAborted)
        assert h.server.state.reason is AbortReason.TOO_FEW_SURVIVORS
        assert "min_contributors" in h.server.state.detail


@pytest.mark.parametrize("value, error", [(7, ValueError), (2.5, TypeError), (True, TypeError)])
def test_server_min_contributors_is_validated(value, error):
    with pytest.raises(error):
        Server(make_params(6, t=3), min_contributors=value)


def test_server_result_lists_included_and_dropped_ids():
    h = at_unmasking_with_dropout("result-ids")
    result = h.finish()
    assert result.included == (1, 2, 3, 4, 5)
    assert result.dropped == (6,)
    assert result.total.dtype == np.uint32
    assert result.total.tolist() == h.expected(result.included)


def test_client_advertising_a_low_order_key_cannot_make_its_honest_neighbours_abort():
    # The server should refuse the key at R0 (MALFORMED); if it forwards it, every
    # honest neighbour's key agreement fails and one client has aborted the round.
    h = Harness(make_params(6, **SEMI), seed="low-order-round")
    try:
        h.server.receive(2, rewrite(h.params, h.clients[2].start(), c_pk=bytes(32)))
    except RemoteProtocolError:
        pass
    h.start([1, 3, 4, 5, 6])
    h.advance()
    h.outbox.pop(2, None)
    result = h.complete()
    assert result.included == (1, 3, 4, 5, 6)
    assert result.total.tolist() == h.expected((1, 3, 4, 5, 6))


def test_too_few_shares_of_a_key_aborts_too_few_survivors_before_a_bad_seed_is_rebuilt():
    # SPEC "Unmasking" step 1 (and verify_independent): fewer than t shares of ANY secret aborts
    # too_few_survivors before any secret is rebuilt. Holder 1 sends a corrupted share of 4's seed and
    # no key shares: every seed has exactly t = 3 shares (4's cannot be rebuilt), 6's key only 2.
    h = at_unmasking_with_dropout("too-few-key-bad-seed")
    msg = decode(h.params, corrupt_reply(h, 1, 4, "seed", "plus-one"))
    h.server.receive(1, codec.encode(dataclasses.replace(msg, key_shares=())))
    h.deliver([2, 3])  # 4 and 5 vanish
    out = h.advance()
    assert isinstance(h.server.state, ServerAborted)
    assert h.server.state.reason is AbortReason.TOO_FEW_SURVIVORS, h.server.state.detail
    assert {decode(h.params, m).reason for m in out.values()} == {AbortReason.TOO_FEW_SURVIVORS}
