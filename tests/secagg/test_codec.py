"""The wire format: round trips, strict rejection of bad bytes, constructors, vectors."""

from __future__ import annotations

import dataclasses
import struct
import time
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg import codec
from secagg.codec import ABORT_CODES, TAGS, VERSION, decode, encode, encoded_size_masked_input, max_window
from secagg.errors import AbortReason, DecodeError, RemoteProtocolError
from secagg.messages import (
    ENCRYPTED_SHARE_SIZE,
    SHARE_SIZE,
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
from secagg.params import Params
from secagg.primitives.packing import packed_size
from tests import vectors
from tests.vectors import unhex

MESSAGE_TYPES = (
    AdvertiseKeys,
    ShareKeysRequest,
    ShareKeysResponse,
    MaskedInputRequest,
    MaskedInputResponse,
    ConsistencyCheckRequest,
    ConsistencyCheckResponse,
    UnmaskingRequest,
    UnmaskingResponse,
    Abort,
)

P5 = Params(n_clients=5, dim=6, bits=16, graph="complete", neighbors=4, threshold=3)
SID = bytes(range(32))


def u32(v: int) -> bytes:
    return struct.pack("<I", v)


# --------------------------------------------------------------------------- strategies


@st.composite
def round_params(draw) -> Params:
    n = draw(st.integers(2, 7))
    return Params(
        n_clients=n,
        dim=draw(st.integers(1, 12)),
        bits=draw(st.integers(1, 62)),
        graph="complete",
        neighbors=n - 1,
        threshold=draw(st.integers(2, n)),
    )


IDS = st.integers(1, 2**20)
KEY = st.binary(min_size=32, max_size=32)
SIG64 = st.binary(min_size=64, max_size=64)


def id_tuple(max_size: int, ids=IDS):
    return st.lists(ids, unique=True, max_size=max_size).map(lambda xs: tuple(sorted(xs)))


def advertise():
    return st.builds(
        AdvertiseKeys, client_id=IDS, c_pk=KEY, s_pk=KEY, signature=st.one_of(st.just(b""), SIG64)
    )


def addressed(n: int, exclude: int | None = None):
    peers = IDS if exclude is None else IDS.filter(lambda v: v != exclude)
    blobs = st.binary(min_size=ENCRYPTED_SHARE_SIZE, max_size=ENCRYPTED_SHARE_SIZE)
    return st.dictionaries(peers, blobs, max_size=n).map(
        lambda d: tuple(AddressedShare(peer=p, blob=d[p]) for p in sorted(d))
    )


def revealed(n: int, owners=IDS):
    shares = st.binary(min_size=SHARE_SIZE, max_size=SHARE_SIZE)
    return st.dictionaries(owners, shares, max_size=n).map(
        lambda d: tuple(RevealedShare(owner=o, share=d[o]) for o in sorted(d))
    )


@st.composite
def share_keys_request(draw, p: Params):
    m = draw(st.integers(1, p.n_clients))
    start = draw(st.integers(0, m - 1))
    chosen = draw(st.lists(IDS, unique=True, max_size=m))  # any order: the ring's, not the ids'
    entries = tuple(dataclasses.replace(draw(advertise()), client_id=cid) for cid in chosen)
    proof = draw(st.binary(max_size=3).map(lambda b: b * 96))  # 0..3 items
    return ShareKeysRequest(graph_seed=draw(KEY), m=m, start=start, entries=entries, proof=proof)


@st.composite
def share_keys_response(draw, p: Params):
    cid = draw(IDS)
    return ShareKeysResponse(
        client_id=cid, session_id=draw(KEY), seed_commitment=draw(KEY), shares=draw(addressed(p.n_clients, cid))
    )


@st.composite
def unmasking_response(draw, p: Params):
    seed = draw(revealed(p.n_clients))
    seed_owners = {s.owner for s in seed}
    key = draw(revealed(p.n_clients, IDS.filter(lambda o: o not in seed_owners)))
    return UnmaskingResponse(client_id=draw(IDS), session_id=draw(KEY), seed_shares=seed, key_shares=key)


def signatures(n: int):
    return st.dictionaries(IDS, SIG64, max_size=n).map(
        lambda d: tuple(Signature(signer=s, signature=d[s]) for s in sorted(d))
    )


def details():
    return st.text(max_size=80).filter(lambda s: len(s.encode("utf-8")) <= 256)


def message(p: Params):
    n = p.n_clients
    return st.one_of(
        advertise(),
        share_keys_request(p),
        share_keys_response(p),
        st.builds(MaskedInputRequest, session_id=KEY, shares=addressed(n)),
        st.builds(
            MaskedInputResponse,
            client_id=IDS,
            session_id=KEY,
            masked=st.binary(min_size=packed_size(p.dim, p.bits), max_size=packed_size(p.dim, p.bits)),
        ),
        st.builds(
            ConsistencyCheckRequest,
            session_id=KEY,
            survivors_root=KEY,
            flags=st.binary(min_size=1, max_size=(max_window(p) + 7) // 8),
            proof=st.lists(KEY, max_size=4).map(b"".join),
        ),
        st.builds(ConsistencyCheckResponse, client_id=IDS, session_id=KEY, signature=SIG64),
        st.builds(UnmaskingRequest, session_id=KEY, survivors=id_tuple(n), dropped=id_tuple(n), signatures=signatures(n)),
        unmasking_response(p),
        st.builds(Abort, reason=st.sampled_from(AbortReason), detail=details()),
    )


CASES = round_params().flatmap(lambda p: st.tuples(st.just(p), message(p)))


# --------------------------------------------------------------------------- round trip and strictness


@given(CASES)
def test_decode_inverts_encode_for_every_message_type(case):
    p, m = case
    data = encode(m)
    assert data[0] == VERSION and data[1] == TAGS[type(m)]
    assert decode(data, params=p) == m
    assert decode(bytearray(data), params=p) == m
    assert decode(memoryview(data), params=p) == m


@given(CASES)
def test_every_strict_prefix_of_an_encoding_raises_decode_error(case):
    p, m = case
    data = encode(m)
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            decode(data[:cut], params=p)


@given(CASES, st.binary(min_size=1, max_size=3))
def test_any_trailing_bytes_raise_decode_error(case, extra):
    p, m = case
    with pytest.raises(DecodeError, match="trailing"):
        decode(encode(m) + extra, params=p)


@given(CASES, st.data())
def test_a_corrupted_byte_gives_decode_error_or_a_valid_message_that_re_encodes_to_the_same_bytes(case, data):
    p, m = case
    buf = bytearray(encode(m))
    pos = data.draw(st.integers(0, len(buf) - 1), label="position")
    buf[pos] = data.draw(st.integers(0, 255).filter(lambda b: b != buf[pos]), label="new byte")
    try:
        out = decode(bytes(buf), params=p)
    except DecodeError:
        return
    # anything that decodes is a valid message whose encoding is exactly the input (canonical form)
    assert type(out) in MESSAGE_TYPES
    assert encode(out) == bytes(buf)


@pytest.mark.parametrize("version", [0, 1, 2, 4, 127, 255])
def test_unknown_version_raises_decode_error(version):
    data = bytearray(encode(ConsistencyCheckRequest(session_id=SID, survivors_root=SID, flags=b"\x01")))
    data[0] = version
    with pytest.raises(DecodeError, match="version"):
        decode(bytes(data), params=P5)


@pytest.mark.parametrize("tag", [t for t in range(256) if t not in TAGS.values()])
def test_unknown_tag_raises_decode_error(tag):
    with pytest.raises(DecodeError, match="tag"):
        decode(bytes((VERSION, tag)) + SID + u32(0), params=P5)


def test_decode_errors_are_remote_protocol_errors_with_reason_malformed():
    with pytest.raises(RemoteProtocolError) as info:
        decode(b"", params=P5)
    assert isinstance(info.value, DecodeError)
    assert info.value.reason is AbortReason.MALFORMED


def test_decode_refuses_non_bytes_and_encode_refuses_non_messages():
    with pytest.raises(TypeError):
        decode("0106", params=P5)
    with pytest.raises(TypeError):
        encode(Signature(signer=1, signature=bytes(64)))
    with pytest.raises(TypeError):
        encode(b"\x01\x06")


# --------------------------------------------------------------------------- forged counts and lengths

HUGE = 0xFFFFFFFF
_ADV = u32(1) + bytes(32) + bytes([1]) * 32
FORGED = {
    "flags length": bytes((VERSION, 6)) + SID + SID + u32(HUGE),
    "flag proof length": bytes((VERSION, 6)) + SID + SID + u32(1) + b"\x01" + u32(HUGE),
    "survivors count": bytes((VERSION, 8)) + SID + u32(HUGE),
    "dropped count": bytes((VERSION, 8)) + SID + u32(0) + u32(HUGE),
    "signatures count": bytes((VERSION, 8)) + SID + u32(0) + u32(0) + u32(HUGE),
    "addressed shares count": bytes((VERSION, 4)) + SID + u32(HUGE),
    "share-keys shares count": bytes((VERSION, 3)) + u32(1) + SID + SID + u32(HUGE),
    "seed shares count": bytes((VERSION, 9)) + u32(1) + SID + u32(HUGE),
    "key shares count": bytes((VERSION, 9)) + u32(1) + SID + u32(0) + u32(HUGE),
    "entries count": bytes((VERSION, 2)) + SID + u32(5) + u32(0) + u32(HUGE),
    "m": bytes((VERSION, 2)) + SID + u32(HUGE) + u32(0) + u32(0),
    "start": bytes((VERSION, 2)) + SID + u32(5) + u32(HUGE) + u32(0),
    "proof length": bytes((VERSION, 2)) + SID + u32(5) + u32(0) + u32(1) + _ADV + u32(0) + u32(HUGE),
    "signature length": bytes((VERSION, 1)) + _ADV + u32(HUGE),
    "masked length": bytes((VERSION, 5)) + u32(1) + SID + u32(HUGE),
    "detail length": bytes((VERSION, 15, 1)) + u32(HUGE),
}


@pytest.mark.parametrize("field", sorted(FORGED))
@pytest.mark.parametrize("padding", [0, 1024])
def test_a_forged_huge_count_or_length_is_rejected_quickly_without_allocating(field, padding):
    data = FORGED[field] + bytes(padding)
    decode_ok = False
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        try:
            decode(data, params=P5)
            decode_ok = True
        except DecodeError:
            pass
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not decode_ok
    assert peak < 1_000_000, f"{field}: peak allocation {peak} bytes"
    assert elapsed < 1.0


@pytest.mark.parametrize(
    "build",
    [
        lambda ids: UnmaskingRequest(session_id=SID, survivors=ids, dropped=()),
        lambda ids: UnmaskingRequest(session_id=SID, survivors=(), dropped=ids),
        lambda ids: UnmaskingRequest(
            session_id=SID, survivors=(), dropped=(), signatures=tuple(Signature(signer=i, signature=bytes(64)) for i in ids)
        ),
        lambda ids: MaskedInputRequest(session_id=SID, shares=tuple(AddressedShare(peer=i, blob=bytes(108)) for i in ids)),
        lambda ids: ShareKeysResponse(
            client_id=9, session_id=SID, seed_commitment=SID, shares=tuple(AddressedShare(peer=i, blob=bytes(108)) for i in ids)
        ),
        lambda ids: UnmaskingResponse(
            client_id=9, session_id=SID, seed_shares=tuple(RevealedShare(owner=i, share=bytes(36)) for i in ids), key_shares=()
        ),
        lambda ids: UnmaskingResponse(
            client_id=9, session_id=SID, seed_shares=(), key_shares=tuple(RevealedShare(owner=i, share=bytes(36)) for i in ids)
        ),
    ],
    ids=["unmask-survivors", "unmask-dropped", "signatures", "addressed", "share-keys", "seed", "key"],
)
def test_counts_up_to_n_clients_are_accepted_and_above_it_rejected(build):
    n = P5.n_clients
    ok = build(tuple(range(1, n + 1)))
    assert decode(encode(ok), params=P5) == ok
    with pytest.raises(DecodeError, match="limit"):
        decode(encode(build(tuple(range(1, n + 2)))), params=P5)


@pytest.mark.parametrize(
    ("params", "window"),
    [
        (P5, 5),
        (Params(n_clients=40, dim=1, bits=8, graph="harary", neighbors=6, threshold=4, threat="active"), 13),
        (Params(n_clients=40, dim=1, bits=8, graph="harary", neighbors=6, threshold=4, threat="semi-malicious"), 7),
        (Params(n_clients=10, dim=1, bits=8, graph="harary", neighbors=6, threshold=4, threat="active"), 10),
    ],
)
def test_flags_and_window_signatures_are_bounded_by_the_largest_window(params, window):
    assert max_window(params) == window
    limit = (window + 7) // 8
    ok = ConsistencyCheckRequest(session_id=SID, survivors_root=SID, flags=bytes([1]) * limit)
    assert decode(encode(ok), params=params) == ok
    with pytest.raises(DecodeError, match="limit"):
        decode(encode(dataclasses.replace(ok, flags=bytes([1]) * (limit + 1))), params=params)
    sigs = tuple(Signature(signer=i, signature=bytes(64)) for i in range(1, window + 2))
    ok = UnmaskingRequest(session_id=SID, survivors=(), dropped=(), signatures=sigs[:window])
    assert decode(encode(ok), params=params) == ok
    with pytest.raises(DecodeError, match="limit"):
        decode(encode(dataclasses.replace(ok, signatures=sigs)), params=params)


def test_entry_count_above_m_is_rejected_before_reading_an_entry():
    p = Params(n_clients=3, dim=1, bits=8, graph="complete", neighbors=2, threshold=2)
    entries = tuple(AdvertiseKeys(client_id=i, c_pk=bytes(32), s_pk=bytes([i]) * 32) for i in (2, 1))
    m = ShareKeysRequest(graph_seed=SID, m=2, start=1, entries=entries, proof=b"")
    assert decode(encode(m), params=p) == m
    data = bytearray(encode(m))
    count_at = 2 + 32 + 4 + 4
    data[count_at : count_at + 4] = u32(3)
    data[-4:] = _ADV + u32(0) + u32(0)  # a third entry, then the proof length
    with pytest.raises(DecodeError, match="limit 2"):
        decode(bytes(data), params=p)


@pytest.mark.parametrize("m", [0, 4, HUGE])
def test_m_outside_one_to_n_clients_is_rejected(m):
    p = Params(n_clients=3, dim=1, bits=8, graph="complete", neighbors=2, threshold=2)
    with pytest.raises(DecodeError, match="participants"):
        decode(bytes((VERSION, 2)) + SID + u32(m) + u32(0) + u32(0) + u32(0), params=p)


@pytest.mark.parametrize("start", [3, 4, HUGE])
def test_start_at_or_above_m_is_rejected(start):
    p = Params(n_clients=3, dim=1, bits=8, graph="complete", neighbors=2, threshold=2)
    with pytest.raises(DecodeError, match="start"):
        decode(bytes((VERSION, 2)) + SID + u32(3) + u32(start) + u32(0) + u32(0), params=p)


@pytest.mark.parametrize("length", [32, 95, 97, 96 * 80 + 96, 96 * 80 + 1])
def test_a_proof_not_made_of_96_byte_items_or_above_80_items_is_rejected(length):
    head = bytes((VERSION, 2)) + SID + u32(3) + u32(0) + u32(1) + _ADV + u32(0)
    with pytest.raises(DecodeError, match="proof"):
        decode(head + u32(length) + bytes(length), params=P5)
    assert isinstance(decode(head + u32(96 * 80) + bytes(96 * 80), params=P5), ShareKeysRequest)


@given(dim=st.integers(1, 40), bits=st.integers(1, 62), delta=st.integers(-3, 3).filter(lambda d: d != 0))
def test_masked_input_of_any_length_but_packed_size_is_rejected(dim, bits, delta):
    p = Params(n_clients=3, dim=dim, bits=bits, graph="complete", neighbors=2, threshold=2)
    size = packed_size(dim, bits)
    good = MaskedInputResponse(client_id=1, session_id=SID, masked=bytes(size))
    assert decode(encode(good), params=p) == good
    assert len(encode(good)) == encoded_size_masked_input(p)
    if size + delta >= 0:
        bad = MaskedInputResponse(client_id=1, session_id=SID, masked=bytes(size + delta))
        with pytest.raises(DecodeError, match="masked"):
            decode(encode(bad), params=p)


# --------------------------------------------------------------------------- abort


def _abort(code: int, detail: bytes) -> bytes:
    return bytes((VERSION, 15, code)) + u32(len(detail)) + detail


def test_abort_codes_cover_every_reason_once():
    assert set(ABORT_CODES) == set(AbortReason)
    assert sorted(ABORT_CODES.values()) == list(range(1, len(AbortReason) + 1))
    for reason, code in ABORT_CODES.items():
        assert decode(_abort(code, b"why"), params=P5) == Abort(reason=reason, detail="why")


@pytest.mark.parametrize("code", [0, 10, 11, 100, 255])
def test_unknown_abort_reason_code_is_rejected(code):
    with pytest.raises(DecodeError, match="reason"):
        decode(_abort(code, b""), params=P5)


@pytest.mark.parametrize("detail", [b"\xff", b"ok\xc3", b"\xc0\x80", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])
def test_abort_detail_that_is_not_utf8_is_rejected(detail):
    with pytest.raises(DecodeError, match="UTF-8"):
        decode(_abort(1, detail), params=P5)


def test_abort_detail_is_limited_to_256_utf8_bytes():
    assert decode(_abort(1, "é".encode() * 128), params=P5).detail == "é" * 128
    with pytest.raises(DecodeError):
        decode(_abort(1, b"x" * 257), params=P5)


# --------------------------------------------------------------------------- tables


def test_the_tag_table_is_closed_and_one_to_one():
    assert set(TAGS) == set(MESSAGE_TYPES)
    assert len(set(TAGS.values())) == len(TAGS)
    assert codec.VERSION == 3
    assert {cls.__name__: tag for cls, tag in TAGS.items()} == {
        "AdvertiseKeys": 1,
        "ShareKeysRequest": 2,
        "ShareKeysResponse": 3,
        "MaskedInputRequest": 4,
        "MaskedInputResponse": 5,
        "ConsistencyCheckRequest": 6,
        "ConsistencyCheckResponse": 7,
        "UnmaskingRequest": 8,
        "UnmaskingResponse": 9,
        "Abort": 15,
    }


# --------------------------------------------------------------------------- constructors

K32, K31, K33 = bytes(32), bytes(31), bytes(33)


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda: AdvertiseKeys(client_id=1, c_pk=K31, s_pk=K32), ValueError),
        (lambda: AdvertiseKeys(client_id=1, c_pk=K32, s_pk=K33), ValueError),
        (lambda: AdvertiseKeys(client_id=1, c_pk=K32, s_pk=K32, signature=bytes(63)), ValueError),
        (lambda: AdvertiseKeys(client_id=1, c_pk=bytearray(32), s_pk=K32), TypeError),
        (lambda: AdvertiseKeys(client_id=0, c_pk=K32, s_pk=K32), ValueError),
        (lambda: AdvertiseKeys(client_id=2**20 + 1, c_pk=K32, s_pk=K32), ValueError),
        (lambda: AdvertiseKeys(client_id=-1, c_pk=K32, s_pk=K32), ValueError),
        (lambda: AdvertiseKeys(client_id=True, c_pk=K32, s_pk=K32), TypeError),
        (lambda: AdvertiseKeys(client_id=1.0, c_pk=K32, s_pk=K32), TypeError),
        (lambda: ShareKeysRequest(graph_seed=K31, m=1, start=0, entries=(), proof=b""), ValueError),
        (lambda: ShareKeysRequest(graph_seed=K32, m=0, start=0, entries=(), proof=b""), ValueError),
        (lambda: ShareKeysRequest(graph_seed=K32, m=2**20 + 1, start=0, entries=(), proof=b""), ValueError),
        (lambda: ShareKeysRequest(graph_seed=K32, m=True, start=0, entries=(), proof=b""), TypeError),
        (lambda: ShareKeysRequest(graph_seed=K32, m=2, start=2, entries=(), proof=b""), ValueError),
        (lambda: ShareKeysRequest(graph_seed=K32, m=2, start=-1, entries=(), proof=b""), ValueError),
        (lambda: ShareKeysRequest(graph_seed=K32, m=2, start=1.0, entries=(), proof=b""), TypeError),
        (lambda: ShareKeysRequest(graph_seed=K32, m=2, start=0, entries=[], proof=b""), TypeError),
        (lambda: ShareKeysRequest(graph_seed=K32, m=2, start=0, entries=(1,), proof=b""), TypeError),
        (
            lambda: ShareKeysRequest(
                graph_seed=K32, m=1, start=0, entries=tuple(AdvertiseKeys(client_id=i, c_pk=K32, s_pk=K32) for i in (1, 2)), proof=b""
            ),
            ValueError,
        ),
        (
            lambda: ShareKeysRequest(
                graph_seed=K32, m=3, start=0, entries=tuple(AdvertiseKeys(client_id=1, c_pk=K32, s_pk=K32) for _ in (1, 2)), proof=b""
            ),
            ValueError,
        ),
        (lambda: ShareKeysRequest(graph_seed=K32, m=2, start=0, entries=(), proof=bytes(32)), ValueError),
        (lambda: ShareKeysRequest(graph_seed=K32, m=2, start=0, entries=(), proof=bytes(96 * 81)), ValueError),
        (lambda: ShareKeysRequest(graph_seed=K32, m=2, start=0, entries=(), proof=bytearray(96)), TypeError),
        (lambda: AddressedShare(peer=1, blob=bytes(ENCRYPTED_SHARE_SIZE - 1)), ValueError),
        (lambda: AddressedShare(peer=0, blob=bytes(ENCRYPTED_SHARE_SIZE)), ValueError),
        (
            lambda: ShareKeysResponse(
                client_id=1, session_id=K32, seed_commitment=K32, shares=(AddressedShare(peer=1, blob=bytes(108)),)
            ),
            ValueError,
        ),
        (lambda: ShareKeysResponse(client_id=1, session_id=K33, seed_commitment=K32, shares=()), ValueError),
        (lambda: ShareKeysResponse(client_id=1, session_id=K32, seed_commitment=K31, shares=()), ValueError),
        (
            lambda: MaskedInputRequest(
                session_id=K32,
                shares=(AddressedShare(peer=3, blob=bytes(108)), AddressedShare(peer=3, blob=bytes(108))),
            ),
            ValueError,
        ),
        (lambda: MaskedInputResponse(client_id=1, session_id=K32, masked=[0, 1]), TypeError),
        (lambda: MaskedInputResponse(client_id=1, session_id=K31, masked=b""), ValueError),
        (lambda: ConsistencyCheckRequest(session_id=K32, survivors_root=K31, flags=b"\x01"), ValueError),
        (lambda: ConsistencyCheckRequest(session_id=K32, survivors_root=K32, flags=b""), ValueError),
        (lambda: ConsistencyCheckRequest(session_id=K32, survivors_root=K32, flags=[1]), TypeError),
        (lambda: ConsistencyCheckRequest(session_id=K32, survivors_root=K32, flags=b"\x01", proof=bytes(31)), ValueError),
        (lambda: ConsistencyCheckRequest(session_id=K32, survivors_root=K32, flags=b"\x01", proof=bytes(2592)), ValueError),
        (lambda: ConsistencyCheckResponse(client_id=1, session_id=K32, signature=bytes(65)), ValueError),
        (lambda: Signature(signer=1, signature=bytes(32)), ValueError),
        (lambda: UnmaskingRequest(session_id=K32, survivors=(1,), dropped=(4, 4)), ValueError),
        (
            lambda: UnmaskingRequest(
                session_id=K32,
                survivors=(1,),
                dropped=(),
                signatures=(Signature(signer=2, signature=bytes(64)), Signature(signer=1, signature=bytes(64))),
            ),
            ValueError,
        ),
        (lambda: RevealedShare(owner=1, share=bytes(35)), ValueError),
        (lambda: RevealedShare(owner=2**20 + 1, share=bytes(36)), ValueError),
        (
            lambda: UnmaskingResponse(
                client_id=1,
                session_id=K32,
                seed_shares=(RevealedShare(owner=2, share=bytes(36)),),
                key_shares=(RevealedShare(owner=2, share=bytes(36)),),
            ),
            ValueError,
        ),
        (
            lambda: UnmaskingResponse(
                client_id=1,
                session_id=K32,
                seed_shares=(RevealedShare(owner=3, share=bytes(36)), RevealedShare(owner=2, share=bytes(36))),
                key_shares=(),
            ),
            ValueError,
        ),
        (lambda: UnmaskingResponse(client_id=1, session_id=K32, seed_shares=[], key_shares=()), TypeError),
        (lambda: Abort(reason="malformed"), TypeError),
        (lambda: Abort(reason=AbortReason.MALFORMED, detail=b"x"), TypeError),
        (lambda: Abort(reason=AbortReason.MALFORMED, detail="é" * 129), ValueError),
    ],
)
def test_constructors_reject_invalid_field_values(make, error):
    with pytest.raises(error):
        make()


