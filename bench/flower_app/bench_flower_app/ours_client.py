"""ClientApp: Message-API training with our secagg_mod."""

from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from bench_flower_app.common import local_update
from secagg_flower import secagg_mod

app = ClientApp(mods=[secagg_mod])


@app.train()
def train(msg: Message, context: Context) -> Message:
    w = local_update(msg.content["arrays"]["w"].numpy(), int(context.node_config["partition-id"]))
    content = RecordDict({"arrays": ArrayRecord({"w": Array(w)}), "metrics": MetricRecord({"num-examples": 100})})
    return Message(content, reply_to=msg)
