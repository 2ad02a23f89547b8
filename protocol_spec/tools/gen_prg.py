"""Vectors for the AES-256-CTR mask PRG (:mod:`secagg.primitives.prg`).

* generate: for fixed (seed, session_id, length, bits): the HKDF ``info``
  bytes, the derived AES key, and a window of the output starting at word
  ``offset``: the raw keystream bytes and the mask words (JSON integers; the
  62-bit ones need a big-integer JSON reader). Bit widths 1, 16, 20, 24, 32,
  33, 40 and 62; lengths from 1 to MAX_LENGTH.
* verify: NIST SP 800-38A appendix F.5.5 (CTR-AES256.Encrypt), copied from
  the standard: it fixes the counter convention (the whole 16-byte counter
  block is one big-endian integer incremented per block).
* invalid: length 0 or above MAX_LENGTH, bits 0 or 63, seeds and session ids
  of the wrong size (``ValueError``); reading past the cap
  (``PrgLimitExceeded``).
"""

from __future__ import annotations

import numpy as np
from detrandom import DeterministicRandom

from secagg.primitives.prg import MAX_LENGTH, PRG_LABEL, AESCTRPrg, expand_mask, prg_key
from secagg.primitives.words import word_bytes

# (length, bits, offset, count); offset/count select the window of words stored.
_CASES = [
    (4, 20, 0, 4),
    (64, 1, 0, 64),
    (16, 20, 0, 16),
    (8, 32, 0, 8),
    (8, 33, 0, 8),
    (8, 62, 0, 8),
    (5, 24, 0, 5),
    (1, 40, 0, 1),
    (1000, 16, 990, 10),
    (1001, 62, 996, 5),
    (MAX_LENGTH, 20, 0, 8),
    (MAX_LENGTH, 62, 0, 8),
]

# NIST SP 800-38A, appendix F.5.5, CTR-AES256.Encrypt.
_NIST_F55 = {
    "id": "nist-sp800-38a-f.5.5-ctr-aes256",
    "key": "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
    "initial_counter": "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
    "plaintext": "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
    "ciphertext": "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
    "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6",
}


def _window(seed: bytes, session_id: bytes, length: int, bits: int, offset: int, count: int):
    w = word_bytes(bits)
    prg = AESCTRPrg(seed, session_id=session_id, length=length, bits=bits)
    if offset:
        skip = np.zeros(offset * w, dtype=np.uint8)
        prg.keystream_into(skip, np.empty_like(skip))
    raw = np.empty(count * w, dtype=np.uint8)
    prg.keystream_into(np.zeros(count * w, dtype=np.uint8), raw)
    words = AESCTRPrg(seed, session_id=session_id, length=length, bits=bits)
    if offset:
        words.words(offset)
    window = words.words(count)
    whole = expand_mask(seed, session_id=session_id, length=length, bits=bits) if length <= 4096 else None
    if whole is not None and not np.array_equal(window, whole[offset : offset + count]):
        raise AssertionError("chunked and whole PRG output differ")  # pragma: no cover - a library bug
    return raw.tobytes(), [int(x) for x in window]


def generate() -> dict:
    random = DeterministicRandom(b"secagg/vectors/prg")
    gen = []
    for i, (length, bits, offset, count) in enumerate(_CASES):
        if i == 0:
            seed, session_id = bytes(32), bytes(32)
        else:
            seed, session_id = random.token_bytes(32), random.token_bytes(32)
        keystream, words = _window(seed, session_id, length, bits, offset, count)
        info = PRG_LABEL + b"\x00" + length.to_bytes(8, "little") + bits.to_bytes(1, "little")
        gen.append(
            {
                "id": f"prg-{i}-length-{length}-bits-{bits}-offset-{offset}",
                "seed": seed.hex(),
                "session_id": session_id.hex(),
                "length": length,
                "bits": bits,
                "info": info.hex(),
                "key": prg_key(seed, session_id=session_id, length=length, bits=bits).hex(),
                "offset": offset,
                "keystream": keystream.hex(),
                "words": words,
            }
        )

    seed, session_id = "33" * 32, "44" * 32
    invalid = []

    def bad(ident: str, error: str, **fields) -> None:
        entry = {"id": ident, "operation": "expand_mask", "seed": seed, "session_id": session_id}
        entry.update(length=4, bits=20)
        entry.update(fields)
        entry["error"] = error
        invalid.append(entry)

    bad("length-0", "ValueError", length=0)
    bad("length-negative", "ValueError", length=-1)
    bad("length-above-max", "ValueError", length=MAX_LENGTH + 1)
    bad("bits-0", "ValueError", bits=0)
    bad("bits-63", "ValueError", bits=63)
    bad("bits-64", "ValueError", bits=64)
    bad("seed-31-bytes", "ValueError", seed="33" * 31)
    bad("seed-33-bytes", "ValueError", seed="33" * 33)
    bad("seed-empty", "ValueError", seed="")
    bad("session-id-31-bytes", "ValueError", session_id="44" * 31)
    bad("session-id-33-bytes", "ValueError", session_id="44" * 33)
    bad("read-past-cap-one-word", "PrgLimitExceeded", operation="read", length=4, bits=20, reads=[4, 1])
    bad("read-past-cap-at-once", "PrgLimitExceeded", operation="read", length=4, bits=40, reads=[5])
    bad("read-past-cap-in-chunks", "PrgLimitExceeded", operation="read", length=3, bits=1, reads=[2, 2])
    bad("read-past-cap-after-exact", "PrgLimitExceeded", operation="read", length=7, bits=62, reads=[7, 1])
    return {
        "name": "prg",
        "version": 1,
        "source": "protocol_spec/tools/gen_prg.py (library output from fixed inputs), re-verified by "
        "protocol_spec/tools/verify_independent.py; verify entry copied from NIST SP 800-38A F.5.5",
        "generate": gen,
        "verify": [{"kind": "aes256-ctr", **_NIST_F55}],
        "invalid": invalid,
    }
