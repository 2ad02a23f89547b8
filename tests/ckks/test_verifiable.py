"""Issue 14: the verifiable key holder option.

Without it the key holder decrypts whatever the server labels an aggregate:
one client's upload relabelled as "50 contributors" is released. With it,
the key holder decrypts only the homomorphic sum of at least
``min_contributors`` distinct client-signed uploads of a round it opened,
which it recomputes itself. These tests failed before the option existed
(``KeyHolder.decrypt_verified`` and signed uploads did not exist).
"""

from __future__ import annotations

import dataclasses

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings

from secagg.ckks import (
    CKKSStateError,
    Client,
    EnvelopeError,
    EnvelopeKind,
    Server,
    decode_envelope,
    encode_envelope,
    secure_sum_ckks,
)
from secagg.ckks.auth import SignedUpload, sign_upload
from secagg.ckks.planner import max_ciphertext_bytes
from secagg.errors import AbortReason
from secagg.primitives.sign import Ed25519SigningKey

DIM = 5


@pytest.fixture(scope="module")
def identities():
    return {cid: Ed25519SigningKey.generate() for cid in range(1, 6)}


@pytest.fixture(scope="module")
def registry(identities):
    return {cid: key.public_bytes for cid, key in identities.items()}


def _round(holder, identities, registry, cids=(1, 2, 3), round_id=None):
    """An honest verifiable round: returns (round_id, server output, inputs)."""
    round_id = holder.open_round() if round_id is None else round_id
    pin = {"key_holder_key": holder.verify_key}
    server = Server(holder.signed_context, dim=DIM, client_keys=registry, round_id=round_id, **pin)
    inputs = {}
    for cid in cids:
        client = Client(holder.signed_context, signing_key=identities[cid], **pin)
        inputs[cid] = np.full(DIM, 0.1 * cid)
        envelope = client.encrypt(inputs[cid])
        server.receive(cid, envelope, client.sign_upload(envelope, client_id=cid, round_id=round_id))
    return round_id, server.finish(), inputs


def _relabel(holder, upload: bytes, contributors: int) -> bytes:
    env = decode_envelope(upload, kind=EnvelopeKind.UPLOAD, fingerprint=holder.fingerprint, dim=DIM,
                          slots=holder.params.slots, max_chunk_bytes=max_ciphertext_bytes(holder.params))
    return encode_envelope(EnvelopeKind.AGGREGATE, fingerprint=holder.fingerprint, dim=DIM,
                           contributors=contributors, chunks=[bytes(c) for c in env.chunks])


def _verified(holder, registry, output_envelope, uploads, round_id, min_contributors=2):
    return holder.decrypt_verified(output_envelope, uploads=uploads, client_keys=registry, round_id=round_id,
                                   dim=DIM, value_bound=1.0, min_contributors=min_contributors)


def test_an_honest_round_decrypts_to_the_sum(compact_holder, identities, registry):
    round_id, out, inputs = _round(compact_holder, identities, registry)
    assert [u.client_id for u in out.uploads] == [1, 2, 3]
    total = _verified(compact_holder, registry, out.envelope, out.uploads, round_id)
    assert np.max(np.abs(total - sum(inputs.values()))) < 1e-6


def test_one_upload_relabelled_as_50_contributors(compact_holder, identities, registry):
    round_id, out, inputs = _round(compact_holder, identities, registry)
    lie = _relabel(compact_holder, out.uploads[0].envelope, 50)
    # The plain decrypt takes the server's word and releases client 1's input:
    leaked = compact_holder.decrypt(lie, dim=DIM, value_bound=1.0, min_contributors=2)
    assert np.max(np.abs(leaked - inputs[1])) < 1e-6
    # The verifiable one refuses every way the server could dress it up:
    with pytest.raises(EnvelopeError) as info:
        _verified(compact_holder, registry, lie, out.uploads, round_id)
    assert info.value.reason is AbortReason.INCONSISTENT  # 50 claimed, 3 forwarded
    for uploads, contributors, reason in [
        ([out.uploads[0]] * 50, 50, AbortReason.REPLAYED),  # the same signed upload 50 times
        (out.uploads[:1], 1, AbortReason.TOO_FEW_SURVIVORS),  # honestly one
        (out.uploads, 3, AbortReason.INCONSISTENT),  # all three listed, but the ciphertext is client 1's
    ]:
        round_id = compact_holder.open_round()  # each attempt on a fresh round (ids are single-use)
        resigned = [dataclasses.replace(u, signature=sign_upload(identities[u.client_id], u.envelope,
                                                                  client_id=u.client_id, round_id=round_id))
                    for u in uploads]
        with pytest.raises(EnvelopeError) as info:
            _verified(compact_holder, registry, _relabel(compact_holder, out.uploads[0].envelope, contributors),
                      resigned, round_id)
        assert info.value.reason is reason