def test_messages_are_frozen_and_keyword_only():
    m = ConsistencyCheckRequest(session_id=SID, survivors_root=SID, flags=b"\x01")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.flags = b"\x02"
    with pytest.raises(TypeError):
        ConsistencyCheckRequest(SID, SID, b"\x01")


# --------------------------------------------------------------------------- vectors


def _ads(x: dict) -> AdvertiseKeys:
    return AdvertiseKeys(client_id=x["client_id"], c_pk=unhex(x["c_pk"]), s_pk=unhex(x["s_pk"]), signature=unhex(x["signature"]))


def _addr(xs: list) -> tuple[AddressedShare, ...]:
    return tuple(AddressedShare(peer=x["peer"], blob=unhex(x["blob"])) for x in xs)


def _rev(xs: list) -> tuple[RevealedShare, ...]:
    return tuple(RevealedShare(owner=x["owner"], share=unhex(x["share"])) for x in xs)


def from_fields(kind: str, f: dict):
    """Build a message from the JSON of a codec vector (explicitly, no lookup by name)."""
    if kind == "AdvertiseKeys":
        return _ads(f)
    if kind == "ShareKeysRequest":
        return ShareKeysRequest(
            graph_seed=unhex(f["graph_seed"]),
            m=f["m"],
            start=f["start"],
            entries=tuple(_ads(a) for a in f["entries"]),
            proof=unhex(f["proof"]),
        )
    if kind == "ShareKeysResponse":
        return ShareKeysResponse(
            client_id=f["client_id"],
            session_id=unhex(f["session_id"]),
            seed_commitment=unhex(f["seed_commitment"]),
            shares=_addr(f["shares"]),
        )
    if kind == "MaskedInputRequest":
        return MaskedInputRequest(session_id=unhex(f["session_id"]), shares=_addr(f["shares"]))
    if kind == "MaskedInputResponse":
        return MaskedInputResponse(client_id=f["client_id"], session_id=unhex(f["session_id"]), masked=unhex(f["masked"]))
    if kind == "ConsistencyCheckRequest":
        return ConsistencyCheckRequest(
            session_id=unhex(f["session_id"]),
            survivors_root=unhex(f["survivors_root"]),
            flags=unhex(f["flags"]),
            proof=unhex(f["proof"]),
        )
    if kind == "ConsistencyCheckResponse":
        return ConsistencyCheckResponse(
            client_id=f["client_id"], session_id=unhex(f["session_id"]), signature=unhex(f["signature"])
        )
    if kind == "UnmaskingRequest":
        return UnmaskingRequest(
            session_id=unhex(f["session_id"]),
            survivors=tuple(f["survivors"]),
            dropped=tuple(f["dropped"]),
            signatures=tuple(Signature(signer=s["signer"], signature=unhex(s["signature"])) for s in f["signatures"]),
        )
    if kind == "UnmaskingResponse":
        return UnmaskingResponse(
            client_id=f["client_id"],
            session_id=unhex(f["session_id"]),
            seed_shares=_rev(f["seed_shares"]),
            key_shares=_rev(f["key_shares"]),
        )
    if kind == "Abort":
        return Abort(reason=AbortReason(f["reason"]), detail=f["detail"])
    raise AssertionError(f"unknown message type {kind!r}")


