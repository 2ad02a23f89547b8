"""Client masking: fused ``add_masks`` versus the raw AES-256-CTR keystream.

For d words of 32 bits and k pairwise neighbours, a client expands k + 1 masks
(self + k pairwise), i.e. (k+1) * d * 4 keystream bytes. The floor is the
AES-CTR rate of ``cryptography``; the baselines produce exactly that many bytes
with one encryptor and reused zero/out buffers, both as one whole-buffer
``update_into`` and in chunks of ``CHUNK_BYTES`` (the same chunking as ours),
and once through the masks' own engine (``prg.Keystream``, the same bytes from
OpenSSL's GCM stream, about twice a CTR context's rate with VAES): that one is
the floor ``add_masks`` is held to.
``naive`` expands each mask in full with ``expand_mask`` and adds it with NumPy.

Run: ``.venv/bin/python -m pytest bench/test_masking.py --benchmark-min-rounds=5 -q``
"""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from secagg.primitives.masking import CHUNK_BYTES, add_masks
from secagg.primitives.prg import Keystream, expand_mask

BITS = 32
SESSION_ID = bytes(range(32))
CASES = [(d, k) for d in (10_000, 100_000, 1_000_000) for k in (8, 32)]


def _seeds(k: int) -> tuple[list[bytes], list[int]]:
    seeds = [bytes([i + 1]) * 32 for i in range(k + 1)]
    signs = [1] + [1 if i % 2 else -1 for i in range(k)]
    return seeds, signs


def _case_id(case):
    d, k = case
    return f"d={d:.0e}-k={k}"


@pytest.fixture(params=CASES, ids=_case_id)
def case(request):
    return request.param


def test_add_masks(benchmark, case):
    d, k = case
    benchmark.group = f"mask d={d:.0e} k={k}"
    seeds, signs = _seeds(k)
    acc = np.zeros(d, dtype=np.uint32)
    add_masks(acc, seeds, signs, session_id=SESSION_ID, bits=BITS)  # warm-up (JIT / cache load)
    benchmark(add_masks, acc, seeds, signs, session_id=SESSION_ID, bits=BITS)


def test_keystream_whole_buffer(benchmark, case):
    d, k = case
    benchmark.group = f"mask d={d:.0e} k={k}"
    nbytes = (k + 1) * d * 4
    encryptor = Cipher(algorithms.AES(bytes(32)), modes.CTR(bytes(16))).encryptor()
    zeros = np.zeros(nbytes, dtype=np.uint8)
    out = np.empty(nbytes, dtype=np.uint8)
    encryptor.update_into(zeros, out)
    benchmark(encryptor.update_into, zeros, out)


def test_keystream_engine_whole_buffer(benchmark, case):
    """The same bytes through the masks' own engine (``prg.Keystream``: OpenSSL's GCM stream), one buffer."""
    d, k = case
    benchmark.group = f"mask d={d:.0e} k={k}"
    nbytes = (k + 1) * d * 4
    stream = Keystream(bytes(32))
    zeros = np.zeros(nbytes, dtype=np.uint8)
    out = np.empty(nbytes, dtype=np.uint8)
    stream.read_into(zeros[:32], out[:32])  # past the CTR head: every timed call is the bulk engine
    benchmark(stream.read_into, zeros, out)


def test_keystream_chunked(benchmark, case):
    d, k = case
    benchmark.group = f"mask d={d:.0e} k={k}"
    nbytes = (k + 1) * d * 4
    chunk = min(CHUNK_BYTES, nbytes)
    encryptor = Cipher(algorithms.AES(bytes(32)), modes.CTR(bytes(16))).encryptor()
    zeros = np.zeros(chunk, dtype=np.uint8)
    out = np.empty(chunk, dtype=np.uint8)
    full, tail = divmod(nbytes, chunk)
    zt, ot = zeros[:tail], out[:tail]
    update = encryptor.update_into

    def run():
        for _ in range(full):
            update(zeros, out)
        if tail:
            update(zt, ot)

    run()
    benchmark(run)


def test_naive_expand_then_numpy_add(benchmark, case):
    d, k = case
    benchmark.group = f"mask d={d:.0e} k={k}"
    seeds, signs = _seeds(k)
    acc = np.zeros(d, dtype=np.uint32)

    def run():
        for seed, sign in zip(seeds, signs):
            mask = expand_mask(seed, session_id=SESSION_ID, length=d, bits=BITS)
            if sign > 0:
                acc.__iadd__(mask)
            else:
                acc.__isub__(mask)

    benchmark(run)
