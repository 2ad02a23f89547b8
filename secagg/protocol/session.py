"""Session bindings: the session id, signed statements, commitments, derived keys.

Everything a client and the server must compute identically, in one place, so
that the state machines stay about rules and the bytes stay in SPEC.md
(chapter "Protocol"):

* ``params_bytes``  = u32 n | u32 dim | u8 bits | u8 graph | u32 k | u32 t | u8 threat | u64 round_counter
* key leaf          = SHA-256(0x00 | u32 id | c_pk | s_pk), one per participant
* ring              = the participants sorted by ring key (``ordered_tree.ring_key``)
* ``session_id``    = SHA-256("secagg/v1/session" 0x00 | params_bytes | graph_seed
  | u32 m | root of the ordered key tree over the ring)   (wire version 3)
* window            = the ring positions a ShareKeysRequest carries (:func:`window_shape`)
* advertise statement   = "secagg/v1/advertise" 0x00 | params_bytes | u32 id | c_pk | s_pk
* consistency statement = "secagg/v1/consistency" 0x00 | session_id | flag-tree root   (wire version 3)
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
from collections.abc import Iterable, Mapping, Sequence

from secagg.errors import AbortReason, InvalidCiphertext, InvalidKey, InvalidSignature, ProofError
from secagg.kinds import GraphKind, ThreatModel
from secagg.messages import AdvertiseKeys, ShareKeysRequest
from secagg.params import Params
from secagg.primitives import aead, kex, merkle, ordered_tree, sign
from secagg.primitives.randomness import RandomSource
from secagg.protocol._abort import AbortSignal

__all__ = [
    "advertise_signature_ok",
    "advertise_statement",
    "consistency_statement",
    "key_leaf",
    "mask_seed",
    "open_share",
    "pack_flags",
    "pair_sign",
    "seal_share",
    "params_bytes",
    "seed_commitment",
    "session_id",
    "share_associated_data",
    "share_key",
    "unpack_flags",
    "verified_window_root",
    "verify_key_signatures",
    "window_holder_counts",
    "window_holders",
    "window_neighbors",
    "window_of",
    "window_shape",
]

_GRAPH_CODES = {GraphKind.COMPLETE: 1, GraphKind.HARARY: 2}
_THREAT_CODES = {ThreatModel.SEMI_HONEST: 1, ThreatModel.SEMI_MALICIOUS: 2, ThreatModel.ACTIVE: 3}


def params_bytes(params: Params) -> bytes:
    """Return the canonical 27-byte encoding of the round parameters (wire version 2).

    Args:
        params: the round parameters (a validated :class:`Params`).

    Returns:
        27 bytes: ``u32 n | u32 dim | u8 bits | u8 graph | u32 k | u32 t |
        u8 threat | u64 round_counter``, little-endian. The round counter
        makes every signed key statement and session id specific to one
        round of the caller's sequence (active-model freshness).

    Raises: nothing of its own (a :class:`Params` is valid by construction).
    """
    return struct.pack(
        "<IIBBIIBQ",
        params.n_clients,
        params.dim,
        params.bits,
        _GRAPH_CODES[params.graph],
        params.neighbors,
        params.threshold,
        _THREAT_CODES[params.threat],
        params.round_counter,
    )


def key_leaf(entry: AdvertiseKeys) -> bytes:
    """Return the Merkle leaf hash of one client's advertised keys.

    ``SHA-256(0x00 || u32le(client_id) || c_pk || s_pk)``.

    Args:
        entry: the client's :class:`AdvertiseKeys` message.

    Returns:
        The 32-byte leaf hash.

    Raises: nothing of its own (a decoded :class:`AdvertiseKeys` is valid).
    """
    return merkle.leaf_hash(struct.pack("<I", entry.client_id) + entry.c_pk + entry.s_pk)


def session_id(params: Params, graph_seed: bytes, m: int, key_root: bytes) -> bytes:
    """Return the 32-byte session id (wire version 3).

    ``SHA-256("secagg/v1/session" || 0x00 || params_bytes || graph_seed ||
    u32le(m) || key_root)``.

    Args:
        params: the round parameters.
        graph_seed: the 32-byte graph seed the server drew.
        m: the number of participants (clients that advertised keys).
        key_root: the root of the ordered key tree over the ring, which
            commits to every participant's id, keys and ring position, so
            two clients holding one session id hold windows of one ring
            (SPEC.md, "Protocol", "Bindings").

    Returns:
        32 bytes.

    Raises:
        struct.error: if ``m`` is not an int in ``[0, 2**32)``; sizes are the caller's.
    """
    h = hashlib.sha256(b"secagg/v1/session\x00")
    h.update(params_bytes(params))
    h.update(graph_seed)
    h.update(struct.pack("<I", m))
    h.update(key_root)
    return h.digest()


def _window_half(params: Params) -> int | None:
    """How far a window reaches on each side of its client: k/2, k (active model's W2), or None (whole ring)."""
    if params.graph is GraphKind.COMPLETE:
        return None
    return params.neighbors if params.threat is ThreatModel.ACTIVE else params.neighbors // 2


def window_shape(params: Params, m: int) -> tuple[int, int | None]:
    """Return the size of the window a ShareKeysRequest carries and the receiver's index in it.

    The window of the client at ring position ``p`` is the positions
    ``p - h .. p + h (mod m)`` with ``h = k/2`` (the client and its Harary
    neighbours; ``h = k`` in the active model, the extended window W2 that
    holds every neighbour's holders), or the whole ring (starting at
    position 0) for the complete graph or when ``2h + 1 >= m``.

    Args:
        params: the round parameters.
        m: the number of participants, at least 1.

    Returns:
        ``(count, centre)``: ``count`` entries, the receiver's own entry at
        index ``centre``; ``centre`` is None for the whole ring.

    Raises: nothing of its own.
    """
    half = _window_half(params)
    if half is None or 2 * half + 1 >= m:
        return m, None
    return 2 * half + 1, half


def window_of(params: Params, m: int, position: int) -> list[int]:
    """Return the ring positions of the window of the client at ``position``, in ring order.

    The shape is :func:`window_shape`'s; the first element is the window's
    ``start`` (0 for the whole ring).

    Args:
        params: the round parameters.
        m: the number of participants, at least 1.
        position: the client's ring position, ``0 <= position < m``.

    Returns:
        The positions (:func:`secagg.primitives.ordered_tree.window_positions`).

    Raises:
        ValueError: if ``position`` is out of range (a caller bug).
    """
    half = _window_half(params)
    return ordered_tree.window_positions(position, m, m if half is None else half)


def window_neighbors(params: Params, m: int, start: int, window: Sequence[int], position: int) -> tuple[int, ...]:
    """Return the neighbours of the client at ring ``position``, read from a window of the ring.

    Args:
        params: the round parameters.
        m: the number of participants.
        start: the ring position of ``window[0]``.
        window: the ids at ring positions ``start, start + 1, ... (mod m)``,
            shaped as :func:`window_shape` says, with ``position`` in it.
        position: the client's ring position.

    Returns:
        The neighbour ids, ascending: the ring positions ``position ± d``
        for ``d = 1..k/2`` (Harary, ``m - 1 > k``), else every other id of
        the (whole-ring) window.

    Raises:
        IndexError: if the window is too short for the position (a caller bug).
    """
    if params.graph is GraphKind.COMPLETE or m - 1 <= params.neighbors:
        me = window[(position - start) % m]
        return tuple(sorted(v for v in window if v != me))
    half = params.neighbors // 2
    return tuple(sorted(window[(position + d - start) % m] for d in range(-half, half + 1) if d))


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
        The statement bytes (``20 + 27 + 4 + len(c_pk) + len(s_pk)``); the
        parameters include ``round_counter``, so keys signed for one round do
        not verify in another.

    Raises: nothing of its own (key sizes are the caller's).
    """
    return b"secagg/v1/advertise\x00" + params_bytes(params) + struct.pack("<I", client_id) + c_pk + s_pk


def consistency_statement(sid: bytes, survivors_root: bytes) -> bytes:
    """Return the bytes a client signs in ConsistencyCheckResponse (active model, wire version 3).

    ``b"secagg/v1/consistency" || 0x00 || sid || survivors_root``: the root of
    the flag tree over the ring (one flag per participant, 1 iff in ``U3``),
    so one signature covers every participant's flag with O(1) bytes.

    Args:
        sid: the 32-byte session id (its size is not checked).
        survivors_root: the 32-byte flag-tree root (its size is not checked).

    Returns:
        The statement bytes (``22 + len(sid) + len(survivors_root)``).

    Raises:
        TypeError: if ``sid`` or ``survivors_root`` is not bytes.
    """
    return b"secagg/v1/consistency\x00" + sid + survivors_root


def pack_flags(flags: Sequence[bool]) -> bytes:
    """Pack window flags into bytes: bit ``j`` is ``out[j // 8] >> (j % 8) & 1``; unused high bits zero.

    >>> pack_flags([True, False, True]), unpack_flags(b"\\x05", 3)
    (b'\\x05', [True, False, True])

    Args:
        flags: one bool per window position, in window order.

    Returns:
        ``ceil(len(flags) / 8)`` bytes.

    Raises: nothing of its own.
    """
    out = bytearray((len(flags) + 7) // 8)
    for j, f in enumerate(flags):
        if f:
            out[j >> 3] |= 1 << (j & 7)
    return bytes(out)


def unpack_flags(data: bytes, count: int) -> list[bool]:
    """Unpack :func:`pack_flags` bytes of a ``count``-position window.

    Args:
        data: the packed flags.
        count: the window size.

    Returns:
        ``count`` bools.

    Raises:
        AbortSignal: MALFORMED if ``data`` is not ``ceil(count / 8)`` bytes or
            an unused high bit is set.
    """
    if len(data) != (count + 7) // 8:
        raise AbortSignal(AbortReason.MALFORMED, f"{len(data)} flag bytes for a window of {count}, expected {(count + 7) // 8}")
    if count % 8 and data[-1] >> (count % 8):
        raise AbortSignal(AbortReason.MALFORMED, "unused high bits of the last flag byte are not zero")
    return [bool(data[j >> 3] >> (j & 7) & 1) for j in range(count)]


def window_holders(params: Params, m: int, start: int, window: Sequence[int], position: int) -> tuple[int, ...]:
    """Return the holders ``H(x)`` of the client at ring ``position``, read from a window of the ring.

    Args:
        params: the round parameters.
        m: the number of participants.
        start: the ring position of ``window[0]``.
        window: the ids at ring positions ``start, start + 1, ... (mod m)``;
            it must hold ``position`` and its neighbours (an active-model W2
            holds them for the receiver and every neighbour of it).
        position: the ring position of ``x``.

    Returns:
        ``x`` and its neighbours, ascending.

    Raises:
        IndexError: if the window is too short for the position (a caller bug).
    """
    me = window[(position - start) % m]
    return tuple(sorted((*window_neighbors(params, m, start, window, position), me)))


def window_holder_counts(
    params: Params, m: int, start: int, window: Sequence[int], positions: Sequence[int], marked: Iterable[int]
) -> list[int]:
    """Return ``|marked ∩ H(x)|`` for the client ``x`` at each ring position, in O(len(window) + len(positions)).

    The same numbers as ``len(set(marked).intersection(window_holders(params, m,
    start, window, q)))`` for each ``q`` (and the same IndexError for a position
    whose holders the window does not hold), without building any holder set:
    one prefix count of the marked ids over the window, then each count is the
    marks in at most two runs of window indices (the positions ``q - k/2 ..
    q + k/2`` modulo ``m``), or every mark in the window when ``H(x)`` is the
    whole window (the complete graph, or ``m - 1 <= k``).

    Args:
        params: the round parameters.
        m: the number of participants.
        start: the ring position of ``window[0]``.
        window: the ids at ring positions ``start, start + 1, ... (mod m)``, distinct.
        positions: ring positions, each with its holders inside the window.
        marked: the ids to count (e.g. the signers of a root).

    Returns:
        One count per position, in the order of ``positions``.

    Raises:
        IndexError: if the window is too short for a position (a caller bug).
    """
    marked = set(marked)
    prefix = [0]
    for v in window:
        prefix.append(prefix[-1] + (v in marked))
    size = len(window)
    whole = params.graph is GraphKind.COMPLETE or m - 1 <= params.neighbors
    half = params.neighbors // 2
    out = []
    for q in positions:
        j = (q - start) % m
        if whole:
            if j >= size:
                raise IndexError(f"ring position {q} is outside the window")
            out.append(prefix[size])
            continue
        lo, hi = j - half, j + half
        runs = ((m + lo, m - 1), (0, hi)) if lo < 0 else ((lo, m - 1), (0, hi - m)) if hi >= m else ((lo, hi),)
        if any(b >= size for _, b in runs):
            raise IndexError(f"the holders of ring position {q} reach outside the window")
        out.append(sum(prefix[b + 1] - prefix[a] for a, b in runs))
    return out


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
    """Return the AEAD key of the shares between ``u`` and ``v`` (the same on both sides; SPEC "Protocol").

    Args:
        own: this client's share-encryption key pair.
        peer_c_pk: the peer's share-encryption public key.
        sid: the session id.
        u, v: the two client ids, in any order.

    Returns:
        32 bytes: ``derive_key(agree, "share-encryption", sid, round 1, min, max)``.

    Raises:
        InvalidKey: the peer's key is malformed or of low order.
    """
    return _pair_key(own, peer_c_pk, sid, u, v, kex.PURPOSE_SHARE_ENCRYPTION, 1)


def mask_seed(own: kex.X25519KeyPair, peer_s_pk: bytes, sid: bytes, u: int, v: int) -> bytes:
    """Return the pairwise mask seed of ``u`` and ``v``: as :func:`share_key` with the mask keys, "mask-seed", round 2.

    Args:
        own: this client's mask key pair.
        peer_s_pk: the peer's mask public key.
        sid: the session id.
        u, v: the two client ids, in any order.

    Returns:
        32 bytes.

    Raises:
        InvalidKey: the peer's key is malformed or of low order.
    """
    return _pair_key(own, peer_s_pk, sid, u, v, kex.PURPOSE_MASK_SEED, 2)


def _pair_key(own: kex.X25519KeyPair, peer_pk: bytes, sid: bytes, u: int, v: int, purpose: str, round: int) -> bytes:
    shared = kex.agree(own, peer_pk)
    return kex.derive_key(shared, purpose=purpose, session_id=sid, round=round, sender=min(u, v), receiver=max(u, v))


def _pair_keys(own: kex.X25519KeyPair, peer_keys: Mapping[int, bytes], sid: bytes, me: int, purpose: str, round: int) -> dict[int, bytes]:
    """:func:`share_key` / :func:`mask_seed` of ``me`` with every peer, for the client's state machine.

    The same keys, without re-checking arguments the caller has checked:
    ``own`` is the client's own key pair, each peer key came from a decoded
    AdvertiseKeys (32 bytes), ``sid`` is a session id (32 bytes), and ``me``
    and the peers are ids in ``1..n`` (:func:`kex.kdf_info` checks the one
    info prefix and the round; each pair's ids are packed as it packs them).

    Raises:
        AbortSignal: MALFORMED naming the first peer (in ``peer_keys`` order)
            whose key gives the all-zero secret, as the client's per-pair
            wrapper did.
    """
    head = kex.kdf_info(purpose=purpose, round=round, sender=0, receiver=0)[:-8]  # checked: prefix || u8(round)
    pair = _ID_PAIR.pack
    out = {}
    for v, pk in peer_keys.items():
        info = head + (pair(me, v) if me < v else pair(v, me))  # (min, max), as share_key / mask_seed
        try:
            out[v] = kex._agree_derive(own, pk, sid, info)
        except InvalidKey:
            raise AbortSignal(AbortReason.MALFORMED, f"client {v} advertised an invalid key") from None
    return out


_ID_PAIR = struct.Struct("<II")


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

    Raises: nothing of its own.
    """
    return 1 if u < v else -1


# ---------------------------------------------------------------------------- composed verbs


def verified_window_root(msg: ShareKeysRequest) -> bytes:
    """Return the root of the ordered key tree that a ShareKeysRequest's multiproof leads to.

    Each entry's leaf is ``(ring_key(graph_seed, id), key_leaf(entry))`` at
    ring position ``(start + j) mod m``; the receiving client computes the
    ring keys itself, so the proof's ordering checks put the entries exactly
    where their ids belong on the ring (SPEC.md, "Protocol", "Bindings").

    Args:
        msg: the request (``m``, ``start`` and sizes already checked).

    Returns:
        The 32-byte key root, the last input of :func:`session_id`.

    Raises:
        AbortSignal: INCONSISTENT if the proof is malformed, of the wrong
            length, or fails an ordering check.
    """
    m, count = msg.m, len(msg.entries)
    order = sorted(range(count), key=lambda j: (msg.start + j) % m)
    positions = [(msg.start + j) % m for j in order]
    leaves = [(ordered_tree.ring_key(msg.graph_seed, msg.entries[j].client_id), key_leaf(msg.entries[j])) for j in order]
    try:
        return ordered_tree.verify_multiproof(m, positions, leaves, msg.proof)
    except (ProofError, ValueError) as exc:
        raise AbortSignal(AbortReason.INCONSISTENT, f"the key proof does not verify ({exc})") from None


def advertise_signature_ok(params: Params, pki: Mapping[int, bytes], entry: AdvertiseKeys) -> bool:
    """Return whether ``entry`` carries its sender's valid signature under ``pki`` (active model).

    Args:
        params: the round parameters (signed with the keys).
        pki: ``{client id: Ed25519 public key}``.
        entry: the advertised keys.

    Returns:
        True if the sender is in ``pki`` and the signature verifies.

    Raises:
        Nothing of its own.
    """
    vk = pki.get(entry.client_id)
    if vk is None:
        return False
    try:
        sign.verify(vk, advertise_statement(params, entry.client_id, entry.c_pk, entry.s_pk), entry.signature)
    except InvalidSignature:
        return False
    return True


def verify_key_signatures(params: Params, pki: Mapping[int, bytes], entries: Sequence[AdvertiseKeys]) -> None:
    """Check every entry's advertise signature (active model).

    Args:
        params: the round parameters.
        pki: ``{client id: Ed25519 public key}``.
        entries: the advertised keys to check.

    Raises:
        AbortSignal: AUTHENTICATION naming the first client that is not in the
            PKI or whose signature fails.
    """
    for entry in entries:
        if not advertise_signature_ok(params, pki, entry):
            raise AbortSignal(AbortReason.AUTHENTICATION, f"bad key signature of client {entry.client_id} (or not in the PKI)")


def seal_share(key: bytes, sid: bytes, sender: int, receiver: int, share: bytes, random: RandomSource) -> bytes:
    """Encrypt one share pair from ``sender`` to ``receiver``: ``u32 sender | u32 receiver | share`` under AES-GCM.

    Args:
        key: the pair's :func:`share_key`.
        sid: the session id.
        sender: the encrypting client.
        receiver: the holder the share is for.
        share: the serialised share pair.
        random: the nonce source.

    Returns:
        The AEAD blob (nonce, ciphertext, tag).

    Raises:
        Nothing of its own for well-formed arguments (as :func:`secagg.primitives.aead.encrypt`).
    """
    plaintext = sender.to_bytes(4, "little") + receiver.to_bytes(4, "little") + share
    return aead.encrypt(key, plaintext, share_associated_data(sid, sender, receiver), random=random)


def open_share(key: bytes, sid: bytes, sender: int, receiver: int, blob: bytes) -> bytes:
    """Decrypt a share pair sealed by :func:`seal_share` and check its framing.

    Args:
        key: the pair's :func:`share_key`.
        sid: the session id.
        sender: the client the server says sent it.
        receiver: this client.
        blob: the AEAD blob.

    Returns:
        The share bytes (without the framing).

    Raises:
        AbortSignal: AUTHENTICATION if it does not decrypt, INCONSISTENT if
            the plaintext names other endpoints.
    """
    try:
        plaintext = aead.decrypt(key, blob, share_associated_data(sid, sender, receiver))
    except InvalidCiphertext:
        raise AbortSignal(AbortReason.AUTHENTICATION, f"share from client {sender} failed to decrypt") from None
    if plaintext[:4] != sender.to_bytes(4, "little") or plaintext[4:8] != receiver.to_bytes(4, "little"):
        raise AbortSignal(AbortReason.INCONSISTENT, f"share from client {sender} names other endpoints")
    return plaintext[8:]