# An independent writer, from the tables of the chapter "Wire format" alone.
_SPEC_TAGS = {
    "AdvertiseKeys": 1, "ShareKeysRequest": 2, "ShareKeysResponse": 3, "MaskedInputRequest": 4,
    "MaskedInputResponse": 5, "ConsistencyCheckRequest": 6, "ConsistencyCheckResponse": 7,
    "UnmaskingRequest": 8, "UnmaskingResponse": 9, "Abort": 15,
}  # fmt: skip
_SPEC_ABORT_CODES = {
    "malformed": 1, "out_of_round": 2, "replayed": 3, "inconsistent": 4, "too_few_survivors": 5,
    "authentication": 6, "reconstruction_failed": 7, "peer_aborted": 8, "local": 9,
}  # fmt: skip


def _var(b: bytes) -> bytes:
    return u32(len(b)) + b


def _idlist(ids: list[int]) -> bytes:
    return u32(len(ids)) + b"".join(u32(i) for i in ids)


def _spec_adv(a: dict) -> bytes:
    return u32(a["client_id"]) + unhex(a["c_pk"]) + unhex(a["s_pk"]) + _var(unhex(a["signature"]))


def spec_encode(kind: str, f: dict) -> bytes:
    body = b""
    if kind == "AdvertiseKeys":
        body = _spec_adv(f)
    elif kind == "ShareKeysRequest":
        body = unhex(f["graph_seed"]) + u32(f["m"]) + u32(f["start"]) + u32(len(f["entries"]))
        body += b"".join(_spec_adv(a) for a in f["entries"]) + _var(unhex(f["proof"]))
    elif kind in ("ShareKeysResponse", "MaskedInputRequest"):
        if kind == "ShareKeysResponse":
            body = u32(f["client_id"]) + unhex(f["session_id"]) + unhex(f["seed_commitment"])
        else:
            body = unhex(f["session_id"])
        body += u32(len(f["shares"])) + b"".join(u32(s["peer"]) + unhex(s["blob"]) for s in f["shares"])
    elif kind == "MaskedInputResponse":
        body = u32(f["client_id"]) + unhex(f["session_id"]) + _var(unhex(f["masked"]))
    elif kind == "ConsistencyCheckRequest":
        body = unhex(f["session_id"]) + unhex(f["survivors_root"]) + _var(unhex(f["flags"])) + _var(unhex(f["proof"]))
    elif kind == "ConsistencyCheckResponse":
        body = u32(f["client_id"]) + unhex(f["session_id"]) + unhex(f["signature"])
    elif kind == "UnmaskingRequest":
        body = unhex(f["session_id"]) + _idlist(f["survivors"]) + _idlist(f["dropped"]) + u32(len(f["signatures"]))
        body += b"".join(u32(s["signer"]) + unhex(s["signature"]) for s in f["signatures"])
    elif kind == "UnmaskingResponse":
        body = u32(f["client_id"]) + unhex(f["session_id"])
        for group in (f["seed_shares"], f["key_shares"]):
            body += u32(len(group)) + b"".join(u32(s["owner"]) + unhex(s["share"]) for s in group)
    elif kind == "Abort":
        body = bytes((_SPEC_ABORT_CODES[f["reason"]],)) + _var(f["detail"].encode("utf-8"))
    return bytes((VERSION, _SPEC_TAGS[kind])) + body


