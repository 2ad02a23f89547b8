"""Shamir sharing over GF(2^31 - 1): threshold properties, layouts, validation, vectors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.errors import DuplicateShareError, InsufficientSharesError, InvalidShareError
from secagg.primitives.shamir import (
    LIMB_BITS,
    LIMBS,
    PRIME,
    SECRET_SIZE,
    SHARE_SIZE,
    Lagrange,
    check_shares,
    reconstruct,
    shares_from_bytes,
    shares_to_bytes,
    split,
)
from tests.detrandom import DeterministicRandom
from tests.vectors import params, unhex

ERRORS = {
    "DuplicateShareError": DuplicateShareError,
    "InsufficientSharesError": InsufficientSharesError,
    "InvalidShareError": InvalidShareError,
    "ValueError": ValueError,
}


class Replay:
    """A source that returns recorded bytes in the sizes asked for, and nothing more."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def token_bytes(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise AssertionError(f"asked for {n} bytes, only {len(self.data) - self.pos} recorded")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


class NoRandom:
    def token_bytes(self, n: int) -> bytes:
        raise AssertionError("no randomness should be drawn")


def limbs_of(secret: bytes) -> list[int]:
    s = int.from_bytes(secret, "little")
    return [(s >> (LIMB_BITS * j)) & ((1 << LIMB_BITS) - 1) for j in range(LIMBS)]


def interpolate_at_zero(points: list[tuple[int, int]]) -> int:
    """Plain Python-integer Lagrange interpolation at 0 (the oracle)."""
    total = 0
    for i, (xi, yi) in enumerate(points):
        num = den = 1
        for k, (xk, _) in enumerate(points):
            if k != i:
                num = num * xk % PRIME
                den = den * (xk - xi) % PRIME
        total += yi * num * pow(den, -1, PRIME)
    return total % PRIME


@st.composite
def sharings(draw):
    n = draw(st.integers(1, 12))
    t = draw(st.integers(1, n))
    m = draw(st.integers(1, 5))
    xs = draw(st.lists(st.integers(1, PRIME - 1), min_size=n, max_size=n, unique=True))
    secrets = [draw(st.binary(min_size=SECRET_SIZE, max_size=SECRET_SIZE)) for _ in range(m)]
    seed = draw(st.integers(0, 2**32 - 1))
    return secrets, t, xs, seed


# --------------------------------------------------------------------------- threshold properties


@given(case=sharings(), data=st.data())
def test_any_threshold_subset_in_any_order_reconstructs_every_secret(case, data):
    secrets, t, xs, seed = case
    shares = split(secrets, threshold=t, xs=xs, random=DeterministicRandom(seed))
    rows = data.draw(st.permutations(range(len(xs))))[:t]
    chosen = [xs[r] for r in rows]
    assert reconstruct(chosen, shares[rows], threshold=t) == secrets
    assert Lagrange(chosen).reconstruct(shares[rows]) == secrets


@given(case=sharings())
def test_more_shares_than_the_threshold_reconstruct_using_the_first_threshold(case):
    secrets, t, xs, seed = case
    shares = split(secrets, threshold=t, xs=xs, random=DeterministicRandom(seed))
    corrupted = shares.copy()
    corrupted[t:] = 0  # shares past the first t must not be read
    assert reconstruct(xs, corrupted, threshold=t) == secrets


@given(case=sharings().filter(lambda c: c[1] >= 2), data=st.data())
def test_fewer_than_threshold_shares_raise_insufficient_with_the_threshold_check(case, data):
    secrets, t, xs, seed = case
    shares = split(secrets, threshold=t, xs=xs, random=DeterministicRandom(seed))
    rows = data.draw(st.permutations(range(len(xs))))[: t - 1]
    with pytest.raises(InsufficientSharesError):
        reconstruct([xs[r] for r in rows], shares[rows], threshold=t)


@given(case=sharings().filter(lambda c: c[1] >= 2), data=st.data())
def test_interpolating_fewer_than_threshold_shares_does_not_give_the_secret(case, data):
    secrets, t, xs, seed = case
    shares = split(secrets, threshold=t, xs=xs, random=DeterministicRandom(seed))
    rows = data.draw(st.permutations(range(len(xs))))[: t - 1]
    try:
        got = Lagrange([xs[r] for r in rows]).reconstruct(shares[rows])
    except InvalidShareError:
        return
    # Equality needs all 9 interpolated limbs to hit the secret's: probability PRIME**-9 per secret.
    assert all(g != s for g, s in zip(got, secrets))


