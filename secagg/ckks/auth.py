"""Authentication of the CKKS public context: the key holder signs it, every role verifies it.

Without this, a server could hand clients a context of its own making (its
own secret key) and decrypt every upload by itself. The key holder signs its
public context with a long-term Ed25519 key; clients (and the server) verify
the signature against that key, or its fingerprint, **pinned out of band**
(shipped with the client's configuration, never received from the server),
and refuse anything else with :class:`~secagg.ckks.errors.ContextAuthenticationError`
before parsing or encrypting anything.

Normative layout of a signed context (SPEC chapter 50, "Signed context";
integers little-endian)::

    offset    size  field
    0         4     magic        b"SGCS"
    4         1     version      u8, 1
    5         32    signer       the key holder's raw Ed25519 public key
    37        4     length       u32le L, 1 <= L <= MAX_SIGNED_CONTEXT_BYTES
    41        L     context      the public context PC (KeyHolder.public_context)
    41 + L    64    signature    Ed25519(signer, b"secagg/v1/ckks-signed-context" || 0x00 || bytes[0:41+L])

and nothing after the signature. The pin is either the 32-byte public key or
its :func:`key_holder_fingerprint`; the fingerprint is what an operator can
read out over the phone or print in a deployment manifest.

>>> from secagg.primitives.sign import Ed25519SigningKey
>>> key = Ed25519SigningKey.generate()
>>> signed = sign_context(key, b"public context bytes")
>>> bytes(open_signed_context(signed, key_holder_fingerprint=key_holder_fingerprint(key.public_bytes)))
b'public context bytes'
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from secagg.ckks.errors import ContextAuthenticationError
from secagg.errors import InvalidSignature
from secagg.primitives.sign import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, Ed25519SigningKey, verify

__all__ = [
    "KEY_FINGERPRINT_SIZE",
    "MAX_SIGNED_CONTEXT_BYTES",
    "SIGNED_CONTEXT_MAGIC",
    "SIGNED_CONTEXT_VERSION",
    "check_pin",
    "key_holder_fingerprint",
    "open_signed_context",
    "sign_context",
]

SIGNED_CONTEXT_MAGIC = b"SGCS"
SIGNED_CONTEXT_VERSION = 1
KEY_FINGERPRINT_SIZE = 32
MAX_SIGNED_CONTEXT_BYTES = 32 * 2**20
"""Contexts above this are refused before the signature is checked (the
largest public context of any accepted parameter set is about 8.5 MB)."""

_HEADER = struct.Struct("<4sB32sI")
_CONTEXT_LABEL = b"secagg/v1/ckks-signed-context\x00"
_KEY_LABEL = b"secagg/v1/ckks-key-holder\x00"


def key_holder_fingerprint(public_key: bytes) -> bytes:
    """Return the 32-byte fingerprint of a key holder's Ed25519 public key.

    ``SHA-256(b"secagg/v1/ckks-key-holder" || 0x00 || public_key)``.

    Args:
        public_key: the raw 32-byte Ed25519 public key.

    Returns:
        32 bytes (print them as hex to pin them in a configuration).

    Raises:
        TypeError: if ``public_key`` is not bytes.
        ValueError: if it is not 32 bytes long.
    """
    if not isinstance(public_key, (bytes, bytearray, memoryview)):
        raise TypeError(f"public_key must be bytes, got {type(public_key).__name__}")
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise ValueError(f"an Ed25519 public key is {PUBLIC_KEY_SIZE} bytes, got {len(public_key)}")
    return hashlib.sha256(_KEY_LABEL + bytes(public_key)).digest()


def sign_context(signing_key: Ed25519SigningKey, public_context: bytes) -> bytes:
    """Wrap a public context with the key holder's signature (the layout above).

    Args:
        signing_key: the key holder's long-term :class:`~secagg.primitives.sign.Ed25519SigningKey`.
        public_context: the exact bytes of :attr:`KeyHolder.public_context`.

    Returns:
        The signed context.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if the context is empty or above :data:`MAX_SIGNED_CONTEXT_BYTES`.
    """
    if not isinstance(signing_key, Ed25519SigningKey):
        raise TypeError(f"signing_key must be an Ed25519SigningKey, got {type(signing_key).__name__}")
    if not isinstance(public_context, (bytes, bytearray, memoryview)):
        raise TypeError(f"public_context must be bytes, got {type(public_context).__name__}")
    if not 1 <= len(public_context) <= MAX_SIGNED_CONTEXT_BYTES:
        raise ValueError(f"public context of {len(public_context):,} bytes is outside 1..{MAX_SIGNED_CONTEXT_BYTES:,}")
    body = (
        _HEADER.pack(SIGNED_CONTEXT_MAGIC, SIGNED_CONTEXT_VERSION, signing_key.public_bytes, len(public_context))
        + bytes(public_context)
    )
    return body + signing_key.sign(_CONTEXT_LABEL + body)


def check_pin(key_holder_key: bytes | None, key_holder_fingerprint: bytes | str | None) -> tuple[str, bytes]:
    """Validate the pin a role was given: exactly one of a public key or a fingerprint.

    Args:
        key_holder_key: the key holder's raw 32-byte Ed25519 public key, or ``None``.
        key_holder_fingerprint: :func:`key_holder_fingerprint` of it (32 bytes or
            64 hex characters), or ``None``.

    Returns:
        ``("key", 32 bytes)`` or ``("fingerprint", 32 bytes)``.

    Raises:
        TypeError: if a pin has the wrong type, or neither or both are given
            (an unpinned role would accept any context the server makes).
        ValueError: if a pin has the wrong length or is not hex.
    """
    if (key_holder_key is None) == (key_holder_fingerprint is None):
        raise TypeError(
            "give exactly one of key_holder_key= or key_holder_fingerprint=, pinned out of band (not from the "
            "server): without it the server could hand out a context of its own and decrypt every input"
        )
    if key_holder_key is not None:
        if not isinstance(key_holder_key, (bytes, bytearray, memoryview)):
            raise TypeError(f"key_holder_key must be 32 bytes, got {type(key_holder_key).__name__}")
        if len(key_holder_key) != PUBLIC_KEY_SIZE:
            raise ValueError(f"key_holder_key must be {PUBLIC_KEY_SIZE} bytes, got {len(key_holder_key)}")
        return "key", bytes(key_holder_key)
    pin = key_holder_fingerprint
    if isinstance(pin, str):
        try:
            pin = bytes.fromhex(pin)
        except ValueError:
            raise ValueError("key_holder_fingerprint must be 64 hex characters") from None
    if not isinstance(pin, (bytes, bytearray, memoryview)):
        raise TypeError(f"key_holder_fingerprint must be bytes or hex, got {type(pin).__name__}")
    if len(pin) != KEY_FINGERPRINT_SIZE:
        raise ValueError(f"key_holder_fingerprint must be {KEY_FINGERPRINT_SIZE} bytes, got {len(pin)}")
    return "fingerprint", bytes(pin)


def open_signed_context(
    data: bytes,
    *,
    key_holder_key: bytes | None = None,
    key_holder_fingerprint: bytes | str | None = None,
) -> memoryview:
    """Verify a signed context against the pinned key holder and return the public context.

    Checks, in this order and before anything is parsed: type, length bounds,
    magic, version, declared length against the bytes present, the signer
    against the pin (constant-time), then the Ed25519 signature.

    Args:
        data: the signed context as received (through the server).
        key_holder_key: the pinned raw public key, or
        key_holder_fingerprint: the pinned fingerprint (exactly one of the two).

    Returns:
        A view of the public context inside ``data`` (no copy).

    Raises:
        TypeError: if ``data`` is not bytes or the pin is missing or of a wrong type.
        ValueError: if a pin has the wrong length.
        ContextAuthenticationError: if the bytes are not a signed context
            (also an unsigned, raw public context), are signed by another key
            than the pinned one, or the signature does not verify.
    """
    kind, pin = check_pin(key_holder_key, key_holder_fingerprint)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"signed context must be bytes, got {type(data).__name__}")
    view = memoryview(data).cast("B")
    if not _HEADER.size + 1 + SIGNATURE_SIZE <= len(view) <= _HEADER.size + MAX_SIGNED_CONTEXT_BYTES + SIGNATURE_SIZE:
        raise ContextAuthenticationError(f"a signed context of {len(view):,} bytes is out of bounds")
    magic, version, signer, length = _HEADER.unpack_from(view, 0)
    if magic != SIGNED_CONTEXT_MAGIC:
        raise ContextAuthenticationError(
            f"not a signed context (magic {bytes(magic)!r}, expected {SIGNED_CONTEXT_MAGIC!r}): an unsigned public "
            f"context is refused, because anyone (the server too) can make one"
        )
    if version != SIGNED_CONTEXT_VERSION:
        raise ContextAuthenticationError(f"unsupported signed-context version {version}")
    if _HEADER.size + length + SIGNATURE_SIZE != len(view) or length < 1:
        raise ContextAuthenticationError(
            f"signed context declares {length:,} context bytes, {len(view) - _HEADER.size - SIGNATURE_SIZE:,} present"
        )
    expected = signer if kind == "key" else _fingerprint_of(signer)
    if not hmac.compare_digest(expected, pin):
        raise ContextAuthenticationError(
            "the context is signed by another key than the pinned key holder's: refused (a server-made context?)"
        )
    end = _HEADER.size + length
    try:
        verify(signer, _CONTEXT_LABEL + bytes(view[:end]), bytes(view[end:]))
    except InvalidSignature:
        raise ContextAuthenticationError("the key holder's signature on the context does not verify") from None
    return view[_HEADER.size : end]


def _fingerprint_of(public_key: bytes) -> bytes:
    return hashlib.sha256(_KEY_LABEL + bytes(public_key)).digest()
