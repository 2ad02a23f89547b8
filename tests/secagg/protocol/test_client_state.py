"""Client.to_state / Client.from_state: exact resumption, strict decoding, bound to the client, round and session."""

from __future__ import annotations

import dataclasses
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secagg.errors import AbortReason, DecodeError, RemoteProtocolError
from secagg.kinds import Phase
from secagg.params import Params
from secagg.primitives.sign import Ed25519SigningKey
from secagg.protocol import state_codec
from secagg.protocol.client import Client, ClientAborted, ClientCompleted
from secagg.protocol.server import Server
from tests import vectors
from tests.detrandom import DeterministicRandom
from tests.secagg.protocol.conftest import Harness, make_params


class Replay:
    """Returns recorded draws in order, then fails."""

    def __init__(self, draws: list[str]) -> None:
        self.draws = [bytes.fromhex(d) for d in draws]

    def token_bytes(self, n: int) -> bytes:
        out = self.draws.pop(0)
        assert len(out) == n
        return out


# ---------------------------------------------------------------------------- vectors


def _identity(entry, u):
    if "identity" not in entry:
        return {}
    pki = {int(k): bytes.fromhex(v) for k, v in entry["pki"].items()}
    return {"identity_key": Ed25519SigningKey.from_private_bytes(bytes.fromhex(entry["identity"][str(u)])), "pki": pki}


@pytest.mark.parametrize("entry", vectors.params("client_state", "generate"))
def test_every_recorded_state_resumes_to_the_recorded_reply_and_next_state(entry):
    params = Params(**entry["params"])
    for u_text, steps in entry["clients"].items():
        u = int(u_text)
        for s in steps:
            before, after = bytes.fromhex(s["before"]), bytes.fromhex(s["after"])
            client = Client.from_state(before, u, params, random=Replay(s["random"]), **_identity(entry, u))
            assert client.to_state() == before
            if s["message"] is None:
                reply = client.start()
            else:
                reply = client.receive(bytes.fromhex(s["message"]))
            assert (reply.hex() if reply is not None else None) == s["reply"]
            assert client.to_state() == after
        assert isinstance(Client.from_state(after, u, params, **_identity(entry, u)).state, ClientCompleted)


@pytest.mark.parametrize("entry", vectors.params("client_state", "invalid"))
def test_malformed_or_foreign_states_are_refused_with_a_typed_error(entry):
    error = {"DecodeError": DecodeError, "ValueError": ValueError}[entry["error"]]
    with pytest.raises(error):
        Client.from_state(bytes.fromhex(entry["hex"]), entry["client"], Params(**entry["params"]))


def test_every_truncation_of_every_recorded_state_is_a_decode_error():
    entry = vectors.load("client_state")["generate"][2]  # the active round: every phase
    params = Params(**entry["params"])
    for s in entry["clients"]["2"]:
        data = bytes.fromhex(s["after"])
        for cut in range(len(data)):
            with pytest.raises(DecodeError):
                Client.from_state(data[:cut], 2, params, **_identity(entry, 2))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_states_give_a_typed_error_or_a_state_that_reencodes_to_the_same_bytes(data):
    entry = vectors.load("client_state")["generate"][0]
    params = Params(**entry["params"])
    steps = entry["clients"]["1"]
    raw = bytearray(bytes.fromhex(data.draw(st.sampled_from([s["after"] for s in steps]))))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    try:
        client = Client.from_state(bytes(raw), 1, params)
    except (DecodeError, ValueError):
        return
    assert client.to_state() == bytes(raw)


# ---------------------------------------------------------------------------- resuming between every message


