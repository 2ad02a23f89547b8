"""The protocol's envelope inside Flower messages: one ConfigRecord per stage.

A stage message from the server carries, besides the strategy's own records
at the masked-input stage, a ConfigRecord named :data:`RECORD` with exactly
these keys (``int`` unless said)::

    v       format version (:data:`VERSION`)
    stage   one of :data:`STAGES` (str)
    round   the server round (the strategy's group id)
    id      the client's protocol id, 1..n
    params  [n, dim, bits, neighbors, threshold] (list of int)
    graph   "complete" | "harary" (str)
    threat  "semi-honest" | "semi-malicious" (str; the active model needs a PKI this adapter does not set up)
    nonce   32 random bytes naming this secure round; also the DP rotation seed (bytes)
    msg     the encoded protocol message (bytes; absent at "advertise")

A client's reply carries a ConfigRecord :data:`RECORD` with ``v``, ``stage``,
``round``, ``msg`` (bytes) and, at the masked-input stage only, ``arrays``
and ``metrics`` (the record names of its training or evaluation reply, str;
``arrays`` is empty for an evaluation) and ``keys``
(the metric keys in slot order, list of str): public structure, never a
value. Every field is checked (type, range, length) before use; anything else
is a :class:`WireError`.
"""

from __future__ import annotations

import dataclasses

from secagg.params import GraphKind, Params, ThreatModel

__all__ = ["RECORD", "STAGES", "VERSION", "ClientReply", "StageRequest", "WireError"]

RECORD = "secagg-dp"
"""The name of the ConfigRecord that carries the protocol."""

VERSION = 1
STAGES = ("advertise", "share-keys", "masked-input", "unmask")
THREATS = ("semi-honest", "semi-malicious")
"""The threat models the adapter runs, weakest first."""
MAX_MESSAGE = 2**31
_MAX_NAME = 256
_NONCE = 32


class WireError(ValueError):
    """A stage record is malformed: wrong type, range, length or a missing key."""


def _int(rec, key: str, lo: int, hi: int) -> int:
    v = rec.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise WireError(f"{RECORD}.{key} must be an int in [{lo}, {hi}], got {v!r}")
    return v


def _bytes(rec, key: str, lo: int, hi: int) -> bytes:
    v = rec.get(key)
    if not isinstance(v, bytes) or not lo <= len(v) <= hi:
        raise WireError(f"{RECORD}.{key} must be {lo}..{hi} bytes")
    return v


def _str(rec, key: str, choices=None) -> str:
    v = rec.get(key)
    if not isinstance(v, str) or not 0 < len(v) <= _MAX_NAME or (choices is not None and v not in choices):
        raise WireError(f"{RECORD}.{key} must be {'one of ' + repr(choices) if choices else 'a short string'}, got {v!r}")
    return v


def _check_version(rec) -> None:
    if rec.get("v") != VERSION:
        raise WireError(f"{RECORD}.v is {rec.get('v')!r}; this adapter speaks version {VERSION}")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StageRequest:
    """One stage message from the server to one client.

    Attributes:
        stage: one of :data:`STAGES`.
        round: the server round, >= 0.
        client_id: the client's protocol id in ``[1, params.n_clients]``.
        params: the round's :class:`Params`.
        nonce: the round's 32-byte nonce.
        msg: the encoded protocol message (empty at ``"advertise"``).
    """

    stage: str
    round: int
    client_id: int
    params: Params
    nonce: bytes
    msg: bytes = b""

    def to_fields(self) -> dict:
        """The ConfigRecord fields (see the module docstring)."""
        p = self.params
        out = {
            "v": VERSION,
            "stage": self.stage,
            "round": self.round,
            "id": self.client_id,
            "params": [p.n_clients, p.dim, p.bits, p.neighbors, p.threshold],
            "graph": p.graph.value,
            "threat": p.threat.value,
            "nonce": self.nonce,
        }
        if self.msg:
            out["msg"] = self.msg
        return out

    @classmethod
    def from_fields(cls, rec) -> StageRequest:
        """Parse and check a server's stage record.

        Raises:
            WireError: any missing, mistyped or out-of-range field, or
                parameters that :class:`Params` refuses.
        """
        _check_version(rec)
        stage = _str(rec, "stage", STAGES)
        plist = rec.get("params")
        if not isinstance(plist, list) or len(plist) != 5 or not all(type(x) is int for x in plist):
            raise WireError(f"{RECORD}.params must be 5 ints")
        try:
            params = Params(
                n_clients=plist[0], dim=plist[1], bits=plist[2], neighbors=plist[3], threshold=plist[4],
                graph=GraphKind(_str(rec, "graph", [g.value for g in GraphKind])),
                threat=ThreatModel(_str(rec, "threat", THREATS)),
            )
        except (TypeError, ValueError) as exc:
            raise WireError(f"{RECORD}.params refused: {exc}") from None
        msg = b"" if stage == "advertise" else _bytes(rec, "msg", 1, MAX_MESSAGE)
        if stage == "advertise" and "msg" in rec:
            raise WireError(f"{RECORD}.msg is unexpected at the advertise stage")
        return cls(
            stage=stage,
            round=_int(rec, "round", 0, 2**31),
            client_id=_int(rec, "id", 1, params.n_clients),
            params=params,
            nonce=_bytes(rec, "nonce", _NONCE, _NONCE),
            msg=msg,
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClientReply:
    """One client's reply to a stage.

    Attributes:
        stage: the stage answered.
        round: the server round.
        msg: the encoded protocol message.
        arrays_name, metrics_name: masked-input stage only: the record names
            of the training reply (``arrays_name`` empty for evaluation).
        metric_keys: masked-input stage only: the metric keys in slot order.
    """

    stage: str
    round: int
    msg: bytes
    arrays_name: str = ""
    metrics_name: str = ""
    metric_keys: tuple[str, ...] = ()

    def to_fields(self) -> dict:
        """The ConfigRecord fields (see the module docstring)."""
        out = {"v": VERSION, "stage": self.stage, "round": self.round, "msg": self.msg}
        if self.stage == "masked-input":
            out.update(arrays=self.arrays_name, metrics=self.metrics_name, keys=list(self.metric_keys))
        return out

    @classmethod
    def from_fields(cls, rec, *, max_keys: int) -> ClientReply:
        """Parse and check a client's reply record.

        Raises:
            WireError: any missing, mistyped or out-of-range field.
        """
        _check_version(rec)
        stage = _str(rec, "stage", STAGES)
        extra = {}
        if stage == "masked-input":
            keys = rec.get("keys", [])
            if (
                not isinstance(keys, list)
                or len(keys) > max_keys
                or not all(isinstance(k, str) and 0 < len(k) <= _MAX_NAME for k in keys)
                or len(set(keys)) != len(keys)
            ):
                raise WireError(f"{RECORD}.keys must be at most {max_keys} distinct short strings")
            arrays = rec.get("arrays")
            if not isinstance(arrays, str) or len(arrays) > _MAX_NAME:
                raise WireError(f"{RECORD}.arrays must be a short string (empty in a metrics-only round)")
            extra = dict(arrays_name=arrays, metrics_name=_str(rec, "metrics"), metric_keys=tuple(keys))
        return cls(stage=stage, round=_int(rec, "round", 0, 2**31), msg=_bytes(rec, "msg", 1, MAX_MESSAGE), **extra)
