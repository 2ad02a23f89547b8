"""Bytes <-> messages: versioned, length-prefixed, bounds-checked, no pickle.

Layout of every message (normative text in SPEC.md, chapter "Wire format")::

    u8 version (= 3) | u8 tag | body

Body fields, in the order the dataclass declares them:

* ``id``        u32le
* fixed bytes   raw (keys 32, session id 32, commitment 32, graph seed 32,
                share 36, encrypted share 108, signature in Signature/CC 64)
* ``bytes``     u32le length | bytes   (AdvertiseKeys.signature: 0 or 64;
                MaskedInputResponse.masked: exactly packed_size(dim, bits))
* ``str``       u32le length | UTF-8   (Abort.detail, at most 256 bytes)
* sequence      u32le count | items    (count <= max_holders: n_clients, or k + 1
                on a Harary graph; checked together with count * item size <=
                remaining bytes BEFORE any item is read; ShareKeysRequest.entries:
                count <= min(m, max_window), m <= n_clients)
* proof         u32le length | bytes   (ShareKeysRequest.proof: a multiple of 96,
                at most 7,680 bytes; ConsistencyCheckRequest.proof: a multiple
                of 32, at most 2,560 bytes)
* flags         u32le length | bytes   (ConsistencyCheckRequest.flags: 1 to
                ceil(max_window / 8) bytes; UnmaskingRequest.signatures: count
                <= max_window, see :func:`max_window`)
* AbortReason   u8 code from a closed table

The tag table is closed: an unknown version or tag, a short read, a count or
length above its bound, invalid field values and trailing bytes all raise
:class:`~secagg.errors.DecodeError`. Nothing is allocated from a length that
was not checked first.

>>> from secagg.messages import ConsistencyCheckRequest
>>> from secagg.params import Params
>>> p = Params(n_clients=3, dim=4, bits=16, graph="complete", neighbors=2, threshold=2)
>>> m = ConsistencyCheckRequest(session_id=bytes(32), survivors_root=bytes(32), flags=b"\\x05")
>>> decode(encode(m), params=p) == m
True
"""

from __future__ import annotations

import itertools
import operator
import struct

from secagg.errors import AbortReason, DecodeError
from secagg.kinds import GraphKind, ThreatModel
from secagg.messages import (
    ENCRYPTED_SHARE_SIZE,
    FLAG_ITEM_SIZE,
    FLAG_ROOT_SIZE,
    KEY_SIZE,
    MAX_CLIENT_ID,
    MAX_DETAIL,
    MAX_FLAG_PROOF_BYTES,
    MAX_PROOF_BYTES,
    PROOF_ITEM_SIZE,
    SESSION_ID_SIZE,
    SHARE_SIZE,
    SIGNATURE_SIZE,
    Abort,
    AddressedShare,
    AdvertiseKeys,
    ConsistencyCheckRequest,
    ConsistencyCheckResponse,
    MaskedInputRequest,
    MaskedInputResponse,
    Message,
    RevealedShare,
    ShareKeysRequest,
    ShareKeysResponse,
    Signature,
    UnmaskingRequest,
    UnmaskingResponse,
    _unchecked,
)
from secagg.params import Params
from secagg.primitives.masking import packed_size

__all__ = ["ABORT_CODES", "TAGS", "VERSION", "decode", "encode", "encoded_size_masked_input", "max_holders", "max_window"]

VERSION = 3
"""The wire version. Version 3 (the ShareKeysRequest carries a window of the
ring and one multiproof instead of the participants bitmap and per-entry
proofs; the session id binds ``m`` and the ordered key tree's root) refuses
version-1 and version-2 bytes with a DecodeError naming both versions, and
older peers refuse ours the same way (SPEC.md, "Wire format").
"""

TAGS: dict[type, int] = {
    AdvertiseKeys: 1,
    ShareKeysRequest: 2,
    ShareKeysResponse: 3,
    MaskedInputRequest: 4,
    MaskedInputResponse: 5,
    ConsistencyCheckRequest: 6,
    ConsistencyCheckResponse: 7,
    UnmaskingRequest: 8,
    UnmaskingResponse: 9,
    Abort: 15,
}
_BY_TAG = {tag: cls for cls, tag in TAGS.items()}

