"""The finder's outputs pinned by protocol_spec/vectors/finder.json (and re-checked against scipy)."""

from __future__ import annotations

import dataclasses

import pytest
import scipy.stats

from secagg.finder import complete_parameters, find_parameters, worst_case_count
from tests import vectors
from tests.secagg.test_finder import disconnection, round_failure

_ARGS = ("n_clients", "dropout_rate", "adversarial_rate", "threat", "security_bits", "failure_bits")


@pytest.mark.parametrize("v", vectors.params("finder", "generate"))
def test_finder_vectors_are_reproduced_exactly(v):
    finder = complete_parameters if v["complete_only"] else find_parameters
    choice = finder(**{k: v[k] for k in _ARGS})
    fields = {k: val for k, val in dataclasses.asdict(choice).items() if k != "note"}
    fields["graph"] = choice.graph.value
    assert fields == v["choice"]


@pytest.mark.parametrize("v", vectors.params("finder", "generate"))
def test_each_pinned_harary_choice_meets_its_bounds_by_scipy(v):
    c = v["choice"]
    if c["graph"] != "harary":
        return
    n, k, t = v["n_clients"], c["neighbors"], c["threshold"]
    A = worst_case_count(v["adversarial_rate"], n)
    D = worst_case_count(v["dropout_rate"], n)
    s, f = v["security_bits"], v["failure_bits"]
    p1 = float(disconnection(n, k, A + D))
    tail = scipy.stats.hypergeom(n - 1, A, k).sf(c["adversarial_bound"]) if A else 0.0
    assert p1 + (n - A) * tail <= 2.0**-s * (1 + 1e-9)
    assert round_failure(n, D, k, c["max_threshold"]) < 2.0**-f
    if v["threat"] == "semi-honest":
        assert t > c["adversarial_bound"]
    else:
        assert 2 * t > k + 1 + c["adversarial_bound"]


@pytest.mark.parametrize("v", vectors.params("finder", "invalid"))
def test_finder_invalid_vectors_are_refused(v):
    error = {"ValueError": ValueError, "TypeError": TypeError}[v["error"]]
    with pytest.raises(error):
        find_parameters(**v["arguments"])
