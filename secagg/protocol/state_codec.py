"""Client state <-> bytes: versioned, bounds-checked, no pickle.

The layout (a magic, the version, the params bytes, the client id, the phase,
the input if set, then the phase's keys, ids and shares) and the decoding
rules are in SPEC.md, chapter "Client state". As in :mod:`secagg.codec`, every
count is checked against ``n_clients`` and the bytes left before anything is
read, and anything malformed is a :class:`DecodeError`.

>>> from secagg.params import Params
>>> p = Params(n_clients=3, dim=2, bits=8, graph="complete", neighbors=2, threshold=2)
>>> encode_client(p, 1, None, None, None)[:23]
b'secagg/v1/client-state\\x00'
"""

from __future__ import annotations

import struct

import numpy as np

from secagg.codec import ABORT_CODES, _Reader
from secagg.errors import AbortReason, DecodeError, InvalidKey, InvalidShareError
from secagg.kinds import ThreatModel
from secagg.messages import AdvertiseKeys
from secagg.params import Params
from secagg.primitives import kex, shamir, sign
from secagg.primitives.packing import pack, packed_size, unpack
from secagg.primitives.prg import SESSION_ID_SIZE
from secagg.protocol import session
from secagg.protocol.client_states import (
    ClientAborted,
    ClientCompleted,
    ClientR0AdvertiseKeys,
    ClientR1ShareKeys,
    ClientR2MaskedInput,
    ClientR3ConsistencyCheck,
    ClientState,
)

__all__ = ["MAGIC", "STATE_VERSION", "advertised_state", "decode_client", "encode_client"]

MAGIC = b"secagg/v1/client-state\x00"
"""The first bytes of every client state (never a valid wire message, whose first byte is the wire version)."""

STATE_VERSION = 3
"""The client-state format version (3: the ring window replaces the participant list, wire version 3)."""

_PHASES: dict[type | None, int] = {
    None: 0,
    ClientR0AdvertiseKeys: 1,
    ClientR1ShareKeys: 2,
    ClientR2MaskedInput: 3,
    ClientR3ConsistencyCheck: 4,
    ClientCompleted: 5,
    ClientAborted: 6,
}
_PAIR = 2 * shamir.SHARE_SIZE
_MAX_DETAIL = 1024
_SESSION = SESSION_ID_SIZE
_PARAMS_SIZE = 27  # session.params_bytes (wire version 2)
_U32 = struct.Struct("<I")
_REASONS = {code: reason for reason, code in ABORT_CODES.items()}


def advertised_state(
    params: Params, client_id: int, c_keys: kex.X25519KeyPair, s_keys: kex.X25519KeyPair, identity_key: sign.Ed25519SigningKey | None
) -> ClientR0AdvertiseKeys:
    """Return the R0 state of a client with these key pairs (signing its keys in the active model).

    Args:
        params: the round parameters.
        client_id: the client's id.
        c_keys: its share-encryption key pair.
        s_keys: its mask key pair.
        identity_key: its Ed25519 identity key (active model), else ignored.

    Returns:
        The :class:`ClientR0AdvertiseKeys` holding the AdvertiseKeys to send.

    Raises:
        Nothing of its own.
    """
    signature = b""
    if params.threat is ThreatModel.ACTIVE:
        signature = identity_key.sign(session.advertise_statement(params, client_id, c_keys.public_bytes, s_keys.public_bytes))
    msg = AdvertiseKeys(client_id=client_id, c_pk=c_keys.public_bytes, s_pk=s_keys.public_bytes, signature=signature)
    return ClientR0AdvertiseKeys(c_keys, s_keys, msg)


# ---------------------------------------------------------------------------- encoding


def _ids(ids) -> bytes:
    return _U32.pack(len(ids)) + struct.pack(f"<{len(ids)}I", *ids)


def _ring(state) -> bytes:
    return state.sid + _U32.pack(state.m) + _U32.pack(state.start) + _ids(state.window)


def encode_client(
    params: Params, client_id: int, state: ClientState | None, x: np.ndarray | None, abort_message: bytes | None
) -> bytes:
    """Serialise a client's state.

    Args:
        params: the round parameters.
        client_id: the client's id.
        state: its state (None before start).
        x: its input, or None if not set.
        abort_message: its own Abort (only kept as a flag: it is re-encoded from the state).

    Returns:
        The state bytes.

    Raises:
        Nothing of its own.
    """
    head = [MAGIC, bytes((STATE_VERSION,)), session.params_bytes(params), _U32.pack(client_id), bytes((_PHASES[type(state) if state else None],))]
    head.append(b"\x00" if x is None else b"\x01" + pack(x, params.bits))
    return b"".join(head) + _body(state, abort_message is not None)


