"""reconstruct_all's first pass (every owner's first subset in one NumPy pass) against the group-by-group pass.

The reference below is the first pass as it was: one ``Lagrange(xs).reconstruct`` per group of
owners whose first ``t`` holders coincide, a group failing as a whole. The retry search after a
failure is the library's own in both (``reconstruct._retry``), so the two must agree on every
secret, every candidate checked, in order, and every suspect.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from secagg.errors import InvalidShareError
from secagg.primitives import shamir
from secagg.protocol import reconstruct
from secagg.protocol._abort import AbortSignal
from tests.detrandom import DeterministicRandom


def _reference(threshold, shares_by_owner, check, what, suspects):
    groups = defaultdict(list)
    for owner, by_holder in shares_by_owner.items():
        if len(by_holder) < threshold:
            raise AbortSignal(reconstruct.AbortReason.TOO_FEW_SURVIVORS, "too few")
        ordered = sorted(by_holder, key=lambda h: (h in suspects, h))
        groups[tuple(sorted(ordered[:threshold]))].append(owner)
    out = {}
    for xs, owners in groups.items():
        ys = np.stack([np.stack([shares_by_owner[o][x] for o in owners]) for x in xs])
        try:
            secrets = shamir.Lagrange(xs).reconstruct(ys)
        except InvalidShareError:
            secrets = [None] * len(owners)
        for owner, secret in zip(owners, secrets):
            if secret is not None and reconstruct._safe_check(check, owner, secret):
                out[owner] = secret
            else:
                out[owner] = reconstruct._retry(threshold, owner, shares_by_owner[owner], check, what, skip=xs, suspects=suspects)
    return out


@st.composite
def _round(draw):
    t = draw(st.integers(2, 4))
    n_holders = draw(st.integers(t, t + 3))
    owners = draw(st.lists(st.integers(1, 12), min_size=1, max_size=5, unique=True))
    rng = DeterministicRandom(draw(st.integers(0, 2**32 - 1)))
    secrets = {o: rng.token_bytes(32) for o in owners}
    shares = {}
    for o in owners:
        # some owners share one holder set (one group), others get their own
        holders = sorted(draw(st.lists(st.integers(1, 9), min_size=n_holders, max_size=n_holders, unique=True)))
        if draw(st.booleans()):
            holders = list(range(1, n_holders + 1))
        rows = shamir.split([secrets[o]], threshold=t, xs=holders, random=rng)
        shares[o] = {h: rows[i, 0].copy() for i, h in enumerate(holders)}
    for _ in range(draw(st.integers(0, 3))):  # corrupt some shares: a limb changed
        o = draw(st.sampled_from(owners))
        h = draw(st.sampled_from(sorted(shares[o])))
        shares[o][h][draw(st.integers(0, shamir.LIMBS - 1))] = draw(st.integers(0, shamir.PRIME - 1))
    suspects = set(draw(st.lists(st.integers(1, 9), max_size=2)))
    return t, secrets, shares, suspects


@given(_round())
def test_the_one_pass_first_subsets_give_the_same_secrets_candidates_and_suspects(case):
    t, secrets, shares, suspects = case
    commitments = {o: hashlib.sha256(s).digest() for o, s in secrets.items()}
    results = []
    for run in (reconstruct.reconstruct_all, _reference):
        tried: list[tuple[int, bytes]] = []

        def check(owner, secret):
            tried.append((owner, secret))
            return hashlib.sha256(secret).digest() == commitments[owner]

        mine = set(suspects)
        try:
            out = run(t, shares, check, "seed", mine)
        except AbortSignal as a:
            out = ("abort", a.reason)
        results.append((out, tried, mine))
    assert results[0] == results[1]
