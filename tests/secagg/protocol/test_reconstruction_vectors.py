"""The retry search after corrupted shares, pinned by protocol_spec/vectors/reconstruction.json.

Each vector is replayed through the library, and its ``attempts`` are re-derived
with a subset order written here from the SPEC text (chapter "Protocol",
"Unmasking"), so a change to the search order fails one of the two.
"""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest

from secagg.primitives import shamir
from secagg.protocol._abort import AbortSignal
from secagg.protocol.reconstruct import MAX_SUBSET_ATTEMPTS, reconstruct_all
from tests import vectors


def _shares(v) -> dict[int, dict[int, np.ndarray]]:
    return {
        int(o): {int(h): shamir.shares_from_bytes(bytes.fromhex(x), 1)[0] for h, x in by.items()}
        for o, by in v["shares"].items()
    }


@pytest.mark.parametrize("v", vectors.params("reconstruction", "generate"))
def test_the_library_reproduces_attempts_result_and_suspects(v):
    shares = _shares(v)
    attempts: dict[int, list[str]] = {o: [] for o in v["owners"]}
    commitments = {int(o): bytes.fromhex(c) for o, c in v["commitments"].items()}

    def check(owner, secret):
        attempts[owner].append(secret.hex())
        return hashlib.sha256(secret).digest() == commitments[owner]

    suspects: set[int] = set()
    result: dict[int, bytes] = {}
    try:
        for o in v["owners"]:
            result.update(reconstruct_all(v["threshold"], {o: shares[o]}, check, "seed", suspects))
    except AbortSignal as a:
        assert v["result"] == {"error": a.reason.name, "owner": next(o for o in v["owners"] if o not in result)}
    else:
        assert {str(o): s.hex() for o, s in result.items()} == v["result"]
    assert {str(o): a for o, a in attempts.items()} == v["attempts"]
    assert sorted(suspects) == v["suspects"]


def _spec_order(t: int, holders: list[int], suspects: set[int]):
    """The subsets the SPEC's search interpolates, in order (first subset, swaps, then combinations)."""
    ordered = sorted(holders, key=lambda h: (h in suspects, h))
    first = tuple(sorted(ordered[:t]))
    yield first, None
    spares = [h for h in ordered if h not in first][:2]
    seen = {first}
    swaps = [(tuple(sorted((*first[:i], *first[i + 1 :], s))), first[i]) for i in range(t) for s in spares]
    swaps.sort(key=lambda xs_removed: xs_removed[1] not in suspects)  # stable: known suspects first
    combos = [(xs, None) for xs in itertools.islice(itertools.combinations(ordered, t), MAX_SUBSET_ATTEMPTS)]
    for xs, removed in swaps + combos:
        if xs not in seen:
            seen.add(xs)
            yield xs, removed


@pytest.mark.parametrize("v", vectors.params("reconstruction", "generate"))
def test_the_attempts_follow_the_order_written_in_the_spec(v):
    shares = _shares(v)
    suspects: set[int] = set()
    for o in v["owners"]:
        want = hashlib.sha256
        expected = []
        for xs, removed in _spec_order(v["threshold"], sorted(shares[o]), suspects):
            try:
                secret = shamir.Lagrange(xs).reconstruct(np.stack([shares[o][x][None, :] for x in xs]))[0]
            except shamir.InvalidShareError:  # limbs out of range: a failed subset, never checked
                continue
            expected.append(secret.hex())
            if want(secret).hexdigest() == v["commitments"][str(o)]:
                if removed is not None:
                    suspects.add(removed)
                break
        assert expected == v["attempts"][str(o)]
    assert sorted(suspects) == v["suspects"]
