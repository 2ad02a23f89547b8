"""Client-state vectors: a client's state bytes before and after every message of a round.

Each ``generate`` entry is one round of the library's ``Client`` and
``Server`` with no dropout, every party drawing from its own deterministic
source (``detrandom.py`` keyed by ``"<case>/<party>"``). For every client it
lists ``steps``: ``before`` (the state bytes, hex), ``message`` (the server
message it then receives, hex; for the first step ``null``: ``start()``),
``random`` (every ``token_bytes`` output the client drew while handling it,
in order), ``reply`` (hex, or ``null``) and ``after`` (the state bytes). The
last step's ``after`` is the completed state. Active entries also carry
``identity`` (each client's 32-byte Ed25519 private key, hex) and ``pki``.

* verify: client-side aborts. ``{id, params, client, [identity, pki],
  before, message, reason, detail, abort, after}``: client 1's recorded state
  ``before`` a server message of the round, and that ``message`` with one lie
  (the first and last entries of the ShareKeysRequest's ring window swapped,
  which breaks the ring order the key tree proves, a flipped tag byte of
  a share in the MaskedInputRequest, the client's own id left out of the
  signed survivor set, a survivor also listed as dropped in the
  UnmaskingRequest). Restored with a randomness source that must not be
  called, the client refuses it with ``reason`` (an ``AbortReason`` name) and
  ``detail``, its Abort message is ``abort`` and its state is ``after``.
* invalid: ``{"id", "params", "client", "hex", "error"}``: bytes that
  ``Client.from_state`` must refuse with ``error`` (``DecodeError`` or
  ``ValueError``).

Checked by ``tests/secagg/protocol/test_client_state.py``: restoring
``before`` with the recorded randomness and feeding ``message`` gives exactly
``reply`` and ``after``; ``from_state(x).to_state() == x`` for every state.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from detrandom import DeterministicRandom

from secagg import codec
from secagg.errors import RemoteProtocolError
from secagg.params import Params, ThreatModel
from secagg.primitives.sign import Ed25519SigningKey
from secagg.primitives.words import word_dtype
from secagg.protocol.client import Client
from secagg.protocol.server import Server

CASES = [
    ("n3-complete", dict(n_clients=3, dim=5, bits=13, graph="complete", neighbors=2, threshold=2, threat="semi-honest")),
    ("n5-harary-k2", dict(n_clients=5, dim=3, bits=16, graph="harary", neighbors=2, threshold=2, threat="semi-malicious")),
    ("n4-active", dict(n_clients=4, dim=4, bits=8, graph="complete", neighbors=3, threshold=3, threat="active", round_counter=9)),
]


class _Recording:
    def __init__(self, seed: str) -> None:
        self.inner = DeterministicRandom(seed)
        self.draws: list[str] = []

    def token_bytes(self, n: int) -> bytes:
        out = self.inner.token_bytes(n)
        self.draws.append(out.hex())
        return out


def run(name: str, params_dict: dict) -> dict:
    params = Params(**params_dict)
    n = params.n_clients
    keys: dict[int, Ed25519SigningKey] = {}
    pki = None
    if params.threat is ThreatModel.ACTIVE:
        keys = {u: Ed25519SigningKey.generate(random=DeterministicRandom(f"{name}/identity/{u}")) for u in range(1, n + 1)}
        pki = {u: k.public_bytes for u, k in keys.items()}
    server = Server(params, pki=pki, random=DeterministicRandom(f"{name}/server"))
    rnd = {u: _Recording(f"{name}/client/{u}") for u in range(1, n + 1)}
    clients = {
        u: Client(
            u,
            params,
            input=np.array([(977 * u + 31 * i) % 2**params.bits for i in range(params.dim)], dtype=word_dtype(params.bits)),
            identity_key=keys.get(u),
            pki=pki,
            random=rnd[u],
        )
        for u in range(1, n + 1)
    }
    steps: dict[int, list[dict]] = {u: [] for u in clients}

    def step(u: int, message: bytes | None) -> bytes | None:
        before = clients[u].to_state()
        rnd[u].draws = []
        reply = clients[u].start() if message is None else clients[u].receive(message)
        steps[u].append(
            {
                "before": before.hex(),
                "message": None if message is None else message.hex(),
                "random": list(rnd[u].draws),
                "reply": None if reply is None else reply.hex(),
                "after": clients[u].to_state().hex(),
            }
        )
        return reply

    for u in clients:
        server.receive(u, step(u, None))
    outbox = server.advance()
    while outbox:
        for u in sorted(outbox):
            reply = step(u, outbox[u])
            if reply is not None:
                server.receive(u, reply)
        outbox = server.advance()
    assert server.finished and server.result().included == tuple(range(1, n + 1))
    entry = {"id": name, "params": params_dict, "clients": {str(u): steps[u] for u in clients}}
    if keys:
        entry["identity"] = {str(u): k.private_bytes().hex() for u, k in keys.items()}
        entry["pki"] = {str(u): v.hex() for u, v in pki.items()}
    return entry


def _refusals(entries: list[dict]) -> list[dict]:
    first = entries[0]
    states = [bytes.fromhex(s["after"]) for s in first["clients"]["1"]]
    r1 = states[1]  # client 1 after ShareKeys: an R1 state
    other = dict(first["params"], dim=first["params"]["dim"] + 1)
    out = [
        {"params": first["params"], "client": 1, "hex": r1[:-1].hex(), "error": "DecodeError", "id": "truncated"},
        {"params": first["params"], "client": 1, "hex": (r1 + b"\x00").hex(), "error": "DecodeError", "id": "trailing byte"},
        {"params": first["params"], "client": 1, "hex": (b"X" + r1[1:]).hex(), "error": "DecodeError", "id": "bad magic"},
        {"params": first["params"], "client": 1, "hex": (r1[:23] + b"\x02" + r1[24:]).hex(), "error": "DecodeError", "id": "version 2"},
        {"params": first["params"], "client": 1, "hex": (r1[:23] + b"\x04" + r1[24:]).hex(), "error": "DecodeError", "id": "version 4"},
        {"params": first["params"], "client": 1, "hex": (r1[:55] + b"\x07" + r1[56:]).hex(), "error": "DecodeError", "id": "phase 7"},
        {"params": dict(first["params"], round_counter=1), "client": 1, "hex": r1.hex(), "error": "ValueError", "id": "another round counter"},
        {"params": first["params"], "client": 2, "hex": r1.hex(), "error": "ValueError", "id": "another client's state"},
        {"params": other, "client": 1, "hex": r1.hex(), "error": "ValueError", "id": "other parameters"},
    ]
    return out


class _NoDraws:
    def token_bytes(self, n: int) -> bytes:
        raise AssertionError("a client aborting on a tampered message must draw nothing")


def _tamper(kind: str, msg):
    """The lie of the server for one client-side abort vector."""
    if kind == "window-ends-swapped":
        entries = list(msg.entries)
        entries[0], entries[-1] = entries[-1], entries[0]
        return dataclasses.replace(msg, entries=tuple(entries))
    if kind == "share-blob-flipped":
        first = msg.shares[0]
        blob = first.blob[:-1] + bytes([first.blob[-1] ^ 1])
        return dataclasses.replace(msg, shares=(dataclasses.replace(first, blob=blob), *msg.shares[1:]))
    if kind == "every-share-withheld":  # fewer than t - 1 live holders besides itself: too few survivors
        return dataclasses.replace(msg, shares=())
    if kind == "every-flag-cleared":  # client 1's own flag among them (wire v3: flags of its window)
        return dataclasses.replace(msg, flags=bytes(len(msg.flags)))
    if kind == "survivor-also-dropped":
        v = next(v for v in msg.survivors if v != 1)
        return dataclasses.replace(msg, dropped=tuple(sorted((*msg.dropped, v))))
    raise ValueError(kind)


_ABORTS = {  # message type of the step -> the lies, one vector each
    "ShareKeysRequest": ("window-ends-swapped",),
    "MaskedInputRequest": ("share-blob-flipped", "every-share-withheld"),
    "ConsistencyCheckRequest": ("every-flag-cleared",),
    "UnmaskingRequest": ("survivor-also-dropped",),
}


def _client_aborts(entries: list[dict]) -> list[dict]:
    """Client-side aborts: client 1's recorded state before each server message, the message with one lie."""
    out = []
    for entry in entries:
        params = Params(**entry["params"])
        kw = {}
        if "identity" in entry:
            kw = {
                "identity_key": Ed25519SigningKey.from_private_bytes(bytes.fromhex(entry["identity"]["1"])),
                "pki": {int(k): bytes.fromhex(v) for k, v in entry["pki"].items()},
            }
        for step in entry["clients"]["1"]:
            if step["message"] is None:
                continue
            msg = codec.decode(bytes.fromhex(step["message"]), params=params)
            for kind in _ABORTS[type(msg).__name__]:
                out.append(_client_abort(entry, params, kw, step, msg, kind))
    return out


