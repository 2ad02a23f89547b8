"""An in-process Grid for fast tests: real ClientApps and contexts, no processes or sockets.

Each node keeps its own ``Context`` (so ``context.state`` carries the protocol
between stages as on a SuperNode, where only bytes survive); a node can be
made to vanish (``NODE_UNAVAILABLE`` error replies, as the SuperLink sends
after SIGTERM) or to go silent (no reply at all, as after SIGKILL) when it
receives its ``n``-th message.
"""

from __future__ import annotations

from flwr.app import Context, Error, Message, RecordDict
from flwr.common.constant import ErrorCode
from flwr.serverapp import Grid


class InProcessGrid(Grid):
    """Route messages to a ClientApp in this process, one Context per node."""

    def __init__(self, app, n_nodes: int, run_config: dict, *, first_id: int = 1000) -> None:
        self.app = app
        self.contexts = {
            first_id + i: Context(
                run_id=1,
                node_id=first_id + i,
                node_config={"partition-id": i, "num-partitions": n_nodes},
                state=RecordDict(),
                run_config=dict(run_config),
            )
            for i in range(n_nodes)
        }
        self.gone: set[int] = set()  # error replies (NODE_UNAVAILABLE)
        self.silent: set[int] = set()  # no reply at all
        self.kill_at: dict[int, tuple[int, str]] = {}  # node -> (n-th message, "term" | "kill")
        self.received: dict[int, int] = {n: 0 for n in self.contexts}
        self.pushed: list[Message] = []
        self.answered: list[Message] = []  # every reply a node produced
        self._replies: dict[str, Message] = {}
        self._run = None

    def set_run(self, run) -> None:
        self._run = run

    @property
    def run(self):
        return self._run

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None):
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self):
        return [n for n in self.contexts if n not in self.gone]

    def push_messages(self, messages):
        ids = []
        for msg in messages:
            msg.metadata.__dict__["_message_id"] = msg.object_id
            mid = msg.metadata.message_id
            ids.append(mid)
            self.pushed.append(msg)
            node = msg.metadata.dst_node_id
            self.received[node] += 1
            at = self.kill_at.get(node)
            if at is not None and self.received[node] >= at[0]:
                (self.gone if at[1] == "term" else self.silent).add(node)
            if node in self.gone:
                self._replies[mid] = Message(
                    Error(code=ErrorCode.NODE_UNAVAILABLE, reason="Node Unavailable"), reply_to=msg
                )
            elif node in self.silent:
                continue
            else:
                self._replies[mid] = self.app(msg, self.contexts[node])
                self.answered.append(self._replies[mid])
        return ids

    def pull_messages(self, message_ids):
        return [self._replies.pop(mid) for mid in list(message_ids) if mid in self._replies]

    def send_and_receive(self, messages, *, timeout=None):
        ids = self.push_messages(list(messages))
        return self.pull_messages(ids)
