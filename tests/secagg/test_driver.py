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


def test_worker_entries_round_trip_replies_rejections_and_arena_slots():
    import mmap
    import os

    from secagg._clients import _entry, _pack_requests, _read_entry, _Slots, _unpack_requests

    assert _unpack_requests(_pack_requests(0, [])) == (0, None)
    assert _unpack_requests(_pack_requests(2, [(3, b"ab"), (9, b"")])) == (2, {3: b"ab", 9: b""})
    big = bytes(range(256)) * 80  # 20,480 bytes: more than INLINE_MAX, so it goes into a slot
    arena = mmap.mmap(-1, 2 * len(big))
    ack_read, ack_write = os.pipe()
    slots = _Slots(arena, len(big), ack_read)
    view = memoryview(arena)
    try:
        cases = [(1, b"x", None, 0.125), (2, None, None, 0.0), (4, b"yz", "bad \u00e9", 0.25), (6, None, "gone", 0.0)]
        for u, reply, error, spent in cases:
            got = _read_entry(_entry(u, reply, error, spent, slots), view, len(big))
            assert (got[0], None if got[2] is None else bytes(got[2]), got[3], got[4]) == (u, reply, error, spent)
            assert got[1] == (0 if reply is None else 1)  # no reply / inline
        for slot in (0, 1):
            u, where, reply, error, spent = _read_entry(_entry(7, big, None, 1.5, slots), view, len(big))
            assert (u, where, bytes(reply), error, spent) == (7, 2, big, None, 1.5)
            assert bytes(view[slot * len(big) : (slot + 1) * len(big)]) == big
            reply.release()
        assert slots.free == 0
        os.write(ack_write, b"\x01")  # the driver releases slot 0: the next large reply takes it
        _read_entry(_entry(8, big[::-1], None, 0.0, slots), view, len(big))
        assert bytes(view[: len(big)]) == big[::-1] and slots.free == 0
    finally:
        view.release()
        arena.close()
        os.close(ack_read)
        os.close(ack_write)


def test_a_worker_naming_a_slot_outside_its_arena_is_a_runtime_error():
    import struct

    from secagg._clients import _read_entry

    bad = struct.pack("<IBdII", 3, 2, 0.0, 10, 5)  # slot 5 of a two-slot arena
    with pytest.raises(RuntimeError, match="slot"):
        _read_entry(bad, memoryview(bytearray(2 * 64)), 64)


class _RecordingServer(Server):
    """The driver's server, noting each message it gets (and optionally slow on masked inputs)."""

    events: list = []
    delay = 0.0

    def receive(self, sender, data):
        _RecordingServer.events.append(("server", self.phase.value, sender, type(data).__name__, len(data)))
        if self.phase is Phase.MASKED_INPUT and _RecordingServer.delay:
            import time

            time.sleep(_RecordingServer.delay)
        return super().receive(sender, data)


@pytest.fixture
def recording(monkeypatch):
    import secagg.driver

    _RecordingServer.events, _RecordingServer.delay = [], 0.0
    monkeypatch.setattr(secagg.driver, "Server", _RecordingServer)
    return _RecordingServer


def test_the_serial_driver_hands_each_reply_to_the_server_before_the_next_client_runs(recording, monkeypatch):
    import secagg._clients as clients

    class Noting(Client):
        def receive(self, data):
            recording.events.append(("client", self.client_id))
            return super().receive(data)

    monkeypatch.setattr(clients, "Client", Noting)
    schedule = {3: Phase.MASKED_INPUT}
    result = secagg.secure_sum(ints(6, 8, 16), bits=16, neighbors=5, threshold=3, dropouts=schedule)
    assert result.included == (1, 2, 4, 5, 6)
    masked = [e for e in recording.events if e[0] == "client" or e[1] == "masked_input"]
    start = masked.index(("client", 1), masked.index(("client", 1)) + 1)  # the MaskedInputRequests
    steps = masked[start : start + 11]
    assert [e[:3] if e[0] == "server" else e for e in steps] == [
        ("client", 1), ("server", "masked_input", 1), ("client", 2), ("server", "masked_input", 2),
        ("client", 4), ("server", "masked_input", 4), ("client", 5), ("server", "masked_input", 5),
        ("client", 6), ("server", "masked_input", 6), ("client", 1),  # then the UnmaskingRequests
    ]  # client 3 is gone: it makes nothing and the server gets nothing from it


