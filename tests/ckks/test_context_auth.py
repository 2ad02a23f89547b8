"""Issue 14, CKKS context substitution: clients authenticate the context they encrypt under.

Before the signed context, a server that handed clients a context of its own
making (its own secret key) was accepted, and it decrypted each client's
input alone (recovered to 3e-9 in the review). These tests failed then:
``Client`` took any public context without a pin.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
import tenseal as ts

from secagg import secure_sum
from secagg.ckks import (
    Client,
    ContextAuthenticationError,
    EnvelopeKind,
    KeyHolder,
    Server,
    decode_envelope,
    encode_envelope,
    key_holder_fingerprint,
    secure_sum_ckks,
)
from secagg.ckks.auth import SIGNED_CONTEXT_MAGIC, open_signed_context, sign_context
from secagg.ckks.planner import max_ciphertext_bytes
from secagg.primitives.sign import Ed25519SigningKey


@pytest.fixture
def tenseal_never_parses_a_context(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("TenSEAL parsed a context that should have been refused first")

    monkeypatch.setattr(ts, "context_from", refuse)


def _server_decrypts_upload(rogue: KeyHolder, upload: bytes, dim: int) -> np.ndarray:
    """What a server holding its own secret key does with one client's upload: relabel it and decrypt."""
    env = decode_envelope(upload, kind=EnvelopeKind.UPLOAD, fingerprint=rogue.fingerprint, dim=dim,
                          slots=rogue.params.slots, max_chunk_bytes=max_ciphertext_bytes(rogue.params))
    relabelled = encode_envelope(EnvelopeKind.AGGREGATE, fingerprint=rogue.fingerprint, dim=dim, contributors=1,
                                 chunks=[bytes(c) for c in env.chunks])
    return rogue.decrypt(relabelled, dim=dim, value_bound=1.0, min_contributors=1)


def test_a_client_pinned_to_whatever_the_server_sends_leaks_its_input(compact_holder):
    """Why the pin must come out of band: a key handed over by the server proves nothing."""
    rogue = KeyHolder("compact")  # the server's own key pair
    x = np.array([0.25, -0.5, 0.75])
    upload = Client(rogue.signed_context, key_holder_key=rogue.verify_key).encrypt(x)
    assert np.max(np.abs(_server_decrypts_upload(rogue, upload, 3) - x)) < 1e-6


@pytest.mark.parametrize("how", ["signed_by_the_server", "unsigned", "key_holder_signature_on_server_context"])
def test_a_server_made_context_is_refused_before_anything_is_parsed(compact_holder, how,
                                                                     tenseal_never_parses_a_context):
    rogue = KeyHolder("compact")
    if how == "signed_by_the_server":
        data = rogue.signed_context
    elif how == "unsigned":
        data = rogue.public_context
    else:  # the key holder's header and signature around the server's context
        honest = compact_holder.signed_context
        data = honest[:37] + struct.pack("<I", len(rogue.public_context)) + rogue.public_context + honest[-64:]
    for pin in ({"key_holder_key": compact_holder.verify_key},
                {"key_holder_fingerprint": compact_holder.key_fingerprint},
                {"key_holder_fingerprint": compact_holder.key_fingerprint.hex()}):
        with pytest.raises(ContextAuthenticationError):
            Client(data, **pin)
        with pytest.raises(ContextAuthenticationError):
            Server(data, dim=3, **pin)


def test_the_key_holders_context_is_accepted_under_either_pin(compact_holder):
    x = np.array([1.0, 2.0, 3.0])
    for pin in ({"key_holder_key": compact_holder.verify_key},
                {"key_holder_fingerprint": compact_holder.key_fingerprint},
                {"key_holder_fingerprint": compact_holder.key_fingerprint.hex().upper()}):
        server = Server(compact_holder.signed_context, dim=3, **pin)
        server.receive(1, Client(compact_holder.signed_context, **pin).encrypt(x))
        server.receive(2, Client(compact_holder.signed_context, **pin).encrypt(x))
        total = compact_holder.decrypt(server.finish().envelope, dim=3, value_bound=3.0)
        assert np.max(np.abs(total - 2 * x)) < 1e-6


def test_a_fixed_signing_key_gives_a_stable_pin():
    key = Ed25519SigningKey.generate()
    a, b = KeyHolder("compact", signing_key=key), KeyHolder("compact", signing_key=key)
    assert a.verify_key == b.verify_key == key.public_bytes
    assert a.key_fingerprint == key_holder_fingerprint(key.public_bytes)
    Client(b.signed_context, key_holder_fingerprint=a.key_fingerprint)  # a rotated context, same pinned key


def test_every_byte_of_the_signed_context_is_covered(compact_holder):
    signed = compact_holder.signed_context
    pin = {"key_holder_key": compact_holder.verify_key}
    for offset in (0, 4, 5, 36, 37, 41, 41 + 100, len(signed) - 65, len(signed) - 1):
        tampered = bytearray(signed)
        tampered[offset] ^= 0x01
        with pytest.raises(ContextAuthenticationError):
            open_signed_context(bytes(tampered), **pin)
    for bad in (signed[:-1], signed + b"\x00", b"", SIGNED_CONTEXT_MAGIC):
        with pytest.raises(ContextAuthenticationError):
            open_signed_context(bad, **pin)


@pytest.mark.parametrize(
    ("pin", "error"),
    [
        ({}, TypeError),
        ({"key_holder_key": bytes(32), "key_holder_fingerprint": bytes(32)}, TypeError),
        ({"key_holder_key": bytes(31)}, ValueError),
        ({"key_holder_key": "00" * 32}, TypeError),
        ({"key_holder_fingerprint": "zz" * 32}, ValueError),
        ({"key_holder_fingerprint": bytes(16)}, ValueError),
        ({"key_holder_fingerprint": 5}, TypeError),
    ],
    ids=["none", "both", "short_key", "key_as_str", "bad_hex", "short_fingerprint", "int"],
)
def test_a_missing_or_malformed_pin_is_a_typed_error(compact_holder, pin, error):
    with pytest.raises(error):
        Client(compact_holder.signed_context, **pin)
    with pytest.raises(error):
        Server(compact_holder.signed_context, dim=3, **pin)


def test_sign_context_checks_its_arguments():
    key = Ed25519SigningKey.generate()
    with pytest.raises(TypeError):
        sign_context(b"not a key", b"ctx")
    with pytest.raises(TypeError):
        sign_context(key, "ctx")
    with pytest.raises(ValueError):
        sign_context(key, b"")


def test_the_driver_clients_refuse_a_substituted_context(monkeypatch):
    """secure_sum(backend="ckks"): the in-process server forwards a context of its own; clients refuse it."""
    rogue = KeyHolder("compact")
    substitute = rogue.signed_context
    monkeypatch.setattr(KeyHolder, "signed_context", property(lambda self: substitute))
    vectors = [np.ones(4), np.ones(4)]
    with pytest.raises(ContextAuthenticationError):
        secure_sum_ckks(vectors, params="compact")
    with pytest.raises(ContextAuthenticationError):
        secure_sum(vectors, backend="ckks", ckks_params="compact")
