"""The key holder: makes the CKKS keys, exports the public context, decrypts only sums.

Sans-I/O: :attr:`KeyHolder.signed_context` is the bytes to send (through the
server) to every client and to the server: the public context signed with the
key holder's long-term Ed25519 key, whose public half
(:attr:`KeyHolder.verify_key`, or its :attr:`KeyHolder.key_fingerprint`) the
clients pin out of band (:mod:`secagg.ckks.auth`); :meth:`KeyHolder.decrypt`
takes the server's AGGREGATE envelope and returns the float64 sum. The secret
key never leaves the object: there is no method that exports it.

The context carries no Galois keys (TenSEAL makes them only on
``generate_galois_keys()``, which is never called). It does hold
relinearisation keys: TenSEAL generates them whenever it creates a CKKS
context with a secret key, and offers no way to skip them. They stay in the
key holder's private context and are never exported: the public context is
serialised with ``save_relin_keys=False`` (and ``save_galois_keys=False``),
because a sum needs neither and they are what makes TenSEAL contexts tens of
megabytes.

Randomness: keys and encryption noise come from SEAL's own CSPRNG (seeded
from the operating system); TenSEAL offers no way to inject the toolkit's
``RandomSource``, so the CKKS path cannot be made deterministic in tests.

>>> import importlib.util
>>> if importlib.util.find_spec("tenseal"):
...     import numpy as np
...     from secagg.ckks.client import Client
...     from secagg.ckks.server import Server
...     kh = KeyHolder("compact")
...     pin = kh.verify_key  # reaches the clients out of band, never through the server
...     server = Server(kh.signed_context, key_holder_key=pin, dim=3)
...     server.receive(1, Client(kh.signed_context, key_holder_key=pin).encrypt(np.array([1.0, 2.0, 3.0])))
...     server.receive(2, Client(kh.signed_context, key_holder_key=pin).encrypt(np.array([0.5, 0.5, 0.5])))
...     total = kh.decrypt(server.finish().envelope, dim=3, value_bound=3.0)
...     print(np.round(total, 6).tolist())
... else:
...     print([1.5, 2.5, 3.5])
[1.5, 2.5, 3.5]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from secagg.ckks._backend import _TENSEAL_ERRORS, describe_context, load_chunk, load_tenseal
from secagg.ckks.auth import (
    ROUND_ID_SIZE,
    SignedUpload,
    check_client_keys,
    check_round_id,
    key_holder_fingerprint,
    sign_context,
    verify_upload,
)
from secagg.ckks.envelope import EnvelopeKind, context_fingerprint, decode_envelope
from secagg.ckks.errors import ContextError, EnvelopeError, PlanError, SumOutOfRangeError
from secagg.ckks.params import CKKSParams, predicted_abs_error, resolve_params
from secagg.ckks.planner import max_ciphertext_bytes
from secagg.errors import AbortReason
from secagg.primitives.randomness import DEFAULT_RANDOM
from secagg.primitives.sign import Ed25519SigningKey

__all__ = ["KeyHolder"]


class KeyHolder:
    """Holds the CKKS secret key; decrypts the aggregate and nothing else.

    Warning:
        The key holder decrypts whatever AGGREGATE envelope it is given, and
        the contributor count inside is the server's word: a dishonest server
        can relabel one client's ciphertext as a "sum" and learn that client's
        input from the decryption. The CKKS path is safe only while the server
        and the key holder do not collude, the clients have pinned
        :attr:`verify_key` out of band, and the key holder releases
        decryptions only of rounds it knows to be real: the verifiable
        option, :meth:`decrypt_verified`, checks that the aggregate is the sum
        of enough distinct client-signed uploads (SPEC chapter 50).

    Args:
        params: a :class:`~secagg.ckks.params.CKKSParams`, a parameter-set
            name, or ``None`` for ``"default"``.
        signing_key: the key holder's long-term
            :class:`~secagg.primitives.sign.Ed25519SigningKey`, whose public
            key the clients have pinned; ``None`` makes a fresh one (pin
            :attr:`verify_key` then).

    Raises:
        CKKSUnavailableError: if TenSEAL is not installed.
        TypeError: if ``params`` or ``signing_key`` has the wrong type.
        ValueError: if the parameter-set name is unknown.
        PlanError: if SEAL refuses the parameters (for example no NTT-friendly
            prime of a requested size exists for this degree).
    """

    __slots__ = ("_context", "_fingerprint", "_loaded", "_open_rounds", "_public", "_signed", "_signing_key")

    def __init__(self, params: CKKSParams | str | None = None, *, signing_key: Ed25519SigningKey | None = None) -> None:
        params = resolve_params(params)
        if signing_key is None:
            signing_key = Ed25519SigningKey.generate()
        if not isinstance(signing_key, Ed25519SigningKey):
            raise TypeError(f"signing_key must be an Ed25519SigningKey, got {type(signing_key).__name__}")
        ts = load_tenseal()
        try:
            context = ts.context(
                ts.SCHEME_TYPE.CKKS,
                poly_modulus_degree=params.poly_modulus_degree,
                coeff_mod_bit_sizes=list(params.coeff_mod_bit_sizes),
                n_threads=1,
            )
            context.global_scale = 2.0**params.scale_bits
        except _TENSEAL_ERRORS as exc:
            raise PlanError(f"TenSEAL refused the parameters {params!r}: {exc}") from exc
        if context.has_galois_keys():
            raise ContextError("TenSEAL generated Galois keys although none were requested")
        self._context = context
        self._loaded = describe_context(ts, context)
        if self._loaded.params != params:
            raise ContextError(f"TenSEAL built {self._loaded.params!r} instead of {params!r}")
        self._public = context.serialize(
            save_public_key=True, save_secret_key=False, save_galois_keys=False, save_relin_keys=False
        )
        self._fingerprint = context_fingerprint(self._public)
        self._signing_key = signing_key
        self._signed = sign_context(signing_key, self._public)
        self._open_rounds: set[bytes] = set()

    def __repr__(self) -> str:
        return f"KeyHolder({self._loaded.params!r})"

    @property
    def params(self) -> CKKSParams:
        """The parameter set of the keys."""
        return self._loaded.params

    @property
    def public_context(self) -> bytes:
        """The public context: public key and parameters, no secret, Galois or relinearisation keys.

        Roles accept it only inside :attr:`signed_context`; these bytes are
        what envelope fingerprints are computed over.
        """
        return self._public

    @property
    def signed_context(self) -> bytes:
        """:attr:`public_context` signed with the key holder's key: what the server forwards to every role."""
        return self._signed

    @property
    def verify_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key the clients pin (``key_holder_key=``)."""
        return self._signing_key.public_bytes

    @property
    def key_fingerprint(self) -> bytes:
        """:func:`~secagg.ckks.auth.key_holder_fingerprint` of :attr:`verify_key` (``key_holder_fingerprint=``)."""
        return key_holder_fingerprint(self._signing_key.public_bytes)

    @property
    def fingerprint(self) -> bytes:
        """:func:`~secagg.ckks.envelope.context_fingerprint` of :attr:`public_context`."""
        return self._fingerprint

    def open_round(self) -> bytes:
        """Issue a fresh round id for the verifiable option (SPEC chapter 50, "Verifiable key holder").

        The id travels through the server to the clients, who sign it with
        their uploads; :meth:`decrypt_verified` accepts each id once, so signed
        uploads cannot be reused in another round, and one round yields one
        decryption.

        Returns:
            16 random bytes (OS CSPRNG).

        Raises:
            Nothing of its own.
        """
        round_id = DEFAULT_RANDOM.token_bytes(ROUND_ID_SIZE)
        self._open_rounds.add(round_id)
        return round_id

    def decrypt_verified(
        self,
        envelope: bytes,
        *,
        uploads: Sequence[SignedUpload],
        client_keys: dict[int, bytes],
        round_id: bytes,
        dim: int,
        value_bound: float,
        min_contributors: int = 2,
    ) -> np.ndarray:
        """Decrypt the aggregate only if it is the sum of enough distinct signed uploads.

        The verifiable option: instead of the server's word for what an
        AGGREGATE holds, the key holder checks each upload's client signature
        for ``round_id`` against ``client_keys``, validates every ciphertext,
        recomputes the homomorphic sum itself, and requires it to equal the
        server's aggregate byte for byte; it then decrypts its own sum, with
        the range check of :meth:`decrypt`. The round id is consumed by the
        first call, whatever its outcome. Cost: the server's aggregation work
        again, and the uploads' bytes to the key holder (SPEC chapter 50).

        Args:
            envelope: the AGGREGATE envelope from :meth:`Server.finish`.
            uploads: the server's :attr:`AggregateOutput.uploads`.
            client_keys: the registered clients' raw Ed25519 public keys by id,
                provisioned out of band (never taken from the server).
            round_id: the id :meth:`open_round` issued for this round.
            dim: the round's vector length.
            value_bound: the largest ``|x_i|`` a client may submit (> 0, finite).
            min_contributors: the fewest distinct signed uploads a sum may hold (>= 1).

        Returns:
            A float64 array of length ``dim``.

        Raises:
            TypeError: if an argument has the wrong type.
            ValueError: if a number is out of range.
            EnvelopeError: reason ``REPLAYED`` for a round id not open (never
                issued, or already used) or a client listed twice;
                ``TOO_FEW_SURVIVORS`` for fewer than ``min_contributors``
                uploads; ``AUTHENTICATION`` for an unregistered client or a
                signature that does not verify; ``INCONSISTENT`` when the
                aggregate counts other contributors or is not the sum of the
                uploads; ``MALFORMED`` for a malformed envelope or ciphertext.
            SumOutOfRangeError: as :meth:`decrypt`.
        """
        round_id = check_round_id(round_id)
        keys = check_client_keys(client_keys)
        self._check_decrypt_args(dim, min_contributors, value_bound)
        if isinstance(uploads, (str, bytes)) or not isinstance(uploads, Sequence):
            raise TypeError(f"uploads must be a sequence of SignedUpload, got {type(uploads).__name__}")
        if any(not isinstance(u, SignedUpload) for u in uploads):
            raise TypeError("uploads must hold SignedUpload objects")
        if round_id not in self._open_rounds:
            raise EnvelopeError("round id was not issued by this key holder or was already used", AbortReason.REPLAYED)
        self._open_rounds.discard(round_id)
        ids = [u.client_id for u in uploads]
        if len(set(ids)) != len(ids):
            raise EnvelopeError("a client is listed twice among the uploads", AbortReason.REPLAYED)
        if len(ids) < min_contributors:
            raise EnvelopeError(
                f"{len(ids)} signed uploads, fewer than the required {min_contributors}", AbortReason.TOO_FEW_SURVIVORS
            )
        params = self._loaded.params
        limits = {"fingerprint": self._fingerprint, "dim": dim, "slots": params.slots,
                  "max_chunk_bytes": max_ciphertext_bytes(params)}
        aggregate = decode_envelope(envelope, kind=EnvelopeKind.AGGREGATE, **limits)
        if aggregate.contributors != len(uploads):
            raise EnvelopeError(
                f"the aggregate says {aggregate.contributors} contributors, the server forwarded {len(uploads)} "
                f"signed uploads",
                AbortReason.INCONSISTENT,
            )
        total: list | None = None
        for upload in uploads:
            if upload.client_id not in keys:
                raise EnvelopeError(f"client {upload.client_id} is not registered", AbortReason.AUTHENTICATION)
            decoded = decode_envelope(upload.envelope, kind=EnvelopeKind.UPLOAD, **limits)
            verify_upload(keys[upload.client_id], upload, round_id=round_id)
            vectors = [
                load_chunk(self._loaded, blob, index=i, length=min(params.slots, dim - i * params.slots))
                for i, blob in enumerate(decoded.chunks)
            ]
            if total is None:
                total = vectors
            else:
                for acc, vector in zip(total, vectors, strict=True):
                    acc.add_(vector)
        for i, (acc, blob) in enumerate(zip(total, aggregate.chunks, strict=True)):
            try:
                mine = acc.serialize()
            except _TENSEAL_ERRORS as exc:
                raise EnvelopeError(f"the recomputed sum does not serialise: {exc}") from exc
            if mine != bytes(blob):
                raise EnvelopeError(
                    f"chunk {i} of the aggregate is not the homomorphic sum of the {len(uploads)} signed uploads",
                    AbortReason.INCONSISTENT,
                )
        return self._decrypt_in_range(total, dim=dim, contributors=len(uploads), value_bound=value_bound)

    @staticmethod
    def _check_decrypt_args(dim: object, min_contributors: object, value_bound: object) -> None:
        for name, value in (("dim", dim), ("min_contributors", min_contributors)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {value!r}")
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value!r}")
        if isinstance(value_bound, bool) or not isinstance(value_bound, (int, float)):
            raise TypeError(f"value_bound must be a float, got {value_bound!r}")
        if not (np.isfinite(value_bound) and value_bound > 0):
            raise ValueError(f"value_bound must be finite and > 0, got {value_bound!r}")

    def decrypt(self, envelope: bytes, *, dim: int, value_bound: float, min_contributors: int = 2) -> np.ndarray:
        """Decrypt the server's AGGREGATE envelope into the float64 sum.

        The value bound is a parameter of the round, agreed with the clients
        like ``dim`` (it is not read from the envelope: the server's word is
        not needed for it). Every coordinate of the decrypted sum must lie
        within ``contributors * value_bound`` plus the error bound
        :func:`~secagg.ckks.params.predicted_abs_error`; anything else is
        released as :class:`~secagg.ckks.errors.SumOutOfRangeError`, because
        a corrupted ciphertext (CKKS has no integrity) decrypts to garbage.

        Warning:
            This catches corruption and clients far out of range, not a
            malicious client that stays within the bound: such a client can
            shift the sum by up to ``value_bound`` per coordinate undetectably.

        Args:
            envelope: the bytes :meth:`Server.finish` produced.
            dim: the round's vector length.
            value_bound: the largest ``|x_i|`` a client may submit (> 0, finite).
            min_contributors: refuse sums the server says have fewer clients
                (default 2; 1 releases a single client's input and needs
                saying so explicitly).

        Returns:
            A float64 array of length ``dim``.

        Raises:
            TypeError: if an argument has the wrong type.
            ValueError: if ``dim`` or ``min_contributors`` is below 1, or
                ``value_bound`` is not finite and positive.
            EnvelopeError: if the envelope is malformed, is an UPLOAD (a
                single client's ciphertext: decrypting it would reveal that
                input), belongs to another context or length, counts fewer
                than ``min_contributors`` clients (reason
                ``TOO_FEW_SURVIVORS``), or a chunk fails validation.
            SumOutOfRangeError: if a coordinate of the sum is out of range
                (a corrupted ciphertext or a client above ``value_bound``).
        """
        self._check_decrypt_args(dim, min_contributors, value_bound)
        params = self._loaded.params
        decoded = decode_envelope(
            envelope,
            kind=EnvelopeKind.AGGREGATE,
            fingerprint=self._fingerprint,
            dim=dim,
            slots=params.slots,
            max_chunk_bytes=max_ciphertext_bytes(params),
        )
        if decoded.contributors < min_contributors:
            raise EnvelopeError(
                f"the sum counts {decoded.contributors} clients, fewer than the required {min_contributors}",
                AbortReason.TOO_FEW_SURVIVORS,
            )
        vectors = (
            load_chunk(self._loaded, blob, index=i, length=min(params.slots, dim - i * params.slots))
            for i, blob in enumerate(decoded.chunks)
        )
        return self._decrypt_in_range(vectors, dim=dim, contributors=decoded.contributors, value_bound=value_bound)

    def _decrypt_in_range(self, vectors, *, dim: int, contributors: int, value_bound: float) -> np.ndarray:
        """Decrypt chunk vectors into the sum and apply the range check of :meth:`decrypt`."""
        params = self._loaded.params
        total = np.empty(dim, dtype=np.float64)
        for i, vector in enumerate(vectors):
            start, stop = i * params.slots, min((i + 1) * params.slots, dim)
            try:
                total[start:stop] = vector.decrypt()
            except _TENSEAL_ERRORS as exc:
                raise EnvelopeError(f"chunk {i} does not decrypt: {exc}") from exc
        n = contributors
        limit = n * float(value_bound) + predicted_abs_error(params, clients=n, value_bound=value_bound)
        peak = float(np.max(np.abs(total))) if np.all(np.isfinite(total)) else float("inf")
        if peak > limit:
            raise SumOutOfRangeError(
                f"decrypted sum has a coordinate of magnitude {peak:.6g}, above {limit:.6g} = {n} contributors x "
                f"value_bound {value_bound:.6g} + the error bound: a ciphertext was corrupted or a client "
                f"exceeded the value bound; nothing is released"
            )
        return total
