"""AES-256-GCM share encryption (secagg.primitives.aead)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.errors import InvalidCiphertext
from secagg.primitives.aead import NONCE_SIZE, OVERHEAD, TAG_SIZE, associated_data, decrypt, encrypt
from tests.detrandom import DeterministicRandom
from tests.vectors import params, raises_exactly, unhex

ERRORS = {"InvalidCiphertext": InvalidCiphertext, "ValueError": ValueError}

KEY = bytes(range(32))
AD = associated_data(purpose="share-encryption", session_id=bytes(range(32)), round=1, sender=1, receiver=2)


class FixedNonce:
    """Returns one given nonce; lets a test pin encrypt's output."""

    def __init__(self, nonce: bytes) -> None:
        self.nonce = nonce

    def token_bytes(self, n: int) -> bytes:
        assert n == NONCE_SIZE
        return self.nonce


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def test_sizes_are_the_documented_ones():
    assert (NONCE_SIZE, TAG_SIZE, OVERHEAD) == (12, 16, 28)


def test_associated_data_layout_is_label_purpose_nul_session_round_ids():
    sid = bytes(range(32))
    ad = associated_data(purpose="share-encryption", session_id=sid, round=1, sender=0x0102, receiver=5)
    assert ad == b"secagg/v1/share-encryption\x00" + sid + b"\x01" + b"\x02\x01\x00\x00" + b"\x05\x00\x00\x00"
    assert len(ad) == len("share-encryption") + 52


@pytest.mark.parametrize(
    "changes",
    [{"purpose": ""}, {"purpose": "A"}, {"session_id": bytes(31)}, {"round": 256}, {"sender": -1}, {"receiver": 2**32}],
    ids=str,
)
def test_associated_data_refuses_bad_fields_with_value_error(changes):
    fields = {"purpose": "share-encryption", "session_id": bytes(32), "round": 1, "sender": 1, "receiver": 2}
    fields.update(changes)
    with pytest.raises(ValueError):
        associated_data(**fields)


@given(plaintext=st.binary(max_size=300), ad=st.binary(max_size=80), key=st.binary(min_size=32, max_size=32))
def test_decrypt_inverts_encrypt(plaintext, ad, key):
    blob = encrypt(key, plaintext, ad)
    assert len(blob) == len(plaintext) + OVERHEAD
    assert decrypt(key, blob, ad) == plaintext


def test_encrypt_takes_the_nonce_from_the_random_source_and_puts_it_first():
    blob = encrypt(KEY, b"secret", AD, random=FixedNonce(bytes(range(12))))
    assert blob[:NONCE_SIZE] == bytes(range(12))
    assert blob == encrypt(KEY, b"secret", AD, random=FixedNonce(bytes(range(12))))


def test_two_encryptions_use_fresh_nonces():
    rnd = DeterministicRandom(5)
    a, b = encrypt(KEY, b"x", AD, random=rnd), encrypt(KEY, b"x", AD, random=rnd)
    assert a[:NONCE_SIZE] != b[:NONCE_SIZE] and a != b


def test_every_single_bit_flip_of_a_blob_fails_with_one_message():
    blob = encrypt(KEY, b"a share of 13 B", AD, random=FixedNonce(bytes(12)))
    messages = set()
    for bit in range(8 * len(blob)):
        with pytest.raises(InvalidCiphertext) as info:
            decrypt(KEY, _flip(blob, bit), AD)
        messages.add(str(info.value))
    assert len(messages) == 1


@given(data=st.data())
def test_any_change_to_the_associated_data_fails(data):
    ad = data.draw(st.binary(max_size=64), label="ad")
    other = data.draw(st.binary(max_size=64).filter(lambda x: x != ad), label="other")
    blob = encrypt(KEY, b"payload", ad)
    with pytest.raises(InvalidCiphertext):
        decrypt(KEY, blob, other)


@given(st.integers(min_value=0, max_value=OVERHEAD + 5 - 1))
def test_any_truncation_fails(cut):
    blob = encrypt(KEY, b"12345", AD)
    with pytest.raises(InvalidCiphertext):
        decrypt(KEY, blob[:cut], AD)


def test_a_wrong_key_fails_like_any_other_tampering():
    blob = encrypt(KEY, b"payload", AD)
    with pytest.raises(InvalidCiphertext) as wrong_key:
        decrypt(bytes(32), blob, AD)
    with pytest.raises(InvalidCiphertext) as short:
        decrypt(KEY, b"", AD)
    assert str(wrong_key.value) == str(short.value)
    assert wrong_key.value.__cause__ is None and wrong_key.value.__suppress_context__


@pytest.mark.parametrize("size", [0, 16, 24, 31, 33])
def test_keys_of_wrong_length_are_a_value_error_at_the_call(size):
    with pytest.raises(ValueError, match="key must be 32 bytes"):
        encrypt(bytes(size), b"x", AD)
    with pytest.raises(ValueError, match="key must be 32 bytes"):
        decrypt(bytes(size), bytes(40), AD)


def test_non_bytes_arguments_are_type_errors():
    with pytest.raises(TypeError):
        encrypt(KEY, "text", AD)
    with pytest.raises(TypeError):
        decrypt(KEY, bytes(40), None)


def test_a_random_source_returning_a_short_nonce_is_refused():
    class Short:
        def token_bytes(self, n):
            return bytes(n - 1)

    with pytest.raises(ValueError, match="not 12 bytes"):
        encrypt(KEY, b"x", AD, random=Short())


@pytest.mark.parametrize("vector", params("aead", "generate") + params("aead", "verify"))
def test_aead_vector_encrypts_to_the_exact_blob_and_decrypts_back(vector):
    key, ad, plaintext = unhex(vector["key"]), unhex(vector["associated_data"]), unhex(vector["plaintext"])
    blob = unhex(vector["blob"])
    assert encrypt(key, plaintext, ad, random=FixedNonce(unhex(vector["nonce"]))) == blob
    assert decrypt(key, blob, ad) == plaintext


@pytest.mark.parametrize("vector", params("aead", "invalid"))
def test_aead_invalid_vector_is_rejected(vector):
    key, ad = unhex(vector["key"]), unhex(vector["associated_data"])
    with raises_exactly(ERRORS[vector["error"]]):
        if vector["operation"] == "decrypt":
            decrypt(key, unhex(vector["blob"]), ad)
        else:
            assert vector["operation"] == "encrypt"
            encrypt(key, unhex(vector["plaintext"]), ad, random=FixedNonce(unhex(vector["nonce"])))


def _ad_fields(vector):
    return {
        "purpose": vector["purpose"],
        "session_id": unhex(vector["session_id"]),
        "round": vector["round"],
        "sender": vector["sender"],
        "receiver": vector["receiver"],
    }


@pytest.mark.parametrize(
    "vector", [p for p in params("kdf", "generate") if p.values[0]["kind"] == "associated_data"]
)
def test_associated_data_vector_reproduces(vector):
    assert associated_data(**_ad_fields(vector)) == unhex(vector["associated_data"])


@pytest.mark.parametrize(
    "vector", [p for p in params("kdf", "invalid") if p.values[0]["operation"] == "associated_data"]
)
def test_associated_data_invalid_vector_is_rejected(vector):
    with raises_exactly(ERRORS[vector["error"]]):
        associated_data(**_ad_fields(vector))
