"""ClientApp: plain Flower training code; the only secure-aggregation line is the mod."""

from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from flower_digits import task
from secagg_flower import secagg_mod

app = ClientApp(mods=[secagg_mod])


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Train on this node's partition, starting from the global model."""
    model = {k: a.numpy() for k, a in msg.content["arrays"].items()}
    X, y = task.load_partition(int(context.node_config["partition-id"]), int(context.node_config["num-partitions"]))
    model, loss = task.train(model, X, y, epochs=int(context.run_config["local-epochs"]), lr=float(context.run_config["learning-rate"]))
    metrics = MetricRecord({"num-examples": len(y), "train-loss": loss})
    arrays = ArrayRecord({k: Array(v) for k, v in model.items()})
    return Message(RecordDict({"arrays": arrays, "metrics": metrics}), reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Loss and accuracy of the global model on this node's share of the test set."""
    model = {k: a.numpy() for k, a in msg.content["arrays"].items()}
    X, y = task.load_test_partition(int(context.node_config["partition-id"]), int(context.node_config["num-partitions"]))
    loss, acc = task.evaluate(model, X, y)
    return Message(RecordDict({"metrics": MetricRecord({"num-examples": len(y), "loss": loss, "accuracy": acc})}), reply_to=msg)
