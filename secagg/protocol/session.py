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
    """Return the canonical 19-byte encoding of the round parameters."""
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
    """Return the Merkle leaf hash of one client's advertised keys."""
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
    """
    h = hashlib.sha256(b"secagg/v1/session\x00")
    h.update(params_bytes(params))
    h.update(graph_seed)
    h.update(struct.pack(f"<I{len(participants)}I", len(participants), *participants))
    h.update(key_root)
    return h.digest()


def advertise_statement(params: Params, client_id: int, c_pk: bytes, s_pk: bytes) -> bytes:
    """Return the bytes a client signs in AdvertiseKeys (active model)."""
    return b"secagg/v1/advertise\x00" + params_bytes(params) + struct.pack("<I", client_id) + c_pk + s_pk


def consistency_statement(sid: bytes, survivors: Iterable[int]) -> bytes:
    """Return the bytes a client signs in ConsistencyCheckResponse (active model)."""
    ids = sorted(survivors)
    return b"secagg/v1/consistency\x00" + sid + struct.pack(f"<I{len(ids)}I", len(ids), *ids)


def seed_commitment(sid: bytes, client_id: int, seed: bytes) -> bytes:
    """Return the SHA-256 commitment to a client's self-mask seed."""
    return hashlib.sha256(
        b"secagg/v1/seed-commitment\x00" + sid + struct.pack("<I", client_id) + seed
    ).digest()


def share_key(own: kex.X25519KeyPair, peer_c_pk: bytes, sid: bytes, u: int, v: int) -> bytes:
    """Return the AEAD key for shares between ``u`` and ``v`` (same on both sides).

    Raises:
        InvalidKey: if the peer's key is malformed or of low order.
    """
    shared = kex.agree(own, peer_c_pk)
    return kex.derive_key(
        shared, purpose=kex.PURPOSE_SHARE_ENCRYPTION, session_id=sid, round=1, sender=min(u, v), receiver=max(u, v)
    )


def mask_seed(own: kex.X25519KeyPair, peer_s_pk: bytes, sid: bytes, u: int, v: int) -> bytes:
    """Return the pairwise mask seed of ``u`` and ``v`` (same on both sides).

    Raises:
        InvalidKey: if the peer's key is malformed or of low order.
    """
    shared = kex.agree(own, peer_s_pk)
    return kex.derive_key(
        shared, purpose=kex.PURPOSE_MASK_SEED, session_id=sid, round=2, sender=min(u, v), receiver=max(u, v)
    )


def share_associated_data(sid: bytes, sender: int, receiver: int) -> bytes:
    """Return the AEAD associated data of an encrypted share from ``sender`` to ``receiver``."""
    return aead.associated_data(purpose="share", session_id=sid, round=1, sender=sender, receiver=receiver)


def pair_sign(u: int, v: int) -> int:
    """Return the sign with which client ``u`` adds the pairwise mask it shares with ``v``."""
    return 1 if u < v else -1
