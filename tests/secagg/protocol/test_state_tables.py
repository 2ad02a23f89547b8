"""The transition tables are the truth: walk real rounds against CLIENT_TRANSITIONS and SERVER_TRANSITIONS.

In every state a real round reaches, every message type the table does not
list for that state is refused as OUT_OF_ROUND and changes nothing; every
transition the round actually takes is in the table; and over one active and
one semi-honest round every table entry is taken at least once.
"""

from __future__ import annotations

import pytest

from secagg import codec
from secagg.codec import TAGS
from secagg.errors import AbortReason, LocalProtocolError, RemoteProtocolError
from secagg.messages import Abort
from secagg.params import ThreatModel
from secagg.protocol.client import CLIENT_TRANSITIONS, ClientAborted, ClientCompleted
from secagg.protocol.server import SERVER_TRANSITIONS, ServerAborted, ServerCompleted
from tests.secagg.protocol.conftest import Harness, decode, make_params, server_snapshot

ROUNDS = {
    # (n, t): the active round needs t > n/2 and enough clients left after four victims.
    "semi-honest": dict(n=6, t=2, threat="semi-honest"),
    "active": dict(n=10, t=6, threat="active"),
}
DIM, BITS = 3, 11


def samples(n: int) -> dict[str, bytes]:
    """One genuine encoding of every message type, from an active round of ``n`` clients."""
    h = Harness(make_params(n, t=n // 2 + 1, threat="active", dim=DIM, bits=BITS), seed="samples")
    out = {}
    h.start()
    out.update({type(decode(h.params, d)).__name__: d for d in h.advertised.values()})
    while not h.server.finished:
        h.advance()
        out.update({type(decode(h.params, d)).__name__: d for d in h.outbox.values()})
        out.update({type(decode(h.params, d)).__name__: d for d in h.deliver().values()})
    out["Abort"] = codec.encode(Abort(reason=AbortReason.TOO_FEW_SURVIVORS, detail="sample"))
    assert set(out) == {cls.__name__ for cls in TAGS}
    return out


class Walk:
    """Plays a round, probing every state it reaches, and records the transitions taken."""

    def __init__(self, kind: str) -> None:
        cfg = ROUNDS[kind]
        self.h = Harness(make_params(cfg["n"], t=cfg["t"], threat=cfg["threat"], dim=DIM, bits=BITS), seed=f"walk-{kind}")
        self.samples = samples(cfg["n"])
        self.client_taken: set[tuple[tuple[str, str], str]] = set()
        self.server_taken: set[tuple[tuple[str, str], str]] = set()
        self.client_probed: set[str] = set()
        self.server_probed: set[str] = set()

    # ------------------------------------------------------------ probes

    def probe_client(self, u: int) -> None:
        client = self.h.clients[u]
        state, announced = client.state, client.abort_message
        name = type(state).__name__
        for msg_name, data in self.samples.items():
            if (name, msg_name) in CLIENT_TRANSITIONS:
                continue
            with pytest.raises(RemoteProtocolError) as info:
                client.receive(data)
            assert info.value.reason is AbortReason.OUT_OF_ROUND, (name, msg_name)
            assert client.state is state, (name, msg_name)
            assert client.abort_message == announced
        self.client_probed.add(name)

    def probe_server(self) -> None:
        server = self.h.server
        state = server.state
        name = type(state).__name__
        before = server_snapshot(server)
        for msg_name, data in self.samples.items():
            if (name, msg_name) in SERVER_TRANSITIONS:
                continue
            if msg_name == "Abort":
                server.receive(1, data)  # documented: a client's Abort is taken silently
            else:
                with pytest.raises(RemoteProtocolError) as info:
                    server.receive(1, data)
                assert info.value.reason is AbortReason.OUT_OF_ROUND, (name, msg_name)
            assert server.state is state, (name, msg_name)
            assert server_snapshot(server) == before, (name, msg_name)
        self.server_probed.add(name)

    # ------------------------------------------------------------ moves

    def client_receives(self, u: int, data: bytes) -> bytes | None:
        client = self.h.clients[u]
        before = type(client.state).__name__
        reply = client.receive(data)
        self.client_taken.add(((before, type(decode(self.h.params, data)).__name__), type(client.state).__name__))
        return reply

    def server_receives(self, u: int, data: bytes) -> None:
        server = self.h.server
        before = type(server.state).__name__
        server.receive(u, data)
        self.server_taken.add(((before, type(decode(self.h.params, data)).__name__), type(server.state).__name__))

    def server_advances(self) -> None:
        before = type(self.h.server.state).__name__
        self.h.advance()
        self.server_taken.add(((before, "advance"), type(self.h.server.state).__name__))

    def play(self) -> "Walk":
        h = self.h
        n = h.params.n_clients
        abort = self.samples["Abort"]
        self.probe_server()  # empty R0
        for u in h.ids:
            self.server_receives(u, h.clients[u].start())
        victim = n
        while True:
            self.probe_server()
            self.server_advances()
            if h.server.finished:
                break
            for u in sorted(h.outbox):
                self.probe_client(u)
            # One client per round takes an Abort instead of the round's message.
            assert self.client_receives(victim, abort) is None
            assert isinstance(h.clients[victim].state, ClientAborted)
            del h.outbox[victim]
            victim -= 1
            for u in sorted(h.outbox):
                reply = self.client_receives(u, h.outbox[u])
                self.server_receives(u, reply)
        assert isinstance(h.server.state, ServerCompleted)
        for u in h.ids:  # terminal clients: completed ones and the victims
            self.probe_terminal_client(u)
        return self

    def probe_terminal_client(self, u: int) -> None:
        client = self.h.clients[u]
        state = client.state
        assert isinstance(state, (ClientCompleted, ClientAborted))
        for msg_name, data in self.samples.items():
            with pytest.raises(RemoteProtocolError) as info:
                client.receive(data)
            assert info.value.reason is AbortReason.OUT_OF_ROUND, (type(state).__name__, msg_name)
            assert client.state is state
        self.client_probed.add(type(state).__name__)


@pytest.fixture(scope="module")
def walks() -> dict[str, Walk]:
    return {kind: Walk(kind).play() for kind in ROUNDS}


def test_both_rounds_complete_with_the_exact_sum_of_the_clients_that_sent_masked_inputs(walks):
    for kind, walk in walks.items():
        h = walk.h
        n = h.params.n_clients
        result = h.server.result()
        # Victims: n before ShareKeys, n - 1 before MaskedInput; the rest sent a masked input.
        assert result.included == tuple(range(1, n - 1)), kind
        assert result.total.tolist() == h.expected(result.included)


def test_every_client_state_of_a_real_round_refuses_messages_outside_its_table_row(walks):
    probed = set().union(*(w.client_probed for w in walks.values()))
    assert probed == {
        "ClientR0AdvertiseKeys",
        "ClientR1ShareKeys",
        "ClientR2MaskedInput",
        "ClientR3ConsistencyCheck",
        "ClientCompleted",
        "ClientAborted",
    }


def test_every_client_transition_taken_is_in_the_table(walks):
    for walk in walks.values():
        for key, after in walk.client_taken:
            assert CLIENT_TRANSITIONS.get(key) == after, key


def test_every_client_table_entry_is_taken_by_some_real_round(walks):
    taken = set().union(*(w.client_taken for w in walks.values()))
    assert taken == set(CLIENT_TRANSITIONS.items())


def test_every_server_state_of_a_real_round_refuses_messages_outside_its_table_row(walks):
    probed = set().union(*(w.server_probed for w in walks.values()))
    assert probed == {
        "ServerR0AdvertiseKeys",
        "ServerR1ShareKeys",
        "ServerR2MaskedInput",
        "ServerR3ConsistencyCheck",
        "ServerR4Unmasking",
    }


def test_every_server_transition_taken_is_in_the_table(walks):
    for walk in walks.values():
        for key, after in walk.server_taken:
            assert key in SERVER_TRANSITIONS, key
            assert after in SERVER_TRANSITIONS[key].split(" | "), (key, after)


def test_every_server_table_entry_is_taken_by_some_real_round(walks):
    taken = {}
    for walk in walks.values():
        for key, after in walk.server_taken:
            taken.setdefault(key, set()).add(after)
    assert set(taken) == set(SERVER_TRANSITIONS)
    for key, targets in SERVER_TRANSITIONS.items():
        assert taken[key] == set(targets.split(" | ")), key


def test_the_threat_model_picks_the_branch_after_the_masked_input_round(walks):
    branch = {
        kind: {after for (state, event), after in w.server_taken if state == "ServerR2MaskedInput" and event == "advance"}
        for kind, w in walks.items()
    }
    assert branch == {"semi-honest": {"ServerR4Unmasking"}, "active": {"ServerR3ConsistencyCheck"}}
    assert walks["active"].h.params.threat is ThreatModel.ACTIVE


@pytest.mark.parametrize("ending", ["completed", "aborted"])
def test_terminal_server_states_refuse_every_message_type_with_local_protocol_error(walks, ending):
    if ending == "completed":
        h = walks["semi-honest"].h
        assert isinstance(h.server.state, ServerCompleted)
    else:
        h = Harness(make_params(6, t=3, dim=DIM, bits=BITS), seed="aborted")
        h.start([1, 2])
        h.advance()
        assert isinstance(h.server.state, ServerAborted)
    state = h.server.state
    for msg_name, data in samples(6).items():
        with pytest.raises(LocalProtocolError):
            h.server.receive(1, data)
        assert h.server.state is state, msg_name
    with pytest.raises(LocalProtocolError):
        h.server.advance()


def test_the_table_is_the_dispatcher_a_removed_entry_is_out_of_round(monkeypatch):
    from secagg.messages import MaskedInputRequest, MaskedInputResponse
    from secagg.protocol.client import CLIENT_TABLE, ClientR1ShareKeys
    from secagg.protocol.server import SERVER_TABLE, ServerR2MaskedInput

    h = Harness(make_params(4, t=3, dim=DIM, bits=BITS), seed="dispatcher").to_masked_input()
    monkeypatch.delitem(CLIENT_TABLE, (ClientR1ShareKeys, MaskedInputRequest))
    with pytest.raises(RemoteProtocolError) as info:
        h.clients[1].receive(h.outbox[1])
    assert info.value.reason is AbortReason.OUT_OF_ROUND
    monkeypatch.undo()
    reply = h.clients[1].receive(h.outbox[1])  # restored entry: answered
    monkeypatch.delitem(SERVER_TABLE, (ServerR2MaskedInput, MaskedInputResponse))
    with pytest.raises(RemoteProtocolError) as info:
        h.server.receive(1, reply)
    assert info.value.reason is AbortReason.OUT_OF_ROUND
    monkeypatch.undo()
    h.server.receive(1, reply)  # restored entry: accepted
