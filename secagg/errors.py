"""Every exception that :mod:`secagg` raises.

The vocabulary is small on purpose (after pyca/cryptography's
``exceptions.py`` and h11's ``LocalProtocolError``/``RemoteProtocolError``):

* Argument errors are plain :class:`TypeError` / :class:`ValueError` raised at
  construction, quoting the offending value.
* Cryptographic failures are opaque: one :class:`InvalidCiphertext` whatever
  went wrong inside the AEAD, one :class:`InvalidSignature`.
* Protocol errors say whose fault they are: :class:`LocalProtocolError` is
  caller misuse, :class:`RemoteProtocolError` is bad input from a peer, and both
  carry an :class:`AbortReason`.

>>> from secagg.errors import RemoteProtocolError, AbortReason
>>> err = RemoteProtocolError(AbortReason.MALFORMED, "truncated message")
>>> err.reason.name
'MALFORMED'
"""

from __future__ import annotations

import enum

__all__ = [
    "AbortReason",
    "BitBudgetError",
    "CKKSUnavailableError",
    "DecodeError",
    "DuplicateShareError",
    "InsufficientSharesError",
    "InvalidCiphertext",
    "InvalidKey",
    "InvalidShareError",
    "InvalidSignature",
    "LocalProtocolError",
    "PrgLimitExceeded",
    "ProofError",
    "ProtocolAborted",
    "ProtocolError",
    "RemoteProtocolError",
    "SecAggError",
    "ShamirError",
]


class SecAggError(Exception):
    """Base class of every error raised by :mod:`secagg`."""


# --------------------------------------------------------------------------- crypto


class InvalidCiphertext(SecAggError):
    """An AEAD blob failed to authenticate or decrypt.

    Deliberately opaque: a wrong key, a wrong nonce, tampered ciphertext,
    mismatched associated data and a truncated blob all raise this one error
    with the same message, so that the failure leaks nothing about its cause.
    """


class InvalidSignature(SecAggError):
    """An Ed25519 signature did not verify (opaque, like :class:`InvalidCiphertext`)."""


class InvalidKey(SecAggError, ValueError):
    """Key bytes are malformed, or a key agreement produced the all-zero secret.

    The all-zero X25519 output means the peer sent a low-order point; a
    secret derived from it would be known to everyone.
    """


class PrgLimitExceeded(SecAggError, ValueError):
    """More PRG output was requested from one key than the hard cap allows."""


# --------------------------------------------------------------------------- shamir


class ShamirError(SecAggError, ValueError):
    """Base class of Shamir secret-sharing errors."""


class InsufficientSharesError(ShamirError):
    """Fewer shares than the threshold were given to reconstruct a secret."""


class DuplicateShareError(ShamirError):
    """Two shares carry the same x-coordinate."""


class InvalidShareError(ShamirError):
    """A share is malformed: x outside ``[1, p - 1]`` (p = 2**31 - 1), a value
    outside the field, or a reconstruction that does not decode to a valid
    secret."""


# --------------------------------------------------------------------------- encoding


class BitBudgetError(SecAggError, ValueError):
    """The requested (clients, clip, precision) needs more modulus bits than the
    kernels support; raised instead of letting the sum wrap silently."""


# --------------------------------------------------------------------------- protocol


class AbortReason(enum.Enum):
    """Why a protocol participant aborted (after fcp's ``secagg_server_enums``)."""

    MALFORMED = "malformed"
    """A message could not be parsed, or a field failed validation."""
    OUT_OF_ROUND = "out_of_round"
    """A message arrived in a state that does not expect it."""
    REPLAYED = "replayed"
    """A message repeated one already processed, or came from another session."""
    INCONSISTENT = "inconsistent"
    """The peer's story contradicts itself or what was said before (for example
    a client listed both as alive and as dropped, or both shares asked for)."""
    TOO_FEW_SURVIVORS = "too_few_survivors"
    """Fewer clients remain than the threshold needs."""
    AUTHENTICATION = "authentication"
    """A signature or AEAD tag failed to verify."""
    RECONSTRUCTION_FAILED = "reconstruction_failed"
    """No subset of the received shares reconstructed a secret that matches its
    commitment."""
    PEER_ABORTED = "peer_aborted"
    """The other side sent an Abort message."""
    LOCAL = "local"
    """The local caller misused the API."""


class ProtocolError(SecAggError):
    """A protocol rule was broken.

    Attributes:
        reason: the :class:`AbortReason`.
        detail: a human-readable explanation.
    """

    def __init__(self, reason: AbortReason, detail: str = "") -> None:
        if not isinstance(reason, AbortReason):
            raise TypeError(f"reason must be an AbortReason, got {reason!r}")
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)


class LocalProtocolError(ProtocolError):
    """The local caller used the API wrongly (wrong state, wrong shape)."""


class RemoteProtocolError(ProtocolError):
    """A peer sent something the protocol forbids."""


class DecodeError(RemoteProtocolError):
    """Bytes from the wire could not be decoded into a message.

    Always carries :attr:`AbortReason.MALFORMED` unless given another reason.
    """

    def __init__(self, detail: str, reason: AbortReason = AbortReason.MALFORMED) -> None:
        super().__init__(reason, detail)


class ProofError(RemoteProtocolError):
    """A Merkle multiproof from a peer does not verify: the wrong length, a
    proof item whose range has ``lo > hi``, or an ordered tree's ranges out of
    order (SPEC.md, "Key commitment").

    Always carries :attr:`AbortReason.INCONSISTENT`: the server's commitment
    contradicts what it sent.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(AbortReason.INCONSISTENT, detail)


class ProtocolAborted(SecAggError):
    """A whole round ended in an abort (raised by the in-process driver).

    Attributes:
        reason: the :class:`AbortReason` of the participant that aborted.
        detail: a human-readable explanation.
    """

    def __init__(self, reason: AbortReason, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"round aborted ({reason.value}): {detail}")


class CKKSUnavailableError(SecAggError, ImportError):
    """The CKKS backend was requested but TenSEAL is not installed.

    Install the extra: ``pip install 'secagg-dp[ckks]'``.
    """
