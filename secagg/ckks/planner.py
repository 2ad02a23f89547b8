"""Size planner: bytes and memory of a CKKS round, known before anything is encrypted.

Pure arithmetic (TenSEAL is not needed). A fresh ciphertext is two polynomials
of N coefficients under each data prime, 8 bytes per coefficient in memory:
``2 * N * primes * 8`` bytes exactly. On the wire SEAL compresses it with
zstd, which saves the unused high bits of 40-bit primes but nothing of 60-bit
ones, so the serialised size depends on the prime sizes in a way no simple
formula tracks. The planner therefore uses

* for the named parameter sets, the serialised sizes measured once with
  TenSEAL 0.3.18 (mean over 30 ciphertexts and 3 contexts; spread < 0.2 %;
  ciphertexts are uniformly random, so the size does not depend on the
  values or on how many slots are used);
* for any other parameter set, a hard upper bound (the in-memory size plus
  zstd's worst-case expansion), flagged by ``SizePlan.measured = False``.

The same upper bound (:func:`max_ciphertext_bytes`) is the limit every
envelope parser enforces on a chunk before it is deserialised.

>>> plan = plan_sizes(100_000, "default")
>>> plan.ciphertexts_per_client, round(plan.upload_bytes / plan.plaintext_float32_bytes, 1)
(25, 20.7)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

from secagg.ckks.envelope import HEADER_SIZE, chunk_count
from secagg.ckks.errors import PlanError
from secagg.ckks.params import PARAMETER_SETS, CKKSParams, check_precision, resolve_params

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "MAX_DIM",
    "MEASURED_SIZES",
    "SizePlan",
    "max_ciphertext_bytes",
    "max_public_context_bytes",
    "plan_sizes",
]

DEFAULT_MEMORY_LIMIT = 2 * 2**30
"""Default per-role memory limit: 2 GiB."""

MAX_DIM = 2**40
"""Largest vector length any role accepts (far above any memory limit)."""

_LENGTH_PREFIX = 4
_DECRYPT_BYTES_PER_SLOT = 40
"""TenSEAL's ``decrypt`` returns a Python list: about 32 bytes per float plus the list slot."""

MEASURED_SIZES: Mapping[CKKSParams, tuple[int, int]] = MappingProxyType(
    {
        PARAMETER_SETS["default"]: (331_350, 464_980),
        PARAMETER_SETS["compact"]: (131_217, 262_363),
        PARAMETER_SETS["large"]: (497_925, 760_140),
    }
)
"""``params -> (bytes per serialised ciphertext, bytes of the public context)``,
measured with TenSEAL 0.3.18 (module docstring)."""


def max_ciphertext_bytes(params: CKKSParams) -> int:
    """Return the largest serialised ``CKKSVector`` of one fresh ciphertext we accept.

    ``m + m // 128 + 4096`` with ``m = 2 * N * data_primes * 8``: the raw
    coefficients, zstd's worst-case expansion (below 1/128) and room for the
    SEAL and TenSEAL headers (about 150 bytes measured).

    Args:
        params: the parameter set.

    Returns:
        The bound in bytes.

    Raises:
        Nothing of its own: ``params`` is a validated :class:`CKKSParams`.
    """
    m = params.ciphertext_memory_bytes
    return m + m // 128 + 4096


def max_public_context_bytes(params: CKKSParams) -> int:
    """Return the largest public context (public key only) we accept for ``params``.

    ``m + m // 128 + 8192`` with ``m = 2 * N * all_primes * 8``. A context that
    carries Galois or relinearisation keys is many times larger and is refused
    by this bound as well.

    Args:
        params: the parameter set.

    Returns:
        The bound in bytes.

    Raises:
        Nothing of its own: ``params`` is a validated :class:`CKKSParams`.
    """
    m = params.public_key_memory_bytes
    return m + m // 128 + 8192


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SizePlan:
    """What one round will cost, per role.

    Attributes:
        params: the parameter set.
        dim: vector length.
        clients: number of clients the plan is for.
        slots: values per ciphertext.
        ciphertexts_per_client: ``ceil(dim / slots)``.
        ciphertext_bytes: expected serialised bytes of one ciphertext.
        ciphertext_bytes_max: the hard limit (:func:`max_ciphertext_bytes`).
        upload_bytes: expected bytes of one client's envelope (the server's
            sum envelope has the same size).
        upload_bytes_max: the largest envelope a receiver accepts.
        public_context_bytes: expected bytes of the public context.
        public_context_bytes_max: the largest public context a role accepts.
        plaintext_float32_bytes: ``4 * dim``, for comparison.
        decrypted_sum_bytes: ``8 * dim`` (the float64 sum the key holder returns).
        server_memory_bytes: running sum + one decoded upload (in memory) +
            one envelope + the public context.
        client_memory_bytes: input + the envelope buffer (allocated once at
            ``upload_bytes_max`` and written in place) + one ciphertext in
            memory, its serialisation and its values as a Python list + context.
        key_holder_memory_bytes: sum envelope + one ciphertext + the decoded
            list of one chunk + the float64 sum + the private context.
        measured: ``True`` when the byte sizes come from measurement (named
            sets), ``False`` when they are upper bounds.
        predicted_abs_error: per-slot error bound for ``clients`` clients.
    """

    params: CKKSParams
    dim: int
    clients: int
    slots: int
    ciphertexts_per_client: int
    ciphertext_bytes: int
    ciphertext_bytes_max: int
    upload_bytes: int
    upload_bytes_max: int
    public_context_bytes: int
    public_context_bytes_max: int
    plaintext_float32_bytes: int
    decrypted_sum_bytes: int
    server_memory_bytes: int
    client_memory_bytes: int
    key_holder_memory_bytes: int
    measured: bool
    predicted_abs_error: float


