"""Re-verify the vector files with a second, minimal implementation written from the SPEC text.

Written from the SPEC text (chapters "Conventions", "Key agreement and KDF",
"AEAD and signatures", "Shamir secret sharing", "Fixed-point encoding and
the bit budget", "PRG", "Masking and packing",
"Parameters and graphs", "Wire format", "Protocol" and "Client state") and the RFCs alone; it
imports nothing from ``secagg``. What it implements itself:

* HKDF-SHA256 from RFC 5869 with :mod:`hmac` and :mod:`hashlib` only;
* X25519 from RFC 7748 section 5 (Montgomery ladder on Python integers);
* AES-256-CTR from single-block AES, the 16-byte counter block being one
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
* Shamir sharing over GF(2^31 - 1) (limbs, the coefficient sampler, shares,
  Lagrange reconstruction and its range check), bit packing, and a decoder
  and encoder of every message of "Wire format" with every decoder rule;
* a whole round: every party of a ``transcripts.json`` entry is replayed
  alone from its recorded draws against its peers' recorded messages (the run
  order of "Transcripts"), each message it would send is re-derived byte for
  byte (keys, signatures, session id, windows and multiproofs, encrypted
  shares, masked inputs, flag tree, survivor lists, revealed shares; a
  client listed in the entry's ``corrupt`` sends the honest UnmaskingResponse
  with the declared limb changes applied), every client check of "Rounds" is
  applied, and the server's reconstruction (through the retry search of
  "Unmasking" step 3, which must go past a secret's first subset exactly when
  that subset holds a declared corrupted share) and unmasking must give the
  recorded sum, which must equal the sum of the included clients' inputs mod
  2^bits, or the recorded abort. Every mask is expanded in full (the vectors
  have dim <= 9);
* the checks of ``shamir.json`` (the sampler, shares, reconstruction and each
  refusal's error class), ``aead.json``, ``packing.json``, ``codec.json``
  (every message encoded and decoded, every invalid one refused) and
  ``reconstruction.json`` (the retry search of "Unmasking" step 3: every
  candidate in order, the suspects, the failure);
* the parameter finder of "Choosing k and t" (``finder.json``): the argument
  rules and worst-case counts, rules 1-3 decided with exact integers and the
  SPEC's tail bounds, every recorded field of each choice, and every smaller
  even degree shown rejected (whole blocks at once from binary64 bounds on
  ``a`` and ``z`` with a 1e-6 slack, single degrees exactly); the complete
  graph where asked for or for the active model;
* the client state of chapter "Client state" (``client_state.json``): a
  decoder with every rule (and the SPEC's error name, ``DecodeError`` or
  ``ValueError``) and an encoder; every recorded state re-encodes to itself,
  and each client step is replayed from its ``before`` state alone (the round
  code above, fed the step's recorded draws): the reply and the ``after``
  state are re-derived byte for byte; client-side aborts refuse their lie
  without drawing and store the aborted state and Abort message recorded.

Borrowed primitives (pyca/cryptography, named here so that nothing else is):
single-block AES (ECB on counter blocks), AES-256-GCM (``AESGCM``) and
Ed25519 signing and verification.

Before the vector files it checks itself against RFC 5869 (test cases 1 and
3), RFC 7748 (section 5.2) and NIST SP 800-38A (F.5.5). It exits non-zero and
lists every mismatch if any check fails.

Usage: ``python protocol_spec/tools/verify_independent.py [--vectors DIR] [--only NAME ...]``
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import math
import pathlib
import re
import struct
import sys
from fractions import Fraction

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

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


class Refused(ValueError):
    """A refusal carrying the SPEC's error name (InvalidShareError, InvalidCiphertext, ...)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


class Report:
    def __init__(self) -> None:
        self.checked = 0
        self.failures: list[str] = []

    def expect(self, where: str, ok: bool, detail: str = "") -> None:
        self.checked += 1
        if not ok:
            self.failures.append(f"{where}: {detail}" if detail else where)

    def expect_refused(self, where: str, thunk, error: str) -> None:
        """thunk must raise ValueError; a Refused must carry the name ``error``, a plain ValueError stands for "ValueError"."""
        try:
            thunk()
        except Refused as exc:
            self.expect(where, exc.name == error, f"refused with {exc.name}, the vector says {error}")
        except ValueError:
            self.expect(where, error == "ValueError", f"refused with ValueError, the vector says {error}")
        else:
            self.expect(where, False, "accepted by the independent implementation")

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


# ----------------------------------------------------------------- chapter "Shamir secret sharing"

PRIME = 2**31 - 1
_LIMB_MASK = 2**30 - 1
SHARE_SIZE = 36


def shamir_limbs(secret: bytes) -> list[int]:
    s = int.from_bytes(_sized(secret, 32, "secret"), "little")
    return [(s >> (30 * j)) & _LIMB_MASK for j in range(9)]


