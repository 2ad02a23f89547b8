"""Vectors for X25519 key agreement (:mod:`secagg.primitives.kex`).

* generate: key pairs drawn from a fixed deterministic source, their public
  keys and the shared secret of each pair (made with the library itself).
* verify: RFC 7748 section 6.1 (Alice and Bob: private, public, shared) and
  the two single scalar multiplications of section 5.2 (the second one has
  bit 255 of the u-coordinate set, which X25519 must ignore). Copied from the
  RFC, not computed here.
* invalid: the small-order u-coordinates (all-zero output, ``InvalidKey``),
  each also with bit 255 set; wrong-length public and private keys.
"""

from __future__ import annotations

from detrandom import DeterministicRandom

from secagg.primitives.kex import X25519KeyPair, agree

# RFC 7748, section 6.1.
_RFC7748_6_1 = {
    "alice_private": "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    "alice_public": "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
    "bob_private": "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    "bob_public": "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
    "shared": "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
}

# RFC 7748, section 5.2 (scalar, input u-coordinate, output u-coordinate).
_RFC7748_5_2 = [
    (
        "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
        "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    ),
    (
        "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
        "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
        "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
    ),
]

# u-coordinates of small order (0, 1, the two points of order 8, p-1, p, p+1):
# X25519 of any clamped scalar with these is the all-zero string.
_SMALL_ORDER = {
    "zero": "0000000000000000000000000000000000000000000000000000000000000000",
    "one": "0100000000000000000000000000000000000000000000000000000000000000",
    "order8-a": "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "order8-b": "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "p-minus-1": "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "p": "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "p-plus-1": "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
}


def _set_bit_255(hex_u: str) -> str:
    raw = bytearray(bytes.fromhex(hex_u))
    raw[31] |= 0x80
    return raw.hex()


def generate() -> dict:
    random = DeterministicRandom(b"secagg/vectors/x25519")
    gen = []
    for i in range(4):
        a = X25519KeyPair.generate(random=random)
        b = X25519KeyPair.generate(random=random)
        shared = agree(a, b.public_bytes)
        if agree(b, a.public_bytes) != shared:  # pragma: no cover - a library bug
            raise AssertionError("X25519 is not symmetric")
        gen.append(
            {
                "id": f"pair-{i}",
                "private": a.private_bytes().hex(),
                "public": a.public_bytes.hex(),
                "peer_private": b.private_bytes().hex(),
                "peer_public": b.public_bytes.hex(),
                "shared": shared.hex(),
            }
        )

    r = _RFC7748_6_1
    verify = [
        {
            "id": "rfc7748-6.1-alice",
            "private": r["alice_private"],
            "public": r["alice_public"],
            "peer_public": r["bob_public"],
            "shared": r["shared"],
        },
        {
            "id": "rfc7748-6.1-bob",
            "private": r["bob_private"],
            "public": r["bob_public"],
            "peer_public": r["alice_public"],
            "shared": r["shared"],
        },
    ]
    for i, (scalar, u, out) in enumerate(_RFC7748_5_2, start=1):
        verify.append({"id": f"rfc7748-5.2-{i}", "private": scalar, "peer_public": u, "shared": out})

    alice = r["alice_private"]
    invalid = []
    for name, u in _SMALL_ORDER.items():
        for suffix, value in (("", u), ("-bit255", _set_bit_255(u))):
            invalid.append(
                {
                    "id": f"small-order-{name}{suffix}",
                    "operation": "agree",
                    "private": alice,
                    "peer_public": value,
                    "error": "InvalidKey",
                }
            )
    for n in (0, 31, 33, 64):
        invalid.append(
            {
                "id": f"public-key-{n}-bytes",
                "operation": "agree",
                "private": alice,
                "peer_public": (bytes(range(1, n + 1)) if n else b"").hex(),
                "error": "InvalidKey",
            }
        )
    for n in (0, 31, 33):
        invalid.append(
            {
                "id": f"private-key-{n}-bytes",
                "operation": "from_private_bytes",
                "private": (bytes(range(1, n + 1)) if n else b"").hex(),
                "error": "InvalidKey",
            }
        )
    return {
        "name": "x25519",
        "version": 1,
        "source": "protocol_spec/tools/gen_x25519.py; verify entries copied from RFC 7748 sections 5.2 and 6.1",
        "generate": gen,
        "verify": verify,
        "invalid": invalid,
    }