def _both_directions(v: dict) -> None:
    p = Params(**v["params"])
    data = unhex(v["encoded"])
    m = from_fields(v["type"], v["fields"])
    assert type(m).__name__ == v["type"] and TAGS[type(m)] == v["tag"]
    assert encode(m) == data
    assert decode(data, params=p) == m
    assert spec_encode(v["type"], v["fields"]) == data


@pytest.mark.parametrize("v", vectors.params("codec", "generate"))
def test_generate_vectors_encode_to_the_exact_bytes_and_decode_back(v):
    _both_directions(v)


@pytest.mark.parametrize("v", vectors.params("codec", "verify"))
def test_verify_vectors_are_accepted_and_round_trip(v):
    _both_directions(v)


@pytest.mark.parametrize("v", vectors.params("codec", "invalid"))
def test_invalid_vectors_raise_decode_error(v):
    assert v["error"] == "DecodeError"
    with pytest.raises(DecodeError):
        decode(unhex(v["encoded"]), params=Params(**v["params"]))


def test_codec_vectors_cover_every_message_type_and_abort_code():
    gen = vectors.load("codec")["generate"]
    assert {v["type"] for v in gen} == {cls.__name__ for cls in MESSAGE_TYPES}
    assert {v["fields"]["reason"] for v in gen if v["type"] == "Abort"} == {r.value for r in AbortReason}


