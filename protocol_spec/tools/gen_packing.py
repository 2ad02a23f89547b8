"""Vectors for the bit packing of chapter 16 (little-endian bit stream).

``generate``: words + bits -> packed hex, computed with the library's
:func:`secagg.primitives.packing.pack` and cross-checked against one Python
integer ``sum_i words[i] << (i*bits)`` written out little-endian.
``verify``: extreme vectors (all zero, all ``2**bits - 1``) that must decode to
the listed words and re-encode to the same bytes.
``invalid``: packed bytes that ``unpack`` must reject with ``ValueError``
(wrong length, non-zero padding bits).
"""

from __future__ import annotations

import numpy as np
from detrandom import DeterministicRandom

from secagg.primitives.packing import pack
from secagg.primitives.words import word_dtype

CASES = [
    (1, 1), (1, 9), (3, 5), (4, 3), (5, 10), (7, 8), (8, 4), (12, 5), (13, 7),
    (16, 3), (20, 9), (24, 5), (25, 3), (31, 4), (32, 3), (33, 3), (40, 2),
    (48, 3), (57, 2), (58, 3), (61, 5), (62, 4),
]


def _int_pack(words: list[int], bits: int) -> bytes:
    value = sum(w << (i * bits) for i, w in enumerate(words))
    return value.to_bytes((len(words) * bits + 7) // 8, "little")


def _entry(ident: str, bits: int, words: list[int]) -> dict:
    packed = pack(np.array(words, dtype=word_dtype(bits)), bits)
    if packed != _int_pack(words, bits):
        raise AssertionError(f"{ident}: library and integer packing disagree")
    return {"id": ident, "bits": bits, "length": len(words), "words": words, "packed": packed.hex()}


def generate() -> dict:
    rnd = DeterministicRandom(b"gen_packing")
    gen = [_entry("worked-example-bits4", 4, [1, 2, 3]), _entry("worked-example-bits10", 10, [1, 1023, 512])]
    for bits, length in CASES:
        words = [int.from_bytes(rnd.token_bytes(8), "little") % (1 << bits) for _ in range(length)]
        gen.append(_entry(f"random-bits{bits}-len{length}", bits, words))
    verify = []
    for bits, length in [(1, 3), (7, 3), (24, 2), (32, 2), (33, 3), (62, 3)]:
        verify.append(_entry(f"all-ones-bits{bits}-len{length}", bits, [(1 << bits) - 1] * length))
        verify.append(_entry(f"all-zero-bits{bits}-len{length}", bits, [0] * length))
    invalid = []
    for bits, length in [(3, 5), (12, 5), (20, 9), (24, 5), (62, 4)]:
        good = _int_pack([(1 << bits) - 1] * length, bits)
        invalid.append({"id": f"one-byte-short-bits{bits}-len{length}", "bits": bits, "length": length,
                        "packed": good[:-1].hex(), "error": "ValueError"})
        invalid.append({"id": f"one-byte-long-bits{bits}-len{length}", "bits": bits, "length": length,
                        "packed": (good + b"\x00").hex(), "error": "ValueError"})
        used = (length * bits) % 8
        if used:
            bad = good[:-1] + bytes([good[-1] | (1 << used)])
            invalid.append({"id": f"padding-bit-set-bits{bits}-len{length}", "bits": bits, "length": length,
                            "packed": bad.hex(), "error": "ValueError"})
            top = good[:-1] + bytes([good[-1] | 0x80])
            invalid.append({"id": f"top-padding-bit-set-bits{bits}-len{length}", "bits": bits,
                            "length": length, "packed": top.hex(), "error": "ValueError"})
    invalid.append({"id": "empty-for-one-word", "bits": 8, "length": 1, "packed": "", "error": "ValueError"})
    return {
        "name": "packing",
        "version": 1,
        "source": "protocol_spec/tools/gen_packing.py: secagg.primitives.packing.pack cross-checked "
        "against a Python-integer little-endian bit stream; random words from "
        "DeterministicRandom(b'gen_packing') reduced mod 2**bits",
        "generate": gen,
        "verify": verify,
        "invalid": invalid,
    }
