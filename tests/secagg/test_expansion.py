"""bench/expansion.py predicts exactly the bytes that real rounds move.

The expansion table for Bonawitz et al.'s settings (2^10 and 2^14 clients)
is only as trustworthy as the size model behind it. Here small real rounds
(n = 6..10, dim = 64) run the client and server state machines message by
message, record what every client sends and receives, and compare each
message's length with :func:`client_traffic`'s prediction for that client,
given the real neighbour graph (decoded from the ShareKeysRequest) and the
dropout schedule. Totals are also compared with what
:func:`secagg.driver.secure_sum` reports, in schedules whose totals do not
depend on the random graph.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg import codec
from secagg.driver import PHASES, Phase, secure_sum
from secagg.messages import ShareKeysRequest
from secagg.params import Params, ThreatModel
from secagg.primitives.sign import Ed25519SigningKey
from secagg.protocol.client import Client
from secagg.protocol.server import Server
from tests.detrandom import DeterministicRandom

_PATH = pathlib.Path(__file__).resolve().parents[2] / "bench" / "expansion.py"
_SPEC = importlib.util.spec_from_file_location("bench_expansion", _PATH)
expansion = sys.modules.setdefault("bench_expansion", importlib.util.module_from_spec(_SPEC))
if not hasattr(expansion, "client_traffic"):
    _SPEC.loader.exec_module(expansion)  # registered first: dataclasses look the module up by name

DIM = 64


def _inputs(n: int, bits: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)  # test data, not secret
    dtype = np.uint32 if bits <= 32 else np.uint64
    return [rng.integers(0, 2**bits, size=DIM, dtype=np.uint64).astype(dtype) for _ in range(n)]


def _alive(dropouts, u, phase) -> bool:
    drop = dropouts.get(u)
    return drop is None or PHASES.index(drop) > PHASES.index(phase)


def _measure(params: Params, inputs, dropouts, seed: int):
    """Run one round over the state machines; return per-client bytes by message, the graph, and the sum."""
    random = DeterministicRandom(seed)
    n = params.n_clients
    keys, pki = {}, None
    if params.threat is ThreatModel.ACTIVE:
        keys = {u: Ed25519SigningKey.generate(random=random) for u in range(1, n + 1)}
        pki = {u: k.public_bytes for u, k in keys.items()}
    server = Server(params, pki=pki, random=random)
    clients = {
        u: Client(u, params, input=inputs[u - 1], identity_key=keys.get(u), pki=pki, random=random)
        for u in range(1, n + 1)
    }
    sent: dict[int, dict[str, int]] = defaultdict(dict)
    received: dict[int, dict[str, int]] = defaultdict(dict)
    request: ShareKeysRequest | None = None
    phases = [p for p in PHASES if p is not Phase.CONSISTENCY_CHECK or params.threat is ThreatModel.ACTIVE]
    outbox: dict[int, bytes] = {}
    for phase in phases:
        targets = range(1, n + 1) if phase is Phase.ADVERTISE_KEYS else sorted(outbox)
        for u in targets:
            if phase is not Phase.ADVERTISE_KEYS:
                msg = codec.decode(outbox[u], params=params)
                received[u][type(msg).__name__] = len(outbox[u])
                if isinstance(msg, ShareKeysRequest):
                    request = msg
            if not _alive(dropouts, u, phase):
                continue
            reply = clients[u].start() if phase is Phase.ADVERTISE_KEYS else clients[u].receive(outbox[u])
            assert reply is not None
            sent[u][type(codec.decode(reply, params=params)).__name__] = len(reply)
            server.receive(u, reply)
        outbox = server.advance()
    assert outbox == {}
    ids = [u for u in range(1, n + 1) if _alive(dropouts, u, Phase.ADVERTISE_KEYS)]
    graph = {u: (*expansion.ring_view(params, ids, request.graph_seed, u), expansion.ring_window(params, ids, request.graph_seed, u)) for u in ids}
    return sent, received, graph, server.result()


def _check_round(params: Params, dropouts: dict[int, Phase], seed: int) -> None:
    inputs = _inputs(params.n_clients, params.bits, seed)
    sent, received, graph, result = _measure(params, inputs, dropouts, seed)
    expected = sum(inputs[u - 1].astype(np.uint64) for u in result.included) % np.uint64(2**params.bits)
    np.testing.assert_array_equal(result.total.astype(np.uint64), expected)
    for u in range(1, params.n_clients + 1):
        position, nbrs, window = graph.get(u, (0, (), ()))
        predicted = expansion.client_traffic(
            params, client_id=u, neighbors=nbrs, dropouts=dropouts, position=position, window=window
        )
        assert predicted.sent == sent.get(u, {}), f"client {u} sent"
        assert predicted.received == received.get(u, {}), f"client {u} received"


def _params(n: int, graph: str, threat: str = "semi-honest", bits: int = 32, k: int | None = None, t: int = 3) -> Params:
    if graph == "complete":
        k = n - 1
    return Params(n_clients=n, dim=DIM, bits=bits, graph=graph, neighbors=k, threshold=t, threat=threat)


SCENARIOS = {
    "complete n=6 no dropout": (_params(6, "complete"), {}),
    "complete n=8 bits 20, a dropout at each phase": (
        _params(8, "complete", bits=20),
        {2: Phase.SHARE_KEYS, 5: Phase.MASKED_INPUT, 7: Phase.UNMASKING},
    ),
    "complete n=7 a dropout before advertising keys": (_params(7, "complete"), {3: Phase.ADVERTISE_KEYS}),
    "harary n=10 k=4 no dropout": (_params(10, "harary", k=4, t=3), {}),
    "harary n=10 k=6 a dropout at each phase": (
        _params(10, "harary", k=6, t=3),
        {1: Phase.ADVERTISE_KEYS, 4: Phase.SHARE_KEYS, 6: Phase.MASKED_INPUT, 9: Phase.UNMASKING},
    ),
    "active complete n=7 dropouts at consistency check and masked input": (
        _params(7, "complete", threat="active", t=4),
        {2: Phase.MASKED_INPUT, 6: Phase.CONSISTENCY_CHECK},
    ),
    "active harary n=12 k=4 dropouts at consistency check and masked input (W2 of 9)": (
        _params(12, "harary", threat="active", k=4, t=3),
        {2: Phase.MASKED_INPUT, 6: Phase.CONSISTENCY_CHECK},
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_predicted_bytes_equal_the_bytes_each_client_really_sends_and_receives(name):
    params, dropouts = SCENARIOS[name]
    _check_round(params, dropouts, seed=sum(map(ord, name)))


_DROP_PHASES = [Phase.ADVERTISE_KEYS, Phase.SHARE_KEYS, Phase.MASKED_INPUT, Phase.UNMASKING]


@settings(max_examples=12, deadline=None)
@given(
    graph=st.sampled_from(["complete", "harary"]),
    n=st.integers(6, 10),
    bits=st.sampled_from([13, 24, 32]),
    picks=st.lists(st.tuples(st.sampled_from(_DROP_PHASES), st.integers(1, 10)), max_size=3),
    seed=st.integers(0, 2**32),
)
def test_predictions_match_real_rounds_for_any_small_dropout_schedule(graph, n, bits, picks, seed):
    # k + 1 - (at most 3 dropouts) >= t = 2 holders remain for every secret.
    k = n - 1 if graph == "complete" else 4
    params = _params(n, graph, bits=bits, k=k, t=2)
    dropouts: dict[int, Phase] = {}
    for phase, u in picks:
        if u <= n:
            dropouts.setdefault(u, phase)
    _check_round(params, dropouts, seed)


@pytest.mark.parametrize(
    "params, dropouts",
    [
        (_params(8, "complete"), {2: Phase.SHARE_KEYS, 5: Phase.MASKED_INPUT, 7: Phase.UNMASKING}),
        (_params(8, "complete", threat="active", t=5), {4: Phase.CONSISTENCY_CHECK}),
        # Harary totals do not depend on the random graph when nobody drops
        # between ShareKeys and the masked input (the graph is k-regular, and
        # every ring position's window and multiproof is sent once).
        (_params(10, "harary", k=4), {3: Phase.ADVERTISE_KEYS, 8: Phase.UNMASKING}),
    ],
    ids=["complete", "complete-active", "harary"],
)
def test_predicted_totals_equal_the_driver_byte_counts(params, dropouts):
    inputs = _inputs(params.n_clients, params.bits, 7)
    r = secure_sum(
        inputs, bits=params.bits, dropouts=dropouts, threat=params.threat, neighbors=params.neighbors, threshold=params.threshold
    )
    participants = tuple(u for u in range(1, params.n_clients + 1) if _alive(dropouts, u, Phase.ADVERTISE_KEYS))
    seed = bytes(32)  # any seed: these totals are the same for every graph
    views = {u: expansion.ring_view(params, participants, seed, u) for u in participants}
    windows = {u: expansion.ring_window(params, participants, seed, u) for u in participants}
    traffic = [
        expansion.client_traffic(
            params, client_id=u, neighbors=views[u][1], dropouts=dropouts, position=views[u][0], window=windows[u]
        )
        for u in participants
    ]
    assert r.stats.bytes_sent["clients"] == sum(t.sent_total for t in traffic)
    assert r.stats.bytes_sent["server"] == sum(t.received_total for t in traffic)


def test_masked_input_size_is_the_packed_vector_plus_a_fixed_header():
    p = Params.auto(n_clients=2**10, dim=2**20, bits=26)
    assert expansion.masked_input_response_size(p) == 2 + 4 + 32 + 4 + 2**20 * 26 // 8


def test_reconstructed_paper_formula_reproduces_the_reported_expansions():
    for (n, dim), reported in expansion.PAPER.items():
        assert round(expansion.paper_expansion(n, dim), 2) == reported


def test_sparse_graph_client_receives_far_less_than_a_complete_graph_client():
    rows = {r["graph"]: r for r in expansion.expansion_rows(2**10, 2**16)}
    harary, complete = rows["SecAgg+ (Harary)"], rows["SecAgg (complete)"]
    assert harary["k"] < 64 < complete["k"]
    assert harary["received"] * 10 < complete["received"]
    # The masked vector dominates what a client sends: bits / 16 of the clear size, and not much more.
    assert 26 / 16 < harary["sent_x"] < 26 / 16 + 0.05