@given(case=sharings(), row=st.integers(0, 11), limb=st.integers(0, LIMBS - 1), delta=st.integers(1, PRIME - 1))
def test_a_corrupted_share_never_reconstructs_the_original_secret(case, row, limb, delta):
    secrets, t, xs, seed = case
    shares = split(secrets, threshold=t, xs=xs, random=DeterministicRandom(seed))[:t].copy()
    r = row % t
    shares[r, 0, limb] = (int(shares[r, 0, limb]) + delta) % PRIME
    try:
        got = reconstruct(xs[:t], shares, threshold=t)
    except InvalidShareError:
        return
    assert got[0] != secrets[0]
    assert got[1:] == secrets[1:]


# --------------------------------------------------------------------------- layout and exact arithmetic


@given(secret=st.binary(min_size=32, max_size=32), n=st.integers(1, 6))
def test_threshold_one_shares_are_the_thirty_bit_little_endian_limbs(secret, n):
    shares = split([secret], threshold=1, xs=list(range(1, n + 1)), random=NoRandom())
    for i in range(n):
        assert shares[i, 0].tolist() == limbs_of(secret)


def test_the_top_limb_carries_sixteen_bits():
    assert limbs_of(b"\xff" * 32)[-1] == 2**16 - 1
    shares = split([b"\xff" * 32], threshold=1, xs=[1])
    assert shares[0, 0, -1] == 2**16 - 1
    assert shares[0, 0, :-1].tolist() == [2**30 - 1] * (LIMBS - 1)


@given(case=sharings())
def test_split_returns_uint32_field_elements_holder_by_secret_by_limb(case):
    secrets, t, xs, seed = case
    shares = split(secrets, threshold=t, xs=xs, random=DeterministicRandom(seed))
    assert shares.dtype == np.uint32
    assert shares.shape == (len(xs), len(secrets), LIMBS)
    assert int(shares.max()) < PRIME


@given(case=sharings())
def test_shares_are_the_polynomials_evaluated_with_python_integers(case):
    """Replay the coefficient draws and evaluate every share as an exact integer."""
    secrets, t, xs, seed = case
    shares = split(secrets, threshold=t, xs=xs, random=DeterministicRandom(seed))
    m = len(secrets)
    if t == 1:
        coeffs = np.zeros((0, m, LIMBS), dtype=np.uint64)
    else:
        from secagg.primitives.randomness import uniform_below

        coeffs = uniform_below(DeterministicRandom(seed), PRIME, (t - 1) * m * LIMBS).reshape(t - 1, m, LIMBS)
    for i, x in enumerate(xs):
        for j, secret in enumerate(secrets):
            for ell, limb in enumerate(limbs_of(secret)):
                poly = [limb] + [int(coeffs[k, j, ell]) for k in range(t - 1)]
                assert int(shares[i, j, ell]) == sum(c * x**k for k, c in enumerate(poly)) % PRIME


