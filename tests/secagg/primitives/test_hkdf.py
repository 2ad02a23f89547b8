"""HKDF-SHA256 (secagg.primitives.hkdf) is byte for byte pyca/cryptography's HKDF and RFC 5869."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from secagg.primitives import hkdf
from secagg.primitives.hkdf import MAX_LENGTH, hkdf_sha256


def _pyca(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)


def test_rfc5869_test_cases_1_and_3():
    ikm = bytes.fromhex("0b" * 22)
    okm = hkdf_sha256(ikm, salt=bytes(range(13)), info=bytes(range(0xF0, 0xFA)), length=42)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )
    okm = hkdf_sha256(ikm, salt=b"", info=b"", length=42)
    assert okm.hex() == (
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    )


@given(
    ikm=st.binary(max_size=100),
    salt=st.binary(max_size=150),  # longer than the 64-byte block: hashed first
    info=st.binary(max_size=100),
    length=st.one_of(st.integers(1, 100), st.sampled_from([32, 33, 64, MAX_LENGTH])),
)
def test_equals_cryptography_hkdf(ikm, salt, info, length):
    assert hkdf_sha256(ikm, salt=salt, info=info, length=length) == _pyca(ikm, salt, info, length)


def test_the_salt_cache_stays_small_and_correct():
    salts = [bytes([i]) * 32 for i in range(3 * hkdf._MAX_SALTS)]
    for salt in salts + salts:
        assert hkdf_sha256(b"k" * 32, salt=salt, info=b"i") == _pyca(b"k" * 32, salt, b"i", 32)
    assert len(hkdf._SALTS) <= hkdf._MAX_SALTS


@pytest.mark.parametrize("length", [0, -1, MAX_LENGTH + 1, True, 1.0])
def test_bad_length_is_refused(length):
    with pytest.raises(ValueError, match="length"):
        hkdf_sha256(b"k", salt=b"s", info=b"i", length=length)


@pytest.mark.parametrize("field", ["ikm", "salt", "info"])
def test_non_bytes_is_refused(field):
    args = dict(ikm=b"k", salt=b"s", info=b"i")
    args[field] = "text"
    with pytest.raises(TypeError, match=field):
        hkdf_sha256(args.pop("ikm"), **args)