def plan_sizes(
    dim: int,
    params: CKKSParams | str | None = None,
    *,
    clients: int = 1,
    value_bound: float | None = None,
    abs_error: float | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> SizePlan:
    """Plan a round's bytes and memory, refusing it if it cannot work.

    Args:
        dim: vector length, 1..:data:`MAX_DIM`.
        params: a :class:`CKKSParams`, a parameter-set name, or ``None`` for
            ``"default"``.
        clients: number of clients (>= 1), for the error bound and overflow check.
        value_bound: largest ``|x_i|`` a client may submit, or ``None`` to skip
            the overflow check.
        abs_error: required per-slot absolute error, or ``None``.
        memory_limit: largest memory any one role may need, in bytes.

    Returns:
        The :class:`SizePlan`.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if ``dim``, ``clients`` or ``memory_limit`` is out of range,
            or the set name is unknown.
        PrecisionError: if the parameters cannot reach ``abs_error``.
        PlanError: if the sum could overflow, or a role would need more than
            ``memory_limit`` bytes (the message names the role and the numbers).
    """
    params = resolve_params(params)
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim must be an int, got {dim!r}")
    if not 1 <= dim <= MAX_DIM:
        raise ValueError(f"dim must be in 1..{MAX_DIM}, got {dim!r}")
    if isinstance(memory_limit, bool) or not isinstance(memory_limit, int):
        raise TypeError(f"memory_limit must be an int, got {memory_limit!r}")
    if memory_limit < 1:
        raise ValueError(f"memory_limit must be >= 1, got {memory_limit!r}")
    predicted = check_precision(params, clients=clients, abs_error=abs_error, value_bound=value_bound)

    chunks = chunk_count(dim, params.slots)
    ct_max = max_ciphertext_bytes(params)
    ctx_max = max_public_context_bytes(params)
    measured = params in MEASURED_SIZES
    ct_bytes, ctx_bytes = MEASURED_SIZES[params] if measured else (ct_max, ctx_max)
    upload = HEADER_SIZE + chunks * (_LENGTH_PREFIX + ct_bytes)
    upload_max = HEADER_SIZE + chunks * (_LENGTH_PREFIX + ct_max)
    ct_mem = params.ciphertext_memory_bytes
    context_mem = params.public_key_memory_bytes + ctx_max
    server = 2 * chunks * ct_mem + upload_max + context_mem
    client = 8 * dim + upload_max + ct_mem + ct_max + _DECRYPT_BYTES_PER_SLOT * params.slots + context_mem
    key_holder = upload_max + ct_mem + _DECRYPT_BYTES_PER_SLOT * params.slots + 8 * dim + 4 * context_mem
    for role, need in (("server", server), ("key holder", key_holder), ("client", client)):
        if need > memory_limit:
            raise PlanError(
                f"the {role} would need {need:,} bytes for dim={dim:,} ({chunks:,} ciphertexts of "
                f"{ct_mem:,} bytes in memory, uploads of {upload:,} bytes), above the memory limit of "
                f"{memory_limit:,} bytes; raise memory_limit, use the 'compact' parameter set, or split "
                f"the vector into several rounds"
            )
    return SizePlan(
        params=params,
        dim=dim,
        clients=clients,
        slots=params.slots,
        ciphertexts_per_client=chunks,
        ciphertext_bytes=ct_bytes,
        ciphertext_bytes_max=ct_max,
        upload_bytes=upload,
        upload_bytes_max=upload_max,
        public_context_bytes=ctx_bytes,
        public_context_bytes_max=ctx_max,
        plaintext_float32_bytes=4 * dim,
        decrypted_sum_bytes=8 * dim,
        server_memory_bytes=server,
        client_memory_bytes=client,
        key_holder_memory_bytes=key_holder,
        measured=measured,
        predicted_abs_error=predicted,
    )
