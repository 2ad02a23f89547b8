"""Whole-round transcripts: every message of a round, byte for byte, from a fixed seed.

Each ``generate`` entry is one round run with the library's
:class:`~secagg.protocol.client.Client` and
:class:`~secagg.protocol.server.Server` and a dropout schedule, driven in the
order of :func:`secagg.driver.secure_sum` by one shared deterministic
randomness source (``protocol_spec/tools/detrandom.py``: call ``c`` of
``token_bytes(n)`` returns ``SHAKE-256(seed || u64le(c))[:n]``, ``c = 1, 2,
...``). The run order (chapter "Protocol", section "Transcripts"):

1. Active model only: identity keys ``Ed25519SigningKey.generate`` for
   clients ``1..n`` in ascending order (one 32-byte draw each).
2. For each phase in ``phases`` (AdvertiseKeys, ShareKeys, MaskedInput,
   ConsistencyCheck in the active model only, Unmasking):

   * the targets are all clients ``1..n`` in the first phase, else the
     recipients of the previous ``advance`` in ascending id order;
   * a target that is scheduled to drop before this phase (or earlier), or
     has finished, is skipped; otherwise it gets its message (``start()`` in
     the first phase, else the server's message of the previous phase), and
     its reply (if any) goes to ``Server.receive`` at once, before the next
     client is served;
   * then ``Server.advance()`` closes the phase; its messages are listed with
     that phase, in ascending recipient order, with ``delivered = false``
     for recipients that drop before the next phase (and for every Abort,
     after which the run stops).

Fields: ``params``; ``seed`` (hex) and ``seed_text``; ``inputs`` (one vector
per client, ``inputs[u-1]`` for client ``u``); ``dropouts`` (``{id: phase}``
where the client vanishes before sending its message of that phase);
``phases``; ``messages`` (``direction`` ``client_to_server`` or
``server_to_client``, ``client``, ``phase``, ``type``, ``hex``, and
``delivered`` for server messages); ``random``: every ``token_bytes`` output,
grouped by who drew it (``"server"``, ``"identity"``, or the client id), in
order, so one party can be replayed alone; ``result``: ``sum``, ``included``
and ``dropped``, or ``aborted`` (the reason) and ``detail``.

* verify / invalid: empty (every entry is checked both by re-running it and
  by replaying each party alone, in ``tests/secagg/protocol/test_transcripts.py``).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from detrandom import DeterministicRandom

from secagg import codec
from secagg.driver import PHASES, Phase
from secagg.errors import RemoteProtocolError
from secagg.params import Params, ThreatModel
from secagg.primitives.sign import Ed25519SigningKey
from secagg.primitives.words import word_dtype
from secagg.protocol.client import Client
from secagg.protocol.server import Server, ServerAborted


def _params(n, dim, graph="complete", k=None, t=2, threat="semi-honest", bits=16, round_counter=0) -> dict:
    return {
        "n_clients": n,
        "dim": dim,
        "bits": bits,
        "graph": graph,
        "neighbors": n - 1 if k is None else k,
        "threshold": t,
        "threat": threat,
        "round_counter": round_counter,
    }


_N3 = _params(3, 4, t=2)
_N4 = _params(4, 6, t=3)
_N5 = _params(5, 8, t=3)
_N5H = _params(5, 8, graph="harary", k=2, t=2)
_N4H = _params(4, 6, graph="harary", k=2, t=2)
_N4M = _params(4, 6, t=3, threat="semi-malicious")
_N4A = _params(4, 6, t=3, threat="active", round_counter=7)
_N8H4 = _params(8, 6, graph="harary", k=4, t=3)
_N4B32 = _params(4, 5, t=2, bits=32)
_N4B7 = _params(4, 9, t=2, bits=7, round_counter=2**64 - 1)
_N4B62 = _params(4, 5, t=2, bits=62)  # 8-byte words (bits 33..62) on the wire and in the PRG
_N5B40 = _params(5, 4, graph="harary", k=2, t=2, bits=40)
_N11A4 = _params(11, 3, graph="harary", k=4, t=3, threat="active", round_counter=5)  # W2 = 9 of 11 positions

CASES = [
    ("n3-complete-no-dropout", _N3, {}),
    ("n3-complete-drop-before-advertise-keys", _N3, {2: "advertise_keys"}),
    ("n3-complete-drop-before-share-keys", _N3, {3: "share_keys"}),
    ("n3-complete-drop-before-masked-input", _N3, {2: "masked_input"}),
    ("n3-complete-drop-before-unmasking", _N3, {1: "unmasking"}),
    ("n4-complete-no-dropout", _N4, {}),
    ("n4-complete-drop-before-advertise-keys", _N4, {1: "advertise_keys"}),
    ("n4-complete-drop-before-share-keys", _N4, {2: "share_keys"}),
    ("n4-complete-drop-before-masked-input", _N4, {4: "masked_input"}),
    ("n4-complete-drop-before-unmasking", _N4, {3: "unmasking"}),
    ("n5-complete-no-dropout", _N5, {}),
    ("n5-complete-drop-before-advertise-keys", _N5, {5: "advertise_keys"}),
    ("n5-complete-drop-before-share-keys", _N5, {1: "share_keys"}),
    ("n5-complete-drop-before-masked-input", _N5, {3: "masked_input"}),
    ("n5-complete-drop-before-unmasking", _N5, {2: "unmasking", 4: "unmasking"}),
    ("n5-complete-drop-in-two-phases", _N5, {1: "share_keys", 2: "masked_input"}),
    ("n4-harary-k2-no-dropout", _N4H, {}),
    ("n4-harary-k2-drop-before-share-keys", _N4H, {3: "share_keys"}),
    ("n4-harary-k2-drop-before-unmasking", _N4H, {2: "unmasking"}),
    ("n5-harary-k2-no-dropout", _N5H, {}),
    ("n5-harary-k2-drop-before-advertise-keys", _N5H, {1: "advertise_keys"}),
    ("n5-harary-k2-drop-before-share-keys", _N5H, {5: "share_keys"}),
    ("n5-harary-k2-drop-before-masked-input", _N5H, {2: "masked_input"}),
    ("n5-harary-k2-drop-before-unmasking", _N5H, {4: "unmasking"}),
    ("n4-semi-malicious-drop-before-masked-input", _N4M, {1: "masked_input"}),
    ("n4-active-no-dropout", _N4A, {}),
    ("n4-active-drop-before-consistency-check", _N4A, {2: "consistency_check"}),
    ("n4-active-drop-before-unmasking", _N4A, {4: "unmasking"}),
    ("n4-semi-malicious-drop-before-unmasking", _N4M, {3: "unmasking"}),
    ("n3-complete-abort-too-few-masked-inputs", _N3, {2: "masked_input", 3: "masked_input"}),
    ("n5-complete-abort-too-few-unmasking-responses", _N5, {1: "share_keys", 2: "masked_input", 3: "unmasking"}),
    ("n8-harary-k4-no-dropout", _N8H4, {}),
    ("n8-harary-k4-drop-before-masked-input", _N8H4, {3: "masked_input", 6: "masked_input"}),
    ("n8-harary-k4-drop-before-unmasking", _N8H4, {5: "unmasking"}),
    ("n4-complete-bits-32-drop-before-masked-input", _N4B32, {2: "masked_input"}),
    ("n4-complete-bits-7-drop-before-unmasking", _N4B7, {4: "unmasking"}),
    ("n11-active-harary-k4-no-dropout", _N11A4, {}),
    ("n11-active-harary-k4-drop-before-masked-input", _N11A4, {6: "masked_input"}),
    ("n11-active-harary-k4-drop-before-consistency-check", _N11A4, {3: "consistency_check"}),
    ("n4-complete-bits-62-drop-before-masked-input", _N4B62, {3: "masked_input"}),
    ("n5-harary-k2-bits-40-drop-before-masked-input", _N5B40, {1: "masked_input"}),
]

_ORDER = {p: i for i, p in enumerate(PHASES)}


def case_inputs(params: Params) -> list[list[int]]:
    """The integer inputs of a case: client ``u``, coordinate ``i`` holds
    ``(40503 u + 9973 i + 12345) mod 2^bits`` (some sums wrap)."""
    mod = 2**params.bits
    return [[(40503 * u + 9973 * i + 12345) % mod for i in range(params.dim)] for u in range(1, params.n_clients + 1)]


class _Recording:
    """Attributes each draw of the shared source to the party that made it."""

    def __init__(self, seed: bytes) -> None:
        self.inner = DeterministicRandom(seed)
        self.actor = "server"
        self.draws: dict[str, list[str]] = defaultdict(list)

    def token_bytes(self, n: int) -> bytes:
        out = self.inner.token_bytes(n)
        self.draws[self.actor].append(out.hex())
        return out


def run(params_dict: dict, dropouts: dict[int, str], seed: bytes) -> dict:
    """Run one round in the documented order and return its transcript fields."""
    params = Params(**params_dict)
    n = params.n_clients
    schedule = {u: Phase(p) for u, p in dropouts.items()}
    inputs = case_inputs(params)
    rnd = _Recording(seed)
    keys: dict[int, Ed25519SigningKey] = {}
    pki = None
    if params.threat is ThreatModel.ACTIVE:
        rnd.actor = "identity"
        keys = {u: Ed25519SigningKey.generate(random=rnd) for u in range(1, n + 1)}
        pki = {u: k.public_bytes for u, k in keys.items()}
    server = Server(params, pki=pki, random=rnd)
    clients = {
        u: Client(
            u, params, input=np.array(inputs[u - 1], dtype=word_dtype(params.bits)), identity_key=keys.get(u), pki=pki, random=rnd
        )
        for u in range(1, n + 1)
    }

    def alive_for(u: int, phase: Phase) -> bool:
        drop = schedule.get(u)
        return drop is None or _ORDER[drop] > _ORDER[phase]

    phases = [p for p in PHASES if p is not Phase.CONSISTENCY_CHECK or params.threat is ThreatModel.ACTIVE]
    messages: list[dict] = []
    outbox: dict[int, bytes] = {}
    result: dict = {}
    for index, phase in enumerate(phases):
        targets = range(1, n + 1) if phase is Phase.ADVERTISE_KEYS else sorted(outbox)
        for u in targets:
            client = clients[u]
            if not alive_for(u, phase) or client.finished:
                continue
            rnd.actor = str(u)
            try:
                reply = client.start() if phase is Phase.ADVERTISE_KEYS else client.receive(outbox[u])
            except RemoteProtocolError as exc:  # never in these honest runs
                raise AssertionError(f"honest client {u} aborted: {exc}") from None
            if reply is None:
                continue
            messages.append(_msg("client_to_server", u, phase, reply, params))
            server.receive(u, reply)
        rnd.actor = "server"
        outbox = server.advance()
        aborted = isinstance(server.state, ServerAborted)
        nxt = phases[index + 1] if index + 1 < len(phases) else None
        for u in sorted(outbox):
            delivered = not aborted and nxt is not None and alive_for(u, nxt) and not clients[u].finished
            messages.append(_msg("server_to_client", u, phase, outbox[u], params, delivered=delivered))
        if aborted:
            result = {"aborted": server.state.reason.value, "detail": server.state.detail}
            break
    else:
        done = server.result()
        plain = np.zeros(params.dim, dtype=object)
        for u in done.included:
            plain = plain + np.array(inputs[u - 1], dtype=object)
        total = [int(v) for v in done.total]
        if total != [int(v) % 2**params.bits for v in plain]:
            raise AssertionError("the protocol's sum is not the plain sum of the included inputs")
        result = {"sum": total, "included": list(done.included), "dropped": list(done.dropped)}
    return {
        "phases": [p.value for p in phases],
        "inputs": inputs,
        "messages": messages,
        "random": dict(rnd.draws),
        "result": result,
    }


def _msg(direction: str, u: int, phase: Phase, data: bytes, params: Params, delivered: bool | None = None) -> dict:
    entry = {
        "direction": direction,
        "client": u,
        "phase": phase.value,
        "type": type(codec.decode(data, params=params)).__name__,
        "hex": data.hex(),
    }
    if delivered is not None:
        entry["delivered"] = delivered
    return entry


def generate() -> dict:
    gen = []
    for ident, params, dropouts in CASES:
        seed_text = f"secagg/vectors/transcripts/{ident}"
        seed = seed_text.encode()
        entry = {
            "id": ident,
            "params": params,
            "seed": seed.hex(),
            "seed_text": seed_text,
            "dropouts": {str(u): p for u, p in sorted(dropouts.items())},
        }
        entry.update(run(params, dropouts, seed))
        gen.append(entry)
    return {
        "name": "transcripts",
        "version": 1,
        "source": "protocol_spec/tools/gen_transcripts.py (library Client/Server driven in the order of "
        "secagg.driver with one shared SHAKE-256 source); tests/secagg/protocol/test_transcripts.py re-runs "
        "each round with its own runner and replays each party alone",
        "generate": gen,
        "verify": [],
        "invalid": [],
    }
