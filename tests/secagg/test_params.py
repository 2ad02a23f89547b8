"""Params: validation at construction, enum coercion, and Params.auto."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.params import MAX_CLIENTS, MAX_DIM, GraphKind, Params, ThreatModel
from secagg.protocol.finder import complete_parameters, find_parameters


def make(**overrides) -> Params:
    fields = dict(n_clients=10, dim=8, bits=16, graph="harary", neighbors=4, threshold=3)
    fields.update(overrides)
    return Params(**fields)


def test_enum_fields_accept_members_and_string_values_and_store_members():
    a = make(graph="harary", threat="semi-malicious", threshold=3)
    b = make(graph=GraphKind.HARARY, threat=ThreatModel.SEMI_MALICIOUS, threshold=3)
    assert a == b
    assert a.graph is GraphKind.HARARY and a.threat is ThreatModel.SEMI_MALICIOUS


def test_default_threat_is_semi_honest_and_holders_is_neighbors_plus_one():
    p = make()
    assert p.threat is ThreatModel.SEMI_HONEST
    assert p.holders == 5


def test_params_are_frozen_and_keyword_only():
    p = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.threshold = 4  # type: ignore[misc]
    with pytest.raises(TypeError):
        Params(10, 8, 16, "harary", 4, 3)  # type: ignore[misc]


def test_numpy_integers_are_stored_as_python_ints():
    p = make(n_clients=np.int64(10), neighbors=np.int32(4), threshold=np.uint16(3))
    assert type(p.n_clients) is int and type(p.neighbors) is int and type(p.threshold) is int


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_clients", 10.0),
        ("n_clients", True),
        ("n_clients", "10"),
        ("dim", None),
        ("bits", 16.0),
        ("neighbors", 4.0),
        ("threshold", False),
        ("graph", 1),
        ("graph", None),
        ("threat", 2),
    ],
)
def test_wrong_types_raise_type_error(field, value):
    with pytest.raises(TypeError, match=field):
        make(**{field: value})


@pytest.mark.parametrize(
    ("overrides", "quoted"),
    [
        (dict(n_clients=1, graph="complete", neighbors=0, threshold=2), "got 1"),
        (dict(n_clients=MAX_CLIENTS + 1), f"got {MAX_CLIENTS + 1}"),
        (dict(dim=0), "got 0"),
        (dict(dim=MAX_DIM + 1), f"got {MAX_DIM + 1}"),
        (dict(bits=0), "got 0"),
        (dict(bits=63), "got 63"),
        (dict(graph="ring"), "'ring'"),
        (dict(threat="malicious"), "'malicious'"),
        (dict(graph="complete", neighbors=8), "neighbors=8"),
        (dict(graph="harary", neighbors=3), "neighbors=3"),
        (dict(graph="harary", neighbors=0, threshold=2), "neighbors=0"),
        (dict(graph="harary", neighbors=9, threshold=2), "neighbors=9"),
        (dict(n_clients=10, graph="harary", neighbors=10, threshold=2), "neighbors=10"),
        (dict(threshold=1), "threshold=1"),
        (dict(threshold=6), "threshold=6"),
        (dict(threat="semi-malicious", threshold=2), "threshold=2"),
        (dict(threat="active", graph="complete", neighbors=9, threshold=2), "threshold=2"),
        (dict(threat="active", threshold=2), "threshold=2"),
    ],
)
def test_invalid_values_raise_value_error_quoting_the_value(overrides, quoted):
    with pytest.raises(ValueError) as info:
        make(**overrides)
    assert quoted in str(info.value)


def test_complete_graph_needs_exactly_n_minus_one_neighbors():
    p = make(n_clients=5, graph="complete", neighbors=4, threshold=5)
    assert p.holders == 5
    with pytest.raises(ValueError, match="n_clients - 1 = 4"):
        make(n_clients=5, graph="complete", neighbors=3, threshold=2)


def test_two_clients_can_only_use_the_complete_graph():
    p = make(n_clients=2, graph="complete", neighbors=1, threshold=2)
    assert p.neighbors == 1
    with pytest.raises(ValueError):
        make(n_clients=2, graph="harary", neighbors=2, threshold=2)


@given(k=st.integers(2, 40).filter(lambda k: k % 2 == 0), data=st.data())
def test_semi_malicious_and_active_accept_exactly_the_majority_thresholds(k, data):
    t = data.draw(st.integers(2, k + 1))
    threat = data.draw(st.sampled_from([ThreatModel.SEMI_MALICIOUS, ThreatModel.ACTIVE]))
    # both graphs in both models (the active model's sparse graph needs an explicit choice, see below)
    graph = data.draw(st.sampled_from(["complete", "harary"]))
    n = k + 1 if graph == "complete" else k + 3
    if 2 * t > k + 1:
        assert make(n_clients=n, graph=graph, neighbors=k, threshold=t, threat=threat).threshold == t
    else:
        with pytest.raises(ValueError, match="majority"):
            make(n_clients=n, graph=graph, neighbors=k, threshold=t, threat=threat)


def test_the_active_model_takes_a_sparse_graph_only_when_asked_for():
    # The localized consistency check (wire v3) makes a Harary graph usable in the active model, with the
    # guarantees SPEC "Threat models" states; "auto" keeps the complete graph, whose single certified survivor
    # set is the stronger guarantee.
    p = make(threat="active", threshold=4)
    assert (p.graph, p.neighbors, p.threshold) == (GraphKind.HARARY, 4, 4)
    assert Params.auto(n_clients=500, dim=4, bits=20, threat="active").graph is GraphKind.COMPLETE
    sparse = Params.auto(n_clients=500, dim=4, bits=20, threat="active", graph="harary")
    rule_2b = find_parameters(n_clients=500, dropout_rate=0.1, adversarial_rate=0.05, threat="semi-malicious")
    assert sparse.graph is GraphKind.HARARY and sparse.threat is ThreatModel.ACTIVE
    assert (sparse.neighbors, sparse.threshold) == (rule_2b.neighbors, rule_2b.threshold)
    assert 2 * sparse.threshold > sparse.neighbors + 1 + rule_2b.adversarial_bound


def test_semi_honest_accepts_a_minority_threshold():
    assert make(neighbors=8, threshold=2).threshold == 2


def test_auto_uses_the_finder_choice():
    p = Params.auto(n_clients=1000, dim=100, bits=32, dropout_rate=0.1, adversarial_rate=0.05)
    c = find_parameters(n_clients=1000, dropout_rate=0.1, adversarial_rate=0.05, threat="semi-honest")
    assert (p.graph, p.neighbors, p.threshold) == (c.graph, c.neighbors, c.threshold)
    assert p.graph is GraphKind.HARARY and p.dim == 100 and p.bits == 32


def test_auto_accepts_threat_and_graph_as_strings_or_enums():
    a = Params.auto(n_clients=500, dim=4, bits=20, threat="active", graph="auto")
    b = Params.auto(n_clients=500, dim=4, bits=20, threat=ThreatModel.ACTIVE, graph="auto")
    assert a == b and a.threat is ThreatModel.ACTIVE
    assert 2 * a.threshold > a.holders


@pytest.mark.parametrize("graph", ["complete", GraphKind.COMPLETE])
def test_auto_complete_forces_the_complete_graph_with_the_finder_threshold(graph):
    p = Params.auto(n_clients=200, dim=4, bits=20, dropout_rate=0.1, adversarial_rate=0.05, graph=graph)
    c = complete_parameters(n_clients=200, dropout_rate=0.1, adversarial_rate=0.05, threat="semi-honest")
    assert p.graph is GraphKind.COMPLETE and p.neighbors == 199 and p.threshold == c.threshold


def test_auto_harary_refuses_when_only_the_complete_graph_meets_the_bounds():
    assert Params.auto(n_clients=4, dim=1, bits=8, graph="auto").graph is GraphKind.COMPLETE
    with pytest.raises(ValueError, match="no Harary degree"):
        Params.auto(n_clients=4, dim=1, bits=8, graph="harary")


def test_auto_harary_returns_the_harary_graph_when_one_exists():
    assert Params.auto(n_clients=300, dim=1, bits=8, graph=GraphKind.HARARY).graph is GraphKind.HARARY


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        (dict(graph="ring"), ValueError),
        (dict(graph=3), TypeError),
        (dict(threat="evil"), ValueError),
        (dict(dropout_rate=0.9), ValueError),
        (dict(dim=0), ValueError),
    ],
)
def test_auto_rejects_bad_arguments(kwargs, error):
    args = dict(n_clients=100, dim=4, bits=16)
    args.update(kwargs)
    with pytest.raises(error):
        Params.auto(**args)
