"""Vectors for the wire format (:mod:`secagg.codec`, chapter "Wire format").

Every entry carries ``params`` (the round parameters the decoder is given:
they bound the counts and fix the length of a masked input) and ``encoded``
(the message bytes, hex).

* generate: one or more entries per message type with fixed, readable field
  values (keys ``11..``, ``22..``, session id ``5e..`` and so on) and
  ``type`` + ``fields`` (the message as JSON: bytes as hex, id lists as
  arrays, nested entries as objects, ``Abort.reason`` as its name). Tests
  check ``encode(fields) == encoded`` and ``decode(encoded) == fields``.
* verify: boundary cases that MUST be accepted (counts equal to
  ``n_clients``, ``m = n`` with ``start = m - 1``, a proof of 80 items, a
  256-byte detail, empty lists),
  same layout; both directions are checked too.
* invalid: byte strings that MUST be rejected with ``DecodeError``: every
  generate entry truncated by one byte and extended by one byte, unknown
  versions and tags, counts and lengths of ``0xFFFFFFFF`` and just above their
  bound, wrong masked lengths, out-of-range ``m`` and ``start``, bad proof lengths, bad abort
  codes and details, unsorted or repeated ids, and field values that fail the
  message's own validation. ``what`` says what is wrong.
"""

from __future__ import annotations

import dataclasses
import enum
import struct

from secagg.codec import ABORT_CODES, TAGS, VERSION, encode
from secagg.errors import AbortReason
from secagg.messages import (
    Abort,
    AddressedShare,
    AdvertiseKeys,
    ConsistencyCheckRequest,
    ConsistencyCheckResponse,
    MaskedInputRequest,
    MaskedInputResponse,
    RevealedShare,
    ShareKeysRequest,
    ShareKeysResponse,
    Signature,
    UnmaskingRequest,
    UnmaskingResponse,
)

# The parameters every entry is decoded with: n = 5, dim = 6, bits = 16, so a
# masked input is packed_size(6, 16) = 12 bytes and every count is at most 5.
PARAMS = {
    "n_clients": 5,
    "dim": 6,
    "bits": 16,
    "graph": "complete",
    "neighbors": 4,
    "threshold": 3,
    "threat": "semi-honest",
}
N = PARAMS["n_clients"]
# The parameters of the entries that pin the Harary bounds (max_holders = max_window = k + 1 = 5 < n).
HARARY_PARAMS = {**PARAMS, "n_clients": 20, "graph": "harary", "neighbors": 4}
MASKED_LEN = 12

SID = bytes([0x5E]) * 32
SEED = bytes([0x6A]) * 32
COMMIT = bytes([0xC0]) * 32
ROOT = bytes([0xF1]) * 32  # a flag-tree root (ConsistencyCheckRequest.survivors_root)


def _pk(tag: int) -> bytes:
    return bytes([tag]) * 32


def _sig(tag: int) -> bytes:
    return bytes([tag]) * 64


def _hashes(*tags: int) -> bytes:
    return b"".join(bytes([t]) * 32 for t in tags)  # flag-tree proof items (32 bytes each)


def _blob(peer_from: int, peer_to: int) -> bytes:
    return bytes([0xB0 + peer_from, 0xE0 + peer_to]) * 54  # 108 bytes


def _share(owner: int, holder: int) -> bytes:
    return bytes([0x50 + owner, 0x40 + holder]) * 18  # 36 bytes


def _items(*tags: int) -> bytes:
    """Multiproof items ``lo || hi || hash`` (96 bytes each), filled with readable bytes."""
    return b"".join(bytes([t]) * 32 + bytes([t + 1]) * 32 + bytes([t + 2]) * 32 for t in tags)


def _advertise(cid: int, signed: bool = False) -> AdvertiseKeys:
    return AdvertiseKeys(
        client_id=cid, c_pk=_pk(0x10 + cid), s_pk=_pk(0x20 + cid), signature=_sig(0x70 + cid) if signed else b""
    )


