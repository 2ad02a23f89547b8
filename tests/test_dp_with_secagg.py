"""dp and secagg joined end to end: clip -> rotate -> round -> Skellam/DGauss -> mask -> sum -> decode.

``dp`` and ``secagg`` never import each other; this test is where they meet, as
an FL integration would: each client's update goes through
``dp.distributed.encode_client`` into Z_{2^bits}, the vectors are summed by the
real secure-aggregation protocol (with a dropout), and the server decodes the
noisy sum with ``dp.distributed.decode_sum``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import secagg
from dp import PrivacyLedger
from dp.distributed import DistributedDPConfig, decode_sum, encode_client, plan
from tests.detrandom import DeterministicRandom

N_CLIENTS = 6
THRESHOLD = 4
DIM = 1000


@pytest.mark.parametrize("mechanism", ["skellam", "dgauss"])
def test_secure_sum_of_distributed_noise_decodes_to_true_sum_plus_accounted_noise(mechanism):
    config = DistributedDPConfig(
        mechanism=mechanism,
        bits=20,
        l2_clip=1.0,
        noise_multiplier=1.0,
        dim=DIM,
        min_clients=THRESHOLD,  # the protocol's threshold: no sum it outputs has fewer inputs
        max_clients=N_CLIENTS,
        k_stddevs=6.0,
    )
    p = plan(config)
    data_rng = np.random.default_rng(7)  # test data only
    updates = [data_rng.normal(size=DIM) * 0.05 for _ in range(N_CLIENTS)]
    rotation_seed = bytes(range(32))
    noise_source = DeterministicRandom(f"ddp-{mechanism}")
    encoded = [encode_client(u, p, rotation_seed=rotation_seed, random=noise_source) for u in updates]

    result = secagg.secure_sum(
        encoded,
        bits=config.bits,
        neighbors=N_CLIENTS - 1,
        threshold=THRESHOLD,
        dropouts={3: secagg.Phase.MASKED_INPUT},
    )
    assert result.included == (1, 2, 4, 5, 6)

    # The protocol part is exact: the secure sum is the modular sum of the included encodings.
    plain = sum(encoded[u - 1].astype(np.uint64) for u in result.included) & np.uint64(2**config.bits - 1)
    np.testing.assert_array_equal(result.total.astype(np.uint64), plain)

    decoded = decode_sum(result.total, p, rotation_seed=rotation_seed, n_clients=len(result.included))
    clipped_sum = sum(updates[u - 1] * min(1.0, 1.0 / np.linalg.norm(updates[u - 1])) for u in result.included)
    residual = decoded - clipped_sum
    # Five clients, each with variance sigma^2/4 (calibrated to the threshold, 4): total 5/4 sigma^2,
    # more than accounted, plus rounding noise (at most 1/4 per client per coordinate in integer units).
    n_in = len(result.included)
    expected_var = p.central_stddev() ** 2 * n_in / THRESHOLD + n_in / (4 * p.scale**2)
    n = residual.size
    var = float(residual.var())
    # The sample variance of n Gaussian-like values has relative std sqrt(2/n) ~ 4.5%; allow 5 of them.
    assert abs(var / expected_var - 1) < 5 * math.sqrt(2 / n)
    assert abs(float(residual.mean())) < 5 * math.sqrt(expected_var / n)


def test_the_protocol_never_outputs_a_sum_with_fewer_noise_shares_than_accounted():
    # Calibrated to the threshold: when more clients drop than the threshold allows,
    # the protocol aborts instead of releasing a sum that carries less noise.
    p = plan(DistributedDPConfig(mechanism="skellam", bits=20, l2_clip=1.0, noise_multiplier=1.0, dim=64,
                                 min_clients=THRESHOLD, max_clients=N_CLIENTS))
    encoded = [encode_client(np.zeros(64), p, rotation_seed=bytes(32)) for _ in range(N_CLIENTS)]
    with pytest.raises(secagg.ProtocolAborted):
        secagg.secure_sum(encoded, bits=20, neighbors=N_CLIENTS - 1, threshold=THRESHOLD,
                          dropouts={u: secagg.Phase.MASKED_INPUT for u in (1, 2, 3)})


def test_min_contributors_lets_a_sparse_round_keep_its_small_threshold_and_the_accounted_noise():
    # SecAgg+ thresholds are small (t of each neighbourhood), far below the
    # cohort: calibrate the noise to the cohort minimum instead and have the
    # server refuse to output a sum of fewer inputs.
    n, dim = 10, 64
    p = plan(DistributedDPConfig(mechanism="skellam", bits=20, l2_clip=1.0, noise_multiplier=1.0, dim=dim,
                                 min_clients=8, max_clients=n))
    encoded = [encode_client(np.zeros(dim), p, rotation_seed=bytes(32)) for _ in range(n)]
    kw = dict(bits=20, neighbors=4, threshold=3, min_contributors=p.config.min_clients)
    r = secagg.secure_sum(encoded, dropouts={1: secagg.Phase.MASKED_INPUT, 2: secagg.Phase.UNMASKING}, **kw)
    assert len(r.included) == 9 >= p.config.min_clients
    with pytest.raises(secagg.ProtocolAborted, match="min_contributors"):
        secagg.secure_sum(encoded, dropouts={u: secagg.Phase.SHARE_KEYS for u in (1, 2, 3)}, **kw)


def test_a_distributed_round_is_charged_to_the_ledger_before_it_runs():
    config = DistributedDPConfig(
        mechanism="skellam", bits=20, l2_clip=1.0, noise_multiplier=1.0, dim=DIM, min_clients=THRESHOLD
    )
    ledger = PrivacyLedger(epsilon=50.0, delta=1e-5)
    before = ledger.spent_epsilon()
    ledger.charge_ddp_round(plan=plan(config), sampling_rate=1.0)
    assert ledger.spent_epsilon() > before


# --------------------------------------------------------------------------- adaptive clipping (issue 12)


def _adaptive(mechanism: str, n: int, dim: int):
    from dp.adaptive import AdaptiveClipping

    base = DistributedDPConfig(
        mechanism=mechanism, bits=20, l2_clip=1.0, noise_multiplier=1.0, dim=dim, min_clients=n - 1, max_clients=n
    )
    return AdaptiveClipping(base, target_quantile=0.5, initial_clip=0.2, indicator_stddev=1.0)


def _lognormal_updates(rng, n, dim):
    dirs = rng.normal(size=(n, dim))
    return dirs / np.linalg.norm(dirs, axis=1, keepdims=True) * np.exp(rng.normal(0.0, 0.5, size=n))[:, None]


@pytest.mark.slow
@pytest.mark.parametrize("mechanism", ["skellam", "dgauss"])
def test_adaptive_clipping_runs_inside_real_secure_aggregation_and_converges(mechanism):
    # Each client's one masked vector holds its clipped, noised update and its noised clip indicator;
    # the server learns only the two noisy sums (one dropout per round), and moves the clip.
    from dp.adaptive import decode_round, encode_round

    n, dim = 12, 8
    ac = _adaptive(mechanism, n, dim)
    rng = np.random.default_rng(11)  # test data only
    noise = DeterministicRandom(f"adaptive-secagg-{mechanism}")
    ledger = PrivacyLedger(epsilon=1e4, delta=1e-5)
    clips = []
    for r in range(40):
        rp = ac.round_plan()
        ledger.spend(ac.round_event(rp))  # charged before the round runs
        seed = rng.bytes(32)
        updates = _lognormal_updates(rng, n, dim)
        words = [encode_round(u, rp, rotation_seed=seed, random=noise) for u in updates]
        result = secagg.secure_sum(words, bits=20, neighbors=n - 1, threshold=n - 1,
                                   dropouts={1 + r % n: secagg.Phase.MASKED_INPUT})
        assert len(result.included) == n - 1
        plain = sum(words[u - 1].astype(np.uint64) for u in result.included) & np.uint64(2**20 - 1)
        np.testing.assert_array_equal(result.total.astype(np.uint64), plain)  # exact, both parts
        summed, indicator_sum = decode_round(result.total, rp, rotation_seed=seed, n_clients=len(result.included))
        true_unclipped = sum(np.linalg.norm(updates[u - 1]) <= rp.clip for u in result.included) - len(result.included) / 2
        assert abs(indicator_sum - true_unclipped) < 8 * 1.0 * 1.1  # the indicator noise has stddev about 1
        clips.append(ac.update(indicator_sum, len(result.included)))
    assert clips[0] < 0.3 and abs(np.mean(clips[-10:]) - 1.0) < 0.2  # the median norm is 1
    assert ledger.spent_epsilon() > 0 and len(ledger.entries) == 1  # every round the same event: the clip is free


def test_adaptive_clipping_through_the_sans_io_roles():
    from dp.adaptive import decode_round, encode_round

    n, dim = 5, 8
    ac = _adaptive("dgauss", n, dim)
    rp = ac.round_plan()
    rng = np.random.default_rng(12)
    seed = rng.bytes(32)
    updates = _lognormal_updates(rng, n, dim)
    noise = DeterministicRandom("adaptive-roles")
    words = {u: encode_round(updates[u - 1], rp, rotation_seed=seed, random=noise) for u in range(1, n + 1)}
    params = secagg.Params(n_clients=n, dim=rp.words, bits=20, graph=secagg.GraphKind.COMPLETE, neighbors=n - 1,
                           threshold=n - 1)
    server = secagg.Server(params, min_contributors=n - 1, random=DeterministicRandom("roles/server"))
    clients = {u: secagg.Client(u, params, input=words[u], random=DeterministicRandom(f"roles/{u}")) for u in words}
    for u, client in clients.items():
        server.receive(u, client.start())
    while not server.finished:
        for u, data in server.advance().items():
            reply = clients[u].receive(data)
            if reply is not None:
                server.receive(u, reply)
    total = server.result().total
    plain = sum(w.astype(np.uint64) for w in words.values()) & np.uint64(2**20 - 1)
    np.testing.assert_array_equal(np.asarray(total, dtype=np.uint64), plain)
    summed, indicator_sum = decode_round(total, rp, rotation_seed=seed, n_clients=n)
    clipped = sum(u * min(1.0, rp.clip / np.linalg.norm(u)) for u in updates)
    assert np.max(np.abs(summed - clipped)) < 8 * rp.update.central_stddev() * 1.2
    before = ac.clip
    assert ac.update(indicator_sum, n) != before
