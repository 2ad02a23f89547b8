"""ClientApp: a legacy NumPyClient with Flower's secaggplus_mod."""

from flwr.app import Context
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import secaggplus_mod

from bench_flower_app.common import local_update


class _Client(NumPyClient):
    def __init__(self, partition: int) -> None:
        self.partition = partition

    def fit(self, parameters, config):
        return [local_update(parameters[0], self.partition)], 100, {}


def client_fn(context: Context):
    return _Client(int(context.node_config["partition-id"])).to_client()


app = ClientApp(client_fn=client_fn, mods=[secaggplus_mod])