def _round(params: Params, seed: str, restore: bool, drop: int | None) -> list[tuple[int, bytes | None]]:
    """Play a round; with ``restore`` every client is serialised and rebuilt before each message."""
    n = params.n_clients
    keys, pki = {}, None
    if params.threat.value == "active":
        keys = {u: Ed25519SigningKey.generate(random=DeterministicRandom(f"{seed}/id/{u}")) for u in range(1, n + 1)}
        pki = {u: k.public_bytes for u, k in keys.items()}
    rnd = {u: DeterministicRandom(f"{seed}/{u}") for u in range(1, n + 1)}
    inputs = {u: np.arange(params.dim, dtype=np.uint64) * u % 2**params.bits for u in range(1, n + 1)}
    kwargs = {u: dict(identity_key=keys.get(u), pki=pki, random=rnd[u]) for u in range(1, n + 1)}
    clients = {u: Client(u, params, **kwargs[u]) for u in range(1, n + 1)}
    server = Server(params, pki=pki, random=DeterministicRandom(f"{seed}/server"))
    seen: list[tuple[int, bytes | None]] = []

    def client(u: int) -> Client:
        if restore:
            clients[u] = Client.from_state(clients[u].to_state(), u, params, **kwargs[u])
        return clients[u]

    for u in range(1, n + 1):
        if u % 2:  # half the clients get their input before start, half just before the masked input
            client(u).set_input(inputs[u])
        reply = client(u).start()
        seen.append((u, reply))
        server.receive(u, reply)
    outbox = server.advance()
    while outbox:
        for u in sorted(outbox):
            if u == drop and server.phase is Phase.MASKED_INPUT:
                continue
            c = client(u)
            if c.phase is Phase.MASKED_INPUT and not u % 2:
                c.set_input(inputs[u])
                c = client(u)
            try:
                reply = c.receive(outbox[u])
            except RemoteProtocolError as exc:
                seen.append((u, exc.reason.value.encode()))
                continue
            seen.append((u, reply))
            if reply is not None:
                server.receive(u, reply)
        outbox = server.advance()
    end = server.state
    seen.append((0, end.total.tobytes() if hasattr(end, "total") else end.reason.value.encode()))
    seen.append((0, b"".join(client(u).to_state() for u in sorted(clients))))
    return seen


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.sampled_from(
        [
            dict(n=3, t=2, threat="semi-honest"),
            dict(n=5, k=2, t=2, threat="semi-honest"),
            dict(n=5, t=3, threat="semi-malicious"),
            dict(n=4, t=3, threat="active"),
        ]
    ),
    seed=st.integers(0, 2**32),
    drop=st.sampled_from([None, 1, 2]),
    dim=st.integers(1, 9),
    bits=st.sampled_from([1, 7, 16, 33]),
)
def test_a_client_restored_before_every_message_answers_byte_for_byte_like_one_that_is_not(shape, seed, drop, dim, bits):
    shape = dict(shape)
    params = make_params(shape.pop("n"), dim=dim, bits=bits, **shape)
    plain = _round(params, str(seed), restore=False, drop=drop)
    restored = _round(params, str(seed), restore=True, drop=drop)
    assert restored == plain


# ---------------------------------------------------------------------------- binding


def test_a_state_is_bound_to_its_client_and_its_parameters():
    h = Harness(make_params(4, t=3), seed="bind").to_share_keys()
    data = h.clients[1].to_state()
    with pytest.raises(ValueError, match="client 1"):
        Client.from_state(data, 2, h.params)
    other = dataclasses.replace(h.params, dim=h.params.dim + 1)
    with pytest.raises(ValueError, match="parameters"):
        Client.from_state(data, 1, other)


def test_an_active_state_needs_the_identity_key_that_signed_its_keys():
    h = Harness(make_params(4, t=3, threat="active"), seed="bind-id")
    h.start()
    data = h.clients[1].to_state()
    stranger = Ed25519SigningKey.generate(random=DeterministicRandom("stranger"))
    pki = {**h.pki, 1: stranger.public_bytes}
    with pytest.raises(ValueError, match="signed"):
        Client.from_state(data, 1, h.params, identity_key=stranger, pki=pki)


def test_a_restored_state_refuses_a_message_of_another_session_and_changes_nothing():
    a = Harness(make_params(4, t=3), seed="session-a").to_masked_input()
    b = Harness(make_params(4, t=3), seed="session-b").to_masked_input()
    state = a.clients[1].to_state()
    client = Client.from_state(state, 1, a.params)
    with pytest.raises(RemoteProtocolError) as info:
        client.receive(b.outbox[1])
    assert info.value.reason is AbortReason.REPLAYED
    assert client.to_state() == state
    assert client.receive(a.outbox[1]) is not None  # its own session's message still works


