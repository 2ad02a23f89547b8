"""Authentication in the CKKS backend: the signed public context, and signed uploads.

The signed context is always on; signed uploads are the verifiable key
holder option (below and SPEC chapter 50, "Verifiable key holder").

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

import dataclasses
import hashlib
import hmac
import struct
from collections.abc import Mapping

from secagg.ckks.errors import ContextAuthenticationError, EnvelopeError
from secagg.errors import AbortReason, InvalidSignature
from secagg.primitives.sign import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, Ed25519SigningKey, verify

__all__ = [
    "KEY_FINGERPRINT_SIZE",
    "MAX_SIGNED_CONTEXT_BYTES",
    "ROUND_ID_SIZE",
    "SIGNED_CONTEXT_MAGIC",
    "SIGNED_CONTEXT_VERSION",
    "SignedUpload",
    "check_client_keys",
    "check_pin",
    "check_round_id",
    "key_holder_fingerprint",
    "open_signed_context",
    "sign_context",
    "sign_upload",
    "verify_upload",
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


# --------------------------------------------------------------------------- signed uploads (verifiable option)

ROUND_ID_SIZE = 16
_UPLOAD_LABEL = b"secagg/v1/ckks-upload\x00"
_DIGEST_SLICE = slice(38, 70)  # the envelope's SHA-256 digest field (secagg.ckks.envelope)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SignedUpload:
    """One client's UPLOAD envelope and its signature, as the server forwards them to the key holder.

    Attributes:
        client_id: the sender's id (its key in the key holder's ``client_keys``).
        envelope: the UPLOAD envelope bytes, unchanged.
        signature: the client's 64-byte Ed25519 signature (:func:`sign_upload`).
    """

    client_id: int
    envelope: bytes
    signature: bytes


def check_round_id(round_id: object) -> bytes:
    """Validate a round id of the verifiable option (:meth:`KeyHolder.open_round`).

    Args:
        round_id: the id as given.

    Returns:
        The 16 bytes.

    Raises:
        TypeError: if it is not bytes.
        ValueError: if it is not 16 bytes long.
    """
    if not isinstance(round_id, (bytes, bytearray, memoryview)):
        raise TypeError(f"round_id must be bytes, got {type(round_id).__name__}")
    if len(round_id) != ROUND_ID_SIZE:
        raise ValueError(f"round_id must be {ROUND_ID_SIZE} bytes, got {len(round_id)}")
    return bytes(round_id)


def _upload_statement(envelope: bytes, client_id: int, round_id: bytes) -> bytes:
    if isinstance(client_id, bool) or not isinstance(client_id, int):
        raise TypeError(f"client_id must be an int, got {client_id!r}")
    if not 1 <= client_id < 2**64:
        raise ValueError(f"client_id must be in 1..2**64-1, got {client_id!r}")
    if not isinstance(envelope, (bytes, bytearray, memoryview)):
        raise TypeError(f"envelope must be bytes, got {type(envelope).__name__}")
    digest = bytes(memoryview(envelope)[_DIGEST_SLICE])
    if len(digest) != 32:
        raise ValueError("envelope is shorter than its header")
    return _UPLOAD_LABEL + check_round_id(round_id) + struct.pack("<Q", client_id) + digest


def sign_upload(signing_key: Ed25519SigningKey, envelope: bytes, *, client_id: int, round_id: bytes) -> bytes:
    """Sign one's own UPLOAD envelope for a round (the verifiable option, SPEC chapter 50).

    Signs ``b"secagg/v1/ckks-upload" || 0x00 || round_id || u64le(client_id) ||
    digest``, where ``digest`` is the envelope's SHA-256 field (which covers
    its header, context fingerprint and every chunk).

    Args:
        signing_key: the client's long-term identity key (its public key is
            registered with the key holder).
        envelope: the envelope :meth:`Client.encrypt` returned.
        client_id: the client's id (>= 1).
        round_id: the 16-byte id the key holder opened for this round.

    Returns:
        The 64-byte signature.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if ``client_id``, ``round_id`` or the envelope is out of range.
    """
    if not isinstance(signing_key, Ed25519SigningKey):
        raise TypeError(f"signing_key must be an Ed25519SigningKey, got {type(signing_key).__name__}")
    return signing_key.sign(_upload_statement(envelope, client_id, round_id))


def verify_upload(public_key: bytes, upload: SignedUpload, *, round_id: bytes) -> None:
    """Check a client's signature on its upload; call only after the envelope's digest was checked.

    Args:
        public_key: the client's registered raw Ed25519 public key.
        upload: the :class:`SignedUpload`.
        round_id: the round the signature must name.

    Returns:
        ``None`` when the signature is valid.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if ``round_id`` has the wrong length.
        EnvelopeError: reason ``AUTHENTICATION``, if the signature does not
            verify (another round, another client, another envelope, a forgery).
    """
    statement = _upload_statement(upload.envelope, upload.client_id, round_id)
    if not isinstance(upload.signature, (bytes, bytearray, memoryview)):
        raise TypeError(f"signature must be bytes, got {type(upload.signature).__name__}")
    try:
        verify(public_key, statement, upload.signature)
    except InvalidSignature:
        raise EnvelopeError(
            f"client {upload.client_id}'s signature on its upload does not verify for this round",
            AbortReason.AUTHENTICATION,
        ) from None


def check_client_keys(client_keys: object) -> dict[int, bytes]:
    """Validate a registry of client identity keys: ``{client_id >= 1: 32-byte Ed25519 public key}``.

    Args:
        client_keys: the mapping, provisioned out of band (a PKI), never taken from the server.

    Returns:
        A plain dict copy.

    Raises:
        TypeError: if it is not a mapping of int to bytes.
        ValueError: if an id is below 1 or a key is not 32 bytes.
    """
    if not isinstance(client_keys, Mapping):
        raise TypeError(f"client_keys must be a mapping from client id to public key, got {type(client_keys).__name__}")
    checked = {}
    for cid, key in client_keys.items():
        if isinstance(cid, bool) or not isinstance(cid, int):
            raise TypeError(f"client_keys ids must be ints, got {cid!r}")
        if cid < 1:
            raise ValueError(f"client_keys ids must be >= 1, got {cid!r}")
        if not isinstance(key, (bytes, bytearray, memoryview)) or len(key) != PUBLIC_KEY_SIZE:
            raise ValueError(f"client_keys[{cid}] must be a {PUBLIC_KEY_SIZE}-byte Ed25519 public key")
        checked[cid] = bytes(key)
    return checked
