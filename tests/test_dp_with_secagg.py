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
