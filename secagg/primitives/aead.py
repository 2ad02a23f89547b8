"""AES-256-GCM authenticated encryption with random 96-bit nonces.

Normative text: protocol_spec/SPEC.md, chapter "AEAD and signatures".

A blob is ``nonce (12 bytes) || ciphertext || tag (16 bytes)``, so it is
:data:`OVERHEAD` = 28 bytes longer than the plaintext. The associated data
binds the blob to its purpose, session, round and ordered pair of clients::

    b"secagg/v1/" || purpose || 0x00 || session_id (32 bytes)
    || u8(round) || u32le(sender) || u32le(receiver)

Every decryption failure raises the one opaque
:class:`~secagg.errors.InvalidCiphertext`.

>>> from secagg.primitives.aead import associated_data, decrypt, encrypt
>>> ad = associated_data(purpose="share-encryption", session_id=bytes(32),
...                      round=1, sender=1, receiver=2)
>>> blob = encrypt(bytes(32), b"share", ad)
>>> len(blob), decrypt(bytes(32), blob, ad)
(33, b'share')
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from secagg.errors import InvalidCiphertext
from secagg.primitives._common import as_bytes
from secagg.primitives.kex import LABEL_PREFIX, check_purpose, check_uint
from secagg.primitives.prg import SESSION_ID_SIZE
from secagg.primitives.randomness import DEFAULT_RANDOM, RandomSource, random_bytes

__all__ = ["KEY_SIZE", "NONCE_SIZE", "OVERHEAD", "TAG_SIZE", "associated_data", "decrypt", "encrypt"]

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
OVERHEAD = NONCE_SIZE + TAG_SIZE

_FAILURE = "ciphertext failed to authenticate"
_ROUND_PAIR = struct.Struct("<BII")  # u8(round) || u32le(sender) || u32le(receiver)
_AD_PREFIXES: dict[str, bytes] = {}
"""``{purpose: b"secagg/v1/" || purpose || 0x00}`` for purposes that passed the checks (at most 64 kept)."""


def _cipher(key: object) -> AESGCM:
    if type(key) is bytes and len(key) == KEY_SIZE:
        return AESGCM(key)
    key = as_bytes("key", key)
    if len(key) != KEY_SIZE:
        raise ValueError(f"key must be {KEY_SIZE} bytes, got {len(key)}")
    return AESGCM(key)


def associated_data(*, purpose: str, session_id: bytes, round: int, sender: int, receiver: int) -> bytes:
    """Build the associated data that binds a blob to its context.

    ``b"secagg/v1/" || purpose || 0x00 || session_id || u8(round) ||
    u32le(sender) || u32le(receiver)``.

    Args:
        purpose: 1..64 characters of ``[a-z0-9-]`` (the protocol's
            encrypted shares use ``"share"``; their key is derived under
            ``"share-encryption"``).
        session_id: the 32-byte session id.
        round: the protocol round, 0..255.
        sender: the encrypting client's id, 0..2**32-1.
        receiver: the decrypting client's id, 0..2**32-1.

    Returns:
        The associated-data bytes (``len(purpose) + 52`` bytes).

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if the purpose is malformed, ``session_id`` is not 32
            bytes, or an integer is out of range.
    """
    prefix = _AD_PREFIXES.get(purpose) if type(purpose) is str else None
    if prefix is None:
        prefix = LABEL_PREFIX + check_purpose(purpose) + b"\x00"
        if len(_AD_PREFIXES) < 64:
            _AD_PREFIXES[purpose] = prefix
    if type(session_id) is not bytes:
        session_id = as_bytes("session_id", session_id)
    if len(session_id) != SESSION_ID_SIZE:
        raise ValueError(f"session_id must be {SESSION_ID_SIZE} bytes, got {len(session_id)}")
    if (
        type(round) is int and type(sender) is int and type(receiver) is int
        and 0 <= round <= 0xFF and 0 <= sender <= 0xFFFFFFFF and 0 <= receiver <= 0xFFFFFFFF
    ):  # check_uint's common case for all three at once (the same rule), then one pack
        return prefix + session_id + _ROUND_PAIR.pack(round, sender, receiver)
    return (
        prefix
        + session_id
        + check_uint("round", round, 8).to_bytes(1, "little")
        + check_uint("sender", sender, 32).to_bytes(4, "little")
        + check_uint("receiver", receiver, 32).to_bytes(4, "little")
    )


def encrypt(
    key: bytes, plaintext: bytes, associated_data: bytes, *, random: RandomSource = DEFAULT_RANDOM
) -> bytes:
    """Encrypt and authenticate ``plaintext`` under a fresh random nonce.

    Args:
        key: 32 bytes (from :func:`secagg.primitives.kex.derive_key`).
        plaintext: the message (at most 2**31 - 1 bytes).
        associated_data: authenticated but not encrypted, for example from
            :func:`associated_data`.
        random: source of the 12-byte nonce (the OS CSPRNG by default).

    Returns:
        ``nonce || ciphertext || tag``, ``len(plaintext) + 28`` bytes.

    Raises:
        TypeError: if an argument is not bytes.
        ValueError: if ``key`` is not 32 bytes or ``random`` returns other
            than 12 bytes.

    Warning:
        A random 96-bit nonce is safe only up to about 2**32 messages per key
        (beyond that a nonce repeats with non-negligible probability, which
        reveals the XOR of two plaintexts and lets an attacker forge tags).
        The protocol derives one key per (session, ordered pair of clients)
        and sends a handful of messages under it, so this bound is far away;
        never reuse a key across sessions or pass a deterministic ``random``
        outside tests.
    """
    cipher = _cipher(key)
    if type(plaintext) is not bytes:
        plaintext = as_bytes("plaintext", plaintext)
    if type(associated_data) is not bytes:
        associated_data = as_bytes("associated_data", associated_data)
    nonce = random_bytes(random, NONCE_SIZE)
    return nonce + cipher.encrypt(nonce, plaintext, associated_data)


def decrypt(key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    """Authenticate and decrypt a blob made by :func:`encrypt`.

    Args:
        key: the 32-byte key it was encrypted under.
        blob: ``nonce || ciphertext || tag``.
        associated_data: exactly the associated data given to :func:`encrypt`.

    Returns:
        The plaintext.

    Raises:
        TypeError: if an argument is not bytes.
        ValueError: if ``key`` is not 32 bytes (a local error, raised at the
            call).
        InvalidCiphertext: on any other failure (blob shorter than 28 bytes,
            wrong key, wrong associated data, any modified byte), always with
            the same message.
    """
    cipher = _cipher(key)
    if type(blob) is not bytes:
        blob = as_bytes("blob", blob)
    if type(associated_data) is not bytes:
        associated_data = as_bytes("associated_data", associated_data)
    if len(blob) < OVERHEAD:
        raise InvalidCiphertext(_FAILURE)
    try:
        return cipher.decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], associated_data)
    except InvalidTag:
        raise InvalidCiphertext(_FAILURE) from None
