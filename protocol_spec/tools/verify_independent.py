"""Re-verify the kdf, prg, x25519, graph, merkle and encoding vectors with a second, minimal implementation.

Written from the SPEC text (chapters "Conventions", "Key agreement and KDF",
"AEAD and signatures", "PRG", "Parameters and graphs" and "Protocol") and the
RFCs alone; it imports nothing from ``secagg``. What it implements itself:

* HKDF-SHA256 from RFC 5869 with :mod:`hmac` and :mod:`hashlib` only;
* X25519 from RFC 7748 section 5 (Montgomery ladder on Python integers);
* AES-256-CTR from single-block AES (pyca/cryptography's raw AES in ECB mode,
  the only borrowed primitive), the 16-byte counter block being one
  big-endian 128-bit integer;
* the byte layouts (HKDF info strings, AEAD associated data), the argument
  rules and the little-endian mask words;
* the ring order (ring keys, the sorted ring, windows, Harary neighbours) and
  the ordered key tree and flag tree of wire version 3: roots, multiproofs
  and their verification with every check of "Key commitment";
* the fixed-point encoding of chapter 14: the plan with exact rationals, the
  rounding stream (the AES-256-CTR keystream of the 32-byte rounding key),
  every code in binary64 Python floats, the centred lift, whole sums and
  their error bound.

Before the vector files it checks itself against RFC 5869 (test cases 1 and
3), RFC 7748 (section 5.2) and NIST SP 800-38A (F.5.5). It exits non-zero and
lists every mismatch if any check fails.

Usage: ``python protocol_spec/tools/verify_independent.py [--vectors DIR]``
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import math
import pathlib
import re
import sys
from fractions import Fraction

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

DEFAULT_VECTORS = pathlib.Path(__file__).resolve().parent.parent / "vectors"

# ----------------------------------------------------------------- RFC 5869 HKDF


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Extract then HKDF-Expand with HMAC-SHA256 (RFC 5869, section 2)."""
    if not salt:
        salt = bytes(32)
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block = b"", b""
    for i in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        okm += block
    return okm[:length]


# ----------------------------------------------------------------- RFC 7748 X25519

_P = 2**255 - 19
_A24 = 121665


