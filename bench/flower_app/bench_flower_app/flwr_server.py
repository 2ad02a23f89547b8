"""ServerApp: Flower's own SecAgg+ (SecAggPlusWorkflow inside DefaultWorkflow, legacy strategy)."""

import time

from flwr.app import Context
from flwr.common import ndarrays_to_parameters
from flwr.server import LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.serverapp import Grid

from bench_flower_app.common import CountingGrid, initial

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    counting = CountingGrid(grid)
    rounds = []

    def mark(rnd, parameters, config):
        rounds.append(time.time())
        return None

    strategy = FedAvg(fraction_fit=1.0, fraction_evaluate=0.0, min_available_clients=2, evaluate_fn=mark,
                      initial_parameters=ndarrays_to_parameters([initial(int(cfg["dim"]))]))
    legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=int(cfg["num-server-rounds"])), strategy=strategy)
    workflow = DefaultWorkflow(fit_workflow=SecAggPlusWorkflow(
        num_shares=int(cfg["num-shares"]), reconstruction_threshold=int(cfg["threshold"]),
        timeout=float(cfg["secagg-stage-timeout"]),
    ))
    workflow(counting, legacy)
    counting.dump(str(cfg["report-path"]), round_marks=rounds)
