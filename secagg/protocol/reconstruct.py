"""Shamir reconstruction for the server: exactly ``threshold`` shares per secret, robust to bad shares.

Secrets whose first ``threshold`` holders coincide share one Lagrange object;
a secret that fails its check (commitment or public key) is retried with
other subsets, and a holder whose removal fixes it becomes a suspect, used
last from then on (SPEC.md, chapter "Protocol", section "Unmasking").
"""

from __future__ import annotations

import functools
import itertools
from collections import defaultdict

import numpy as np

from secagg.errors import AbortReason, InvalidShareError
from secagg.primitives import shamir
from secagg.protocol._abort import AbortSignal

__all__ = ["MAX_SUBSET_ATTEMPTS", "reconstruct_all", "require_shares"]

MAX_SUBSET_ATTEMPTS = 32
"""How many further share subsets the server tries per secret, after the
single-holder swaps of the first subset, before giving up."""


def require_shares(threshold: int, shares_by_owner: dict[int, dict], what: str) -> None:
    """Unmasking step 1 (SPEC.md, chapter "Protocol"): every owner has ``threshold`` shares.

    Args:
        threshold: shares per reconstruction.
        shares_by_owner: ``{owner: {holder: share}}``.
        what: the secret's name, for abort details.

    Raises:
        AbortSignal: TOO_FEW_SURVIVORS for the first owner, in iteration
            order, with fewer than ``threshold`` shares.
    """
    for owner, by_holder in shares_by_owner.items():
        if len(by_holder) < threshold:
            raise AbortSignal(
                AbortReason.TOO_FEW_SURVIVORS,
                f"{len(by_holder)} shares of client {owner}'s {what}, threshold t = {threshold}",
            )


def reconstruct_all(threshold, shares_by_owner, check, what, suspects: set[int] | None = None) -> dict[int, bytes]:
    """Reconstruct one secret per owner from exactly ``threshold`` shares.

    Owners are taken in ascending order; owners whose first ``threshold``
    holders coincide share one set of Lagrange weights. Holders in
    ``suspects`` (found to have sent a bad share) are used last, also those
    found on an earlier owner's secret. A secret that fails ``check`` (or
    whose own interpolation is out of range) is retried with other subsets,
    and a holder whose removal fixes it joins ``suspects`` (SPEC.md, chapter
    "Protocol", Unmasking steps 2-3).

    Args:
        threshold: shares per reconstruction.
        shares_by_owner: ``{owner: {holder: share array}}``.
        check: ``check(owner, secret) -> bool`` (a ValueError counts as False).
        what: the secret's name, for abort details.
        suspects: holders caught with a bad share (updated in place).

    Returns:
        ``{owner: 32-byte secret}``.

    Raises:
        AbortSignal: TOO_FEW_SURVIVORS with fewer than ``threshold`` shares of
            an owner, RECONSTRUCTION_FAILED when no tried subset passes ``check``.
    """
    suspects = set() if suspects is None else suspects
    require_shares(threshold, shares_by_owner, what)
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for owner, by_holder in shares_by_owner.items():
        ordered = sorted(by_holder, key=lambda h: (h in suspects, h))
        groups[tuple(sorted(ordered[:threshold]))].append(owner)
    out: dict[int, bytes] = {}
    if not groups:
        return out
    # Every first subset in one NumPy pass: owner j's t shares and its group's weights, group by group.
    weights_of: dict[tuple[int, ...], tuple[int, ...] | None] = {}
    for xs in groups:
        try:
            weights_of[xs] = _weights(xs)
        except InvalidShareError:
            weights_of[xs] = None
    valid = [(xs, owners) for xs, owners in groups.items() if weights_of[xs] is not None]
    first: dict[int, bytes | None] = {}
    if valid:
        owners_in_order = [o for _, owners in valid for o in owners]
        ys = np.stack([shares_by_owner[o][x] for xs, owners in valid for o in owners for x in xs])
        weights = np.array([weights_of[xs] for xs, owners in valid for _ in owners], dtype=np.uint64)
        ys = ys.reshape(len(owners_in_order), threshold, *ys.shape[1:])
        first = dict(zip(owners_in_order, shamir.interpolate(weights, ys)))
    subset_of = {o: xs for xs, owners in groups.items() for o in owners}
    for owner in sorted(shares_by_owner):  # ascending owners; a suspect found now is used last for the later ones
        by_holder, xs = shares_by_owner[owner], subset_of[owner]
        if suspects:
            now = tuple(sorted(sorted(by_holder, key=lambda h: (h in suspects, h))[:threshold]))
            if now != xs:  # a suspect found on an earlier secret moved this one's first subset
                xs, secret = now, _interpolate_one(now, by_holder)
            else:
                secret = first.get(owner)
        else:
            secret = first.get(owner)  # None: this owner's own interpolation is out of range (or its weights)
        if secret is not None and _safe_check(check, owner, secret):
            out[owner] = secret
        else:
            out[owner] = _retry(threshold, owner, by_holder, check, what, skip=xs, suspects=suspects)
    return out