def test_a_server_that_drops_an_upload_it_summed_is_caught(compact_holder, identities, registry):
    round_id, out, _ = _round(compact_holder, identities, registry)
    with pytest.raises(EnvelopeError) as info:
        _verified(compact_holder, registry, out.envelope, out.uploads[:2], round_id)
    assert info.value.reason is AbortReason.INCONSISTENT


def test_a_sum_with_an_unsigned_extra_ciphertext_is_caught(compact_holder, identities, registry):
    """The server adds a ciphertext of its own to the sum and claims the honest count."""
    round_id, out, _ = _round(compact_holder, identities, registry, cids=(1, 2))
    _, other, _ = _round(compact_holder, identities, registry, cids=(3, 4))
    a = decode_envelope(out.envelope, kind=EnvelopeKind.AGGREGATE, fingerprint=compact_holder.fingerprint, dim=DIM,
                        slots=compact_holder.params.slots, max_chunk_bytes=max_ciphertext_bytes(compact_holder.params))
    b = decode_envelope(other.envelope, kind=EnvelopeKind.AGGREGATE, fingerprint=compact_holder.fingerprint, dim=DIM,
                        slots=compact_holder.params.slots, max_chunk_bytes=max_ciphertext_bytes(compact_holder.params))
    assert bytes(a.chunks[0]) != bytes(b.chunks[0])
    swapped = encode_envelope(EnvelopeKind.AGGREGATE, fingerprint=compact_holder.fingerprint, dim=DIM,
                              contributors=2, chunks=[bytes(b.chunks[0])])
    with pytest.raises(EnvelopeError) as info:
        _verified(compact_holder, registry, swapped, out.uploads, round_id)
    assert info.value.reason is AbortReason.INCONSISTENT


def test_round_ids_are_single_use_and_must_be_issued(compact_holder, identities, registry):
    round_id, out, _ = _round(compact_holder, identities, registry)
    _verified(compact_holder, registry, out.envelope, out.uploads, round_id)
    with pytest.raises(EnvelopeError) as info:  # a second decryption of the same round
        _verified(compact_holder, registry, out.envelope, out.uploads, round_id)
    assert info.value.reason is AbortReason.REPLAYED
    forged_id, out2, _ = _round(compact_holder, identities, registry, round_id=bytes(16))
    with pytest.raises(EnvelopeError) as info:  # the server made up a round id
        _verified(compact_holder, registry, out2.envelope, out2.uploads, forged_id)
    assert info.value.reason is AbortReason.REPLAYED


def test_uploads_signed_for_another_round_are_refused(compact_holder, identities, registry):
    old_round, out, _ = _round(compact_holder, identities, registry)
    new_round = compact_holder.open_round()
    with pytest.raises(EnvelopeError) as info:
        _verified(compact_holder, registry, out.envelope, out.uploads, new_round)
    assert info.value.reason is AbortReason.AUTHENTICATION


