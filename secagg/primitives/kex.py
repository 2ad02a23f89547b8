"""X25519 key agreement and the HKDF-SHA256 key derivation bound to a session.

Normative text: protocol_spec/SPEC.md, chapter "Key agreement and KDF".

* :class:`X25519KeyPair` wraps pyca/cryptography's X25519 private key; keys
  travel as their raw 32-byte encodings (RFC 7748).
* :func:`agree` returns the raw X25519 shared secret and refuses the all-zero
  output (a low-order peer point), compared in constant time.
* :func:`derive_key` turns a shared secret into a 32-byte key with
  HKDF-SHA256 (RFC 5869)::

      salt = session_id                                   (32 bytes)
      info = b"secagg/v1/" || purpose || 0x00
             || u8(round) || u32le(sender) || u32le(receiver)

  so a key is bound to its purpose, session, round and the ordered pair of
  client ids.

>>> from secagg.primitives.kex import PURPOSE_MASK_SEED, X25519KeyPair, agree, derive_key
>>> a, b = X25519KeyPair.generate(), X25519KeyPair.generate()
>>> agree(a, b.public_bytes) == agree(b, a.public_bytes)
True
>>> key = derive_key(agree(a, b.public_bytes), purpose=PURPOSE_MASK_SEED,
...                  session_id=bytes(32), round=1, sender=1, receiver=2)
>>> len(key)
32
"""

from __future__ import annotations

import hashlib
import hmac
import re
import struct

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from secagg.errors import InvalidKey
from secagg.primitives._common import KeyHolder, as_bytes
from secagg.primitives.hkdf import hkdf_sha256
from secagg.primitives.prg import SESSION_ID_SIZE

__all__ = [
    "KEY_SIZE",
    "LABEL_PREFIX",
    "PURPOSE_MASK_SEED",
    "PURPOSE_SHARE_ENCRYPTION",
    "RESERVED_PURPOSES",
    "SESSION_ID_SIZE",
    "X25519KeyPair",
    "agree",
    "check_not_low_order",
    "check_public_key",
    "check_purpose",
    "check_uint",
    "derive_key",
    "kdf_info",
]

KEY_SIZE = 32
LABEL_PREFIX = b"secagg/v1/"
PURPOSE_SHARE_ENCRYPTION = "share-encryption"
PURPOSE_MASK_SEED = "mask-seed"
RESERVED_PURPOSES = frozenset({"prg"})
"""Purposes :func:`derive_key` refuses: ``prg`` is the PRG's own HKDF label
(:data:`secagg.primitives.prg.PRG_LABEL`), whose info has the same length."""

_PURPOSE_RE = re.compile(r"[a-z0-9-]{1,64}")
_ZERO_SECRET = bytes(KEY_SIZE)
_PEERS: dict[bytes, X25519PublicKey] = {}
"""Loaded peer public keys by their raw bytes (public values; at most :data:`_MAX_PEERS` kept). In a
simulated round every key is loaded by each of its owner's neighbours: one load instead of k."""
_MAX_PEERS = 1 << 15
_ROUND_PAIR = struct.Struct("<BII")  # u8(round) || u32le(sender) || u32le(receiver)
_INFO_PREFIXES: dict[str, bytes] = {}
"""``{purpose: b"secagg/v1/" || purpose || 0x00}`` for purposes that passed the checks (at most 64 kept)."""


def check_uint(name: str, value: object, bits: int) -> int:
    """Validate an unsigned integer field of ``bits`` bits.

    Args:
        name: the field's name, quoted in errors.
        value: the value to check.
        bits: the encoded width (8 or 32 in this module).

    Returns:
        ``value`` as an ``int``.

    Raises:
        TypeError: if ``value`` is not an ``int`` (``bool`` is refused).
        ValueError: if ``value`` is outside ``[0, 2**bits)``.
    """
    if type(value) is int and 0 <= value < (1 << bits):  # the common case, decided without isinstance
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{name} must be in [0, {(1 << bits) - 1}], got {value}")
    return value


def check_purpose(purpose: object) -> bytes:
    """Validate a purpose label and return its ASCII bytes.

    Args:
        purpose: 1 to 64 characters from ``[a-z0-9-]``.

    Returns:
        The ASCII encoding of ``purpose``.

    Raises:
        TypeError: if ``purpose`` is not a ``str``.
        ValueError: if it is empty, longer than 64 characters or uses another
            character.
    """
    if not isinstance(purpose, str):
        raise TypeError(f"purpose must be a str, got {type(purpose).__name__}")
    if _PURPOSE_RE.fullmatch(purpose) is None:
        raise ValueError(f"purpose must be 1..64 characters of [a-z0-9-], got {purpose!r}")
    return purpose.encode("ascii")


