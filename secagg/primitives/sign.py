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
from secagg.primitives._common import KeyHolder, as_bytes

__all__ = ["PRIVATE_KEY_SIZE", "PUBLIC_KEY_SIZE", "SIGNATURE_SIZE", "Ed25519SigningKey", "verify"]

PRIVATE_KEY_SIZE = 32
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64

_FAILURE = "signature did not verify"


class Ed25519SigningKey(KeyHolder):
    """An Ed25519 signing key (immutable).

    Build one with :meth:`generate` or :meth:`from_private_bytes`.

    Warning:
        In the active model the public key must reach peers through a PKI
        (a long-term identity); a signature under a key the server handed out
        proves nothing. Sign only messages that carry their own context
        (label, session id, round): the signature binds exactly the bytes
        given.
    """

    __slots__ = ()
    _KEY_CLASS = Ed25519PrivateKey
    _ALGORITHM = "Ed25519"
    _PRIVATE_SIZE = PRIVATE_KEY_SIZE

    def sign(self, message: bytes) -> bytes:
        """Sign ``message`` (deterministic, RFC 8032).

        Args:
            message: the bytes to sign.

        Returns:
            The 64-byte signature.

        Raises:
            TypeError: if ``message`` is not bytes.
        """
        return self._private.sign(as_bytes("message", message))


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
    public_key = as_bytes("public_key", public_key)
    message = as_bytes("message", message)
    signature = as_bytes("signature", signature)
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        raise InvalidSignature(_FAILURE)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (_CryptographyInvalidSignature, ValueError):
        raise InvalidSignature(_FAILURE) from None