def x25519(scalar: bytes, u: bytes) -> bytes:
    """X25519(k, u) of RFC 7748 section 5 (clamping, top-bit masking, ladder)."""
    k = bytearray(scalar)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    k_int = int.from_bytes(k, "little")
    u_bytes = bytearray(u)
    u_bytes[31] &= 127
    x1 = int.from_bytes(u_bytes, "little") % _P
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in range(254, -1, -1):
        bit = (k_int >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a = (x2 + z2) % _P
        aa = a * a % _P
        b = (x2 - z2) % _P
        bb = b * b % _P
        e = (aa - bb) % _P
        c = (x3 + z3) % _P
        d = (x3 - z3) % _P
        da = d * a % _P
        cb = c * b % _P
        x3 = (da + cb) ** 2 % _P
        z3 = x1 * (da - cb) ** 2 % _P
        x2 = aa * bb % _P
        z2 = e * (aa + _A24 * e) % _P
    if swap:
        x2, x3, z2, z3 = x3, x2, z3, z2
    return (x2 * pow(z2, _P - 2, _P) % _P).to_bytes(32, "little")


_BASE_POINT = (9).to_bytes(32, "little")

# ----------------------------------------------------------------- AES-256-CTR


def aes256_ctr_keystream(key: bytes, initial_counter: int, first_block: int, nbytes: int) -> bytes:
    """Keystream blocks AES(key, (initial_counter + j) mod 2**128), j >= first_block."""
    nblocks = -(-nbytes // 16)
    blocks = b"".join(
        ((initial_counter + first_block + j) % 2**128).to_bytes(16, "big") for j in range(nblocks)
    )
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return (encryptor.update(blocks) + encryptor.finalize())[:nbytes]


# ----------------------------------------------------------------- SPEC layouts

LABEL = b"secagg/v1/"
SESSION_ID_SIZE = 32
MAX_LENGTH = 2**31
_PURPOSE = re.compile(r"[a-z0-9-]{1,64}")


def _u(value: object, bits: int) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**bits:
        raise ValueError(f"not a u{bits}: {value!r}")
    return value.to_bytes(bits // 8, "little")


def _purpose(purpose: object, *, kdf: bool) -> bytes:
    if not isinstance(purpose, str) or _PURPOSE.fullmatch(purpose) is None:
        raise ValueError(f"bad purpose {purpose!r}")
    if kdf and purpose == "prg":
        raise ValueError("purpose 'prg' is reserved")
    return purpose.encode("ascii")


def _sized(data: bytes, size: int, name: str) -> bytes:
    if len(data) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(data)}")
    return data


def kdf_info(purpose: str, rnd: int, sender: int, receiver: int) -> bytes:
    return LABEL + _purpose(purpose, kdf=True) + b"\x00" + _u(rnd, 8) + _u(sender, 32) + _u(receiver, 32)


def derive_key(shared: bytes, purpose: str, session_id: bytes, rnd: int, sender: int, receiver: int) -> bytes:
    _sized(shared, 32, "shared secret")
    _sized(session_id, SESSION_ID_SIZE, "session id")
    return hkdf_sha256(shared, session_id, kdf_info(purpose, rnd, sender, receiver), 32)


def associated_data(purpose: str, session_id: bytes, rnd: int, sender: int, receiver: int) -> bytes:
    _sized(session_id, SESSION_ID_SIZE, "session id")
    return (
        LABEL + _purpose(purpose, kdf=False) + b"\x00" + session_id + _u(rnd, 8) + _u(sender, 32) + _u(receiver, 32)
    )


def _prg_args(length: object, bits: object) -> int:
    if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= MAX_LENGTH:
        raise ValueError(f"bad length {length!r}")
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 62:
        raise ValueError(f"bad bits {bits!r}")
    return 4 if bits <= 32 else 8


def prg_info(length: int, bits: int) -> bytes:
    _prg_args(length, bits)
    return LABEL + b"prg" + b"\x00" + _u(length, 64) + _u(bits, 8)


def prg_key(seed: bytes, session_id: bytes, length: int, bits: int) -> bytes:
    _sized(seed, 32, "seed")
    _sized(session_id, SESSION_ID_SIZE, "session id")
    return hkdf_sha256(seed, session_id, prg_info(length, bits), 32)


def prg_window(key: bytes, bits: int, offset: int, count: int) -> tuple[bytes, list[int]]:
    """Keystream bytes and words [offset, offset + count) of one PRG key."""
    w = 4 if bits <= 32 else 8
    start, end = offset * w, (offset + count) * w
    stream = aes256_ctr_keystream(key, 0, start // 16, end - (start // 16) * 16)[start % 16 :]
    words = [int.from_bytes(stream[i * w : (i + 1) * w], "little") & (2**bits - 1) for i in range(count)]
    return stream, words


# ----------------------------------------------------------------- checks


class Report:
    def __init__(self) -> None:
        self.checked = 0
        self.failures: list[str] = []

    def expect(self, where: str, ok: bool, detail: str = "") -> None:
        self.checked += 1
        if not ok:
            self.failures.append(f"{where}: {detail}" if detail else where)

    def expect_rejected(self, where: str, thunk) -> None:
        try:
            thunk()
        except ValueError:
            self.expect(where, True)
        else:
            self.expect(where, False, "accepted by the independent implementation")


def self_test(report: Report) -> None:
    # RFC 5869 appendix A.1 and A.3.
    ikm = bytes([0x0B] * 22)
    report.expect(
        "self-test rfc5869-a.1",
        hkdf_sha256(ikm, bytes(range(13)), bytes(range(0xF0, 0xFA)), 42).hex()
        == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    )
    report.expect(
        "self-test rfc5869-a.3",
        hkdf_sha256(ikm, b"", b"", 42).hex()
        == "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    )
    # RFC 7748 section 5.2.
    report.expect(
        "self-test rfc7748-5.2",
        x25519(
            bytes.fromhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
            bytes.fromhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
        ).hex()
        == "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    )
    # NIST SP 800-38A F.5.5, first two blocks (the second shows the big-endian carry).
    key = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
    stream = aes256_ctr_keystream(key, int("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", 16), 0, 32)
    pt = bytes.fromhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
    ct = bytes(a ^ b for a, b in zip(pt, stream))
    report.expect(
        "self-test nist-f.5.5",
        ct.hex() == "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5",
    )


def _hex(entry: dict, field: str) -> bytes:
    return bytes.fromhex(entry[field])


def check_kdf(data: dict, report: Report) -> None:
    for e in data.get("generate", []):
        where = f"kdf/{e['id']}"
        kind = e["kind"]
        sid = _hex(e, "session_id")
        if kind == "derive_key":
            info = kdf_info(e["purpose"], e["round"], e["sender"], e["receiver"])
            report.expect(where + " info", info.hex() == e["info"], f"{info.hex()} != {e['info']}")
            key = derive_key(_hex(e, "shared_secret"), e["purpose"], sid, e["round"], e["sender"], e["receiver"])
            report.expect(where + " key", key.hex() == e["key"], f"{key.hex()} != {e['key']}")
        elif kind == "associated_data":
            ad = associated_data(e["purpose"], sid, e["round"], e["sender"], e["receiver"])
            report.expect(where, ad.hex() == e["associated_data"], f"{ad.hex()} != {e['associated_data']}")
        elif kind == "chain":
            a, b = _hex(e, "private"), _hex(e, "peer_private")
            report.expect(where + " peer public", x25519(b, _BASE_POINT).hex() == e["peer_public"])
            shared = x25519(a, _hex(e, "peer_public"))
            report.expect(where + " shared", shared.hex() == e["shared_secret"])
            report.expect(where + " symmetric", x25519(b, x25519(a, _BASE_POINT)) == shared)
            key = derive_key(shared, e["purpose"], sid, e["round"], e["sender"], e["receiver"])
            report.expect(where + " key", key.hex() == e["key"])
        else:
            report.expect(where, False, f"unknown kind {kind!r}")
    for e in data.get("invalid", []):
        where = f"kdf/invalid/{e['id']}"
        sid = _hex(e, "session_id")
        if e["operation"] == "derive_key":
            shared = _hex(e, "shared_secret")
            report.expect_rejected(
                where, lambda: derive_key(shared, e["purpose"], sid, e["round"], e["sender"], e["receiver"])
            )
        else:
            report.expect_rejected(
                where, lambda: associated_data(e["purpose"], sid, e["round"], e["sender"], e["receiver"])
            )


def check_prg(data: dict, report: Report) -> None:
    for e in data.get("generate", []):
        where = f"prg/{e['id']}"
        seed, sid, length, bits = _hex(e, "seed"), _hex(e, "session_id"), e["length"], e["bits"]
        info = prg_info(length, bits)
        report.expect(where + " info", info.hex() == e["info"], f"{info.hex()} != {e['info']}")
        key = prg_key(seed, sid, length, bits)
        report.expect(where + " key", key.hex() == e["key"], f"{key.hex()} != {e['key']}")
        count = len(e["words"])
        report.expect(where + " window inside cap", e["offset"] + count <= length)
        stream, words = prg_window(key, bits, e["offset"], count)
        report.expect(where + " keystream", stream.hex() == e["keystream"])
        report.expect(where + " words", words == e["words"], f"{words[:4]}... != {e['words'][:4]}...")
        report.expect(where + " words in range", all(0 <= x < 2**bits for x in e["words"]))
    for e in data.get("verify", []):
        where = f"prg/verify/{e['id']}"
        pt, ct = _hex(e, "plaintext"), _hex(e, "ciphertext")
        stream = aes256_ctr_keystream(_hex(e, "key"), int(e["initial_counter"], 16), 0, len(pt))
        report.expect(where, bytes(a ^ b for a, b in zip(pt, stream)) == ct)
    for e in data.get("invalid", []):
        where = f"prg/invalid/{e['id']}"
        seed, sid = _hex(e, "seed"), _hex(e, "session_id")
        if e["operation"] == "read":
            prg_key(seed, sid, e["length"], e["bits"])  # the arguments themselves are valid
            report.expect(where, sum(e["reads"]) > e["length"], "the reads stay within the cap")
        else:
            report.expect_rejected(where, lambda: prg_key(seed, sid, e["length"], e["bits"]))


def check_x25519(data: dict, report: Report) -> None:
    for family in ("generate", "verify"):
        for e in data.get(family, []):
            where = f"x25519/{e['id']}"
            if "public" in e:
                report.expect(where + " public", x25519(_hex(e, "private"), _BASE_POINT).hex() == e["public"])
            if "peer_private" in e:
                report.expect(
                    where + " peer public", x25519(_hex(e, "peer_private"), _BASE_POINT).hex() == e["peer_public"]
                )
            shared = x25519(_hex(e, "private"), _hex(e, "peer_public"))
            report.expect(where + " shared", shared.hex() == e["shared"])
    for e in data.get("invalid", []):
        where = f"x25519/invalid/{e['id']}"
        private, peer = _hex(e, "private"), bytes.fromhex(e.get("peer_public", ""))
        if e["operation"] == "from_private_bytes":
            report.expect(where, len(private) != 32)
        elif len(peer) != 32:
            report.expect(where, True)
        else:
            report.expect(where, x25519(private, peer) == bytes(32), "shared secret is not all zero")


# ----------------------------------------------------------------- ring order and trees (wire version 3)


def ring_key(seed: bytes, client_id: int) -> bytes:
    if len(seed) != 32 or not 1 <= client_id <= 2**20:
        raise ValueError("bad seed or id")
    return hashlib.sha256(b"secagg/v1/ring-order" + b"\x00" + seed + client_id.to_bytes(4, "little")).digest()


def window(p: int, m: int, half: int) -> list[int]:
    if not 0 <= p < m or half < 0:
        raise ValueError("bad window")
    return list(range(m)) if 2 * half + 1 >= m else [(p + d) % m for d in range(-half, half + 1)]


def _ordered_parent(left: bytes, right: bytes) -> bytes:
    lo_l, hi_l, lo_r, hi_r = left[:32], left[32:64], right[:32], right[32:64]
    if not int.from_bytes(hi_l, "big") < int.from_bytes(lo_r, "big"):
        raise ValueError("REQUIRE L.hi < R.lo failed")
    return lo_l + hi_r + hashlib.sha256(b"\x01" + left + right).digest()


def _flag_parent(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x03" + left + right).digest()


def tree_levels(items: list[bytes], parent) -> list[list[bytes]]:
    levels = [list(items)]
    while len(levels[-1]) > 1:
        cur = levels[-1]
        nxt = [parent(cur[j], cur[j + 1]) for j in range(0, len(cur) - 1, 2)]
        if len(cur) % 2:
            nxt.append(cur[-1])  # promoted unchanged
        levels.append(nxt)
    return levels


def _proof_plan(m: int, positions: list[int]):
    if not 1 <= m <= 2**20 or not positions or len(set(positions)) != len(positions):
        raise ValueError("bad m or positions")
    if any(not 0 <= i < m for i in positions):
        raise ValueError("position out of range")
    width, known = m, sorted(positions)
    while width > 1:
        yield width, sorted({i ^ 1 for i in known if (i ^ 1) < width} - set(known)), known
        known = sorted({i // 2 for i in known})
        width = (width + 1) // 2


def make_proof(levels: list[list[bytes]], positions: list[int]) -> bytes:
    return b"".join(levels[depth][s] for depth, (_, missing, _) in enumerate(_proof_plan(len(levels[0]), positions)) for s in missing)


def proof_root(m: int, positions: list[int], items: list[bytes], proof: bytes, size: int, parent) -> bytes:
    """Replay the multiproof loop; ValueError on any failed check (length, lo <= hi, ordering)."""
    plan = list(_proof_plan(m, positions))
    if len(proof) != size * sum(len(missing) for _, missing, _ in plan):
        raise ValueError("proof length is not what (m, positions) need")
    nodes, offset = dict(zip(positions, items)), 0
    for width, missing, known in plan:
        for s in missing:
            item = proof[offset : offset + size]
            offset += size
            if size == 96 and int.from_bytes(item[:32], "big") > int.from_bytes(item[32:64], "big"):
                raise ValueError("proof item with lo > hi")
            nodes[s] = item
        nodes = {i // 2: (parent(nodes[i & ~1], nodes[i | 1]) if (i | 1) < width else nodes[i & ~1]) for i in known}
    return nodes[0][-32:]


def check_graph(data: dict, report: Report) -> None:
    for e in data.get("generate", []):
        where = f"graph/{e['id']}"
        seed, ids = bytes.fromhex(e["seed"]), sorted(e["ids"])
        keys = [ring_key(seed, u) for u in ids]
        report.expect(where + " keys", [k.hex() for k in keys] == e["keys"])
        ring = [u for _, u in sorted(zip(keys, ids))]
        report.expect(where + " ring", ring == e["ring"], f"{ring} != {e['ring']}")
        m = len(ring)
        pos = {u: p for p, u in enumerate(ring)}
        for u, got in zip(ids, e["neighbors"]):
            if e["graph"] == "complete" or m - 1 <= e["k"]:
                want = sorted(set(ids) - {u})
            else:
                want = sorted({ring[(pos[u] + d) % m] for d in range(-e["k"] // 2, e["k"] // 2 + 1) if d})
            report.expect(f"{where} neighbours of {u}", got == want, f"{got} != {want}")
        for w in e["windows"]:
            half = w["half"] if e["graph"] == "complete" else (e["k"] // 2 if w["window"] == "W" else e["k"])
            positions = window(w["position"], m, half)
            report.expect(f"{where} window {w['window']}@{w['position']}", w["positions"] == positions and w["ids"] == [ring[q] for q in positions])


def check_merkle(data: dict, report: Report) -> None:
    for e in data.get("generate", []):
        where = f"merkle/{e['id']}"
        m, leaves = e["m"], [bytes.fromhex(x) for x in e["leaves"]]
        if e["kind"] == "ordered":
            seed = bytes.fromhex(e["seed"])
            keys = [ring_key(seed, u) for u in e["ids"]]
            report.expect(where + " keys", [k.hex() for k in keys] == e["keys"])
            report.expect(where + " ring order", all(a < b for a, b in zip(keys, keys[1:])))
            data_ = [bytes.fromhex(d) for d in e["leaf_data"]]
            report.expect(where + " leaf ids", [int.from_bytes(d[:4], "little") for d in data_] == e["ids"])
            report.expect(where + " leaves", [hashlib.sha256(b"\x00" + d).digest() for d in data_] == leaves)
            items, size, parent = [k + k + h for k, h in zip(keys, leaves)], 96, _ordered_parent
        else:
            want = [hashlib.sha256(b"\x02" + u.to_bytes(4, "little") + bytes([f])).digest() for u, f in zip(e["ids"], e["flags"])]
            report.expect(where + " leaves", want == leaves)
            items, size, parent = leaves, 32, _flag_parent
        levels = tree_levels(items, parent)
        root = levels[-1][0][-32:]
        report.expect(where + " root", root.hex() == e["root"], f"{root.hex()} != {e['root']}")
        for p in e["proofs"]:
            positions, proof = p["positions"], bytes.fromhex(p["proof"])
            report.expect(f"{where} proof {positions}", make_proof(levels, positions) == proof)
            report.expect(f"{where} proof {positions} items", len(proof) == size * p["items"])
            got = proof_root(m, positions, [items[i] for i in positions], proof, size, parent)
            report.expect(f"{where} verify {positions}", got == root)
    for e in data.get("invalid", []):
        where = f"merkle/invalid/{e['id']}"
        if e["operation"] == "verify_multiproof":
            items = [bytes.fromhex(k) * 2 + bytes.fromhex(h) for k, h in zip(e["keys"], e["leaves"])]
            report.expect_rejected(where, lambda: proof_root(e["m"], e["positions"], items, bytes.fromhex(e["proof"]), 96, _ordered_parent))
        elif e["operation"] == "verify_flag_proof":
            items = [bytes.fromhex(h) for h in e["leaves"]]
            report.expect_rejected(where, lambda: proof_root(e["m"], e["positions"], items, bytes.fromhex(e["proof"]), 32, _flag_parent))
        else:
            items = [bytes.fromhex(k) * 2 + bytes.fromhex(h) for k, h in zip(e["keys"], e["leaves"])]
            report.expect_rejected(where, lambda: tree_levels(items, _ordered_parent))


# ----------------------------------------------------------------- encoding (chapter 14)


def encoding_plan(n: int, clip: float, precision: float, max_bits: int) -> tuple[int, Fraction, int]:
    """Chapter 14 "The plan": ``(bits, scale, max_code)``; ValueError for bad arguments or an overspent budget."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError("n_clients must be an int >= 1")
    for value in (clip, precision):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError("clip and precision must be finite and > 0")
    if not 1 <= max_bits <= 62:
        raise ValueError("max_bits must be in [1, 62]")
    e = 1 - math.frexp(precision)[1]  # precision = mu * 2**k, 1/2 <= mu < 1, e = 1 - k
    max_code = math.ceil(Fraction(clip) * Fraction(2) ** e)
    bits = (n * (max_code + 1)).bit_length() + 1
    if bits > max_bits:
        raise ValueError(f"BitBudgetError: needs {bits} bits > {max_bits}")
    if e > 1023:
        raise ValueError("scale beyond binary64")
    return bits, Fraction(2) ** e, max_code


def encoding_check_encoder(clip: float, scale: float, bits: int) -> None:
    """An encoder's own rule: positive finite clip and scale, 1 <= bits <= 62, one encoding fits."""
    if not 1 <= bits <= 62:
        raise ValueError("bits must be in [1, 62]")
    if not (math.isfinite(clip) and clip > 0 and math.isfinite(scale) and scale > 0):
        raise ValueError("clip and scale must be finite and > 0")
    if math.ceil(Fraction(clip) * Fraction(scale)) + 1 >= 2 ** (bits - 1):
        raise ValueError("BitBudgetError: one encoding does not fit")


def encoding_codes(x: list, clip: float, scale: float, stream: bytes) -> list[int]:
    """Chapter 14 "Encoding" per coordinate, in binary64 Python floats, from the rounding stream."""
    codes = []
    for i, xi in enumerate(x):
        xi = float(xi)
        if not math.isfinite(xi):
            raise ValueError("x must be finite")
        y = min(max(xi, -clip), clip) * scale
        low = math.floor(y)
        u = (int.from_bytes(stream[8 * i : 8 * i + 8], "little") >> 11) * 2.0**-53
        codes.append(low + (1 if u < y - low else 0))
    return codes


def encoding_stream(key: bytes, d: int) -> bytes:
    """The rounding stream: the AES-256-CTR keystream of the 32-byte rounding key, 8 bytes per coordinate."""
    if len(key) != 32:
        raise ValueError("the rounding key is 32 bytes")
    return aes256_ctr_keystream(key, 0, 0, 8 * d)


def encoding_decode(words: list[int], bits: int, scale: float) -> list[float]:
    """Centred lift over scale (binary64 division); ValueError for a word outside [0, 2**bits)."""
    out = []
    for w in words:
        if not 0 <= w < 2**bits:
            raise ValueError("word outside [0, 2**bits)")
        out.append(float(Fraction(w - 2**bits if w >= 2 ** (bits - 1) else w) / Fraction(scale)))
    return out


def check_encoding(data: dict, report: Report) -> None:
    for e in data["generate"]:
        where = f"encoding/{e['id']}"
        if e["kind"] == "plan":
            got = encoding_plan(e["n_clients"], e["clip"], e["precision"], e["max_bits"])
            report.expect(f"{where} plan", got == (e["bits"], Fraction(e["scale"]), e["max_code"]), f"got {got}")
            continue
        if e["kind"] == "decode":
            got = encoding_decode(e["words"], e["bits"], e["scale"])
            report.expect(f"{where} values", got == e["values"], f"got {got}")
            continue
        encoding_check_encoder(e["clip"], e["scale"], e["bits"])
        if e["kind"] == "encode":
            stream = encoding_stream(_hex(e, "rounding_key"), len(e["x"]))
            report.expect(f"{where} rounding_stream", stream.hex() == e["rounding_stream"])
        elif e["kind"] == "round":
            stream = _hex(e, "rounding_stream")
            report.expect(f"{where} stream length", len(stream) == 8 * len(e["x"]))
        else:
            report.expect(where, False, f"unknown kind {e['kind']!r}")
            continue
        codes = encoding_codes(e["x"], e["clip"], e["scale"], stream)
        report.expect(f"{where} codes", codes == e["codes"], f"got {codes}")
        report.expect(f"{where} words", [c % 2 ** e["bits"] for c in codes] == e["words"])
    for e in data["verify"]:
        where = f"encoding/{e['id']}"
        bits, scale, _ = encoding_plan(e["n_clients"], e["clip"], e["precision"], 62)
        report.expect(f"{where} plan", (bits, scale) == (e["bits"], Fraction(e["scale"])))
        report.expect(f"{where} clients", len(e["inputs"]) == len(e["rounding_keys"]) == e["n_clients"])
        total = [0] * len(e["total"])
        for x, key in zip(e["inputs"], e["rounding_keys"]):
            codes = encoding_codes(x, e["clip"], float(scale), encoding_stream(bytes.fromhex(key), len(x)))
            total = [(t + c) % 2**bits for t, c in zip(total, codes)]
        report.expect(f"{where} total", total == e["total"])
        decoded = encoding_decode(total, bits, float(scale))
        report.expect(f"{where} decoded", decoded == e["decoded"])
        exact = [sum(Fraction(min(max(x[i], -e["clip"]), e["clip"])) for x in e["inputs"]) for i in range(len(total))]
        report.expect(
            f"{where} error bound",
            all(abs(Fraction(v) - s) < Fraction(e["n_clients"]) / scale for v, s in zip(decoded, exact)),
        )
    for e in data["invalid"]:
        where = f"encoding/invalid/{e['id']}"
        op = e["operation"]
        if op == "plan":
            report.expect_rejected(where, lambda: encoding_plan(e["n_clients"], e["clip"], e["precision"], e["max_bits"]))
        elif op == "encoder":
            report.expect_rejected(where, lambda: encoding_check_encoder(e["clip"], e["scale"], e["bits"]))
        elif op == "encode":
            report.expect_rejected(
                where, lambda: encoding_codes(e["x"], e["clip"], e["scale"], bytes(8 * len(e["x"])))
            )
        elif op == "decode":
            report.expect_rejected(where, lambda: encoding_decode(e["words"], e["bits"], e["scale"]))
        else:
            report.expect(where, False, f"unknown operation {op!r}")


CHECKS = {
    "kdf": check_kdf,
    "prg": check_prg,
    "x25519": check_x25519,
    "graph": check_graph,
    "merkle": check_merkle,
    "encoding": check_encoding,
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=pathlib.Path, default=DEFAULT_VECTORS)
    args = parser.parse_args(argv)
    report = Report()
    self_test(report)
    print(f"self-test: {report.checked} checks, {len(report.failures)} failed")
    for name, check in CHECKS.items():
        path = args.vectors / f"{name}.json"
        before_checked, before_failed = report.checked, len(report.failures)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("name") != name or data.get("version") != 1:
                raise ValueError(f"unexpected name/version {data.get('name')!r}/{data.get('version')!r}")
            check(data, report)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            report.expect(f"{name}.json", False, f"{type(exc).__name__}: {exc}")
        print(
            f"{name}.json: {report.checked - before_checked} checks, "
            f"{len(report.failures) - before_failed} failed"
        )
    for failure in report.failures:
        print(f"MISMATCH {failure}")
    passed = report.checked - len(report.failures)
    print(f"{passed} passed, {len(report.failures)} failed")
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
