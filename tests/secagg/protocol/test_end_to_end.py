"""End-to-end properties: the exact sum of exactly the right clients, or an abort; never a wrong sum.

Every example runs the real protocol (X25519, AES-GCM, Shamir, AES-CTR masks)
over random cohorts, graphs, threat models, moduli and dropout schedules.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import secagg
from secagg.errors import AbortReason, ProtocolAborted
from secagg.params import ThreatModel
from secagg.protocol.server import ServerAborted, ServerCompleted
from tests.detrandom import DeterministicRandom
from tests.secagg.protocol.conftest import Harness, Step, make_params, plain_sum, run_schedule

@st.composite
def cohorts(draw, *, with_dropouts: bool = True, sparse: bool = True):
    """(params, data seed, {id: Step}) with n <= 12, dim <= 64, bits in 1..62 and a valid (k, t).

    Any client may vanish before any step (the schedule maps it to that step).
    """
    n = draw(st.integers(2, 12))
    harary = sparse and n >= 4 and draw(st.booleans())
    k = draw(st.sampled_from(range(2, n - 1, 2))) if harary else n - 1
    threat = draw(st.sampled_from(list(ThreatModel)))  # the active model on a Harary ring too (wire v3)
    low = 2 if threat is ThreatModel.SEMI_HONEST else (k + 1) // 2 + 1  # 2t > k + 1 otherwise
    t = draw(st.integers(low, k + 1))
    params = make_params(n, k=k, t=t, threat=threat, dim=draw(st.integers(1, 64)), bits=draw(st.integers(1, 62)))
    schedule = draw(st.dictionaries(st.integers(1, n), st.sampled_from(list(Step)), max_size=n)) if with_dropouts else {}
    return params, draw(st.integers(0, 2**32 - 1)), schedule


def _inputs(params, seed: int) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)  # test data, not secret
    return {u: rng.integers(0, 1 << params.bits, size=params.dim, dtype=np.uint64) for u in range(1, params.n_clients + 1)}


def _alive(n: int, schedule, step: Step) -> set[int]:
    """Clients still present when they would send their ``step`` message."""
    return {u for u in range(1, n + 1) if schedule.get(u) is None or schedule[u] > step}


def _masked(n: int, schedule) -> tuple[int, ...]:
    return tuple(sorted(_alive(n, schedule, Step.MASKED_INPUT)))


@settings(max_examples=150, deadline=None)
@given(cohorts())
def test_round_gives_the_exact_sum_of_exactly_the_masked_input_senders_or_aborts_for_too_few(case):
    params, seed, schedule = case
    h = Harness(params, seed=seed, inputs=_inputs(params, seed))
    outcome = run_schedule(h, schedule)
    n = params.n_clients
    event(f"{type(outcome.state).__name__}")
    assert all(reason is AbortReason.TOO_FEW_SURVIVORS for reason in outcome.client_aborts.values())
    if isinstance(outcome.state, ServerCompleted):
        senders = outcome.sent[Step.MASKED_INPUT]
        # a client whose own neighbourhood fell below t aborts (TOO_FEW_SURVIVORS, asserted above)
        expected = tuple(u for u in _masked(n, schedule) if u not in outcome.client_aborts)
        assert outcome.state.included == senders == expected
        assert outcome.state.dropped == tuple(u for u in range(1, n + 1) if u not in senders)
        assert outcome.state.total.tolist() == plain_sum(h.inputs, senders, params.bits)
        assert int(outcome.state.total.max(initial=0)) < 1 << params.bits
    else:
        assert isinstance(outcome.state, ServerAborted)
        assert outcome.state.reason is AbortReason.TOO_FEW_SURVIVORS


@settings(max_examples=80, deadline=None)
@given(cohorts(sparse=False))
def test_complete_graph_round_succeeds_exactly_when_every_phase_keeps_threshold_clients(case):
    params, seed, schedule = case
    n, t = params.n_clients, params.threshold
    steps = [s for s in Step if s is not Step.CONSISTENCY_CHECK or params.threat is ThreatModel.ACTIVE]
    # With the complete graph every responder holds a share of every secret, so
    # the only way to fail is a phase with fewer than t clients.
    feasible = all(len(_alive(n, schedule, s)) >= t for s in steps)
    h = Harness(params, seed=seed, inputs=_inputs(params, seed))
    outcome = run_schedule(h, schedule)
    assert isinstance(outcome.state, ServerCompleted) is feasible
    assert outcome.client_aborts == {}
    if feasible:
        assert outcome.state.total.tolist() == plain_sum(h.inputs, _masked(n, schedule), params.bits)


_PHASE = {
    Step.ADVERTISE_KEYS: secagg.Phase.ADVERTISE_KEYS,
    Step.SHARE_KEYS: secagg.Phase.SHARE_KEYS,
    Step.MASKED_INPUT: secagg.Phase.MASKED_INPUT,
    Step.CONSISTENCY_CHECK: secagg.Phase.CONSISTENCY_CHECK,
    Step.UNMASKING: secagg.Phase.UNMASKING,
}


@settings(max_examples=60, deadline=None)
@given(cohorts())
def test_secure_sum_with_dropouts_is_the_exact_sum_of_the_survivors_or_raises_protocol_aborted(case):
    params, seed, schedule = case
    inputs = _inputs(params, seed)
    vectors = [inputs[u] for u in range(1, params.n_clients + 1)]
    try:
        result = secagg.secure_sum(
            vectors,
            bits=params.bits,
            dropouts={u: _PHASE[s] for u, s in schedule.items()},
            threat=params.threat,
            neighbors=params.neighbors,
            threshold=params.threshold,
            random=DeterministicRandom(seed),
        )
    except ProtocolAborted as exc:
        assert exc.reason is AbortReason.TOO_FEW_SURVIVORS
        return
    uploaders = _masked(params.n_clients, schedule)
    # A sparse-graph client whose own neighbourhood fell below t aborts before uploading; the
    # driver records it as rejected. Everyone else who was present to upload is included.
    assert set(result.included) <= set(uploaders)
    assert set(uploaders) - set(result.included) <= set(result.stats.extra["rejected"])
    included = result.included
    assert result.dropped == tuple(u for u in range(1, params.n_clients + 1) if u not in included)
    assert result.total.tolist() == plain_sum(inputs, included, params.bits)


@settings(max_examples=40, deadline=None)
@given(cohorts(with_dropouts=False))
def test_round_without_dropouts_always_succeeds_with_everyone_included(case):
    params, seed, _ = case
    inputs = _inputs(params, seed)
    result = secagg.secure_sum(
        [inputs[u] for u in range(1, params.n_clients + 1)],
        bits=params.bits,
        threat=params.threat,
        neighbors=params.neighbors,
        threshold=params.threshold,
        random=DeterministicRandom(seed),
    )
    assert result.included == tuple(range(1, params.n_clients + 1))
    assert result.dropped == ()
    assert result.total.tolist() == plain_sum(inputs, result.included, params.bits)


@pytest.mark.parametrize("threat", list(ThreatModel))
def test_client_vanishing_after_its_masked_input_is_still_included(threat):
    params = make_params(7, t=4, threat=threat, dim=9, bits=23)
    h = Harness(params, seed="late")
    schedule = {2: Step.UNMASKING, 6: Step.CONSISTENCY_CHECK, 7: Step.MASKED_INPUT}
    outcome = run_schedule(h, schedule)
    assert outcome.state.included == (1, 2, 3, 4, 5, 6)
    assert outcome.state.total.tolist() == h.expected((1, 2, 3, 4, 5, 6))
    responders = set(outcome.sent[Step.UNMASKING])
    assert responders == {1, 3, 4, 5}


def test_harary_round_gives_each_client_only_its_neighbours_keys():
    params = make_params(12, k=4, t=3, dim=5, bits=31)
    h = Harness(params, seed="sparse").to_share_keys()
    for u in h.ids:
        req = h.request(u)
        assert len(req.entries) == 5 and req.entries[2].client_id == u  # itself at the centre, k/2 = 2 each side
        assert req.m == 12 and 0 < len(req.proof) <= 96 * 4 * 4  # one multiproof, O(log m) items
    h.step()
    h.step()
    assert h.finish().total.tolist() == h.expected(h.ids)
