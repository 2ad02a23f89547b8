"""CKKS backend costs for d in {1e4, 1e5, 1e6} with the "default" parameter set.

Per d: client encryption of one vector (``Client.encrypt``, envelope included),
the server's streaming sum of n = 100 uploads, and the key holder's decryption
of the aggregate. Bytes per client (the UPLOAD envelope) sit in each
benchmark's ``extra_info`` next to plain float32 (``4 * d``).

The server sum receives *the same* envelope 100 times under 100 client ids, to
keep the run short: every ``receive`` still decodes the envelope, deserialises
and validates every ciphertext and adds it, which is exactly the per-client
work with 100 distinct uploads (ciphertext values do not change the cost).

Rounds are kept low (3, and 1 for d = 1e6 where one server round is ~20 s).

Run: ``.venv/bin/python -m pytest bench/test_ckks.py -q --benchmark-columns=median,rounds``
"""

from __future__ import annotations

import numpy as np
import pytest

from secagg.ckks import Client, KeyHolder, Server, plan_sizes
from tests.ckks.hostile import relin_bomb  # run from the repository root (python -m pytest)

N_CLIENTS = 100
DIMS = [10_000, 100_000, 1_000_000]
PARAMS = "default"


def _rounds(dim: int) -> int:
    return 1 if dim >= 1_000_000 else 3


@pytest.fixture(scope="module")
def key_holder():
    return KeyHolder(PARAMS)


@pytest.fixture(scope="module")
def uploads(key_holder):
    rng = np.random.default_rng(7)  # test data, not secret
    return {d: Client(key_holder.signed_context, key_holder_key=key_holder.verify_key).encrypt(rng.uniform(-1, 1, d)) for d in DIMS}


def _bytes_info(benchmark, dim: int, upload: bytes, key_holder: KeyHolder) -> None:
    plan = plan_sizes(dim, PARAMS)
    benchmark.extra_info.update(
        {
            "dim": dim,
            "upload_bytes": len(upload),
            "planned_upload_bytes": plan.upload_bytes,
            "float32_bytes": 4 * dim,
            "ratio_to_float32": round(len(upload) / (4 * dim), 2),
            "ciphertexts_per_client": plan.ciphertexts_per_client,
            "public_context_bytes": len(key_holder.public_context),
        }
    )


@pytest.mark.parametrize("dim", DIMS)
def test_client_encrypt(benchmark, key_holder, uploads, dim):
    benchmark.group = f"ckks d={dim:.0e}"
    client = Client(key_holder.signed_context, key_holder_key=key_holder.verify_key)
    x = np.random.default_rng(dim).uniform(-1, 1, dim)
    client.encrypt(x[: min(dim, 10)])  # warm-up
    envelope = benchmark.pedantic(client.encrypt, args=(x,), rounds=_rounds(dim), iterations=1)
    _bytes_info(benchmark, dim, envelope, key_holder)


@pytest.mark.parametrize("dim", DIMS)
def test_server_sum_of_100(benchmark, key_holder, uploads, dim):
    benchmark.group = f"ckks d={dim:.0e}"
    upload = uploads[dim]

    def setup():
        return (Server(key_holder.signed_context, key_holder_key=key_holder.verify_key, dim=dim),), {}

    def run(server):
        for cid in range(1, N_CLIENTS + 1):
            server.receive(cid, upload)
        return server.finish()

    out = benchmark.pedantic(run, setup=setup, rounds=_rounds(dim), iterations=1)
    assert out.count == N_CLIENTS
    _bytes_info(benchmark, dim, upload, key_holder)


@pytest.mark.parametrize("dim", DIMS)
def test_key_holder_decrypt(benchmark, key_holder, uploads, dim):
    benchmark.group = f"ckks d={dim:.0e}"
    server = Server(key_holder.signed_context, key_holder_key=key_holder.verify_key, dim=dim)
    server.receive(1, uploads[dim])
    server.receive(2, uploads[dim])
    aggregate = server.finish().envelope
    total = benchmark.pedantic(key_holder.decrypt, args=(aggregate,), kwargs={"dim": dim, "value_bound": 1.0},
                               rounds=_rounds(dim), iterations=1)
    assert total.shape == (dim,)
    _bytes_info(benchmark, dim, uploads[dim], key_holder)