ABORT_CODES: dict[AbortReason, int] = {
    AbortReason.MALFORMED: 1,
    AbortReason.OUT_OF_ROUND: 2,
    AbortReason.REPLAYED: 3,
    AbortReason.INCONSISTENT: 4,
    AbortReason.TOO_FEW_SURVIVORS: 5,
    AbortReason.AUTHENTICATION: 6,
    AbortReason.RECONSTRUCTION_FAILED: 7,
    AbortReason.PEER_ABORTED: 8,
    AbortReason.LOCAL: 9,
}
_REASON_BY_CODE = {code: reason for reason, code in ABORT_CODES.items()}

_U32 = struct.Struct("<I")
_ADVERTISE_SIZE = 4 + 2 * KEY_SIZE + 4  # without the signature bytes
_ADDRESSED_SIZE = 4 + ENCRYPTED_SHARE_SIZE
_REVEALED_SIZE = 4 + SHARE_SIZE
_SIGNATURE_ENTRY_SIZE = 4 + SIGNATURE_SIZE


# ------------------------------------------------------------------------ writer


class _Writer:
    __slots__ = ("parts",)

    def __init__(self, tag: int) -> None:
        self.parts: list[bytes] = [bytes((VERSION, tag))]

    def u32(self, v: int) -> None:
        self.parts.append(_U32.pack(v))

    def raw(self, b: bytes) -> None:
        self.parts.append(b)

    def var(self, b: bytes) -> None:
        self.parts.append(_U32.pack(len(b)))
        self.parts.append(b)

    def ids(self, ids: tuple[int, ...]) -> None:
        self.u32(len(ids))
        self.parts.append(struct.pack(f"<{len(ids)}I", *ids))

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


def encode(message: Message) -> bytes:
    """Serialise a message.

    Args:
        message: any message from :mod:`secagg.messages`.

    Returns:
        The wire bytes.

    Raises:
        TypeError: if ``message`` is not a protocol message.
    """
    tag = TAGS.get(type(message))
    if tag is None:
        raise TypeError(f"not a protocol message: {type(message).__name__}")
    w = _Writer(tag)
    m = message
    if isinstance(m, AdvertiseKeys):
        _write_advertise(w, m)
    elif isinstance(m, ShareKeysRequest):
        w.raw(m.graph_seed)
        w.u32(m.m)
        w.u32(m.start)
        w.u32(len(m.entries))
        for a in m.entries:
            _write_advertise(w, a)
        w.var(m.proof)
    elif isinstance(m, ShareKeysResponse):
        w.u32(m.client_id)
        w.raw(m.session_id)
        w.raw(m.seed_commitment)
        _write_addressed(w, m.shares)
    elif isinstance(m, MaskedInputRequest):
        w.raw(m.session_id)
        _write_addressed(w, m.shares)
    elif isinstance(m, MaskedInputResponse):
        w.u32(m.client_id)
        w.raw(m.session_id)
        w.var(m.masked)
    elif isinstance(m, ConsistencyCheckRequest):
        w.raw(m.session_id)
        w.raw(m.survivors_root)
        w.var(m.flags)
        w.var(m.proof)
    elif isinstance(m, ConsistencyCheckResponse):
        w.u32(m.client_id)
        w.raw(m.session_id)
        w.raw(m.signature)
    elif isinstance(m, UnmaskingRequest):
        w.raw(m.session_id)
        w.ids(m.survivors)
        w.ids(m.dropped)
        w.u32(len(m.signatures))
        for s in m.signatures:
            w.u32(s.signer)
            w.raw(s.signature)
    elif isinstance(m, UnmaskingResponse):
        w.u32(m.client_id)
        w.raw(m.session_id)
        _write_revealed(w, m.seed_shares)
        _write_revealed(w, m.key_shares)
    else:  # Abort
        w.raw(bytes((ABORT_CODES[m.reason],)))
        w.var(m.detail.encode("utf-8"))
    return w.getvalue()


def _write_advertise(w: _Writer, a: AdvertiseKeys) -> None:
    # one part per entry: a SecAgg+ server writes every AdvertiseKeys into 2k + 1 windows
    w.parts.append(b"".join((_U32.pack(a.client_id), a.c_pk, a.s_pk, _U32.pack(len(a.signature)), a.signature)))


