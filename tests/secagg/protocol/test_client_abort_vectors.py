"""Client-side aborts pinned by the ``verify`` family of protocol_spec/vectors/client_state.json.

Each vector restores client 1 before a server message, feeds it the message
with one lie, and pins the abort: reason, detail, the Abort bytes the client
sends and its aborted state bytes. The client must draw no randomness.
"""

from __future__ import annotations

import pytest

from secagg import codec
from secagg.errors import AbortReason, RemoteProtocolError
from secagg.messages import Abort
from secagg.params import Params
from secagg.primitives.sign import Ed25519SigningKey
from secagg.protocol.client import Client, ClientAborted
from tests import vectors


class NoDraws:
    def token_bytes(self, n: int) -> bytes:
        raise AssertionError("the aborting client drew randomness")


def _identity(v) -> dict:
    if "identity" not in v:
        return {}
    pki = {int(k): bytes.fromhex(x) for k, x in v["pki"].items()}
    return {"identity_key": Ed25519SigningKey.from_private_bytes(bytes.fromhex(v["identity"])), "pki": pki}


@pytest.mark.parametrize("v", vectors.params("client_state", "verify"))
def test_the_client_aborts_exactly_as_pinned(v):
    params = Params(**v["params"])
    client = Client.from_state(bytes.fromhex(v["before"]), v["client"], params, random=NoDraws(), **_identity(v))
    with pytest.raises(RemoteProtocolError) as info:
        client.receive(bytes.fromhex(v["message"]))
    assert info.value.reason is AbortReason[v["reason"]]
    assert info.value.detail == v["detail"]
    assert client.abort_message.hex() == v["abort"]
    abort = codec.decode(client.abort_message, params=params)
    assert isinstance(abort, Abort) and abort.reason is AbortReason[v["reason"]] and abort.detail == v["detail"]
    assert isinstance(client.state, ClientAborted)
    assert client.to_state().hex() == v["after"]


def test_the_abort_vectors_cover_every_server_message_a_client_receives():
    kinds = {v["id"].split("/")[1] for v in vectors.load("client_state")["verify"]}
    assert kinds == {"ShareKeysRequest", "MaskedInputRequest", "ConsistencyCheckRequest", "UnmaskingRequest"}