def test_signatures_bind_the_client_and_the_envelope(compact_holder, identities, registry):
    round_id, out, _ = _round(compact_holder, identities, registry)
    u1, u2, u3 = out.uploads
    for bad in (
        [dataclasses.replace(u1, signature=u2.signature), u2, u3],  # another client's signature
        [dataclasses.replace(u1, client_id=5), u2, u3],  # relabelled sender
        [dataclasses.replace(u1, signature=bytes(64)), u2, u3],
    ):
        round_id = compact_holder.open_round()
        resigned = [dataclasses.replace(u, signature=sign_upload(identities[u.client_id], u.envelope,
                                                                  client_id=u.client_id, round_id=round_id))
                    if u in (u2, u3) else u for u in bad]
        with pytest.raises(EnvelopeError) as info:
            _verified(compact_holder, registry, out.envelope, resigned, round_id)
        assert info.value.reason is AbortReason.AUTHENTICATION
    with pytest.raises(EnvelopeError) as info:  # unregistered at the key holder
        _verified(compact_holder, {2: registry[2], 3: registry[3]}, out.envelope, out.uploads,
                  compact_holder.open_round())
    assert info.value.reason in (AbortReason.AUTHENTICATION,)


def test_the_server_checks_signatures_before_it_adds(compact_holder, identities, registry):
    round_id = compact_holder.open_round()
    pin = {"key_holder_key": compact_holder.verify_key}
    server = Server(compact_holder.signed_context, dim=DIM, client_keys=registry, round_id=round_id, **pin)
    client = Client(compact_holder.signed_context, signing_key=identities[1], **pin)
    envelope = client.encrypt(np.ones(DIM))
    with pytest.raises(TypeError):
        server.receive(1, envelope)  # no signature
    with pytest.raises(EnvelopeError) as info:
        server.receive(2, envelope, client.sign_upload(envelope, client_id=1, round_id=round_id))
    assert info.value.reason is AbortReason.AUTHENTICATION
    with pytest.raises(EnvelopeError) as info:
        server.receive(9, envelope, client.sign_upload(envelope, client_id=9, round_id=round_id))
    assert info.value.reason is AbortReason.AUTHENTICATION  # not registered
    with pytest.raises(TypeError):
        server.receive(1, envelope, 64)
    assert server.included == ()
    server.receive(1, envelope, client.sign_upload(envelope, client_id=1, round_id=round_id))
    assert server.included == (1,)
    plain = Server(compact_holder.signed_context, dim=DIM, **pin)
    with pytest.raises(TypeError):
        plain.receive(1, envelope, b"\x00" * 64)
    with pytest.raises(TypeError):
        Server(compact_holder.signed_context, dim=DIM, client_keys=registry, **pin)  # no round id
    with pytest.raises(CKKSStateError):
        Client(compact_holder.signed_context, **pin).sign_upload(envelope, client_id=1, round_id=round_id)


def test_decrypt_verified_checks_its_arguments(compact_holder, registry):
    rid = compact_holder.open_round()
    for kwargs, error in [
        ({"uploads": b"x"}, TypeError),
        ({"uploads": [object()]}, TypeError),
        ({"client_keys": [1]}, TypeError),
        ({"client_keys": {0: bytes(32)}}, ValueError),
        ({"client_keys": {1: bytes(31)}}, ValueError),
        ({"round_id": bytes(15)}, ValueError),
        ({"round_id": "x" * 16}, TypeError),
    ]:
        args = {"uploads": [], "client_keys": registry, "round_id": rid, "dim": DIM, "value_bound": 1.0} | kwargs
        with pytest.raises(error):
            compact_holder.decrypt_verified(b"", **args)
    assert rid in compact_holder._open_rounds  # argument errors do not consume the round


