"""The finder against Google's production table (fcp's graph_parameter_finder_test.cc).

The table below is the data of fcp's test (google-parfait/federated-compute,
``fcp/secagg/server/graph_parameter_finder_test.cc``): for each cohort, rates and
adversary class, the degree and threshold Google's finder returns at 2^-40
security and 2^-20 failure. Issue 13 asks for no degree costlier than Google's
where both exist; SPEC chapter "Parameters and graphs", "Comparison with fcp",
explains each difference.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from secagg.finder import find_parameters
from secagg.params import GraphKind

S, M = "semi-honest", "semi-malicious"
_NS = (10, 100, 1000, 10000, 100000, 1000000)


def _block(adversarial, dropout, threat, rows, ns=_NS):
    return [(n, adversarial, dropout, threat, k, t) for n, (k, t) in zip(ns, rows, strict=True)]


FCP_TABLE = [
    *_block(0.45, 0.45, S, [(92, 46), (822, 417), (3494, 1771), (5508, 2788), (6240, 3156)], ns=_NS[1:]),
    *_block(0.33, 0.33, S, [(8, 4), (68, 34), (286, 150), (422, 221), (480, 251), (518, 270)]),
    *_block(0.3, 0.3, M, [(92, 62), (872, 584), (4822, 3230), (9388, 6286), (11136, 7454)], ns=_NS[1:]),
    *_block(0.05, 0.33, S, [(4, 2), (28, 6), (72, 24), (86, 29), (96, 32), (102, 34)]),
    *_block(0.05, 0.33, M, [(8, 5), (72, 39), (398, 223), (746, 420), (882, 496), (970, 545)]),
    *_block(0.33, 0.05, S, [(4, 4), (34, 29), (78, 60), (92, 70), (102, 77), (110, 83)]),
    *_block(0.33, 0.05, M, [(4, 4), (42, 37), (132, 109), (178, 146), (196, 160), (212, 173)]),
    *_block(0.05, 0.05, S, [(2, 2), (12, 6), (30, 17), (34, 20), (36, 21), (38, 22)]),
    *_block(0.05, 0.05, M, [(2, 2), (16, 11), (52, 37), (62, 44), (68, 48), (74, 52)]),
    *_block(0.33, 0.0, S, [(4, 4), (26, 25), (38, 36), (42, 40), (46, 44), (50, 47)]),
    *_block(0.33, 0.0, M, [(4, 4), (26, 26), (38, 37), (42, 41), (46, 45), (50, 49)]),
    *_block(0.0, 0.33, S, [(4, 2), (26, 2), (38, 2), (42, 2), (46, 2), (50, 2)]),
    *_block(0.0, 0.33, M, [(8, 5), (68, 35), (228, 115), (326, 164), (372, 187), (410, 206)]),
    *_block(0.0, 0.0, S, [(2, 2)] * 6),
    *_block(0.0, 0.0, M, [(2, 2)] * 6),
]


def _id(row):
    n, a, d, threat, k, _ = row
    return f"n{n}-a{a}-d{d}-{threat}-k{k}"


@pytest.mark.parametrize("row", FCP_TABLE, ids=_id)
def test_no_degree_is_costlier_than_googles(row):
    n, adversarial, dropout, threat, fcp_k, _ = row
    c = find_parameters(n_clients=n, dropout_rate=dropout, adversarial_rate=adversarial, threat=threat)
    assert c.graph is GraphKind.HARARY
    assert c.neighbors <= fcp_k


def _one_client(n: int, A: int, k: int, corrupted_needed: int) -> Fraction:
    """``P[Y >= y]``, ``Y ~ HG(n - 1, A, k)``: one given honest client has ``y`` or more corrupted holders."""
    hits = sum(math.comb(A, j) * math.comb(n - 1 - A, k - j) for j in range(corrupted_needed, min(A, k) + 1))
    return Fraction(hits, math.comb(n - 1, k))


# Each client holds a share of its own secrets (fcp's graph has a self-edge too, degree k + 1) and reveals its own
# seed share when alive, so a semi-malicious server that collects t seed shares and t key shares of an honest u from
# disjoint honest holders needs 2t - k - 1 corrupted holders of u, not fcp's 2t - k.


@pytest.mark.parametrize(("n", "adversarial", "dropout", "fcp_k", "fcp_t"), [(100, 0.05, 0.05, 16, 11), (100, 0.05, 0.33, 72, 39)])
def test_googles_semi_malicious_threshold_exposes_one_client_far_above_2_to_the_minus_40(n, adversarial, dropout, fcp_k, fcp_t):
    A = math.floor(Fraction(str(adversarial)) * n)
    assert _one_client(n, A, fcp_k, 2 * fcp_t - fcp_k - 1) > Fraction(1, 2**20)  # 2^-14.0 and 0.196
    assert _one_client(n, A, fcp_k, 2 * fcp_t - fcp_k) == 0  # fcp's count: impossible, hence its choice
    ours = find_parameters(n_clients=n, dropout_rate=dropout, adversarial_rate=adversarial, threat=M)
    k, t = ours.neighbors, ours.threshold  # our choice on the same row, with the own share counted
    assert n * _one_client(n, A, k, 2 * t - k - 1) <= Fraction(1, 2**40)


@pytest.mark.parametrize(
    ("n", "adversarial", "fcp_k", "fcp_t"), [(1000, 0.33, 38, 37), (10000, 0.33, 42, 41), (1000, 0.3, 872, 584)]
)
def test_googles_semi_malicious_threshold_fails_its_own_union_bound_once_the_own_share_counts(n, adversarial, fcp_k, fcp_t):
    """fcp's accounting (``n P[Y >= y] <= 2^-41`` per event) with the corrected ``y``."""
    A = math.floor(Fraction(str(adversarial)) * n)
    assert n * _one_client(n, A, fcp_k, 2 * fcp_t - fcp_k - 1) > Fraction(1, 2**41)
    assert n * _one_client(n, A, fcp_k, 2 * fcp_t - fcp_k) <= Fraction(1, 2**41)
    dropout = next(row[2] for row in FCP_TABLE if row[:2] == (n, adversarial) and row[3] == M and row[4] == fcp_k)
    ours = find_parameters(n_clients=n, dropout_rate=dropout, adversarial_rate=adversarial, threat=M)
    k, t = ours.neighbors, ours.threshold  # our choice on the same row meets the corrected count's bound
    assert n * _one_client(n, A, k, 2 * t - k - 1) <= Fraction(1, 2**40)
