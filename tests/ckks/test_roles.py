"""KeyHolder, Client and Server with real TenSEAL: contexts, envelopes, bad input."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import tenseal as ts

from secagg.ckks import (
    CKKSStateError,
    Client,
    ContextError,
    EnvelopeError,
    EnvelopeKind,
    PlanError,
    Server,
    SumOutOfRangeError,
    decode_envelope,
    encode_envelope,
    plan_sizes,
)
from secagg.ckks.planner import max_ciphertext_bytes, max_public_context_bytes
from secagg.ckks.auth import sign_context
from secagg.errors import AbortReason, SecAggError
from secagg.primitives.sign import Ed25519SigningKey

# A key holder that signs whatever it is given: the layout walk and the loader
# must refuse bad contexts even when their signature is good.
_CARELESS = Ed25519SigningKey.generate()
_PIN = {"key_holder_key": _CARELESS.public_bytes}


def _signed(data: bytes) -> bytes:
    return sign_context(_CARELESS, data)


def _context_bytes(n=8192, moduli=(60, 60), scale=2.0**40, *, secret=False, galois=False, relin=False):
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, n, coeff_mod_bit_sizes=list(moduli))
    ctx.global_scale = scale
    if galois:
        ctx.generate_galois_keys()
    return ctx, ctx.serialize(save_secret_key=secret, save_galois_keys=galois, save_relin_keys=relin)


def _chunks(holder, envelope, kind=EnvelopeKind.UPLOAD, dim=None):
    dim = dim or struct.unpack_from("<Q", envelope, 22)[0]
    env = decode_envelope(envelope, kind=kind, fingerprint=holder.fingerprint, dim=dim,
                          slots=holder.params.slots, max_chunk_bytes=max_ciphertext_bytes(holder.params))
    return [bytes(c) for c in env.chunks]


def _rewrap(holder, dim, chunks, kind=EnvelopeKind.UPLOAD, contributors=1):
    return encode_envelope(kind, fingerprint=holder.fingerprint, dim=dim, contributors=contributors, chunks=chunks)


# --------------------------------------------------------------------------- key holder / public context


@pytest.mark.parametrize("name", ["default", "compact"])
def test_public_context_has_no_secret_galois_or_relinearisation_keys(name, request):
    holder = request.getfixturevalue(f"{name}_holder")
    ctx = ts.context_from(holder.public_context)
    assert not ctx.is_private() and not ctx.has_secret_key()
    assert not ctx.has_galois_keys() and not ctx.has_relin_keys()
    assert ctx.has_public_key()
    plan = plan_sizes(1, name)
    # Size check: a public key alone (within 1 % of the planner), far below a context with Galois keys.
    assert abs(len(holder.public_context) - plan.public_context_bytes) < 0.01 * plan.public_context_bytes
    assert len(holder.public_context) <= max_public_context_bytes(holder.params)


def test_a_context_with_galois_keys_is_many_times_larger_and_refused():
    _, with_galois = _context_bytes(galois=True)
    _, public = _context_bytes()
    assert len(with_galois) > 10 * len(public)
    with pytest.raises(ContextError, match="Galois"):
        Server(_signed(with_galois), dim=4, **_PIN)
    with pytest.raises(ContextError, match="Galois"):
        Client(_signed(with_galois), **_PIN)


def test_server_refuses_a_context_that_carries_the_secret_key():
    _, private = _context_bytes(secret=True)
    assert ts.context_from(private).is_private()
    with pytest.raises(ContextError, match="SECRET"):
        Server(_signed(private), dim=10, **_PIN)


def test_client_refuses_a_context_that_carries_the_secret_key():
    _, private = _context_bytes(secret=True)
    with pytest.raises(ContextError, match="SECRET"):
        Client(_signed(private), **_PIN)


@pytest.mark.parametrize("data", [b"\x00" * 100, b"SGCK" + bytes(40)], ids=["zeros", "envelope"])
def test_bytes_that_are_not_a_context_are_a_context_error(data):
    with pytest.raises(ContextError):
        Server(_signed(data), dim=1, **_PIN)


def test_truncated_public_context_is_a_context_error(compact_holder):
    with pytest.raises(ContextError):
        Client(_signed(compact_holder.public_context[:-100]), **_PIN)


def test_a_bfv_context_is_refused():
    ctx = ts.context(ts.SCHEME_TYPE.BFV, 4096, plain_modulus=1032193)
    with pytest.raises(ContextError, match="BFV"):
        Server(_signed(ctx.serialize(save_secret_key=False, save_galois_keys=False, save_relin_keys=False)), dim=1, **_PIN)


def test_a_scale_that_is_not_a_power_of_two_is_refused():
    _, data = _context_bytes(scale=2.0**40 + 1)
    with pytest.raises(ContextError, match="power of two"):
        Client(_signed(data), **_PIN)


def test_server_refuses_a_round_above_its_memory_limit(compact_holder):
    with pytest.raises(PlanError, match="memory limit"):
        Server(compact_holder.signed_context, key_holder_key=compact_holder.verify_key, dim=100_000, memory_limit=10**6)


# --------------------------------------------------------------------------- client


@pytest.mark.parametrize(
    ("vector", "error"),
    [
        (np.array([1.0, np.nan]), ValueError),
        (np.array([1.0, np.inf]), ValueError),
        (np.ones((2, 2)), ValueError),
        (np.array([]), ValueError),
        (np.array([2.0**18]), ValueError),  # compact carries |sum| <= 2^17
        (np.array(["a", "b"]), TypeError),
        (np.array([1 + 1j]), TypeError),
    ],
    ids=["nan", "inf", "2d", "empty", "too_large", "strings", "complex"],
)
def test_client_refuses_bad_vectors(compact_holder, vector, error):
    with pytest.raises(error):
        Client(compact_holder.signed_context, key_holder_key=compact_holder.verify_key).encrypt(vector)


def test_client_encrypts_one_ckks_vector_per_slots_values(compact_holder):
    envelope = Client(compact_holder.signed_context, key_holder_key=compact_holder.verify_key).encrypt(np.arange(4097, dtype=np.int64))
    chunks = _chunks(compact_holder, envelope)
    sizes = [ts.ckks_vector_from(ts.context_from(compact_holder.public_context), c).size() for c in chunks]
    assert sizes == [4096, 1]


# --------------------------------------------------------------------------- server


def _server_with_bad_between_good(holder, bad_envelope, dim, rng):
    a, b = rng.uniform(-1, 1, dim), rng.uniform(-1, 1, dim)
    server = Server(holder.signed_context, key_holder_key=holder.verify_key, dim=dim)
    server.receive(1, Client(holder.signed_context, key_holder_key=holder.verify_key).encrypt(a))
    with pytest.raises(EnvelopeError) as info:
        server.receive(2, bad_envelope)
    server.receive(3, Client(holder.signed_context, key_holder_key=holder.verify_key).encrypt(b))
    out = server.finish()
    assert out.included == (1, 3) and out.count == 2
    total = holder.decrypt(out.envelope, dim=dim, value_bound=1.0)
    np.testing.assert_allclose(total, a + b, atol=1e-6)
    return info.value


def test_bad_envelope_between_two_good_ones_leaves_the_sum_unchanged(compact_holder, rng):
    err = _server_with_bad_between_good(compact_holder, b"not an envelope at all", 10, rng)
    assert isinstance(err, SecAggError)


def test_envelope_under_another_key_holders_context_is_rejected(compact_holder, other_compact_holder, rng):
    foreign = Client(other_compact_holder.signed_context, key_holder_key=other_compact_holder.verify_key).encrypt(np.ones(10))
    err = _server_with_bad_between_good(compact_holder, foreign, 10, rng)
    assert err.reason is AbortReason.INCONSISTENT and "another public context" in str(err)


def test_envelope_of_another_vector_length_is_rejected(compact_holder, rng):
    err = _server_with_bad_between_good(compact_holder, Client(compact_holder.signed_context, key_holder_key=compact_holder.verify_key).encrypt(np.ones(11)),
                                        10, rng)
    assert err.reason is AbortReason.INCONSISTENT


def test_chunk_that_fails_to_deserialise_is_rejected(compact_holder, rng):
    chunks = _chunks(compact_holder, Client(compact_holder.signed_context, key_holder_key=compact_holder.verify_key).encrypt(np.ones(10)))
    garbage = bytes(len(chunks[0]))
    err = _server_with_bad_between_good(compact_holder, _rewrap(compact_holder, 10, [garbage]), 10, rng)
    assert "chunk 0" in str(err)


def test_chunk_with_flipped_header_byte_is_rejected(compact_holder, rng):
    chunk = _chunks(compact_holder, Client(compact_holder.signed_context, key_holder_key=compact_holder.verify_key).encrypt(np.ones(10)))[0]
    broken = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
    _server_with_bad_between_good(compact_holder, _rewrap(compact_holder, 10, [broken]), 10, rng)


def test_wrong_chunk_count_is_rejected(compact_holder, rng):
    chunks = _chunks(compact_holder, Client(compact_holder.signed_context, key_holder_key=compact_holder.verify_key).encrypt(np.ones(10)))
    buf = bytearray(_rewrap(compact_holder, 10, chunks * 2)[:38] + _rewrap(compact_holder, 10, chunks)[38:])
    struct.pack_into("<I", buf, 30, 2)
    err = _server_with_bad_between_good(compact_holder, bytes(buf), 10, rng)
    assert "declares 2 chunks" in str(err)


def test_chunk_holding_another_number_of_values_is_rejected(compact_holder, rng):
    chunk = _chunks(compact_holder, Client(compact_holder.signed_context, key_holder_key=compact_holder.verify_key).encrypt(np.ones(9)))[0]
    err = _server_with_bad_between_good(compact_holder, _rewrap(compact_holder, 10, [chunk]), 10, rng)
    assert "holds 9 values, expected 10" in str(err)


def test_chunk_at_another_scale_is_rejected(compact_holder, rng):
    ctx = ts.context_from(compact_holder.public_context)
    chunk = ts.ckks_vector(ctx, [1.0] * 10, scale=2.0**30).serialize()
    err = _server_with_bad_between_good(compact_holder, _rewrap(compact_holder, 10, [chunk]), 10, rng)
    assert "scale" in str(err)


def test_chunk_at_a_lower_level_is_rejected(default_holder, rng):
    ctx = ts.context_from(default_holder.public_context)
    lowered = ts.ckks_vector(ctx, [1.0] * 10) * 1.0  # multiply + auto-rescale drops one level
    err = _server_with_bad_between_good(default_holder, _rewrap(default_holder, 10, [lowered.serialize()]), 10, rng)
    # A lower level has fewer primes: the pre-parse sees the declared size before TenSEAL runs.
    assert "fresh 2-polynomial ciphertext" in str(err)


def test_aggregate_envelope_sent_as_an_upload_is_rejected(compact_holder, rng):
    chunks = _chunks(compact_holder, Client(compact_holder.signed_context, key_holder_key=compact_holder.verify_key).encrypt(np.ones(10)))
    agg = _rewrap(compact_holder, 10, chunks, kind=EnvelopeKind.AGGREGATE, contributors=5)
    _server_with_bad_between_good(compact_holder, agg, 10, rng)


def test_a_second_submission_by_the_same_client_is_rejected_as_replayed(compact_holder):
    server = Server(compact_holder.signed_context, key_holder_key=compact_holder.verify_key, dim=3)
    envelope = Client(compact_holder.signed_context, key_holder_key=compact_holder.verify_key).encrypt(np.ones(3))
    server.receive(4, envelope)
    with pytest.raises(EnvelopeError) as info:
        server.receive(4, envelope)
    assert info.value.reason is AbortReason.REPLAYED
    assert server.included == (4,)
    total = compact_holder.decrypt(server.finish().envelope, dim=3, value_bound=1.0, min_contributors=1)
    np.testing.assert_allclose(total, np.ones(3), atol=1e-6)


def test_server_used_out_of_order_raises_state_errors(compact_holder):
    server = Server(compact_holder.signed_context, key_holder_key=compact_holder.verify_key, dim=3)
    with pytest.raises(CKKSStateError, match="nothing to sum"):
        server.finish()
    server.receive(1, Client(compact_holder.signed_context, key_holder_key=compact_holder.verify_key).encrypt(np.ones(3)))
    server.finish()
    with pytest.raises(CKKSStateError):
        server.finish()
    with pytest.raises(CKKSStateError):
        server.receive(2, Client(compact_holder.signed_context, key_holder_key=compact_holder.verify_key).encrypt(np.ones(3)))


@pytest.mark.parametrize(("cid", "error"), [(0, ValueError), (True, TypeError), ("1", TypeError)])
def test_server_refuses_bad_client_ids(compact_holder, cid, error):
    with pytest.raises(error):
        Server(compact_holder.signed_context, key_holder_key=compact_holder.verify_key, dim=3).receive(cid, b"")


# --------------------------------------------------------------------------- key holder decrypt


def test_key_holder_refuses_to_decrypt_a_single_clients_upload(compact_holder):
    upload = Client(compact_holder.signed_context, key_holder_key=compact_holder.verify_key).encrypt(np.ones(3))
    with pytest.raises(EnvelopeError, match="expected a AGGREGATE"):
        compact_holder.decrypt(upload, dim=3, value_bound=1.0)


def test_key_holder_refuses_sums_of_too_few_clients(compact_holder):
    server = Server(compact_holder.signed_context, key_holder_key=compact_holder.verify_key, dim=3)
    server.receive(1, Client(compact_holder.signed_context, key_holder_key=compact_holder.verify_key).encrypt(np.ones(3)))
    envelope = server.finish().envelope
    with pytest.raises(EnvelopeError) as info:
        compact_holder.decrypt(envelope, dim=3, value_bound=1.0, min_contributors=2)
    assert info.value.reason is AbortReason.TOO_FEW_SURVIVORS


def test_key_holder_refuses_a_sum_under_another_context(compact_holder, other_compact_holder):
    server = Server(other_compact_holder.signed_context, key_holder_key=other_compact_holder.verify_key, dim=3)
    server.receive(1, Client(other_compact_holder.signed_context, key_holder_key=other_compact_holder.verify_key).encrypt(np.ones(3)))
    with pytest.raises(EnvelopeError, match="another public context"):
        compact_holder.decrypt(server.finish().envelope, dim=3, value_bound=1.0)


def test_key_holder_refuses_a_sum_of_another_length(compact_holder):
    server = Server(compact_holder.signed_context, key_holder_key=compact_holder.verify_key, dim=3)
    server.receive(1, Client(compact_holder.signed_context, key_holder_key=compact_holder.verify_key).encrypt(np.ones(3)))
    with pytest.raises(EnvelopeError, match="length 3, expected 4"):
        compact_holder.decrypt(server.finish().envelope, dim=4, value_bound=1.0)


def test_key_holder_repr_shows_parameters_not_keys(compact_holder):
    assert repr(compact_holder).startswith("KeyHolder(CKKSParams(poly_modulus_degree=8192")


# --------------------------------------------------------------------------- corruption


def _with_valid_digest(envelope: bytes) -> bytes:
    """Recompute the SHA-256 digest, as an attacker (or a bug before the envelope layer) could."""
    import hashlib

    buf = bytearray(envelope)
    buf[38:70] = hashlib.sha256(bytes(buf[:38]) + bytes(buf[70:])).digest()
    return bytes(buf)


@pytest.mark.parametrize("offset", [200, 5_000, 100_000])
def test_bit_flip_in_transport_is_rejected_by_the_digest_and_the_round_goes_on(compact_holder, rng, offset):
    envelope = bytearray(Client(compact_holder.signed_context, key_holder_key=compact_holder.verify_key).encrypt(rng.uniform(-1, 1, 10)))
    envelope[offset] ^= 0x10
    err = _server_with_bad_between_good(compact_holder, bytes(envelope), 10, rng)
    assert "digest" in str(err) and err.reason is AbortReason.MALFORMED


def _accepted_corruption(holder, x):
    """Flip bits in the raw coefficients (digest recomputed) until the server accepts the envelope."""
    clean = Client(holder.signed_context, key_holder_key=holder.verify_key).encrypt(x)
    for offset in range(2_000, 120_000, 997):
        bad = bytearray(clean)
        bad[offset] ^= 0x01
        bad = _with_valid_digest(bytes(bad))
        server = Server(holder.signed_context, key_holder_key=holder.verify_key, dim=x.size)
        try:
            server.receive(1, bad)
        except EnvelopeError:
            continue
        server.receive(2, Client(holder.signed_context, key_holder_key=holder.verify_key).encrypt(x))
        return server.finish().envelope
    pytest.fail("every corruption was rejected by TenSEAL (then nothing silent is possible)")


def test_corrupted_ciphertext_with_a_valid_digest_is_caught_by_the_key_holders_range_check(compact_holder, rng):
    x = rng.uniform(-1, 1, 10)
    envelope = _accepted_corruption(compact_holder, x)
    with pytest.raises(SumOutOfRangeError, match="corrupted or a client exceeded"):
        compact_holder.decrypt(envelope, dim=10, value_bound=1.0)


def test_client_above_the_value_bound_is_caught_by_the_key_holder(compact_holder):
    server = Server(compact_holder.signed_context, key_holder_key=compact_holder.verify_key, dim=3)
    server.receive(1, Client(compact_holder.signed_context, key_holder_key=compact_holder.verify_key).encrypt(np.array([0.5, 0.5, 50.0])))
    server.receive(2, Client(compact_holder.signed_context, key_holder_key=compact_holder.verify_key).encrypt(np.zeros(3)))
    envelope = server.finish().envelope
    with pytest.raises(SumOutOfRangeError):
        compact_holder.decrypt(envelope, dim=3, value_bound=1.0)
    # within the bound (2 x 30), the same sum is released: CKKS cannot tell a shifted input
    np.testing.assert_allclose(compact_holder.decrypt(envelope, dim=3, value_bound=30.0), [0.5, 0.5, 50.0],
                               atol=1e-6)


@pytest.mark.parametrize("bound", [0, -1.0, float("nan"), float("inf")])
def test_key_holder_refuses_a_bad_value_bound(compact_holder, bound):
    with pytest.raises(ValueError):
        compact_holder.decrypt(b"", dim=3, value_bound=bound)