def _write_addressed(w: _Writer, shares: tuple[AddressedShare, ...]) -> None:
    pack = _U32.pack
    w.parts.append(pack(len(shares)) + b"".join([pack(s.peer) + s.blob for s in shares]))


def _write_revealed(w: _Writer, shares: tuple[RevealedShare, ...]) -> None:
    pack = _U32.pack
    w.parts.append(pack(len(shares)) + b"".join([pack(s.owner) + s.share for s in shares]))


def encoded_size_masked_input(params: Params) -> int:
    """Exact size in bytes of an encoded :class:`MaskedInputResponse`.

    Args:
        params: the round parameters.

    Returns:
        ``2 + 4 + 32 + 4 + packed_size(dim, bits)``.

    Raises:
        Nothing of its own for a :class:`Params` (``dim`` and ``bits`` are
        validated on its construction). ``params`` is not type-checked: an
        object without ``dim``/``bits`` raises ``AttributeError``, and invalid
        values raise ``TypeError``/``ValueError`` as :func:`packed_size`.
    """
    return 2 + 4 + SESSION_ID_SIZE + 4 + packed_size(params.dim, params.bits)


def max_window(params: Params) -> int:
    """Return the most ring positions a ShareKeysRequest or ConsistencyCheckRequest window can hold.

    The decoder's bound for window-sized fields (SPEC.md, "Wire format"):
    the complete graph's window is the whole ring (``n``); a Harary window is
    ``k + 1`` positions, and in the active model the extended window W2 is
    ``2k + 1`` (never more than ``n``).

    Args:
        params: the round parameters.

    Returns:
        ``n`` for the complete graph, else ``min(n, 2h + 1)`` with ``h = k``
        in the active model and ``k / 2`` otherwise.

    Raises: nothing of its own (a :class:`Params` is valid by construction).
    """
    if params.graph is GraphKind.COMPLETE:
        return params.n_clients
    half = params.neighbors if params.threat is ThreatModel.ACTIVE else params.neighbors // 2
    return min(params.n_clients, 2 * half + 1)


def max_holders(params: Params) -> int:
    """Return the most clients a per-neighbour list of one message can name: a client's holder set.

    The decoder's bound for share lists and survivor/dropped lists (SPEC.md,
    "Wire format"): ``n`` for the complete graph, ``min(n, k + 1)`` (the
    client and its ``k`` neighbours) for a Harary graph, in every threat model.

    Args:
        params: the round parameters.

    Returns:
        ``n`` for the complete graph, else ``min(n, k + 1)``.

    Raises: nothing of its own (a :class:`Params` is valid by construction).
    """
    if params.graph is GraphKind.COMPLETE:
        return params.n_clients
    return min(params.n_clients, params.neighbors + 1)


# ------------------------------------------------------------------------ reader


