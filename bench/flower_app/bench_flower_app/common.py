"""What both workflows share: the model, the fake training and a byte-counting grid."""

from __future__ import annotations

import json
import time

import numpy as np
from flwr.serverapp import Grid


def initial(dim: int) -> np.ndarray:
    """The initial model: ``dim`` float32 zeros."""
    return np.zeros(dim, np.float32)


def local_update(model: np.ndarray, partition: int) -> np.ndarray:
    """A deterministic, cheap "training": a small per-node step (the benchmark times the aggregation)."""
    rng = np.random.default_rng(partition)  # fake data, not randomness for secrets
    return (model + rng.uniform(-0.5, 0.5, model.shape)).astype(np.float32)


def _size(content) -> int:
    def walk(obj):
        yield obj
        for child in (obj.children or {}).values():
            yield from walk(child)

    return sum(len(o.deflate()) for o in walk(content))


class CountingGrid(Grid):
    """Delegates to a grid; records every exchange: time, direction, message type, group and bytes."""

    def __init__(self, grid: Grid) -> None:
        self._g = grid
        self.events: list[tuple[float, str, int, int]] = []  # (time, "push"/"pull"/"sr", n messages, bytes)
        self.exchanges = 0

    def set_run(self, run):
        self._g.set_run(run)

    @property
    def run(self):
        return self._g.run

    def create_message(self, *a, **k):
        return self._g.create_message(*a, **k)

    def get_node_ids(self):
        return self._g.get_node_ids()

    def push_messages(self, messages):
        messages = list(messages)
        self.exchanges += 1
        self.events.append((time.time(), "down", len(messages), sum(_size(m.content) for m in messages)))
        return self._g.push_messages(messages)

    def pull_messages(self, message_ids):
        out = list(self._g.pull_messages(message_ids))
        self.events.append((time.time(), "up", len(out), sum(_size(m.content) for m in out if m.has_content())))
        return out

    def send_and_receive(self, messages, *, timeout=None):
        messages = list(messages)
        self.exchanges += 1
        self.events.append((time.time(), "down", len(messages), sum(_size(m.content) for m in messages)))
        out = list(self._g.send_and_receive(messages, timeout=timeout))
        self.events.append((time.time(), "up", len(out), sum(_size(m.content) for m in out if m.has_content())))
        return out

    def dump(self, path: str, **extra) -> None:
        """Write the events and ``extra`` as JSON."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"events": self.events, "exchanges": self.exchanges, **extra}, f)
