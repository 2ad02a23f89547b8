"""Session bindings: the session id, signed statements, commitments, derived keys.

Everything a client and the server must compute identically, in one place, so
that the state machines stay about rules and the bytes stay in SPEC.md
(chapter "Protocol"):

* ``params_bytes``  = u32 n | u32 dim | u8 bits | u8 graph | u32 k | u32 t | u8 threat
* key leaf          = SHA-256(0x00 | u32 id | c_pk | s_pk), one per participant
* ``session_id``    = SHA-256("secagg/v1/session" 0x00 | params_bytes | graph_seed
  | u32 m | u32 id_1 .. u32 id_m | Merkle root over the key leaves in id order)
* advertise statement   = "secagg/v1/advertise" 0x00 | params_bytes | u32 id | c_pk | s_pk
* consistency statement = "secagg/v1/consistency" 0x00 | session_id | u32 m | u32 ids...
* seed commitment       = SHA-256("secagg/v1/seed-commitment" 0x00 | session_id | u32 id | seed)
* share key   = derive_key(X25519(c_sk_u, c_pk_v), "share-encryption", session, round 1, min, max)
* mask seed   = derive_key(X25519(s_sk_u, s_pk_v), "mask-seed", session, round 2, min, max)
* share AD    = associated_data("share", session, round 1, sender, receiver)
* pair sign   : client u adds +PRG(s_uv) when u < v and -PRG(s_uv) when u > v.

>>> len(seed_commitment(bytes(32), 1, bytes(32)))
32
>>> pair_sign(1, 2), pair_sign(2, 1)
(1, -1)
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence

from secagg.messages import AdvertiseKeys
from secagg.params import GraphKind, Params, ThreatModel
from secagg.primitives import aead, kex, merkle

__all__ = [
    "advertise_statement",
    "consistency_statement",
    "key_leaf",
    "mask_seed",
    "pair_sign",
    "params_bytes",
    "seed_commitment",
    "session_id",
    "share_associated_data",
    "share_key",
]

_GRAPH_CODES = {GraphKind.COMPLETE: 1, GraphKind.HARARY: 2}
_THREAT_CODES = {ThreatModel.SEMI_HONEST: 1, ThreatModel.SEMI_MALICIOUS: 2, ThreatModel.ACTIVE: 3}


def params_bytes(params: Params) -> bytes:
    """Return the canonical 19-byte encoding of the round parameters.

    Args:
        params: the round parameters (a validated :class:`Params`).

    Returns:
        19 bytes: ``u32 n | u32 dim | u8 bits | u8 graph | u32 k | u32 t |
        u8 threat``, little-endian.

    Raises:
        Nothing of its own for a :class:`Params` (its fields are validated on
        construction); ``params`` is not type-checked, so another object
        fails with ``AttributeError``/``KeyError``/``struct.error``.
    """
    return struct.pack(
        "<IIBBIIB",
        params.n_clients,
        params.dim,
        params.bits,
        _GRAPH_CODES[params.graph],
        params.neighbors,
        params.threshold,
        _THREAT_CODES[params.threat],
    )


def key_leaf(entry: AdvertiseKeys) -> bytes:
    """Return the Merkle leaf hash of one client's advertised keys.

    ``SHA-256(0x00 || u32le(client_id) || c_pk || s_pk)``.

    Args:
        entry: the client's :class:`AdvertiseKeys` message.

    Returns:
        The 32-byte leaf hash.

    Raises:
        Nothing of its own for a decoded :class:`AdvertiseKeys`; the entry is
        not validated, so a ``client_id`` outside ``[0, 2**32)`` raises
        ``struct.error`` and non-bytes keys raise ``TypeError``.
    """
    return merkle.leaf_hash(struct.pack("<I", entry.client_id) + entry.c_pk + entry.s_pk)


def session_id(params: Params, graph_seed: bytes, participants: Sequence[int], key_root: bytes) -> bytes:
    """Return the 32-byte session id.

    Args:
        params: the round parameters.
        graph_seed: the 32-byte graph seed the server drew.
        participants: the sorted ids of every client that advertised keys.
            Binding the set (not only its size) means a server cannot show
            different clients different participant sets, hence different
            graphs, under one session id.
        key_root: the Merkle root over every participant's :func:`key_leaf`.

    Returns:
        32 bytes.

    Raises:
        Nothing for well-formed input; nothing is validated (neither the
        sizes of ``graph_seed`` and ``key_root`` nor the order of
        ``participants``). ``TypeError`` if ``graph_seed`` or ``key_root`` is
        not bytes-like, ``struct.error`` if an id is not an int in
        ``[0, 2**32)``.
    """
    h = hashlib.sha256(b"secagg/v1/session\x00")
    h.update(params_bytes(params))
    h.update(graph_seed)
    h.update(struct.pack(f"<I{len(participants)}I", len(participants), *participants))
    h.update(key_root)
    return h.digest()


def advertise_statement(params: Params, client_id: int, c_pk: bytes, s_pk: bytes) -> bytes:
    """Return the bytes a client signs in AdvertiseKeys (active model).

    ``b"secagg/v1/advertise" || 0x00 || params_bytes || u32le(client_id) ||
    c_pk || s_pk``.

    Args:
        params: the round parameters.
        client_id: the signing client's id.
        c_pk: its 32-byte share-encryption public key.
        s_pk: its 32-byte mask public key.

    Returns:
        The statement bytes (``20 + 19 + 4 + len(c_pk) + len(s_pk)``).

    Raises:
        Nothing for well-formed input; key sizes are not checked.
        ``struct.error`` if ``client_id`` is not an int in ``[0, 2**32)``,
        ``TypeError`` if a key is not bytes, and as :func:`params_bytes`.
    """
    return b"secagg/v1/advertise\x00" + params_bytes(params) + struct.pack("<I", client_id) + c_pk + s_pk


def consistency_statement(sid: bytes, survivors: Iterable[int]) -> bytes:
    """Return the bytes a client signs in ConsistencyCheckResponse (active model).

    ``b"secagg/v1/consistency" || 0x00 || sid || u32le(m) || u32le(id)...``
    with the ids sorted ascending.

    Args:
        sid: the 32-byte session id (its size is not checked).
        survivors: the survivor ids, in any order.

    Returns:
        The statement bytes (``22 + len(sid) + 4 + 4 * m``).

    Raises:
        TypeError: if ``sid`` is not bytes or the ids cannot be sorted.
        struct.error: if an id is not an int in ``[0, 2**32)``.
    """
    ids = sorted(survivors)
    return b"secagg/v1/consistency\x00" + sid + struct.pack(f"<I{len(ids)}I", len(ids), *ids)


def seed_commitment(sid: bytes, client_id: int, seed: bytes) -> bytes:
    """Return the SHA-256 commitment to a client's self-mask seed.

    ``SHA-256("secagg/v1/seed-commitment" || 0x00 || sid || u32le(client_id)
    || seed)``.

    Args:
        sid: the 32-byte session id (its size is not checked).
        client_id: the committing client's id.
        seed: the 32-byte self-mask seed (its size is not checked).

    Returns:
        The 32-byte commitment.

    Raises:
        TypeError: if ``sid`` or ``seed`` is not bytes.
        struct.error: if ``client_id`` is not an int in ``[0, 2**32)``.
    """
    return hashlib.sha256(
        b"secagg/v1/seed-commitment\x00" + sid + struct.pack("<I", client_id) + seed
    ).digest()


def share_key(own: kex.X25519KeyPair, peer_c_pk: bytes, sid: bytes, u: int, v: int) -> bytes:
    """Return the AEAD key for shares between ``u`` and ``v`` (same on both sides).

    ``derive_key(agree(own, peer_c_pk), "share-encryption", sid, round 1,
    min(u, v), max(u, v))``.

    Args:
        own: this client's share-encryption key pair.
        peer_c_pk: the peer's 32-byte share-encryption public key.
        sid: the 32-byte session id.
        u: one client id.
        v: the other client id (the order of ``u`` and ``v`` does not matter).

    Returns:
        The 32-byte AEAD key.

    Raises:
        InvalidKey: if the peer's key is malformed or of low order.
        TypeError: if ``own`` is not an :class:`~secagg.primitives.kex.X25519KeyPair`,
            ``peer_c_pk`` or ``sid`` is not bytes, or an id is not an int.
        ValueError: if ``sid`` is not 32 bytes or an id is outside
            ``[0, 2**32)``.
    """
    shared = kex.agree(own, peer_c_pk)
    return kex.derive_key(
        shared, purpose=kex.PURPOSE_SHARE_ENCRYPTION, session_id=sid, round=1, sender=min(u, v), receiver=max(u, v)
    )


def mask_seed(own: kex.X25519KeyPair, peer_s_pk: bytes, sid: bytes, u: int, v: int) -> bytes:
    """Return the pairwise mask seed of ``u`` and ``v`` (same on both sides).

    ``derive_key(agree(own, peer_s_pk), "mask-seed", sid, round 2,
    min(u, v), max(u, v))``.

    Args:
        own: this client's mask key pair.
        peer_s_pk: the peer's 32-byte mask public key.
        sid: the 32-byte session id.
        u: one client id.
        v: the other client id (the order of ``u`` and ``v`` does not matter).

    Returns:
        The 32-byte mask seed.

    Raises:
        InvalidKey: if the peer's key is malformed or of low order.
        TypeError: if ``own`` is not an :class:`~secagg.primitives.kex.X25519KeyPair`,
            ``peer_s_pk`` or ``sid`` is not bytes, or an id is not an int.
        ValueError: if ``sid`` is not 32 bytes or an id is outside
            ``[0, 2**32)``.
    """
    shared = kex.agree(own, peer_s_pk)
    return kex.derive_key(
        shared, purpose=kex.PURPOSE_MASK_SEED, session_id=sid, round=2, sender=min(u, v), receiver=max(u, v)
    )


def share_associated_data(sid: bytes, sender: int, receiver: int) -> bytes:
    """Return the AEAD associated data of an encrypted share from ``sender`` to ``receiver``.

    ``associated_data(purpose="share", session_id=sid, round=1, sender,
    receiver)``; unlike the key, it binds the direction.

    Args:
        sid: the 32-byte session id.
        sender: the encrypting client's id.
        receiver: the decrypting client's id.

    Returns:
        57 bytes of associated data.

    Raises:
        TypeError: if ``sid`` is not bytes or an id is not an int.
        ValueError: if ``sid`` is not 32 bytes or an id is outside
            ``[0, 2**32)``.
    """
    return aead.associated_data(purpose="share", session_id=sid, round=1, sender=sender, receiver=receiver)


def pair_sign(u: int, v: int) -> int:
    """Return the sign with which client ``u`` adds the pairwise mask it shares with ``v``.

    Args:
        u: the client adding the mask.
        v: its neighbour (``v != u`` is not checked).

    Returns:
        ``1`` if ``u < v``, else ``-1`` (so also ``-1`` when ``u == v``).

    Raises:
        TypeError: only if ``u`` and ``v`` cannot be compared; there is no
            validation.
    """
    return 1 if u < v else -1