class _Reader:
    """A bounds-checked cursor over bytes (the client-state codec's reader; :func:`decode` reads inline)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def raw(self, n: int, what: str) -> bytes:
        if n > self.remaining():
            raise DecodeError(f"truncated: {what} needs {n} bytes, {self.remaining()} left")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return bytes(out)

    def u8(self, what: str) -> int:
        return self.raw(1, what)[0]

    def u32(self, what: str) -> int:
        if self.pos + 4 > len(self.data):
            raise DecodeError(f"truncated: {what} needs 4 bytes, {self.remaining()} left")
        (v,) = _U32.unpack_from(self.data, self.pos)
        self.pos += 4
        return v

    def count(self, what: str, limit: int, item_size: int) -> int:
        n = self.u32(f"{what} count")
        if n > limit:
            raise DecodeError(f"{what}: count {n} exceeds the limit {limit}")
        if n * item_size > self.remaining():
            raise DecodeError(f"truncated: {n} {what} need {n * item_size} bytes, {self.remaining()} left")
        return n

    def var(self, what: str, allowed: tuple[int, ...] | None = None, limit: int | None = None) -> bytes:
        n = self.u32(f"{what} length")
        if allowed is not None and n not in allowed:
            raise DecodeError(f"{what}: length {n}, expected {' or '.join(map(str, allowed))}")
        if limit is not None and n > limit:
            raise DecodeError(f"{what}: length {n} exceeds the limit {limit}")
        return self.raw(n, what)

    def ids(self, what: str, limit: int) -> tuple[int, ...]:
        n = self.count(what, limit, 4)
        return struct.unpack(f"<{n}I", self.raw(4 * n, what))

    def done(self) -> None:
        if self.remaining():
            raise DecodeError(f"{self.remaining()} trailing bytes")


# The decoder proper reads fields with precompiled structs straight from the buffer. Every read is
# preceded by a bounds check against `end` (counts: count <= limit and count * item size <= bytes
# left, before any item is read), and every invariant of a message's __post_init__ is checked on
# the decoded values here; the per-edge messages (and the messages that hold them) are then built
# through messages._unchecked, which skips only the re-run of those checks. Types need no
# check: struct gives ints and bytes, the code below gives tuples.

_u32_at = _U32.unpack_from
_ADVERTISE_HEAD = struct.Struct(f"<I{KEY_SIZE}s{KEY_SIZE}sI")  # client_id, c_pk, s_pk, signature length
_ADDRESSED = struct.Struct(f"<I{ENCRYPTED_SHARE_SIZE}s")
_REVEALED = struct.Struct(f"<I{SHARE_SIZE}s")
_SIGNATURE_ENTRY = struct.Struct(f"<I{SIGNATURE_SIZE}s")
_ID_SID = struct.Struct(f"<I{SESSION_ID_SIZE}s")
_SKR_HEAD = struct.Struct("<32sII")  # graph_seed, m, start
_new_advertise = _unchecked(AdvertiseKeys)
_new_addressed = _unchecked(AddressedShare)
_new_revealed = _unchecked(RevealedShare)
_new_signature = _unchecked(Signature)
_new_share_keys_request = _unchecked(ShareKeysRequest)
_new_share_keys_response = _unchecked(ShareKeysResponse)
_new_masked_input_request = _unchecked(MaskedInputRequest)
_new_unmasking_request = _unchecked(UnmaskingRequest)
_new_unmasking_response = _unchecked(UnmaskingResponse)


def _truncated(what: str, n: int, left: int) -> DecodeError:
    return DecodeError(f"truncated: {what} needs {n} bytes, {left} left")


def _bad_id(cls: str, field: str, value: int) -> DecodeError:
    return DecodeError(f"{cls}: {field} must be in [1, {MAX_CLIENT_ID}], got {value}")


def _read_u32(buf, pos: int, end: int, what: str) -> int:
    if pos + 4 > end:
        raise _truncated(what, 4, end - pos)
    return _u32_at(buf, pos)[0]


def _read_raw(buf, pos: int, end: int, n: int, what: str) -> bytes:
    if pos + n > end:
        raise _truncated(what, n, end - pos)
    return bytes(buf[pos : pos + n])  # bytes(b) is b itself for a bytes buffer: no second copy


def _read_count(buf, pos: int, end: int, what: str, limit: int, item_size: int) -> int:
    n = _read_u32(buf, pos, end, f"{what} count")
    if n > limit:
        raise DecodeError(f"{what}: count {n} exceeds the limit {limit}")
    if n * item_size > end - pos - 4:
        raise DecodeError(f"truncated: {n} {what} need {n * item_size} bytes, {end - pos - 4} left")
    return n


def _read_length(buf, pos: int, end: int, what: str, limit: int) -> int:
    n = _read_u32(buf, pos, end, f"{what} length")
    if n > limit:
        raise DecodeError(f"{what}: length {n} exceeds the limit {limit}")
    if n > end - pos - 4:
        raise _truncated(what, n, end - pos - 4)
    return n


def _check_sorted_ids(cls: str, what: str, ids) -> None:
    """MessageClass.__post_init__'s id checks of a sorted list: each in [1, MAX_CLIENT_ID], strictly increasing."""
    if ids and (ids[0] < 1 or ids[-1] > MAX_CLIENT_ID or not all(map(operator.lt, ids, ids[1:]))):
        if not all(map(operator.lt, ids, ids[1:])):
            raise DecodeError(f"{cls}: {what} must be sorted (strictly increasing, no repeats)")
        raise DecodeError(f"{cls}: {what} entries must be in [1, {MAX_CLIENT_ID}]")


