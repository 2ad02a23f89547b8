"""Ed25519 signatures (RFC 8032) for the active-adversary mode.

Normative text: protocol_spec/SPEC.md, chapter "AEAD and signatures".
Keys and signatures travel raw: a public key is 32 bytes, a signature 64.
:func:`verify` raises the one opaque :class:`~secagg.errors.InvalidSignature`
whatever went wrong.

>>> from secagg.primitives.sign import Ed25519SigningKey, verify
>>> key = Ed25519SigningKey.generate()
>>> sig = key.sign(b"survivors: 1, 2, 3")
>>> len(sig), verify(key.public_bytes, b"survivors: 1, 2, 3", sig)
(64, None)
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature as _CryptographyInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from secagg.errors import InvalidKey, InvalidSignature
from secagg.primitives.randomness import DEFAULT_RANDOM, RandomSource

__all__ = ["PRIVATE_KEY_SIZE", "PUBLIC_KEY_SIZE", "SIGNATURE_SIZE", "Ed25519SigningKey", "verify"]

PRIVATE_KEY_SIZE = 32
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64

_FAILURE = "signature did not verify"


def _as_bytes(name: str, value: object) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, got {type(value).__name__}")
    return bytes(value)


class Ed25519SigningKey:
    """An Ed25519 signing key (immutable).

    Build one with :meth:`generate` or :meth:`from_private_bytes`.

    Warning:
        In the active model the public key must reach peers through a PKI
        (a long-term identity); a signature under a key the server handed out
        proves nothing. Sign only messages that carry their own context
        (label, session id, round): the signature binds exactly the bytes
        given.
    """

    __slots__ = ("_private", "_public")

    def __init__(self, private: Ed25519PrivateKey) -> None:
        if not isinstance(private, Ed25519PrivateKey):
            raise TypeError(f"private must be an Ed25519PrivateKey, got {type(private).__name__}")
        object.__setattr__(self, "_private", private)
        object.__setattr__(self, "_public", private.public_key().public_bytes_raw())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return f"Ed25519SigningKey(public={self._public.hex()})"

    @classmethod
    def generate(cls, *, random: RandomSource = DEFAULT_RANDOM) -> Ed25519SigningKey:
        """Make a signing key from a 32-byte seed drawn from ``random``.

        Args:
            random: the randomness source (the OS CSPRNG by default).

        Returns:
            A new signing key.

        Raises:
            InvalidKey: if ``random`` returns other than 32 bytes.
        """
        return cls.from_private_bytes(random.token_bytes(PRIVATE_KEY_SIZE))

    @classmethod
    def from_private_bytes(cls, data: bytes) -> Ed25519SigningKey:
        """Load a signing key from its raw 32-byte seed (RFC 8032 private key).

        Args:
            data: 32 bytes.

        Returns:
            The signing key.

        Raises:
            TypeError: if ``data`` is not bytes.
            InvalidKey: if ``data`` is not 32 bytes long.
        """
        data = _as_bytes("data", data)
        if len(data) != PRIVATE_KEY_SIZE:
            raise InvalidKey(f"an Ed25519 private key is {PRIVATE_KEY_SIZE} bytes, got {len(data)}")
        return cls(Ed25519PrivateKey.from_private_bytes(data))

    def private_bytes(self) -> bytes:
        """Return the raw 32-byte seed (for key storage; keep it secret)."""
        return self._private.private_bytes_raw()

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return self._public

    def sign(self, message: bytes) -> bytes:
        """Sign ``message`` (deterministic, RFC 8032).

        Args:
            message: the bytes to sign.

        Returns:
            The 64-byte signature.

        Raises:
            TypeError: if ``message`` is not bytes.
        """
        return self._private.sign(_as_bytes("message", message))


def verify(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Check an Ed25519 signature; return ``None`` only if it is valid.

    Args:
        public_key: the signer's raw 32-byte public key.
        message: the signed bytes.
        signature: the 64-byte signature.

    Returns:
        ``None``.

    Raises:
        TypeError: if an argument is not bytes.
        InvalidSignature: on any failure (wrong key or signature length, a
            key that is not a curve point, a wrong signature), always with the
            same message.
    """
    public_key = _as_bytes("public_key", public_key)
    message = _as_bytes("message", message)
    signature = _as_bytes("signature", signature)
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        raise InvalidSignature(_FAILURE)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (_CryptographyInvalidSignature, ValueError):
        raise InvalidSignature(_FAILURE) from None
