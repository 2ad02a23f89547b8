"""Ed25519 signatures (secagg.primitives.sign)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.errors import InvalidKey, InvalidSignature
from secagg.primitives.sign import SIGNATURE_SIZE, Ed25519SigningKey, verify
from tests.detrandom import DeterministicRandom

# RFC 8032 section 7.1, TEST 1 and TEST 2: (secret key, public key, message, signature).
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]

KEY = Ed25519SigningKey.from_private_bytes(bytes(range(32)))


@pytest.mark.parametrize("secret,public,message,signature", RFC8032, ids=["rfc8032-test-1", "rfc8032-test-2"])
def test_rfc8032_vectors_sign_and_verify(secret, public, message, signature):
    key = Ed25519SigningKey.from_private_bytes(bytes.fromhex(secret))
    assert key.public_bytes.hex() == public
    assert key.sign(bytes.fromhex(message)).hex() == signature
    assert verify(bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)) is None


@given(st.binary(max_size=200))
def test_a_signature_verifies_under_its_key(message):
    sig = KEY.sign(message)
    assert len(sig) == SIGNATURE_SIZE
    verify(KEY.public_bytes, message, sig)


@given(st.binary(max_size=64), st.binary(max_size=64))
def test_a_signature_does_not_verify_another_message(m1, m2):
    sig = KEY.sign(m1)
    if m1 == m2:
        verify(KEY.public_bytes, m2, sig)
    else:
        with pytest.raises(InvalidSignature):
            verify(KEY.public_bytes, m2, sig)


def test_a_wrong_public_key_fails():
    other = Ed25519SigningKey.generate(random=DeterministicRandom(3))
    with pytest.raises(InvalidSignature):
        verify(other.public_bytes, b"msg", KEY.sign(b"msg"))


@given(st.integers(min_value=0, max_value=8 * SIGNATURE_SIZE - 1))
def test_any_flipped_signature_bit_fails(bit):
    sig = bytearray(KEY.sign(b"survivors"))
    sig[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidSignature):
        verify(KEY.public_bytes, b"survivors", bytes(sig))


@pytest.mark.parametrize(
    "public_key,signature",
    [
        (bytes(31), bytes(64)),
        (bytes(33), bytes(64)),
        (b"", bytes(64)),
        (None, bytes(63)),
        (None, bytes(65)),
        (None, b""),
        (b"\x02" * 31 + b"\x7f", bytes(64)),
    ],
    ids=["key-31", "key-33", "key-empty", "sig-63", "sig-65", "sig-empty", "key-junk"],
)
def test_malformed_keys_and_signatures_fail_with_the_same_opaque_error(public_key, signature):
    public_key = KEY.public_bytes if public_key is None else public_key
    with pytest.raises(InvalidSignature) as info:
        verify(public_key, b"m", signature)
    assert str(info.value) == "signature did not verify"
    assert info.value.__cause__ is None


def test_generate_takes_the_seed_from_the_random_source():
    key = Ed25519SigningKey.generate(random=DeterministicRandom(9))
    assert key.private_bytes() == DeterministicRandom(9).token_bytes(32)
    assert Ed25519SigningKey.from_private_bytes(key.private_bytes()).public_bytes == key.public_bytes


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_private_key_of_wrong_length_is_invalid_key(size):
    with pytest.raises(InvalidKey):
        Ed25519SigningKey.from_private_bytes(bytes(size))


def test_non_bytes_are_type_errors():
    with pytest.raises(TypeError):
        KEY.sign("text")
    with pytest.raises(TypeError):
        verify(KEY.public_bytes, "text", bytes(64))
    with pytest.raises(TypeError):
        Ed25519SigningKey.from_private_bytes(list(range(32)))


def test_signing_key_is_immutable_and_its_repr_hides_the_seed():
    with pytest.raises(AttributeError):
        KEY._private = None
    assert bytes(range(32)).hex() not in repr(KEY)
