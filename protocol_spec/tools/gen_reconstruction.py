"""Vectors for the server's robust reconstruction (:mod:`secagg.protocol.reconstruct`).

The retry search after corrupted shares (chapter "Protocol", section
"Unmasking"): with exactly ``threshold`` shares per interpolation, the first
subset is the ``threshold`` smallest holders (suspects last); on a failed
check each holder of that subset is swapped for one of at most two spare
holders (known suspects first), then up to ``MAX_SUBSET_ATTEMPTS`` subsets of
all holders in ``itertools.combinations`` order; a holder whose removal fixes a
secret becomes a suspect, used last for every later secret.

* generate: ``{id, threshold, owners, holders, corrupt, shares, commitments,
  attempts, result, suspects}``. ``owners`` are reconstructed in the listed
  order, each from the shares of ``holders`` (``shares[owner][holder]``: the
  36-byte share, hex, after corruption); ``corrupt`` lists
  ``[owner, holder, delta]``: that share's limb 0 had ``delta`` added mod
  PRIME (equal deltas can cancel in one subset and blame an honest holder, as
  the module docstring warns; one entry pins that);
  ``commitments[owner] = SHA-256(secret)`` is the check. ``attempts`` is, per
  owner, every candidate secret the search interpolated, in order (hex), so a
  re-implementation following the SPEC's order reproduces it exactly;
  ``result`` the reconstructed secrets (hex), or ``{"error":
  "RECONSTRUCTION_FAILED", "owner": ...}``; ``suspects`` the final suspect
  set.
* verify, invalid: empty.
"""

from __future__ import annotations

import hashlib

from detrandom import DeterministicRandom

from secagg.primitives import shamir
from secagg.protocol._abort import AbortSignal
from secagg.protocol.reconstruct import reconstruct_all

# (id, threshold, holders, owners, corruptions (owner, holder, delta added to limb 0 mod PRIME))
_CASES = [
    ("t3-of-5-no-corruption", 3, [1, 2, 3, 4, 5], [1, 2], []),
    ("t3-of-5-one-bad-share", 3, [1, 2, 3, 4, 5], [1], [(1, 2, 1)]),
    ("t3-of-5-suspect-carried-to-next-owner", 3, [1, 2, 3, 4, 5], [1, 2], [(1, 1, 1), (2, 1, 5)]),
    ("t3-of-6-two-bad-shares-need-the-subset-search", 3, [1, 2, 3, 4, 5, 6], [4], [(4, 1, 1), (4, 2, 7)]),
    ("t4-of-7-bad-spare", 4, [1, 2, 3, 4, 5, 6, 7], [3], [(3, 2, 1), (3, 5, 3)]),
    ("t3-of-4-errors-cancel-and-blame-an-honest-holder", 3, [1, 2, 3, 4], [2], [(2, 1, 1), (2, 3, 1)]),
    ("t3-of-4-too-many-bad-shares", 3, [1, 2, 3, 4], [2], [(2, 1, 1), (2, 3, 2)]),
]


def _case(ident, t, holders, owners, corrupt) -> dict:
    rnd = DeterministicRandom(f"secagg/vectors/reconstruction/{ident}")
    secrets = {o: rnd.token_bytes(32) for o in owners}
    shares = {}
    for o in owners:
        arr = shamir.split([secrets[o]], threshold=t, xs=holders, random=rnd)  # (holders, 1, LIMBS)
        by_holder = {}
        for i, h in enumerate(holders):
            row = arr[i, 0].astype("uint64")
            for co, ch, delta in corrupt:
                if (co, ch) == (o, h):
                    row[0] = (int(row[0]) + delta) % shamir.PRIME
            by_holder[h] = row.astype("uint32")
        shares[o] = by_holder
    commitments = {o: hashlib.sha256(secrets[o]).digest() for o in owners}
    attempts: dict[int, list[str]] = {o: [] for o in owners}

    def check(owner, secret):
        attempts[owner].append(secret.hex())
        return hashlib.sha256(secret).digest() == commitments[owner]

    suspects: set[int] = set()
    try:
        result = {}
        for o in owners:  # one owner at a time, in order, so the suspects carry over as listed
            result.update(reconstruct_all(t, {o: shares[o]}, check, "seed", suspects))
        out = {str(o): s.hex() for o, s in result.items()}
    except AbortSignal as a:
        failed = next(o for o in owners if o not in result)
        out = {"error": a.reason.name, "owner": failed}
    return {
        "id": ident,
        "threshold": t,
        "owners": owners,
        "holders": holders,
        "corrupt": [list(c) for c in corrupt],
        "shares": {str(o): {str(h): shamir.shares_to_bytes(v[None, :]).hex() for h, v in s.items()} for o, s in shares.items()},
        "commitments": {str(o): c.hex() for o, c in commitments.items()},
        "attempts": {str(o): a for o, a in attempts.items()},
        "result": out,
        "suspects": sorted(suspects),
    }


def generate() -> dict:
    return {
        "name": "reconstruction",
        "version": 1,
        "source": "protocol_spec/tools/gen_reconstruction.py (secagg.protocol.reconstruct on Shamir shares from "
        "detrandom, some corrupted); tests/secagg/protocol/test_reconstruction_vectors.py replays them",
        "generate": [_case(*c) for c in _CASES],
        "verify": [],
        "invalid": [],
    }
