"""The only module that touches TenSEAL: guarded import, context and chunk loading.

Everything TenSEAL hands back is validated here before a role keeps it, so a
malformed context or ciphertext surfaces as a typed error from
:mod:`secagg.ckks.errors` and never as TenSEAL's ``ValueError``/``RuntimeError``.

>>> from secagg.ckks._backend import INSTALL_HINT
>>> "secagg-dp[ckks]" in INSTALL_HINT
True
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from types import ModuleType
from typing import Any

from secagg.ckks.auth import check_pin, open_signed_context
from secagg.ckks.errors import ContextError, EnvelopeError, PlanError
from secagg.ckks.params import CKKSParams
from secagg.ckks.planner import max_ciphertext_bytes, max_public_context_bytes
from secagg.ckks.wire import check_public_context, check_vector_blob
from secagg.errors import CKKSUnavailableError

__all__ = ["INSTALL_HINT", "LoadedContext", "load_chunk", "load_public_context", "load_signed_context", "load_tenseal"]

INSTALL_HINT = (
    "the CKKS backend needs TenSEAL, which is not installed; install the extra: pip install 'secagg-dp[ckks]'"
)

MAX_CONTEXT_INPUT_BYTES = 32 * 2**20
"""Context bytes above this are refused before parsing (the largest public
context of any accepted parameter set is about 8.5 MB)."""

_TENSEAL_ERRORS = (ValueError, RuntimeError, TypeError, OverflowError)


def load_tenseal() -> ModuleType:
    """Import TenSEAL (and register its SEAL types), or explain how to install it.

    Returns:
        The ``tenseal`` module.

    Raises:
        CKKSUnavailableError: if TenSEAL cannot be imported; the message names
            the ``ckks`` extra.
    """
    try:
        ts = importlib.import_module("tenseal")
        importlib.import_module("tenseal.sealapi")
    except ImportError as exc:
        raise CKKSUnavailableError(INSTALL_HINT) from exc
    return ts


@dataclasses.dataclass(frozen=True, slots=True)
class LoadedContext:
    """A validated TenSEAL context and what was read from it.

    Attributes:
        context: the ``tenseal.Context``.
        params: the :class:`CKKSParams` it uses.
        first_parms_id: SEAL's id of the top data level (where fresh ciphertexts live).
    """

    context: Any
    params: CKKSParams
    first_parms_id: Any


def describe_context(ts: ModuleType, context: Any) -> LoadedContext:
    """Read the parameters of a CKKS ``tenseal.Context`` and validate them.

    Args:
        ts: the ``tenseal`` module.
        context: a ``tenseal.Context``.

    Returns:
        The :class:`LoadedContext`.

    Raises:
        ContextError: if the context is not CKKS, has no public key, an
            inexact scale, or parameters :class:`CKKSParams` refuses.
    """
    try:
        seal_context = context.seal_context().data
        parms = seal_context.key_context_data().parms()
        if parms.scheme().name != "CKKS":
            raise ContextError(f"context uses the {parms.scheme().name} scheme, expected CKKS")
        if not context.has_public_key():
            raise ContextError("context carries no public key, so nobody can encrypt under it")
        degree = int(parms.poly_modulus_degree())
        bit_sizes = tuple(int(q.bit_count()) for q in parms.coeff_modulus())
        scale = float(context.global_scale)
        first = seal_context.first_parms_id()
    except _TENSEAL_ERRORS as exc:
        raise ContextError(f"context could not be inspected: {exc}") from exc
    mantissa, exponent = math.frexp(scale) if math.isfinite(scale) and scale > 0 else (0.0, 0)
    if mantissa != 0.5:
        raise ContextError(f"context scale {scale!r} is not a power of two")
    try:
        params = CKKSParams(poly_modulus_degree=degree, coeff_mod_bit_sizes=bit_sizes, scale_bits=exponent - 1)
    except (PlanError, TypeError) as exc:
        raise ContextError(f"context parameters are not accepted: {exc}") from exc
    return LoadedContext(context=context, params=params, first_parms_id=first)


def load_public_context(data: bytes) -> LoadedContext:
    """Deserialise public-context bytes, refusing any that carry a secret key.

    Args:
        data: the bytes the key holder exported.

    Returns:
        The :class:`LoadedContext`.

    Raises:
        CKKSUnavailableError: if TenSEAL is not installed.
        TypeError: if ``data`` is not bytes.
        ContextError: if the bytes exceed the size limits, fail the layout
            walk of :func:`~secagg.ckks.wire.check_public_context` (checked
            before TenSEAL parses anything: a relinearisation or Galois key
            field, even empty, a private part, sizes the parameters do not
            explain), do not parse, hold a secret key, or describe parameters
            that are refused.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"public context must be bytes, got {type(data).__name__}")
    ts = load_tenseal()
    if len(data) > MAX_CONTEXT_INPUT_BYTES:
        raise ContextError(f"public context of {len(data):,} bytes exceeds {MAX_CONTEXT_INPUT_BYTES:,}")
    layout = check_public_context(data)  # before TenSEAL allocates anything (SPEC chapter 50)
    try:
        context = ts.context_from(bytes(data), n_threads=1)
    except _TENSEAL_ERRORS as exc:
        raise ContextError(f"public context does not deserialise: {exc}") from exc
    try:
        private = context.is_private() or context.has_secret_key()
    except _TENSEAL_ERRORS as exc:
        raise ContextError(f"context could not be inspected: {exc}") from exc
    if private:
        raise ContextError(
            "refusing a context that carries the SECRET key: only the key holder may hold it; "
            "export with serialize(save_secret_key=False)"
        )
    loaded = describe_context(ts, context)
    got = (loaded.params.poly_modulus_degree, len(loaded.params.coeff_mod_bit_sizes))
    if got != (layout.poly_modulus_degree, layout.primes):
        raise ContextError(
            f"context parameters N={got[0]}, {got[1]} primes differ from the declared sizes "
            f"(N={layout.poly_modulus_degree}, {layout.primes} primes)"
        )
    limit = max_public_context_bytes(loaded.params)
    if len(data) > limit:
        raise ContextError(
            f"public context of {len(data):,} bytes exceeds {limit:,}, the size of a public key for these "
            f"parameters: it carries Galois or relinearisation keys that a sum never needs"
        )
    return loaded