def _check_session_id(session_id: object) -> bytes:
    session_id = as_bytes("session_id", session_id)
    if len(session_id) != SESSION_ID_SIZE:
        raise ValueError(f"session_id must be {SESSION_ID_SIZE} bytes, got {len(session_id)}")
    return session_id


class X25519KeyPair(KeyHolder):
    """An X25519 private key and its public key (immutable).

    Build one with :meth:`generate` or :meth:`from_private_bytes`.

    Warning:
        The private key is secret: :meth:`private_bytes` exists for tests,
        vectors and key storage, never for a message.
    """

    __slots__ = ()
    _KEY_CLASS = X25519PrivateKey
    _ALGORITHM = "X25519"
    _PRIVATE_SIZE = KEY_SIZE


def check_public_key(data: bytes) -> bytes:
    """Validate the encoding of a peer's X25519 public key.

    Only the length can be checked: every 32-byte string decodes to a
    u-coordinate (the top bit is ignored, RFC 7748 section 5). Low-order
    points are caught by :func:`agree`.

    Args:
        data: the peer's public key.

    Returns:
        ``data`` as ``bytes``.

    Raises:
        TypeError: if ``data`` is not bytes.
        InvalidKey: if ``data`` is not exactly 32 bytes.
    """
    data = as_bytes("public key", data)
    if len(data) != KEY_SIZE:
        raise InvalidKey(f"an X25519 public key is {KEY_SIZE} bytes, got {len(data)}")
    return data


def agree(private: X25519KeyPair, peer_public: bytes) -> bytes:
    """Return the raw X25519 shared secret of ``private`` and ``peer_public``.

    Args:
        private: our key pair.
        peer_public: the peer's raw 32-byte public key.

    Returns:
        32 bytes, the same on both sides. Feed them to :func:`derive_key`;
        never use them as a key directly.

    Raises:
        TypeError: if ``private`` is not an :class:`X25519KeyPair` or
            ``peer_public`` is not bytes.
        InvalidKey: if ``peer_public`` is not 32 bytes, or the result is the
            all-zero secret (``peer_public`` is a low-order point).
    """
    if not isinstance(private, X25519KeyPair):
        raise TypeError(f"private must be an X25519KeyPair, got {type(private).__name__}")
    if type(peer_public) is not bytes or len(peer_public) != KEY_SIZE:
        peer_public = check_public_key(peer_public)
    peer = _PEERS.get(peer_public)
    if peer is None:
        peer = X25519PublicKey.from_public_bytes(peer_public)
        if len(_PEERS) >= _MAX_PEERS:
            _PEERS.clear()
        _PEERS[peer_public] = peer
    try:
        shared = private._private.exchange(peer)
    except ValueError:
        # OpenSSL refuses the all-zero output itself; same error as our check.
        raise InvalidKey("X25519 produced the all-zero shared secret (low-order public key)") from None
    if hmac.compare_digest(shared, _ZERO_SECRET):
        raise InvalidKey("X25519 produced the all-zero shared secret (low-order public key)")
    return shared


def _agree_derive(private: X25519KeyPair, peer_public: bytes, session_id: bytes, info: bytes) -> bytes:
    # derive_key(agree(private, peer_public), ...) for callers that checked every argument already
    # (session._pair_keys: an X25519KeyPair; a 32-byte peer key from a decoded message; a 32-byte
    # session id; info = kdf_info(...) of checked fields). The all-zero (low-order) refusal is agree's,
    # unchanged: it is a property of the result, not of the arguments.
    peer = _PEERS.get(peer_public)
    if peer is None:
        peer = X25519PublicKey.from_public_bytes(peer_public)
        if len(_PEERS) >= _MAX_PEERS:
            _PEERS.clear()
        _PEERS[peer_public] = peer
    try:
        shared = private._private.exchange(peer)
    except ValueError:
        raise InvalidKey("X25519 produced the all-zero shared secret (low-order public key)") from None
    if hmac.compare_digest(shared, _ZERO_SECRET):
        raise InvalidKey("X25519 produced the all-zero shared secret (low-order public key)")
    return hkdf_sha256(shared, salt=session_id, info=info)


_PROBE: X25519KeyPair | None = None