def _interpolate_one(xs: tuple[int, ...], by_holder) -> bytes | None:
    """One secret from the shares of holders ``xs``; None when the interpolation is out of range."""
    try:
        return shamir.Lagrange(xs).reconstruct(np.stack([by_holder[x][None, :] for x in xs]))[0]
    except InvalidShareError:
        return None


@functools.lru_cache(maxsize=1024)
def _weights(xs: tuple[int, ...]) -> tuple[int, ...]:
    """The Lagrange weights at 0 of one holder set (public values; cached by the set)."""
    return shamir.Lagrange(xs).coefficients


def _safe_check(check, owner, secret) -> bool:
    try:
        return bool(check(owner, secret))
    except ValueError:
        return False


def _retry(threshold, owner, by_holder, check, what, skip, suspects: set[int]) -> bytes:
    """Find a subset of ``threshold`` shares whose secret passes ``check``.

    First swaps each holder of the failed subset ``skip`` for one of at most
    two spare holders, non-suspects first (``2 * threshold`` attempts find
    any single bad share, whose holder then joins ``suspects`` so later
    secrets use it last), then tries up to :data:`MAX_SUBSET_ATTEMPTS` subsets
    of all holders, those with the fewest suspects first. At most
    ``2 * threshold + MAX_SUBSET_ATTEMPTS`` interpolations per secret,
    whatever the number of holders.

    Suspicion only reorders, it never excludes: two colluding holders can make
    their errors cancel in one subset, so that the swap that fixes it blames an
    honest holder; excluding that holder could leave fewer than ``threshold``
    usable shares although ``threshold`` honest ones are there.
    """
    holders = sorted(by_holder, key=lambda h: (h in suspects, h))
    spares = [h for h in holders if h not in skip][:2]

    def candidates():
        for i in sorted(range(len(skip)), key=lambda i: skip[i] not in suspects):  # known suspects first
            for spare in spares:
                yield tuple(sorted((*skip[:i], *skip[i + 1 :], spare))), skip[i]
        for xs in itertools.islice(itertools.combinations(holders, threshold), MAX_SUBSET_ATTEMPTS):
            yield tuple(sorted(xs)), None

    seen = {tuple(skip)}
    for xs, removed in candidates():
        if xs in seen:
            continue
        seen.add(xs)
        ys = np.stack([by_holder[x][None, :] for x in xs])
        try:
            secret = shamir.Lagrange(xs).reconstruct(ys)[0]
        except InvalidShareError:
            continue
        if _safe_check(check, owner, secret):
            if removed is not None:
                suspects.add(removed)
            return secret
    raise AbortSignal(AbortReason.RECONSTRUCTION_FAILED, f"no subset of shares reconstructs client {owner}'s {what}")
