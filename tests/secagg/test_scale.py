"""Issue 13, ids and bounds: 2^20 clients in Params, the finder, the CLI and the wire."""

from __future__ import annotations

import json

import pytest

from secagg import cli, codec
from secagg.finder import find_parameters
from secagg.kinds import MAX_CLIENTS
from secagg.messages import AdvertiseKeys, UnmaskingRequest
from secagg.params import Params


def test_two_to_the_twenty_clients_fit_params_the_finder_and_the_wire():
    assert MAX_CLIENTS == 2**20
    p = Params.auto(n_clients=MAX_CLIENTS, dim=4, bits=32, dropout_rate=0.05, adversarial_rate=0.05)
    assert p.graph.value == "harary" and p.neighbors <= 64
    m = AdvertiseKeys(client_id=MAX_CLIENTS, c_pk=bytes([1]) * 32, s_pk=bytes([2]) * 32)
    assert codec.decode(codec.encode(m), params=p) == m
    u = UnmaskingRequest(session_id=bytes(32), survivors=(1, 65536, MAX_CLIENTS), dropped=())
    assert codec.decode(codec.encode(u), params=p) == u
    with pytest.raises(ValueError, match="1048577"):
        Params.auto(n_clients=MAX_CLIENTS + 1, dim=4, bits=32)


@pytest.mark.parametrize("n", [100_000, 1_000_000])
def test_the_finder_answers_for_large_cohorts_with_logarithmic_degrees(n):
    c = find_parameters(n_clients=n, dropout_rate=0.05, adversarial_rate=0.05, threat="semi-honest")
    assert c.graph.value == "harary" and 20 <= c.neighbors <= 64


def test_the_params_command_answers_for_a_hundred_thousand_clients(capsys):
    argv = ["params", "--clients", "100000", "--dropout-rate", "0.05", "--adversarial-rate", "0.05"]
    assert cli.main([*argv, "--threat", "semi-honest", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["clients"] == 100000 and out["graph"] == "harary" and out["threshold"] <= out["max_threshold"]


def test_the_params_command_refuses_more_than_two_to_the_twenty_clients_in_one_line(capsys):
    argv = ["params", "--clients", str(MAX_CLIENTS + 1), "--dropout-rate", "0.05", "--adversarial-rate", "0.05"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "1048577" in err


def _too_few_details() -> list[tuple[str, int, int | None]]:
    """Abort details of rounds that end TOO_FEW_SURVIVORS: the server at each close, and a client."""
    from secagg.errors import AbortReason, RemoteProtocolError
    from secagg.messages import MaskedInputRequest
    from secagg.protocol.client import Client
    from secagg.protocol.server import Server, ServerAborted

    out = []
    p = Params(n_clients=5, dim=2, bits=8, graph="complete", neighbors=4, threshold=3)
    for min_contributors, answering in ((None, (1, 2)), (4, (1, 2, 3)), (5, (1, 2, 3, 4, 5))):
        server = Server(p) if min_contributors is None else Server(p, min_contributors=min_contributors)
        clients = {u: Client(u, p, input=[1, 2]) for u in range(1, 6)}
        for u in answering:  # the others never advertise
            server.receive(u, clients[u].start())
        requests = server.advance()
        if not isinstance(server.state, ServerAborted):
            for u in answering[:2]:  # only two answer ShareKeys
                server.receive(u, clients[u].receive(requests[u]))
            server.advance()
        assert isinstance(server.state, ServerAborted) and server.state.reason is AbortReason.TOO_FEW_SURVIVORS
        out.append((server.state.detail, p.threshold, min_contributors))
    # a client whose MaskedInputRequest carries one share: 2 live holders < t = 3
    server = Server(p)
    clients = {u: Client(u, p, input=[1, 2]) for u in range(1, 6)}
    for u, c in clients.items():
        server.receive(u, c.start())
    requests = server.advance()
    for u, c in clients.items():
        server.receive(u, c.receive(requests[u]))
    requests = server.advance()
    msg = codec.decode(requests[1], params=p)
    short = codec.encode(MaskedInputRequest(session_id=msg.session_id, shares=msg.shares[:1]))
    try:
        clients[1].receive(short)
    except RemoteProtocolError as e:
        assert e.reason is AbortReason.TOO_FEW_SURVIVORS
        out.append((e.detail, p.threshold, None))
    return out


def test_every_too_few_detail_names_the_shamir_threshold_and_never_calls_m_the_threshold():
    details = _too_few_details()
    assert len(details) == 4
    for detail, t, m in details:
        assert f"threshold t = {t}" in detail, detail
        if m is not None and m > t:
            assert f"required r = max(t, min_contributors) = {m}" in detail, detail
        else:
            assert "required r" not in detail, detail
