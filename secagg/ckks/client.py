"""The CKKS client: encrypts one float vector under the public context.

Sans-I/O: the key holder's signed context in at construction (verified
against the key holder's key, pinned out of band, before anything is parsed:
:mod:`secagg.ckks.auth`), envelope bytes out of
:meth:`Client.encrypt`. The vector is cut into chunks of ``slots`` values
(``poly_modulus_degree / 2``), each encrypted as one TenSEAL ``ckks_vector``
(never ``ckks_tensor``, whose per-element ciphertexts are what makes TenSEAL
FL uploads gigabytes) and serialised at once straight into one envelope
buffer allocated at the planned upper bound, so the client holds one
ciphertext at a time besides its envelope, and never a second copy of the
upload (no list of chunks to join).

>>> import importlib.util
>>> if importlib.util.find_spec("tenseal"):
...     import numpy as np
...     from secagg.ckks.keyholder import KeyHolder
...     holder = KeyHolder("compact")
...     client = Client(holder.signed_context, key_holder_key=holder.verify_key)
...     envelope = client.encrypt(np.zeros(5000))
...     print(bytes(envelope[:4]), client.params.slots)
... else:
...     print(b'SGCK', 4096)
b'SGCK' 4096
"""

from __future__ import annotations

import numpy as np

from secagg.ckks._backend import _TENSEAL_ERRORS, load_signed_context, load_tenseal
from secagg.ckks.auth import _DIGEST_SLICE, check_round_id, sign_upload
from secagg.ckks.envelope import EnvelopeBuilder, EnvelopeKind, context_fingerprint
from secagg.ckks.errors import CKKSError, CKKSStateError
from secagg.ckks.params import CKKSParams, max_abs_sum
from secagg.ckks.planner import DEFAULT_MEMORY_LIMIT, plan_sizes
from secagg.primitives.sign import Ed25519SigningKey

__all__ = ["Client"]


