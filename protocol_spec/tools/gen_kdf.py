"""Vectors for the session-bound KDF and the AEAD associated data.

* generate, ``kind = "derive_key"``: :func:`secagg.primitives.kex.derive_key`
  for several purposes, rounds and ids, with the HKDF ``info`` bytes spelled
  out.
* generate, ``kind = "associated_data"``: the bytes of
  :func:`secagg.primitives.aead.associated_data`.
* generate, ``kind = "chain"``: X25519 private key and peer public key ->
  shared secret -> derived key, the whole chain a client runs.
* invalid: malformed purposes (empty, too long, upper case, a space,
  non-ASCII, the reserved ``"prg"``), wrong-length secrets and session ids,
  out-of-range round and ids (``ValueError``).

Every value here is computed by the library from fixed inputs;
``verify_independent.py`` recomputes the KDF and associated data from the
SPEC text.
"""

from __future__ import annotations

from detrandom import DeterministicRandom

from secagg.primitives.aead import associated_data
from secagg.primitives.kex import (
    PURPOSE_MASK_SEED,
    PURPOSE_SHARE_ENCRYPTION,
    X25519KeyPair,
    agree,
    derive_key,
    kdf_info,
)

_U32_MAX = 2**32 - 1

# (purpose, round, sender, receiver)
_CASES = [
    (PURPOSE_SHARE_ENCRYPTION, 1, 1, 2),
    (PURPOSE_SHARE_ENCRYPTION, 1, 2, 1),
    (PURPOSE_SHARE_ENCRYPTION, 4, 1, 2),
    (PURPOSE_MASK_SEED, 2, 1, 2),
    (PURPOSE_MASK_SEED, 2, 7, 1000),
    (PURPOSE_MASK_SEED, 0, 0, 0),
    (PURPOSE_MASK_SEED, 255, _U32_MAX, _U32_MAX - 1),
    ("a", 3, 256, 65536),
    ("0-9-z", 17, 0x01020304, 0x0A0B0C0D),
    ("x" * 64, 1, 1, 2),
]


def generate() -> dict:
    random = DeterministicRandom(b"secagg/vectors/kdf")
    gen = []
    for i, (purpose, rnd, sender, receiver) in enumerate(_CASES):
        shared = random.token_bytes(32)
        session_id = random.token_bytes(32)
        fields = {
            "purpose": purpose,
            "session_id": session_id.hex(),
            "round": rnd,
            "sender": sender,
            "receiver": receiver,
        }
        gen.append(
            {
                "id": f"derive-key-{i}-{purpose[:16]}-r{rnd}",
                "kind": "derive_key",
                "shared_secret": shared.hex(),
                **fields,
                "info": kdf_info(purpose=purpose, round=rnd, sender=sender, receiver=receiver).hex(),
                "key": derive_key(shared, **{**fields, "session_id": session_id}).hex(),
            }
        )
    for i, (purpose, rnd, sender, receiver) in enumerate(_CASES):
        session_id = random.token_bytes(32)
        gen.append(
            {
                "id": f"associated-data-{i}-{purpose[:16]}-r{rnd}",
                "kind": "associated_data",
                "purpose": purpose,
                "session_id": session_id.hex(),
                "round": rnd,
                "sender": sender,
                "receiver": receiver,
                "associated_data": associated_data(
                    purpose=purpose, session_id=session_id, round=rnd, sender=sender, receiver=receiver
                ).hex(),
            }
        )
    for i, (purpose, rnd, u, v) in enumerate(
        [(PURPOSE_SHARE_ENCRYPTION, 1, 1, 2), (PURPOSE_MASK_SEED, 2, 3, 5), (PURPOSE_MASK_SEED, 2, 2, 9)]
    ):
        a = X25519KeyPair.generate(random=random)
        b = X25519KeyPair.generate(random=random)
        session_id = random.token_bytes(32)
        shared = agree(a, b.public_bytes)
        gen.append(
            {
                "id": f"chain-{i}-{purpose}",
                "kind": "chain",
                "private": a.private_bytes().hex(),
                "peer_private": b.private_bytes().hex(),
                "peer_public": b.public_bytes.hex(),
                "shared_secret": shared.hex(),
                "purpose": purpose,
                "session_id": session_id.hex(),
                "round": rnd,
                "sender": min(u, v),
                "receiver": max(u, v),
                "key": derive_key(
                    shared, purpose=purpose, session_id=session_id, round=rnd, sender=min(u, v), receiver=max(u, v)
                ).hex(),
            }
        )

    good = {"purpose": PURPOSE_MASK_SEED, "session_id": "11" * 32, "round": 1, "sender": 1, "receiver": 2}
    secret = "22" * 32
    invalid = []

    def bad(ident: str, operation: str, **changes) -> None:
        entry = {"id": ident, "operation": operation, **good, **changes, "error": "ValueError"}
        if operation == "derive_key":
            entry.setdefault("shared_secret", secret)
        invalid.append(entry)

    for op in ("derive_key", "associated_data"):
        bad(f"{op}-purpose-empty", op, purpose="")
        bad(f"{op}-purpose-65-chars", op, purpose="x" * 65)
        bad(f"{op}-purpose-upper-case", op, purpose="Mask-seed")
        bad(f"{op}-purpose-space", op, purpose="mask seed")
        bad(f"{op}-purpose-nul", op, purpose="mask\x00seed")
        bad(f"{op}-purpose-non-ascii", op, purpose="m\u00e4sk")
        bad(f"{op}-session-id-31-bytes", op, session_id="11" * 31)
        bad(f"{op}-session-id-33-bytes", op, session_id="11" * 33)
        bad(f"{op}-round-256", op, round=256)
        bad(f"{op}-round-negative", op, round=-1)
        bad(f"{op}-sender-2-pow-32", op, sender=2**32)
        bad(f"{op}-receiver-negative", op, receiver=-1)
    bad("derive_key-purpose-prg-reserved", "derive_key", purpose="prg")
    bad("derive_key-shared-secret-31-bytes", "derive_key", shared_secret="22" * 31)
    bad("derive_key-shared-secret-empty", "derive_key", shared_secret="")
    return {
        "name": "kdf",
        "version": 1,
        "source": "protocol_spec/tools/gen_kdf.py (library output from fixed inputs); "
        "re-verified by protocol_spec/tools/verify_independent.py",
        "generate": gen,
        "verify": [],
        "invalid": invalid,
    }
