"""Vectors for the fixed-point encoding and the bit budget (chapter 14).

``generate`` has four kinds:

* ``kind = "plan"``: ``n_clients``, ``clip``, ``precision``, ``max_bits`` ->
  ``bits``, ``scale`` and ``max_code``; cross-checked against a search with
  exact rationals (smallest ``e`` with ``2**-e <= precision``, smallest
  ``bits`` with ``n * (max_code + 1) < 2**(bits-1)``).
* ``kind = "encode"``: ``clip``, ``scale``, ``bits``, the inputs ``x`` and
  the ``rounding_key`` the encoder drew (hex, 32 bytes) -> its AES-256-CTR
  ``rounding_stream`` (hex, 8 bytes per coordinate, the intermediate value),
  the integer ``codes`` and the ``words`` (``codes mod 2**bits``);
  cross-checked against pyca's AES-256-CTR and a per-coordinate evaluation in
  plain Python floats following the chapter's binary64 formulas. Tests replay
  the key through a source that returns those 32 bytes.
* ``kind = "round"``: as ``encode`` but with the ``rounding_stream`` given
  directly and no key (no key can be chosen to give a wanted word): the one
  entry hand-picks the stream to hit the case where ``y - floor(y)`` is
  rounded (``-0.5 < y < 0``).
* ``kind = "decode"``: ``bits``, ``scale`` and ``words`` (for example the sum
  mod ``2**bits`` of several encodings) -> the real ``values``.

``verify``: a whole sum: the ``inputs`` of ``n_clients`` clients encoded under
``plan_bits(n_clients, clip, precision)`` with the recorded
``rounding_keys`` (one per client), summed mod ``2**bits`` into ``total``,
which must decode to ``decoded``, within ``n_clients / scale`` of the sum of
the clamped inputs.

``invalid``: ``operation = "plan"`` with budgets beyond ``max_bits``
(``BitBudgetError``) or bad arguments (``ValueError``); ``operation =
"encoder"`` where one encoding does not fit (``BitBudgetError``);
``operation = "encode"`` with NaN or an infinity (``ValueError``);
``operation = "decode"`` with a word ``>= 2**bits`` (``ValueError``).

Reals are JSON numbers (Python ``repr``, which round-trips float64 exactly);
in ``x`` the strings ``"nan"``, ``"inf"`` and ``"-inf"`` stand for the
special values.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from detrandom import DeterministicRandom

from secagg.primitives.encoding import FixedPointEncoder, plan_bits


class _Recorder:
    """Pass a source through and keep every byte it returned."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.data = bytearray()

    def token_bytes(self, n: int) -> bytes:
        out = self.inner.token_bytes(n)
        self.data += out
        return out


def _plan_entry(ident: str, n: int, clip: float, precision: float, max_bits: int = 62) -> dict:
    plan = plan_bits(n_clients=n, clip=clip, precision=precision, max_bits=max_bits)
    e = -2000
    while Fraction(2) ** -e > Fraction(precision):
        e += 1
    max_code = math.ceil(Fraction(clip) * Fraction(2) ** e)
    bits = 1
    while n * (max_code + 1) >= 2 ** (bits - 1):
        bits += 1
    if (plan.bits, Fraction(plan.scale), plan.max_code) != (bits, Fraction(2) ** e, max_code):
        raise AssertionError(f"{ident}: library plan and rational search disagree")
    return {"id": ident, "kind": "plan", "n_clients": n, "clip": clip, "precision": precision,
            "max_bits": max_bits, "bits": plan.bits, "scale": plan.scale, "max_code": max_code}


def _keystream(key: bytes, nbytes: int) -> bytes:
    """Chapter 15 step 2 (zero IV, big-endian 128-bit counter from 0) with pyca's AES-256-CTR."""
    return Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update(bytes(nbytes))


def _spec_codes(x: list[float], clip: float, scale: float, stream: bytes) -> list[int]:
    """Chapter 14 per coordinate in Python floats (binary64, like the spec), no NumPy."""
    codes = []
    for i, xi in enumerate(x):
        y = min(max(xi, -clip), clip) * scale
        low = math.floor(y)
        frac = y - low  # binary64 subtraction: inexact only for -0.5 < y < 0
        u = (int.from_bytes(stream[8 * i : 8 * i + 8], "little") >> 11) * 2.0**-53
        codes.append(low + (1 if u < frac else 0))
    return codes


