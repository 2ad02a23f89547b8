"""HKDF-SHA256 (RFC 5869) with one-shot HMACs: the library's one KDF implementation.

Every key the protocol derives (:func:`secagg.primitives.kex.derive_key`,
:func:`secagg.primitives.prg.prg_key`) goes through :func:`hkdf_sha256`::

    PRK = HMAC-SHA256(key = salt, msg = ikm)                       (extract)
    T(i) = HMAC-SHA256(key = PRK, msg = T(i-1) || info || u8(i))    (expand, T(0) empty)
    OKM = first `length` bytes of T(1) || T(2) || ...

The output is byte for byte ``cryptography``'s ``HKDF(SHA256(), length, salt,
info).derive(ikm)`` (tests/secagg/primitives/test_hkdf.py checks that, and the
KDF and PRG vectors pin it); it exists because building one ``HKDF`` object per
derivation costs more than the two HMACs, and a round derives ~10^5 keys.
HMAC is ``cryptography``'s (pyca) HMAC-SHA256; the extract step's key is the
salt, which in this protocol is the session id: public and the same for every
key of a session, so one keyed HMAC object per salt is kept in a small cache
and copied per call (no secret is ever cached).

>>> hkdf_sha256(b"\\x0b" * 22, salt=bytes(range(13)), info=bytes(range(0xf0, 0xfa)), length=42).hex()[:16]
'3cb25f25faacd57a'
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, hmac

__all__ = ["MAX_LENGTH", "hkdf_sha256"]

_HASH_LEN = 32
MAX_LENGTH = 255 * _HASH_LEN
"""The longest output RFC 5869 allows with SHA-256."""

_SALTS: dict[bytes, hmac.HMAC] = {}
_MAX_SALTS = 16
_SHA256 = hashes.SHA256()


def _salted(salt: bytes) -> hmac.HMAC:
    keyed = _SALTS.get(salt)
    if keyed is None:
        keyed = hmac.HMAC(salt or bytes(_HASH_LEN), _SHA256)
        if len(_SALTS) >= _MAX_SALTS:
            _SALTS.clear()
        _SALTS[salt] = keyed
    return keyed


def _hmac(key: bytes, msg: bytes) -> bytes:
    h = hmac.HMAC(key, _SHA256)
    h.update(msg)
    return h.finalize()


def _extract(salt: bytes, ikm: bytes) -> bytes:
    h = _salted(salt).copy()
    h.update(ikm)
    return h.finalize()


def hkdf_sha256(ikm: bytes, *, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """Return HKDF-SHA256(ikm, salt, info) of ``length`` bytes (RFC 5869).

    Args:
        ikm: the input keying material.
        salt: the salt (an empty salt means 32 zero bytes, as in the RFC).
        info: the context string.
        length: output bytes, 1..:data:`MAX_LENGTH`.

    Returns:
        ``length`` bytes.

    Raises:
        TypeError: if ``ikm``, ``salt`` or ``info`` is not bytes-like.
        ValueError: if ``length`` is outside ``[1, MAX_LENGTH]``.
    """
    if type(ikm) is bytes and type(salt) is bytes and type(info) is bytes and length == _HASH_LEN and type(length) is int:
        # The protocol's every call (32-byte keys): one extract from the cached salt, one expand block
        # (_extract and _hmac inlined).
        keyed = _SALTS.get(salt) or _salted(salt)
        h = keyed.copy()
        h.update(ikm)
        h = hmac.HMAC(h.finalize(), _SHA256)
        h.update(info + b"\x01")
        return h.finalize()
    for name, value in (("ikm", ikm), ("salt", salt), ("info", info)):
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"{name} must be bytes, got {type(value).__name__}")
    if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= MAX_LENGTH:
        raise ValueError(f"length must be an int in [1, {MAX_LENGTH}], got {length!r}")
    prk = _extract(bytes(salt), bytes(ikm))
    info = bytes(info)
    out, block = [], b""
    for i in range(1, -(-length // _HASH_LEN) + 1):
        block = _hmac(prk, block + info + bytes([i]))
        out.append(block)
    return b"".join(out)[:length]
