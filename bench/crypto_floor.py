"""What share of a SecAgg+ round is the cryptography itself (X25519 agreements, AES-CTR keystream)?

One serial round (:func:`secagg.secure_sum`, every client in this process,
10% of the clients dropping, spread over ShareKeys, MaskedInput and
Unmasking) is run with two counters installed: every X25519 agreement
(:func:`secagg.primitives.kex.agree`) and every AES-CTR mask PRG with the bytes
it is keyed for (:class:`secagg.primitives.prg.AESCTRPrg`). In the same run,
side by side, the two primitives are timed alone through ``cryptography``: one
agreement (median of 2,000) and AES-256-CTR over 64 MiB of zeros. The floor is
``agreements x t_agree + keystream bytes / AES throughput``; the share is the
floor over the whole round. On a shared machine all three are slowed alike,
which is why they are measured in one run.

Run: ``.venv/bin/python bench/crypto_floor.py [--clients 1000] [--dim 100000]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))

from bench.round_scaling import BITS, inputs, schedule  # noqa: E402
from secagg.driver import secure_sum  # noqa: E402
from secagg.primitives import kex, prg, words  # noqa: E402


def agreement_seconds(samples: int = 2000) -> float:
    """Median seconds of one X25519 agreement (raw ``cryptography``)."""
    a, b = X25519PrivateKey.generate(), X25519PrivateKey.generate().public_key()
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        a.exchange(b)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def aes_ctr_bytes_per_second(total: int = 64 * 2**20) -> float:
    """AES-256-CTR keystream throughput (bytes/s) over ``total`` zero bytes, in 1 MiB calls."""
    enc = Cipher(algorithms.AES(bytes(32)), modes.CTR(bytes(16))).encryptor()
    zeros = bytes(2**20)
    t0 = time.perf_counter()
    for _ in range(total // len(zeros)):
        enc.update(zeros)
    return total / (time.perf_counter() - t0)


def measure(n: int, d: int, dropout: float = 0.1) -> dict:
    """One counted round plus the two primitive timings, side by side."""
    counts = {"agree": 0, "keystream_bytes": 0}
    agree, prg_init = kex.agree, prg.AESCTRPrg.__init__

    def counted_agree(*args, **kwargs):
        counts["agree"] += 1
        return agree(*args, **kwargs)

    def counted_init(self, seed, *, session_id, length, bits):
        counts["keystream_bytes"] += length * words.word_bytes(bits)
        prg_init(self, seed, session_id=session_id, length=length, bits=bits)

    vectors = inputs(n, d, seed=n)
    dropouts = schedule(n, dropout)
    kex.agree, prg.AESCTRPrg.__init__ = counted_agree, counted_init
    try:
        t0 = time.perf_counter()
        result = secure_sum(vectors, bits=BITS, dropouts=dropouts, dropout_rate=dropout)
        whole = time.perf_counter() - t0
    finally:
        kex.agree, prg.AESCTRPrg.__init__ = agree, prg_init
    t_agree = agreement_seconds()
    aes = aes_ctr_bytes_per_second()
    floor_x25519 = counts["agree"] * t_agree
    floor_aes = counts["keystream_bytes"] / aes
    return dict(
        n=n, d=d, k=result.stats.extra["neighbors"], whole=whole, agreements=counts["agree"], t_agree=t_agree,
        keystream_bytes=counts["keystream_bytes"], aes_bytes_per_s=aes, x25519=floor_x25519, aes=floor_aes,
        share=(floor_x25519 + floor_aes) / whole,
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=100_000)
    args = ap.parse_args(argv)
    r = measure(args.clients, args.dim)
    print(f"n = {r['n']}, d = {r['d']}, k = {r['k']}, 10% dropout, serial: round {r['whole']:.2f} s")
    print(f"X25519: {r['agreements']} agreements x {r['t_agree'] * 1e6:.1f} us = {r['x25519']:.2f} s")
    print(f"AES-CTR: {r['keystream_bytes'] / 2**20:.0f} MiB keystream at {r['aes_bytes_per_s'] / 2**30:.2f} GiB/s "
          f"= {r['aes']:.2f} s")
    print(f"cryptographic floor: {r['x25519'] + r['aes']:.2f} s = {100 * r['share']:.0f}% of the round")


if __name__ == "__main__":
    main()