def _read_advertise_entries(buf, pos: int, end: int, count: int, cls: str) -> tuple[tuple[AdvertiseKeys, ...], int]:
    out = []
    for _ in range(count):
        if pos + _ADVERTISE_SIZE > end:  # signatures of earlier entries may have used the bytes the count check saw
            raise _truncated("AdvertiseKeys", _ADVERTISE_SIZE, end - pos)
        cid, c_pk, s_pk, siglen = _ADVERTISE_HEAD.unpack_from(buf, pos)
        pos += _ADVERTISE_SIZE
        if siglen:
            if siglen != SIGNATURE_SIZE:
                raise DecodeError(f"signature: length {siglen}, expected 0 or {SIGNATURE_SIZE}")
            signature = _read_raw(buf, pos, end, SIGNATURE_SIZE, "signature")
            pos += SIGNATURE_SIZE
        else:
            signature = b""
        if not 1 <= cid <= MAX_CLIENT_ID:  # AdvertiseKeys.__post_init__; keys are 32 bytes by the struct
            raise _bad_id(cls, "client_id", cid)
        out.append(_new_advertise(cid, c_pk, s_pk, signature))
    return tuple(out), pos


def _read_addressed(buf, pos: int, end: int, n: int, cls: str) -> tuple[tuple[AddressedShare, ...], int]:
    count = _read_count(buf, pos, end, "shares", n, _ADDRESSED_SIZE)
    pos += 4
    stop = pos + count * _ADDRESSED_SIZE  # within the buffer: checked by _read_count
    items = list(_ADDRESSED.iter_unpack(buf[pos:stop]))
    peers = [peer for peer, _ in items]
    _check_sorted_ids(cls, "shares (by peer)", peers)  # AddressedShare's id range + the message's order rule
    return tuple(itertools.starmap(_new_addressed, items)), stop


def _read_revealed(buf, pos: int, end: int, n: int, cls: str, what: str) -> tuple[tuple[RevealedShare, ...], int]:
    count = _read_count(buf, pos, end, "revealed shares", n, _REVEALED_SIZE)
    pos += 4
    stop = pos + count * _REVEALED_SIZE
    items = list(_REVEALED.iter_unpack(buf[pos:stop]))
    _check_sorted_ids(cls, f"{what} (by owner)", [owner for owner, _ in items])
    return tuple(itertools.starmap(_new_revealed, items)), stop


def _decode_advertise(buf, pos: int, end: int, params: Params):
    entries, pos = _read_advertise_entries(buf, pos, end, 1, "AdvertiseKeys")
    return entries[0], pos


def _decode_share_keys_request(buf, pos: int, end: int, params: Params):
    n = params.n_clients
    if pos + _SKR_HEAD.size > end:
        raise _truncated("graph_seed, m, start", _SKR_HEAD.size, end - pos)
    seed, m, start = _SKR_HEAD.unpack_from(buf, pos)
    pos += _SKR_HEAD.size
    if not 1 <= m <= n:  # n <= MAX_CLIENT_ID (Params), so also ShareKeysRequest's own rule
        raise DecodeError(f"m = {m} participants, expected 1..n_clients={n}")
    if start >= m:
        raise DecodeError(f"start = {start}, expected below m = {m}")
    count = _read_count(buf, pos, end, "entries", min(m, max_window(params)), _ADVERTISE_SIZE)  # count <= m: its own rule too
    entries, pos = _read_advertise_entries(buf, pos + 4, end, count, "ShareKeysRequest")
    if len({e.client_id for e in entries}) != count:
        raise DecodeError("ShareKeysRequest: entries must name distinct clients")
    size = _read_length(buf, pos, end, "proof", MAX_PROOF_BYTES)
    if size % PROOF_ITEM_SIZE:
        raise DecodeError(f"proof: length {size} is not a multiple of {PROOF_ITEM_SIZE}")
    proof = bytes(buf[pos + 4 : pos + 4 + size])
    return _new_share_keys_request(seed, m, start, entries, proof), pos + 4 + size


