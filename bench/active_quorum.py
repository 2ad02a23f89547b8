"""One active-model client's R4 (UnmaskingRequest) at large n on the complete graph: the quorum check's cost.

The client holds a share of every other participant (the complete graph), so
R4 checks a quorum of consistency signatures for up to ``n`` owners. This
script builds one client in its R3 state directly (n identity keys, every
survivor's signature over the client's root, ``--dropped`` owners flagged 0,
share bytes of the right size), then times side by side, in one process:

* ``quorum, per-owner holder sets``: the check as it was before
  ``session.window_holder_counts`` (rebuild and sort ``H(x)`` for every owner:
  O(n^2 log n) on the complete graph), reproduced here as the reference;
* ``quorum, prefix count``: :func:`secagg.protocol.session.window_holder_counts`
  (O(n));
* ``whole UnmaskingRequest``: ``Client.receive`` on the encoded request
  (decode, n Ed25519 verifications, the quorum check, the reply), with
  whatever ``secagg`` is on the path (run it with ``PYTHONPATH=<old checkout>``
  for the before figure).

Run: ``.venv/bin/python bench/active_quorum.py --n 4000``
"""

from __future__ import annotations

import argparse
import os
import time

from secagg import codec
from secagg.messages import Signature, UnmaskingRequest
from secagg.params import GraphKind, Params
from secagg.primitives import shamir
from secagg.primitives.sign import Ed25519SigningKey
from secagg.protocol import session
from secagg.protocol.client import Client, ClientCompleted, ClientR3ConsistencyCheck


def _setup(n: int, dropped: int):
    params = Params(
        n_clients=n, dim=8, bits=16, graph=GraphKind.COMPLETE, neighbors=n - 1, threshold=n // 2 + 1, threat="active"
    )
    keys = {u: Ed25519SigningKey.generate() for u in range(1, n + 1)}
    pki = {u: k.public_bytes for u, k in keys.items()}
    me, sid, root = 1, os.urandom(32), os.urandom(32)
    window = tuple(range(1, n + 1))  # the ring order does not matter to the cost
    gone = tuple(range(n - dropped + 1, n + 1))
    signed = tuple(v for v in window if v not in gone)
    held = {v: os.urandom(2 * shamir.SHARE_SIZE) for v in window}
    state = ClientR3ConsistencyCheck(sid, n, 0, window, window[1:], window[1:], held, signed, root)
    statement = session.consistency_statement(sid, root)
    sigs = tuple(Signature(signer=v, signature=keys[v].sign(statement)) for v in signed)
    request = UnmaskingRequest(session_id=sid, survivors=signed, dropped=gone, signatures=sigs)
    client = Client(me, params, input=[0] * 8, identity_key=keys[me], pki=pki)
    return params, client, state, request


def _reference_quorums(params, state, owners, signers):
    index = {v: j for j, v in enumerate(state.window)}
    return [
        len(signers.intersection(session.window_holders(params, state.m, state.start, state.window, (state.start + index[v]) % state.m)))
        for v in owners
    ]


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--dropped", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    params, client, state, request = _setup(args.n, args.dropped)
    owners = [*state.signed, *request.dropped]
    signers = set(state.signed)
    index = {v: j for j, v in enumerate(state.window)}
    positions = [index[v] for v in owners]

    t_ref = _best(lambda: _reference_quorums(params, state, owners, signers), args.repeats)
    counts = getattr(session, "window_holder_counts", None)  # absent from an old checkout
    if counts is not None:
        ref = _reference_quorums(params, state, owners, signers)
        assert counts(params, state.m, state.start, state.window, positions, signers) == ref, "the counts disagree"
        t_new = _best(lambda: counts(params, state.m, state.start, state.window, positions, signers), args.repeats)

    data = codec.encode(request)

    def whole():
        client._state = state  # the same R3 state each time (a bench shortcut; the facade never allows it)
        client.receive(data)
        assert isinstance(client.state, ClientCompleted)

    t_whole = _best(whole, args.repeats)
    print(f"n = {args.n} complete graph, active, {len(owners)} owners ({args.dropped} dropped), load {os.getloadavg()[0]:.2f}")
    print(f"  quorum, per-owner holder sets (before): {t_ref * 1e3:10.1f} ms")
    if counts is not None:
        print(f"  quorum, prefix count (after):           {t_new * 1e3:10.1f} ms   ({t_ref / t_new:.0f}x)")
    print(f"  whole UnmaskingRequest, this secagg:    {t_whole * 1e3:10.1f} ms   (best of {args.repeats})")


if __name__ == "__main__":
    main()
