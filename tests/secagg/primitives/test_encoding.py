"""Fixed-point encoding and the bit budget: error bounds, unbiasedness, no wrap, vectors."""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import shutil
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import assume, given
from hypothesis import strategies as st

from secagg.errors import BitBudgetError
from secagg.primitives import encoding
from secagg.primitives.encoding import ROUNDING_KEY_SIZE, BitPlan, FixedPointEncoder, plan_bits
from secagg.primitives.words import word_dtype
from tests.detrandom import DeterministicRandom
from tests.vectors import params, unhex

ROOT = pathlib.Path(__file__).resolve().parents[3]

ERRORS = {"BitBudgetError": BitBudgetError, "ValueError": ValueError}


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


class StreamReplay:
    """Recorded rounding-stream bytes in the ``read_into(zeros, out)`` shape of a keystream."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def read_into(self, zeros, out) -> None:
        n = len(zeros)
        if self.pos + n > len(self.data):
            raise AssertionError(f"asked for {n} stream bytes, only {len(self.data) - self.pos} recorded")
        out[:n] = np.frombuffer(self.data, dtype=np.uint8, count=n, offset=self.pos)
        self.pos += n


def _real(v):
    return float(v) if isinstance(v, str) else v


def _keystream(key: bytes, nbytes: int) -> bytes:
    """SPEC ch. 15 step 2 with pyca directly: AES-256-CTR, zero IV, big-endian counter from 0."""
    return Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update(bytes(nbytes))


def _spec_codes(x, clip: float, scale: float, stream: bytes) -> list[int]:
    """SPEC ch. 14 "Encoding" per coordinate in plain Python floats (no NumPy, no library)."""
    codes = []
    for i, xi in enumerate(x):
        y = min(max(float(xi), -clip), clip) * scale
        u = (int.from_bytes(stream[8 * i : 8 * i + 8], "little") >> 11) * 2.0**-53
        codes.append(math.floor(y) + (u < y - math.floor(y)))
    return codes


PLANS = st.builds(
    dict,
    n_clients=st.integers(1, 5000),
    clip=st.floats(1e-3, 1e3),
    precision=st.floats(1e-6, 10.0),
)


@st.composite
def planned_inputs(draw, max_clients):
    """A plan for up to ``max_clients`` and one input vector per client (some beyond the clip)."""
    plan = plan_bits(
        n_clients=draw(st.integers(1, max_clients)),
        clip=draw(st.floats(1e-3, 1e3)),
        precision=draw(st.floats(1e-6, 10.0)),
    )
    dim = draw(st.integers(0, 20))
    values = st.lists(st.floats(-3 * plan.clip, 3 * plan.clip), min_size=dim, max_size=dim)
    xs = [np.array(draw(values), dtype=np.float64) for _ in range(plan.n_clients)]
    return plan, xs, draw(st.integers(0, 2**32 - 1))


# --------------------------------------------------------------------------- the plan


@given(p=PLANS)
def test_plan_never_lets_the_worst_case_sum_wrap_and_uses_the_fewest_bits(p):
    plan = plan_bits(**p)
    n, code = plan.n_clients, plan.max_code
    assert code == math.ceil(Fraction(plan.clip) * Fraction(plan.scale))
    assert n * (code + 1) < 2 ** (plan.bits - 1)
    assert n * (code + 1) >= 2 ** (plan.bits - 2)  # one bit fewer would not do
    enc = FixedPointEncoder.from_plan(plan)
    for sign in (1, -1):
        word = sign * code % 2**plan.bits
        total = n * word % 2**plan.bits  # n clients all at the extreme code
        assert enc.decode(np.array([total], dtype=np.uint64))[0] == sign * n * code / plan.scale


@given(p=PLANS)
def test_plan_scale_is_the_coarsest_power_of_two_step_within_the_precision(p):
    plan = plan_bits(**p)
    mantissa, _ = math.frexp(plan.scale)
    assert mantissa == 0.5  # a power of two
    assert 1 / plan.scale <= p["precision"] < 2 / plan.scale


def test_plan_worked_example_of_the_spec():
    plan = plan_bits(n_clients=1000, clip=1.0, precision=1e-4)
    assert (plan.bits, plan.scale, plan.max_code) == (25, 16384.0, 16384)
    assert 1000 * 16385 < 2**24 <= 2 * 1000 * 16385


def test_plan_over_budget_names_the_numbers():
    with pytest.raises(BitBudgetError) as info:
        plan_bits(n_clients=1_000_000, clip=1e4, precision=1e-9)
    message = str(info.value)
    for part in ("n_clients=1000000", "clip=10000.0", "precision=1e-09", "need 65 bits", "max_bits=62"):
        assert part in message


def test_plan_respects_a_lower_max_bits():
    assert plan_bits(n_clients=1000, clip=1.0, precision=1e-4, max_bits=25).bits == 25
    with pytest.raises(BitBudgetError):
        plan_bits(n_clients=1000, clip=1.0, precision=1e-4, max_bits=24)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"n_clients": 0, "clip": 1.0, "precision": 0.1}, ValueError),
        ({"n_clients": 2.0, "clip": 1.0, "precision": 0.1}, TypeError),
        ({"n_clients": True, "clip": 1.0, "precision": 0.1}, TypeError),
        ({"n_clients": 2, "clip": 0.0, "precision": 0.1}, ValueError),
        ({"n_clients": 2, "clip": math.inf, "precision": 0.1}, ValueError),
        ({"n_clients": 2, "clip": math.nan, "precision": 0.1}, ValueError),
        ({"n_clients": 2, "clip": "1", "precision": 0.1}, TypeError),
        ({"n_clients": 2, "clip": 1.0, "precision": -0.1}, ValueError),
        ({"n_clients": 2, "clip": 1.0, "precision": 0.1, "max_bits": 63}, ValueError),
        ({"n_clients": 2, "clip": 1e-305, "precision": 1e-320}, ValueError),
    ],
)
def test_plan_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error) as info:
        plan_bits(**kwargs)
    assert info.type is error


def test_bit_plan_is_frozen_and_validates_its_invariant():
    plan = BitPlan(bits=25, scale=16384.0, clip=1.0, n_clients=1000)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.bits = 30
    with pytest.raises(BitBudgetError):
        BitPlan(bits=24, scale=16384.0, clip=1.0, n_clients=1000)
    with pytest.raises(ValueError):
        BitPlan(bits=25, scale=0.0, clip=1.0, n_clients=1000)
    with pytest.raises(TypeError):
        BitPlan(bits=25.0, scale=16384.0, clip=1.0, n_clients=1000)
    with pytest.raises(TypeError):
        BitPlan(25, 16384.0, 1.0, 1000)  # keyword-only


# --------------------------------------------------------------------------- encode / decode


@given(case=planned_inputs(1))
def test_decode_of_encode_is_within_one_step_of_the_clipped_input(case):
    plan, (x,), seed = case
    enc = FixedPointEncoder.from_plan(plan)
    words = enc.encode(x, random=DeterministicRandom(seed))
    assert words.dtype == word_dtype(plan.bits) and words.shape == x.shape
    assert int(words.max(initial=0)) < 2**plan.bits
    err = np.abs(enc.decode(words) - np.clip(x, -plan.clip, plan.clip))
    assert (err < 1 / plan.scale).all()


@given(case=planned_inputs(8))
def test_sum_of_n_encodings_decodes_to_the_sum_within_n_steps(case):
    plan, xs, seed = case
    enc = FixedPointEncoder.from_plan(plan)
    rnd = DeterministicRandom(seed)
    total = np.zeros(xs[0].shape, dtype=np.uint64)
    mask = np.uint64(2**plan.bits - 1)
    for x in xs:
        total = (total + enc.encode(x, random=rnd).astype(np.uint64)) & mask
    exact = np.sum([np.clip(x, -plan.clip, plan.clip) for x in xs], axis=0)
    assert (np.abs(enc.decode(total) - exact) < len(xs) / plan.scale).all()


@given(x=st.floats(-100.0, 100.0), seed=st.integers(0, 2**32 - 1))
def test_rounding_goes_to_one_of_the_two_neighbouring_codes(x, seed):
    enc = FixedPointEncoder(clip=100.0, scale=8.0, bits=16)
    code = enc.decode(enc.encode(np.array([x]), random=DeterministicRandom(seed)))[0] * 8.0
    assert code in (math.floor(x * 8.0), math.ceil(x * 8.0))


@pytest.mark.parametrize("fraction", [0.5, 0.3, 0.9, 0.01])
@pytest.mark.parametrize("base", [5.0, -5.0])
def test_stochastic_rounding_is_unbiased(fraction, base):
    """The mean code over N draws is within 5 standard errors of y.

    Each code is floor(y) + Bernoulli(f), f the fractional part, so the mean
    has standard error sqrt(f(1-f)/N); the source is deterministic, so the
    test cannot flake, and any rounding with a bias above 5 sigma (about
    0.0011 steps at f = 0.5, N = 500,000; round-to-nearest is off by
    min(f, 1-f)) fails it.
    """
    n = 500_000
    scale = 1024.0
    y = base + fraction  # exact in binary for these values up to float rounding of fraction
    enc = FixedPointEncoder(clip=10.0, scale=scale, bits=16)
    words = enc.encode(np.full(n, y / scale), random=DeterministicRandom(b"unbiased"))
    codes = enc.decode(words) * scale
    f = y - math.floor(y)
    assert set(np.unique(codes).tolist()) == {math.floor(y), math.floor(y) + 1}
    assert abs(codes.mean() - y) < 5 * math.sqrt(f * (1 - f) / n)


def test_negative_codes_are_twos_complement_mod_two_to_the_bits():
    enc = FixedPointEncoder(clip=4.0, scale=2.0, bits=5)
    words = enc.encode(np.array([-4.0, -0.5, 0.0, 0.5, 4.0, -9.0, 9.0]))
    assert words.tolist() == [32 - 8, 32 - 1, 0, 1, 8, 32 - 8, 8]
    assert enc.decode(words).tolist() == [-4.0, -0.5, 0.0, 0.5, 4.0, -4.0, 4.0]


@pytest.mark.parametrize("bits, dtype", [(8, np.uint32), (32, np.uint32), (33, np.uint64), (62, np.uint64)])
def test_words_use_the_word_dtype_of_the_bit_width(bits, dtype):
    enc = FixedPointEncoder(clip=1.0, scale=4.0, bits=bits)
    assert enc.encode(np.array([0.25, -0.25])).dtype == dtype


def test_encode_keeps_the_shape_and_draws_one_key_whose_stream_it_reads_in_c_order():
    enc = FixedPointEncoder(clip=1.0, scale=2.0**10, bits=16)
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    key = DeterministicRandom(3).token_bytes(ROUNDING_KEY_SIZE)
    src = Replay(key)
    words = enc.encode(x, random=src)
    assert src.pos == 32 and words.shape == (3, 4)
    np.testing.assert_array_equal(words.ravel(), enc.encode(x.ravel(), random=Replay(key)))
    codes = _spec_codes(x.ravel().tolist(), 1.0, 2.0**10, _keystream(key, 96))
    assert words.ravel().tolist() == [c % 2**16 for c in codes]
    np.testing.assert_array_equal(words, enc.encode(np.asfortranarray(x), random=Replay(key)))  # C order, whatever the layout
    empty = Replay(key)
    assert enc.encode(np.array([]), random=empty).shape == (0,) and empty.pos == 32  # a key even for d = 0


def test_each_encoding_draws_a_fresh_key():
    enc = FixedPointEncoder(clip=1.0, scale=2.0**10, bits=16)
    x = np.full(64, 0.3 / 2**10)  # f = 0.3 in every coordinate: the words differ with the key
    src = Replay(DeterministicRandom(4).token_bytes(64))
    first, second = enc.encode(x, random=src), enc.encode(x, random=src)
    assert src.pos == 64 and first.tolist() != second.tolist()


def test_a_source_returning_the_wrong_number_of_bytes_is_refused():
    class Short:
        def token_bytes(self, n):
            return bytes(n - 1)

    with pytest.raises(ValueError, match="32 bytes"):
        FixedPointEncoder(clip=1.0, scale=4.0, bits=8).encode(np.array([0.5]), random=Short())


def test_a_long_vector_reads_one_keystream_across_the_chunks():
    # Longer than three kernel chunks and not a multiple of one: the words must follow the
    # whole keystream of the key (no restart or gap at a chunk boundary).
    d = 3 * encoding._CHUNK + 5
    enc = FixedPointEncoder(clip=4.0, scale=2.0**20, bits=30)
    x = np.random.default_rng(1).uniform(-5, 5, d)  # test data, not key material
    key = DeterministicRandom(b"long").token_bytes(32)
    r = np.frombuffer(_keystream(key, 8 * d), dtype="<u8")
    y = np.clip(x, -4.0, 4.0) * 2.0**20
    low = np.floor(y)
    codes = low.astype(np.int64) + ((r >> np.uint64(11)).astype(np.float64) * 2.0**-53 < y - low)
    expected = codes.astype(np.uint64) & np.uint64(2**30 - 1)
    np.testing.assert_array_equal(enc.encode(x, random=Replay(key)), expected)


FINITE = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 0.5, -0.5, 2.0**52 + 0.5, -(2.0**-54)]),
)


@given(
    plan=st.builds(plan_bits, n_clients=st.integers(1, 100), clip=st.floats(1e-3, 1e6), precision=st.floats(1e-9, 10.0)),
    values=st.lists(FINITE, max_size=40),
    key=st.binary(min_size=32, max_size=32),
)
def test_encode_is_the_chapter_formula_on_the_keystream_of_its_key(plan, values, key):
    """Every word equals SPEC ch. 14 evaluated coordinate by coordinate in Python floats."""
    enc = FixedPointEncoder.from_plan(plan)
    x = np.array(values, dtype=np.float64)
    words = enc.encode(x, random=Replay(key))
    codes = _spec_codes(values, plan.clip, plan.scale, _keystream(key, 8 * len(values)))
    assert words.tolist() == [c % 2**plan.bits for c in codes]
    assert all(c in (math.floor(min(max(v, -plan.clip), plan.clip) * plan.scale),
                     math.ceil(min(max(v, -plan.clip), plan.clip) * plan.scale)) for v, c in zip(values, codes))


@given(
    values=st.lists(st.floats(-(2.0**50), 2.0**50, width=32), min_size=1, max_size=40),
    key=st.binary(min_size=32, max_size=32),
)
def test_float32_input_encodes_as_its_exact_float64_widening(values, key):
    enc = FixedPointEncoder(clip=2.0**40, scale=2.0**20, bits=62)
    x32 = np.array(values, dtype=np.float32)
    np.testing.assert_array_equal(enc.encode(x32, random=Replay(key)), enc.encode(x32.astype(np.float64), random=Replay(key)))


@given(x=FINITE, scale_exp=st.integers(-20, 40))
def test_the_rounding_threshold_is_exactly_ceil_f_times_2_to_the_53(x, scale_exp):
    """The code is floor(y) + 1 exactly for the ceil(f * 2**53) smallest values of r >> 11.

    So for uniform words P(code = floor(y) + 1) = ceil(f * 2**53) / 2**53: the
    promised bias below 2**-52 of a step, exactly; here the threshold word and
    its neighbour are fed through the kernel as the rounding stream.
    """
    clip = 2.0**20
    enc = FixedPointEncoder(clip=clip, scale=2.0**scale_exp, bits=62)
    y = min(max(x, -clip), clip) * 2.0**scale_exp
    low = math.floor(y)
    threshold = math.ceil(Fraction(y - low) * 2**53)  # binary64 f, as the chapter says
    below = [] if threshold == 0 else [threshold - 1]
    candidates = [*below, threshold] if threshold < 2**53 else below
    stream = b"".join(((u << 11) | 0x7FF).to_bytes(8, "little") for u in candidates)
    words = enc._encode_from(np.full(len(candidates), x), StreamReplay(stream))
    expected = [low + 1] * len(below) + [low] * (len(candidates) - len(below))
    assert words.tolist() == [c % 2**62 for c in expected]


@given(fraction=st.integers(1, 2**20 - 1), base=st.integers(-1000, 1000), seed=st.binary(min_size=8, max_size=8))
def test_stochastic_rounding_is_unbiased_on_the_keystream(fraction, base, seed):
    """The mean code over 200,000 coordinates is within 6 standard errors of y (Hypothesis over y and key).

    The source is deterministic per example, so a failure replays; a bias of
    2**-20 steps cannot hide, round-to-nearest (bias min(f, 1 - f)) fails.
    """
    n = 200_000
    y = base + fraction / 2**20
    enc = FixedPointEncoder(clip=2000.0, scale=1.0, bits=24)
    codes = enc.decode(enc.encode(np.full(n, y), random=DeterministicRandom(seed)))
    f = fraction / 2**20
    assert set(np.unique(codes).tolist()) <= {math.floor(y), math.floor(y) + 1}
    assert abs(codes.mean() - y) < 6 * math.sqrt(f * (1 - f) / n)


def test_integer_inputs_are_encoded_as_reals():
    enc = FixedPointEncoder(clip=10.0, scale=4.0, bits=12)
    assert enc.decode(enc.encode(np.array([3, -2, 50]))).tolist() == [3.0, -2.0, 10.0]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_encode_rejects_nan_and_infinities(bad):
    enc = FixedPointEncoder(clip=1.0, scale=4.0, bits=8)
    with pytest.raises(ValueError, match="finite"):
        enc.encode(np.array([0.0, bad]))


def test_encode_and_decode_reject_non_real_or_non_integer_arrays():
    enc = FixedPointEncoder(clip=1.0, scale=4.0, bits=8)
    for bad in (np.array([1 + 2j]), np.array(["a"]), np.array([True])):
        with pytest.raises(TypeError):
            enc.encode(bad)
    with pytest.raises(TypeError):
        enc.decode(np.array([1.0]))


def test_decode_rejects_words_outside_the_modulus():
    enc = FixedPointEncoder(clip=1.0, scale=4.0, bits=8)
    with pytest.raises(ValueError):
        enc.decode(np.array([256], dtype=np.uint32))
    with pytest.raises(ValueError):
        enc.decode(np.array([-1], dtype=np.int64))
    assert enc.decode(np.array([255], dtype=np.uint32)).tolist() == [-0.25]


@given(
    bits=st.integers(1, 62),
    scale_exp=st.integers(-30, 60),
    data=st.data(),
    dtype=st.sampled_from([np.uint32, np.uint64, np.int64, np.int32, np.uint16, np.uint8]),
)
def test_decode_is_the_centred_lift_over_scale_for_every_word_dtype(bits, scale_exp, data, dtype):
    top = min(2**bits, int(np.iinfo(dtype).max) + 1)
    words = data.draw(st.lists(st.integers(0, top - 1), max_size=30))
    assume(2.0**scale_exp + 2 < 2 ** (bits - 1))  # one encoding of clip = 1 fits
    enc = FixedPointEncoder(clip=1.0, scale=2.0**scale_exp, bits=bits)
    got = enc.decode(np.array(words, dtype=dtype))
    half = 2 ** (bits - 1)
    assert got.dtype == np.float64
    assert got.tolist() == [float(Fraction(w - 2**bits if w >= half else w) / Fraction(2.0**scale_exp)) for w in words]


@pytest.mark.parametrize("word", [2**62, 2**63, 2**64 - 1])
def test_decode_refuses_uint64_words_beyond_the_modulus_also_past_the_int64_range(word):
    enc = FixedPointEncoder(clip=1.0, scale=4.0, bits=62)
    with pytest.raises(ValueError, match=r"words must be in \[0, 2\*\*62\)"):
        enc.decode(np.array([0, word], dtype=np.uint64))


def test_decode_keeps_the_shape():
    enc = FixedPointEncoder(clip=1.0, scale=4.0, bits=8)
    assert enc.decode(np.array([[1, 255], [128, 0]], dtype=np.uint32)).tolist() == [[0.25, -0.25], [-32.0, 0.0]]
    assert enc.decode(np.zeros((0, 3), dtype=np.uint32)).shape == (0, 3)


def test_encoder_validates_that_one_encoding_fits_and_its_arguments():
    FixedPointEncoder(clip=1.0, scale=1024.0, bits=12)  # 1025 < 2**11
    with pytest.raises(BitBudgetError):
        FixedPointEncoder(clip=1.0, scale=1024.0, bits=11)
    with pytest.raises(ValueError):
        FixedPointEncoder(clip=-1.0, scale=1.0, bits=8)
    with pytest.raises(ValueError):
        FixedPointEncoder(clip=1.0, scale=1.0, bits=63)
    with pytest.raises(TypeError):
        FixedPointEncoder.from_plan({"bits": 8})


@given(p=PLANS)
def test_max_summands_is_the_largest_count_the_encoder_can_sum(p):
    enc = FixedPointEncoder.from_plan(plan_bits(**p))
    n = enc.max_summands
    assert n >= p["n_clients"]
    assert n * (enc.max_code + 1) < 2 ** (enc.bits - 1) <= (n + 1) * (enc.max_code + 1)


# --------------------------------------------------------------------------- vectors


@pytest.mark.parametrize("vector", params("encoding", "generate"))
def test_generate_vectors_are_reproduced_exactly(vector):
    if vector["kind"] == "plan":
        plan = plan_bits(
            n_clients=vector["n_clients"], clip=vector["clip"], precision=vector["precision"],
            max_bits=vector["max_bits"],
        )
        assert (plan.bits, plan.scale, plan.max_code) == (vector["bits"], vector["scale"], vector["max_code"])
    elif vector["kind"] == "encode":
        enc = FixedPointEncoder(clip=vector["clip"], scale=vector["scale"], bits=vector["bits"])
        src = Replay(unhex(vector["rounding_key"]))
        words = enc.encode(np.array([_real(v) for v in vector["x"]]), random=src)
        assert src.pos == len(src.data) == ROUNDING_KEY_SIZE
        assert words.tolist() == vector["words"]
        assert vector["words"] == [c % 2 ** vector["bits"] for c in vector["codes"]]
        assert enc.decode(words).tolist() == [c / vector["scale"] for c in vector["codes"]]
    elif vector["kind"] == "round":
        enc = FixedPointEncoder(clip=vector["clip"], scale=vector["scale"], bits=vector["bits"])
        stream = StreamReplay(unhex(vector["rounding_stream"]))
        words = enc._encode_from(np.array(vector["x"]), stream)
        assert stream.pos == len(stream.data) == 8 * len(vector["x"])
        assert words.tolist() == vector["words"] == [c % 2 ** vector["bits"] for c in vector["codes"]]
    elif vector["kind"] == "decode":
        enc = FixedPointEncoder(clip=1.0, scale=vector["scale"], bits=vector["bits"])
        assert enc.decode(np.array(vector["words"], dtype=np.uint64)).tolist() == vector["values"]
    else:
        pytest.fail(f"unknown kind {vector['kind']!r}")


@pytest.mark.parametrize("vector", params("encoding", "generate"))
def test_encode_vectors_match_the_chapter_formulas_in_plain_floats(vector):
    """Independent of the library and NumPy: the key's AES-CTR stream, then each code from its word."""
    if vector["kind"] not in ("encode", "round"):
        return
    stream = unhex(vector["rounding_stream"])
    if vector["kind"] == "encode":
        assert stream == _keystream(unhex(vector["rounding_key"]), 8 * len(vector["x"]))
    assert vector["codes"] == _spec_codes(vector["x"], vector["clip"], vector["scale"], stream)


