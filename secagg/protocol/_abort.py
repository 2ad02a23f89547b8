"""What the client and server state machines share about aborting.

A handler raises :class:`AbortSignal` when a peer breaks a rule; the facade
catches it, moves to its sticky Aborted state and sends :func:`encode_abort`.
"""

from __future__ import annotations

from secagg import codec
from secagg.errors import AbortReason
from secagg.messages import MAX_DETAIL, Abort


class AbortSignal(Exception):
    """Raised inside a handler: the peer broke a rule, so this side aborts.

    Attributes:
        reason: the :class:`AbortReason`.
        detail: a human-readable explanation.
    """

    def __init__(self, reason: AbortReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def encode_abort(reason: AbortReason, detail: str) -> bytes:
    """Encode an Abort, shortening ``detail`` to the 256 UTF-8 bytes the message allows."""
    clipped = detail.encode("utf-8")[:MAX_DETAIL].decode("utf-8", errors="ignore")
    return codec.encode(Abort(reason=reason, detail=clipped))