class _Stream:
    """Recorded rounding-stream bytes in the ``read_into(zeros, out)`` shape of a keystream."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read_into(self, zeros, out) -> None:
        n = len(zeros)
        if self.pos + n > len(self.data):
            raise AssertionError(f"asked for {n} stream bytes, {len(self.data) - self.pos} left")
        out[:n] = np.frombuffer(self.data, dtype=np.uint8, count=n, offset=self.pos)
        self.pos += n


def _encode_entry(ident: str, clip: float, scale: float, bits: int, x: list[float]) -> dict:
    rec = _Recorder(DeterministicRandom(b"secagg/vectors/encoding/" + ident.encode()))
    words = FixedPointEncoder(clip=clip, scale=scale, bits=bits).encode(np.array(x, dtype=np.float64), random=rec)
    key = bytes(rec.data)
    if len(key) != 32:
        raise AssertionError(f"{ident}: the encoder drew {len(key)} bytes, not one 32-byte key")
    stream = _keystream(key, 8 * len(x))
    codes = _spec_codes(x, clip, scale, stream)
    if [int(w) for w in words] != [c % 2**bits for c in codes]:
        raise AssertionError(f"{ident}: library and plain-float encoding disagree")
    return {"id": ident, "kind": "encode", "clip": clip, "scale": scale, "bits": bits, "x": x,
            "rounding_key": key.hex(), "rounding_stream": stream.hex(), "codes": codes,
            "words": [int(w) for w in words]}


def _round_entry(ident: str, clip: float, scale: float, bits: int, x: list[float], stream: bytes) -> dict:
    enc = FixedPointEncoder(clip=clip, scale=scale, bits=bits)
    words = enc._encode_from(np.array(x, dtype=np.float64), _Stream(stream))
    codes = _spec_codes(x, clip, scale, stream)
    if [int(w) for w in words] != [c % 2**bits for c in codes]:
        raise AssertionError(f"{ident}: library and plain-float rounding disagree")
    return {"id": ident, "kind": "round", "clip": clip, "scale": scale, "bits": bits, "x": x,
            "rounding_stream": stream.hex(), "codes": codes, "words": [int(w) for w in words]}


def _decode_entry(ident: str, bits: int, scale: float, words: list[int]) -> dict:
    values = FixedPointEncoder(clip=1.0, scale=scale, bits=bits).decode(np.array(words, dtype=np.uint64))
    half = 2 ** (bits - 1)
    expected = [float(Fraction(w - 2**bits if w >= half else w) / Fraction(scale)) for w in words]
    if values.tolist() != expected:
        raise AssertionError(f"{ident}: library and rational decoding disagree")
    return {"id": ident, "kind": "decode", "bits": bits, "scale": scale, "words": words, "values": expected}


def _sum_entry(ident: str, n: int, clip: float, precision: float, dim: int) -> dict:
    rnd = DeterministicRandom(b"secagg/vectors/encoding/inputs/" + ident.encode())
    plan = plan_bits(n_clients=n, clip=clip, precision=precision)
    enc = FixedPointEncoder.from_plan(plan)
    inputs, keys = [], []
    total = np.zeros(dim, dtype=np.uint64)
    for _ in range(n):
        raw = np.frombuffer(rnd.token_bytes(8 * dim), dtype="<u8")
        # Inputs in [-1.5 clip, 1.5 clip) so that some are clamped; multiples of 2**-20.
        x = ((raw >> np.uint64(44)).astype(np.float64) / 2**20 * 3.0 - 1.5) * clip
        rec = _Recorder(rnd)
        words = enc.encode(x, random=rec)
        codes = _spec_codes(x.tolist(), clip, plan.scale, _keystream(bytes(rec.data), 8 * dim))
        if [int(w) for w in words] != [c % 2**plan.bits for c in codes]:
            raise AssertionError(f"{ident}: library and plain-float encoding disagree")
        total = (total + words.astype(np.uint64)) & np.uint64(2**plan.bits - 1)
        inputs.append(x.tolist())
        keys.append(bytes(rec.data).hex())
    decoded = enc.decode(total)
    exact = np.clip(np.array(inputs), -clip, clip).sum(axis=0)
    if not (np.abs(decoded - exact) < n / plan.scale).all():
        raise AssertionError(f"{ident}: decoded sum outside the n/scale bound")
    return {"id": ident, "n_clients": n, "clip": clip, "precision": precision, "bits": plan.bits,
            "scale": plan.scale, "inputs": inputs, "rounding_keys": keys, "total": [int(t) for t in total],
            "decoded": decoded.tolist()}


def generate() -> dict:
    edge = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, -1.5, 1e300, -1e300, 5e-324, -5e-324]
    gen = [
        _plan_entry("plan-worked-example", 1000, 1.0, 1e-4),
        _plan_entry("plan-one-client-unit-step", 1, 1.0, 1.0),
        _plan_entry("plan-precision-power-of-two", 2, 1.0, 0.5),
        _plan_entry("plan-precision-just-below-power-of-two", 2, 1.0, math.nextafter(0.5, 0.0)),
        _plan_entry("plan-small-clip", 100, 0.01, 1e-6),
        _plan_entry("plan-ten-thousand-clients", 10_000, 10.0, 1e-3),
        _plan_entry("plan-million-clients", 1_000_000, 1.0, 2.0**-20),
        _plan_entry("plan-precision-coarser-than-clip", 3, 0.001, 100.0),
        _plan_entry("plan-largest-fitting", 1_000_000, 1000.0, 1e-9),
        _plan_entry("plan-max-bits-32", 1000, 1.0, 1e-4, 32),
        _encode_entry("encode-bits16-mixed", 2.0, 1024.0, 16, [-1.3, -2.5, 0.0001, -0.0001, 2.0, 0.7, 3.14159]),
        _encode_entry("encode-bits8-edges", 1.0, 32.0, 8, edge),
        _encode_entry("encode-bits32-fractions", 10.0, 2.0**20, 32, [1 / 3, -1 / 3, 2 / 3, -2 / 3, 9.999999, -10.0]),
        _encode_entry("encode-bits33", 1.0, 2.0**30, 33, [0.1, -0.1, 0.999999999, -0.999999999]),
        _encode_entry("encode-bits62", 1000.0, 2.0**40, 62, [123.456, -999.999, 1e-12, -1e-12, 1000.0, -1000.0]),
        _encode_entry("encode-scale-below-one", 100.0, 0.125, 8, [7.0, -7.0, 99.0, -99.0, 0.0]),
        _encode_entry("encode-empty", 1.0, 4.0, 8, []),
        _encode_entry("encode-bits20-long", 4.0, 2.0**16, 20, [((i * 7919) % 2001 - 1000) / 200.0 for i in range(40)]),
        # y = -1/4 - 3*2**-54: binary64 gives y - floor(y) = 3/4 - 2**-52 (the exact fraction is
        # 3/4 - 1.5*2**-53) and u is chosen equal to it, so the spec's code is floor(y) = -1.
        _round_entry(
            "round-binary64-fraction-rounding", 1.0, 1.0, 8, [-0.25 - 3 * 2.0**-54, 0.5],
            ((3 << 51) - 2 << 11).to_bytes(8, "little") + (1 << 63).to_bytes(8, "little"),
        ),
        _decode_entry("decode-bits8", 8, 32.0, [0, 1, 127, 128, 129, 255]),
        _decode_entry("decode-bits32", 32, 2.0**20, [0, 2**31 - 1, 2**31, 2**32 - 1]),
        _decode_entry("decode-bits62", 62, 2.0**40, [0, 2**61 - 1, 2**61, 2**62 - 1, 12345678901234]),
    ]
    verify = [
        _sum_entry("sum-5-clients-bits-planned", 5, 1.0, 1e-3, 6),
        _sum_entry("sum-12-clients-fine", 12, 0.25, 2.0**-30, 4),
        _sum_entry("sum-3-clients-coarse", 3, 8.0, 0.5, 5),
    ]
    invalid = [
        {"id": "plan-million-clients-clip-1e4", "operation": "plan", "n_clients": 1_000_000, "clip": 1e4,
         "precision": 1e-9, "max_bits": 62, "error": "BitBudgetError"},
        {"id": "plan-worked-example-max-24", "operation": "plan", "n_clients": 1000, "clip": 1.0,
         "precision": 1e-4, "max_bits": 24, "error": "BitBudgetError"},
        {"id": "plan-2-pow-61-clients", "operation": "plan", "n_clients": 2**61, "clip": 1.0, "precision": 1.0,
         "max_bits": 62, "error": "BitBudgetError"},
        {"id": "plan-tiny-precision", "operation": "plan", "n_clients": 2, "clip": 1.0, "precision": 1e-300,
         "max_bits": 62, "error": "BitBudgetError"},
        {"id": "plan-zero-clients", "operation": "plan", "n_clients": 0, "clip": 1.0, "precision": 1e-3,
         "max_bits": 62, "error": "ValueError"},
        {"id": "plan-zero-precision", "operation": "plan", "n_clients": 2, "clip": 1.0, "precision": 0.0,
         "max_bits": 62, "error": "ValueError"},
        {"id": "plan-negative-clip", "operation": "plan", "n_clients": 2, "clip": -1.0, "precision": 1e-3,
         "max_bits": 62, "error": "ValueError"},
        {"id": "plan-max-bits-63", "operation": "plan", "n_clients": 2, "clip": 1.0, "precision": 1e-3,
         "max_bits": 63, "error": "ValueError"},
        {"id": "encoder-one-encoding-does-not-fit", "operation": "encoder", "clip": 1.0, "scale": 1024.0,
         "bits": 11, "error": "BitBudgetError"},
        {"id": "encoder-bits-zero", "operation": "encoder", "clip": 1.0, "scale": 1.0, "bits": 0,
         "error": "ValueError"},
        {"id": "decode-word-equal-to-modulus", "operation": "decode", "clip": 1.0, "scale": 32.0, "bits": 8,
         "words": [0, 256], "error": "ValueError"},
    ]
    for name in ("nan", "inf", "-inf"):
        invalid.append({"id": f"encode-{name}", "operation": "encode", "clip": 1.0, "scale": 32.0, "bits": 8,
                        "x": [0.5, name, -0.5], "error": "ValueError"})
    return {
        "name": "encoding",
        "version": 1,
        "source": "protocol_spec/tools/gen_encoding.py: secagg.primitives.encoding with "
        "DeterministicRandom(b'secagg/vectors/encoding/' + id) (the 32-byte rounding key drawn recorded in "
        "'rounding_key', its AES-256-CTR stream in 'rounding_stream'), cross-checked against pyca's AES-CTR, "
        "plain Python binary64 arithmetic and exact rationals (fractions.Fraction)",
        "generate": gen,
        "verify": verify,
        "invalid": invalid,
    }