def _body(state: ClientState | None, announce: bool) -> bytes:
    if isinstance(state, ClientR0AdvertiseKeys):
        sig = state.advertised.signature
        return state.c_keys.private_bytes() + state.s_keys.private_bytes() + _U32.pack(len(sig)) + sig
    if isinstance(state, ClientR1ShareKeys):
        per = b"".join(state.peers[v] + state.share_keys[v] for v in state.neighbors)
        return b"".join(
            (_ring(state), per, state.s_keys.private_bytes(), state.seed, state.own_share)
        )
    if isinstance(state, ClientR2MaskedInput):
        me = next(v for v in state.held if v not in state.alive)
        held = state.held[me] + b"".join(state.held[v] for v in state.alive)
        out = _ring(state) + _ids(state.alive) + held
        return out + (_ids(state.signed) + state.survivors_root if isinstance(state, ClientR3ConsistencyCheck) else b"")
    if isinstance(state, ClientAborted):
        detail = state.detail.encode("utf-8")[:_MAX_DETAIL].decode("utf-8", errors="ignore").encode("utf-8")
        return bytes((ABORT_CODES[state.reason], int(announce))) + _U32.pack(len(detail)) + detail
    return b""


# ---------------------------------------------------------------------------- decoding


def decode_client(
    data: bytes, params: Params, client_id: int, identity_key: sign.Ed25519SigningKey | None
) -> tuple[ClientState | None, np.ndarray | None, bool]:
    """Parse state bytes made by :func:`encode_client` for this client and these parameters.

    Args:
        data: the state bytes.
        params: the round parameters the state must have been made under.
        client_id: the id the state must belong to.
        identity_key: the identity key (active model): the R0 signature is checked against it.

    Returns:
        ``(state, input or None, whether the client announced its own abort)``.

    Raises:
        DecodeError: malformed bytes (see the module docstring).
        ValueError: a state of another client or other parameters, or an R0
            signature that the identity key did not make.
        TypeError: if ``data`` is not bytes-like.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"state must be bytes, got {type(data).__name__}")
    r = _Reader(bytes(data))
    if r.raw(len(MAGIC), "magic") != MAGIC:
        raise DecodeError("not a client state (bad magic)")
    version = r.u8("version")
    if version != STATE_VERSION:
        raise DecodeError(f"client state version {version}, expected {STATE_VERSION}")
    if r.raw(_PARAMS_SIZE, "params") != session.params_bytes(params):
        raise ValueError("the state was made under other round parameters")
    owner = r.u32("client id")
    if owner != client_id:
        raise ValueError(f"the state belongs to client {owner}, not {client_id}")
    phase = r.u8("phase")
    if phase > 6:
        raise DecodeError(f"unknown client-state phase {phase}")
    has_input = r.u8("input flag")
    if has_input > 1:
        raise DecodeError(f"input flag must be 0 or 1, got {has_input}")
    x = None
    if has_input:
        packed = r.raw(packed_size(params.dim, params.bits), "input")
        tail = (params.dim * params.bits) % 8
        if tail and packed[-1] >> tail:
            raise DecodeError("non-zero padding bits in the input")
        x = unpack(packed, params.bits, params.dim)
    state, announce = _read_body(r, phase, params, client_id, identity_key)
    r.done()
    return state, x, announce


def _private(r: _Reader, what: str) -> kex.X25519KeyPair:
    try:
        return kex.X25519KeyPair.from_private_bytes(r.raw(kex.KEY_SIZE, what))
    except (InvalidKey, ValueError):
        raise DecodeError(f"{what} is not a valid X25519 private key") from None


def _pair_bytes(r: _Reader, what: str) -> bytes:
    body = r.raw(_PAIR, what)
    try:
        shamir.shares_from_bytes(body, 2)
    except InvalidShareError:
        raise DecodeError(f"{what} is not a valid share pair") from None
    return body


def _id_set(r: _Reader, what: str, n: int, within=None, exclude: int | None = None) -> tuple[int, ...]:
    ids = r.ids(what, n)
    if any(b <= a for a, b in zip(ids, ids[1:])) or (ids and not 1 <= ids[0] <= ids[-1] <= n):
        raise DecodeError(f"{what} must be strictly increasing ids in [1, {n}]")
    if (within is not None and not set(ids) <= set(within)) or exclude in ids:
        raise DecodeError(f"{what} names clients it cannot hold")
    return ids


def _read_body(r: _Reader, phase: int, p: Params, me: int, identity_key) -> tuple[ClientState | None, bool]:
    n = p.n_clients
    if phase == 0:
        return None, False
    if phase == 1:
        c_keys, s_keys = _private(r, "c_sk"), _private(r, "s_sk")
        signature = r.var("signature", allowed=(64,) if p.threat is ThreatModel.ACTIVE else (0,))
        state = advertised_state(p, me, c_keys, s_keys, identity_key)
        if state.advertised.signature != signature:  # Ed25519 is deterministic: same key, same signature
            raise ValueError("the state's advertised keys were signed by another identity key")
        return state, False
    if phase == 5:
        return ClientCompleted(), False
    if phase == 6:
        return _read_aborted(r)
    sid = r.raw(_SESSION, "session id")
    m, start, window, neighbors = _read_ring(r, p, me)
    if phase == 2:
        return _read_r1(r, sid, m, start, window, neighbors), False
    alive = _id_set(r, "alive", n, within=neighbors)
    if (1 + len(alive)) * _PAIR > r.remaining():
        raise DecodeError("truncated: held shares")
    held = {me: _pair_bytes(r, "own share pair")}
    for v in alive:
        held[v] = _pair_bytes(r, f"share pair of client {v}")
    if phase == 3:
        return ClientR2MaskedInput(sid, m, start, window, neighbors, alive, held), False
    if p.threat is not ThreatModel.ACTIVE:
        raise DecodeError("a signed survivor set (phase 4) exists only in the active threat model")
    signed = _id_set(r, "signed survivors", n, within=window)
    if me not in signed:
        raise DecodeError("signed survivors do not include this client")
    root = r.raw(_SESSION, "survivors root")
    return ClientR3ConsistencyCheck(sid, m, start, window, neighbors, alive, held, signed, root), False


def _read_aborted(r: _Reader) -> tuple[ClientAborted, bool]:
    code = r.u8("abort reason")
    if code not in _REASONS:
        raise DecodeError(f"unknown abort reason code {code}")
    announce = r.u8("announce flag")
    if announce > 1:
        raise DecodeError(f"announce flag must be 0 or 1, got {announce}")
    try:
        detail = r.var("detail", limit=_MAX_DETAIL).decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("abort detail is not UTF-8") from None
    return ClientAborted(_REASONS[code], detail), bool(announce)


def _read_ring(r: _Reader, p: Params, me: int) -> tuple[int, int, tuple[int, ...], tuple[int, ...]]:
    """``u32 m | u32 start | ids in ring order``, shaped as the client's window; returns them and the neighbours."""
    m = r.u32("m")
    if not p.threshold <= m <= p.n_clients:
        raise DecodeError(f"m = {m} participants, expected {p.threshold}..{p.n_clients}")
    start = r.u32("start")
    if start >= m:
        raise DecodeError(f"start = {start}, expected below m = {m}")
    count, centre = session.window_shape(p, m)
    window = r.ids("window", count)
    if len(window) != count or len(set(window)) != count or not all(1 <= v <= p.n_clients for v in window):
        raise DecodeError(f"window must be {count} distinct ids in [1, {p.n_clients}]")
    if centre is None:
        if start != 0 or me not in window:
            raise DecodeError("a whole-ring window starts at 0 and includes this client")
        index = window.index(me)
    elif window[centre] != me:
        raise DecodeError("this client is not at the window's centre")
    else:
        index = centre
    return m, start, window, session.window_neighbors(p, m, start, window, (start + index) % m)


def _read_r1(
    r: _Reader, sid: bytes, m: int, start: int, window: tuple[int, ...], neighbors: tuple[int, ...]
) -> ClientR1ShareKeys:
    if len(neighbors) * 2 * kex.KEY_SIZE > r.remaining():
        raise DecodeError("truncated: neighbour keys")
    peers, share_keys = {}, {}
    for v in neighbors:
        peers[v] = r.raw(kex.KEY_SIZE, "s_pk")
        share_keys[v] = r.raw(kex.KEY_SIZE, "share key")
    s_keys = _private(r, "s_sk")
    seed = r.raw(shamir.SECRET_SIZE, "seed")
    own = _pair_bytes(r, "own share pair")
    return ClientR1ShareKeys(sid, m, start, window, neighbors, peers, share_keys, s_keys, seed, own)