def shamir_coefficients(random: bytes, count: int) -> list[int]:
    """The first ``count`` accepted 64-bit little-endian words (reject r >= floor(2^64/p)*p), mod p."""
    bound = (2**64 // PRIME) * PRIME
    out = []
    for i in range(0, len(random) - 7, 8):
        r = int.from_bytes(random[i : i + 8], "little")
        if r < bound:
            out.append(r % PRIME)
            if len(out) == count:
                return out
    raise ValueError(f"{len(random)} random bytes give fewer than {count} coefficients")


def _shamir_points(xs: list[int]) -> None:
    if any(not 1 <= x <= PRIME - 1 for x in xs):
        raise Refused("InvalidShareError", "point outside [1, p-1]")
    if len(set(xs)) != len(xs):
        raise Refused("DuplicateShareError", "two shares with the same point")


def shamir_split(secrets: list[bytes], t: int, xs: list[int], random: bytes) -> tuple[list[int], dict[int, bytes]]:
    """Coefficients ([k-1][j][l] flattened) and each holder's share bytes (secret order, limb 0 first)."""
    for secret in secrets:
        _sized(secret, 32, "secret")
    if not 1 <= t <= len(xs):
        raise ValueError("bad threshold")
    _shamir_points(xs)
    m = len(secrets)
    coeffs = shamir_coefficients(random, (t - 1) * m * 9) if t > 1 else []
    limbs = [shamir_limbs(s) for s in secrets]
    shares = {}
    for x in xs:
        out = b""
        for j in range(m):
            for l in range(9):
                y = sum(coeffs[(k - 1) * m * 9 + j * 9 + l] * pow(x, k, PRIME) for k in range(1, t)) + limbs[j][l]
                out += (y % PRIME).to_bytes(4, "little")
        shares[x] = out
    return coeffs, shares


def shamir_values(share: bytes, count: int) -> list[list[int]]:
    if len(share) != SHARE_SIZE * count:
        raise Refused("InvalidShareError", "share bytes of the wrong length")
    values = [int.from_bytes(share[i : i + 4], "little") for i in range(0, len(share), 4)]
    if any(v >= PRIME for v in values):
        raise Refused("InvalidShareError", "share value >= p")
    return [values[9 * j : 9 * j + 9] for j in range(count)]


def shamir_reconstruct(xs: list[int], shares: list[bytes], t: int, count: int = 1) -> list[bytes]:
    """Lagrange at 0 over the first t points; ValueError on any rule of "Reconstruction"."""
    _shamir_points(xs)
    if t < 1 or len(xs) < t:
        raise Refused("InsufficientSharesError", "fewer than t shares")
    xs, values = xs[:t], [shamir_values(s, count) for s in shares[:t]]
    weights = []
    for i, xi in enumerate(xs):
        w = 1
        for k, xk in enumerate(xs):
            if k != i:
                w = w * xk * pow(xk - xi, PRIME - 2, PRIME) % PRIME
        weights.append(w)
    secrets = []
    for j in range(count):
        limbs = [sum(w * v[j][l] for w, v in zip(weights, values)) % PRIME for l in range(9)]
        if any(x >= 2**30 for x in limbs[:8]) or limbs[8] >= 2**16:
            raise Refused("InvalidShareError", "interpolated limb out of range")
        secrets.append(sum(x << (30 * l) for l, x in enumerate(limbs)).to_bytes(32, "little"))
    return secrets


# ----------------------------------------------------------------- chapter "AEAD and signatures" (borrowed: pyca AES-GCM, Ed25519)


def aead_encrypt(key: bytes, nonce: bytes, plaintext: bytes, ad: bytes) -> bytes:
    _sized(key, 32, "key")
    return nonce + AESGCM(key).encrypt(_sized(nonce, 12, "nonce"), plaintext, ad)


def aead_decrypt(key: bytes, blob: bytes, ad: bytes) -> bytes:
    """The plaintext, or ValueError (the SPEC's InvalidCiphertext) on any failure."""
    _sized(key, 32, "key")
    if len(blob) < 28:
        raise Refused("InvalidCiphertext", "blob shorter than 28 bytes")
    try:
        return AESGCM(key).decrypt(blob[:12], blob[12:], ad)
    except InvalidTag:
        raise Refused("InvalidCiphertext", "authentication failed") from None


def ed25519_public(seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).sign(message)


def ed25519_verifies(public: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


# ----------------------------------------------------------------- chapter "Masking and packing"


def packed_size(length: int, bits: int) -> int:
    return -(-length * bits // 8)


def pack(words: list[int], bits: int) -> bytes:
    if any(not 0 <= x < 2**bits for x in words):
        raise ValueError("word outside [0, 2^bits)")
    return sum(x << (i * bits) for i, x in enumerate(words)).to_bytes(packed_size(len(words), bits), "little")


def unpack(data: bytes, length: int, bits: int) -> list[int]:
    if len(data) != packed_size(length, bits):
        raise ValueError("packed length is not packed_size(length, bits)")
    value = int.from_bytes(data, "little")
    if value >> (length * bits):
        raise ValueError("non-zero padding bits")
    return [(value >> (i * bits)) & (2**bits - 1) for i in range(length)]


def prg_mask(seed: bytes, session_id: bytes, length: int, bits: int) -> list[int]:
    return prg_window(prg_key(seed, session_id, length, bits), bits, 0, length)[1]


# ----------------------------------------------------------------- chapter "Wire format" (version 3)

WIRE_VERSION = 3
MAX_ID = 2**20
REASONS = {1: "malformed", 2: "out_of_round", 3: "replayed", 4: "inconsistent", 5: "too_few_survivors",
           6: "authentication", 7: "reconstruction_failed", 8: "peer_aborted", 9: "local"}
_SEQ_ITEM = {108: "blob", 64: "signature", 36: "share"}
# tag -> (type, fields); a field is (name, kind), kinds: "id", an int (B[n]), "m", "start", "entries",
# "signature" (var, 0 or 64), "proof96", "proof32", "masked", "flags", "ids", ("seq", key name, item size, bound), "reason", "detail".
MESSAGES = {
    1: ("AdvertiseKeys", [("client_id", "id"), ("c_pk", 32), ("s_pk", 32), ("signature", "signature")]),
    2: ("ShareKeysRequest", [("graph_seed", 32), ("m", "m"), ("start", "start"), ("entries", "entries"), ("proof", "proof96")]),
    3: ("ShareKeysResponse", [("client_id", "id"), ("session_id", 32), ("seed_commitment", 32), ("shares", ("seq", "peer", 108, "n"))]),
    4: ("MaskedInputRequest", [("session_id", 32), ("shares", ("seq", "peer", 108, "n"))]),
    5: ("MaskedInputResponse", [("client_id", "id"), ("session_id", 32), ("masked", "masked")]),
    6: ("ConsistencyCheckRequest", [("session_id", 32), ("survivors_root", 32), ("flags", "flags"), ("proof", "proof32")]),
    7: ("ConsistencyCheckResponse", [("client_id", "id"), ("session_id", 32), ("signature", 64)]),
    8: ("UnmaskingRequest", [("session_id", 32), ("survivors", "ids"), ("dropped", "ids"), ("signatures", ("seq", "signer", 64, "window"))]),
    9: ("UnmaskingResponse", [("client_id", "id"), ("session_id", 32), ("seed_shares", ("seq", "owner", 36, "n")), ("key_shares", ("seq", "owner", 36, "n"))]),
    15: ("Abort", [("reason", "reason"), ("detail", "detail")]),
}
TAGS = {name: tag for tag, (name, _) in MESSAGES.items()}


def max_window(p: dict) -> int:
    """What a decoder bounds a window by from the parameters alone ("ConsistencyCheckRequest")."""
    n = p["n_clients"]
    if p["graph"] == "complete":
        return n
    h = p["neighbors"] if p["threat"] == "active" else p["neighbors"] // 2
    return min(n, 2 * h + 1)


def max_holders(p: dict) -> int:
    """What a decoder bounds share and survivor lists by: a holder set, n (complete) or min(n, k + 1) ("Wire format")."""
    n = p["n_clients"]
    return n if p["graph"] == "complete" else min(n, p["neighbors"] + 1)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, size: int) -> bytes:
        if size > len(self.data) - self.at:
            raise ValueError("truncated field")
        self.at += size
        return self.data[self.at - size : self.at]

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "little")

    def left(self) -> int:
        return len(self.data) - self.at

    def id(self) -> int:
        value = self.u32()
        if not 1 <= value <= MAX_ID:
            raise ValueError(f"id {value} outside 1..2^20")
        return value

    def count(self, bound: int, item: int) -> int:
        count = self.u32()
        if count > bound or count * item > self.left():
            raise ValueError(f"count {count} above its bound or the bytes left")
        return count

    def var(self, bound: int) -> bytes:
        size = self.u32()
        if size > bound:
            raise ValueError(f"length {size} above its bound {bound}")
        return self.take(size)


def _decode_advertise(r: _Reader) -> dict:
    out = {"client_id": r.id(), "c_pk": r.take(32).hex(), "s_pk": r.take(32).hex()}
    sig = r.var(64)
    if len(sig) not in (0, 64):
        raise ValueError("signature neither 0 nor 64 bytes")
    out["signature"] = sig.hex()
    return out


def decode_message(data: bytes, p: dict) -> tuple[str, dict]:
    """(type, fields as in codec.json) or ValueError (the SPEC's DecodeError) for every rule of "What a decoder checks"."""
    r = _Reader(data)
    version, tag = r.take(1)[0], r.take(1)[0]
    if version != WIRE_VERSION or tag not in MESSAGES:
        raise ValueError(f"version {version} or tag {tag} refused")
    name, layout = MESSAGES[tag]
    n, fields = p["n_clients"], {}
    for field, kind in layout:
        if kind == "id":
            value = r.id()
        elif isinstance(kind, int):
            value = r.take(kind).hex()
        elif kind == "signature":
            value = _decode_advertise_sig(r)
        elif kind == "m":
            value = r.u32()
            if not 1 <= value <= n:
                raise ValueError(f"m = {value} outside 1..n")
        elif kind == "start":
            value = r.u32()
            if value >= fields["m"]:
                raise ValueError("start not below m")
        elif kind == "entries":
            count = r.count(min(fields["m"], max_window(p)), 72)
            value = [_decode_advertise(r) for _ in range(count)]
            if len({x["client_id"] for x in value}) != count:
                raise ValueError("two entries of one client_id")
        elif kind in ("proof96", "proof32"):
            size, bound = (96, 7680) if kind == "proof96" else (32, 2560)
            raw = r.var(bound)
            if len(raw) % size:
                raise ValueError(f"proof not a multiple of {size}")
            value = raw.hex()
        elif kind == "masked":
            size = packed_size(p["dim"], p["bits"])
            if r.u32() != size:
                raise ValueError("masked length is not packed_size(dim, bits)")
            value = r.take(size).hex()
        elif kind == "flags":
            raw = r.var(-(-max_window(p) // 8))
            if not raw:
                raise ValueError("empty flags")
            value = raw.hex()
        elif kind == "ids":
            count = r.count(max_holders(p), 4)
            value = [r.id() for _ in range(count)]
            if any(a >= b for a, b in zip(value, value[1:])):
                raise ValueError("ids not strictly increasing")
        elif kind == "reason":
            code = r.take(1)[0]
            if code not in REASONS:
                raise ValueError(f"unknown abort code {code}")
            value = REASONS[code]
        elif kind == "detail":
            try:
                value = r.var(256).decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError("detail is not UTF-8") from None
        else:
            _, key, size, bound = kind
            count = r.count(max_holders(p) if bound == "n" else max_window(p), 4 + size)
            value = [{key: r.id(), _SEQ_ITEM[size]: r.take(size).hex()} for _ in range(count)]
            if any(a[key] >= b[key] for a, b in zip(value, value[1:])):
                raise ValueError(f"{field} not strictly increasing by {key}")
        fields[field] = value
    if r.left():
        raise ValueError("trailing bytes")
    if name == "ShareKeysResponse" and any(s["peer"] == fields["client_id"] for s in fields["shares"]):
        raise ValueError("a share addressed to its own sender")
    if name == "UnmaskingResponse" and {s["owner"] for s in fields["seed_shares"]} & {s["owner"] for s in fields["key_shares"]}:
        raise ValueError("both shares of one owner")
    return name, fields


def _decode_advertise_sig(r: _Reader) -> str:
    sig = r.var(64)
    if len(sig) not in (0, 64):
        raise ValueError("signature neither 0 nor 64 bytes")
    return sig.hex()


def _encode_advertise(e: dict) -> bytes:
    sig = bytes.fromhex(e["signature"])
    return _u(e["client_id"], 32) + bytes.fromhex(e["c_pk"]) + bytes.fromhex(e["s_pk"]) + _u(len(sig), 32) + sig


def encode_message(name: str, fields: dict) -> bytes:
    """The bytes of a message given as codec.json fields (no checks: the decoder is the judge)."""
    tag = TAGS[name]
    out = bytes([WIRE_VERSION, tag])
    for field, kind in MESSAGES[tag][1]:
        value = fields[field]
        if kind in ("id", "m", "start"):
            out += _u(value, 32)
        elif isinstance(kind, int):
            out += bytes.fromhex(value)
        elif kind in ("signature", "proof96", "proof32", "masked", "flags"):
            out += _u(len(value) // 2, 32) + bytes.fromhex(value)
        elif kind == "entries":
            out += _u(len(value), 32) + b"".join(_encode_advertise(x) for x in value)
        elif kind == "ids":
            out += _u(len(value), 32) + b"".join(_u(x, 32) for x in value)
        elif kind == "reason":
            out += bytes([next(c for c, r in REASONS.items() if r == value)])
        elif kind == "detail":
            raw = value.encode("utf-8")
            out += _u(len(raw), 32) + raw
        else:
            _, key, size, _ = kind
            out += _u(len(value), 32) + b"".join(_u(x[key], 32) + bytes.fromhex(x[_SEQ_ITEM[size]]) for x in value)
    return out


# ----------------------------------------------------------------- chapter "Protocol": bindings

_GRAPH_CODE = {"complete": 1, "harary": 2}
_THREAT_CODE = {"semi-honest": 1, "semi-malicious": 2, "active": 3}
PHASES = ["advertise_keys", "share_keys", "masked_input", "consistency_check", "unmasking"]


def _label(name: str) -> bytes:
    return LABEL + name.encode("ascii") + b"\x00"


def params_bytes(p: dict) -> bytes:
    return (
        _u(p["n_clients"], 32) + _u(p["dim"], 32) + _u(p["bits"], 8) + _u(_GRAPH_CODE[p["graph"]], 8)
        + _u(p["neighbors"], 32) + _u(p["threshold"], 32) + _u(_THREAT_CODE[p["threat"]], 8) + _u(p["round_counter"], 64)
    )


def session_id(p: dict, graph_seed: bytes, m: int, root: bytes) -> bytes:
    return hashlib.sha256(_label("session") + params_bytes(p) + graph_seed + _u(m, 32) + root).digest()


def advertise_statement(p: dict, u: int, c_pk: bytes, s_pk: bytes) -> bytes:
    return _label("advertise") + params_bytes(p) + _u(u, 32) + c_pk + s_pk


def consistency_statement(sid: bytes, root: bytes) -> bytes:
    return _label("consistency") + sid + root


def seed_commitment(sid: bytes, u: int, b_u: bytes) -> bytes:
    return hashlib.sha256(_label("seed-commitment") + sid + _u(u, 32) + b_u).digest()


LOW_ORDER_PROBE = hashlib.sha256(_label("low-order-probe")).digest()


def window_half(p: dict, m: int) -> int | None:
    """The half-width of a client's R1 window for (P, m), None for the whole ring (table of R0)."""
    k = p["neighbors"]
    if p["graph"] == "harary" and p["threat"] == "active":
        return k if 2 * k + 1 < m else None
    if p["graph"] == "harary":
        return k // 2 if m - 1 > k else None
    return None


def w2_half(p: dict, m: int) -> int | None:
    k = p["neighbors"]
    return k if p["graph"] == "harary" and 2 * k + 1 < m else None


def ring_neighbours(p: dict, ring: list[int], pos: int) -> list[int]:
    """N(u) of the client at ring position pos, ascending ("Neighbour graphs")."""
    m, k = len(ring), p["neighbors"]
    if p["graph"] == "harary" and m - 1 > k:
        return sorted(ring[(pos + d) % m] for d in range(-k // 2, k // 2 + 1) if d)
    return sorted(u for u in ring if u != ring[pos])


def ring_window(m: int, pos: int, half: int | None) -> list[int]:
    return list(range(m)) if half is None else window(pos, m, half)


def pairwise_key(private: bytes, peer_public: bytes, purpose: str, sid: bytes, rnd: int, u: int, v: int) -> bytes:
    shared = x25519(private, peer_public)
    if shared == bytes(32):
        raise ValueError("low-order peer key")
    return derive_key(shared, purpose, sid, rnd, min(u, v), max(u, v))


def share_ad(sid: bytes, sender: int, receiver: int) -> bytes:
    return associated_data("share", sid, 1, sender, receiver)


def retry_search(t: int, shares: dict[int, bytes], check, suspects: set[int], subsets: list | None = None) -> tuple[bytes | None, list[bytes]]:
    """Unmasking step 3: (the secret that passes ``check`` or None, every candidate interpolated in order).

    Updates ``suspects`` as the SPEC says (a successful swap marks the holder it removed); appends every subset
    interpolated, in order, to ``subsets`` if given.
    """
    order = sorted(shares, key=lambda h: (h in suspects, h))
    candidates: list[bytes] = []
    tried: set[frozenset] = set()

    def attempt(subset: list[int]) -> bytes | None:
        tried.add(frozenset(subset))
        if subsets is not None:
            subsets.append(sorted(subset))
        try:
            secret = shamir_reconstruct(subset, [shares[h] for h in subset], t)[0]
        except ValueError:
            return None  # out of range: a failed subset, not a candidate
        candidates.append(secret)
        return secret if check(secret) else None

    first = order[:t]
    if (found := attempt(first)) is not None:
        return found, candidates
    spares = [h for h in order if h not in first][:2]
    for h in sorted(first, key=lambda h: h not in suspects):  # known suspects first, else in first's order
        for spare in spares:
            if (found := attempt([x for x in first if x != h] + [spare])) is not None:
                suspects.add(h)
                return found, candidates
    for subset in itertools.islice(itertools.combinations(order, t), 32):
        if frozenset(subset) not in tried and (found := attempt(list(subset))) is not None:
            return found, candidates
    return None, candidates


def corrupt_shares(fields: dict, changes: list) -> dict:
    """An UnmaskingResponse's fields with a transcript's declared ``corrupt`` changes applied.

    Each change ``{field, owner, limb, delta}`` adds ``delta`` mod PRIME to one limb of the share of ``owner``
    in ``seed_shares`` or ``key_shares``; a change naming no revealed share is an error.
    """
    out = {**fields, "seed_shares": [dict(x) for x in fields["seed_shares"]], "key_shares": [dict(x) for x in fields["key_shares"]]}
    for ch in changes:
        if ch["field"] not in ("seed_shares", "key_shares") or ch["limb"] not in range(9) or not isinstance(ch["delta"], int):
            raise ValueError(f"corrupt: not a share change: {ch}")
        item = next((x for x in out[ch["field"]] if x["owner"] == ch["owner"]), None)
        if item is None:
            raise ValueError(f"corrupt: no share of {ch['owner']} in {ch['field']}")
        values = list(struct.unpack("<9I", bytes.fromhex(item["share"])))
        values[ch["limb"]] = (values[ch["limb"]] + ch["delta"]) % PRIME
        item["share"] = struct.pack("<9I", *values).hex()
    return out


# ----------------------------------------------------------------- chapter "Protocol": a whole round, re-run


class _Round:
    """One transcripts.json entry re-run from the SPEC: every party replayed alone against its peers' recorded messages.

    A client answers the server message recorded for it, the server closes each phase over the client messages
    recorded in it; each computed message must equal the recorded bytes, and every recorded message must decode
    under "Wire format" and re-encode to itself.
    """

    def __init__(self, e: dict, report: Report) -> None:
        self.e, self.report, self.p = e, report, e["params"]
        self.where = f"transcripts/{e['id']}"
        self.n, self.t, self.bits, self.dim = (self.p[x] for x in ("n_clients", "threshold", "bits", "dim"))
        self.active = self.p["threat"] == "active"
        rnd = e["random"]
        self.draws = {who: [bytes.fromhex(x) for x in rnd.get(who, [])] for who in rnd}
        identity = self.draws.get("identity", [])
        self.identity = {u: identity[u - 1] for u in range(1, len(identity) + 1)}
        self.pki = {u: ed25519_public(s) for u, s in self.identity.items()}
        self.drop = {int(u): PHASES.index(ph) for u, ph in e["dropouts"].items()}
        self.recorded: dict[tuple, dict] = {}
        self.clients: dict[int, dict] = {}
        self.accepted: set[int] = set()  # clients with at least one message accepted by the server
        self.splits: dict[int, dict[int, bytes]] = {}  # owner -> holder -> its 72-byte share pair

    def expect(self, what: str, ok: bool, detail: str = "") -> None:
        self.report.expect(f"{self.where} {what}", ok, detail)

    def draw(self, who: str, size: int) -> bytes:
        value = self.draws[who].pop(0)
        if len(value) != size:
            raise ValueError(f"{who}'s draw is {len(value)} bytes, the SPEC's order wants {size}")
        return value

    # -- the recorded messages

    def decode_all(self) -> None:
        for i, msg in enumerate(self.e["messages"]):
            raw = bytes.fromhex(msg["hex"])
            what = f"message {i} ({msg['type']} {'to' if msg['direction'] == 'server_to_client' else 'of'} {msg['client']}) decodes"
            try:
                name, fields = decode_message(raw, self.p)
                ok = name == msg["type"] and encode_message(name, fields) == raw
                self.recorded[(msg["direction"], msg["client"], msg["phase"])] = fields
                self.expect(what, ok, f"{name}")
            except ValueError as exc:
                self.expect(what, False, str(exc))

    def compare(self, direction: str, u: int, phase: str, name: str, fields: dict) -> dict | None:
        got = self.recorded.get((direction, u, phase))
        want = encode_message(name, fields)
        ok = got is not None and encode_message(name, got) == want
        self.expect(f"{phase} {name} {'to' if direction == 'server_to_client' else 'of'} {u}", ok, "bytes differ from the re-derived message")
        return got

    # -- clients

    def client_advertise(self, u: int) -> dict:
        c = self.clients[u] = {"c_sk": self.draw(str(u), 32), "s_sk": self.draw(str(u), 32)}
        c["c_pk"], c["s_pk"] = x25519(c["c_sk"], _BASE_POINT), x25519(c["s_sk"], _BASE_POINT)
        sig = ed25519_sign(self.identity[u], advertise_statement(self.p, u, c["c_pk"], c["s_pk"])) if self.active else b""
        return {"client_id": u, "c_pk": c["c_pk"].hex(), "s_pk": c["s_pk"].hex(), "signature": sig.hex()}

    def client_share_keys(self, u: int, f: dict) -> dict:
        c, p, t = self.clients[u], self.p, self.t
        m, start, entries = f["m"], f["start"], f["entries"]
        ids = [x["client_id"] for x in entries]
        if any(v > self.n for v in ids) or m < t:
            raise ValueError("R1 check 1: an id above n or m < t")
        half = window_half(p, m)
        if len(entries) != (m if half is None else 2 * half + 1):
            raise ValueError("R1 check 1: window size")
        index = ids.index(u) if half is None and start == 0 and u in ids else half
        if index is None or ids[index] != u:
            raise ValueError("R1 check 2: own entry not at the centre")
        pos = (start + index) % m
        own = entries[index]
        if (own["c_pk"], own["s_pk"]) != (c["c_pk"].hex(), c["s_pk"].hex()):
            raise ValueError("R1 check 3: own keys changed")
        if len({x[key] for x in entries for key in ("c_pk", "s_pk")}) != 2 * len(entries):
            raise ValueError("R1 check 4: public keys not distinct")
        seed = bytes.fromhex(f["graph_seed"])
        positions = [(start + i) % m for i in range(len(entries))]
        items = []
        for x in entries:
            key = ring_key(seed, x["client_id"])
            leaf = hashlib.sha256(b"\x00" + _u(x["client_id"], 32) + bytes.fromhex(x["c_pk"]) + bytes.fromhex(x["s_pk"])).digest()
            items.append(key + key + leaf)
        root = proof_root(m, positions, items, bytes.fromhex(f["proof"]), 96, _ordered_parent)
        if self.active and not all(
            ed25519_verifies(self.pki[x["client_id"]], advertise_statement(p, x["client_id"], bytes.fromhex(x["c_pk"]), bytes.fromhex(x["s_pk"])), bytes.fromhex(x["signature"]))
            for x in entries
        ):
            raise ValueError("R1 check 6: a signature does not verify")
        sid = session_id(p, seed, m, root)
        at = dict(zip(positions, entries))
        if p["graph"] == "harary" and m - 1 > p["neighbors"]:
            nbrs = [at[(pos + d) % m] for d in range(-p["neighbors"] // 2, p["neighbors"] // 2 + 1) if d]
        else:
            nbrs = [x for x in entries if x["client_id"] != u]
        nbrs.sort(key=lambda x: x["client_id"])
        holders = sorted([u] + [x["client_id"] for x in nbrs])
        if len(holders) < t:
            raise ValueError("R1 check 7: too few holders")
        b_u = self.draw(str(u), 32)
        n_words = (t - 1) * 2 * 9
        _, shares = shamir_split([b_u, c["s_sk"]], t, holders, self.draw(str(u), 8 * (n_words + n_words // 8 + 4)))
        self.splits[u] = shares
        out = []
        c["k"], c["s_pk_of"] = {}, {}
        for x in nbrs:
            v = x["client_id"]
            c["k"][v] = pairwise_key(c["c_sk"], bytes.fromhex(x["c_pk"]), "share-encryption", sid, 1, u, v)
            c["s_pk_of"][v] = bytes.fromhex(x["s_pk"])
            plaintext = _u(u, 32) + _u(v, 32) + shares[v]
            out.append({"peer": v, "blob": aead_encrypt(c["k"][v], self.draw(str(u), 12), plaintext, share_ad(sid, u, v)).hex()})
        c.update(sid=sid, m=m, pos=pos, at=at, positions=positions, window=ids, nbrs=[x["client_id"] for x in nbrs], b_u=b_u, held={u: shares[u]})
        return {"client_id": u, "session_id": sid.hex(), "seed_commitment": seed_commitment(sid, u, b_u).hex(), "shares": out}

    def client_masked_input(self, u: int, f: dict) -> dict:
        c = self.clients[u]
        if bytes.fromhex(f["session_id"]) != c["sid"]:
            raise ValueError("R2: another session id")
        c["A"] = []
        for x in f["shares"]:
            v = x["peer"]
            if v not in c["nbrs"]:
                raise ValueError("R2 check 1: not a neighbour")
            plaintext = aead_decrypt(c["k"][v], bytes.fromhex(x["blob"]), share_ad(c["sid"], v, u))
            if plaintext[:8] != _u(v, 32) + _u(u, 32):
                raise ValueError("R2 check 3: plaintext ids")
            shamir_values(plaintext[8:], 2)
            self.expect(f"share of {v} for {u} decrypts to {v}'s Shamir shares", plaintext[8:] == self.splits.get(v, {}).get(u))
            c["held"][v] = plaintext[8:]
            c["A"].append(v)
        if len(c["A"]) + 1 < self.t:
            raise ValueError("R2: too few shares")
        y = [(a + b) % 2**self.bits for a, b in zip(self.e["inputs"][u - 1], prg_mask(c["b_u"], c["sid"], self.dim, self.bits))]
        for v in c["A"]:
            s_uv = pairwise_key(c["s_sk"], c["s_pk_of"][v], "mask-seed", c["sid"], 2, u, v)
            sign = 1 if u < v else -1
            y = [(a + sign * b) % 2**self.bits for a, b in zip(y, prg_mask(s_uv, c["sid"], self.dim, self.bits))]
        return {"client_id": u, "session_id": c["sid"].hex(), "masked": pack(y, self.bits).hex()}

    def _holders_in_window(self, c: dict, x: int) -> set[int]:
        """H(x) computed from the client's window (x in it)."""
        m, k = c["m"], self.p["neighbors"]
        pos_of = {e["client_id"]: q for q, e in c["at"].items()}
        if self.p["graph"] == "harary" and m - 1 > k:
            return {c["at"][(pos_of[x] + d) % m]["client_id"] for d in range(-k // 2, k // 2 + 1)}
        return set(c["window"])

    def client_consistency(self, u: int, f: dict) -> dict:
        c = self.clients[u]
        if bytes.fromhex(f["session_id"]) != c["sid"]:
            raise ValueError("R3: another session id")
        w, flags = len(c["window"]), bytes.fromhex(f["flags"])
        if len(flags) != -(-w // 8) or int.from_bytes(flags, "little") >> w:
            raise ValueError("R3 check 1: flags")
        bit = [(flags[j // 8] >> (j % 8)) & 1 for j in range(w)]
        if not bit[c["window"].index(u)]:
            raise ValueError("R3 check 2: own flag is 0")
        leaves = [hashlib.sha256(b"\x02" + _u(v, 32) + bytes([b])).digest() for v, b in zip(c["window"], bit)]
        root = proof_root(c["m"], c["positions"], leaves, bytes.fromhex(f["proof"]), 32, _flag_parent)
        if root.hex() != f["survivors_root"]:
            raise ValueError("R3 check 3: the flag proof does not lead to survivors_root")
        c["F"] = {v for v, b in zip(c["window"], bit) if b}
        if len(self._holders_in_window(c, u) & c["F"]) < self.t:
            raise ValueError("R3 check 4: fewer than t holders flagged")
        c["root"] = root
        sig = ed25519_sign(self.identity[u], consistency_statement(c["sid"], root))
        return {"client_id": u, "session_id": c["sid"].hex(), "signature": sig.hex()}

    def client_unmasking(self, u: int, f: dict) -> dict:
        c = self.clients[u]
        if bytes.fromhex(f["session_id"]) != c["sid"]:
            raise ValueError("R4: another session id")
        survivors, dropped = set(f["survivors"]), set(f["dropped"])
        nbrs, A = set(c["nbrs"]), set(c["A"])
        live = (survivors & A) | {u}
        if self.active:
            if survivors != (nbrs & c["F"]) | {u} or dropped & c["F"]:
                raise ValueError("R4 rule a: the lists are not the flags signed")
            signers = set()
            for s in f["signatures"]:
                statement = consistency_statement(c["sid"], c["root"])
                if s["signer"] not in c["F"] or not ed25519_verifies(self.pki[s["signer"]], statement, bytes.fromhex(s["signature"])):
                    raise ValueError("R4 rule b: a signature")
                signers.add(s["signer"])
            for x in live | dropped:
                if len(signers & self._holders_in_window(c, x)) < self.t:
                    raise ValueError(f"R4 rule d: quorum for {x}")
        elif f["signatures"]:
            raise ValueError("R4: signatures outside the active model")
        if survivors & dropped or u in dropped or u not in survivors or not survivors <= nbrs | {u} or not dropped <= A:
            raise ValueError("R4 rules 1-3")
        if len(live) < self.t:
            raise ValueError("R4 rule 4: too few live")
        fields = {
            "client_id": u, "session_id": c["sid"].hex(),
            "seed_shares": [{"owner": v, "share": c["held"][v][:36].hex()} for v in sorted(live)],
            "key_shares": [{"owner": v, "share": c["held"][v][36:].hex()} for v in sorted(dropped)],
        }
        return corrupt_shares(fields, self.e.get("corrupt", {}).get(str(u), []))

    # -- the server

    def server_advertise(self, replies: dict[int, dict]) -> dict[int, tuple]:
        s, seen = {}, set()
        accepted = {}
        for u, f in replies.items():
            c_pk, s_pk = bytes.fromhex(f["c_pk"]), bytes.fromhex(f["s_pk"])
            ok = f["client_id"] == u and c_pk != s_pk and not {c_pk, s_pk} & seen
            ok = ok and x25519(LOW_ORDER_PROBE, c_pk) != bytes(32) and x25519(LOW_ORDER_PROBE, s_pk) != bytes(32)
            sig = bytes.fromhex(f["signature"])
            ok = ok and (ed25519_verifies(self.pki[u], advertise_statement(self.p, u, c_pk, s_pk), sig) if self.active else not sig)
            self.expect(f"server accepts AdvertiseKeys of {u}", ok)
            seen |= {c_pk, s_pk}
            accepted[u] = f
        if len(accepted) < self.t:
            return self.abort("too_few_survivors", len(accepted))
        seed = self.draw("server", 32)
        ring = sorted(accepted, key=lambda v: ring_key(seed, v))
        items = []
        for v in ring:
            key, f = ring_key(seed, v), accepted[v]
            leaf = hashlib.sha256(b"\x00" + _u(v, 32) + bytes.fromhex(f["c_pk"]) + bytes.fromhex(f["s_pk"])).digest()
            items.append(key + key + leaf)
        levels = tree_levels(items, _ordered_parent)
        m = len(ring)
        self.srv = s
        s.update(seed=seed, ring=ring, m=m, adv=accepted, sid=session_id(self.p, seed, m, levels[-1][0][-32:]))
        s["pos"] = {v: q for q, v in enumerate(ring)}
        s["N"] = {v: ring_neighbours(self.p, ring, s["pos"][v]) for v in ring}
        out = {}
        for v in sorted(ring):
            positions = ring_window(m, s["pos"][v], window_half(self.p, m))
            fields = {"graph_seed": seed.hex(), "m": m, "start": positions[0], "entries": [accepted[ring[q]] for q in positions], "proof": make_proof(levels, positions).hex()}
            out[v] = ("ShareKeysRequest", fields)
        return out

    def server_share_keys(self, replies: dict[int, dict]) -> dict[int, tuple]:
        s = self.srv
        s["U2"], s["commitment"], blobs = [], {}, {}
        for u, f in replies.items():
            ok = f["client_id"] == u and u in s["adv"] and f["session_id"] == s["sid"].hex() and [x["peer"] for x in f["shares"]] == s["N"][u]
            self.expect(f"server accepts ShareKeysResponse of {u}", ok)
            s["U2"].append(u)
            s["commitment"][u] = f["seed_commitment"]
            blobs[u] = {x["peer"]: x["blob"] for x in f["shares"]}
        if len(s["U2"]) < self.t:
            return self.abort("too_few_survivors", len(s["U2"]))
        return {
            v: ("MaskedInputRequest", {"session_id": s["sid"].hex(), "shares": [{"peer": u, "blob": blobs[u][v]} for u in sorted(s["U2"]) if v in blobs[u]]})
            for v in sorted(s["U2"])
        }

    def server_masked_input(self, replies: dict[int, dict]) -> dict[int, tuple]:
        s = self.srv
        s["U3"], s["masked"] = [], {}
        for u, f in replies.items():
            try:
                words = unpack(bytes.fromhex(f["masked"]), self.dim, self.bits)
                ok = f["client_id"] == u and u in s["U2"] and f["session_id"] == s["sid"].hex()
            except ValueError:
                ok, words = False, None
            self.expect(f"server accepts MaskedInputResponse of {u}", ok)
            s["U3"].append(u)
            s["masked"][u] = words
        if len(s["U3"]) < self.t:
            return self.abort("too_few_survivors", len(s["U3"]))
        if not self.active:
            return self.unmasking_requests(sorted(s["U3"]), [])
        flags = [v in s["U3"] for v in s["ring"]]
        leaves = [hashlib.sha256(b"\x02" + _u(v, 32) + bytes([f])).digest() for v, f in zip(s["ring"], flags)]
        levels = tree_levels(leaves, _flag_parent)
        s["flag_root"] = levels[-1][0]
        out = {}
        for u in sorted(s["U3"]):
            positions = ring_window(s["m"], s["pos"][u], w2_half(self.p, s["m"]))
            bits = sum(flags[q] << j for j, q in enumerate(positions))
            fields = {"session_id": s["sid"].hex(), "survivors_root": s["flag_root"].hex(),
                      "flags": bits.to_bytes(-(-len(positions) // 8), "little").hex(), "proof": make_proof(levels, positions).hex()}
            out[u] = ("ConsistencyCheckRequest", fields)
        return out

    def server_consistency(self, replies: dict[int, dict]) -> dict[int, tuple]:
        s = self.srv
        signers = {}
        for u, f in replies.items():
            statement = consistency_statement(s["sid"], s["flag_root"])
            ok = f["client_id"] == u and u in s["U3"] and ed25519_verifies(self.pki[u], statement, bytes.fromhex(f["signature"]))
            self.expect(f"server accepts ConsistencyCheckResponse of {u}", ok)
            signers[u] = f["signature"]
        if len(signers) < self.t:
            return self.abort("too_few_survivors", len(signers))
        out = {}
        for u in sorted(signers):
            w2 = {s["ring"][q] for q in ring_window(s["m"], s["pos"][u], w2_half(self.p, s["m"]))}
            out[u] = self.unmasking_requests([u], [{"signer": v, "signature": signers[v]} for v in sorted(signers) if v in w2])[u]
        return out

    def unmasking_requests(self, recipients: list[int], signatures: list[dict]) -> dict[int, tuple]:
        s = self.srv
        U3, U2 = set(s["U3"]), set(s["U2"])
        return {
            u: ("UnmaskingRequest", {"session_id": s["sid"].hex(), "survivors": sorted((set(s["N"][u]) & U3) | {u}),
                                     "dropped": sorted(set(s["N"][u]) & (U2 - U3)), "signatures": signatures})
            for u in recipients
        }

    def server_unmasking(self, replies: dict[int, dict]) -> dict[int, tuple] | None:
        s = self.srv
        U3, U2 = set(s["U3"]), set(s["U2"])
        seed_shares: dict[int, dict[int, bytes]] = {}
        key_shares: dict[int, dict[int, bytes]] = {}
        for u, f in replies.items():
            ok = all(x["owner"] in (set(s["N"][u]) & U3) | {u} for x in f["seed_shares"])
            ok = ok and all(x["owner"] in set(s["N"][u]) & (U2 - U3) for x in f["key_shares"])
            self.expect(f"server accepts UnmaskingResponse of {u}", ok and f["session_id"] == s["sid"].hex())
            for x in f["seed_shares"]:
                seed_shares.setdefault(x["owner"], {})[u] = bytes.fromhex(x["share"])
            for x in f["key_shares"]:
                key_shares.setdefault(x["owner"], {})[u] = bytes.fromhex(x["share"])
        secrets = {}
        wanted = [(u, "seed", seed_shares) for u in sorted(U3)]
        wanted += [(u, "key", key_shares) for u in sorted(U2 - U3) if set(s["N"][u]) & U3]
        for u, kind, shares in wanted:  # step 1: t shares of every secret
            if len(shares.get(u, {})) < self.t:
                return self.abort("too_few_survivors", len(shares.get(u, {})))
        suspects: set[int] = set()  # step 3: carried from secret to secret, seeds first
        for u, kind, shares in wanted:
            if kind == "seed":
                check = lambda secret, u=u: seed_commitment(s["sid"], u, secret).hex() == s["commitment"][u]  # noqa: E731
            else:
                check = lambda secret, u=u: x25519(secret, _BASE_POINT).hex() == s["adv"][u]["s_pk"]  # noqa: E731
            tried: list[list[int]] = []
            secret, _ = retry_search(self.t, shares[u], check, suspects, tried)
            bad = {int(h) for h, changes in self.e.get("corrupt", {}).items()
                   for ch in changes if (ch["field"], ch["owner"]) == (f"{kind}_shares", u)}
            what = f"b_{u} (commitment)" if kind == "seed" else f"s_sk_{u} (s_pk)"
            self.expect(f"rebuilt {what}: the first subset fails exactly when it holds a declared corrupted share",
                        (len(tried) > 1 or secret is None) == bool(bad & set(tried[0])), f"subsets tried {tried}, corrupted holders {sorted(bad)}")
            if secret is None:
                return self.abort("reconstruction_failed", owner=u)
            secrets[(u, kind)] = secret
        mod = 2**self.bits
        acc = [sum(col) % mod for col in zip(*(s["masked"][u] for u in U3))]
        for u in U3:
            acc = [(a - b) % mod for a, b in zip(acc, prg_mask(secrets[(u, "seed")], s["sid"], self.dim, self.bits))]
        for u in sorted(U2 - U3):
            for v in sorted(set(s["N"][u]) & U3):
                s_uv = pairwise_key(secrets[(u, "key")], bytes.fromhex(s["adv"][v]["s_pk"]), "mask-seed", s["sid"], 2, u, v)
                sign = 1 if v < u else -1
                acc = [(a - sign * b) % mod for a, b in zip(acc, prg_mask(s_uv, s["sid"], self.dim, self.bits))]
        truth = [sum(col) % mod for col in zip(*(self.e["inputs"][u - 1] for u in U3))]
        result = self.e["result"]
        self.expect("unmasked sum equals the sum of the included inputs", acc == truth)
        self.expect("result sum", result.get("sum") == acc, f"{result.get('sum')} != {acc}")
        self.expect("result included/dropped", result.get("included") == sorted(U3) and result.get("dropped") == sorted(set(range(1, self.n + 1)) - U3))
        return None

    def abort(self, reason: str, count: int | None = None, owner: int | None = None) -> dict[int, tuple]:
        result = self.e["result"]
        detail = result.get("detail", "")
        self.expect("result aborted", result.get("aborted") == reason, f"{result.get('aborted')} != {reason}")
        if owner is None:
            self.expect("abort detail names the count and the threshold", detail.startswith(f"{count} ") and detail.endswith(f"threshold t = {self.t}"), detail)
        else:
            self.expect("abort detail names the owner", f"client {owner}'s" in detail, detail)
        self.aborted = True
        return {u: ("Abort", {"reason": reason, "detail": detail}) for u in sorted(self.accepted)}

    # -- the run order of "Transcripts"

    def run(self) -> None:
        self.decode_all()
        steps = {"advertise_keys": (self.client_advertise, self.server_advertise), "share_keys": (self.client_share_keys, self.server_share_keys),
                 "masked_input": (self.client_masked_input, self.server_masked_input), "consistency_check": (self.client_consistency, self.server_consistency),
                 "unmasking": (self.client_unmasking, self.server_unmasking)}
        phases, sequence = self.e["phases"], []
        targets, previous, self.aborted = list(range(1, self.n + 1)), None, False
        for i, phase in enumerate(phases):
            client_step, server_step = steps[phase]
            replies = {}
            for u in targets:
                if self.drop.get(u, 99) <= PHASES.index(phase):
                    continue
                name = {"advertise_keys": "AdvertiseKeys", "share_keys": "ShareKeysResponse", "masked_input": "MaskedInputResponse",
                        "consistency_check": "ConsistencyCheckResponse", "unmasking": "UnmaskingResponse"}[phase]
                sequence.append(("client_to_server", u, phase, name))
                try:
                    incoming = None if previous is None else self.recorded[("server_to_client", u, previous)]
                    fields = client_step(u) if incoming is None else client_step(u, incoming)
                except (ValueError, KeyError) as exc:
                    self.expect(f"{phase}: client {u} follows the SPEC", False, f"{type(exc).__name__}: {exc}")
                    return
                got = self.compare("client_to_server", u, phase, name, fields)
                if got is not None:
                    replies[u] = got
                    self.accepted.add(u)
            try:
                out = server_step(replies)
            except (ValueError, KeyError) as exc:
                self.expect(f"{phase}: the server's close follows the SPEC", False, f"{type(exc).__name__}: {exc}")
                return
            for u, (name, fields) in sorted((out or {}).items()):
                delivered = None
                if name != "Abort" and i + 1 < len(phases):
                    delivered = self.drop.get(u, 99) > PHASES.index(phases[i + 1])
                sequence.append(("server_to_client", u, phase, name, delivered))
                self.compare("server_to_client", u, phase, name, fields)
            if self.aborted or out is None:
                break
            targets, previous = sorted(out), phase
        recorded = [
            (m["direction"], m["client"], m["phase"], m["type"]) + ((m["delivered"] if m["type"] != "Abort" else None,) if m["direction"] == "server_to_client" else ())
            for m in self.e["messages"]
        ]
        self.expect("message order, recipients and delivery (run order of \"Transcripts\")", recorded == sequence,
                    next((f"#{j}: {a} != {b}" for j, (a, b) in enumerate(zip(recorded, sequence)) if a != b), f"{len(recorded)} != {len(sequence)} messages"))
        self.expect("every draw used", not any(self.draws.get(w) for w in self.draws if w != "identity"), "draws left over")


def check_transcripts(data: dict, report: Report) -> None:
    for e in data.get("generate", []):
        _Round(e, report).run()



# ----------------------------------------------------------------- checks of shamir, aead, packing, codec, reconstruction


def _each(report: Report, entries: list, prefix: str, body) -> None:
    """Run ``body(entry, where)`` for every entry; an exception fails that entry only."""
    for e in entries:
        where = f"{prefix}{e.get('id', '?')}"
        try:
            body(e, where)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            report.expect(where, False, f"{type(exc).__name__}: {exc}")


def check_shamir(data: dict, report: Report) -> None:
    def generate(e, where):
        secrets, t, xs, random = [bytes.fromhex(x) for x in e["secrets"]], e["threshold"], e["xs"], _hex(e, "random")
        n_coeffs = (t - 1) * len(secrets) * 9
        report.expect(where + " draw size", len(random) == (8 * (n_coeffs + n_coeffs // 8 + 4) if t > 1 else 0), f"{len(random)} bytes")
        coeffs, shares = shamir_split(secrets, t, xs, random)
        report.expect(where + " coefficients", coeffs == [c for k in e["coefficients"] for j in k for c in j])
        report.expect(where + " shares", [shares[x].hex() for x in xs] == e["shares"])
        got = shamir_reconstruct(xs, [bytes.fromhex(x) for x in e["shares"]], t, len(secrets))
        report.expect(where + " reconstructs", got == secrets)

    def verify(e, where):
        got = shamir_reconstruct(e["xs"], [bytes.fromhex(x) for x in e["shares"]], e["threshold"], len(e["secrets"]))
        report.expect(where, [x.hex() for x in got] == e["secrets"])

    def invalid(e, where):
        op = e["operation"]
        if op == "reconstruct":
            thunk = lambda: shamir_reconstruct(e["xs"], [bytes.fromhex(x) for x in e["shares"]], e["threshold"], e["count"])
        elif op == "shares_from_bytes":
            thunk = lambda: shamir_values(_hex(e, "data"), e["count"])
        else:
            thunk = lambda: shamir_split([bytes.fromhex(x) for x in e["secrets"]], e["threshold"], e["xs"], bytes(8 * 64))
        report.expect_refused(where, thunk, e["error"])

    _each(report, data.get("generate", []), "shamir/", generate)
    _each(report, data.get("verify", []), "shamir/verify/", verify)
    _each(report, data.get("invalid", []), "shamir/invalid/", invalid)


def check_aead(data: dict, report: Report) -> None:
    def accepted(e, where):
        key, ad, plaintext, blob = _hex(e, "key"), _hex(e, "associated_data"), _hex(e, "plaintext"), _hex(e, "blob")
        report.expect(where + " blob", aead_encrypt(key, _hex(e, "nonce"), plaintext, ad) == blob)
        report.expect(where + " length", len(blob) == len(plaintext) + 28)
        report.expect(where + " decrypts", aead_decrypt(key, blob, ad) == plaintext)

    def invalid(e, where):
        key, ad = _hex(e, "key"), _hex(e, "associated_data")
        if e["operation"] == "decrypt":
            report.expect_refused(where, lambda: aead_decrypt(key, _hex(e, "blob"), ad), e["error"])
        else:
            report.expect_refused(where, lambda: aead_encrypt(key, _hex(e, "nonce"), _hex(e, "plaintext"), ad), e["error"])

    _each(report, data.get("generate", []) + data.get("verify", []), "aead/", accepted)
    _each(report, data.get("invalid", []), "aead/invalid/", invalid)


def check_packing(data: dict, report: Report) -> None:
    def accepted(e, where):
        report.expect(where + " length", len(e["words"]) == e["length"])
        report.expect(where + " pack", pack(e["words"], e["bits"]).hex() == e["packed"])
        report.expect(where + " unpack", unpack(_hex(e, "packed"), e["length"], e["bits"]) == e["words"])

    def invalid(e, where):
        report.expect_refused(where, lambda: unpack(_hex(e, "packed"), e["length"], e["bits"]), e["error"])

    _each(report, data.get("generate", []) + data.get("verify", []), "packing/", accepted)
    _each(report, data.get("invalid", []), "packing/invalid/", invalid)


def check_codec(data: dict, report: Report) -> None:
    def accepted(e, where):
        raw = _hex(e, "encoded")
        report.expect(where + " tag", "tag" not in e or raw[1:2] == bytes([e["tag"]]))
        report.expect(where + " encode", encode_message(e["type"], e["fields"]) == raw)
        name, fields = decode_message(raw, e["params"])
        report.expect(where + " decode", (name, fields) == (e["type"], e["fields"]), f"{name} {fields}")

    def invalid(e, where):
        try:
            decode_message(_hex(e, "encoded"), e["params"])
        except ValueError:
            report.expect(where, e["error"] == "DecodeError", e["error"])
        else:
            report.expect(where, False, f"accepted ({e['what']})")

    _each(report, data.get("generate", []) + data.get("verify", []), "codec/", accepted)
    _each(report, data.get("invalid", []), "codec/invalid/", invalid)


def check_reconstruction(data: dict, report: Report) -> None:
    def generate(e, where):
        suspects: set[int] = set()
        for owner in e["owners"]:
            shares = {int(h): bytes.fromhex(x) for h, x in e["shares"][str(owner)].items()}
            report.expect(f"{where} holders of {owner}", sorted(shares) == sorted(e["holders"]))
            commitment = e["commitments"][str(owner)]
            found, candidates = retry_search(e["threshold"], shares, lambda s: hashlib.sha256(s).hexdigest() == commitment, suspects)
            report.expect(f"{where} attempts of {owner}", [c.hex() for c in candidates] == e["attempts"][str(owner)],
                          f"{len(candidates)} candidates, the vector lists {len(e['attempts'][str(owner)])}")
            if found is None:
                report.expect(f"{where} result", e["result"] == {"error": "RECONSTRUCTION_FAILED", "owner": owner}, str(e["result"]))
                break
            report.expect(f"{where} result of {owner}", e["result"].get(str(owner)) == found.hex())
        report.expect(f"{where} suspects", sorted(suspects) == sorted(e["suspects"]), f"{sorted(suspects)} != {e['suspects']}")

    _each(report, data.get("generate", []), "reconstruction/", generate)


# ----------------------------------------------------------------- chapter "Parameters and graphs": the parameter finder

FINDER_THREATS = ("semi-honest", "semi-malicious", "active")
FINDER_TOLERANCE = 1e-9  # binary64, in the worst-case counts and the feasibility test
FINDER_SLACK = 1e-6  # relative; this tool's floating-point bounds only ever decide with this much to spare


def _finder_int(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused("TypeError", f"{name} must be an int")
    if not lo <= value <= hi:
        raise ValueError(f"{name} = {value} outside [{lo}, {hi}]")
    return value


def _finder_rate(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Refused("TypeError", f"{name} must be a real number")
    value = float(value)
    if not 0.0 <= value < 1.0:  # NaN fails too
        raise ValueError(f"{name} = {value} outside [0, 1)")
    return value


def finder_arguments(args: dict) -> tuple[int, float, float, str, int, int]:
    """The finder's argument rules in the SPEC's order: (n, delta, alpha, threat, s, f) or the SPEC's error."""
    n = _finder_int("n_clients", args["n_clients"], 2, 2**20)
    delta = _finder_rate("dropout_rate", args["dropout_rate"])
    alpha = _finder_rate("adversarial_rate", args["adversarial_rate"])
    threat = args["threat"]
    if not isinstance(threat, str):
        raise Refused("TypeError", "threat must be a string")
    if threat not in FINDER_THREATS:
        raise ValueError(f"unknown threat {threat!r}")
    s = _finder_int("security_bits", args.get("security_bits", 40), 1, 128)
    f = _finder_int("failure_bits", args.get("failure_bits", 20), 1, 64)
    total = alpha + delta if threat == "semi-honest" else alpha + 2 * delta
    if total > 0.9 + FINDER_TOLERANCE:
        raise ValueError(f"infeasible rates: {total}")
    return n, delta, alpha, threat, s, f


def worst_case(rate: float, n: int) -> int:
    return min(n - 1, math.floor(rate * n + FINDER_TOLERANCE))


def _hg_range(N: int, K: int, h: int, lo: int, hi: int) -> tuple[int, int]:
    return max(lo, 0, h - (N - K)), min(hi, K, h)


def hg_count(N: int, K: int, h: int, lo: int, hi: int) -> int:
    """sum_{lo <= j <= hi} C(K, j) C(N - K, h - j), exactly."""
    lo, hi = _hg_range(N, K, h, lo, hi)
    if lo > hi:
        return 0
    term = math.comb(K, lo) * math.comb(N - K, h - lo)
    total = term
    for j in range(lo, hi):
        term = term * (K - j) * (h - j) // ((j + 1) * (N - K - h + j + 1))
        total += term
    return total


def hg_tail_bound(N: int, K: int, h: int, lo: int, hi: int, upper: bool) -> int:
    """The tail count of "Exactness": exact up to 256 terms, else first term / (1 - r) rounded up (r < 1)."""
    lo, hi = _hg_range(N, K, h, lo, hi)
    if hi - lo + 1 <= 256:
        return hg_count(N, K, h, lo, hi)
    j = lo if upper else hi
    first = math.comb(K, j) * math.comb(N - K, h - j)
    if upper:  # T(lo + 1) / T(lo)
        num, den = (K - lo) * (h - lo), (lo + 1) * (N - K - h + lo + 1)
    else:  # T(hi - 1) / T(hi)
        num, den = hi * (N - K - h + hi), (K - hi + 1) * (h - hi + 1)
    if num >= den:
        return hg_count(N, K, h, lo, hi)
    return -(-first * den // (den - num))


def _log_pmf(N: int, K: int, h: int, j: int) -> float:
    lg = math.lgamma
    return (lg(K + 1) - lg(j + 1) - lg(K - j + 1) + lg(N - K + 1) - lg(h - j + 1) - lg(N - K - h + j + 1)
            - lg(N + 1) + lg(h + 1) + lg(N - h + 1))


def hg_tail_float(N: int, K: int, h: int, x: int, upper: bool) -> float:
    """P[X >= x] (upper) or P[X <= x] for X ~ HG(N, K, h) in binary64: lgamma for the first term, then term ratios."""
    jmin, jmax = max(0, h - (N - K)), min(K, h)
    j = max(x, jmin) if upper else min(x, jmax)
    if j > jmax or j < jmin:
        return 0.0
    log_scale, term, total = _log_pmf(N, K, h, j), 1.0, 1.0
    while j != (jmax if upper else jmin):
        if upper:
            num, den = (K - j) * (h - j), (j + 1) * (N - K - h + j + 1)
            j += 1
        else:
            num, den = j * (N - K - h + j), (K - j + 1) * (h - j + 1)
            j -= 1
        term *= num / den
        total += term
        if total > 1e200:
            term, total, log_scale = term * 1e-200, total * 1e-200, log_scale + 200 * math.log(10)
        if num < den and term < total * 1e-18:  # past the mode: the rest is below 1e-15 of the sum
            break
    value = log_scale + math.log(total)
    return math.exp(min(value, 0.0)) if value > -745 else 0.0


class FinderRules:
    """The three rules of "Choosing k and t" for one (n, A, D, threat, s, f): exact, and float bounds for skipping."""

    def __init__(self, n: int, A: int, D: int, threat: str, s: int, f: int) -> None:
        self.n, self.A, self.D, self.threat, self.s, self.f = n, A, D, threat, s, f
        self.B, self.H = min(A + D, n), n - A
        self._p1: dict[int, Fraction] = {}

    # rule 1
    def p1(self, k: int) -> Fraction:
        if k not in self._p1:
            n, B = self.n, self.B
            exact = Fraction(0) if B < k or k >= n - 1 else Fraction(n * (n - k - 1) * math.perm(B, k), 2 * math.perm(n, k))
            self._p1[k] = exact
        return self._p1[k]

    def rule1(self, k: int) -> bool:
        return self.p1(k) <= Fraction(1, 2**self.s)

    def rule1_log2(self, k: int) -> float:
        n, B = self.n, self.B
        if B < k or k >= n - 1:
            return -math.inf
        lg = math.lgamma
        return (math.log(n) + math.log(n - k - 1) - math.log(2) + lg(B + 1) - lg(B - k + 1) - lg(n + 1) + lg(n - k + 1)) / math.log(2)

    # rule 2: a
    def rule2_ok(self, k: int, x: int) -> bool:
        M = self.s + 64
        p1 = self.p1(k)
        P = -(-(p1.numerator << M) // p1.denominator)
        tail = hg_tail_bound(self.n - 1, self.A, k, x + 1, k, upper=True)
        return (self.H * tail) << M <= math.comb(self.n - 1, k) * ((1 << 64) - P)

    def a_lower(self, k: int) -> int:
        """<= the true min x with H P[Y > x] <= 2^-s (so <= a for every degree >= k): float, with slack."""
        target = 2.0**-self.s * (1 + FINDER_SLACK)
        ok = lambda x: self.H * hg_tail_float(self.n - 1, self.A, k, x + 1, upper=True) <= target
        lo, hi = 0, k  # ok(k): the tail above k is empty
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if ok(mid) else (mid + 1, hi)
        return lo

    def a_exact(self, k: int) -> int:
        a = self.a_lower(k)
        while not self.rule2_ok(k, a):
            a += 1
        while a > 0 and self.rule2_ok(k, a - 1):
            a -= 1
        return a

    # rule 3: z
    def rule3_ok(self, k: int, z: int) -> bool:
        N, n, D = self.n - 1, self.n, self.D
        dropped = hg_tail_bound(N, n - D, k, 0, z - 1, upper=False)
        alive = hg_tail_bound(N, n - D - 1, k, 0, z - 2, upper=False)
        return (D * dropped + (n - D) * alive) << self.f < math.comb(N, k)

    def z_upper(self, k: int) -> int:
        """>= the true max t <= k + 1 with F(t) < 2^-f (so >= z for every degree <= k): float, with slack."""
        if self.D == 0:
            return k + 1
        N, n, D = self.n - 1, self.n, self.D
        target = 2.0**-self.f * (1 + FINDER_SLACK)
        ok = lambda t: (D * hg_tail_float(N, n - D, k, t - 1, upper=False)
                        + (n - D) * hg_tail_float(N, n - D - 1, k, t - 2, upper=False)) < target
        lo, hi = 0, k + 1  # ok(0): both tails empty
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if ok(mid) else (lo, mid - 1)
        return lo

    def z_exact(self, k: int) -> int:
        if self.D == 0:
            return k + 1
        z = min(self.z_upper(k), k + 1)
        while z > 0 and not self.rule3_ok(k, z):
            z -= 1
        while z < k + 1 and self.rule3_ok(k, z + 1):
            z += 1
        return z

    def t_lo(self, k: int, a: int) -> int:
        return max(2, a + 1) if self.threat == "semi-honest" else max(2, (k + 1 + a) // 2 + 1)

    def exact(self, k: int) -> dict | None:
        """The choice for degree k (every field of finder.json), or None when k is rejected."""
        if k < self.n - 1 and not self.rule1(k):
            return None
        a, z = self.a_exact(k), self.z_exact(k)
        t_lo, t_hi = self.t_lo(k, a), min(z, k + 1)
        if t_lo > t_hi:
            return None
        return {"neighbors": k, "threshold": t_lo, "max_threshold": t_hi, "adversarial_bound": a, "survivor_bound": z}

    def rule1_passes(self, k: int) -> bool:
        bound = self.rule1_log2(k) + self.s
        if abs(bound) > 1e-6:
            return bound < 0
        return self.rule1(k)

    def first_accepted(self) -> int | None:
        """The least even k < n - 1 that every rule accepts, None if there is none, shown by rejecting all below it.

        p1 falls as k grows, so rule 1 fails on a prefix of the degrees, found by bisection. Past it the degrees
        are split into blocks, lowest first: a block [k1, k2] is rejected at once when the smallest threshold rule 2
        allows at k1 (a, without p1, only grows with k) exceeds the largest rule 3 allows at k2 (z only grows
        with k), both from binary64 bounds with a 1e-6 relative slack; a single degree that this does not reject
        is decided by the exact rules.
        """
        kmax = (self.n - 2) // 2 * 2
        lo, hi = 2, kmax + 2  # the first even k passing rule 1 is in [lo, hi]; hi = kmax + 2: none
        while lo < hi:
            mid = (lo + hi) // 4 * 2
            lo, hi = (lo, mid) if self.rule1_passes(mid) else (mid + 2, hi)
        stack = [(lo, kmax)]
        while stack:
            k1, k2 = stack.pop()
            if k1 > k2 or self.t_lo(k1, self.a_lower(k1)) > min(self.z_upper(k2), k2 + 1):
                continue
            if k1 == k2:
                if self.exact(k1) is not None:
                    return k1
                continue
            mid = (k1 + k2) // 4 * 2
            stack += [(mid + 2, k2), (k1, mid)]  # the lower half first
        return None


def finder_choice(args: dict) -> dict:
    """The ``choice`` finder.json records for these arguments (or the SPEC's refusal), re-derived."""
    n, delta, alpha, threat, s, f = finder_arguments(args)
    rules = FinderRules(n, worst_case(alpha, n), worst_case(delta, n), threat, s, f)
    if not args.get("complete_only") and threat != "active":
        k = rules.first_accepted()
        if k is not None:
            return {"graph": "harary", **rules.exact(k)}
    choice = rules.exact(n - 1)
    if choice is None:
        raise ValueError("even the complete graph fails")
    return {"graph": "complete", **choice}


def check_finder(data: dict, report: Report) -> None:
    args_of = ("n_clients", "dropout_rate", "adversarial_rate", "threat", "security_bits", "failure_bits", "complete_only")

    def generate(e, where):
        got = finder_choice({x: e[x] for x in args_of})
        for field, want in e["choice"].items():
            report.expect(f"{where} {field}", got.get(field) == want, f"{got.get(field)} != {want}")
        report.expect(f"{where} fields", sorted(got) == sorted(e["choice"]), f"{sorted(got)}")

    def invalid(e, where):
        try:
            finder_choice(e["arguments"])
        except Refused as exc:
            report.expect(where, exc.name == e["error"], f"refused with {exc.name}, the vector says {e['error']}")
        except ValueError:
            report.expect(where, e["error"] == "ValueError", f"refused with ValueError, the vector says {e['error']}")
        else:
            report.expect(where, False, "accepted by the independent implementation")

    _each(report, data.get("generate", []) + data.get("verify", []), "finder/", generate)
    _each(report, data.get("invalid", []), "finder/invalid/", invalid)

# ----------------------------------------------------------------- chapter "Client state" (state version 3)

STATE_MAGIC = b"secagg/v1/client-state\x00"
STATE_VERSION = 3
STATE_MAX_DETAIL = 1024
_PAIR = 2 * SHARE_SIZE


class _Foreign(Exception):
    """A state of another client or other parameters: the SPEC's ValueError, not a DecodeError."""


def _state_params(p: dict) -> dict:
    return {"round_counter": 0, **p}


def _state_window_shape(p: dict, m: int) -> tuple[int, int | None]:
    """(count, centre) of the window a client stores: the R1 window of (params, m); centre None for the whole ring."""
    half = window_half(p, m)
    return (m, None) if half is None else (2 * half + 1, half)


def _state_neighbours(p: dict, m: int, start: int, window_ids: list[int], pos: int) -> list[int]:
    """N(u) recomputed from the stored window, as in R1 step 7."""
    if p["graph"] == "harary" and m - 1 > p["neighbors"]:
        half = p["neighbors"] // 2
        return sorted(window_ids[(pos + d - start) % m] for d in range(-half, half + 1) if d)
    me = window_ids[(pos - start) % m]
    return sorted(v for v in window_ids if v != me)


def _state_ids(r: _Reader, bound: int, n: int, what: str) -> list[int]:
    count = r.count(bound, 4)
    ids = [r.u32() for _ in range(count)]
    if any(b <= a for a, b in zip(ids, ids[1:])) or (ids and not 1 <= ids[0] <= ids[-1] <= n):
        raise ValueError(f"{what}: not strictly increasing ids in [1, n]")
    return ids


def _state_pair(r: _Reader) -> bytes:
    pair = r.take(_PAIR)
    shamir_values(pair, 2)  # a limb >= PRIME is refused
    return pair


def _decode_state(data: bytes, p: dict, me: int, identity: bytes | None) -> dict:
    r, n = _Reader(data), p["n_clients"]
    if r.take(len(STATE_MAGIC)) != STATE_MAGIC:
        raise ValueError("bad magic")
    if (version := r.take(1)[0]) != STATE_VERSION:
        raise ValueError(f"state version {version}")
    if r.take(27) != params_bytes(p):
        raise _Foreign("the state was made under other parameters")
    if (owner := r.u32()) != me:
        raise _Foreign(f"the state of client {owner}")
    phase, has_input = r.take(1)[0], r.take(1)[0]
    if phase > 6 or has_input > 1:
        raise ValueError(f"phase {phase} or input flag {has_input}")
    s: dict = {"phase": phase, "input": unpack(r.take(packed_size(p["dim"], p["bits"])), p["dim"], p["bits"]) if has_input else None}
    if phase == 1:
        s["c_sk"], s["s_sk"] = r.take(32), r.take(32)
        s["signature"] = r.var(64)
        active = p["threat"] == "active"
        if len(s["signature"]) != (64 if active else 0):
            raise ValueError("signature length")
        c_pk, s_pk = x25519(s["c_sk"], _BASE_POINT), x25519(s["s_sk"], _BASE_POINT)
        if active and s["signature"] != ed25519_sign(identity, advertise_statement(p, me, c_pk, s_pk)):
            raise _Foreign("the advertised keys were signed by another identity")
    elif phase == 6:
        code, announce = r.take(1)[0], r.take(1)[0]
        if code not in REASONS or announce > 1:
            raise ValueError(f"abort reason code {code} or announce flag {announce}")
        s.update(reason=REASONS[code], announce=announce, detail=r.var(STATE_MAX_DETAIL).decode("utf-8"))
    elif phase in (2, 3, 4):
        s["sid"] = r.take(32)
        s["m"] = m = r.u32()
        if not p["threshold"] <= m <= n:
            raise ValueError(f"m = {m}")
        s["start"] = start = r.u32()
        if start >= m:
            raise ValueError("start >= m")
        count, centre = _state_window_shape(p, m)
        ids = [r.u32() for _ in range(r.count(count, 4))]
        if len(ids) != count or len(set(ids)) != count or not all(1 <= v <= n for v in ids):
            raise ValueError("window: not count distinct ids in [1, n]")
        if centre is None and (start != 0 or me not in ids):
            raise ValueError("whole-ring window: start != 0 or own id missing")
        if centre is not None and ids[centre] != me:
            raise ValueError("own id not at the window's centre")
        s["window"], s["pos"] = ids, (start + ids.index(me)) % m
        s["nbrs"] = nbrs = _state_neighbours(p, m, start, ids, s["pos"])
        if phase == 2:
            if 64 * len(nbrs) > r.left():
                raise ValueError("truncated: neighbour keys")
            s["peers"] = {v: (r.take(32), r.take(32)) for v in nbrs}
            s["s_sk"], s["b_u"], s["own"] = r.take(32), r.take(32), _state_pair(r)
        else:
            s["A"] = A = _state_ids(r, n, n, "A")
            if not set(A) <= set(nbrs):
                raise ValueError("A is not a subset of N(u)")
            if (1 + len(A)) * _PAIR > r.left():
                raise ValueError("truncated: held shares")
            s["own"] = _state_pair(r)
            s["held"] = {v: _state_pair(r) for v in A}
            if phase == 4:
                if p["threat"] != "active":
                    raise ValueError("phase 4 outside the active model")
                s["S"] = S = _state_ids(r, n, n, "S")
                if not set(S) <= set(ids) or me not in S:
                    raise ValueError("S is not a subset of the window holding u")
                s["root"] = r.take(32)
    if r.left():
        raise ValueError("trailing bytes")
    return s


def decode_state(data: bytes, p: dict, me: int, identity: bytes | None = None) -> dict:
    """The fields of a client state, or the SPEC's refusal: Refused("DecodeError") or a plain ValueError."""
    try:
        return _decode_state(data, _state_params(p), me, identity)
    except _Foreign as exc:
        raise ValueError(str(exc)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused("DecodeError", str(exc)) from None


def encode_state(s: dict, p: dict, me: int) -> bytes:
    p = _state_params(p)
    out = STATE_MAGIC + bytes([STATE_VERSION]) + params_bytes(p) + _u(me, 32) + bytes([s["phase"]])
    out += b"\x00" if s["input"] is None else b"\x01" + pack(s["input"], p["bits"])
    ids = lambda xs: _u(len(xs), 32) + b"".join(_u(x, 32) for x in xs)
    if s["phase"] == 1:
        out += s["c_sk"] + s["s_sk"] + _u(len(s["signature"]), 32) + s["signature"]
    elif s["phase"] == 6:
        detail = s["detail"].encode("utf-8")
        out += bytes([next(c for c, r in REASONS.items() if r == s["reason"]), s["announce"]]) + _u(len(detail), 32) + detail
    elif s["phase"] in (2, 3, 4):
        out += s["sid"] + _u(s["m"], 32) + _u(s["start"], 32) + ids(s["window"])
        if s["phase"] == 2:
            out += b"".join(s["peers"][v][0] + s["peers"][v][1] for v in s["nbrs"]) + s["s_sk"] + s["b_u"] + s["own"]
        else:
            out += ids(s["A"]) + s["own"] + b"".join(s["held"][v] for v in s["A"])
            if s["phase"] == 4:
                out += ids(s["S"]) + s["root"]
    return out


class _ClientReplay(_Round):
    """The clients of one client_state.json round, each step restored from its recorded ``before`` state alone."""

    def __init__(self, e: dict, report: Report, where: str) -> None:
        p = _state_params(e["params"])
        super().__init__({"id": e["id"], "params": p, "random": {}, "dropouts": {}, "inputs": []}, report)
        self.where = where
        self.identity = {int(u): bytes.fromhex(x) for u, x in e.get("identity", {}).items()}
        self.pki = {u: ed25519_public(x) for u, x in self.identity.items()}
        for u, x in e.get("pki", {}).items():
            if int(u) in self.identity:
                self.expect(f"pki of {u} is its identity's public key", self.pki[int(u)].hex() == x)

    def restore(self, u: int, s: dict) -> None:
        """The client's working values from its decoded state (what a restored client knows)."""
        c: dict = {}
        if s["phase"] == 1:
            c.update(c_sk=s["c_sk"], s_sk=s["s_sk"], c_pk=x25519(s["c_sk"], _BASE_POINT), s_pk=x25519(s["s_sk"], _BASE_POINT))
        if s["phase"] in (2, 3, 4):
            m, start, ids = s["m"], s["start"], s["window"]
            positions = [(start + i) % m for i in range(len(ids))]
            c.update(sid=s["sid"], m=m, start=start, pos=s["pos"], window=ids, nbrs=s["nbrs"], positions=positions,
                     at={q: {"client_id": v} for q, v in zip(positions, ids)}, held={u: s["own"]})
        if s["phase"] == 2:
            c.update(s_sk=s["s_sk"], b_u=s["b_u"], k={v: s["peers"][v][1] for v in s["nbrs"]},
                     s_pk_of={v: s["peers"][v][0] for v in s["nbrs"]})
        if s["phase"] in (3, 4):
            c.update(A=s["A"], held={u: s["own"], **s["held"]})
        if s["phase"] == 4:
            c.update(F=set(s["S"]), root=s["root"])
        self.clients[u] = c

    def state_after(self, u: int, phase: int, x: list[int] | None, reply: dict | None) -> dict:
        """The state the SPEC says the client stores after a step, from its working values."""
        c, s = self.clients[u], {"phase": phase, "input": x}
        if phase == 1:
            s.update(c_sk=c["c_sk"], s_sk=c["s_sk"], signature=bytes.fromhex(reply["signature"]))
        if phase in (2, 3, 4):
            s.update(sid=c["sid"], m=c["m"], start=c["positions"][0], window=c["window"], nbrs=c["nbrs"], own=c["held"][u])
        if phase == 2:
            s.update(peers={v: (c["s_pk_of"][v], c["k"][v]) for v in c["nbrs"]}, s_sk=c["s_sk"], b_u=c["b_u"])
        if phase in (3, 4):
            s.update(A=sorted(c["A"]), held={v: c["held"][v] for v in c["A"]})
        if phase == 4:
            s.update(S=sorted(c["F"]), root=c["root"])
        return s

    def step(self, u: int, before: dict, message: bytes | None) -> tuple[str, dict]:
        """Run the client's handler for ``message`` (None: start) from ``before``: (reply type, reply fields)."""
        self.restore(u, before)
        if message is None:
            if before["phase"] != 0:
                raise ValueError("start() from a state that is not phase 0")
            return "AdvertiseKeys", self.client_advertise(u)
        name, f = decode_message(message, self.p)
        handler, phase = {  # the phase whose state accepts the message (chapter "State machines")
            "ShareKeysRequest": (self.client_share_keys, 1), "MaskedInputRequest": (self.client_masked_input, 2),
            "ConsistencyCheckRequest": (self.client_consistency, 3), "UnmaskingRequest": (self.client_unmasking, 4 if self.active else 3),
        }[name]
        if before["phase"] != phase:
            raise ValueError(f"{name} in phase {before['phase']}: out of round")
        if name == "MaskedInputRequest":  # the input the state carries
            self.e["inputs"] = [before["input"]] * self.n
        return name.replace("Request", "Response"), handler(u, f)


_NEXT_PHASE = {None: 1, "ShareKeysRequest": 2, "MaskedInputRequest": 3, "ConsistencyCheckRequest": 4, "UnmaskingRequest": 5}


def check_client_state(data: dict, report: Report) -> None:
    def generate(e, where):
        p, replay = e["params"], _ClientReplay(e, report, where)
        clients = {int(u): steps for u, steps in e["clients"].items()}
        identity = {u: replay.identity.get(u) for u in clients}
        report.expect(f"{where} clients", sorted(clients) == list(range(1, p["n_clients"] + 1)))
        for i in range(max(len(s) for s in clients.values())):
            for u, steps in sorted(clients.items()):
                if i >= len(steps):
                    continue
                st, at = steps[i], f"{where} client {u} step {i}"
                raw_before, raw_after = bytes.fromhex(st["before"]), bytes.fromhex(st["after"])
                before = decode_state(raw_before, p, u, identity[u])
                after = decode_state(raw_after, p, u, identity[u])
                for label, raw, s in (("before", raw_before, before), ("after", raw_after, after)):
                    report.expect(f"{at} {label} re-encodes", encode_state(s, p, u) == raw)
                if i == 0:
                    report.expect(f"{at} starts in phase 0", before["phase"] == 0)
                else:
                    report.expect(f"{at} before is the previous after", st["before"] == steps[i - 1]["after"])
                report.expect(f"{at} input kept", after["input"] == before["input"])
                replay.draws[str(u)] = [bytes.fromhex(x) for x in st["random"]]
                message = None if st["message"] is None else bytes.fromhex(st["message"])
                name, reply = replay.step(u, before, message)
                report.expect(f"{at} every draw used", not replay.draws[str(u)], f"{len(replay.draws[str(u)])} left")
                report.expect(f"{at} reply", st["reply"] is not None and encode_message(name, reply).hex() == st["reply"])
                msg_name = None if message is None else decode_message(message, replay.p)[0]
                phase = _NEXT_PHASE[msg_name]
                want = encode_state(replay.state_after(u, phase, before["input"], reply), p, u)
                report.expect(f"{at} after (phase {phase}) re-derived", want == raw_after, f"recorded phase {after['phase']}")
        report.expect(f"{where} every client completed", all(decode_state(bytes.fromhex(s[-1]["after"]), p, u, identity[u])["phase"] == 5
                                                            for u, s in clients.items()))

    def verify(e, where):
        p, u = e["params"], e["client"]
        replay = _ClientReplay({**e, "identity": {str(u): e["identity"]} if "identity" in e else {}}, report, where)
        replay.pki = {int(v): bytes.fromhex(x) for v, x in e.get("pki", {}).items()}
        identity = bytes.fromhex(e["identity"]) if "identity" in e else None
        raw_before, raw_after = _hex(e, "before"), _hex(e, "after")
        before, after = decode_state(raw_before, p, u, identity), decode_state(raw_after, p, u, identity)
        report.expect(f"{where} before re-encodes", encode_state(before, p, u) == raw_before)
        report.expect(f"{where} after re-encodes", encode_state(after, p, u) == raw_after)
        replay.draws[str(u)] = []
        try:
            replay.step(u, before, _hex(e, "message"))
        except IndexError:
            report.expect(f"{where} refused without drawing", False, "the client drew randomness")
        except ValueError:
            report.expect(f"{where} refused", True)
        else:
            report.expect(f"{where} refused", False, "the independent client accepts the message")
        reason = e["reason"].lower()
        report.expect(f"{where} reason is a SPEC reason", reason in REASONS.values(), e["reason"])
        aborted = {"phase": 6, "input": before["input"], "reason": reason, "announce": 1, "detail": e["detail"]}
        report.expect(f"{where} after is the aborted state", encode_state(aborted, p, u) == raw_after)
        detail = e["detail"].encode("utf-8")[:256].decode("utf-8", errors="ignore")
        report.expect(f"{where} abort message", encode_message("Abort", {"reason": reason, "detail": detail}).hex() == e["abort"])

    def invalid(e, where):
        identity = bytes.fromhex(e["identity"]) if "identity" in e else None
        report.expect_refused(where, lambda: decode_state(_hex(e, "hex"), e["params"], e["client"], identity), e["error"])

    _each(report, data.get("generate", []), "client_state/", generate)
    _each(report, data.get("verify", []), "client_state/verify/", verify)
    _each(report, data.get("invalid", []), "client_state/invalid/", invalid)


CHECKS = {
    "kdf": check_kdf,
    "prg": check_prg,
    "x25519": check_x25519,
    "graph": check_graph,
    "merkle": check_merkle,
    "encoding": check_encoding,
    "transcripts": check_transcripts,
    "shamir": check_shamir,
    "aead": check_aead,
    "packing": check_packing,
    "codec": check_codec,
    "reconstruction": check_reconstruction,
    "finder": check_finder,
    "client_state": check_client_state,
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=pathlib.Path, default=DEFAULT_VECTORS)
    parser.add_argument("--only", action="append", choices=sorted(CHECKS), help="check only this file (repeatable)")
    args = parser.parse_args(argv)
    report = Report()
    self_test(report)
    print(f"self-test: {report.checked} checks, {len(report.failures)} failed")
    for name, check in CHECKS.items():
        if args.only and name not in args.only:
            continue
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
