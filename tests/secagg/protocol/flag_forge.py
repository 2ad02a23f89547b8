"""A server that builds its own flag trees (active model, R3), written from the SPEC text.

Not from :mod:`secagg.primitives.ordered_tree`: the builder below takes any ring
and any survivor view, so a test can show different clients different views
under different roots (SPEC.md, chapter "Protocol", R3, and "Key commitment").
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence

from secagg.messages import ConsistencyCheckRequest, Signature, UnmaskingRequest
from secagg.protocol.client import ClientR2MaskedInput
from tests.secagg.protocol.conftest import Harness


def spec_flag_leaf(client_id: int, flag: bool) -> bytes:
    """``SHA-256(0x02 || u32le(id) || u8(flag))``."""
    return hashlib.sha256(b"\x02" + struct.pack("<IB", client_id, int(flag))).digest()


def spec_flag_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the plain flag tree: ``SHA-256(0x03 || L || R)``, an odd last node promoted."""
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        up = [hashlib.sha256(b"\x03" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            up.append(level[-1])
        levels.append(up)
    return levels


def spec_flag_multiproof(levels: list[list[bytes]], positions: Iterable[int]) -> bytes:
    """The multiproof of ``positions`` in the SPEC's loop order (32-byte items)."""
    known, out = sorted(set(positions)), []
    for level in levels[:-1]:
        for s in sorted({i ^ 1 for i in known if (i ^ 1) < len(level)} - set(known)):
            out.append(level[s])
        known = sorted({i // 2 for i in known})
    return b"".join(out)


def spec_pack_flags(flags: Sequence[bool]) -> bytes:
    """Bit ``j`` of the window is ``byte[j // 8] >> (j % 8) & 1``."""
    out = bytearray((len(flags) + 7) // 8)
    for j, f in enumerate(flags):
        out[j // 8] |= int(bool(f)) << (j % 8)
    return bytes(out)


def ring_of(h: Harness) -> tuple[int, ...]:
    """The ring the server built (every participant in ring order)."""
    return h.server.state.sess.ring


def window_of(h: Harness, u: int) -> tuple[int, list[int], tuple[int, ...]]:
    """``(m, positions, ids)`` of client ``u``'s window, from its own state (R2 or later)."""
    st = h.clients[u].state
    assert isinstance(st, ClientR2MaskedInput), type(st).__name__
    return st.m, [(st.start + j) % st.m for j in range(len(st.window))], st.window


def flag_root(ring: Sequence[int], view: Iterable[int]) -> bytes:
    """The root of the flag tree over ``ring`` with flag 1 exactly for ``view``."""
    view = set(view)
    return spec_flag_levels([spec_flag_leaf(v, v in view) for v in ring])[-1][0]


def forge_consistency(h: Harness, u: int, view: Iterable[int], *, ring: Sequence[int] | None = None) -> ConsistencyCheckRequest:
    """The ConsistencyCheckRequest that shows client ``u`` the survivor set ``view`` (on ``ring``, default the real one)."""
    view = set(view)
    ring = ring_of(h) if ring is None else ring
    _, positions, _ = window_of(h, u)
    levels = spec_flag_levels([spec_flag_leaf(v, v in view) for v in ring])
    return ConsistencyCheckRequest(
        session_id=h.clients[u].state.sid,
        survivors_root=levels[-1][0],
        flags=spec_pack_flags([ring[q] in view for q in positions]),
        proof=spec_flag_multiproof(levels, positions),
    )


def local_lists(h: Harness, u: int, view: Iterable[int], u2: Iterable[int] | None = None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(survivors, dropped)`` an honest server sends ``u`` for the survivor set ``view``: ``(N(u) & view) | {u}``,
    ``N(u) & (U2 - view)`` (U2 defaults to every participant)."""
    view = set(view)
    nbrs = set(h.clients[u].state.neighbors)
    u2 = set(ring_of(h)) if u2 is None else set(u2)
    return tuple(sorted((nbrs & view) | {u})), tuple(sorted(nbrs & (u2 - view)))


def unmasking_for(
    h: Harness, u: int, view: Iterable[int], signatures: dict[int, bytes], *, u2: Iterable[int] | None = None
) -> UnmaskingRequest:
    """An UnmaskingRequest for ``u`` consistent with ``view``, carrying the given signatures (signer -> bytes)."""
    survivors, dropped = local_lists(h, u, view, u2)
    sigs = tuple(Signature(signer=v, signature=signatures[v]) for v in sorted(signatures))
    return UnmaskingRequest(session_id=h.clients[u].state.sid, survivors=survivors, dropped=dropped, signatures=sigs)