def _read_id_sid(buf, pos: int, end: int, cls: str) -> tuple[int, bytes]:
    if pos + _ID_SID.size > end:
        raise _truncated("client_id, session_id", _ID_SID.size, end - pos)
    cid, sid = _ID_SID.unpack_from(buf, pos)
    if not 1 <= cid <= MAX_CLIENT_ID:
        raise _bad_id(cls, "client_id", cid)
    return cid, sid


def _decode_share_keys_response(buf, pos: int, end: int, params: Params):
    cid, sid = _read_id_sid(buf, pos, end, "ShareKeysResponse")
    commitment = _read_raw(buf, pos + _ID_SID.size, end, 32, "seed_commitment")
    shares, pos = _read_addressed(buf, pos + _ID_SID.size + 32, end, max_holders(params), "ShareKeysResponse")
    if any(s.peer == cid for s in shares):
        raise DecodeError("ShareKeysResponse: a client does not send a share to itself")
    return _new_share_keys_response(cid, sid, commitment, shares), pos


def _decode_masked_input_request(buf, pos: int, end: int, params: Params):
    sid = _read_raw(buf, pos, end, SESSION_ID_SIZE, "session_id")
    shares, pos = _read_addressed(buf, pos + SESSION_ID_SIZE, end, max_holders(params), "MaskedInputRequest")
    return _new_masked_input_request(sid, shares), pos


def _decode_masked_input_response(buf, pos: int, end: int, params: Params):
    cid = _read_u32(buf, pos, end, "client_id")
    sid = _read_raw(buf, pos + 4, end, SESSION_ID_SIZE, "session_id")
    pos += 4 + SESSION_ID_SIZE
    size, expected = _read_u32(buf, pos, end, "masked length"), packed_size(params.dim, params.bits)
    if size != expected:
        raise DecodeError(f"masked: length {size}, expected {expected}")
    masked = _read_raw(buf, pos + 4, end, size, "masked")
    return MaskedInputResponse(client_id=cid, session_id=sid, masked=masked), pos + 4 + size


