"""Shamir sharing for the client (split) and the server (reconstruct with reused Lagrange weights).

Split: two 32-byte secrets (the self-mask seed b and the mask key s_sk) among
k + 1 = 33 holders with threshold 17. Reconstruct: 1,000 secrets from t = 17
shares with one responder set; ``Lagrange(xs)`` is built once per responder
set (timed separately and together with the reconstruction).

Run: ``.venv/bin/python -m pytest bench/test_shamir.py --benchmark-min-rounds=5 -q``
"""

from __future__ import annotations

import os

import numpy as np

from secagg.primitives.shamir import Lagrange, split

HOLDERS, THRESHOLD, SECRETS = 33, 17, 1_000
XS = list(range(1, HOLDERS + 1))
RESPONDERS = XS[::2][:THRESHOLD]  # 17 of the 33 holders: 1, 3, 5, ...


def test_split_two_secrets_among_33(benchmark):
    benchmark.group = "shamir split 2 secrets n=33 t=17"
    secrets = [os.urandom(32), os.urandom(32)]
    shares = benchmark(split, secrets, threshold=THRESHOLD, xs=XS)
    assert shares.shape[:2] == (HOLDERS, 2)


def _shares_for_responders():
    secrets = [os.urandom(32) for _ in range(SECRETS)]
    shares = split(secrets, threshold=THRESHOLD, xs=XS)
    rows = np.array([x - 1 for x in RESPONDERS])
    return secrets, np.ascontiguousarray(shares[rows])


def test_reconstruct_1000_secrets_reusing_lagrange(benchmark):
    benchmark.group = "shamir reconstruct 1000 secrets t=17"
    secrets, ys = _shares_for_responders()
    lagrange = Lagrange(RESPONDERS)
    out = benchmark(lagrange.reconstruct, ys)
    assert out == secrets


def test_lagrange_setup_plus_reconstruct_1000_secrets(benchmark):
    benchmark.group = "shamir reconstruct 1000 secrets t=17"
    secrets, ys = _shares_for_responders()
    out = benchmark(lambda: Lagrange(RESPONDERS).reconstruct(ys))
    assert out == secrets


def test_lagrange_setup_only(benchmark):
    benchmark.group = "shamir reconstruct 1000 secrets t=17"
    benchmark(Lagrange, RESPONDERS)
