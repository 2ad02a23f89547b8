"""Vectors for Shamir secret sharing over GF(2^31 - 1) in 30-bit limbs (chapter 13).

``generate``: ``secrets`` (hex, 32 bytes each), ``threshold``, ``xs``, the
``random`` bytes that :func:`secagg.primitives.shamir.split` drew from the
source (hex, in draw order), the resulting polynomial ``coefficients``
(``[k-1][j][l]`` is the coefficient of ``x^k`` for secret ``j``, limb ``l``)
and ``shares`` (hex, one entry per holder in the order of ``xs``: that
holder's shares of every secret, ``len(secrets) * 36`` bytes). The shares are
cross-checked against a plain Python-integer evaluation of the polynomials
whose constant terms are the limbs of each secret. Tests replay ``random``
through a source that returns it in the sizes asked for, and must get the
same shares byte for byte.

``verify``: ``threshold``, ``xs`` and ``shares`` (hex, one per responder, as
above) that must reconstruct ``secrets``; only the first ``threshold`` shares
are used.

``invalid`` (``operation`` = ``reconstruct``, ``shares_from_bytes`` or
``split``): duplicate x (``DuplicateShareError``), fewer shares than the
threshold (``InsufficientSharesError``), x = 0 or x = PRIME, a limb
``>= PRIME`` or a wrong length in the share bytes, and shares corrupted so
that a limb interpolates out of range (``InvalidShareError``); bad secrets or
thresholds given to ``split`` (``ValueError``).
"""

from __future__ import annotations

import numpy as np
from detrandom import DeterministicRandom

from secagg.errors import InvalidShareError
from secagg.primitives.shamir import LIMB_BITS, LIMBS, PRIME, reconstruct, shares_from_bytes, shares_to_bytes, split