def test_a_restored_state_refuses_a_message_of_another_phase_as_out_of_round():
    h = Harness(make_params(4, t=3), seed="phase").to_masked_input()
    earlier = Client.from_state(h.clients[1].to_state(), 1, h.params)
    h.deliver()
    h.advance()  # the unmasking requests
    with pytest.raises(RemoteProtocolError) as info:
        earlier.receive(h.outbox[1])
    assert info.value.reason is AbortReason.OUT_OF_ROUND


def test_an_advertised_state_replayed_into_another_round_aborts_before_sharing_anything():
    old = Harness(make_params(4, t=3), seed="r0-old").to_share_keys()
    new = Harness(make_params(4, t=3), seed="r0-new").to_share_keys()
    stale = Client.from_state(old.clients[1].to_state(), 1, old.params)
    with pytest.raises(RemoteProtocolError) as info:
        stale.receive(new.outbox[1])
    assert info.value.reason is AbortReason.INCONSISTENT
    assert isinstance(stale.state, ClientAborted) and stale.abort_message is not None


def test_aborted_and_unstarted_clients_round_trip_with_their_abort_message():
    h = Harness(make_params(4, t=3), seed="aborted").to_share_keys()
    bad = Harness(make_params(4, t=3), seed="aborted-other").to_share_keys().outbox[1]
    with pytest.raises(RemoteProtocolError):
        h.clients[1].receive(bad)
    again = Client.from_state(h.clients[1].to_state(), 1, h.params)
    assert isinstance(again.state, ClientAborted) and again.abort_message == h.clients[1].abort_message
    fresh = Client(2, h.params, input=h.inputs[2])
    assert Client.from_state(fresh.to_state(), 2, h.params).to_state() == fresh.to_state()


def test_phases_of_server_and_clients_follow_the_round():
    h = Harness(make_params(4, t=3, threat="active"), seed="phases")
    assert h.server.phase is Phase.ADVERTISE_KEYS and h.clients[1].phase is Phase.ADVERTISE_KEYS
    h.start()
    expected = [Phase.SHARE_KEYS, Phase.MASKED_INPUT, Phase.CONSISTENCY_CHECK, Phase.UNMASKING]
    for phase in expected:
        assert h.clients[1].phase is phase
        h.advance()
        assert h.server.phase is phase
        h.deliver()
    h.advance()
    assert h.server.phase is None and h.clients[1].phase is None and h.server.finished


def test_a_survivors_signed_state_is_refused_outside_the_active_model_or_without_the_client():
    # Phase 4 exists only in the active model; outside it the restored client could never finish (every
    # UnmaskingRequest would be OUT_OF_ROUND), and a signed set without the client is one it never signed.
    h = Harness(make_params(4, t=3), seed="phase-4").to_unmasking()
    data = h.clients[1].to_state()
    head = len(state_codec.MAGIC) + 1 + 27 + 4
    assert data[head] == 3
    forged = data[:head] + b"\x04" + data[head + 1 :] + struct.pack("<4I", 3, 1, 2, 3) + bytes(32)
    with pytest.raises(DecodeError, match="active"):
        Client.from_state(forged, 1, h.params)
    a = Harness(make_params(4, t=3, threat="active"), seed="phase-4a")
    a.start()
    for _ in range(3):
        a.advance()
        a.deliver()
    data = a.clients[1].to_state()
    assert data[head] == 4
    kw = dict(identity_key=a.signing_keys[1], pki=a.pki)
    assert Client.from_state(data, 1, a.params, **kw).to_state() == data
    root = a.clients[1].state.survivors_root
    assert data.endswith(root)  # wire v3: the signed ids, then the flag-tree root the client signed
    signed = struct.unpack_from("<I", data, len(data) - 32 - 4 * len(a.clients[1].state.signed) - 4)[0]
    assert signed == len(a.clients[1].state.signed) and 1 in a.clients[1].state.signed
    others = sorted(v for v in a.clients[1].state.window if v != 1)
    cut = len(data) - 32 - 4 * (signed + 1)
    forged = data[:cut] + struct.pack(f"<{len(others) + 1}I", len(others), *others) + root
    with pytest.raises(DecodeError, match="this client"):
        Client.from_state(forged, 1, a.params, **kw)
