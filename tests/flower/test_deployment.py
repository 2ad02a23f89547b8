"""The example app on a real local deployment: a SuperLink and 4 SuperNodes as processes.

Nodes are killed mid-round by signal; each round's secure aggregate must equal
the plain FedAvg of the nodes that stayed (within the quantisation bound), a
dead node must not be sampled again, and every process must be gone at the end.
"""

from __future__ import annotations

import json
import pathlib
import signal
import time

import numpy as np
import pytest

from secagg_flower import SecAggSettings
from secagg_flower.layout import ArraySpec, Layout
from tests.flower.deployment import Deployment

pytestmark = pytest.mark.slow

APP = pathlib.Path(__file__).resolve().parents[2] / "examples" / "flower"
N_NODES = 4
RUN_CONFIG = {
    "num-server-rounds": 2,
    "local-epochs": 5,
    "learning-rate": 0.5,
    "secagg-clip": 4.0,
    "secagg-max-examples": 1000,
    "secagg-poll-interval": 0.1,
}


def _drive(dep: Deployment, kills: dict[int, tuple[int, int]], timeout: float) -> int:
    """Wait for ``flwr run``; send ``kills[node] = (n-th train message, signal)`` as nodes pull them."""
    run = dep.procs["run"]
    deadline = time.monotonic() + timeout
    pending = dict(kills)
    while run.poll() is None and time.monotonic() < deadline:
        for i, (nth, sig) in list(pending.items()):
            if dep.received(i) >= nth:
                dep.signal_node(i, sig)
                del pending[i]
        time.sleep(0.05)
    if run.poll() is None:
        raise AssertionError(f"flwr run did not finish within {timeout:g} s:\n{dep.log('run')[-3000:]}")
    assert not pending, f"nodes never reached their kill point: {pending}\n{dep.log('run')[-3000:]}"
    return run.returncode


def _plain_fedavg(global_model, partitions, cfg):
    from flower_digits import task

    total, acc = 0, None
    for pid in partitions:
        X, y = task.load_partition(pid, N_NODES)
        m, _ = task.train(global_model, X, y, epochs=cfg["local-epochs"], lr=cfg["learning-rate"])
        acc = {k: len(y) * v.astype(np.float64) + (0 if acc is None else acc[k]) for k, v in m.items()}
        total += len(y)
    return {k: v / total for k, v in acc.items()}, total


def _check_rounds(report: dict, partition_of: dict[int, int], cfg: dict) -> None:
    settings = SecAggSettings.from_run_config(cfg)
    specs = (ArraySpec("w", (64, 10), "float32"), ArraySpec("b", (10,), "float32"))
    models = {int(k): {n: np.asarray(v, np.float32) for n, v in m.items()} for k, m in report["models"].items()}
    for r in report["rounds"]:
        rnd = r["round"]
        parts = sorted(partition_of[n] for n in r["included"])
        plain, examples = _plain_fedavg(models[rnd - 1], parts, cfg)
        bound = Layout(specs, len(r["sampled"]), settings).quantisation_bound(examples / settings.max_examples)
        for k in plain:
            err = np.abs(models[rnd][k] - plain[k]).max()
            assert err <= bound + 1e-6, f"round {rnd} {k}: secure aggregate off by {err} > bound {bound}"
        assert r["clipped"] == [0, 0, 0]


def _run_scenario(tmp_path, kills, extra_config, timeout=150):
    cfg = {**RUN_CONFIG, **extra_config, "report-path": str(tmp_path / "report.json")}
    with Deployment(N_NODES, tmp_path / "deploy") as dep:
        try:
            dep.start()
            dep.run(APP, cfg)
            code = _drive(dep, kills, timeout)
            assert code == 0, dep.log("run")[-3000:]
            report = json.loads((tmp_path / "report.json").read_text())
            partition_of = {node: i for i, node in dep.node_ids.items()}
        finally:
            dep.stop()
            assert dep.leftover() == [], "a Flower process outlived the deployment"
    return report, partition_of, cfg


def test_sigterm_during_masked_input_and_unmasking_gives_the_survivors_exact_average(tmp_path):
    # node 0 dies when it pulls its 3rd train message (masked input of round 1),
    # node 1 when it pulls its 8th (unmasking of round 2)
    report, partition_of, cfg = _run_scenario(
        tmp_path,
        {0: (3, signal.SIGTERM), 1: (8, signal.SIGTERM)},
        {"secagg-stage-timeout": 60.0, "secagg-train-timeout": 60.0},  # SIGTERM is seen at once
    )
    node = {i: n for n, i in partition_of.items()}
    r1, r2 = report["rounds"]
    assert r1["dropped"] == {str(node[0]): "masked-input"}
    assert sorted(r1["included"]) == sorted(node[i] for i in (1, 2, 3))
    assert node[0] not in r2["sampled"]
    assert r2["dropped"] == {str(node[1]): "unmask"}
    assert sorted(r2["included"]) == sorted(node[i] for i in (1, 2, 3))  # it uploaded before it died
    _check_rounds(report, partition_of, cfg)


def test_sigkill_is_caught_by_the_stage_timeout_and_the_node_is_not_sampled_again(tmp_path):
    report, partition_of, cfg = _run_scenario(
        tmp_path,
        {2: (3, signal.SIGKILL)},
        # SIGKILL is seen only through the timeout; under load a live node's stage takes up to ~15 s here
        {"secagg-stage-timeout": 25.0, "secagg-train-timeout": 25.0},
    )
    node = {i: n for n, i in partition_of.items()}
    r1, r2 = report["rounds"]
    assert r1["dropped"] == {str(node[2]): "masked-input"}
    assert node[2] in r1["excluded"] and node[2] not in r2["sampled"]
    assert r2["dropped"] == {} and sorted(r2["included"]) == sorted(node[i] for i in (0, 1, 3))
    _check_rounds(report, partition_of, cfg)


def test_an_overspent_dp_budget_stops_the_run_before_any_node_is_asked(tmp_path):
    cfg = {"num-server-rounds": 2, "dp-noise-multiplier": 1.0, "dp-min-clients": 2, "dp-epsilon": 1.0}
    with Deployment(2, tmp_path / "deploy") as dep:
        try:
            dep.start()
            dep.run(APP, cfg)
            _drive(dep, {}, 120)
            log = dep.log("run")
            assert "round 1 refused before it started: the privacy budget epsilon=1.0" in log
            assert "Exit Code: 201" in log  # the ServerApp process failed (flwr run itself exits 0)
            assert dep.received(0) == dep.received(1) == 0
        finally:
            dep.stop()
            assert dep.leftover() == []
