"""Exceptions of the CKKS backend (:mod:`secagg.ckks`).

Every class subclasses :class:`secagg.errors.SecAggError`, so one ``except
SecAggError`` catches the whole toolkit. The split says whose fault it is:

* :class:`PlanError` (and its :class:`PrecisionError`) -- the caller asked for
  something the parameters cannot deliver; raised before anything is encrypted.
* :class:`ContextError` -- public-context bytes that a role must not or cannot
  use (a secret key inside, not CKKS, unparsable, too large); its
  :class:`ContextAuthenticationError` -- a context not signed by the pinned
  key holder (for example one the server made with its own secret key).
* :class:`EnvelopeError` -- an envelope from a peer is malformed, belongs to
  another context or round, or holds a ciphertext that fails validation. It is
  also a :class:`secagg.errors.DecodeError` (a remote fault carrying an
  :class:`secagg.errors.AbortReason`), exactly like the masking codec's errors.
* :class:`SumOutOfRangeError` (an :class:`EnvelopeError`) -- the key
  holder decrypted a sum outside what the round's value bound allows.
* :class:`CKKSStateError` -- a role was used out of order (a local fault).

Whether TenSEAL is installed is reported by
:class:`secagg.errors.CKKSUnavailableError`, which lives in the shared module
because it is raised before any CKKS code can run.

>>> from secagg.errors import AbortReason, SecAggError
>>> err = EnvelopeError("trailing bytes after the last chunk")
>>> isinstance(err, SecAggError), err.reason is AbortReason.MALFORMED
(True, True)
"""

from __future__ import annotations

from secagg.errors import AbortReason, DecodeError, LocalProtocolError, SecAggError

__all__ = [
    "CKKSError",
    "CKKSStateError",
    "ContextAuthenticationError",
    "ContextError",
    "EnvelopeError",
    "PlanError",
    "PrecisionError",
    "SumOutOfRangeError",
]


class CKKSError(SecAggError):
    """Base class of every error that the CKKS backend raises itself."""


class PlanError(CKKSError, ValueError):
    """A parameter set or a size plan cannot serve the request.

    Raised before anything is encrypted: the memory a role would need exceeds
    the configured limit, the inputs could overflow the ciphertext modulus, or
    the parameters are outside what the backend supports (for example a
    coefficient modulus above the 128-bit-security bound). The message names
    the numbers involved.
    """


class PrecisionError(PlanError):
    """The parameter set is too imprecise for the requested absolute error.

    Attributes:
        predicted: the error bound the parameter set gives (see
            :func:`secagg.ckks.params.predicted_abs_error`).
        requested: the absolute error the caller asked for.
    """

    def __init__(self, message: str, *, predicted: float, requested: float) -> None:
        super().__init__(message)
        self.predicted = predicted
        self.requested = requested


class ContextError(CKKSError, ValueError):
    """Public-context bytes are unusable by the role they were given to.

    Raised when the bytes do not parse as a TenSEAL context, hold a secret key
    (the server and clients must never receive one), are not CKKS, use
    parameters this backend refuses, or exceed the size limit.
    """


class ContextAuthenticationError(ContextError):
    """A context is not signed by the key holder the role has pinned; nothing was parsed or encrypted.

    Raised for an unsigned (raw) public context, a context signed by any other
    key (a server that made its own key pair could decrypt every input under
    it), a signature that does not verify, and malformed signed-context bytes
    (SPEC chapter 50, "Signed context").
    """


class EnvelopeError(CKKSError, DecodeError):
    """An envelope from a peer was rejected; the receiving role is unchanged.

    Triggers: bad magic, version or kind; a length outside the limits derived
    from the parameters; truncation or trailing bytes; a fingerprint of another
    public context; a vector length other than the round's; a chunk that fails
    to deserialise or whose ciphertext has the wrong level, scale, size or slot
    count; a client submitting twice.

    Args:
        detail: what was wrong (quoted in the message).
        reason: the :class:`secagg.errors.AbortReason`, ``MALFORMED`` unless
            another fits better (``REPLAYED`` for a second submission,
            ``INCONSISTENT`` for another context or vector length).
    """

    def __init__(self, detail: str, reason: AbortReason = AbortReason.MALFORMED) -> None:
        super().__init__(detail, reason)


class SumOutOfRangeError(EnvelopeError):
    """The decrypted sum lies outside ``contributors x value_bound`` (plus the error bound).

    Either a ciphertext was corrupted (CKKS ciphertexts carry no integrity
    check, and a few flipped bits decrypt to values like 1e7..1e31) or a
    client submitted values above the round's agreed ``value_bound``. The key
    holder releases nothing. A malicious client can still shift the sum by
    any amount *within* the bound undetectably: CKKS has no input validation.

    Args:
        detail: the largest coordinate and the limit it broke.
    """


class CKKSStateError(CKKSError, LocalProtocolError):
    """A role was called out of order (for example ``receive`` after ``finish``).

    Args:
        detail: what the caller did wrong.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(AbortReason.LOCAL, detail)