def check_not_low_order(public_key: bytes) -> bytes:
    """Reject a public key of low order before anyone agrees with it.

    X25519 scalars are clamped to multiples of the cofactor 8, so agreeing
    with a point of order 1, 2, 4 or 8 gives the all-zero secret whatever the
    scalar. One agreement with a fixed, public probe scalar therefore tells
    whether the point is of low order; the probe needs no secrecy.

    Args:
        public_key: a raw 32-byte X25519 public key.

    Returns:
        ``public_key`` unchanged.

    Raises:
        TypeError: if ``public_key`` is not bytes.
        InvalidKey: if it is not 32 bytes or is a low-order point.
    """
    global _PROBE
    if _PROBE is None:
        _PROBE = X25519KeyPair.from_private_bytes(hashlib.sha256(b"secagg/v1/low-order-probe\x00").digest())
    agree(_PROBE, public_key)
    return public_key


def kdf_info(*, purpose: str, round: int, sender: int, receiver: int) -> bytes:
    """Return the HKDF ``info`` string that :func:`derive_key` uses.

    ``b"secagg/v1/" || purpose || 0x00 || u8(round) || u32le(sender) ||
    u32le(receiver)``.

    Args:
        purpose: 1..64 characters of ``[a-z0-9-]``, not a reserved purpose
            (``"prg"``).
        round: the protocol round, 0..255.
        sender: a client id, 0..2**32-1.
        receiver: a client id, 0..2**32-1.

    Returns:
        ``len(purpose) + 20`` bytes.

    Raises:
        TypeError: if ``purpose`` is not a ``str`` or an integer argument is
            not an ``int`` (``bool`` is refused).
        ValueError: if the purpose is malformed or reserved, or an integer is
            out of range.
    """
    prefix = _info_prefix(purpose)
    if (
        type(round) is int and type(sender) is int and type(receiver) is int
        and 0 <= round <= 0xFF and 0 <= sender <= 0xFFFFFFFF and 0 <= receiver <= 0xFFFFFFFF
    ):  # check_uint's common case for all three at once (the same rule), then one pack
        return prefix + _ROUND_PAIR.pack(round, sender, receiver)
    return (
        prefix
        + check_uint("round", round, 8).to_bytes(1, "little")
        + check_uint("sender", sender, 32).to_bytes(4, "little")
        + check_uint("receiver", receiver, 32).to_bytes(4, "little")
    )


def _info_prefix(purpose: object) -> bytes:
    prefix = _INFO_PREFIXES.get(purpose) if type(purpose) is str else None
    if prefix is None:
        label = check_purpose(purpose)
        if purpose in RESERVED_PURPOSES:
            raise ValueError(f"purpose {purpose!r} is reserved")
        prefix = LABEL_PREFIX + label + b"\x00"
        if len(_INFO_PREFIXES) < 64:
            _INFO_PREFIXES[purpose] = prefix
    return prefix


def derive_key(
    shared_secret: bytes, *, purpose: str, session_id: bytes, round: int, sender: int, receiver: int
) -> bytes:
    """Derive a 32-byte key from a shared secret with HKDF-SHA256.

    ``HKDF-SHA256(ikm=shared_secret, salt=session_id, info=kdf_info(...), L=32)``.

    Args:
        shared_secret: 32 bytes, normally from :func:`agree`.
        purpose: what the key is for (:data:`PURPOSE_SHARE_ENCRYPTION`,
            :data:`PURPOSE_MASK_SEED`, ...): 1..64 characters of ``[a-z0-9-]``,
            not ``"prg"``.
        session_id: the 32-byte session id.
        round: the protocol round, 0..255.
        sender: a client id, 0..2**32-1 (the protocol uses 1..n).
        receiver: a client id, 0..2**32-1.

    Returns:
        32 bytes.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if ``shared_secret`` or ``session_id`` is not 32 bytes, the
            purpose is malformed or reserved, or an integer is out of range.

    Warning:
        The key binds ``(sender, receiver)`` in the order given. Callers that
        need the same key on both sides (a pairwise mask seed, a pairwise
        channel key) must pass ``(min(u, v), max(u, v))``.
    """
    if type(shared_secret) is not bytes:
        shared_secret = as_bytes("shared_secret", shared_secret)
    if len(shared_secret) != KEY_SIZE:
        raise ValueError(f"shared_secret must be {KEY_SIZE} bytes, got {len(shared_secret)}")
    salt = session_id if type(session_id) is bytes and len(session_id) == SESSION_ID_SIZE else _check_session_id(session_id)
    info = kdf_info(purpose=purpose, round=round, sender=sender, receiver=receiver)
    return hkdf_sha256(shared_secret, salt=salt, info=info)
