"""Vectors for AES-256-GCM share encryption (:mod:`secagg.primitives.aead`).

* generate: fixed key, nonce (fed through a source that returns exactly that
  nonce), associated data and plaintext -> the exact blob
  ``nonce || ciphertext || tag``, made with the library.
* verify: test cases 13 to 16 of McGrew and Viega, "The Galois/Counter Mode of
  Operation (GCM)" (the 256-bit-key cases), copied from the paper and written
  in our blob layout; decrypting gives the plaintext and encrypting with the
  same nonce gives the blob.
* invalid: one flipped bit in the nonce, the ciphertext, the tag or the
  associated data, truncated and extended blobs, a wrong key
  (``InvalidCiphertext``); keys of the wrong length (``ValueError``).
"""

from __future__ import annotations

from detrandom import DeterministicRandom

from secagg.primitives.aead import NONCE_SIZE, associated_data, decrypt, encrypt


class _FixedNonce:
    """A randomness source that returns one given nonce (vector tools only)."""

    def __init__(self, nonce: bytes) -> None:
        self._nonce = nonce

    def token_bytes(self, n: int) -> bytes:
        if n != NONCE_SIZE:
            raise ValueError(f"asked for {n} bytes, this source only gives a {NONCE_SIZE}-byte nonce")
        return self._nonce


_GCM_P = (
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
)
_GCM_C = (
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
)
_GCM_K = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"
# McGrew & Viega, GCM specification, test cases 13-16: (id, K, IV, A, P, C, T).
_GCM_CASES = [
    ("gcm-spec-test-case-13", "00" * 32, "00" * 12, "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"),
    (
        "gcm-spec-test-case-14",
        "00" * 32,
        "00" * 12,
        "",
        "00" * 16,
        "cea7403d4d606b6e074ec5d3baf39d18",
        "d0d1c8a799996bf0265b98b5d48ab919",
    ),
    (
        "gcm-spec-test-case-15",
        _GCM_K,
        "cafebabefacedbaddecaf888",
        "",
        _GCM_P,
        _GCM_C,
        "b094dac5d93471bdec1a502270e3cc6c",
    ),
    (
        "gcm-spec-test-case-16",
        _GCM_K,
        "cafebabefacedbaddecaf888",
        "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        _GCM_P[:120],
        _GCM_C[:120],
        "76fc6ece0f4e1768cddf8853bb2d551b",
    ),
]


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def generate() -> dict:
    random = DeterministicRandom(b"secagg/vectors/aead")
    gen = []
    plaintexts = [0, 1, 15, 16, 17, 64, 1000]
    for i, size in enumerate(plaintexts):
        key = random.token_bytes(32)
        nonce = random.token_bytes(NONCE_SIZE)
        session_id = random.token_bytes(32)
        plaintext = random.token_bytes(size)
        if i == 1:
            ad = b""
        else:
            ad = associated_data(
                purpose="share-encryption", session_id=session_id, round=1, sender=1 + i, receiver=2 + 3 * i
            )
        blob = encrypt(key, plaintext, ad, random=_FixedNonce(nonce))
        if decrypt(key, blob, ad) != plaintext:  # pragma: no cover - a library bug
            raise AssertionError("AEAD round trip failed")
        gen.append(
            {
                "id": f"blob-{i}-plaintext-{size}-bytes",
                "key": key.hex(),
                "nonce": nonce.hex(),
                "associated_data": ad.hex(),
                "plaintext": plaintext.hex(),
                "blob": blob.hex(),
            }
        )

    verify = [
        {"id": ident, "key": k, "nonce": iv, "associated_data": a, "plaintext": p, "blob": iv + c + t}
        for ident, k, iv, a, p, c, t in _GCM_CASES
    ]

    base = gen[4]  # 17-byte plaintext with a full associated data
    key, ad, blob = (bytes.fromhex(base[f]) for f in ("key", "associated_data", "blob"))
    n = len(blob)
    cases = {
        "flipped-nonce-bit-0": (key, _flip(blob, 0), ad),
        "flipped-nonce-bit-95": (key, _flip(blob, 95), ad),
        "flipped-ciphertext-first-bit": (key, _flip(blob, 96), ad),
        "flipped-ciphertext-last-bit": (key, _flip(blob, 8 * (n - 16) - 1), ad),
        "flipped-tag-first-bit": (key, _flip(blob, 8 * (n - 16)), ad),
        "flipped-tag-last-bit": (key, _flip(blob, 8 * n - 1), ad),
        "flipped-associated-data-bit": (key, blob, _flip(ad, 3)),
        "flipped-associated-data-round": (key, blob, _flip(ad, 8 * (len(ad) - 9))),
        "empty-associated-data": (key, blob, b""),
        "associated-data-extra-byte": (key, blob, ad + b"\x00"),
        "truncated-one-byte": (key, blob[:-1], ad),
        "truncated-to-28-bytes": (key, blob[:28], ad),
        "truncated-to-27-bytes": (key, blob[:27], ad),
        "truncated-to-12-bytes": (key, blob[:12], ad),
        "empty-blob": (key, b"", ad),
        "extended-one-byte": (key, blob + b"\x00", ad),
        "wrong-key": (_flip(key, 0), blob, ad),
        "all-zero-key": (bytes(32), blob, ad),
    }
    invalid = [
        {
            "id": ident,
            "operation": "decrypt",
            "key": k.hex(),
            "blob": b.hex(),
            "associated_data": a.hex(),
            "error": "InvalidCiphertext",
        }
        for ident, (k, b, a) in cases.items()
    ]
    for size in (0, 16, 31, 33):
        invalid.append(
            {
                "id": f"decrypt-key-{size}-bytes",
                "operation": "decrypt",
                "key": ("ab" * size),
                "blob": blob.hex(),
                "associated_data": ad.hex(),
                "error": "ValueError",
            }
        )
        invalid.append(
            {
                "id": f"encrypt-key-{size}-bytes",
                "operation": "encrypt",
                "key": ("ab" * size),
                "nonce": base["nonce"],
                "plaintext": base["plaintext"],
                "associated_data": ad.hex(),
                "error": "ValueError",
            }
        )
    return {
        "name": "aead",
        "version": 1,
        "source": "protocol_spec/tools/gen_aead.py; verify entries copied from McGrew and Viega, "
        "The Galois/Counter Mode of Operation (GCM), test cases 13-16",
        "generate": gen,
        "verify": verify,
        "invalid": invalid,
    }
