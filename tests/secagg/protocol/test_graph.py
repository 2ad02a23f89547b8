"""Neighbour graphs: the ring order, the complete graph and the Harary graph on the ring."""

from __future__ import annotations

import collections
import hashlib
import itertools
import struct

import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from secagg.params import Params
from secagg.protocol.graph import (
    build_neighbors,
    harary_neighbors,
    neighbors_complete,
    neighbors_of,
    ring_neighbors,
    ring_order,
)
from tests import vectors
from tests.detrandom import DeterministicRandom


# --------------------------------------------------------------------------- an independent re-derivation


def reference_key(seed: bytes, u: int) -> bytes:
    """The ring key from the chapter text, written independently of the library."""
    return hashlib.sha256(b"secagg/v1/ring-order" + b"\x00" + seed + struct.pack("<I", u)).digest()


def reference_ring(ids, seed: bytes) -> list[int]:
    """The ring from the chapter text: the ids sorted by ring key, keys compared as bytes."""
    return sorted(ids, key=lambda u: int.from_bytes(reference_key(seed, u), "big"))


def reference_window(p: int, m: int, h: int) -> list[int]:
    return list(range(m)) if 2 * h + 1 >= m else [(p + d) % m for d in range(-h, h + 1)]


def reference_neighbors(ring: list[int], k: int) -> dict[int, set[int]]:
    m = len(ring)
    if m - 1 <= k:
        return {u: set(ring) - {u} for u in ring}
    out: dict[int, set[int]] = {u: set() for u in ring}
    for a, b in itertools.combinations(range(m), 2):
        if min(b - a, m - (b - a)) <= k // 2:
            out[ring[a]].add(ring[b])
            out[ring[b]].add(ring[a])
    return out


def connected(graph: dict[int, tuple[int, ...]], removed: set[int]) -> bool:
    alive = [u for u in graph if u not in removed]
    if not alive:
        return True
    seen = {alive[0]}
    stack = [alive[0]]
    while stack:
        u = stack.pop()
        for v in graph[u]:
            if v not in removed and v not in seen:
                seen.add(v)
                stack.append(v)
    return len(seen) == len(alive)


# --------------------------------------------------------------------------- vectors


@pytest.mark.parametrize("v", vectors.params("graph", "generate"))
def test_generate_vectors_match_the_library(v):
    ids, seed = v["ids"], vectors.unhex(v["seed"])
    graph = neighbors_complete(ids) if v["graph"] == "complete" else harary_neighbors(ids, v["k"], seed)
    assert list(ring_order(ids, seed)) == v["ring"]
    assert list(graph) == sorted(ids)
    assert [list(graph[u]) for u in sorted(ids)] == v["neighbors"]