def load_signed_context(
    data: bytes, *, key_holder_key: bytes | None, key_holder_fingerprint: bytes | str | None
) -> tuple[LoadedContext, bytes]:
    """Verify a signed context against the pinned key holder, then walk and load the public context.

    Args:
        data: the signed context (:attr:`KeyHolder.signed_context`), as received.
        key_holder_key: the pinned raw Ed25519 public key, or ``None``;
        key_holder_fingerprint: the pinned key fingerprint, or ``None``
            (exactly one of the two).

    Returns:
        The :class:`LoadedContext` and the public-context bytes (for
        :func:`~secagg.ckks.envelope.context_fingerprint`).

    Raises:
        CKKSUnavailableError: if TenSEAL is not installed.
        TypeError: if ``data`` is not bytes, or the pin is missing or of a wrong type.
        ValueError: if the pin has the wrong length.
        ContextAuthenticationError: if the context is unsigned or not signed
            by the pinned key holder (checked first: nothing is parsed).
        ContextError: everything :func:`load_public_context` refuses.
    """
    check_pin(key_holder_key, key_holder_fingerprint)
    load_tenseal()
    public = bytes(
        open_signed_context(data, key_holder_key=key_holder_key, key_holder_fingerprint=key_holder_fingerprint)
    )
    return load_public_context(public), public


def load_chunk(loaded: LoadedContext, blob: bytes | memoryview, *, index: int, length: int) -> Any:
    """Deserialise one chunk and check it is a fresh ciphertext of ``length`` values.

    Args:
        loaded: the receiver's context.
        blob: TenSEAL's serialisation of a ``CKKSVector``.
        index: the chunk's position (for messages).
        length: how many values the chunk must hold.

    Returns:
        The ``tenseal.CKKSVector``, linked to ``loaded.context``.

    The bytes are first walked by :func:`secagg.ckks.wire.check_vector_blob`
    (one ciphertext entry, a SEAL header with zstd and the declared
    decompressed size of a fresh 2-polynomial ciphertext), so TenSEAL never
    deserialises a chunk that would make it allocate more than one fresh
    ciphertext.

    Raises:
        EnvelopeError: if the blob fails that pre-parse, does not deserialise, or holds other than
            one 2-polynomial ciphertext at the top data level, in NTT form,
            at the context's scale, with ``length`` values.
    """
    ts = load_tenseal()
    params = loaded.params
    if len(blob) > max_ciphertext_bytes(params):
        raise EnvelopeError(f"chunk {index} of {len(blob)} bytes exceeds {max_ciphertext_bytes(params)}")
    check_vector_blob(blob, params, length=length, index=index)
    try:
        vector = ts.ckks_vector_from(loaded.context, bytes(blob))
        size = vector.size()
        ciphertexts = vector.ciphertext()
        if len(ciphertexts) != 1:
            raise EnvelopeError(f"chunk {index} holds {len(ciphertexts)} ciphertexts, expected 1")
        ct = ciphertexts[0]
        polys, parms_id, scale, ntt = ct.size(), ct.parms_id(), ct.scale, ct.is_ntt_form()
    except _TENSEAL_ERRORS as exc:
        raise EnvelopeError(f"chunk {index} does not deserialise as a CKKS vector: {exc}") from exc
    if size != length:
        raise EnvelopeError(f"chunk {index} holds {size} values, expected {length}")
    if polys != 2:
        raise EnvelopeError(f"chunk {index} ciphertext has {polys} polynomials, expected 2")
    if parms_id != loaded.first_parms_id:
        raise EnvelopeError(f"chunk {index} ciphertext is not at the top data level of the context")
    if scale != 2.0**params.scale_bits:
        raise EnvelopeError(f"chunk {index} ciphertext has scale {scale!r}, expected 2^{params.scale_bits}")
    if not ntt:
        raise EnvelopeError(f"chunk {index} ciphertext is not in NTT form")
    return vector
