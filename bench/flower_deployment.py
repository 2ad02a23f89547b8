"""Our Flower workflow against Flower's SecAgg+ on the same real local deployment.

For each model size and each workflow: a fresh SuperLink and ``--nodes``
SuperNodes on loopback, ``flwr run`` of the benchmark app for ``--rounds``
rounds, one node SIGTERM'd when it pulls its 3rd training message (the
masked-input stage of round 1 in both workflows). Both use k = 2 neighbours
and threshold 2. Measured on the ServerApp's grid (a counting wrapper under
both workflows): wall time per round, grid exchanges (stages) per round, and
the serialised record bytes to and from the nodes per node and round.

    .venv/bin/python bench/flower_deployment.py [--dims 10000 100000] [--nodes 5] [--rounds 2]

Writes ``bench/report/flower_deployment.json`` and prints a Markdown table.
Run the workflows back to back on an otherwise unchanged machine and compare
ratios: the timing is dominated by Flower's polling and per-message process
start-up, which both pay.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import shutil
import signal
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.flower.deployment import Deployment  # noqa: E402

APP = ROOT / "bench" / "flower_app"

PYPROJECT = """[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "bench-flower-app"
version = "1.0.0"
description = "secagg-dp benchmark app"
license = "Apache-2.0"
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "secagg-dp"

[tool.flwr.app.components]
serverapp = "bench_flower_app.{server}:app"
clientapp = "bench_flower_app.{client}:app"

[tool.flwr.app.config]
dim = 10000
num-server-rounds = 2
report-path = ""
num-shares = 3
threshold = 2
secagg-stage-timeout = 120.0
secagg-train-timeout = 120.0
secagg-neighbors = 2
secagg-threshold = 2
secagg-clip = 1.0
secagg-max-examples = 100
secagg-poll-interval = 0.1
"""

WORKFLOWS = {"ours": ("ours_server", "ours_client"), "flower-secagg+": ("flwr_server", "flwr_client")}


def _machine() -> str:
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} vCPUs, {platform.system()} {platform.release()}"


def _summarise(raw: dict, n_nodes: int, rounds: int) -> dict:
    marks = raw["round_marks"]
    walls = [round(b - a, 2) for a, b in zip(marks, marks[1:])]
    down = sum(e[3] for e in raw["events"] if e[1] == "down")
    up = sum(e[3] for e in raw["events"] if e[1] == "up")
    exchanges = sum(1 for e in raw["events"] if e[1] == "down" and e[2] > 0)
    # nodes per round: n in round 1, n - 1 after the dropout
    node_rounds = n_nodes + (rounds - 1) * (n_nodes - 1)
    return {
        "round_seconds": walls,
        "stages_per_round": exchanges / rounds,
        "bytes_to_node_per_round": round(down / node_rounds),
        "bytes_from_node_per_round": round(up / node_rounds),
    }


def run_one(workflow: str, dim: int, n_nodes: int, rounds: int, work: pathlib.Path, timeout: float) -> dict:
    """One deployment, one ``flwr run``; returns the summary (or the error)."""
    app = work / f"app-{workflow}-{dim}"
    shutil.copytree(APP / "bench_flower_app", app / "bench_flower_app")
    server, client = WORKFLOWS[workflow]
    (app / "pyproject.toml").write_text(PYPROJECT.format(server=server, client=client))
    report = work / f"report-{workflow}-{dim}.json"
    cfg = {"dim": dim, "num-server-rounds": rounds, "report-path": str(report)}
    with Deployment(n_nodes, work / f"deploy-{workflow}-{dim}") as dep:
        dep.start()
        t0 = time.monotonic()
        run = dep.run(app, cfg)
        victim, killed = n_nodes - 1, False
        while run.poll() is None and time.monotonic() - t0 < timeout:
            if not killed and dep.received(victim) >= 3:
                dep.signal_node(victim, signal.SIGTERM)
                killed = True
            time.sleep(0.05)
        total = time.monotonic() - t0
        log = dep.log("run")
        dep.stop()
    if not report.exists():
        return {"error": "no report (the run failed or timed out)", "log_tail": log[-2000:], "seconds": round(total, 1)}
    summary = _summarise(json.loads(report.read_text()), n_nodes, rounds)
    summary["run_seconds"] = round(total, 1)
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dims", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--out", default=str(ROOT / "bench" / "report" / "flower_deployment.json"))
    args = ap.parse_args(argv)
    results = {
        "machine": _machine(),
        "load_average_before": os.getloadavg(),
        "nodes": args.nodes,
        "rounds": args.rounds,
        "dropout": "one node SIGTERM'd at its 3rd training message (masked input of round 1)",
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="secagg-flower-bench-") as tmp:
        for dim in args.dims:
            for workflow in WORKFLOWS:
                key = f"{workflow} d={dim}"
                print(f"running {key} ...", flush=True)
                results["runs"][key] = run_one(workflow, dim, args.nodes, args.rounds, pathlib.Path(tmp), args.timeout)
                print(json.dumps(results["runs"][key]), flush=True)
    results["load_average_after"] = os.getloadavg()
    pathlib.Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"\nmachine: {results['machine']} (shared; load average {results['load_average_before']})")
    print("| workflow | d | wall per round (s) | stages per round | bytes to a node per round | bytes from a node per round |")
    print("|---|---:|---|---:|---:|---:|")
    for key, r in results["runs"].items():
        wf, d = key.split(" d=")
        if "error" in r:
            print(f"| {wf} | {d} | failed: {r['error']} | | | |")
            continue
        print(
            f"| {wf} | {d} | {', '.join(f'{s:.1f}' for s in r['round_seconds'])} | {r['stages_per_round']:g} | "
            f"{r['bytes_to_node_per_round']:,} | {r['bytes_from_node_per_round']:,} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