@pytest.mark.parametrize("workers", [1, 2])
def test_the_server_gets_every_phase_in_ascending_ids_whatever_the_pool(recording, workers):
    schedule = {2: Phase.SHARE_KEYS, 5: Phase.MASKED_INPUT, 7: Phase.UNMASKING}
    secagg.secure_sum(ints(9, 16, 20), bits=20, neighbors=8, threshold=5, dropouts=schedule, workers=workers)
    by_phase = {}
    for _, phase, sender, _, _ in recording.events:
        by_phase.setdefault(phase, []).append(sender)
    assert by_phase == {
        "advertise_keys": list(range(1, 10)),
        "share_keys": [1, 3, 4, 5, 6, 7, 8, 9],
        "masked_input": [1, 3, 4, 6, 7, 8, 9],
        "unmasking": [1, 3, 4, 6, 8, 9],
    }


@pytest.mark.parametrize("workers", [1, 2])
def test_time_inside_the_server_counts_as_server_seconds_not_client_seconds(recording, workers):
    recording.delay = 0.05  # per masked input: 6 x 50 ms of server time
    r = secagg.secure_sum(ints(6, 8, 16), bits=16, neighbors=5, threshold=3, workers=workers)
    assert r.stats.seconds["server"]["masked_input"] >= 6 * 0.05
    assert r.stats.seconds["clients"]["masked_input"] < 6 * 0.05 / 2


def test_forked_workers_pass_large_replies_as_arena_views_through_few_slots(recording, monkeypatch):
    import secagg._clients as clients

    monkeypatch.setattr(clients, "INLINE_MAX", 64)  # masked inputs of 16 words x 20 bits go through the arena
    monkeypatch.setattr(clients, "SLOTS", 1)  # each worker waits for the server to release its one slot
    vectors = ints(9, 16, 20, seed=3)
    result = secagg.secure_sum(vectors, bits=20, neighbors=8, threshold=5, workers=2)
    expected = sum(v.astype(np.uint64) for v in vectors) & np.uint64(2**20 - 1)
    np.testing.assert_array_equal(result.total.astype(np.uint64), expected)
    kinds = {(phase, kind) for _, phase, _, kind, _ in recording.events}
    assert ("masked_input", "memoryview") in kinds  # handed over without a copy
    # The server kept no view of an arena: ForkedClients.close() unmapped them (else BufferError).


def test_a_server_keeps_no_view_of_a_message_it_was_given():
    # What lets the forked pool hand the server views of its arena: after receive() returns, nothing
    # of the server refers to the buffer (an mmap cannot be closed while a view of it is alive).
    import mmap

    h = Harness(make_params(5, t=3, dim=64, bits=20)).to_masked_input()
    for u in sorted(h.outbox):
        arena = mmap.mmap(-1, 4096)
        reply = h.answer(u)
        arena[: len(reply)] = reply
        with memoryview(arena) as view:
            h.server.receive(u, view[: len(reply)])
        arena[:] = bytes(4096)  # as a worker rewriting the slot
        arena.close()  # BufferError if the server had kept a view
    h.advance()
    assert h.finish().total.tolist() == h.expected(range(1, 6))
    # The check can fail: a kept view makes close() refuse.
    arena = mmap.mmap(-1, 16)
    kept = memoryview(arena)[:8]
    with pytest.raises(BufferError):
        arena.close()
    kept.release()
    arena.close()


def test_forked_workers_report_progress_for_every_client_as_it_is_answered():
    calls = []
    secagg.secure_sum(ints(5, 4, 8), bits=8, neighbors=4, threshold=3, workers=2, progress=lambda *a: calls.append(a))
    phases = [p.value for p in Phase if p is not Phase.CONSISTENCY_CHECK]
    assert calls == [(p, done, 5) for p in phases for done in range(1, 6)]


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
