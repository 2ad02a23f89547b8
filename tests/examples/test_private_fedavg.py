"""End to end: the training demo (examples/private_fedavg) on a tiny configuration.

Skipped when the ``demo`` extra (scikit-learn, mnist1d, matplotlib) is missing;
``make test`` installs it, so CI runs these.
"""

from __future__ import annotations

import csv
import json
import logging
import random

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

import secagg  # noqa: E402
from dp.accounting import ddp_epsilon  # noqa: E402
from dp.errors import BudgetExceededError  # noqa: E402
from examples.private_fedavg import Config, make_arms, make_schedule, run  # noqa: E402
from examples.private_fedavg import arms as A  # noqa: E402
from examples.private_fedavg.data import dirichlet_split  # noqa: E402
from examples.private_fedavg.train import make_task  # noqa: E402

logging.getLogger("absl").setLevel(logging.ERROR)

TINY = Config(name="tiny", clients=24, sampling_rate=0.4, rounds=3, min_clients=4, dropout_rate=0.2,
              local_epochs=2, seed=3)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    lines: list[str] = []
    summary = run(TINY, out, log=lines.append)
    return out, summary, lines


def test_run_writes_metrics_summary_and_plots(tiny_run):
    out, summary, lines = tiny_run
    arms = list(summary["arms"])
    assert arms[:2] == ["plain FedAvg", "SecAgg+"] and len(arms) == 7
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(arms) * TINY.rounds
    assert {r["arm"] for r in rows} == set(arms)
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    for png in ("accuracy_vs_round.png", "accuracy_vs_epsilon.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    # one progress line per (arm, round), then the table
    assert sum(" round " in line for line in lines) == len(arms) * TINY.rounds
    assert "| SecAgg+ Skellam z=1 |" in lines[-1]
    for s in summary["arms"].values():
        assert 0.0 <= s["accuracy"] <= 1.0 and s["rounds"] == TINY.rounds


def test_secagg_arm_matches_plain_arm(tiny_run):
    out, summary, _ = tiny_run
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    plain = [r for r in rows if r["arm"] == "plain FedAvg"]
    sec = [r for r in rows if r["arm"] == "SecAgg+"]
    assert [r["included"] for r in plain] == [r["included"] for r in sec]  # same survivors
    assert abs(summary["arms"]["SecAgg+"]["accuracy"] - summary["arms"]["plain FedAvg"]["accuracy"]) <= 0.01
    assert summary["arms"]["SecAgg+"]["bytes"] > summary["arms"]["plain FedAvg"]["bytes"] > 0


def test_secagg_aggregate_equals_plaintext_within_quantisation():
    rng = np.random.default_rng(0)
    updates = [rng.normal(0, 0.5, 300) for _ in range(8)]
    drops = {2: secagg.Phase.SHARE_KEYS, 5: secagg.Phase.UNMASKING}  # 2 never uploads, 5 uploaded first
    plain = A.Plain("p", clip=1.0, expected_clients=8).aggregate(updates, drops)
    sec = A.SecAgg("s", clip=1.0, expected_clients=8).aggregate(updates, drops)
    assert plain.included == sec.included == 7
    # each of the 7 inputs is quantised with step clip / 2^16 (stochastic rounding: error < one step each)
    assert np.max(np.abs(sec.mean - plain.mean)) <= 7 * 2.0**-16 / 8
    assert np.max(np.abs(plain.mean)) > 1e-3


def test_dp_epsilon_matches_the_accountant_and_the_ledger_refuses_one_more_round(tiny_run):
    _, summary, _ = tiny_run
    task = make_task(TINY)
    arms = make_arms(TINY, task[1].dim)
    ddp = [a for a in arms if isinstance(a, A.DistributedDP)]
    central = [a for a in arms if isinstance(a, A.CentralDP)]
    assert len(ddp) == len(central) == 2
    for a, c in zip(ddp, central):
        expected, _ = ddp_epsilon(plan=a.plan(), sampling_rate=TINY.sampling_rate, steps=TINY.rounds, delta=TINY.delta)
        assert summary["arms"][a.name]["epsilon"] == pytest.approx(expected, rel=1e-6)
        assert summary["arms"][c.name]["epsilon"] <= expected * (1 + 1e-9)  # central calibrated to the same epsilon
        assert summary["arms"][c.name]["epsilon"] == pytest.approx(expected, rel=1e-3)
        for _ in range(TINY.rounds):
            a.ledger.charge_ddp_round(plan=a.plan(), sampling_rate=TINY.sampling_rate)
        before = a.ledger.spent_epsilon()
        with pytest.raises(BudgetExceededError):
            a.aggregate([np.zeros(task[1].dim)] * 5, {})
        assert a.ledger.spent_epsilon() == before
    z1, z2 = (summary["arms"][a.name]["epsilon"] for a in ddp)
    assert z1 > z2  # more noise, less epsilon


def test_too_few_clients_abort_the_dp_round_and_keep_the_model():
    task = make_task(TINY)
    arm = [a for a in make_arms(TINY, task[1].dim) if isinstance(a, A.DistributedDP)][0]
    updates = [np.full(task[1].dim, 0.01)] * 5
    # 5 sampled, 2 vanish before uploading: 3 < min_clients = 4, so the secure sum aborts
    agg = arm.aggregate(updates, {1: secagg.Phase.ADVERTISE_KEYS, 2: secagg.Phase.MASKED_INPUT})
    assert agg.mean is None and agg.epsilon > 0


def test_schedule_is_seeded_and_poisson():
    a, b = make_schedule(TINY), make_schedule(TINY)
    assert a == b
    sizes = [len(r.cohort) for r in make_schedule(Config(clients=1000, sampling_rate=0.1, rounds=20))]
    assert 80 < np.mean(sizes) < 120 and len(set(sizes)) > 1


def test_dirichlet_split_partitions_the_data():
    y = np.repeat(np.arange(10), 50)
    parts = dirichlet_split(y, 20, 0.5, np.random.default_rng(1))
    joined = np.sort(np.concatenate(parts))
    assert np.array_equal(joined, np.arange(len(y))) and min(len(p) for p in parts) >= 2
    # label skew: most clients are far from the uniform label mix
    skew = [np.bincount(y[p], minlength=10).max() / len(p) for p in parts]
    assert np.median(skew) > 0.3


def test_mnist1d_is_generated_locally_and_leaves_global_random_state_alone():
    pytest.importorskip("mnist1d")
    from examples.private_fedavg.data import load_mnist1d

    np_before, py_before = np.random.get_state()[1].copy(), random.getstate()
    d = load_mnist1d(samples=200)
    assert d.x.shape == (160, 40) and d.x_test.shape == (40, 40)
    assert set(np.unique(d.y)) <= set(range(10))
    assert np.array_equal(np.random.get_state()[1], np_before) and random.getstate() == py_before


def test_the_adaptive_clip_arm_moves_its_clip_and_spends_exactly_its_budget(tiny_run):
    _, summary, _ = tiny_run
    task = make_task(TINY)
    arm = [a for a in make_arms(TINY, task[1].dim) if isinstance(a, A.AdaptiveDistributedDP)][0]
    s = summary["arms"][arm.name]
    assert s["epsilon"] == pytest.approx(arm.ledger.epsilon_budget, rel=1e-6)  # every round charged, both noises
    assert s["epsilon_vs_server"] > s["epsilon"]
    rng = np.random.default_rng(0)
    updates = [rng.normal(size=task[1].dim) * 5.0 for _ in range(TINY.min_clients + 2)]  # all far above the clip
    before = arm.clip
    agg = arm.aggregate(updates, {})
    assert agg.mean is not None and arm.adaptive.clip > before  # everyone clipped: the clip grows