def test_the_driver_runs_the_verifiable_option_end_to_end():
    vectors = [np.full(10, 0.5), np.full(10, -0.25), np.full(10, 0.125)]
    r = secure_sum_ckks(vectors, params="compact", verifiable=True, dropouts={2: "gone"})
    assert r.included == (1, 3) and r.stats.extra["verifiable"] is True
    assert np.max(np.abs(r.total - 0.625)) < 1e-6
    plain = secure_sum_ckks(vectors, params="compact", dropouts={2: "gone"})
    assert r.stats.bytes_received["key_holder"] > plain.stats.bytes_received["key_holder"] + 2 * 64
    with pytest.raises(TypeError):
        secure_sum_ckks(vectors, params="compact", verifiable="yes")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    listed=st.lists(st.integers(1, 4), min_size=0, max_size=5),
    summed=st.lists(st.integers(1, 4), min_size=1, max_size=5),
    claim=st.one_of(st.just("summed"), st.just("listed"), st.integers(1, 60)),
    min_contributors=st.integers(1, 3),
)
@example(listed=[1, 2, 3], summed=[3, 1, 2], claim="listed", min_contributors=2)  # honest, other order
@example(listed=[4], summed=[4], claim="listed", min_contributors=1)  # one client, explicitly allowed
@example(listed=[1, 2], summed=[1, 1], claim="listed", min_contributors=2)  # client 1 counted twice
@example(listed=[1, 2], summed=[1], claim=50, min_contributors=2)  # the relabelling
def test_whatever_the_server_forwards_the_key_holder_releases_only_the_sum_of_the_signed_uploads(
    compact_holder, identities, registry, envelopes, listed, summed, claim, min_contributors
):
    """Invariant: decrypt_verified raises, or returns the sum of >= min_contributors distinct listed clients."""
    round_id = compact_holder.open_round()
    pin = {"key_holder_key": compact_holder.verify_key}
    server = Server(compact_holder.signed_context, dim=DIM, **pin)
    for k, cid in enumerate(summed, 1):
        server.receive(k, envelopes[cid][1])
    claimed = {"summed": len(summed), "listed": max(len(listed), 1)}.get(claim, claim)
    aggregate = _relabel_aggregate(compact_holder, server.finish().envelope, claimed)
    uploads = [SignedUpload(client_id=cid, envelope=envelopes[cid][1],
                            signature=sign_upload(identities[cid], envelopes[cid][1], client_id=cid, round_id=round_id))
               for cid in listed]
    honest = (len(set(listed)) == len(listed) >= min_contributors and claimed == len(listed)
              and sorted(summed) == sorted(listed))
    try:
        total = _verified(compact_holder, registry, aggregate, uploads, round_id, min_contributors=min_contributors)
    except EnvelopeError:
        assert not honest
        return
    assert len(set(listed)) == len(listed) >= min_contributors
    assert np.max(np.abs(total - sum(envelopes[cid][0] for cid in listed))) < 1e-6
    assert honest


@pytest.fixture(scope="module")
def envelopes(compact_holder):
    """One upload per client 1..4: (input, envelope)."""
    client = Client(compact_holder.signed_context, key_holder_key=compact_holder.verify_key)
    out = {}
    for cid in range(1, 5):
        x = np.full(DIM, 0.1 * cid) + np.arange(DIM) * 0.01
        out[cid] = (x, bytes(client.encrypt(x)))
    return out


def _relabel_aggregate(holder, aggregate: bytes, contributors: int) -> bytes:
    env = decode_envelope(aggregate, kind=EnvelopeKind.AGGREGATE, fingerprint=holder.fingerprint, dim=DIM,
                          slots=holder.params.slots, max_chunk_bytes=max_ciphertext_bytes(holder.params))
    return encode_envelope(EnvelopeKind.AGGREGATE, fingerprint=holder.fingerprint, dim=DIM,
                           contributors=contributors, chunks=[bytes(c) for c in env.chunks])


def test_a_client_signs_an_envelope_for_one_round_only(compact_holder, identities, registry):
    # Otherwise the server asks for rounds {1, 2}, {1, 3}, {2, 3} over the same three envelopes and solves for each
    # input: (s12 + s13 - s23) / 2 = x1 (reproducer in the review of 2026-12-04).
    pin = {"key_holder_key": compact_holder.verify_key}
    client = Client(compact_holder.signed_context, signing_key=identities[1], **pin)
    envelope = client.encrypt(np.ones(DIM))
    first, second = compact_holder.open_round(), compact_holder.open_round()
    signature = client.sign_upload(envelope, client_id=1, round_id=first)
    assert client.sign_upload(envelope, client_id=1, round_id=first) == signature  # the same round again is harmless
    with pytest.raises(CKKSStateError, match="another round"):
        client.sign_upload(envelope, client_id=1, round_id=second)
    fresh = client.encrypt(np.ones(DIM))
    server = Server(compact_holder.signed_context, dim=DIM, client_keys=registry, round_id=second, **pin)
    server.receive(1, fresh, client.sign_upload(fresh, client_id=1, round_id=second))  # a new encryption signs fine
    assert server.included == (1,)