def _decode_consistency_request(buf, pos: int, end: int, params: Params):
    sid = _read_raw(buf, pos, end, SESSION_ID_SIZE, "session_id")
    root = _read_raw(buf, pos + SESSION_ID_SIZE, end, FLAG_ROOT_SIZE, "survivors_root")
    pos += SESSION_ID_SIZE + FLAG_ROOT_SIZE
    size = _read_length(buf, pos, end, "flags", (max_window(params) + 7) // 8)
    if not size:
        raise DecodeError("flags: empty (a window holds at least the receiver)")
    flags = bytes(buf[pos + 4 : pos + 4 + size])
    pos += 4 + size
    size = _read_length(buf, pos, end, "proof", MAX_FLAG_PROOF_BYTES)
    if size % FLAG_ITEM_SIZE:
        raise DecodeError(f"proof: length {size} is not a multiple of {FLAG_ITEM_SIZE}")
    proof = bytes(buf[pos + 4 : pos + 4 + size])
    return ConsistencyCheckRequest(session_id=sid, survivors_root=root, flags=flags, proof=proof), pos + 4 + size


def _decode_consistency_response(buf, pos: int, end: int, params: Params):
    cid = _read_u32(buf, pos, end, "client_id")
    sid = _read_raw(buf, pos + 4, end, SESSION_ID_SIZE, "session_id")
    signature = _read_raw(buf, pos + 4 + SESSION_ID_SIZE, end, SIGNATURE_SIZE, "signature")
    msg = ConsistencyCheckResponse(client_id=cid, session_id=sid, signature=signature)
    return msg, pos + 4 + SESSION_ID_SIZE + SIGNATURE_SIZE


def _read_ids(buf, pos: int, end: int, what: str, limit: int) -> tuple[tuple[int, ...], int]:
    count = _read_count(buf, pos, end, what, limit, 4)
    ids = struct.unpack_from(f"<{count}I", buf, pos + 4)
    _check_sorted_ids("UnmaskingRequest", what, ids)
    return ids, pos + 4 + 4 * count


def _decode_unmasking_request(buf, pos: int, end: int, params: Params):
    n = max_holders(params)
    sid = _read_raw(buf, pos, end, SESSION_ID_SIZE, "session_id")
    survivors, pos = _read_ids(buf, pos + SESSION_ID_SIZE, end, "survivors", n)
    dropped, pos = _read_ids(buf, pos, end, "dropped", n)
    count = _read_count(buf, pos, end, "signatures", max_window(params), _SIGNATURE_ENTRY_SIZE)
    pos += 4
    stop = pos + count * _SIGNATURE_ENTRY_SIZE
    items = list(_SIGNATURE_ENTRY.iter_unpack(buf[pos:stop]))
    _check_sorted_ids("UnmaskingRequest", "signatures (by signer)", [signer for signer, _ in items])
    signatures = tuple(itertools.starmap(_new_signature, items))
    return _new_unmasking_request(sid, survivors, dropped, signatures), stop


def _decode_unmasking_response(buf, pos: int, end: int, params: Params):
    n = max_holders(params)
    cid, sid = _read_id_sid(buf, pos, end, "UnmaskingResponse")
    seed_shares, pos = _read_revealed(buf, pos + _ID_SID.size, end, n, "UnmaskingResponse", "seed_shares")
    key_shares, pos = _read_revealed(buf, pos, end, n, "UnmaskingResponse", "key_shares")
    both = {s.owner for s in seed_shares}.intersection([s.owner for s in key_shares])
    if both:
        raise DecodeError(f"UnmaskingResponse: both shares of the same client revealed: {sorted(both)[:8]}")
    return _new_unmasking_response(cid, sid, seed_shares, key_shares), pos


def _decode_abort(buf, pos: int, end: int, params: Params):
    code = _read_raw(buf, pos, end, 1, "reason")[0]
    reason = _REASON_BY_CODE.get(code)
    if reason is None:
        raise DecodeError(f"unknown abort reason code {code}")
    size = _read_length(buf, pos + 1, end, "detail", MAX_DETAIL)
    try:
        text = bytes(buf[pos + 5 : pos + 5 + size]).decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("abort detail is not UTF-8") from None
    return Abort(reason=reason, detail=text), pos + 5 + size


_DECODERS = {
    TAGS[AdvertiseKeys]: _decode_advertise,
    TAGS[ShareKeysRequest]: _decode_share_keys_request,
    TAGS[ShareKeysResponse]: _decode_share_keys_response,
    TAGS[MaskedInputRequest]: _decode_masked_input_request,
    TAGS[MaskedInputResponse]: _decode_masked_input_response,
    TAGS[ConsistencyCheckRequest]: _decode_consistency_request,
    TAGS[ConsistencyCheckResponse]: _decode_consistency_response,
    TAGS[UnmaskingRequest]: _decode_unmasking_request,
    TAGS[UnmaskingResponse]: _decode_unmasking_response,
    TAGS[Abort]: _decode_abort,
}


def decode(data: bytes, *, params: Params) -> Message:
    """Parse wire bytes into a message, checking every bound against ``params``.

    Args:
        data: the received bytes.
        params: the round parameters (bounds counts and the masked length).

    Returns:
        The message.

    Raises:
        DecodeError: unknown version or tag, truncation, a count or length
            beyond its bound, an invalid field, or trailing bytes.
        TypeError: if ``data`` is not bytes-like.
    """
    if type(data) is bytes:
        buf = data
    elif isinstance(data, (bytes, bytearray, memoryview)):
        buf = memoryview(data)
        if buf.ndim != 1 or buf.format != "B" or not buf.c_contiguous:
            buf = buf.tobytes()
    else:
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    end = len(buf)
    if end < 2:
        if end and buf[0] != VERSION:
            raise DecodeError(f"unsupported wire version {buf[0]} (this codec speaks {VERSION}; upgrade the peer)")
        raise _truncated("version" if not end else "tag", 1, 0)
    version, tag = buf[0], buf[1]
    if version != VERSION:
        raise DecodeError(f"unsupported wire version {version} (this codec speaks {VERSION}; upgrade the peer)")
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise DecodeError(f"unknown message tag {tag}")
    try:
        msg, pos = decoder(buf, 2, end, params)
    except (TypeError, ValueError) as exc:  # a field failed a checked constructor's validation
        raise DecodeError(f"{_BY_TAG[tag].__name__}: {exc}") from None
    if pos != end:
        raise DecodeError(f"{end - pos} trailing bytes")
    return msg
