"""X25519 key agreement and the session-bound KDF (secagg.primitives.kex)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.errors import InvalidKey
from secagg.primitives.kex import (
    KEY_SIZE,
    PURPOSE_MASK_SEED,
    PURPOSE_SHARE_ENCRYPTION,
    X25519KeyPair,
    agree,
    check_public_key,
    derive_key,
    kdf_info,
)
from tests.detrandom import DeterministicRandom
from tests.vectors import params, raises_exactly, unhex

ERRORS = {"InvalidKey": InvalidKey, "ValueError": ValueError}

keys32 = st.binary(min_size=32, max_size=32)
purposes = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=64).filter(
    lambda p: p != "prg"
)
u32 = st.integers(min_value=0, max_value=2**32 - 1)


def _fields(**changes):
    base = {"purpose": PURPOSE_MASK_SEED, "session_id": bytes(range(32)), "round": 2, "sender": 3, "receiver": 7}
    base.update(changes)
    return base


# ----------------------------------------------------------------- key pairs


def test_generate_takes_the_private_key_from_the_random_source():
    a = X25519KeyPair.generate(random=DeterministicRandom(1))
    expected = DeterministicRandom(1).token_bytes(32)
    assert a.private_bytes() == expected
    assert X25519KeyPair.from_private_bytes(expected).public_bytes == a.public_bytes


def test_generate_with_the_default_source_gives_distinct_keys():
    assert X25519KeyPair.generate().public_bytes != X25519KeyPair.generate().public_bytes


@given(keys32)
def test_private_bytes_round_trip_exactly(data):
    pair = X25519KeyPair.from_private_bytes(data)
    assert pair.private_bytes() == data
    assert len(pair.public_bytes) == KEY_SIZE


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_private_key_of_wrong_length_is_invalid_key(size):
    with pytest.raises(InvalidKey):
        X25519KeyPair.from_private_bytes(bytes(size))


def test_private_key_that_is_not_bytes_is_a_type_error():
    with pytest.raises(TypeError):
        X25519KeyPair.from_private_bytes("00" * 32)


def test_key_pair_is_immutable_and_its_repr_hides_the_private_key():
    pair = X25519KeyPair.from_private_bytes(bytes(range(32)))
    with pytest.raises(AttributeError):
        pair._public = bytes(32)
    with pytest.raises(AttributeError):
        pair.other = 1
    assert bytes(range(32)).hex() not in repr(pair)
    assert pair.public_bytes.hex() in repr(pair)


# ----------------------------------------------------------------- agreement


@given(keys32, keys32)
def test_agree_is_symmetric(a_bytes, b_bytes):
    a, b = X25519KeyPair.from_private_bytes(a_bytes), X25519KeyPair.from_private_bytes(b_bytes)
    shared = agree(a, b.public_bytes)
    assert shared == agree(b, a.public_bytes)
    assert len(shared) == 32 and shared != bytes(32)


@pytest.mark.parametrize("size", [0, 31, 33])
def test_check_public_key_refuses_wrong_lengths(size):
    with pytest.raises(InvalidKey):
        check_public_key(bytes(size))


def test_check_public_key_returns_bytes_for_any_bytes_like():
    assert check_public_key(bytearray(range(32))) == bytes(range(32))
    assert type(check_public_key(memoryview(bytes(32)))) is bytes


def test_agree_refuses_a_non_key_pair():
    with pytest.raises(TypeError):
        agree(bytes(32), bytes(32))


def test_agree_maps_the_low_order_point_to_invalid_key_not_value_error_only():
    pair = X25519KeyPair.from_private_bytes(bytes(range(32)))
    with pytest.raises(InvalidKey, match="all-zero"):
        agree(pair, bytes(32))


# ----------------------------------------------------------------- KDF


def test_derive_key_is_hkdf_sha256_with_session_salt_and_documented_info():
    # RFC 5869 written out with hmac: extract, then one expand block.
    secret, fields = bytes(range(100, 132)), _fields()
    info = b"secagg/v1/mask-seed\x00" + bytes([2]) + (3).to_bytes(4, "little") + (7).to_bytes(4, "little")
    prk = hmac.new(fields["session_id"], secret, hashlib.sha256).digest()
    okm = hmac.new(prk, info + b"\x01", hashlib.sha256).digest()
    assert kdf_info(purpose="mask-seed", round=2, sender=3, receiver=7) == info
    assert derive_key(secret, **fields) == okm


_ALTERNATIVES = {
    "purpose": PURPOSE_SHARE_ENCRYPTION,
    "session_id": bytes(range(1, 33)),
    "round": 3,
    "sender": 7,
    "receiver": 3,
}


@pytest.mark.parametrize("field", sorted(_ALTERNATIVES))
def test_derive_key_changes_when_one_bound_field_changes(field):
    secret = bytes(range(32))
    assert derive_key(secret, **_fields()) != derive_key(secret, **_fields(**{field: _ALTERNATIVES[field]}))


@given(
    secret=keys32,
    a=st.tuples(purposes, keys32, st.integers(0, 255), u32, u32),
    b=st.tuples(purposes, keys32, st.integers(0, 255), u32, u32),
)
def test_derive_key_differs_whenever_any_bound_field_differs(secret, a, b):
    names = ("purpose", "session_id", "round", "sender", "receiver")
    key_a = derive_key(secret, **dict(zip(names, a)))
    key_b = derive_key(secret, **dict(zip(names, b)))
    assert (key_a == key_b) == (a == b)


@given(keys32, keys32)
def test_derive_key_differs_for_different_secrets(s1, s2):
    assert (derive_key(s1, **_fields()) == derive_key(s2, **_fields())) == (s1 == s2)


def test_derive_key_binds_the_pair_in_the_order_given():
    secret = bytes(32)
    assert derive_key(secret, **_fields(sender=1, receiver=2)) != derive_key(secret, **_fields(sender=2, receiver=1))


@pytest.mark.parametrize(
    "changes",
    [
        {"purpose": ""},
        {"purpose": "x" * 65},
        {"purpose": "Mask"},
        {"purpose": "prg"},
        {"purpose": "a_b"},
        {"session_id": bytes(31)},
        {"round": 256},
        {"round": -1},
        {"sender": 2**32},
        {"receiver": -1},
    ],
    ids=lambda c: f"{next(iter(c))}={next(iter(c.values()))!r}"[:40],
)
def test_derive_key_refuses_out_of_range_fields_with_value_error(changes):
    with pytest.raises(ValueError):
        derive_key(bytes(32), **_fields(**changes))


@pytest.mark.parametrize(
    "changes", [{"purpose": b"mask-seed"}, {"round": True}, {"sender": 1.0}, {"session_id": "00" * 32}]
)
def test_derive_key_refuses_wrong_types_with_type_error(changes):
    with pytest.raises(TypeError):
        derive_key(bytes(32), **_fields(**changes))


def test_derive_key_refuses_a_shared_secret_of_wrong_length():
    with pytest.raises(ValueError, match="shared_secret"):
        derive_key(bytes(16), **_fields())


# ----------------------------------------------------------------- vectors


@pytest.mark.parametrize("vector", params("x25519", "generate"))
def test_x25519_generate_vector_reproduces(vector):
    a = X25519KeyPair.from_private_bytes(unhex(vector["private"]))
    b = X25519KeyPair.from_private_bytes(unhex(vector["peer_private"]))
    assert a.public_bytes == unhex(vector["public"])
    assert b.public_bytes == unhex(vector["peer_public"])
    assert agree(a, b.public_bytes) == unhex(vector["shared"])
    assert agree(b, a.public_bytes) == unhex(vector["shared"])


@pytest.mark.parametrize("vector", params("x25519", "verify"))
def test_x25519_rfc7748_vector_verifies(vector):
    pair = X25519KeyPair.from_private_bytes(unhex(vector["private"]))
    if "public" in vector:
        assert pair.public_bytes == unhex(vector["public"])
    assert agree(pair, unhex(vector["peer_public"])) == unhex(vector["shared"])


@pytest.mark.parametrize("vector", params("x25519", "invalid"))
def test_x25519_invalid_vector_is_rejected(vector):
    if vector["operation"] == "from_private_bytes":
        with raises_exactly(ERRORS[vector["error"]]):
            X25519KeyPair.from_private_bytes(unhex(vector["private"]))
        return
    assert vector["operation"] == "agree"
    pair = X25519KeyPair.from_private_bytes(unhex(vector["private"]))
    with raises_exactly(ERRORS[vector["error"]]):
        agree(pair, unhex(vector["peer_public"]))


def _kdf_fields(vector):
    return {
        "purpose": vector["purpose"],
        "session_id": unhex(vector["session_id"]),
        "round": vector["round"],
        "sender": vector["sender"],
        "receiver": vector["receiver"],
    }


@pytest.mark.parametrize("vector", [p for p in params("kdf", "generate") if p.values[0]["kind"] != "associated_data"])
def test_kdf_generate_vector_reproduces(vector):
    fields = _kdf_fields(vector)
    if vector["kind"] == "chain":
        a = X25519KeyPair.from_private_bytes(unhex(vector["private"]))
        b = X25519KeyPair.from_private_bytes(unhex(vector["peer_private"]))
        assert b.public_bytes == unhex(vector["peer_public"])
        shared = agree(a, b.public_bytes)
        assert shared == unhex(vector["shared_secret"])
        assert derive_key(agree(b, a.public_bytes), **fields) == unhex(vector["key"])
    else:
        assert vector["kind"] == "derive_key"
        shared = unhex(vector["shared_secret"])
        info_fields = {k: v for k, v in fields.items() if k != "session_id"}
        assert kdf_info(**info_fields) == unhex(vector["info"])
    assert derive_key(shared, **fields) == unhex(vector["key"])


@pytest.mark.parametrize("vector", [p for p in params("kdf", "invalid") if p.values[0]["operation"] == "derive_key"])
def test_kdf_invalid_vector_is_rejected(vector):
    with raises_exactly(ERRORS[vector["error"]]):
        derive_key(unhex(vector["shared_secret"]), **_kdf_fields(vector))


# ---------------------------------------------------------------------------- kdf_info's one-pack path


def _info_by_fields(purpose: str, round, sender, receiver) -> bytes:
    """kdf_info as three separate check_uint fields (the path for any argument outside the one-pack case)."""
    from secagg.primitives.kex import LABEL_PREFIX, check_uint

    return (
        LABEL_PREFIX + purpose.encode() + b"\x00"
        + check_uint("round", round, 8).to_bytes(1, "little")
        + check_uint("sender", sender, 32).to_bytes(4, "little")
        + check_uint("receiver", receiver, 32).to_bytes(4, "little")
    )


FIELD = st.one_of(
    st.integers(-2, 2**32 + 1),
    st.sampled_from([0, 255, 256, 2**32 - 1, 2**32, True, False, 1.0, "1", None]),
)


@given(round=FIELD, sender=FIELD, receiver=FIELD)
def test_kdf_info_and_associated_data_give_the_field_by_field_bytes_or_its_error(round, sender, receiver):
    from secagg.primitives.aead import associated_data
    from secagg.primitives.kex import kdf_info

    sid = bytes(range(32))
    try:
        expected = _info_by_fields("mask-seed", round, sender, receiver)
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            kdf_info(purpose="mask-seed", round=round, sender=sender, receiver=receiver)
        with pytest.raises(type(exc)):
            associated_data(purpose="share", session_id=sid, round=round, sender=sender, receiver=receiver)
        return
    assert kdf_info(purpose="mask-seed", round=round, sender=sender, receiver=receiver) == expected
    ad = associated_data(purpose="share", session_id=sid, round=round, sender=sender, receiver=receiver)
    assert ad == b"secagg/v1/share\x00" + sid + expected[-9:]