@pytest.mark.parametrize("v", vectors.params("graph", "generate"))
def test_generate_vectors_match_an_independent_derivation_from_the_spec_text(v):
    ids, seed = sorted(v["ids"]), vectors.unhex(v["seed"])
    assert [reference_key(seed, u).hex() for u in ids] == v["keys"]
    ring = reference_ring(ids, seed)
    assert ring == v["ring"]
    m = len(ring)
    if v["graph"] == "complete":
        expected = {u: set(ids) - {u} for u in ids}
    else:
        expected = reference_neighbors(ring, v["k"])
    assert [set(n) for n in v["neighbors"]] == [expected[u] for u in ids]
    assert v["windows"], "every entry pins some windows"
    for w in v["windows"]:
        half = w["half"]
        if v["graph"] == "harary":
            assert half == (v["k"] // 2 if w["window"] == "W" else v["k"])
        else:
            assert 2 * half + 1 >= m  # the complete graph's windows are the whole ring
        assert w["positions"] == reference_window(w["position"], m, half)
        assert w["ids"] == [ring[q] for q in w["positions"]]
        if w["window"] == "W" and v["graph"] == "harary" and m - 1 > v["k"]:
            me = ring[w["position"]]
            assert set(w["ids"]) - {me} == expected[me]


@pytest.mark.parametrize("v", vectors.params("graph", "invalid"))
def test_invalid_vectors_are_rejected_with_the_named_error(v):
    error = {"ValueError": ValueError, "TypeError": TypeError}[v["error"]]
    with pytest.raises(error):
        if v["operation"] == "complete":
            neighbors_complete(v["ids"])
        else:
            seed = vectors.unhex(v["seed"]) if v["seed"] is not None else None
            harary_neighbors(v["ids"], v["k"], seed)


# --------------------------------------------------------------------------- properties

seeds = st.binary(min_size=32, max_size=32)


@st.composite
def harary_cases(draw):
    m = draw(st.integers(1, 60))
    ids = draw(st.lists(st.integers(1, 2**20), min_size=m, max_size=m, unique=True))
    k = 2 * draw(st.integers(1, 12))
    return ids, k, draw(seeds)


@given(harary_cases())
def test_harary_graph_is_symmetric_sorted_loop_free_and_regular(case):
    ids, k, seed = case
    g = harary_neighbors(ids, k, seed)
    assert list(g) == sorted(ids)
    for u, vs in g.items():
        assert list(vs) == sorted(vs)
        assert u not in vs
        assert len(set(vs)) == len(vs) == min(k, len(ids) - 1)
        for v in vs:
            assert u in g[v]


@given(harary_cases())
def test_harary_graph_links_exactly_the_clients_within_half_k_on_the_ring(case):
    ids, k, seed = case
    ring = list(ring_order(ids, seed))
    assert sorted(ring) == sorted(ids)
    g = harary_neighbors(ids, k, seed)
    assert {u: set(vs) for u, vs in g.items()} == reference_neighbors(ring, k)


@given(harary_cases(), st.data())
def test_harary_graph_stays_connected_after_removing_any_k_minus_1_clients(case, data):
    ids, k, seed = case
    g = harary_neighbors(ids, k, seed)
    removed = data.draw(st.sets(st.sampled_from(sorted(ids)), max_size=min(k - 1, len(ids))))
    assert connected(g, removed)


@given(harary_cases())
def test_harary_graph_does_not_depend_on_the_order_of_the_ids(case):
    ids, k, seed = case
    assert harary_neighbors(ids, k, seed) == harary_neighbors(list(reversed(ids)), k, seed)
    assert ring_order(ids, seed) == ring_order(sorted(ids), seed)


@given(st.integers(1, 40), st.integers(1, 20), seeds)
def test_harary_graph_with_k_at_least_m_minus_1_is_the_complete_graph(m, extra, seed):
    ids = list(range(1, m + 1))
    k = 2 * ((m - 1 + extra) // 2 + 1) if m > 1 else 2
    assert k >= m - 1
    assert harary_neighbors(ids, k, seed) == neighbors_complete(ids)


def test_removing_two_opposite_runs_of_half_k_disconnects_the_harary_graph():
    ids, k, seed = list(range(1, 21)), 4, bytes(range(32))
    ring = list(ring_order(ids, seed))
    g = harary_neighbors(ids, k, seed)
    removed = set(ring[0:2]) | set(ring[10:12])
    assert not connected(g, removed)
    assert connected(g, set(ring[0:2]) | set(ring[10:11]))


def test_different_seeds_give_different_rings_and_the_same_seed_the_same():
    ids = list(range(1, 65))
    r = DeterministicRandom(b"graph-seeds")
    a, b = r.token_bytes(32), r.token_bytes(32)
    assert ring_order(ids, a) == ring_order(ids, a)
    assert ring_order(ids, a) != ring_order(ids, b)


def test_ring_of_four_ids_is_uniform_over_all_24_orders():
    r = DeterministicRandom(b"graph-uniformity")
    trials = 4800
    counts = collections.Counter(ring_order([1, 2, 3, 4], r.token_bytes(32)) for _ in range(trials))
    assert len(counts) == 24
    observed = [counts[p] for p in itertools.permutations([1, 2, 3, 4])]
    assert scipy.stats.chisquare(observed).pvalue > 1e-6


def test_each_client_is_equally_likely_at_each_position():
    r = DeterministicRandom(b"graph-positions")
    m, trials = 7, 3500
    table = [[0] * m for _ in range(m)]
    for _ in range(trials):
        for pos, u in enumerate(ring_order(range(1, m + 1), r.token_bytes(32))):
            table[u - 1][pos] += 1
    flat = [c for row in table for c in row]
    assert scipy.stats.chisquare(flat).pvalue > 1e-6


def test_large_harary_graph_has_every_client_with_k_neighbors():
    ids = list(range(1, 5001))
    g = harary_neighbors(ids, 40, bytes(32))
    assert all(len(vs) == 40 for vs in g.values())
    assert sum(len(vs) for vs in g.values()) == 5000 * 40


# --------------------------------------------------------------------------- complete graph and dispatch


@given(st.lists(st.integers(1, 2**20), min_size=1, max_size=40, unique=True))
def test_complete_graph_links_every_pair_once(ids):
    g = neighbors_complete(ids)
    assert list(g) == sorted(ids)
    for u, vs in g.items():
        assert vs == tuple(sorted(set(ids) - {u}))


def test_build_neighbors_dispatches_on_the_graph_kind():
    seed = bytes(range(32))
    harary = Params(n_clients=12, dim=1, bits=8, graph="harary", neighbors=4, threshold=3)
    complete = Params(n_clients=12, dim=1, bits=8, graph="complete", neighbors=11, threshold=3)
    ids = [1, 2, 3, 5, 8, 9, 10, 12]
    assert build_neighbors(harary, ids, seed) == harary_neighbors(ids, 4, seed)
    assert build_neighbors(complete, ids, seed) == neighbors_complete(ids)


def test_build_neighbors_over_fewer_advertised_clients_than_k_plus_2_is_complete():
    p = Params(n_clients=20, dim=1, bits=8, graph="harary", neighbors=6, threshold=3)
    assert build_neighbors(p, [2, 4, 6, 8, 10], bytes(32)) == neighbors_complete([2, 4, 6, 8, 10])


@pytest.mark.parametrize(
    ("ids", "seed", "error", "match"),
    [
        ([1, 2, 13], bytes(32), ValueError, "above n_clients=12"),
        ([1, 2, 3], bytes(31), ValueError, "32 bytes"),
        ([1, 2, 3], "00" * 32, TypeError, "bytes"),
        ([1, 1, 3], bytes(32), ValueError, "distinct"),
        ([], bytes(32), ValueError, "empty"),
        ("123", bytes(32), TypeError, "sequence"),
        ([1, 2.0], bytes(32), TypeError, "ints"),
    ],
)
def test_build_neighbors_rejects_bad_input(ids, seed, error, match):
    p = Params(n_clients=12, dim=1, bits=8, graph="complete", neighbors=11, threshold=3)
    with pytest.raises(error, match=match):
        build_neighbors(p, ids, seed)


def test_build_neighbors_rejects_anything_but_params():
    with pytest.raises(TypeError, match="Params"):
        build_neighbors({"graph": "complete"}, [1, 2], bytes(32))  # type: ignore[arg-type]


@pytest.mark.parametrize("k", [2.0, True, "2", None])
def test_harary_neighbors_rejects_a_non_int_k(k):
    with pytest.raises(TypeError):
        harary_neighbors([1, 2, 3, 4, 5], k, bytes(32))  # type: ignore[arg-type]


@given(harary_cases(), st.booleans(), st.data())
def test_neighbors_of_one_client_equals_its_row_of_the_whole_graph(case, complete, data):
    ids, k, seed = case
    n = max(ids)
    if complete or k >= n - 1:
        p = Params(n_clients=max(n, 2), dim=1, bits=8, graph="complete", neighbors=max(n, 2) - 1, threshold=2)
    else:
        p = Params(n_clients=n, dim=1, bits=8, graph="harary", neighbors=k, threshold=2)
    u = data.draw(st.sampled_from(ids))
    assert neighbors_of(p, ids, seed, u) == build_neighbors(p, ids, seed)[u]


def test_neighbors_of_rejects_a_client_not_among_the_ids():
    p = Params(n_clients=12, dim=1, bits=8, graph="harary", neighbors=4, threshold=3)
    with pytest.raises(ValueError, match="not among"):
        neighbors_of(p, [1, 2, 3, 4, 5, 6, 7], bytes(32), 9)


# --------------------------------------------------------------------------- the ring order itself


@given(harary_cases())
def test_ring_order_is_the_ids_sorted_by_the_spec_ring_key(case):
    ids, _, seed = case
    assert list(ring_order(ids, seed)) == reference_ring(ids, seed)


@given(harary_cases(), st.data())
def test_ring_neighbors_is_the_row_of_the_harary_graph_and_lies_in_the_window(case, data):
    ids, k, seed = case
    ring = ring_order(ids, seed)
    p = data.draw(st.integers(0, len(ring) - 1))
    assert ring_neighbors(ring, p, k) == harary_neighbors(ids, k, seed)[ring[p]]
    window = [ring[q] for q in reference_window(p, len(ring), k // 2)]
    assert set(ring_neighbors(ring, p, k)) == set(window) - {ring[p]}


def test_a_ring_key_collision_is_refused_so_the_server_draws_a_new_seed(monkeypatch):
    import secagg.protocol.graph as graph

    monkeypatch.setattr(graph, "ring_key", lambda seed, u: bytes(32) if u in (3, 5) else reference_key(seed, u))
    graph._ring.cache_clear()
    try:
        with pytest.raises(ValueError, match="same ring key"):
            ring_order([1, 2, 3, 4, 5, 6], bytes(range(32)))
    finally:
        graph._ring.cache_clear()


@pytest.mark.parametrize(("ring", "p", "k", "error"), [([1, 2, 3], 3, 2, ValueError), ([1, 2, 3], -1, 2, ValueError), ([1, 2, 3], 0, 3, ValueError), ([1, 2, 3], 0.0, 2, TypeError)])
def test_ring_neighbors_rejects_bad_arguments(ring, p, k, error):
    with pytest.raises(error):
        ring_neighbors(ring, p, k)


# --------------------------------------------------------------------------- the graph the protocol really uses


@pytest.mark.parametrize(("n", "k", "advertise"), [(10, 4, None), (12, 6, [1, 2, 3, 5, 6, 8, 9, 10, 11, 12]), (7, 2, None), (5, 4, None)])
def test_each_share_keys_request_carries_the_ring_window_of_build_neighbors(n, k, advertise):
    from tests.secagg.protocol.conftest import Harness, make_params

    h = Harness(make_params(n, k=k, t=2), seed=f"graph-{n}-{k}").to_share_keys(advertise)
    u1 = sorted(advertise or h.ids)
    seed = h.request(u1[0]).graph_seed
    graph = build_neighbors(h.params, u1, seed)
    ring = ring_order(u1, seed)
    for u in u1:
        req = h.request(u)
        assert req.m == len(u1) and req.graph_seed == seed
        window = [e.client_id for e in req.entries]
        assert window == [ring[(req.start + j) % req.m] for j in range(len(window))]
        if len(u1) - 1 > k:
            assert window[k // 2] == u and set(window) - {u} == set(graph[u])
        else:
            assert req.start == 0 and window == list(ring) and set(graph[u]) == set(u1) - {u}