# --------------------------------------------------------------------------- the decoder's unchecked constructors
# The decoder checks every __post_init__ rule itself and builds the per-edge messages through
# messages._unchecked (no re-run of the checks). These tests hold it to the checked constructors.


def _rebuild(m):
    """The same message built again through the checked keyword constructors, nested entries included."""
    fields = {}
    for f in dataclasses.fields(m):
        value = getattr(m, f.name)
        if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            value = tuple(_rebuild(e) for e in value)
        fields[f.name] = value
    return type(m)(**fields)


@given(CASES, st.data())
def test_whatever_the_decoder_accepts_the_checked_constructors_accept_and_build_equal(case, data):
    p, m = case
    buf = bytearray(encode(m))
    for _ in range(data.draw(st.integers(0, 3), label="corruptions")):
        pos = data.draw(st.integers(0, len(buf) - 1), label="position")
        buf[pos] = data.draw(st.integers(0, 255), label="byte")
    try:
        out = decode(bytes(buf), params=p)
    except DecodeError:
        return
    again = _rebuild(out)  # raises TypeError/ValueError if the decoder let an invalid field through
    assert again == out and hash(again) == hash(out)
    for f in dataclasses.fields(out):
        assert type(getattr(out, f.name)) is type(getattr(again, f.name))