def test_worst_case_coefficients_and_points_near_the_prime_do_not_overflow():
    limit = (2**64 // PRIME) * PRIME
    top = (limit - 1).to_bytes(8, "little")  # every coefficient becomes PRIME - 1
    xs = [PRIME - 1 - k for k in range(12)]
    secret = b"\xff" * 32
    shares = split([secret], threshold=12, xs=xs, random=Replay(top * 200))
    for i, x in enumerate(xs):
        for ell, limb in enumerate(limbs_of(secret)):
            expect = (limb + sum((PRIME - 1) * pow(x, k, PRIME) for k in range(1, 12))) % PRIME
            assert int(shares[i, 0, ell]) == expect
    assert reconstruct(xs, shares, threshold=12) == [secret]


@given(xs=st.lists(st.integers(1, PRIME - 1), min_size=1, max_size=12, unique=True))
def test_lagrange_weights_sum_to_one_and_match_python_integers(xs):
    lag = Lagrange(xs)
    assert sum(lag.coefficients) % PRIME == 1  # interpolating the constant 1
    for i in range(len(xs)):
        unit = [(x, 1 if k == i else 0) for k, x in enumerate(xs)]
        assert lag.coefficients[i] == interpolate_at_zero(unit)


@given(xs=st.lists(st.integers(1, PRIME - 1), min_size=1, max_size=8, unique=True), seed=st.integers(0, 2**32))
def test_lagrange_reconstruct_matches_python_integer_interpolation(xs, seed):
    secrets = [DeterministicRandom(seed).token_bytes(32)]
    shares = split(secrets, threshold=len(xs), xs=xs, random=DeterministicRandom(seed + 1))
    for ell, limb in enumerate(limbs_of(secrets[0])):
        assert interpolate_at_zero([(x, int(shares[i, 0, ell])) for i, x in enumerate(xs)]) == limb


def test_one_lagrange_object_reconstructs_many_secrets_like_one_at_a_time():
    rnd = DeterministicRandom(b"many")
    secrets = [rnd.token_bytes(32) for _ in range(200)]
    xs = list(range(1, 34))
    shares = split(secrets, threshold=17, xs=xs, random=rnd)
    responders = xs[::2][:17]
    ys = shares[[x - 1 for x in responders]]
    lag = Lagrange(responders)
    assert lag.reconstruct(ys) == secrets
    assert [lag.reconstruct(ys[:, j : j + 1])[0] for j in range(0, 200, 37)] == secrets[::37]
    assert lag.reconstruct(ys[:, :0]) == []


def test_split_draws_from_the_injected_source_and_is_reproducible():
    secrets = [bytes(range(32))]
    a = split(secrets, threshold=3, xs=[1, 2, 3], random=DeterministicRandom(1))
    b = split(secrets, threshold=3, xs=[1, 2, 3], random=DeterministicRandom(1))
    c = split(secrets, threshold=3, xs=[1, 2, 3], random=DeterministicRandom(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_secrets_may_be_bytes_bytearray_or_memoryview():
    s = bytes(range(32))
    shares = split([s, bytearray(s), memoryview(s)], threshold=1, xs=[5])
    assert reconstruct([5], shares, threshold=1) == [s, s, s]


# --------------------------------------------------------------------------- wire format


@given(case=sharings())
def test_share_bytes_round_trip_as_little_endian_uint32(case):
    secrets, t, xs, seed = case
    shares = split(secrets, threshold=t, xs=xs, random=DeterministicRandom(seed))
    data = shares_to_bytes(shares[0])
    assert len(data) == len(secrets) * SHARE_SIZE
    assert data[:4] == int(shares[0, 0, 0]).to_bytes(4, "little")
    back = shares_from_bytes(data, len(secrets))
    assert back.dtype == np.uint32 and back.shape == (len(secrets), LIMBS)
    np.testing.assert_array_equal(back, shares[0])


def test_share_bytes_accept_bytearray_and_memoryview_and_return_a_writable_copy():
    data = bytes(range(36))
    for form in (data, bytearray(data), memoryview(data)):
        out = shares_from_bytes(form, 1)
        out[0, 0] = 0  # writable, not a view of the input
    assert data == bytes(range(36))


def test_share_bytes_with_a_huge_count_fail_on_length_before_allocating():
    with pytest.raises(InvalidShareError, match="share bytes"):
        shares_from_bytes(b"\x00" * 36, 2**60)


@pytest.mark.parametrize("limb", [PRIME, PRIME + 1, 2**32 - 1])
def test_share_bytes_with_a_limb_outside_the_field_are_rejected(limb):
    data = bytearray(72)
    data[40:44] = limb.to_bytes(4, "little")
    with pytest.raises(InvalidShareError):
        shares_from_bytes(bytes(data), 2)


@pytest.mark.parametrize("count", [1, 2, 3, 17])
@pytest.mark.parametrize("form", [bytes, bytearray])
def test_share_bytes_with_a_limb_outside_the_field_anywhere_are_rejected(count, form):
    # bytes of up to 16 shares take a Python fast path, more (or a bytearray) the NumPy one: both check every limb
    for at in (0, count * LIMBS - 1):
        data = bytearray(count * SHARE_SIZE)
        data[4 * at : 4 * at + 4] = PRIME.to_bytes(4, "little")
        with pytest.raises(InvalidShareError, match="outside the field"):
            shares_from_bytes(form(data), count)
    assert shares_from_bytes(form(bytes(count * SHARE_SIZE)), count).shape == (count, LIMBS)


def test_shares_to_bytes_rejects_values_outside_the_field_and_wrong_shapes():
    with pytest.raises(InvalidShareError):
        shares_to_bytes(np.full((1, LIMBS), PRIME, dtype=np.uint32))
    with pytest.raises(InvalidShareError):
        shares_to_bytes(np.full((1, LIMBS), -1, dtype=np.int64))
    with pytest.raises(ValueError):
        shares_to_bytes(np.zeros(LIMBS, dtype=np.uint32))
    with pytest.raises(ValueError):
        shares_to_bytes(np.zeros((2, LIMBS + 1), dtype=np.uint32))
    with pytest.raises(TypeError):
        shares_to_bytes(np.zeros((1, LIMBS), dtype=np.float64))


# --------------------------------------------------------------------------- validation


def test_split_rejects_bad_secrets_thresholds_and_points():
    s = bytes(32)
    with pytest.raises(ValueError, match="exactly 32 bytes"):
        split([bytes(31)], threshold=1, xs=[1])
    with pytest.raises(TypeError):
        split(["x" * 32], threshold=1, xs=[1])
    with pytest.raises(TypeError):
        split(s, threshold=1, xs=[1])  # a bare secret, not a list of secrets
    with pytest.raises(ValueError, match="threshold"):
        split([s], threshold=0, xs=[1])
    with pytest.raises(ValueError, match="threshold"):
        split([s], threshold=3, xs=[1, 2])
    with pytest.raises(TypeError):
        split([s], threshold=True, xs=[1])
    with pytest.raises(TypeError):
        split([s], threshold=1, xs=[1.0])
    with pytest.raises(TypeError):
        split([s], threshold=1, xs=[True])
    with pytest.raises(DuplicateShareError):
        split([s], threshold=1, xs=[3, 3])
    for bad_x in (0, -1, PRIME, PRIME + 5):
        with pytest.raises(InvalidShareError):
            split([s], threshold=1, xs=[bad_x])


def test_lagrange_rejects_empty_duplicate_and_out_of_field_points():
    with pytest.raises(InsufficientSharesError):
        Lagrange([])
    with pytest.raises(DuplicateShareError):
        Lagrange([4, 5, 4])
    with pytest.raises(InvalidShareError):
        Lagrange([0, 1])
    with pytest.raises(InvalidShareError):
        Lagrange([1, PRIME])
    with pytest.raises(TypeError):
        Lagrange("12")


def test_reconstruct_rejects_bad_shapes_dtypes_values_and_thresholds():
    xs = [1, 2, 3]
    ys = split([bytes(32)], threshold=2, xs=xs)
    lag = Lagrange(xs)
    with pytest.raises(ValueError):
        lag.reconstruct(ys[:2])
    with pytest.raises(ValueError):
        lag.reconstruct(ys[:, :, :8])
    with pytest.raises(TypeError):
        lag.reconstruct(ys.astype(np.float64))
    bad = ys.astype(np.int64)
    bad[0, 0, 0] = -1
    with pytest.raises(InvalidShareError):
        lag.reconstruct(bad)
    bad[0, 0, 0] = PRIME
    with pytest.raises(InvalidShareError):
        lag.reconstruct(bad)
    with pytest.raises(ValueError):
        reconstruct(xs, ys, threshold=0)
    with pytest.raises(ValueError):
        reconstruct(xs, ys[:2], threshold=2)
    with pytest.raises(InsufficientSharesError):
        reconstruct(xs, ys, threshold=4)


def test_inconsistent_shares_that_leave_the_limb_range_are_rejected():
    xs = [1, 2, 3]
    shares = split([bytes(32)], threshold=3, xs=xs, random=DeterministicRandom(9))
    shares[1, 0, LIMBS - 1] = (int(shares[1, 0, LIMBS - 1]) + (1 << 20)) % PRIME  # lambda_2 = -3
    with pytest.raises(InvalidShareError, match="inconsistent"):
        reconstruct(xs, shares, threshold=3)


# --------------------------------------------------------------------------- vectors


def _shares_matrix(hex_shares: list[str], count: int) -> np.ndarray:
    if not hex_shares:
        return np.zeros((0, count, LIMBS), dtype=np.uint32)
    return np.stack([shares_from_bytes(unhex(s), count) for s in hex_shares])


@pytest.mark.parametrize("vector", params("shamir", "generate"))
def test_generate_vectors_are_reproduced_byte_for_byte(vector):
    secrets = [unhex(s) for s in vector["secrets"]]
    source = Replay(unhex(vector["random"]))
    shares = split(secrets, threshold=vector["threshold"], xs=vector["xs"], random=source)
    assert source.pos == len(source.data)
    assert [shares_to_bytes(shares[i]).hex() for i in range(len(vector["xs"]))] == vector["shares"]


@pytest.mark.parametrize("vector", params("shamir", "generate"))
def test_generate_vectors_match_their_listed_coefficients(vector):
    """Independent of the library: evaluate the listed polynomials with Python integers."""
    coeffs = vector["coefficients"]
    for i, x in enumerate(vector["xs"]):
        share = unhex(vector["shares"][i])
        for j, secret in enumerate(vector["secrets"]):
            for ell, limb in enumerate(limbs_of(unhex(secret))):
                poly = [limb] + [coeffs[k][j][ell] for k in range(vector["threshold"] - 1)]
                value = sum(c * x**k for k, c in enumerate(poly)) % PRIME
                off = (j * LIMBS + ell) * 4
                assert int.from_bytes(share[off : off + 4], "little") == value


@pytest.mark.parametrize("vector", params("shamir", "verify"))
def test_verify_vectors_reconstruct_their_secrets(vector):
    ys = _shares_matrix(vector["shares"], len(vector["secrets"]))
    got = reconstruct(vector["xs"], ys, threshold=vector["threshold"])
    assert [g.hex() for g in got] == vector["secrets"]


@pytest.mark.parametrize("vector", params("shamir", "invalid"))
def test_invalid_vectors_are_rejected_with_their_named_error(vector):
    expected = ERRORS[vector["error"]]
    with pytest.raises(expected) as info:
        if vector["operation"] == "reconstruct":
            ys = _shares_matrix(vector["shares"], vector["count"])
            reconstruct(vector["xs"], ys, threshold=vector["threshold"])
        elif vector["operation"] == "shares_from_bytes":
            shares_from_bytes(unhex(vector["data"]), vector["count"])
        elif vector["operation"] == "split":
            split([unhex(s) for s in vector["secrets"]], threshold=vector["threshold"], xs=vector["xs"])
        else:
            pytest.fail(f"unknown operation {vector['operation']!r}")
    assert info.type is expected


def test_all_subsets_of_a_vector_reconstruct():
    vector = next(p.values[0] for p in params("shamir", "generate") if p.id == "t3-n5-two-secrets")
    m = len(vector["secrets"])
    for rows in itertools.combinations(range(5), 3):
        ys = _shares_matrix([vector["shares"][r] for r in rows], m)
        got = reconstruct([vector["xs"][r] for r in rows], ys, threshold=3)
        assert [g.hex() for g in got] == vector["secrets"]


@given(st.lists(st.integers(1, PRIME - 1), min_size=1, max_size=40, unique=True))
def test_lagrange_coefficients_equal_the_textbook_product(xs):
    expected = []
    for i, xi in enumerate(xs):
        num, den = 1, 1
        for k, xk in enumerate(xs):
            if k != i:
                num, den = num * xk % PRIME, den * (xk - xi) % PRIME
        expected.append(num * pow(den, -1, PRIME) % PRIME)
    assert Lagrange(xs).coefficients == tuple(expected)


# ---------------------------------------------------------------------------- batch paths: check_shares, interpolate


@given(
    data=st.binary(max_size=3 * SHARE_SIZE + 2),
    count=st.integers(-1, 4),
    high=st.lists(st.integers(0, 2**32 - 1), max_size=3),
    kind=st.sampled_from([bytes, bytearray, memoryview]),
)
def test_check_shares_accepts_and_refuses_exactly_what_shares_from_bytes_does(data, count, high, kind):
    raw = bytearray(data)
    for i, limb in enumerate(high):  # some limbs at or above PRIME, some below
        if 4 * i + 4 <= len(raw):
            raw[4 * i : 4 * i + 4] = limb.to_bytes(4, "little")
    buf = kind(bytes(raw))
    try:
        expected = shares_from_bytes(buf, count)
    except (InvalidShareError, ValueError, TypeError) as exc:
        with pytest.raises(type(exc)):
            check_shares(buf, count)
        return
    check_shares(buf, count)
    assert expected.shape == (count, LIMBS)


def test_check_shares_refuses_non_bytes_and_non_int_counts():
    with pytest.raises(TypeError):
        check_shares([0] * SHARE_SIZE, 1)
    with pytest.raises(TypeError):
        check_shares(bytes(SHARE_SIZE), 1.0)
    with pytest.raises(ValueError):
        check_shares(b"", -1)
    with pytest.raises(InvalidShareError):
        check_shares((PRIME).to_bytes(4, "little") + bytes(SHARE_SIZE - 4), 1)
    check_shares((PRIME - 1).to_bytes(4, "little") + bytes(SHARE_SIZE - 4), 1)


@st.composite
def _interpolation_case(draw):
    t = draw(st.integers(1, 6))
    m = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    secrets = [rng.bytes(SECRET_SIZE) for _ in range(m)]
    holders = draw(st.lists(st.integers(1, 40), min_size=t, max_size=t + 3, unique=True))
    shares = split(secrets, threshold=t, xs=holders, random=DeterministicRandom(rng.bytes(8)))
    # each secret its own holder subset of size t, some rows corrupted
    subsets, ys = [], []
    for j in range(m):
        rows = sorted(draw(st.lists(st.sampled_from(range(len(holders))), min_size=t, max_size=t, unique=True)))
        y = shares[rows, j].astype(np.uint64)
        if draw(st.booleans()):
            y[draw(st.integers(0, t - 1)), draw(st.integers(0, LIMBS - 1))] = draw(st.sampled_from([0, 1, PRIME - 1, PRIME, 2**32 - 1]))
        subsets.append([holders[r] for r in rows])
        ys.append(y)
    return secrets, subsets, np.stack(ys)


@given(_interpolation_case())
def test_interpolate_gives_each_secret_what_its_own_lagrange_reconstruct_gives(case):
    from secagg.primitives.shamir import interpolate

    secrets, subsets, ys = case
    weights = np.array([Lagrange(xs).coefficients for xs in subsets], dtype=np.uint64)
    got = interpolate(weights, ys)
    for j, xs in enumerate(subsets):
        try:
            expected = Lagrange(xs).reconstruct(ys[j][:, None, :])[0]
        except InvalidShareError:
            expected = None
        assert got[j] == expected


def test_interpolate_of_uncorrupted_shares_gives_the_secrets_back():
    from secagg.primitives.shamir import interpolate

    rng = np.random.default_rng(5)
    secrets = [rng.bytes(32) for _ in range(4)]
    shares = split(secrets, threshold=3, xs=[1, 2, 3, 4, 5], random=DeterministicRandom(b"interp"))
    subsets = [[1, 2, 3], [2, 4, 5], [1, 3, 5], [3, 4, 5]]
    ys = np.stack([shares[[x - 1 for x in xs], j] for j, xs in enumerate(subsets)])
    weights = np.array([Lagrange(xs).coefficients for xs in subsets])
    assert interpolate(weights, ys) == secrets
    assert interpolate(np.zeros((0, 3), dtype=np.uint64), np.zeros((0, 3, LIMBS), dtype=np.uint32)) == []


def test_interpolate_refuses_bad_shapes_dtypes_and_weights():
    from secagg.primitives.shamir import interpolate

    w, ys = np.ones((2, 3), dtype=np.uint64), np.zeros((2, 3, LIMBS), dtype=np.uint32)
    with pytest.raises(ValueError):
        interpolate(w[:, :2], ys)
    with pytest.raises(ValueError):
        interpolate(w, ys[:, :, :8])
    with pytest.raises(TypeError):
        interpolate(w.astype(float), ys)
    with pytest.raises(ValueError):
        interpolate(np.full((2, 3), PRIME, dtype=np.uint64), ys)
    assert interpolate(w, ys.astype(np.int64) - 1) == [None, None]  # negative share values