class _Recorder:
    """Pass a source through and keep every byte it returned."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.data = bytearray()

    def token_bytes(self, n: int) -> bytes:
        out = self.inner.token_bytes(n)
        self.data += out
        return out


def _limbs(secret: bytes) -> list[int]:
    s = int.from_bytes(secret, "little")
    return [(s >> (LIMB_BITS * j)) & ((1 << LIMB_BITS) - 1) for j in range(LIMBS)]


def _coefficients(random: bytes, t: int, m: int) -> list[list[list[int]]]:
    """The accepted 64-bit words reduced mod PRIME, as uniform_below draws them (no rejection here)."""
    limit = (2**64 // PRIME) * PRIME
    words = [int.from_bytes(random[8 * i : 8 * i + 8], "little") for i in range(len(random) // 8)]
    if any(w >= limit for w in words[: (t - 1) * m * LIMBS]):
        raise AssertionError("a rejected word: this generator assumes none (probability 2**-33 each)")
    flat = [w % PRIME for w in words[: (t - 1) * m * LIMBS]]
    return [[flat[((k * m) + j) * LIMBS : ((k * m) + j + 1) * LIMBS] for j in range(m)] for k in range(t - 1)]


def _gen_entry(ident: str, secrets: list[bytes], threshold: int, xs: list[int]) -> dict:
    rec = _Recorder(DeterministicRandom(b"secagg/vectors/shamir/" + ident.encode()))
    shares = split(secrets, threshold=threshold, xs=xs, random=rec)
    coeffs = _coefficients(bytes(rec.data), threshold, len(secrets))
    for i, x in enumerate(xs):
        for j, secret in enumerate(secrets):
            for ell, limb in enumerate(_limbs(secret)):
                poly = [limb] + [coeffs[k][j][ell] for k in range(threshold - 1)]
                value = sum(c * pow(x, k, PRIME) for k, c in enumerate(poly)) % PRIME
                if value != int(shares[i, j, ell]):
                    raise AssertionError(f"{ident}: library and integer evaluation disagree")
    return {
        "id": ident,
        "secrets": [s.hex() for s in secrets],
        "threshold": threshold,
        "xs": xs,
        "random": bytes(rec.data).hex(),
        "coefficients": coeffs,
        "shares": [shares_to_bytes(shares[i]).hex() for i in range(len(xs))],
    }


def _verify_entry(ident: str, gen: dict, rows: list[int]) -> dict:
    xs = [gen["xs"][r] for r in rows]
    shares = [gen["shares"][r] for r in rows]
    m = len(gen["secrets"])
    ys = np.stack([shares_from_bytes(bytes.fromhex(s), m) for s in shares])
    got = reconstruct(xs, ys, threshold=gen["threshold"])
    if [g.hex() for g in got] != gen["secrets"]:
        raise AssertionError(f"{ident}: reconstruction failed")
    return {"id": ident, "threshold": gen["threshold"], "xs": xs, "shares": shares, "secrets": gen["secrets"]}


def generate() -> dict:
    rnd = DeterministicRandom(b"secagg/vectors/shamir")
    worked = bytes(range(32))
    gen = [
        _gen_entry("t1-n4-one-secret", [worked], 1, [1, 2, 3, 4]),
        _gen_entry("t2-n3-one-secret", [worked], 2, [1, 2, 3]),
        _gen_entry("t3-n5-two-secrets", [rnd.token_bytes(32), rnd.token_bytes(32)], 3, [1, 2, 3, 4, 5]),
        _gen_entry("t4-n4-all-ones-and-zero", [b"\xff" * 32, bytes(32)], 4, [1, 2, 3, 4]),
        _gen_entry(
            "t4-n7-sparse-xs-three-secrets",
            [rnd.token_bytes(32) for _ in range(3)],
            4,
            [2, 5, 9, 1000, 65537, 2**30, PRIME - 1],
        ),
        _gen_entry("t5-n9-one-secret", [rnd.token_bytes(32)], 5, list(range(1, 10))),
    ]
    by_id = {g["id"]: g for g in gen}
    verify = [
        _verify_entry("t1-any-single-share", by_id["t1-n4-one-secret"], [2]),
        _verify_entry("t2-first-two", by_id["t2-n3-one-secret"], [0, 1]),
        _verify_entry("t2-reversed-order", by_id["t2-n3-one-secret"], [2, 0]),
        _verify_entry("t3-last-three", by_id["t3-n5-two-secrets"], [2, 3, 4]),
        _verify_entry("t3-all-five-uses-first-three", by_id["t3-n5-two-secrets"], [4, 0, 2, 1, 3]),
        _verify_entry("t4-all-four", by_id["t4-n4-all-ones-and-zero"], [3, 2, 1, 0]),
        _verify_entry("t4-sparse-large-xs", by_id["t4-n7-sparse-xs-three-secrets"], [6, 5, 4, 0]),
        _verify_entry("t5-odd-holders", by_id["t5-n9-one-secret"], [0, 2, 4, 6, 8]),
    ]

    g3 = by_id["t3-n5-two-secrets"]
    invalid = [
        {"id": "duplicate-x", "operation": "reconstruct", "threshold": 3, "xs": [1, 2, 1],
         "shares": [g3["shares"][0], g3["shares"][1], g3["shares"][0]], "count": 2, "error": "DuplicateShareError"},
        {"id": "too-few-shares", "operation": "reconstruct", "threshold": 3, "xs": [1, 2],
         "shares": g3["shares"][:2], "count": 2, "error": "InsufficientSharesError"},
        {"id": "no-shares", "operation": "reconstruct", "threshold": 1, "xs": [], "shares": [], "count": 1,
         "error": "InsufficientSharesError"},
        {"id": "x-zero", "operation": "reconstruct", "threshold": 3, "xs": [0, 2, 3],
         "shares": g3["shares"][:3], "count": 2, "error": "InvalidShareError"},
        {"id": "x-prime", "operation": "reconstruct", "threshold": 3, "xs": [1, 2, PRIME],
         "shares": g3["shares"][:3], "count": 2, "error": "InvalidShareError"},
    ]
    good = bytes.fromhex(g3["shares"][0])
    for ident, limb in [("limb-equals-prime", PRIME), ("limb-all-ones", 2**32 - 1), ("limb-2-pow-31", 2**31)]:
        bad = good[:4] + limb.to_bytes(4, "little") + good[8:]
        invalid.append({"id": ident, "operation": "shares_from_bytes", "count": 2, "data": bad.hex(),
                        "error": "InvalidShareError"})
    for ident, data, count in [
        ("one-byte-short", good[:-1], 2), ("one-byte-long", good + b"\x00", 2), ("empty-for-one", b"", 1),
        ("one-share-for-two", good[:36], 2), ("two-shares-for-one", good, 1), ("35-bytes", good[:35], 1),
    ]:
        invalid.append({"id": f"length-{ident}", "operation": "shares_from_bytes", "count": count,
                        "data": data.hex(), "error": "InvalidShareError"})
    # Corrupt one limb of one share of secret 0: the interpolated limb moves by
    # lambda_i * delta mod PRIME. A small shift can stay in range (the check is
    # not an integrity check), so the deltas are chosen, and checked here, to
    # land out of range.
    corruptions = [("top-limb", 1, 8, 1 << 20), ("low-limb", 0, 3, 1 << 30), ("last-share", 2, 8, 1 << 24)]
    for ident, row, limb_index, delta in corruptions:
        shares = [bytearray(bytes.fromhex(s)) for s in g3["shares"][:3]]
        pos = 4 * limb_index
        value = (int.from_bytes(shares[row][pos : pos + 4], "little") + delta) % PRIME
        shares[row][pos : pos + 4] = value.to_bytes(4, "little")
        ys_hex = [bytes(s).hex() for s in shares]
        ys = np.stack([shares_from_bytes(bytes(s), 2) for s in shares])
        try:
            reconstruct([1, 2, 3], ys, threshold=3)
        except InvalidShareError:
            pass
        else:
            raise AssertionError(f"corrupted-{ident}: corruption was not detected; pick another delta")
        invalid.append({"id": f"inconsistent-{ident}", "operation": "reconstruct", "threshold": 3,
                        "xs": [1, 2, 3], "shares": ys_hex, "count": 2, "error": "InvalidShareError"})
    secret = "00" * 32
    invalid += [
        {"id": "split-secret-31-bytes", "operation": "split", "secrets": ["00" * 31], "threshold": 1, "xs": [1],
         "error": "ValueError"},
        {"id": "split-secret-33-bytes", "operation": "split", "secrets": ["00" * 33], "threshold": 1, "xs": [1],
         "error": "ValueError"},
        {"id": "split-threshold-zero", "operation": "split", "secrets": [secret], "threshold": 0, "xs": [1, 2],
         "error": "ValueError"},
        {"id": "split-threshold-above-n", "operation": "split", "secrets": [secret], "threshold": 3, "xs": [1, 2],
         "error": "ValueError"},
        {"id": "split-duplicate-x", "operation": "split", "secrets": [secret], "threshold": 2, "xs": [1, 2, 2],
         "error": "DuplicateShareError"},
        {"id": "split-x-zero", "operation": "split", "secrets": [secret], "threshold": 2, "xs": [0, 1],
         "error": "InvalidShareError"},
    ]
    return {
        "name": "shamir",
        "version": 1,
        "source": "protocol_spec/tools/gen_shamir.py: secagg.primitives.shamir.split with "
        "DeterministicRandom(b'secagg/vectors/shamir/' + id) (the bytes drawn are recorded in 'random'), "
        "cross-checked against Python-integer polynomial evaluation; secrets from "
        "DeterministicRandom(b'secagg/vectors/shamir') and fixed patterns",
        "generate": gen,
        "verify": verify,
        "invalid": invalid,
    }