def _client_abort(entry: dict, params: Params, kw: dict, step: dict, msg, kind: str) -> dict:
    """One client-side abort vector: client 1 restored from ``step``'s before state, given ``msg`` with ``kind``."""
    bad = codec.encode(_tamper(kind, msg))
    client = Client.from_state(bytes.fromhex(step["before"]), 1, params, random=_NoDraws(), **kw)
    try:
        client.receive(bad)
    except RemoteProtocolError as e:
        reason, detail = e.reason, e.detail
    else:
        raise AssertionError(f"{entry['id']}: client 1 accepted {kind}")
    return {
        "id": f"{entry['id']}/{type(msg).__name__}/{kind}",
        "params": entry["params"],
        "client": 1,
        **({"identity": entry["identity"]["1"], "pki": entry["pki"]} if kw else {}),
        "before": step["before"],
        "message": bad.hex(),
        "reason": reason.name,
        "detail": detail,
        "abort": client.abort_message.hex(),
        "after": client.to_state().hex(),
    }


def generate() -> dict:
    entries = [run(name, params) for name, params in CASES]
    return {
        "name": "client_state",
        "version": 1,
        "source": "protocol_spec/tools/gen_client_state.py",
        "generate": entries,
        "verify": _client_aborts(entries),
        "invalid": _refusals(entries),
    }