@given(CASES)
def test_the_unchecked_constructors_build_what_the_checked_ones_build(case):
    from secagg.messages import _unchecked

    _, m = case
    parts = [getattr(m, f.name) for f in dataclasses.fields(m)]
    fast = _unchecked(type(m))(*parts)
    assert fast == m and hash(fast) == hash(m) and repr(fast) == repr(m)
    first = dataclasses.fields(fast)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(fast, first, getattr(m, first))


def test_the_unchecked_constructors_take_exactly_the_fields():
    from secagg.messages import _unchecked

    with pytest.raises(TypeError):
        _unchecked(AddressedShare)(1)
    with pytest.raises(TypeError):
        _unchecked(AdvertiseKeys)(1, bytes(32), bytes(32))
    with pytest.raises(TypeError):
        _unchecked(UnmaskingResponse)(1, SID, ())
    with pytest.raises(TypeError):
        _unchecked(ShareKeysRequest)(SID, 1, 0, ())


_SHARE = bytes(SHARE_SIZE)
_BLOB = bytes(ENCRYPTED_SHARE_SIZE)


def _revealed(owners) -> bytes:
    return u32(len(owners)) + b"".join(u32(o) + _SHARE for o in owners)


def _addressed(peers) -> bytes:
    return u32(len(peers)) + b"".join(u32(v) + _BLOB for v in peers)


