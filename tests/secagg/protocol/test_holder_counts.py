"""The active R4 quorum count (session.window_holder_counts) equals the straightforward definition.

A holder of ``x`` reveals a share of ``x`` only if at least ``t`` signers lie in
``H(x)``, ``x`` and its neighbours (SPEC.md, "Threat models", active). The
client counts them with one prefix count over its window instead of one holder
set per owner; these tests check that the counts are exactly
``|signers ∩ H(x)|`` over random windows, positions, signer sets, ``k`` and
``m`` (the whole ring included), so the decision and its abort text are
today's.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.params import GraphKind, Params
from secagg.protocol import session


def _holders_by_definition(params: Params, ring: dict[int, int], m: int, q: int) -> set[int]:
    """``H(x)`` of the client at ring position ``q``: itself and its neighbours, from the ring itself."""
    k = params.neighbors
    if params.graph is GraphKind.COMPLETE or m - 1 <= k:
        return set(ring.values())
    return {ring[(q + d) % m] for d in range(-(k // 2), k // 2 + 1)}


@st.composite
def cases(draw):
    complete = draw(st.booleans())
    if complete:
        n = draw(st.integers(3, 40))
        k = n - 1
        m = draw(st.integers(2, n))
    else:
        k = 2 * draw(st.integers(1, 6))
        n = draw(st.integers(k + 2, 60))
        m = draw(st.integers(2, n))
    t = draw(st.integers((k + 1) // 2 + 1, k + 1))  # 2t > k + 1
    params = Params(
        n_clients=n, dim=1, bits=8, graph=GraphKind.COMPLETE if complete else GraphKind.HARARY,
        neighbors=k, threshold=t, threat="active",
    )
    ids = draw(st.permutations(range(1, n + 1)))[:m]
    count, centre = session.window_shape(params, m)
    if centre is None:  # the whole ring (the complete graph, or 2k + 1 >= m): every position is an owner
        start, size = 0, m
        owners = draw(st.lists(st.integers(0, m - 1), min_size=1, max_size=2 * m))
    else:  # an extended window W2 of 2k + 1 positions: owners are the centre and its neighbours
        start, size = draw(st.integers(0, m - 1)), count
        centre_q = (start + centre) % m
        owners = [(centre_q + d) % m for d in draw(st.lists(st.integers(-(k // 2), k // 2), min_size=1, max_size=k + 1))]
    ring = {q: ids[q] for q in range(m)}
    window = [ring[(start + j) % m] for j in range(size)]
    marked = set(draw(st.lists(st.sampled_from(ids), max_size=m)))
    marked |= set(draw(st.lists(st.integers(1, n), max_size=3)))  # ids outside the window count for nothing
    return params, ring, m, start, window, owners, marked


@given(cases())
def test_prefix_counts_equal_signers_among_each_owners_holders(case):
    params, ring, m, start, window, owners, marked = case
    got = session.window_holder_counts(params, m, start, window, owners, marked)
    assert got == [len(marked & _holders_by_definition(params, ring, m, q)) for q in owners]
    # and the code it replaces, owner by owner
    assert got == [len(marked.intersection(session.window_holders(params, m, start, window, q))) for q in owners]


@given(cases())
def test_the_first_owner_short_of_a_quorum_is_the_same(case):
    # The client aborts at the first owner (live, then dropped, ascending) whose count is below t: the same
    # owner and count with either computation, so the same abort detail text.
    params, ring, m, start, window, owners, marked = case
    got = session.window_holder_counts(params, m, start, window, owners, marked)
    want = [len(marked & _holders_by_definition(params, ring, m, q)) for q in owners]
    first = lambda counts: next(((q, c) for q, c in zip(owners, counts) if c < params.threshold), None)  # noqa: E731
    assert first(got) == first(want)


def test_a_harary_whole_ring_count_wraps_around_position_zero():
    params = Params(n_clients=8, dim=1, bits=8, graph=GraphKind.HARARY, neighbors=4, threshold=3, threat="active")
    window = [10 + q for q in range(7)]  # m = 7, 2k + 1 >= m: the whole ring, but H(x) is 5 positions
    assert session.window_holder_counts(params, 7, 0, window, [0, 6, 3], {15, 16, 10, 11, 13}) == [4, 4, 3]


def test_a_position_whose_holders_leave_the_window_is_an_index_error_like_before():
    params = Params(n_clients=30, dim=1, bits=8, graph=GraphKind.HARARY, neighbors=4, threshold=3, threat="active")
    window = list(range(1, 10))  # W2 of 9 positions starting at ring position 5, m = 20
    with pytest.raises(IndexError):
        session.window_holders(params, 20, 5, window, 5)
    with pytest.raises(IndexError):
        session.window_holder_counts(params, 20, 5, window, [5], {1})
    assert session.window_holder_counts(params, 20, 5, window, [7, 11], set(window)) == [5, 5]