class Client:
    """Encrypts float vectors for one key holder's context.

    Args:
        signed_context: the bytes :attr:`KeyHolder.signed_context` exported
            (as forwarded by the server).
        key_holder_key: the key holder's raw 32-byte Ed25519 public key
            (:attr:`KeyHolder.verify_key`), pinned out of band; or
        key_holder_fingerprint: its fingerprint (:attr:`KeyHolder.key_fingerprint`,
            bytes or hex), pinned the same way. Exactly one of the two.
        memory_limit: refuse vectors whose encryption would need more bytes.
        signing_key: the client's long-term identity key, registered with the
            key holder; needed only for :meth:`sign_upload` (the verifiable option).

    Raises:
        CKKSUnavailableError: if TenSEAL is not installed.
        TypeError: if ``signed_context`` is not bytes, or no pin (or both) is given.
        ContextAuthenticationError: if the context is unsigned or not signed by
            the pinned key holder (for example one the server made).
        ContextError: if the context fails the layout walk, does not parse,
            carries a secret key, Galois/relinearisation keys, or uses refused
            parameters.
    """

    __slots__ = ("_fingerprint", "_loaded", "_memory_limit", "_signed_rounds", "_signing_key")

    def __init__(
        self,
        signed_context: bytes,
        *,
        key_holder_key: bytes | None = None,
        key_holder_fingerprint: bytes | str | None = None,
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
        signing_key: Ed25519SigningKey | None = None,
    ) -> None:
        if signing_key is not None and not isinstance(signing_key, Ed25519SigningKey):
            raise TypeError(f"signing_key must be an Ed25519SigningKey, got {type(signing_key).__name__}")
        self._signing_key = signing_key
        self._signed_rounds: dict[bytes, bytes] = {}
        self._loaded, public = load_signed_context(
            signed_context, key_holder_key=key_holder_key, key_holder_fingerprint=key_holder_fingerprint
        )
        self._fingerprint = context_fingerprint(public)
        self._memory_limit = memory_limit

    def __repr__(self) -> str:
        return f"Client({self._loaded.params!r})"

    @property
    def params(self) -> CKKSParams:
        """The parameter set read from the public context."""
        return self._loaded.params

    def sign_upload(self, envelope: bytes, *, client_id: int, round_id: bytes) -> bytes:
        """Sign an envelope this client made, for one round (the verifiable option, SPEC chapter 50).

        An envelope is signed for one round id only: signing the same
        ciphertexts for several rounds would let the server combine them with
        other clients' in several decryptions and solve for each input
        (SPEC chapter 50, "Verifiable key holder"). Encrypt again for a new round.

        Args:
            envelope: what :meth:`encrypt` returned.
            client_id: this client's registered id.
            round_id: the 16-byte id the key holder opened (relayed by the server:
                a wrong one only makes the key holder refuse the round).

        Returns:
            The 64-byte signature to send with the envelope.

        Raises:
            CKKSStateError: if the client was made without ``signing_key``, or
                this envelope was already signed for another round id.
            TypeError: if an argument has the wrong type.
            ValueError: if ``client_id`` or ``round_id`` is out of range.
        """
        if self._signing_key is None:
            raise CKKSStateError("this client was made without signing_key=, so it cannot sign uploads")
        signature = sign_upload(self._signing_key, envelope, client_id=client_id, round_id=round_id)
        digest, round_id = bytes(memoryview(envelope)[_DIGEST_SLICE]), check_round_id(round_id)
        if self._signed_rounds.setdefault(digest, round_id) != round_id:
            raise CKKSStateError(
                "this envelope was already signed for another round id: signing it again would let the server "
                "decrypt it in several sums and solve for the input; encrypt again for the new round"
            )
        return signature

    def encrypt(self, vector: np.ndarray) -> bytearray:
        """Encrypt ``vector`` into an UPLOAD envelope.

        Args:
            vector: a 1-D array of real numbers (float or int dtype), finite,
                each ``|x| <=`` :func:`~secagg.ckks.params.max_abs_sum`.

        Returns:
            The envelope (SPEC chapter 50) as a ``bytearray``: the buffer it
            was written into, returned without a copy.

        Raises:
            TypeError: if ``vector`` is not a real numeric array.
            ValueError: if it is not 1-D, is empty, holds NaN/inf, or a value
                whose magnitude the parameters cannot carry.
            PlanError: if encrypting it would exceed the memory limit.
            CKKSError: if TenSEAL fails to encrypt.
        """
        x = np.asarray(vector)
        if x.dtype.kind not in "fiu":
            raise TypeError(f"vector must hold real numbers, got dtype {x.dtype}")
        if x.ndim != 1 or x.size == 0:
            raise ValueError(f"vector must be 1-D and non-empty, got shape {x.shape}")
        x = x.astype(np.float64, copy=False)
        if not np.all(np.isfinite(x)):
            raise ValueError("vector holds NaN or infinite values")
        params = self._loaded.params
        peak = float(np.max(np.abs(x)))
        if peak > max_abs_sum(params):
            raise ValueError(f"value of magnitude {peak:.6g} exceeds {max_abs_sum(params):.6g} for these parameters")
        plan = plan_sizes(int(x.size), params, memory_limit=self._memory_limit)
        ts = load_tenseal()
        builder = EnvelopeBuilder(
            EnvelopeKind.UPLOAD,
            fingerprint=self._fingerprint,
            dim=int(x.size),
            contributors=1,
            chunk_count=plan.ciphertexts_per_client,
            capacity=plan.upload_bytes_max,
        )
        for start in range(0, x.size, params.slots):
            try:
                ct = ts.ckks_vector(self._loaded.context, x[start : start + params.slots].tolist())
                blob = ct.serialize()
            except _TENSEAL_ERRORS as exc:
                raise CKKSError(f"TenSEAL failed to encrypt chunk {start // params.slots}: {exc}") from exc
            del ct
            builder.add(blob)
            del blob
        return builder.finish()
