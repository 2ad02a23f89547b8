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
* sequence      u32le count | items    (count <= n_clients, checked together
                with count * item size <= remaining bytes BEFORE any item is read;
                ShareKeysRequest.entries: count <= m <= n_clients)
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

import struct

from secagg.errors import AbortReason, DecodeError
from secagg.kinds import GraphKind, ThreatModel
from secagg.messages import (
    ENCRYPTED_SHARE_SIZE,
    FLAG_ITEM_SIZE,
    FLAG_ROOT_SIZE,
    KEY_SIZE,
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
)
from secagg.params import Params
from secagg.primitives.masking import packed_size

__all__ = ["ABORT_CODES", "TAGS", "VERSION", "decode", "encode", "encoded_size_masked_input", "max_window"]

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
    w.u32(len(shares))
    for s in shares:
        w.u32(s.peer)
        w.raw(s.blob)


def _write_revealed(w: _Writer, shares: tuple[RevealedShare, ...]) -> None:
    w.u32(len(shares))
    for s in shares:
        w.u32(s.owner)
        w.raw(s.share)


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


# ------------------------------------------------------------------------ reader


class _Reader:
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
        return _U32.unpack(self.raw(4, what))[0]

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
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    r = _Reader(memoryview(data))
    version = r.u8("version")
    if version != VERSION:
        raise DecodeError(f"unsupported wire version {version} (this codec speaks {VERSION}; upgrade the peer)")
    tag = r.u8("tag")
    cls = _BY_TAG.get(tag)
    if cls is None:
        raise DecodeError(f"unknown message tag {tag}")
    n = params.n_clients
    try:
        if cls is AdvertiseKeys:
            msg: Message = _read_advertise(r)
        elif cls is ShareKeysRequest:
            seed = r.raw(32, "graph_seed")
            m = r.u32("m")
            if not 1 <= m <= n:
                raise DecodeError(f"m = {m} participants, expected 1..n_clients={n}")
            start = r.u32("start")
            if start >= m:
                raise DecodeError(f"start = {start}, expected below m = {m}")
            count = r.count("entries", m, _ADVERTISE_SIZE)
            entries = tuple(_read_advertise(r) for _ in range(count))
            proof = r.var("proof", limit=MAX_PROOF_BYTES)
            if len(proof) % PROOF_ITEM_SIZE:
                raise DecodeError(f"proof: length {len(proof)} is not a multiple of {PROOF_ITEM_SIZE}")
            msg = ShareKeysRequest(graph_seed=seed, m=m, start=start, entries=entries, proof=proof)
        elif cls is ShareKeysResponse:
            msg = ShareKeysResponse(
                client_id=r.u32("client_id"),
                session_id=r.raw(SESSION_ID_SIZE, "session_id"),
                seed_commitment=r.raw(32, "seed_commitment"),
                shares=_read_addressed(r, n),
            )
        elif cls is MaskedInputRequest:
            msg = MaskedInputRequest(session_id=r.raw(SESSION_ID_SIZE, "session_id"), shares=_read_addressed(r, n))
        elif cls is MaskedInputResponse:
            cid = r.u32("client_id")
            sid = r.raw(SESSION_ID_SIZE, "session_id")
            masked = r.var("masked", allowed=(packed_size(params.dim, params.bits),))
            msg = MaskedInputResponse(client_id=cid, session_id=sid, masked=masked)
        elif cls is ConsistencyCheckRequest:
            sid = r.raw(SESSION_ID_SIZE, "session_id")
            root = r.raw(FLAG_ROOT_SIZE, "survivors_root")
            flags = r.var("flags", limit=(max_window(params) + 7) // 8)
            if not flags:
                raise DecodeError("flags: empty (a window holds at least the receiver)")
            proof = r.var("proof", limit=MAX_FLAG_PROOF_BYTES)
            if len(proof) % FLAG_ITEM_SIZE:
                raise DecodeError(f"proof: length {len(proof)} is not a multiple of {FLAG_ITEM_SIZE}")
            msg = ConsistencyCheckRequest(session_id=sid, survivors_root=root, flags=flags, proof=proof)
        elif cls is ConsistencyCheckResponse:
            msg = ConsistencyCheckResponse(
                client_id=r.u32("client_id"),
                session_id=r.raw(SESSION_ID_SIZE, "session_id"),
                signature=r.raw(SIGNATURE_SIZE, "signature"),
            )
        elif cls is UnmaskingRequest:
            sid = r.raw(SESSION_ID_SIZE, "session_id")
            survivors = r.ids("survivors", n)
            dropped = r.ids("dropped", n)
            count = r.count("signatures", max_window(params), _SIGNATURE_ENTRY_SIZE)
            sigs = tuple(
                Signature(signer=r.u32("signer"), signature=r.raw(SIGNATURE_SIZE, "signature")) for _ in range(count)
            )
            msg = UnmaskingRequest(session_id=sid, survivors=survivors, dropped=dropped, signatures=sigs)
        elif cls is UnmaskingResponse:
            msg = UnmaskingResponse(
                client_id=r.u32("client_id"),
                session_id=r.raw(SESSION_ID_SIZE, "session_id"),
                seed_shares=_read_revealed(r, n),
                key_shares=_read_revealed(r, n),
            )
        else:  # Abort
            code = r.u8("reason")
            reason = _REASON_BY_CODE.get(code)
            if reason is None:
                raise DecodeError(f"unknown abort reason code {code}")
            detail = r.var("detail", limit=MAX_DETAIL)
            try:
                text = detail.decode("utf-8")
            except UnicodeDecodeError:
                raise DecodeError("abort detail is not UTF-8") from None
            msg = Abort(reason=reason, detail=text)
    except (TypeError, ValueError) as exc:  # a field failed the message's own validation
        raise DecodeError(f"{cls.__name__}: {exc}") from None
    r.done()
    return msg


def _read_advertise(r: _Reader) -> AdvertiseKeys:
    return AdvertiseKeys(
        client_id=r.u32("client_id"),
        c_pk=r.raw(KEY_SIZE, "c_pk"),
        s_pk=r.raw(KEY_SIZE, "s_pk"),
        signature=r.var("signature", allowed=(0, SIGNATURE_SIZE)),
    )


def _read_addressed(r: _Reader, n: int) -> tuple[AddressedShare, ...]:
    count = r.count("shares", n, _ADDRESSED_SIZE)
    return tuple(AddressedShare(peer=r.u32("peer"), blob=r.raw(ENCRYPTED_SHARE_SIZE, "blob")) for _ in range(count))


def _read_revealed(r: _Reader, n: int) -> tuple[RevealedShare, ...]:
    count = r.count("revealed shares", n, _REVEALED_SIZE)
    return tuple(RevealedShare(owner=r.u32("owner"), share=r.raw(SHARE_SIZE, "share")) for _ in range(count))
