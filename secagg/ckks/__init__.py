"""CKKS secure aggregation through TenSEAL, behind the same narrow API.

Clients encrypt under a key holder's public key, the server adds ciphertexts
it cannot read, and the key holder decrypts only the sum. Three sans-I/O roles
(:class:`KeyHolder`, :class:`Client`, :class:`Server`) exchange bytes in our
own versioned envelope (:mod:`secagg.ckks.envelope`); :func:`secure_sum_ckks`
runs a whole round in one process and returns a :class:`secagg.SumResult`.

Importing this package never needs TenSEAL: the planner, the parameter sets
and the envelope codec are pure Python. Constructing a role or running the
driver without TenSEAL raises :class:`secagg.errors.CKKSUnavailableError`,
whose message names the extra: ``pip install 'secagg-dp[ckks]'``.

Warning:
    Safe only while the server and the key holder do not collude (together
    they can decrypt every upload) and every role has the key holder's
    signature key pinned out of band (the server must not be the one who
    hands it out: :mod:`secagg.ckks.auth`); approximate: see SPEC chapter 50.

>>> from secagg.ckks import plan_sizes
>>> plan = plan_sizes(10_000, "compact", clients=10)
>>> plan.ciphertexts_per_client, plan.upload_bytes
(3, 393733)
"""

from __future__ import annotations

from secagg.ckks.auth import SignedUpload, key_holder_fingerprint
from secagg.ckks.client import Client
from secagg.ckks.driver import secure_sum_ckks
from secagg.ckks.envelope import Envelope, EnvelopeKind, context_fingerprint, decode_envelope, encode_envelope
from secagg.ckks.errors import (
    CKKSError,
    CKKSStateError,
    ContextAuthenticationError,
    ContextError,
    EnvelopeError,
    PlanError,
    PrecisionError,
    SumOutOfRangeError,
)
from secagg.ckks.keyholder import KeyHolder
from secagg.ckks.params import (
    PARAMETER_SETS,
    CKKSParams,
    check_precision,
    max_abs_sum,
    predicted_abs_error,
    resolve_params,
)
from secagg.ckks.planner import DEFAULT_MEMORY_LIMIT, SizePlan, plan_sizes
from secagg.ckks.server import AggregateOutput, Server

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "PARAMETER_SETS",
    "AggregateOutput",
    "CKKSError",
    "CKKSParams",
    "CKKSStateError",
    "Client",
    "ContextAuthenticationError",
    "ContextError",
    "Envelope",
    "EnvelopeError",
    "EnvelopeKind",
    "KeyHolder",
    "PlanError",
    "PrecisionError",
    "Server",
    "SignedUpload",
    "SizePlan",
    "SumOutOfRangeError",
    "check_precision",
    "context_fingerprint",
    "decode_envelope",
    "encode_envelope",
    "key_holder_fingerprint",
    "max_abs_sum",
    "plan_sizes",
    "predicted_abs_error",
    "resolve_params",
    "secure_sum_ckks",
]
