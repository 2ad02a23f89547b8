"""What share of a SecAgg+ round is the cryptography itself (X25519 agreements, AES-CTR keystream, HKDF)?

One serial round (:func:`secagg.secure_sum`, every client in this process,
10% of the clients dropping, spread over ShareKeys, MaskedInput and
Unmasking) is run with three counters installed: every X25519 agreement
(:func:`secagg.primitives.kex.agree`, and ``kex._agree_derive``, through which the
clients' pair keys go), every AES-CTR mask PRG with the bytes
it is keyed for (``prg._mask_keystreams``, which keys every mask's keystream), and
every HKDF derivation (those PRG keys plus :func:`secagg.primitives.kex.derive_key`).
In the same run, side by side, the primitives are timed alone: one agreement
through ``cryptography`` (median of 2,000), AES-256-CTR keystream over 64 MiB
of zeros in 1 MiB calls through the fastest engine ``cryptography`` offers
(the masks' own, :class:`secagg.primitives.prg.Keystream`; a plain CTR
context's rate is printed beside it), and one 32-byte HKDF-SHA256 (:func:`secagg.primitives.hkdf.hkdf_sha256`,
median of 20,000). The floor is ``agreements x t_agree + keystream bytes /
AES throughput + derivations x t_hkdf``; the share is the floor over the whole
round. On a shared machine all are slowed alike, which is why they are
measured in one run; ``--repeats`` takes the median round.

Run: ``.venv/bin/python bench/crypto_floor.py [--clients 1000] [--dim 100000] [--repeats 3]``
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
from secagg.primitives import kex, prg  # noqa: E402
from secagg.primitives.hkdf import hkdf_sha256  # noqa: E402


def agreement_seconds(samples: int = 2000) -> float:
    """Median seconds of one X25519 agreement (raw ``cryptography``)."""
    a, b = X25519PrivateKey.generate(), X25519PrivateKey.generate().public_key()
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        a.exchange(b)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def aes_ctr_bytes_per_second(total: int = 64 * 2**20, *, engine: str = "gcm") -> float:
    """AES-256-CTR keystream throughput (bytes/s) over ``total`` zero bytes, in 1 MiB calls.

    ``engine="gcm"`` reads the keystream through :class:`secagg.primitives.prg.Keystream`
    (OpenSSL's GCM encryption stream, the fastest way ``cryptography`` has to make these
    bytes, and the one the masks use); ``engine="ctr"`` through a plain CTR context.
    """
    zeros, out = bytearray(2**20), bytearray(2**20)
    if engine == "gcm":
        stream = prg.Keystream(bytes(32))
        stream.read_into(zeros, out)  # past the two CTR head blocks, so every timed call is the bulk engine
        update = stream.read_into
    else:
        update = Cipher(algorithms.AES(bytes(32)), modes.CTR(bytes(16))).encryptor().update_into
    t0 = time.perf_counter()
    for _ in range(total // len(zeros)):
        update(zeros, out)
    return total / (time.perf_counter() - t0)


def hkdf_seconds(samples: int = 20000) -> float:
    """Median seconds of one 32-byte HKDF-SHA256 derivation (timed in blocks of 100)."""
    ikm, salt, info = bytes(32), bytes(range(32)), b"secagg/v1/mask-seed\x00" + bytes(9)
    times = []
    for _ in range(samples // 100):
        t0 = time.perf_counter()
        for _ in range(100):
            hkdf_sha256(ikm, salt=salt, info=info)
        times.append((time.perf_counter() - t0) / 100)
    return statistics.median(times)


def measure(n: int, d: int, dropout: float = 0.1, repeats: int = 1) -> dict:
    """``repeats`` counted rounds (median time) plus the primitive timings, side by side."""
    counts = {"agree": 0, "keystream_bytes": 0, "hkdf": 0}
    agree, derive, streams, pair = kex.agree, kex.derive_key, prg._mask_keystreams, kex._agree_derive

    def counted_agree(*args, **kwargs):
        counts["agree"] += 1
        return agree(*args, **kwargs)

    def counted_derive(*args, **kwargs):
        counts["hkdf"] += 1
        return derive(*args, **kwargs)

    def counted_pair(*args, **kwargs):  # the clients' pair keys: one agreement and one derivation each
        counts["agree"] += 1
        counts["hkdf"] += 1
        return pair(*args, **kwargs)

    def counted_streams(seeds, session_id, length, bits):
        counts["keystream_bytes"] += len(seeds) * length * (4 if bits <= 32 else 8)
        counts["hkdf"] += len(seeds)  # one PRG key per seed
        return streams(seeds, session_id, length, bits)

    vectors = inputs(n, d, seed=n)
    dropouts = schedule(n, dropout)
    times = []
    kex.agree, kex.derive_key, prg._mask_keystreams = counted_agree, counted_derive, counted_streams
    kex._agree_derive = counted_pair
    try:
        for _ in range(repeats):
            for key in counts:
                counts[key] = 0
            t0 = time.perf_counter()
            result = secure_sum(vectors, bits=BITS, dropouts=dropouts, dropout_rate=dropout)
            times.append(time.perf_counter() - t0)
    finally:
        kex.agree, kex.derive_key, prg._mask_keystreams = agree, derive, streams
        kex._agree_derive = pair
    whole = statistics.median(times)
    t_agree = agreement_seconds()
    aes = aes_ctr_bytes_per_second(engine="gcm")
    aes_ctr = aes_ctr_bytes_per_second(engine="ctr")
    t_hkdf = hkdf_seconds()
    floor_x25519 = counts["agree"] * t_agree
    floor_aes = counts["keystream_bytes"] / aes
    floor_hkdf = counts["hkdf"] * t_hkdf
    floor = floor_x25519 + floor_aes + floor_hkdf
    return dict(
        n=n, d=d, k=result.stats.extra["neighbors"], whole=whole, times=times, agreements=counts["agree"],
        t_agree=t_agree, keystream_bytes=counts["keystream_bytes"], aes_bytes_per_s=aes,
        aes_ctr_bytes_per_s=aes_ctr, derivations=counts["hkdf"],
        t_hkdf=t_hkdf, x25519=floor_x25519, aes=floor_aes, hkdf=floor_hkdf, floor=floor, share=floor / whole,
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=1, help="rounds (the median is the round time)")
    args = ap.parse_args(argv)
    secure_sum([np.arange(64, dtype=np.uint32)] * 6, bits=BITS, neighbors=5, threshold=4)  # load the Numba kernels
    r = measure(args.clients, args.dim, repeats=args.repeats)
    times = ", ".join(f"{t:.2f}" for t in r["times"])
    print(f"n = {r['n']}, d = {r['d']}, k = {r['k']}, 10% dropout, serial: round {r['whole']:.2f} s (median of {times})")
    print(f"X25519: {r['agreements']} agreements x {r['t_agree'] * 1e6:.1f} us = {r['x25519']:.2f} s")
    print(f"AES-CTR: {r['keystream_bytes'] / 2**20:.0f} MiB keystream at {r['aes_bytes_per_s'] / 2**30:.2f} GiB/s "
          f"= {r['aes']:.2f} s (the masks' engine; a plain CTR context: {r['aes_ctr_bytes_per_s'] / 2**30:.2f} GiB/s)")
    print(f"HKDF: {r['derivations']} derivations x {r['t_hkdf'] * 1e6:.2f} us = {r['hkdf']:.2f} s")
    print(f"cryptographic floor: {r['floor']:.2f} s = {100 * r['share']:.0f}% of the round; "
          f"the rest (protocol, codec, masking adds, driver): {r['whole'] - r['floor']:.2f} s")


if __name__ == "__main__":
    main()
