"""secure_sum: the in-process driver's promises (argument checks, floats, dropouts, stats)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import secagg
from secagg import Client, Params, Phase, Server, secure_sum
from secagg.errors import AbortReason, ProtocolAborted
from tests.detrandom import DeterministicRandom
from tests.secagg.protocol.conftest import Harness, make_params, plain_sum


def ints(n: int, dim: int, bits: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)  # test data, not secret
    return [rng.integers(0, 1 << bits, size=dim, dtype=np.uint64) for _ in range(n)]


def floats(n: int, dim: int, spread: float, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-spread, spread, size=dim) for _ in range(n)]


# --------------------------------------------------------------------------- float vectors


def test_float_sum_is_within_n_quantisation_steps_of_the_clipped_sum():
    n, clip, step = 6, 1.0, 2.0**-10  # a power of two: the step is exactly the precision
    vectors = floats(n, 200, spread=1.5, seed=1)  # about a third of the values get clipped
    result = secagg.secure_sum(vectors, clip=clip, precision=step, neighbors=5, threshold=3, random=DeterministicRandom(1))
    clipped = sum(np.clip(v, -clip, clip) for v in vectors)
    assert result.total.dtype == np.float64
    error = np.abs(result.total - clipped)
    assert error.max() <= n * step
    assert error.max() > 0  # stochastic rounding really happened: a real bound, not equality
    assert np.abs(result.total - sum(vectors)).max() > 0.4  # and clipping really mattered


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(2, 8),
    clip=st.floats(0.01, 100.0),
    steps=st.integers(4, 2**20),
    seed=st.integers(0, 2**32 - 1),
    drop=st.booleans(),
)
def test_float_sum_of_the_included_clients_is_within_n_times_precision(n, clip, steps, seed, drop):
    precision = clip / steps
    vectors = floats(n, 16, spread=2 * clip, seed=seed)
    dropouts = {n: Phase.MASKED_INPUT} if drop and n > 2 else {}
    result = secagg.secure_sum(
        vectors, clip=clip, precision=precision, dropouts=dropouts, neighbors=n - 1, threshold=2, random=DeterministicRandom(seed)
    )
    included = [u for u in range(1, n + 1) if u not in dropouts]
    assert result.included == tuple(included)
    clipped = sum(np.clip(vectors[u - 1], -clip, clip) for u in included)
    # The documented bound is n * step with step <= precision; allow float64 rounding of the reference sum.
    assert np.abs(result.total - clipped).max() <= n * precision + 1e-9 * n * clip


def test_float_sum_with_the_default_precision_is_within_n_times_clip_over_2_to_16():
    n, clip = 4, 3.0
    vectors = floats(n, 64, spread=3.0, seed=2)
    result = secagg.secure_sum(vectors, clip=clip, neighbors=3, threshold=2, random=DeterministicRandom(2))
    assert np.abs(result.total - sum(vectors)).max() <= n * clip / 2**16


def test_float_vectors_need_clip():
    with pytest.raises(ValueError, match="clip"):
        secagg.secure_sum(floats(3, 4, 1.0), neighbors=2, threshold=2)


def test_float_bits_below_the_plan_are_rejected():
    with pytest.raises(ValueError, match="bits"):
        secagg.secure_sum(floats(3, 4, 1.0), clip=1.0, precision=2**-10, bits=8, neighbors=2, threshold=2)


def test_mixed_integer_and_float_vectors_are_a_type_error():
    with pytest.raises(TypeError):
        secagg.secure_sum([np.zeros(4, dtype=np.uint32), np.zeros(4)], bits=8, clip=1.0, neighbors=1, threshold=2)


# --------------------------------------------------------------------------- integer vectors and arguments


def test_integer_vectors_give_the_exact_sum_mod_2_to_the_bits():
    vectors = ints(5, 33, 37, seed=3)
    result = secagg.secure_sum(vectors, bits=37, neighbors=4, threshold=3, random=DeterministicRandom(3))
    assert result.total.tolist() == plain_sum(dict(enumerate(vectors, 1)), range(1, 6), 37)
    assert result.included == (1, 2, 3, 4, 5) and result.dropped == ()


def test_integer_vectors_need_bits():
    with pytest.raises(ValueError, match="bits"):
        secagg.secure_sum(ints(3, 4, 8), neighbors=2, threshold=2)


def test_integer_values_beyond_the_modulus_are_rejected():
    vectors = ints(3, 4, 8)
    vectors[1][2] = 256
    with pytest.raises(ValueError):
        secagg.secure_sum(vectors, bits=8, neighbors=2, threshold=2)


@pytest.mark.parametrize(
    "vectors",
    [
        [np.zeros(4, dtype=np.uint32), np.zeros(5, dtype=np.uint32), np.zeros(4, dtype=np.uint32)],
        [np.zeros((2, 2), dtype=np.uint32)] * 3,
        [np.zeros(4, dtype=np.uint32), np.zeros((4, 1), dtype=np.uint32)],
        [np.uint32(3), np.uint32(4)],
    ],
    ids=["different-lengths", "two-dimensional", "one-column", "scalars"],
)
def test_mismatched_or_non_vector_shapes_are_a_value_error(vectors):
    with pytest.raises(ValueError):
        secagg.secure_sum(vectors, bits=8, neighbors=len(vectors) - 1, threshold=2)


def test_fewer_than_two_vectors_is_a_value_error():
    with pytest.raises(ValueError, match="2"):
        secagg.secure_sum(ints(1, 4, 8), bits=8)


@pytest.mark.parametrize("bad_id", [0, 5, -1, 100])
def test_dropout_id_outside_the_clients_is_a_value_error(bad_id):
    with pytest.raises(ValueError, match=str(bad_id)):
        secagg.secure_sum(ints(4, 4, 8), bits=8, neighbors=3, threshold=2, dropouts={bad_id: Phase.SHARE_KEYS})


def test_unknown_dropout_phase_is_a_value_error():
    with pytest.raises(ValueError, match="phase"):
        secagg.secure_sum(ints(4, 4, 8), bits=8, neighbors=3, threshold=2, dropouts={2: "lunch"})


def test_neighbors_without_threshold_is_a_value_error():
    with pytest.raises(ValueError, match="both"):
        secagg.secure_sum(ints(4, 4, 8), bits=8, neighbors=3)


def test_graph_that_contradicts_neighbors_is_a_value_error():
    with pytest.raises(ValueError, match="graph"):
        secagg.secure_sum(ints(6, 4, 8), bits=8, neighbors=2, threshold=2, graph="complete")


# --------------------------------------------------------------------------- dropouts


@pytest.mark.parametrize("threat", ["semi-honest", "active"])
@pytest.mark.parametrize("phase", list(Phase))
def test_dropouts_leaving_fewer_than_threshold_abort_with_too_few_survivors(phase, threat):
    n, t = 6, 4  # outside the active model a CONSISTENCY_CHECK dropout vanishes before unmasking
    dropouts = {u: phase for u in range(1, n - t + 2)}  # n - t + 1 vanish: t - 1 remain
    with pytest.raises(ProtocolAborted) as info:
        secagg.secure_sum(ints(n, 4, 8), bits=8, neighbors=n - 1, threshold=t, threat=threat, dropouts=dropouts)
    assert info.value.reason is AbortReason.TOO_FEW_SURVIVORS


def test_dropouts_leaving_exactly_threshold_clients_succeed():
    n, t = 6, 4
    vectors = ints(n, 4, 8, seed=4)
    result = secagg.secure_sum(vectors, bits=8, neighbors=n - 1, threshold=t, dropouts={5: Phase.UNMASKING, 6: "unmasking"})
    assert result.included == (1, 2, 3, 4, 5, 6)
    assert result.total.tolist() == plain_sum(dict(enumerate(vectors, 1)), range(1, 7), 8)


@pytest.mark.parametrize(
    "spelling",
    [Phase.MASKED_INPUT, "masked_input", "MASKED_INPUT", "masked-input", "Masked-Input"],
    ids=["member", "value", "upper", "dashed", "mixed"],
)
def test_dropouts_accept_phase_members_and_strings(spelling):
    vectors = ints(5, 6, 12, seed=5)
    result = secagg.secure_sum(vectors, bits=12, neighbors=4, threshold=3, dropouts={2: spelling, 4: Phase.SHARE_KEYS})
    assert result.included == (1, 3, 5)
    assert result.dropped == (2, 4)
    assert result.total.tolist() == plain_sum(dict(enumerate(vectors, 1)), (1, 3, 5), 12)


def test_dropout_before_consistency_check_outside_the_active_model_still_counts_the_input():
    vectors = ints(5, 6, 12, seed=6)
    result = secagg.secure_sum(vectors, bits=12, neighbors=4, threshold=3, dropouts={3: Phase.CONSISTENCY_CHECK})
    assert result.included == (1, 2, 3, 4, 5)


# --------------------------------------------------------------------------- stats


@pytest.mark.parametrize("threat", ["semi-honest", "active"])
def test_stats_have_per_phase_seconds_per_role_with_a_total(threat):
    result = secagg.secure_sum(ints(5, 8, 16), bits=16, neighbors=4, threshold=3, threat=threat, dropouts={5: "unmasking"})
    phases = [p.value for p in Phase if p is not Phase.CONSISTENCY_CHECK or threat == "active"]
    stats = result.stats
    assert set(stats.seconds) == {"server", "clients"}
    for role, table in stats.seconds.items():
        assert list(table) == [*phases, "total"], role
        assert all(v >= 0 for v in table.values())
        assert math.isclose(table["total"], sum(table[p] for p in phases), rel_tol=1e-9, abs_tol=1e-12)
    assert stats.seconds["clients"]["total"] > 0 and stats.seconds["server"]["total"] > 0
    assert stats.extra["neighbors"] == 4 and stats.extra["threshold"] == 3 and stats.extra["threat"] == threat
    assert stats.extra["rejected"] == {}


@pytest.mark.parametrize("threat", ["semi-honest", "active"])
def test_stats_count_every_byte_each_role_sent(threat):
    n, dim, bits, t = 5, 8, 16, 3
    vectors = ints(n, dim, bits, seed=7)
    result = secagg.secure_sum(vectors, bits=bits, neighbors=n - 1, threshold=t, threat=threat, random=DeterministicRandom(7))
    # The same round moved by hand: message sizes depend only on the parameters.
    h = Harness(make_params(n, t=t, threat=threat, dim=dim, bits=bits), seed=7, inputs=dict(enumerate(vectors, 1)))
    phases = [p.value for p in Phase if p is not Phase.CONSISTENCY_CHECK or threat == "active"]
    by_phase = {"server": {phases[0]: 0}, "clients": {phases[0]: sum(len(d) for d in h.start().values())}}
    for phase in phases[1:]:
        by_phase["server"][phase] = sum(len(d) for d in h.advance().values())  # the requests that open it
        by_phase["clients"][phase] = sum(len(d) for d in h.deliver().values())
    by_phase["server"][phases[-1]] += sum(len(d) for d in h.advance().values())
    assert h.server.finished
    client_bytes, server_bytes = sum(by_phase["clients"].values()), sum(by_phase["server"].values())
    assert result.stats.bytes_by_phase == by_phase
    assert result.stats.bytes_sent == {"server": server_bytes, "clients": client_bytes}
    assert result.stats.bytes_received == {"server": client_bytes, "clients": server_bytes}
    assert result.total.tolist() == h.server.result().total.tolist()


def test_progress_is_reported_for_every_client_of_every_phase():
    calls = []
    secagg.secure_sum(ints(4, 4, 8), bits=8, neighbors=3, threshold=2, progress=lambda *a: calls.append(a))
    phases = [p.value for p in Phase if p is not Phase.CONSISTENCY_CHECK]
    assert [c for c in calls if c[1] == c[2]] == [(p, 4, 4) for p in phases]
    assert len(calls) == 4 * len(phases)


# --------------------------------------------------------------------------- forked client workers


@pytest.mark.parametrize("threat", ["semi-honest", "active"])
def test_clients_in_two_forked_workers_give_the_exact_sum_and_the_same_outcome(threat):
    vectors = ints(9, 16, 20, seed=11)
    schedule = {2: Phase.SHARE_KEYS, 5: Phase.MASKED_INPUT, 7: Phase.UNMASKING}
    kw = dict(bits=20, dropouts=schedule, threat=threat, neighbors=8, threshold=5)  # complete graph: sizes are fixed
    serial = secagg.secure_sum(vectors, **kw)
    forked = secagg.secure_sum(vectors, workers=2, **kw)
    assert forked.included == serial.included == tuple(u for u in range(1, 10) if u not in (2, 5))
    expected = sum(vectors[u - 1].astype(np.uint64) for u in forked.included) & np.uint64(2**20 - 1)
    np.testing.assert_array_equal(forked.total.astype(np.uint64), expected)
    assert forked.stats.bytes_sent == serial.stats.bytes_sent  # message sizes depend only on the parameters


def test_forked_workers_refuse_a_deterministic_randomness_source():
    with pytest.raises(ValueError, match="OS CSPRNG"):
        secagg.secure_sum(ints(4, 4, 8), bits=8, workers=2, random=DeterministicRandom(1))


@pytest.mark.parametrize("workers, error", [(0, ValueError), (1.5, TypeError), (True, TypeError)])
def test_workers_must_be_a_positive_int(workers, error):
    with pytest.raises(error):
        secagg.secure_sum(ints(4, 4, 8), bits=8, workers=workers)


class _FakePool:
    """Stands in for LocalClients in the frame tests: fixed answers."""

    def __init__(self, answers):
        self._answers = answers

    def answers(self, index, requests):
        yield from self._answers


@pytest.mark.parametrize("arena_size", [4096, 20])  # fits; does not fit (the frame goes over the pipe)
def test_worker_frames_round_trip_replies_and_rejections(arena_size):
    import mmap

    from secagg._clients import _pack_requests, _read_replies, _unpack_requests, _write_replies

    assert _unpack_requests(_pack_requests(0, [])) == (0, None)
    assert _unpack_requests(_pack_requests(2, [(3, b"ab"), (9, b"")])) == (2, {3: b"ab", 9: b""})
    answers = [(1, b"x", None, 0.125), (2, None, None, 0.0), (4, b"yz", "bad \u00e9", 0.125), (6, None, "gone", 0.0)]
    arena = mmap.mmap(-1, arena_size)
    message = _write_replies(arena, _FakePool(answers), 2, {})
    in_arena = arena_size == 4096
    assert message[0] == (1 if in_arena else 0) and (len(message) == 9 or not in_arena)  # u8 1, u64 length
    replies, rejected, seconds = _read_replies(arena, message)
    assert [(u, bytes(r)) for u, r in replies] == [(1, b"x"), (4, b"yz")]
    assert all(type(r) is bytes for _, r in replies) or not in_arena  # copied out of the arena
    assert rejected == {4: "bad \u00e9", 6: "gone"} and seconds == 0.25
    arena.close()  # no reply still holds a view of the arena


def test_forked_workers_send_the_masked_inputs_through_the_arena_and_bigger_frames_over_the_pipe(monkeypatch):
    import secagg._clients as clients

    seen = []
    read = clients._read_replies
    monkeypatch.setattr(clients, "_read_replies", lambda arena, message: seen.append(message[0]) or read(arena, message))
    vectors = ints(9, 16, 20, seed=3)
    result = secagg.secure_sum(vectors, bits=20, neighbors=8, threshold=5, workers=2)
    expected = sum(v.astype(np.uint64) for v in vectors) & np.uint64(2**20 - 1)
    np.testing.assert_array_equal(result.total.astype(np.uint64), expected)
    # per phase and worker: keys (fit), encrypted shares and revealed shares of the complete graph (8 of them per
    # client, more than a 16-word masked input: over the pipe), masked inputs (fit)
    assert seen == [1, 1, 0, 0, 1, 1, 0, 0]


def test_forked_workers_end_when_the_driver_side_vanishes_without_a_goodbye():
    # The driver's ends are closed abruptly (as when the driver is killed): each worker must
    # see EOF and exit, which needs it to hold no copy of any driver end itself.
    from secagg._clients import ForkedClients

    params = secagg.Params(n_clients=4, dim=4, bits=8, graph="complete", neighbors=3, threshold=2)
    pool = ForkedClients(params, ints(4, 4, 8), {}, None, lambda u, i: True, workers=2)
    for conn in pool.conns:
        conn.close()
    for proc in pool.procs:
        proc.join(timeout=10)
    assert not any(proc.is_alive() for proc in pool.procs)


# ---------------------------------------------------------------------------- issue 14: API arguments


@pytest.mark.parametrize("value", [0, -5, 1])
def test_secure_sum_refuses_min_contributors_below_two_naming_it(value):
    with pytest.raises(ValueError, match="min_contributors"):
        secure_sum([np.ones(3, dtype=np.uint32)] * 4, bits=8, min_contributors=value)


@pytest.mark.parametrize("value", [-3, 0, 1])
def test_server_refuses_min_contributors_below_two(value):
    params = Params(n_clients=4, dim=3, bits=8, graph="complete", neighbors=3, threshold=2)
    with pytest.raises(ValueError, match="min_contributors"):
        Server(params, min_contributors=value)


@pytest.mark.parametrize("backend", ["masking", "ckks"])
@pytest.mark.parametrize("key", [1.7, True, "1", None])
def test_dropout_ids_must_be_ints_not_bools_floats_or_strings(backend, key):
    kwargs = dict(bits=8) if backend == "masking" else dict(backend="ckks")
    dtype = np.uint32 if backend == "masking" else np.float64
    with pytest.raises(TypeError, match="dropouts"):
        secure_sum([np.ones(3, dtype=dtype)] * 4, dropouts={key: Phase.MASKED_INPUT}, **kwargs)


@pytest.mark.parametrize("backend", ["masking", "ckks"])
def test_dropouts_must_be_a_mapping(backend):
    kwargs = dict(bits=8) if backend == "masking" else dict(backend="ckks")
    dtype = np.uint32 if backend == "masking" else np.float64
    with pytest.raises(TypeError, match="dropouts must be a mapping"):
        secure_sum([np.ones(3, dtype=dtype)] * 4, dropouts=[(1, Phase.MASKED_INPUT)], **kwargs)


def test_a_randomness_source_without_token_bytes_is_a_type_error_naming_random():
    with pytest.raises(TypeError, match="random"):
        secure_sum([np.ones(3, dtype=np.uint32)] * 4, bits=8, random=object())
    with pytest.raises(TypeError, match="random"):
        secure_sum([np.ones(3)] * 4, clip=1.0, random=object())
    params = Params(n_clients=4, dim=3, bits=8, graph="complete", neighbors=3, threshold=2)
    with pytest.raises(TypeError, match="random"):
        Server(params, random=object())
    with pytest.raises(TypeError, match="random"):
        Client(1, params, random=object())
