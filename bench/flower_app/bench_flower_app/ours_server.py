"""ServerApp: Flower's FedAvg (Message API) over our SecAggGrid."""

import time

from flwr.app import Array, ArrayRecord, Context
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from bench_flower_app.common import CountingGrid, initial
from secagg_flower import SecAggGrid

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    counting = CountingGrid(grid)
    secure = SecAggGrid(counting, context)
    strategy = FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2)
    rounds = []

    def mark(rnd, arrays):
        rounds.append(time.time())

    strategy.start(grid=secure, initial_arrays=ArrayRecord({"w": Array(initial(int(cfg["dim"])))}),
                   num_rounds=int(cfg["num-server-rounds"]), evaluate_fn=mark)
    counting.dump(str(cfg["report-path"]), round_marks=rounds, reports=[r.to_dict() for r in secure.reports])