def test_the_vectors_pin_the_corner_cases_the_chapter_names():
    gen = {v["id"]: v for v in params_list("generate")}
    assert gen["round-binary64-fraction-rounding"]["codes"][0] == -1  # the rounded fraction, not the exact one
    assert gen["encode-empty"]["x"] == [] and len(unhex(gen["encode-empty"]["rounding_key"])) == 32
    assert any(v["kind"] == "encode" and len(v["x"]) >= 40 for v in gen.values())


@pytest.mark.parametrize("vector", params("encoding", "verify"))
def test_verify_vectors_sum_and_decode(vector):
    plan = plan_bits(n_clients=vector["n_clients"], clip=vector["clip"], precision=vector["precision"])
    assert (plan.bits, plan.scale) == (vector["bits"], vector["scale"])
    enc = FixedPointEncoder.from_plan(plan)
    total = np.zeros(len(vector["total"]), dtype=np.uint64)
    assert len(vector["rounding_keys"]) == len(vector["inputs"]) == vector["n_clients"]
    for x, key in zip(vector["inputs"], vector["rounding_keys"]):
        src = Replay(unhex(key))
        total = (total + enc.encode(np.array(x), random=src).astype(np.uint64)) & np.uint64(2**plan.bits - 1)
        assert src.pos == ROUNDING_KEY_SIZE
    assert total.tolist() == vector["total"]
    assert enc.decode(total).tolist() == vector["decoded"]
    exact = np.clip(np.array(vector["inputs"]), -plan.clip, plan.clip).sum(axis=0)
    assert (np.abs(np.array(vector["decoded"]) - exact) < vector["n_clients"] / plan.scale).all()