def to_json(value):
    """A message (or part of one) as JSON: bytes as hex, tuples as lists, reasons by value."""
    if dataclasses.is_dataclass(value):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return [to_json(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _messages() -> list[tuple[str, object]]:
    masked = struct.pack("<6H", 1, 2, 0xFFFF, 0x1234, 0, 7)
    return [
        ("advertise-keys-unsigned", _advertise(3)),
        ("advertise-keys-signed", _advertise(2, signed=True)),
        (
            "share-keys-request",
            ShareKeysRequest(
                graph_seed=SEED,
                m=5,
                start=3,
                entries=(_advertise(5), _advertise(2), _advertise(1)),
                proof=_items(0xA1, 0xA2),
            ),
        ),
        (
            "share-keys-request-single-participant",
            ShareKeysRequest(graph_seed=SEED, m=1, start=0, entries=(_advertise(4),), proof=b""),
        ),
        (
            "share-keys-request-signed",
            ShareKeysRequest(
                graph_seed=SEED, m=2, start=0, entries=(_advertise(2, signed=True), _advertise(1, signed=True)), proof=b""
            ),
        ),
        (
            "share-keys-response",
            ShareKeysResponse(
                client_id=2,
                session_id=SID,
                seed_commitment=COMMIT,
                shares=(AddressedShare(peer=1, blob=_blob(2, 1)), AddressedShare(peer=4, blob=_blob(2, 4))),
            ),
        ),
        (
            "masked-input-request",
            MaskedInputRequest(
                session_id=SID,
                shares=(AddressedShare(peer=1, blob=_blob(1, 2)), AddressedShare(peer=4, blob=_blob(4, 2))),
            ),
        ),
        ("masked-input-request-empty", MaskedInputRequest(session_id=SID, shares=())),
        ("masked-input-response", MaskedInputResponse(client_id=3, session_id=SID, masked=masked)),
        (
            "consistency-check-request",
            ConsistencyCheckRequest(session_id=SID, survivors_root=ROOT, flags=b"\x0b"),
        ),
        (
            "consistency-check-request-with-proof",
            ConsistencyCheckRequest(session_id=SID, survivors_root=ROOT, flags=b"\x1d", proof=_hashes(0xA1, 0xA2)),
        ),
        ("consistency-check-response", ConsistencyCheckResponse(client_id=4, session_id=SID, signature=_sig(0x94))),
        (
            "unmasking-request",
            UnmaskingRequest(session_id=SID, survivors=(1, 2, 4), dropped=(3,)),
        ),
        (
            "unmasking-request-signed",
            UnmaskingRequest(
                session_id=SID,
                survivors=(1, 2, 4),
                dropped=(5,),
                signatures=(Signature(signer=1, signature=_sig(0x91)), Signature(signer=4, signature=_sig(0x94))),
            ),
        ),
        (
            "unmasking-response",
            UnmaskingResponse(
                client_id=2,
                session_id=SID,
                seed_shares=(RevealedShare(owner=1, share=_share(1, 2)), RevealedShare(owner=2, share=_share(2, 2))),
                key_shares=(RevealedShare(owner=3, share=_share(3, 2)),),
            ),
        ),
        ("abort-too-few-survivors", Abort(reason=AbortReason.TOO_FEW_SURVIVORS, detail="2 masked inputs, threshold t = 3")),
        ("abort-empty-detail", Abort(reason=AbortReason.PEER_ABORTED)),
        ("abort-utf8-detail", Abort(reason=AbortReason.LOCAL, detail="données ✓")),
    ] + [(f"abort-code-{ABORT_CODES[r]}-{r.value}", Abort(reason=r, detail=r.value)) for r in AbortReason]


def _verify_messages() -> list[tuple[str, object]]:
    all_ids = tuple(range(1, N + 1))
    return [
        ("m-equal-to-n-start-m-minus-1", ShareKeysRequest(graph_seed=SEED, m=N, start=N - 1, entries=(), proof=b"")),
        (
            "entries-count-m-equal-to-n",
            ShareKeysRequest(graph_seed=SEED, m=N, start=0, entries=tuple(_advertise(u) for u in all_ids), proof=b""),
        ),
        ("entries-empty", ShareKeysRequest(graph_seed=SEED, m=1, start=0, entries=(), proof=b"")),
        ("entry-id-above-n", ShareKeysRequest(graph_seed=SEED, m=2, start=1, entries=(_advertise(9),), proof=b"")),
        (
            "proof-of-80-items",
            ShareKeysRequest(graph_seed=SEED, m=3, start=2, entries=(_advertise(1),), proof=_items(*range(0, 240, 3))),
        ),
        ("flags-of-n-positions", ConsistencyCheckRequest(session_id=SID, survivors_root=ROOT, flags=b"\x1f")),
        (
            "flag-proof-of-80-items",
            ConsistencyCheckRequest(session_id=SID, survivors_root=ROOT, flags=b"\x01", proof=_hashes(*range(80))),
        ),
        ("survivors-count-n", UnmaskingRequest(session_id=SID, survivors=all_ids, dropped=())),
        ("survivors-empty", UnmaskingRequest(session_id=SID, survivors=(), dropped=())),
        ("ids-above-n-in-a-list", UnmaskingRequest(session_id=SID, survivors=(1, 2**20), dropped=())),
        ("client-id-2-20", AdvertiseKeys(client_id=2**20, c_pk=_pk(1), s_pk=_pk(2))),
        ("abort-detail-256-bytes", Abort(reason=AbortReason.MALFORMED, detail="x" * 256)),
        ("unmasking-response-empty", UnmaskingResponse(client_id=1, session_id=SID, seed_shares=(), key_shares=())),
        (
            "unmasking-request-n-signatures",
            UnmaskingRequest(
                session_id=SID,
                survivors=all_ids,
                dropped=(),
                signatures=tuple(Signature(signer=u, signature=_sig(0x90 + u)) for u in all_ids),
            ),
        ),
    ]


def _entry(ident: str, msg) -> dict:
    return {
        "id": ident,
        "params": PARAMS,
        "type": type(msg).__name__,
        "tag": TAGS[type(msg)],
        "fields": to_json(msg),
        "encoded": encode(msg).hex(),
    }


# ------------------------------------------------------------------ invalid bytes


def _u32(v: int) -> bytes:
    return struct.pack("<I", v)


def _head(cls) -> bytes:
    return bytes((VERSION, TAGS[cls]))


def _ids(ids) -> bytes:
    return _u32(len(ids)) + b"".join(_u32(i) for i in ids)


def _adv_bytes(cid: int, sig: bytes = b"") -> bytes:
    return _u32(cid) + _pk(0x10 + cid) + _pk(0x20 + cid) + _u32(len(sig)) + sig


def _invalid(gen: list[dict]) -> list[dict]:
    out: list[dict] = []

    def bad(ident: str, data: bytes, what: str, params: dict = PARAMS) -> None:
        out.append({"id": ident, "params": params, "encoded": data.hex(), "what": what, "error": "DecodeError"})

    for e in gen:
        data = bytes.fromhex(e["encoded"])
        bad(f"truncated-{e['id']}", data[:-1], "the last byte is missing")
        bad(f"trailing-byte-{e['id']}", data + b"\x00", "one byte after the end of the message")

    cc = _head(ConsistencyCheckRequest) + SID + ROOT
    adv = _head(AdvertiseKeys)
    bad("empty", b"", "no bytes at all")
    bad("version-only", bytes((VERSION,)), "version byte without a tag")
    for v in (0, 1, 2, 4, 255):
        what = f"version byte {v}: a wire-version-{v} peer's message" if v in (1, 2) else f"version byte {v}"
        bad(f"version-{v}", bytes((v, TAGS[ConsistencyCheckRequest])) + SID + _ids((1,)), what)
    for t in (0, 10, 11, 14, 16, 255):
        bad(f"tag-{t}", bytes((VERSION, t)) + SID + _ids((1,)), f"unknown tag {t}")

    # counts and lengths: 0xFFFFFFFF, and just above the bound with enough bytes behind them
    big = 0xFFFFFFFF
    um = _head(UnmaskingRequest) + SID
    bad("count-ffffffff-survivors", um + _u32(big), "survivor count 2^32-1")
    bad("count-ffffffff-survivors-with-bytes", um + _u32(big) + bytes(64), "survivor count 2^32-1 with a few bytes")
    bad("count-n-plus-1-survivors", um + _ids(range(1, N + 2)), f"{N + 1} survivors with n = {N}")
    bad("length-ffffffff-flags", cc + _u32(big), "flags length 2^32-1")
    bad("flags-2-bytes", cc + _u32(2) + b"\x1f\x00" + _u32(0), f"2 flag bytes with n = {N} (limit ceil(5 / 8) = 1)")
    bad("flags-empty", cc + _u32(0) + _u32(0), "no flag bytes (a window holds at least the receiver)")
    bad("length-ffffffff-flag-proof", cc + _u32(1) + b"\x01" + _u32(big), "flag proof length 2^32-1")
    bad("flag-proof-81-items", cc + _u32(1) + b"\x01" + _u32(81 * 32) + bytes(81 * 32), "flag proof of 81 items (limit 80)")
    bad("flag-proof-not-multiple-of-32", cc + _u32(1) + b"\x01" + _u32(31) + bytes(31), "flag proof of 31 bytes")
    bad("count-ffffffff-dropped", um + _ids((1,)) + _u32(big), "dropped count 2^32-1")
    bad("count-ffffffff-signatures", um + _ids((1,)) + _ids(()) + _u32(big), "signature count 2^32-1")
    bad(
        "count-n-plus-1-signatures",
        um + _ids(range(1, N + 1)) + _ids(()) + _u32(N + 1) + b"".join(_u32(u) + _sig(u) for u in range(1, N + 2)),
        f"{N + 1} signatures with n = {N}",
    )
    skr = _head(ShareKeysResponse) + _u32(2) + SID + COMMIT
    bad("count-ffffffff-shares", skr + _u32(big), "share count 2^32-1")
    bad(
        "count-n-plus-1-shares",
        _head(MaskedInputRequest) + SID + _u32(N + 1) + b"".join(_u32(u) + _blob(u, 9) for u in range(1, N + 2)),
        f"{N + 1} addressed shares with n = {N}",
    )
    bad("count-ffffffff-seed-shares", _head(UnmaskingResponse) + _u32(2) + SID + _u32(big), "revealed count 2^32-1")
    bad(
        "count-ffffffff-key-shares",
        _head(UnmaskingResponse) + _u32(2) + SID + _u32(0) + _u32(big),
        "revealed count 2^32-1",
    )
    skq = _head(ShareKeysRequest) + SEED
    bad("count-ffffffff-entries", skq + _u32(N) + _u32(0) + _u32(big), "entry count 2^32-1")
    bad(
        "count-m-plus-1-entries",
        skq + _u32(2) + _u32(0) + _u32(3) + b"".join(_adv_bytes(u) for u in range(1, 4)) + _u32(0),
        "3 entries with m = 2",
    )
    bad(
        "count-n-plus-1-entries",
        skq + _u32(N) + _u32(0) + _u32(N + 1) + b"".join(_adv_bytes(u) for u in range(1, N + 2)) + _u32(0),
        f"{N + 1} entries with m = n = {N}",
    )
    mir = _head(MaskedInputResponse) + _u32(3) + SID
    bad("length-ffffffff-masked", mir + _u32(big), "masked length 2^32-1")
    bad("length-ffffffff-detail", bytes((VERSION, TAGS[Abort], 1)) + _u32(big), "detail length 2^32-1")
    bad("length-ffffffff-signature", adv + _u32(1) + _pk(1) + _pk(2) + _u32(big), "signature length 2^32-1")
    one = skq + _u32(3) + _u32(1) + _u32(1) + _adv_bytes(1)
    bad("length-ffffffff-proof", one + _u32(big), "proof length 2^32-1")
    bad("proof-81-items", one + _u32(81 * 96) + bytes(81 * 96), "proof of 81 items (limit 80 = 7,680 bytes)")
    bad("proof-not-multiple-of-96", one + _u32(95) + bytes(95), "proof of 95 bytes")
    bad("proof-of-32-bytes", one + _u32(32) + bytes(32), "proof of 32 bytes (a version-2 hash, not a 96-byte item)")
    bad("m-zero", skq + _u32(0) + _u32(0) + _u32(0) + _u32(0), "m = 0 participants")
    bad("m-above-n", skq + _u32(N + 1) + _u32(0) + _u32(0) + _u32(0), f"m = {N + 1} participants with n = {N}")
    bad("m-ffffffff", skq + _u32(big) + _u32(0) + _u32(0) + _u32(0), "m = 2^32-1")
    bad("start-equal-to-m", skq + _u32(3) + _u32(3) + _u32(0) + _u32(0), "start = m = 3")
    bad("start-ffffffff", skq + _u32(3) + _u32(big) + _u32(0) + _u32(0), "start = 2^32-1")
    bad(
        "entries-repeated-id",
        skq + _u32(3) + _u32(0) + _u32(2) + _adv_bytes(2) + _adv_bytes(2) + _u32(0),
        "client 2's entry twice in one window",
    )
    bad(
        "entry-id-zero",
        skq + _u32(3) + _u32(0) + _u32(1) + _u32(0) + _pk(1) + _pk(2) + _u32(0) + _u32(0),
        "an entry of client 0",
    )
    for n_bytes in (MASKED_LEN - 1, MASKED_LEN + 1, 0):
        bad(f"masked-length-{n_bytes}", mir + _u32(n_bytes) + bytes(n_bytes), f"masked length {n_bytes}, expected 12")
    for code in (0, 10, 255):
        bad(f"abort-code-{code}", bytes((VERSION, TAGS[Abort], code)) + _u32(0), f"abort reason code {code}")
    abort = bytes((VERSION, TAGS[Abort], ABORT_CODES[AbortReason.MALFORMED]))
    bad("abort-detail-not-utf8", abort + _u32(2) + b"\xff\xfe", "detail bytes ff fe")
    bad("abort-detail-overlong-utf8", abort + _u32(2) + b"\xc0\x80", "overlong UTF-8 encoding of NUL")
    bad("abort-detail-truncated-utf8", abort + _u32(1) + "é".encode()[:1], "half of a two-byte UTF-8 character")
    bad("abort-detail-257-bytes", abort + _u32(257) + b"x" * 257, "detail of 257 bytes (limit 256)")
    bad("ids-unsorted", cc + _ids((2, 1)), "survivors 2, 1")
    bad("ids-duplicate", cc + _ids((1, 1)), "survivors 1, 1")
    bad("id-zero", cc + _ids((0, 1)), "survivor id 0")
    bad("id-2-20-plus-1", cc + _ids((1, 2**20 + 1)), "survivor id 2^20 + 1")
    bad("client-id-zero", adv + _u32(0) + _pk(1) + _pk(2) + _u32(0), "AdvertiseKeys from client 0")
    bad("client-id-2-20-plus-1", adv + _u32(2**20 + 1) + _pk(1) + _pk(2) + _u32(0), "AdvertiseKeys from client 2^20 + 1")
    bad("advertise-signature-32-bytes", adv + _u32(1) + _pk(1) + _pk(2) + _u32(32) + bytes(32), "32-byte signature")
    bad("share-to-self", skr + _u32(1) + _u32(2) + _blob(2, 2), "client 2 addresses a share to itself")
    bad(
        "addressed-shares-unsorted",
        skr + _u32(2) + _u32(4) + _blob(2, 4) + _u32(1) + _blob(2, 1),
        "shares addressed to 4 then 1",
    )
    bad(
        "addressed-shares-repeated-peer",
        skr + _u32(2) + _u32(4) + _blob(2, 4) + _u32(4) + _blob(2, 4),
        "two shares addressed to 4",
    )
    bad(
        "both-shares-of-one-owner",
        _head(UnmaskingResponse) + _u32(2) + SID + _u32(1) + _u32(3) + _share(3, 2) + _u32(1) + _u32(3) + _share(3, 2),
        "seed share and key share of client 3",
    )
    bad(
        "signatures-unsorted",
        um + _ids((1, 2)) + _ids(()) + _u32(2) + _u32(2) + _sig(2) + _u32(1) + _sig(1),
        "signatures by 2 then 1",
    )
    bad("signer-zero", um + _ids((1,)) + _ids(()) + _u32(1) + _u32(0) + _sig(0), "signature by client 0")

    # a Harary round (n = 20, k = 4): a holder set has k + 1 = 5 clients and a window 5 positions, so one more
    # is refused by the count alone, whatever n allows
    h, hn = HARARY_PARAMS, HARARY_PARAMS["neighbors"] + 1
    bad("harary-survivors-k-plus-2", um + _ids(range(1, hn + 2)) + _ids(()) + _u32(0), f"{hn + 1} survivors, k = 4", h)
    bad("harary-dropped-k-plus-2", um + _ids((1,)) + _ids(range(2, hn + 3)) + _u32(0), f"{hn + 1} dropped, k = 4", h)
    bad(
        "harary-shares-k-plus-2",
        _head(MaskedInputRequest) + SID + _u32(hn + 1) + b"".join(_u32(u) + _blob(u, 9) for u in range(1, hn + 2)),
        f"{hn + 1} addressed shares, k = 4",
        h,
    )
    bad(
        "harary-response-shares-k-plus-2",
        skr + _u32(hn + 1) + b"".join(_u32(u) + _blob(2, u) for u in range(3, hn + 4)),
        f"{hn + 1} shares sent, k = 4",
        h,
    )
    bad(
        "harary-seed-shares-k-plus-2",
        _head(UnmaskingResponse) + _u32(2) + SID + _u32(hn + 1) + b"".join(_u32(u) + _share(u, 2) for u in range(1, hn + 2)) + _u32(0),
        f"{hn + 1} seed shares revealed, k = 4",
        h,
    )
    bad(
        "harary-entries-window-plus-1",
        skq + _u32(20) + _u32(0) + _u32(hn + 1) + b"".join(_adv_bytes(u) for u in range(1, hn + 2)) + _u32(0),
        f"{hn + 1} window entries with m = 20, k = 4 (window {hn})",
        h,
    )
    return out


def generate() -> dict:
    gen = [_entry(ident, msg) for ident, msg in _messages()]
    ver = [_entry(ident, msg) for ident, msg in _verify_messages()]
    return {
        "name": "codec",
        "version": 1,
        "source": "protocol_spec/tools/gen_codec.py (library encoder on fixed field values; invalid bytes built "
        "by hand from the layout of the chapter 'Wire format'); tests/secagg/test_codec.py re-encodes every "
        "generate entry with an independent writer",
        "generate": gen,
        "verify": ver,
        "invalid": _invalid(gen),
    }