# Each entry breaks one rule that a message's __post_init__ checks and the decoder now checks itself.
BROKEN_RULES = {
    "revealed owner 0": bytes((VERSION, 9)) + u32(1) + SID + _revealed([0]) + _revealed([]),
    "revealed owner above 2**20": bytes((VERSION, 9)) + u32(1) + SID + _revealed([]) + _revealed([2**20 + 1]),
    "seed shares unsorted": bytes((VERSION, 9)) + u32(1) + SID + _revealed([3, 2]) + _revealed([]),
    "key shares repeated": bytes((VERSION, 9)) + u32(1) + SID + _revealed([]) + _revealed([2, 2]),
    "both shares of one owner": bytes((VERSION, 9)) + u32(1) + SID + _revealed([2]) + _revealed([2]),
    "unmasking response from client 0": bytes((VERSION, 9)) + u32(0) + SID + _revealed([]) + _revealed([]),
    "share-keys response from 2**20 + 1": bytes((VERSION, 3)) + u32(2**20 + 1) + SID + SID + _addressed([]),
    "share-keys share to self": bytes((VERSION, 3)) + u32(2) + SID + SID + _addressed([1, 2]),
    "share-keys peers unsorted": bytes((VERSION, 3)) + u32(1) + SID + SID + _addressed([3, 2]),
    "masked-input peer 0": bytes((VERSION, 4)) + SID + _addressed([0]),
    "masked-input peer above 2**20": bytes((VERSION, 4)) + SID + _addressed([2**20 + 1]),
    "masked-input peers repeated": bytes((VERSION, 4)) + SID + _addressed([2, 2]),
    "dropped unsorted": bytes((VERSION, 8)) + SID + u32(0) + u32(2) + u32(3) + u32(1) + u32(0),
    "dropped above 2**20": bytes((VERSION, 8)) + SID + u32(0) + u32(1) + u32(2**20 + 1) + u32(0),
    "signer above 2**20": bytes((VERSION, 8)) + SID + u32(0) + u32(0) + u32(1) + u32(2**20 + 1) + bytes(64),
    "signers repeated": bytes((VERSION, 8)) + SID + u32(0) + u32(0) + u32(2) + (u32(2) + bytes(64)) * 2,
    "entry id above 2**20": bytes((VERSION, 2)) + SID + u32(1) + u32(0) + u32(1) + u32(2**20 + 1) + bytes(64) + u32(0) + u32(0),
    "entry signature of 63 bytes": bytes((VERSION, 2)) + SID + u32(1) + u32(0) + u32(1) + _ADV + u32(63) + bytes(63) + u32(0),
}


@pytest.mark.parametrize("rule", sorted(BROKEN_RULES))
def test_the_decoder_refuses_every_rule_the_message_constructors_check(rule):
    data = BROKEN_RULES[rule]
    with pytest.raises(DecodeError):
        decode(data, params=P5)


