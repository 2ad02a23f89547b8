"""The leaf hash of the key commitment: ``SHA-256(0x00 || data)``.

The session's key leaf is ``leaf_hash(u32le(id) || c_pk || s_pk)``
(:func:`secagg.protocol.session.key_leaf`); since wire version 3 these
leaves sit in the ordered key tree of :mod:`secagg.primitives.ordered_tree`
(SPEC.md, chapter "Protocol", "Key commitment"), whose inner nodes use the
prefix ``0x01``. The id-ordered tree of wire versions 1 and 2 is gone.

>>> leaf_hash(b"").hex()[:16]
'6e340b9cffb37a98'
"""

from __future__ import annotations

import hashlib

__all__ = ["HASH_SIZE", "leaf_hash"]

HASH_SIZE = 32


def leaf_hash(data: bytes) -> bytes:
    """Return ``SHA-256(0x00 || data)``.

    Args:
        data: the bytes to hash (any length; a bytes-like object).

    Returns:
        The 32-byte leaf hash.

    Raises:
        TypeError: if ``data`` cannot be concatenated to ``bytes`` (for
            example a ``str``); there is no other validation.
    """
    return hashlib.sha256(b"\x00" + data).digest()
