"""Whole-round transcripts: reproduction, per-party replay, and the formulas of the chapter "Protocol".

Each vector of ``transcripts.json`` is checked four ways:

* re-running the round from the recorded seed with this file's own runner
  (written from the run order of the chapter "Protocol") reproduces every
  message byte for byte and the result;
* a fresh server fed only the recorded client messages (and its own recorded
  random draws) emits exactly the recorded server messages and result, and a
  fresh client fed only its recorded server messages (and its own draws) emits
  exactly its recorded replies;
* every message decodes and re-encodes to the same bytes, and the sum is the
  plain sum of the included inputs;
* the session id, seed commitments, encrypted shares and masked inputs are
  re-derived from the chapter's formulas with ``hashlib`` and pyca primitives
  (plus the library's PRG and Shamir, which have their own vectors).

A client listed in an entry's ``corrupt`` sends its honest UnmaskingResponse
with the declared limb changes applied (``apply_corrupt``); the server's retry
search (chapter "Protocol", Unmasking step 3) must still give the exact sum, or
the recorded ``reconstruction_failed``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct

import numpy as np
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from secagg.codec import decode, encode
from secagg.errors import AbortReason, InvalidShareError
from secagg.messages import (
    Abort,
    AdvertiseKeys,
    MaskedInputRequest,
    MaskedInputResponse,
    ShareKeysRequest,
    ShareKeysResponse,
    UnmaskingRequest,
    UnmaskingResponse,
)
from secagg.params import Params
from secagg.primitives import shamir
from secagg.primitives.packing import unpack
from secagg.primitives.prg import expand_mask
from secagg.primitives.sign import Ed25519SigningKey
from secagg.protocol.client import Client
from secagg.protocol.server import Server, ServerAborted, ServerCompleted
from tests import vectors
from tests.detrandom import DeterministicRandom
from tests.vectors import unhex
from tests.secagg.protocol.conftest import spec_key_leaf, spec_multiproof, spec_ring_key, spec_tree_levels

CASES = vectors.params("transcripts", "generate")
PHASE_ORDER = ["advertise_keys", "share_keys", "masked_input", "consistency_check", "unmasking"]


def _array(v, params: Params) -> np.ndarray:
    return np.array(v, dtype=np.uint32 if params.bits <= 32 else np.uint64)


class Replay:
    """A randomness source that hands out recorded draws, checking their sizes."""

    def __init__(self, draws: list[str]) -> None:
        self.draws = [unhex(d) for d in draws]
        self.used = 0

    def token_bytes(self, n: int) -> bytes:
        assert self.used < len(self.draws), "more random draws than recorded"
        out = self.draws[self.used]
        assert len(out) == n, f"draw {self.used}: asked for {n} bytes, recorded {len(out)}"
        self.used += 1
        return out


def apply_corrupt(v: dict, u: int, data: bytes, p: Params) -> bytes:
    """Client ``u``'s UnmaskingResponse with the entry's declared changes: ``delta`` added mod p to one limb of a share."""
    changes = v.get("corrupt", {}).get(str(u), [])
    if not changes:
        return data
    msg = decode(data, params=p)
    for ch in changes:
        shares = list(getattr(msg, ch["field"]))
        i = next(j for j, s in enumerate(shares) if s.owner == ch["owner"])
        values = list(struct.unpack("<9I", shares[i].share))
        values[ch["limb"]] = (values[ch["limb"]] + ch["delta"]) % shamir.PRIME
        shares[i] = dataclasses.replace(shares[i], share=struct.pack("<9I", *values))
        msg = dataclasses.replace(msg, **{ch["field"]: tuple(shares)})
    return encode(msg)


def _identities(v: dict, random) -> tuple[dict[int, Ed25519SigningKey], dict[int, bytes] | None]:
    p = Params(**v["params"])
    if p.threat.value != "active":
        return {}, None
    keys = {u: Ed25519SigningKey.generate(random=random) for u in range(1, p.n_clients + 1)}
    return keys, {u: k.public_bytes for u, k in keys.items()}


# --------------------------------------------------------------------------- (a) re-run


def run_round(v: dict) -> tuple[list[tuple], dict]:
    """The run order of the chapter "Protocol" (section "Transcripts"), with one shared source."""
    p = Params(**v["params"])
    n = p.n_clients
    drop = {int(u): PHASE_ORDER.index(ph) for u, ph in v["dropouts"].items()}
    rnd = DeterministicRandom(unhex(v["seed"]))
    keys, pki = _identities(v, rnd)
    server = Server(p, pki=pki, random=rnd)
    clients = {
        u: Client(u, p, input=_array(v["inputs"][u - 1], p), identity_key=keys.get(u), pki=pki, random=rnd)
        for u in range(1, n + 1)
    }
    phases = [ph for ph in PHASE_ORDER if ph != "consistency_check" or p.threat.value == "active"]
    alive = lambda u, ph: drop.get(u, 99) > PHASE_ORDER.index(ph)  # noqa: E731
    log: list[tuple] = []
    outbox: dict[int, bytes] = {}
    for i, ph in enumerate(phases):
        for u in range(1, n + 1) if i == 0 else sorted(outbox):
            if not alive(u, ph) or clients[u].finished:
                continue
            reply = clients[u].start() if i == 0 else clients[u].receive(outbox[u])
            if reply is not None and ph == "unmasking":
                reply = apply_corrupt(v, u, reply, p)
            if reply is not None:
                log.append(("client_to_server", u, ph, reply.hex(), None))
                server.receive(u, reply)
        outbox = server.advance()
        stop = isinstance(server.state, ServerAborted)
        for u in sorted(outbox):
            delivered = not stop and i + 1 < len(phases) and alive(u, phases[i + 1]) and not clients[u].finished
            log.append(("server_to_client", u, ph, outbox[u].hex(), delivered))
        if stop:
            return log, {"aborted": server.state.reason.value, "detail": server.state.detail}
    done = server.result()
    return log, {"sum": [int(x) for x in done.total], "included": list(done.included), "dropped": list(done.dropped)}


def _recorded(v: dict) -> list[tuple]:
    return [(m["direction"], m["client"], m["phase"], m["hex"], m.get("delivered")) for m in v["messages"]]


@pytest.mark.parametrize("v", CASES)
def test_rerunning_from_the_recorded_seed_reproduces_every_message_and_the_result(v):
    log, result = run_round(v)
    assert log == _recorded(v)
    assert result == v["result"]


# --------------------------------------------------------------------------- (b) replay each party alone


@pytest.mark.parametrize("v", CASES)
def test_a_fresh_server_fed_the_recorded_client_messages_emits_the_recorded_server_messages(v):
    p = Params(**v["params"])
    _, pki = _identities(v, Replay(v["random"].get("identity", [])))
    replay = Replay(v["random"]["server"])
    server = Server(p, pki=pki, random=replay)
    for ph in v["phases"]:
        for m in v["messages"]:
            if m["phase"] == ph and m["direction"] == "client_to_server":
                server.receive(m["client"], unhex(m["hex"]))
        out = server.advance()
        expected = {m["client"]: m["hex"] for m in v["messages"] if m["phase"] == ph and m["direction"] == "server_to_client"}
        assert {u: b.hex() for u, b in out.items()} == expected
        if isinstance(server.state, ServerAborted):
            assert v["result"]["aborted"] == server.state.reason.value
            break
    else:
        assert isinstance(server.state, ServerCompleted)
        assert [int(x) for x in server.state.total] == v["result"]["sum"]
    assert replay.used == len(replay.draws)


@pytest.mark.parametrize("v", CASES)
def test_each_fresh_client_fed_its_recorded_server_messages_emits_its_recorded_replies(v):
    p = Params(**v["params"])
    keys, pki = _identities(v, Replay(v["random"].get("identity", [])))
    for u in range(1, p.n_clients + 1):
        replay = Replay(v["random"].get(str(u), []))
        client = Client(u, p, input=_array(v["inputs"][u - 1], p), identity_key=keys.get(u), pki=pki, random=replay)
        sent = [m["hex"] for m in v["messages"] if m["client"] == u and m["direction"] == "client_to_server"]
        received = [
            m["hex"] for m in v["messages"] if m["client"] == u and m["direction"] == "server_to_client" and m["delivered"]
        ]
        replies = []
        if sent:
            replies.append(client.start().hex())
            for data in received:
                reply = client.receive(unhex(data))
                if reply is not None:
                    if isinstance(decode(reply, params=p), UnmaskingResponse):
                        reply = apply_corrupt(v, u, reply, p)
                    replies.append(reply.hex())
        assert replies == sent
        assert replay.used == len(replay.draws)


# --------------------------------------------------------------------------- (c) decode and sum


@pytest.mark.parametrize("v", CASES)
def test_every_recorded_message_decodes_to_its_type_and_re_encodes_identically(v):
    p = Params(**v["params"])
    for m in v["messages"]:
        data = unhex(m["hex"])
        msg = decode(data, params=p)
        assert type(msg).__name__ == m["type"]
        assert encode(msg) == data


@pytest.mark.parametrize("v", CASES)
def test_the_recorded_sum_is_the_plain_sum_of_the_included_inputs(v):
    p = Params(**v["params"])
    r = v["result"]
    masked_senders = sorted(
        m["client"] for m in v["messages"] if m["type"] == "MaskedInputResponse" and m["direction"] == "client_to_server"
    )
    if "aborted" in r:
        # too few answers, or (only with a declared corruption) no subset of shares passing the check
        want = AbortReason.RECONSTRUCTION_FAILED if "corrupt" in v else AbortReason.TOO_FEW_SURVIVORS
        assert AbortReason(r["aborted"]) is want
        aborts = [m for m in v["messages"] if m["type"] == "Abort"]
        assert [m["client"] for m in aborts] == list(range(1, p.n_clients + 1))
        assert not any(m["delivered"] for m in aborts)
        return
    assert r["included"] == masked_senders
    assert r["dropped"] == [u for u in range(1, p.n_clients + 1) if u not in masked_senders]
    plain = [sum(v["inputs"][u - 1][i] for u in r["included"]) % 2**p.bits for i in range(p.dim)]
    assert r["sum"] == plain


def test_the_transcripts_cover_every_size_graph_threat_model_and_dropout_phase():
    entries = vectors.load("transcripts")["generate"]
    assert {e["params"]["n_clients"] for e in entries} == {3, 4, 5, 8, 11}
    for n in (3, 4, 5):
        phases = {ph for e in entries if e["params"]["n_clients"] == n for ph in e["dropouts"].values()}
        assert {"share_keys", "masked_input", "unmasking"} <= phases
        assert any(not e["dropouts"] for e in entries if e["params"]["n_clients"] == n)
    assert any(e["params"]["graph"] == "harary" for e in entries)
    assert any(
        e["params"]["threat"] == "active" and "consistency_check" in e["dropouts"].values() for e in entries
    )
    assert any("aborted" in e["result"] for e in entries)
    # corrupted shares in an UnmaskingResponse: one corrupting client, two, and one corruption past the retry search
    corrupting = [e for e in entries if "corrupt" in e]
    assert any(len(e["corrupt"]) == 1 and "sum" in e["result"] for e in corrupting)
    assert any(len(e["corrupt"]) >= 2 and "sum" in e["result"] for e in corrupting)
    assert any(e["result"].get("aborted") == "reconstruction_failed" for e in corrupting)
    assert any(ch["field"] == "key_shares" for e in corrupting for changes in e["corrupt"].values() for ch in changes)
    # pinned since wire version 2: a Harary graph with k >= 4, moduli other than 2^16, a non-zero round counter
    assert any(e["params"]["graph"] == "harary" and e["params"]["neighbors"] >= 4 for e in entries)
    assert {e["params"]["bits"] for e in entries} >= {7, 16, 32}
    assert any(e["params"]["round_counter"] and e["params"]["threat"] == "active" for e in entries)
    # the localized consistency check with a window W2 smaller than the ring (2k + 1 < m)
    assert any(
        e["params"]["threat"] == "active" and e["params"]["graph"] == "harary"
        and 2 * e["params"]["neighbors"] + 1 < e["params"]["n_clients"]
        and "consistency_check" in e["dropouts"].values()
        for e in entries
    )


# --------------------------------------------------------------------------- formulas of the chapter "Protocol"

_GRAPH = {"complete": 1, "harary": 2}
_THREAT = {"semi-honest": 1, "semi-malicious": 2, "active": 3}


def spec_params_bytes(p: dict) -> bytes:
    return struct.pack(
        "<IIBBIIBQ",
        p["n_clients"],
        p["dim"],
        p["bits"],
        _GRAPH[p["graph"]],
        p["neighbors"],
        p["threshold"],
        _THREAT[p["threat"]],
        p["round_counter"],
    )


def spec_window(p: dict, m: int, position: int) -> list[int]:
    """The ring positions of the ShareKeysRequest to the client at ``position`` (chapter "Protocol", R0)."""
    half = p["neighbors"] if p["threat"] == "active" else p["neighbors"] // 2
    if p["graph"] == "complete" or 2 * half + 1 >= m:
        return list(range(m))
    return [(position + d) % m for d in range(-half, half + 1)]


def spec_neighbours(p: dict, ring: list[int], position: int) -> list[int]:
    m = len(ring)
    if p["graph"] == "complete" or m - 1 <= p["neighbors"]:
        return sorted(v for v in ring if v != ring[position])
    half = p["neighbors"] // 2
    return sorted(ring[(position + d) % m] for d in range(-half, half + 1) if d)


def spec_kdf(secret: bytes, purpose: bytes, sid: bytes, rnd: int, a: int, b: int) -> bytes:
    info = b"secagg/v1/" + purpose + b"\x00" + struct.pack("<BII", rnd, min(a, b), max(a, b))
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=sid, info=info).derive(secret)


def _x25519(private: bytes, public: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).exchange(X25519PublicKey.from_public_bytes(public))


def _messages(v: dict, p: Params, cls, direction: str) -> dict[int, object]:
    return {
        m["client"]: decode(unhex(m["hex"]), params=p)
        for m in v["messages"]
        if m["type"] == cls.__name__ and m["direction"] == direction
    }


@pytest.mark.parametrize("v", CASES)
def test_session_id_commitments_shares_and_masked_inputs_follow_the_formulas(v):
    p = Params(**v["params"])
    adv = _messages(v, p, AdvertiseKeys, "client_to_server")
    requests = _messages(v, p, ShareKeysRequest, "server_to_client")
    if not requests:
        return
    participants = sorted(adv)
    graph_seed = next(iter(requests.values())).graph_seed
    # wire v3: the ring sorted by ring key, the ordered key tree over it, sid = H(params, seed, m, root)
    ring = sorted(participants, key=lambda u: spec_ring_key(graph_seed, u))
    m = len(ring)
    levels = spec_tree_levels([(spec_ring_key(graph_seed, u),) * 2 + (spec_key_leaf(adv[u]),) for u in ring])
    sid = hashlib.sha256(
        b"secagg/v1/session\x00" + spec_params_bytes(v["params"]) + graph_seed + struct.pack("<I", m) + levels[-1][0][2]
    ).digest()
    for u, req in requests.items():
        positions = spec_window(v["params"], m, ring.index(u))
        assert (req.graph_seed, req.m, req.start) == (graph_seed, m, positions[0])
        assert req.entries == tuple(adv[ring[q]] for q in positions)
        assert req.proof == spec_multiproof(levels, positions)

    draws = {u: [unhex(d) for d in v["random"][str(u)]] for u in participants}
    responses = _messages(v, p, ShareKeysResponse, "client_to_server")
    mi_requests = _messages(v, p, MaskedInputRequest, "server_to_client")
    masked = _messages(v, p, MaskedInputResponse, "client_to_server")
    # every session-bound message carries this session id
    for group in (responses, mi_requests, masked, _messages(v, p, UnmaskingResponse, "client_to_server")):
        assert all(m.session_id == sid for m in group.values())

    plaintexts: dict[int, dict[int, bytes]] = {u: {} for u in participants}  # owner -> holder -> 72 bytes
    for u, resp in responses.items():
        c_sk, s_sk, b = draws[u][0], draws[u][1], draws[u][2]
        assert X25519PrivateKey.from_private_bytes(c_sk).public_key().public_bytes_raw() == adv[u].c_pk
        assert X25519PrivateKey.from_private_bytes(s_sk).public_key().public_bytes_raw() == adv[u].s_pk
        assert resp.seed_commitment == hashlib.sha256(
            b"secagg/v1/seed-commitment\x00" + sid + struct.pack("<I", u) + b
        ).digest()
        assert [sh.peer for sh in resp.shares] == spec_neighbours(v["params"], ring, ring.index(u))
        for share in resp.shares:
            w = share.peer
            key = spec_kdf(_x25519(c_sk, adv[w].c_pk), b"share-encryption", sid, 1, u, w)
            ad = b"secagg/v1/share\x00" + sid + struct.pack("<BII", 1, u, w)
            plain = AESGCM(key).decrypt(share.blob[:12], share.blob[12:], ad)
            assert len(plain) == 80 and plain[:8] == struct.pack("<II", u, w)
            plaintexts[u][w] = plain[8:]
        # any t holders' shares give back b and s_sk (share of b first, then of s_sk)
        holders = sorted(plaintexts[u])[: p.threshold]
        if len(holders) == p.threshold:
            ys = np.stack([shamir.shares_from_bytes(plaintexts[u][h], 2) for h in holders])
            assert shamir.reconstruct(holders, ys, threshold=p.threshold) == [b, s_sk]

    for u, resp in masked.items():
        x = np.array(v["inputs"][u - 1], dtype=object)
        alive = [s.peer for s in mi_requests[u].shares]
        y = x + expand_mask(draws[u][2], session_id=sid, length=p.dim, bits=p.bits).astype(object)
        for w in alive:
            seed = spec_kdf(_x25519(draws[u][1], adv[w].s_pk), b"mask-seed", sid, 2, u, w)
            sign = 1 if u < w else -1
            y = y + sign * expand_mask(seed, session_id=sid, length=p.dim, bits=p.bits).astype(object)
        assert unpack(resp.masked, p.bits, p.dim).tolist() == [int(e) % 2**p.bits for e in y]


@pytest.mark.parametrize("v", CASES)
def test_unmasking_requests_and_responses_follow_the_client_rules(v):
    p = Params(**v["params"])
    requests = _messages(v, p, UnmaskingRequest, "server_to_client")
    responses = _messages(v, p, UnmaskingResponse, "client_to_server")
    for u, resp in responses.items():
        req = requests[u]
        seed_owners = {s.owner for s in resp.seed_shares}
        key_owners = {s.owner for s in resp.key_shares}
        assert not seed_owners & key_owners  # never both shares of one peer
        assert u in seed_owners and u not in key_owners  # own seed share revealed, own id never dropped
        assert key_owners == set(req.dropped)
        assert seed_owners <= set(req.survivors)
    for m in v["messages"]:
        if m["type"] == "Abort":
            assert decode(unhex(m["hex"]), params=p) == Abort(reason=AbortReason(v["result"]["aborted"]), detail=v["result"]["detail"])


# --------------------------------------------------------------------------- corrupted shares (Unmasking step 3)

CORRUPT_CASES = [v for v in CASES if "corrupt" in v.values[0]]


def _unmasking_responses(v: dict) -> dict[int, bytes]:
    return {m["client"]: unhex(m["hex"]) for m in v["messages"] if m["type"] == "UnmaskingResponse"}


def _server_fed(v: dict, responses: dict[int, bytes]):
    """A fresh server fed the recorded messages, with ``responses`` in place of the recorded UnmaskingResponses."""
    p = Params(**v["params"])
    _, pki = _identities(v, Replay(v["random"].get("identity", [])))
    server = Server(p, pki=pki, random=Replay(v["random"]["server"]))
    for ph in v["phases"]:
        for m in v["messages"]:
            if m["phase"] == ph and m["direction"] == "client_to_server":
                server.receive(m["client"], responses.get(m["client"], unhex(m["hex"])) if ph == "unmasking" else unhex(m["hex"]))
        server.advance()
    return server


def _honest_responses(v: dict) -> dict[int, bytes]:
    """Every UnmaskingResponse as its client computes it (each client replayed alone, no corruption applied)."""
    p = Params(**v["params"])
    keys, pki = _identities(v, Replay(v["random"].get("identity", [])))
    out = {}
    for u in _unmasking_responses(v):
        client = Client(u, p, input=_array(v["inputs"][u - 1], p), identity_key=keys.get(u), pki=pki,
                        random=Replay(v["random"][str(u)]))
        client.start()
        for m in v["messages"]:
            if m["client"] == u and m["direction"] == "server_to_client" and m["delivered"]:
                reply = client.receive(unhex(m["hex"]))
        out[u] = reply
    return out


def test_there_are_corrupted_transcripts():
    assert len(CORRUPT_CASES) >= 3


@pytest.mark.parametrize("v", CORRUPT_CASES)
def test_a_corrupting_client_changes_only_the_declared_limbs_of_its_unmasking_response(v):
    p = Params(**v["params"])
    recorded, honest = _unmasking_responses(v), _honest_responses(v)
    for u in recorded:
        got, want = decode(recorded[u], params=p), decode(honest[u], params=p)
        declared = {(ch["field"], ch["owner"], ch["limb"]) for ch in v["corrupt"].get(str(u), [])}
        changed = set()
        for field in ("seed_shares", "key_shares"):
            assert [s.owner for s in getattr(got, field)] == [s.owner for s in getattr(want, field)]
            for a, b in zip(getattr(got, field), getattr(want, field)):
                for limb, (x, y) in enumerate(zip(struct.unpack("<9I", a.share), struct.unpack("<9I", b.share))):
                    if x != y:
                        changed.add((field, a.owner, limb))
        assert changed == declared, u
        assert (got.client_id, got.session_id) == (want.client_id, want.session_id)


@pytest.mark.parametrize("v", CORRUPT_CASES)
def test_with_the_honest_responses_the_same_round_completes_with_the_plain_sum(v):
    # the corruption is what the retry search had to overcome (or what made the round abort): the same round with
    # every client honest gives the plain sum over the same survivors, and the recorded result agrees where it completed
    p = Params(**v["params"])
    server = _server_fed(v, _honest_responses(v))
    assert isinstance(server.state, ServerCompleted)
    included = list(server.state.included)
    plain = [sum(v["inputs"][u - 1][i] for u in included) % 2**p.bits for i in range(p.dim)]
    assert [int(x) for x in server.state.total] == plain
    if "sum" in v["result"]:
        assert v["result"]["sum"] == plain and v["result"]["included"] == included


@pytest.mark.parametrize("v", CORRUPT_CASES)
def test_every_declared_corrupted_share_gives_a_candidate_the_server_rejects(v):
    # each declared change alone, with t - 1 honest shares of the same secret, interpolates either an invalid
    # secret or one that fails the server's check (another seed; for a key, another X25519 public key, so the
    # change is not confined to the bits that clamping ignores)
    p = Params(**v["params"])
    honest = _honest_responses(v)
    for u, changes in v["corrupt"].items():
        for ch in changes:
            shares = {w: s.share for w, data in honest.items() for s in getattr(decode(data, params=p), ch["field"]) if s.owner == ch["owner"]}
            bad = getattr(decode(apply_corrupt({"corrupt": {u: [ch]}}, int(u), honest[int(u)], p), params=p), ch["field"])
            others = [h for h in sorted(shares) if h != int(u)][: p.threshold - 1]
            truth = _interpolate(sorted(shares)[: p.threshold], shares)
            try:
                got = _interpolate(sorted([*others, int(u)]), {**shares, int(u): next(s.share for s in bad if s.owner == ch["owner"])})
            except InvalidShareError:
                got = None  # limbs out of range: a failed subset
            if ch["field"] == "seed_shares":
                assert got != truth, (u, ch)
            else:
                assert got is None or _public(got) != _public(truth), (u, ch)


def _interpolate(holders: list[int], shares: dict[int, bytes]) -> bytes:
    ys = np.stack([shamir.shares_from_bytes(shares[h], 1) for h in holders])
    return shamir.reconstruct(holders, ys, threshold=len(holders))[0]


def _public(private: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()