def test_the_same_shapes_with_every_rule_kept_decode():
    good = {
        "revealed": bytes((VERSION, 9)) + u32(1) + SID + _revealed([2, 3]) + _revealed([4]),
        "share-keys": bytes((VERSION, 3)) + u32(2) + SID + SID + _addressed([1, 3]),
        "masked-input": bytes((VERSION, 4)) + SID + _addressed([1, 2**20]),
        "unmasking": bytes((VERSION, 8)) + SID + u32(1) + u32(1) + u32(2) + u32(2) + u32(3) + u32(1) + u32(2) + bytes(64),
        "entries": bytes((VERSION, 2)) + SID + u32(1) + u32(0) + u32(1) + u32(2**20) + bytes(64) + u32(64) + bytes(64) + u32(0),
    }
    for data in good.values():
        m = decode(data, params=P5)
        assert encode(m) == data and _rebuild(m) == m


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, "strided", "uint32"])
def test_decode_takes_any_byte_buffer_and_returns_fields_as_bytes(kind):
    import array

    m = UnmaskingResponse(
        client_id=2, session_id=SID, seed_shares=(RevealedShare(owner=1, share=bytes(range(36))),), key_shares=()
    )
    data = encode(m)
    if kind == "strided":
        doubled = bytearray(2 * len(data))
        doubled[::2] = data
        buf = memoryview(doubled)[::2]
    elif kind == "uint32":
        padded = data + bytes(-len(data) % 4)
        buf = memoryview(array.array("I", padded))
        with pytest.raises(DecodeError, match="trailing"):  # the padding bytes
            decode(buf, params=P5)
        buf = memoryview(array.array("B", data)).cast("B")
    else:
        buf = kind(data)
    out = decode(buf, params=P5)
    assert out == m
    assert type(out.session_id) is bytes and type(out.seed_shares[0].share) is bytes


ANY_ID = st.sampled_from([0, 1, 2, 3, 5, 2**20, 2**20 + 1, 2**32 - 1])


@st.composite
def raw_id_message(draw):
    """(wire bytes, a thunk that builds the same message through the checked constructors): ids drawn
    from a set with invalid values, lists in any order and with repeats; counts within the bounds of P5."""
    n = P5.n_clients
    ids = st.lists(ANY_ID, max_size=n)
    kind = draw(st.sampled_from(["advertise", "entries", "share-keys", "masked-input", "unmasking-request", "unmasking-response"]))
    sid = draw(KEY)
    if kind == "advertise":
        cid, sig = draw(ANY_ID), draw(st.sampled_from([b"", bytes(64)]))
        data = bytes((VERSION, 1)) + u32(cid) + sid + sid + u32(len(sig)) + sig
        return data, lambda: AdvertiseKeys(client_id=cid, c_pk=sid, s_pk=sid, signature=sig)
    if kind == "entries":
        m = draw(st.integers(1, n))
        entry_ids = draw(st.lists(ANY_ID, max_size=m))
        start = draw(st.integers(0, m - 1))
        body = b"".join(u32(i) + sid + sid + u32(0) for i in entry_ids)
        data = bytes((VERSION, 2)) + sid + u32(m) + u32(start) + u32(len(entry_ids)) + body + u32(0)
        return data, lambda: ShareKeysRequest(
            graph_seed=sid, m=m, start=start, entries=tuple(AdvertiseKeys(client_id=i, c_pk=sid, s_pk=sid) for i in entry_ids), proof=b""
        )
    if kind in ("share-keys", "masked-input"):
        cid, peers = draw(ANY_ID), draw(ids)
        shares = u32(len(peers)) + b"".join(u32(v) + _BLOB for v in peers)
        built = lambda: tuple(AddressedShare(peer=v, blob=_BLOB) for v in peers)  # noqa: E731
        if kind == "masked-input":
            return bytes((VERSION, 4)) + sid + shares, lambda: MaskedInputRequest(session_id=sid, shares=built())
        data = bytes((VERSION, 3)) + u32(cid) + sid + sid + shares
        return data, lambda: ShareKeysResponse(client_id=cid, session_id=sid, seed_commitment=sid, shares=built())
    if kind == "unmasking-request":
        survivors, dropped = draw(ids), draw(ids)
        signers = draw(st.lists(ANY_ID, max_size=max_window(P5)))
        data = bytes((VERSION, 8)) + sid + u32(len(survivors)) + b"".join(map(u32, survivors))
        data += u32(len(dropped)) + b"".join(map(u32, dropped))
        data += u32(len(signers)) + b"".join(u32(s) + bytes(64) for s in signers)
        return data, lambda: UnmaskingRequest(
            session_id=sid, survivors=tuple(survivors), dropped=tuple(dropped),
            signatures=tuple(Signature(signer=s, signature=bytes(64)) for s in signers),
        )
    cid, seed, key = draw(ANY_ID), draw(ids), draw(ids)
    data = bytes((VERSION, 9)) + u32(cid) + sid + _revealed(seed) + _revealed(key)
    return data, lambda: UnmaskingResponse(
        client_id=cid, session_id=sid,
        seed_shares=tuple(RevealedShare(owner=o, share=_SHARE) for o in seed),
        key_shares=tuple(RevealedShare(owner=o, share=_SHARE) for o in key),
    )


@given(raw_id_message())
def test_the_decoder_accepts_exactly_what_the_checked_constructors_accept(case):
    data, build = case
    try:
        expected = build()
    except (TypeError, ValueError):
        with pytest.raises(DecodeError):
            decode(data, params=P5)
        return
    assert decode(data, params=P5) == expected
