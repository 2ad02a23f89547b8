"""ServerApp: an unchanged Flower strategy, run over SecAggGrid."""

import json

from flwr.app import Array, ArrayRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAdam, FedAvg

from flower_digits import task
from secagg_flower import SecAggGrid

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Train for ``num-server-rounds`` rounds; every round's sum is a secure sum."""
    cfg = context.run_config
    if cfg.get("strategy", "fedavg") == "fedadam":
        strategy = FedAdam(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2, eta=0.1)
    else:
        strategy = FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2)
    _, _, X_test, y_test = task.load_data()
    models = {}

    def central_evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model = {k: a.numpy() for k, a in arrays.items()}
        models[server_round] = {k: v.tolist() for k, v in model.items()}
        loss, acc = task.evaluate(model, X_test, y_test)
        return MetricRecord({"loss": loss, "accuracy": acc})

    secure = SecAggGrid(grid, context)
    result = strategy.start(
        grid=secure,
        initial_arrays=ArrayRecord({k: Array(v) for k, v in task.initial_model().items()}),
        num_rounds=int(cfg["num-server-rounds"]),
        evaluate_fn=central_evaluate,
    )
    print(f"final central accuracy: {result.evaluate_metrics_serverapp[max(result.evaluate_metrics_serverapp)]['accuracy']:.3f}")
    if cfg.get("report-path"):
        with open(str(cfg["report-path"]), "w", encoding="utf-8") as f:
            json.dump({"rounds": [r.to_dict() for r in secure.reports], "models": models,
                       "train_metrics": {str(k): dict(v) for k, v in result.train_metrics_clientapp.items()}}, f)
