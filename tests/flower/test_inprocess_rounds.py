"""SecAggGrid + secagg_mod + unchanged Flower strategies, over an in-process grid.

The same code paths as a real deployment (messages, records, ``context.state``
holding only bytes between stages) without processes; the real deployment is
tests/flower/test_deployment.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.serverapp.strategy import FedAdam, FedAvg

from dp import BudgetExceededError
from secagg_flower import SecAggGrid, SecAggSettings, SecureRoundAborted, secagg_mod
from secagg_flower.client import STATE_RECORD
from secagg_flower.layout import ArraySpec, Layout
from tests.flower.inprocess import InProcessGrid

CONFIG = {
    "local-epochs": 5, "learning-rate": 0.5, "secagg-clip": 4.0, "secagg-max-examples": 1000,
    "secagg-stage-timeout": 0.3, "secagg-train-timeout": 0.3, "secagg-poll-interval": 0.01,
}


def _app():
    from flower_digits.client_app import app

    return app


def _initial():
    from flower_digits import task

    return ArrayRecord({k: Array(v) for k, v in task.initial_model().items()})


def _plain_fedavg(global_model, partitions, n_parts, cfg):
    from flower_digits import task

    total, acc = 0, None
    for pid in partitions:
        X, y = task.load_partition(pid, n_parts)
        m, _ = task.train(global_model, X, y, epochs=cfg["local-epochs"], lr=cfg["learning-rate"])
        acc = {k: len(y) * v.astype(np.float64) + (0 if acc is None else acc[k]) for k, v in m.items()}
        total += len(y)
    return {k: v / total for k, v in acc.items()}


def _run(grid, strategy, rounds, config):
    models = {}

    def keep(rnd, arrays):
        models[rnd] = {k: a.numpy() for k, a in arrays.items()}

    secure = SecAggGrid(grid, settings=SecAggSettings.from_run_config(config))
    strategy.start(grid=secure, initial_arrays=_initial(), num_rounds=rounds, evaluate_fn=keep)
    return secure, models


def _bound(secure, report, n_parts):
    from flower_digits import task

    specs = (ArraySpec("w", (64, 10), "float32"), ArraySpec("b", (10,), "float32"))
    layout = Layout(specs, len(report.sampled), secure.settings)
    examples = sum(len(task.load_partition(p, n_parts)[1]) for p in report.included_partitions)
    return layout.quantisation_bound(examples / secure.settings.max_examples) + 1e-6


def test_fedavg_rounds_equal_the_plain_average_of_the_survivors_with_dropouts_at_two_stages():
    grid = InProcessGrid(_app(), 5, CONFIG)
    nodes = sorted(grid.contexts)
    grid.kill_at = {nodes[0]: (3, "term"), nodes[1]: (6, "kill")}  # masked input of round 1; share keys of round 2
    secure, models = _run(grid, FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2), 2, CONFIG)
    r1, r2 = secure.reports
    assert r1.dropped == {nodes[0]: "masked-input"}
    assert sorted(r1.included) == nodes[1:]
    assert nodes[0] not in r2.sampled  # a node that is gone is not sampled again
    assert r2.dropped == {nodes[1]: "share-keys"} and sorted(r2.included) == nodes[2:]
    assert nodes[1] in secure.reports[1].excluded
    pid = {n: grid.contexts[n].node_config["partition-id"] for n in nodes}
    for rnd, report in ((1, r1), (2, r2)):
        report.included_partitions = [pid[n] for n in report.included]
        plain = _plain_fedavg(models[rnd - 1], report.included_partitions, 5, CONFIG)
        bound = _bound(secure, report, 5)
        for k in plain:
            assert np.abs(models[rnd][k] - plain[k]).max() <= bound, (rnd, k)
        assert report.clipped == (0, 0, 0)
    # nothing is left on the nodes that finished the round
    assert all(STATE_RECORD not in grid.contexts[n].state for n in r2.included)


def test_a_dropout_during_unmasking_keeps_the_node_in_the_sum():
    grid = InProcessGrid(_app(), 4, CONFIG)
    nodes = sorted(grid.contexts)
    grid.kill_at = {nodes[2]: (4, "term")}
    secure, models = _run(grid, FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2), 1, CONFIG)
    (r1,) = secure.reports
    assert r1.dropped == {nodes[2]: "unmask"} and sorted(r1.included) == nodes
    plain = _plain_fedavg(models[0], [0, 1, 2, 3], 4, CONFIG)
    r1.included_partitions = [0, 1, 2, 3]
    assert np.abs(models[1]["w"] - plain["w"]).max() <= _bound(secure, r1, 4)


def test_fedadam_runs_unchanged_and_moves_from_the_secure_average():
    grid = InProcessGrid(_app(), 3, CONFIG)
    strategy = FedAdam(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2, eta=0.1)
    secure, models = _run(grid, strategy, 2, CONFIG)
    assert len(secure.reports) == 2 and all(len(r.included) == 3 for r in secure.reports)
    assert not np.allclose(models[2]["w"], models[1]["w"])


def test_train_metrics_reach_the_strategy_as_weighted_means_only():
    from flower_digits import task

    grid = InProcessGrid(_app(), 3, CONFIG)
    strategy = FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2)
    secure = SecAggGrid(grid, settings=SecAggSettings.from_run_config(CONFIG))
    result = strategy.start(grid=secure, initial_arrays=_initial(), num_rounds=1)
    metrics = dict(result.train_metrics_clientapp[1])
    sizes, losses = [], []
    for p in range(3):
        X, y = task.load_partition(p, 3)
        _, loss = task.train(task.initial_model(), X, y, epochs=CONFIG["local-epochs"], lr=CONFIG["learning-rate"])
        sizes.append(len(y))
        losses.append(loss)
    expected = sum(n * v for n, v in zip(sizes, losses)) / sum(sizes)
    # metric step 2^-10, three stochastic roundings, divided by the summed weight
    assert abs(metrics["train-loss"] - expected) <= 3 * 2**-10 / (sum(sizes) / CONFIG["secagg-max-examples"])
    # every reply that left a node held only the protocol record: no clear update, count or metric
    assert len(grid.answered) == 12
    assert all(set(r.content.keys()) == {"secagg-dp"} for r in grid.answered)


def test_too_many_dropouts_abort_the_round_instead_of_summing_fewer_than_the_threshold():
    cfg = {**CONFIG, "secagg-threshold": 3, "secagg-neighbors": 2}
    grid = InProcessGrid(_app(), 3, cfg)
    nodes = sorted(grid.contexts)
    grid.kill_at = {nodes[0]: (3, "term")}
    with pytest.raises(SecureRoundAborted, match="too_few_survivors"):
        _run(grid, FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2), 1, cfg)


def test_the_mod_refuses_a_plain_train_message():
    grid = InProcessGrid(_app(), 2, CONFIG)
    node = sorted(grid.contexts)[0]
    msg = Message(RecordDict({"arrays": _initial(), "config": ConfigRecord({})}), dst_node_id=node, message_type="train")
    (reply,) = grid.send_and_receive([msg])
    assert reply.has_error() and "plain train message" in reply.error.reason


def test_a_replayed_stage_is_refused_and_clears_the_state():
    grid = InProcessGrid(_app(), 3, CONFIG)
    secure = SecAggGrid(grid, settings=SecAggSettings.from_run_config(CONFIG))
    FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2).start(grid=secure, initial_arrays=_initial(), num_rounds=1)
    share_keys = next(m for m in grid.pushed if m.content.config_records.get("secagg-dp", {}).get("stage") == "share-keys")
    copy = Message(share_keys.content, dst_node_id=share_keys.metadata.dst_node_id, message_type="train")
    (reply,) = grid.send_and_receive([copy])
    assert reply.has_error() and "no protocol state" in reply.error.reason


def test_an_overspent_budget_stops_the_run_before_the_round_is_sent():
    cfg = {
        **CONFIG, "dp-noise-multiplier": 0.5, "dp-min-clients": 2, "dp-epsilon": 1.0, "dp-delta": 1e-5, "dp-l2-clip": 1.0,
    }
    grid = InProcessGrid(_app(), 3, cfg)
    with pytest.raises(BudgetExceededError, match="refused before it started"):
        _run(grid, FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2), 3, cfg)
    assert grid.pushed == []  # the first round was already over budget: nothing was sent


def test_distributed_dp_rounds_give_a_noisy_mean_close_to_the_clipped_plain_mean():
    cfg = {
        **CONFIG, "local-epochs": 1, "learning-rate": 0.05, "dp-noise-multiplier": 0.05, "dp-min-clients": 3,
        "dp-epsilon": 1e4, "dp-delta": 1e-5, "dp-l2-clip": 10.0, "dp-bits": 24,
    }
    grid = InProcessGrid(_app(), 3, cfg)
    secure, models = _run(grid, FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2), 1, cfg)
    (r1,) = secure.reports
    assert r1.epsilon is not None and 0 < r1.epsilon <= 1e4
    # unweighted mean of the (unclipped: norms below 10) updates, plus noise of stddev 0.05 * 10 / 3 per coordinate
    from flower_digits import task

    deltas = []
    for p in range(3):
        X, y = task.load_partition(p, 3)
        m, _ = task.train(models[0], X, y, epochs=1, lr=0.05)
        deltas.append(m["w"].astype(np.float64) - models[0]["w"])
        assert np.linalg.norm(np.concatenate([(m[k] - models[0][k]).ravel() for k in m])) < 10
    err = models[1]["w"] - models[0]["w"] - np.mean(deltas, axis=0)
    assert 0 < err.std() < 3 * 0.05 * 10 / 3


def test_a_semi_malicious_round_sums_exactly_and_a_node_refuses_a_downgrade():
    cfg = {**CONFIG, "secagg-threat": "semi-malicious"}
    grid = InProcessGrid(_app(), 4, cfg)
    secure, models = _run(grid, FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2), 1, cfg)
    (r1,) = secure.reports
    r1.included_partitions = [0, 1, 2, 3]
    plain = _plain_fedavg(models[0], [0, 1, 2, 3], 4, cfg)
    assert np.abs(models[1]["w"] - plain["w"]).max() <= _bound(secure, r1, 4)
    # a server configured semi-honest meets nodes that require semi-malicious: every node refuses
    grid = InProcessGrid(_app(), 3, cfg)
    with pytest.raises(SecureRoundAborted, match="too_few_survivors"):
        _run(grid, FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2), 1, CONFIG)
    assert all(r.has_error() and "requires semi-malicious" in r.error.reason for r in grid.answered)


def test_two_nodes_too_few_for_the_finder_run_on_the_complete_graph():
    grid = InProcessGrid(_app(), 2, CONFIG)
    secure, models = _run(grid, FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2), 1, CONFIG)
    (r1,) = secure.reports
    assert r1.params[3:] == (1, 2) and sorted(r1.included) == sorted(grid.contexts)
    r1.included_partitions = [0, 1]
    plain = _plain_fedavg(models[0], [0, 1], 2, CONFIG)
    assert np.abs(models[1]["w"] - plain["w"]).max() <= _bound(secure, r1, 2)


def test_federated_evaluation_is_a_metrics_only_secure_sum():
    from flower_digits import task

    grid = InProcessGrid(_app(), 3, CONFIG)
    secure = SecAggGrid(grid, settings=SecAggSettings.from_run_config(CONFIG))
    strategy = FedAvg(fraction_train=1.0, fraction_evaluate=1.0, min_available_nodes=2)
    result = strategy.start(grid=secure, initial_arrays=_initial(), num_rounds=1)
    assert [r.kind for r in secure.reports] == ["train", "evaluate"]
    got = dict(result.evaluate_metrics_clientapp[1])
    model = {k: a.numpy() for k, a in result.arrays.items()}
    sizes, accs = [], []
    for p in range(3):
        X, y = task.load_test_partition(p, 3)
        sizes.append(len(y))
        accs.append(task.evaluate(model, X, y)[1])
    expected = sum(n * a for n, a in zip(sizes, accs)) / sum(sizes)
    assert abs(got["accuracy"] - expected) <= 3 * 2**-10 / (sum(sizes) / CONFIG["secagg-max-examples"])
    assert all(set(r.content.keys()) == {"secagg-dp"} for r in grid.answered)


def test_federated_evaluation_under_distributed_dp_is_refused():
    cfg = {**CONFIG, "dp-noise-multiplier": 1.0, "dp-min-clients": 2, "dp-epsilon": 50.0, "dp-delta": 1e-5, "dp-l2-clip": 4.0}
    grid = InProcessGrid(_app(), 3, cfg)
    strategy = FedAvg(fraction_train=1.0, fraction_evaluate=1.0, min_available_nodes=2)
    with pytest.raises(ValueError, match="fraction_evaluate=0"):
        strategy.start(grid=SecAggGrid(grid, settings=SecAggSettings.from_run_config(cfg)), initial_arrays=_initial(), num_rounds=1)


def test_a_ledger_file_carries_the_spent_budget_into_the_next_run(tmp_path):
    path = tmp_path / "ledger.json"
    cfg = {
        **CONFIG, "local-epochs": 1, "dp-noise-multiplier": 1.0, "dp-min-clients": 2, "dp-epsilon": 8.0,
        "dp-delta": 1e-5, "dp-l2-clip": 4.0, "dp-ledger": str(path),
    }
    grid = InProcessGrid(_app(), 2, cfg)
    secure, _ = _run(grid, FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2), 1, cfg)
    spent = secure.reports[0].epsilon
    assert path.exists() and 0 < spent < 8.0
    # RDP composes sub-linearly: a fresh ledger fits two such rounds in epsilon = 8 and refuses the third;
    # a second run on the same ledger file starts from the first run's charge and is refused at its round 2
    grid = InProcessGrid(_app(), 2, cfg)
    with pytest.raises(BudgetExceededError, match="round 2 refused before it started"):
        _run(grid, FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2), 3, cfg)
    assert len(grid.pushed) == 4 * 2  # one round of 4 stages to 2 nodes, nothing of round 2
    fresh = InProcessGrid(_app(), 2, {**cfg, "dp-ledger": ""})
    with pytest.raises(BudgetExceededError, match="round 3 refused before it started"):
        _run(fresh, FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2), 3, {**cfg, "dp-ledger": ""})
    from dp import PrivacyLedger

    assert PrivacyLedger.load(path).spent_epsilon() <= 8.0