# --------------------------------------------------------------------------- verifiable key holder option (issue 14)

VERIFIABLE_DIMS = [10_000, 100_000]


@pytest.fixture(scope="module")
def identities():
    from secagg.primitives.sign import Ed25519SigningKey

    keys = {cid: Ed25519SigningKey.generate() for cid in range(1, N_CLIENTS + 1)}
    return keys, {cid: k.public_bytes for cid, k in keys.items()}


def _signed_uploads(key_holder, identities, upload):
    from secagg.ckks.auth import SignedUpload, sign_upload

    keys, _ = identities
    round_id = key_holder.open_round()
    return round_id, [
        SignedUpload(client_id=cid, envelope=bytes(upload),
                     signature=sign_upload(keys[cid], upload, client_id=cid, round_id=round_id))
        for cid in range(1, N_CLIENTS + 1)
    ]


@pytest.mark.parametrize("dim", VERIFIABLE_DIMS)
def test_server_sum_of_100_verifiable(benchmark, key_holder, uploads, identities, dim):
    """The server's extra work in the verifiable mode: one signature check and one copy per upload."""
    benchmark.group = f"ckks d={dim:.0e}"
    _, registry = identities

    def setup():
        round_id, signed = _signed_uploads(key_holder, identities, uploads[dim])
        server = Server(key_holder.signed_context, key_holder_key=key_holder.verify_key, dim=dim,
                        client_keys=registry, round_id=round_id)
        return (server, signed), {}

    def run(server, signed):
        for u in signed:
            server.receive(u.client_id, u.envelope, u.signature)
        return server.finish()

    out = benchmark.pedantic(run, setup=setup, rounds=_rounds(dim), iterations=1)
    assert out.count == N_CLIENTS and len(out.uploads) == N_CLIENTS


@pytest.mark.parametrize("dim", VERIFIABLE_DIMS)
def test_key_holder_decrypt_verified_of_100(benchmark, key_holder, uploads, identities, dim):
    """The key holder's cost of the verifiable option: 100 signature checks, the sum recomputed, compared, decrypted."""
    benchmark.group = f"ckks d={dim:.0e}"
    _, registry = identities
    server = Server(key_holder.signed_context, key_holder_key=key_holder.verify_key, dim=dim)
    for cid in range(1, N_CLIENTS + 1):
        server.receive(cid, uploads[dim])
    aggregate = server.finish().envelope  # the sum does not depend on the round id

    def setup():
        round_id, signed = _signed_uploads(key_holder, identities, uploads[dim])
        return (aggregate,), {"uploads": signed, "client_keys": registry, "round_id": round_id, "dim": dim,
                              "value_bound": 1.0}

    total = benchmark.pedantic(key_holder.decrypt_verified, setup=setup, rounds=_rounds(dim), iterations=1)
    assert total.shape == (dim,)
    benchmark.extra_info["forwarded_bytes"] = N_CLIENTS * (len(uploads[dim]) + 64 + 8)


# --------------------------------------------------------------------------- context checks (issue 14)


def test_context_walk_of_the_2_gb_relin_bomb(benchmark, key_holder):
    from secagg.ckks import ContextError
    from secagg.ckks.wire import check_public_context

    benchmark.group = "ckks context checks"
    bomb = relin_bomb(key_holder.public_context)

    def refuse():
        try:
            check_public_context(bomb)
        except ContextError:
            return True
        return False

    assert benchmark(refuse)
    benchmark.extra_info["context_bytes"] = len(bomb)


def test_context_walk_of_a_real_context(benchmark, key_holder):
    from secagg.ckks.wire import check_public_context

    benchmark.group = "ckks context checks"
    benchmark(check_public_context, key_holder.public_context)


def test_signed_context_verification(benchmark, key_holder):
    from secagg.ckks.auth import open_signed_context

    benchmark.group = "ckks context checks"
    benchmark(open_signed_context, key_holder.signed_context, key_holder_key=key_holder.verify_key)
    benchmark.extra_info["signed_context_bytes"] = len(key_holder.signed_context)


def test_client_setup_with_a_signed_context(benchmark, key_holder):
    benchmark.group = "ckks context checks"
    benchmark(Client, key_holder.signed_context, key_holder_key=key_holder.verify_key)