@pytest.mark.parametrize("vector", params("encoding", "invalid"))
def test_invalid_vectors_are_rejected_with_their_named_error(vector):
    expected = ERRORS[vector["error"]]
    with pytest.raises(expected) as info:
        op = vector["operation"]
        if op == "plan":
            plan_bits(
                n_clients=vector["n_clients"], clip=vector["clip"], precision=vector["precision"],
                max_bits=vector["max_bits"],
            )
        elif op == "encoder":
            FixedPointEncoder(clip=vector["clip"], scale=vector["scale"], bits=vector["bits"])
        elif op == "encode":
            enc = FixedPointEncoder(clip=vector["clip"], scale=vector["scale"], bits=vector["bits"])
            enc.encode(np.array([_real(v) for v in vector["x"]]))
        elif op == "decode":
            enc = FixedPointEncoder(clip=vector["clip"], scale=vector["scale"], bits=vector["bits"])
            enc.decode(np.array(vector["words"], dtype=np.uint64))
        else:
            pytest.fail(f"unknown operation {op!r}")
    assert info.type is expected


# --------------------------------------------------------------------------- the independent verifier


def _verify_independent(vectors: pathlib.Path) -> subprocess.CompletedProcess:
    tool = ROOT / "protocol_spec" / "tools" / "verify_independent.py"
    return subprocess.run([sys.executable, str(tool), "--vectors", str(vectors)], capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_independent_verifier_rederives_the_encoding_vectors():
    out = _verify_independent(ROOT / "protocol_spec" / "vectors").stdout
    line = next(x for x in out.splitlines() if x.startswith("encoding.json:"))
    assert int(line.split()[1]) > 60 and line.endswith(" 0 failed")


def _flip_hex(text: str, at: int) -> str:
    return text[:at] + ("0" if text[at] != "0" else "1") + text[at + 1 :]


@pytest.mark.parametrize(
    "entry, field, expected",
    [
        ("encode-bits16-mixed", "rounding_key", "encode-bits16-mixed rounding_stream"),
        ("encode-bits20-long", "codes", "encode-bits20-long codes"),
        # the top byte of the hand-picked word: u drops just below f, so the code turns to ceil(y)
        ("round-binary64-fraction-rounding", "rounding_stream", "round-binary64-fraction-rounding codes"),
        ("sum-5-clients-bits-planned", "rounding_keys", "sum-5-clients-bits-planned total"),
    ],
)
def test_the_independent_verifier_reports_a_changed_encoding_vector(tmp_path, entry, field, expected):
    shutil.copytree(ROOT / "protocol_spec" / "vectors", tmp_path, dirs_exist_ok=True)
    data = json.loads((tmp_path / "encoding.json").read_text())
    vector = next(v for family in ("generate", "verify") for v in data[family] if v["id"] == entry)
    value = vector[field]
    if field == "codes":
        vector[field] = [value[0] + 1, *value[1:]]
    elif field == "rounding_keys":
        vector[field] = [_flip_hex(value[0], 0), *value[1:]]
    elif field == "rounding_stream":
        vector[field] = value[:15] + "e" + value[16:]  # byte 7 of word 0: 0xbf -> 0xbe
    else:
        vector[field] = _flip_hex(value, 0)
    (tmp_path / "encoding.json").write_text(json.dumps(data))
    result = _verify_independent(tmp_path)
    assert result.returncode == 1
    assert f"MISMATCH encoding/{expected}" in result.stdout


def params_list(family: str) -> list[dict]:
    return json.loads((ROOT / "protocol_spec" / "vectors" / "encoding.json").read_text())[family]
