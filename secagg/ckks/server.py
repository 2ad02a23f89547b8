"""The CKKS server: adds ciphertext envelopes it cannot read, one at a time.

Sans-I/O: the key holder's signed context (verified against the pinned key
holder key, like the clients do) and the round's vector length at construction,
then :meth:`Server.receive` for each client envelope as it arrives, then
:meth:`Server.finish` for the AGGREGATE envelope to send to the key holder.
The server holds one running sum (``ceil(dim/slots)`` ciphertexts) plus,
while it checks an arriving envelope, that envelope's ciphertexts: memory is
O(one client's upload), never O(n * dim). A client that drops out simply
never calls :meth:`receive`.

Check-then-commit: an envelope is fully decoded and every ciphertext validated
before any is added, so a rejected envelope (typed
:class:`~secagg.ckks.errors.EnvelopeError`) leaves the running sum and the
included set exactly as they were, and the round goes on.

>>> import importlib.util
>>> if importlib.util.find_spec("tenseal"):
...     import numpy as np
...     from secagg.ckks.client import Client
...     from secagg.ckks.errors import EnvelopeError
...     from secagg.ckks.keyholder import KeyHolder
...     kh = KeyHolder("compact")
...     server = Server(kh.signed_context, key_holder_key=kh.verify_key, dim=2)
...     server.receive(7, Client(kh.signed_context, key_holder_key=kh.verify_key).encrypt(np.ones(2)))
...     try:
...         server.receive(8, b"junk")
...     except EnvelopeError:
...         pass
...     print(server.finish().included)
... else:
...     print((7,))
(7,)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from secagg.ckks._backend import _TENSEAL_ERRORS, load_chunk, load_signed_context
from secagg.ckks.auth import SignedUpload, check_client_keys, check_round_id, verify_upload
from secagg.ckks.envelope import EnvelopeBuilder, EnvelopeKind, context_fingerprint, decode_envelope
from secagg.ckks.errors import CKKSError, CKKSStateError, EnvelopeError
from secagg.ckks.params import CKKSParams
from secagg.ckks.planner import DEFAULT_MEMORY_LIMIT, max_ciphertext_bytes, plan_sizes
from secagg.errors import AbortReason

__all__ = ["AggregateOutput", "Server"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AggregateOutput:
    """What the server hands on: the encrypted sum and who is in it.

    Attributes:
        envelope: the AGGREGATE envelope, for the key holder (a ``bytearray``).
        included: sorted ids of the clients whose inputs are summed.
        uploads: in the verifiable mode, every accepted :class:`~secagg.ckks.auth.SignedUpload`
            in id order, for :meth:`KeyHolder.decrypt_verified`; empty otherwise.
    """

    envelope: bytes
    included: tuple[int, ...]
    uploads: tuple[SignedUpload, ...] = ()

    @property
    def count(self) -> int:
        """Number of included clients."""
        return len(self.included)


class Server:
    """Streaming sum of CKKS envelopes under a public context.

    Warning:
        The server does not authenticate clients: ``client_id`` is whatever the
        transport says, and any party that can deliver bytes can contribute.
        Nothing detects a server that drops or alters ciphertexts either (CKKS
        ciphertexts are malleable); see the threat model in SPEC chapter 50.

    Args:
        signed_context: the bytes :attr:`KeyHolder.signed_context` exported
            (the server forwards these exact bytes to every client).
        key_holder_key: the key holder's raw 32-byte Ed25519 public key, or
        key_holder_fingerprint: its fingerprint (exactly one of the two).
        dim: the round's vector length (>= 1).
        memory_limit: refuse rounds whose sum would need more bytes.
        client_keys: the verifiable option (SPEC chapter 50): the registered
            clients' raw Ed25519 public keys by id. Every upload must then
            carry the client's signature for ``round_id``; the server checks it
            and keeps the signed uploads for the key holder (memory: every
            accepted upload, O(n x upload)).
        round_id: the 16-byte id :meth:`KeyHolder.open_round` issued; given
            exactly when ``client_keys`` is.

    Raises:
        CKKSUnavailableError: if TenSEAL is not installed.
        TypeError: if an argument has the wrong type, or no pin (or both) is given.
        ValueError: if ``dim`` is out of range.
        ContextAuthenticationError: if the context is not signed by the pinned key holder.
        ContextError: if the context fails the layout walk, does not parse,
            carries a SECRET key (the server must never hold one), carries
            Galois or relinearisation keys, or uses refused parameters.
        PlanError: if the round needs more than ``memory_limit`` bytes.
    """

    __slots__ = ("_client_keys", "_dim", "_finished", "_fingerprint", "_included", "_loaded", "_round_id", "_sum",
                 "_uploads")

    def __init__(
        self,
        signed_context: bytes,
        *,
        dim: int,
        key_holder_key: bytes | None = None,
        key_holder_fingerprint: bytes | str | None = None,
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
        client_keys: Mapping[int, bytes] | None = None,
        round_id: bytes | None = None,
    ) -> None:
        if (client_keys is None) != (round_id is None):
            raise TypeError("the verifiable option needs both client_keys= and round_id=")
        self._client_keys = None if client_keys is None else check_client_keys(client_keys)
        self._round_id = None if round_id is None else check_round_id(round_id)
        self._uploads: list[SignedUpload] = []
        self._loaded, public = load_signed_context(
            signed_context, key_holder_key=key_holder_key, key_holder_fingerprint=key_holder_fingerprint
        )
        plan_sizes(dim, self._loaded.params, memory_limit=memory_limit)
        self._fingerprint = context_fingerprint(public)
        self._dim = dim
        self._sum: list | None = None
        self._included: list[int] = []
        self._finished = False

    def __repr__(self) -> str:
        return f"Server({self._loaded.params!r}, dim={self._dim}, included={len(self._included)})"

    @property
    def params(self) -> CKKSParams:
        """The parameter set read from the public context."""
        return self._loaded.params

    @property
    def included(self) -> tuple[int, ...]:
        """Sorted ids of the clients accepted so far."""
        return tuple(sorted(self._included))

    def receive(self, client_id: int, envelope: bytes, signature: bytes | None = None) -> None:
        """Validate one client's UPLOAD envelope and add it to the running sum.

        Args:
            client_id: the sender's id (>= 1), as the transport reports it.
            envelope: the bytes :meth:`Client.encrypt` produced.
            signature: verifiable mode only (and required there): the client's
                :meth:`Client.sign_upload` signature for this round.

        Raises:
            CKKSStateError: if called after :meth:`finish`.
            TypeError: if ``client_id`` is not an int or ``envelope`` not
                bytes, or a signature is missing (verifiable mode) or given
                (otherwise).
            ValueError: if ``client_id < 1``.
            EnvelopeError: if the client already submitted (reason
                ``REPLAYED``), is not registered or its signature does not
                verify (``AUTHENTICATION``, verifiable mode), or the envelope
                is malformed, of another context or length, or holds a
                ciphertext that fails validation. The server state is unchanged.
        """
        if self._finished:
            raise CKKSStateError("receive() after finish(): the round is closed")
        if isinstance(client_id, bool) or not isinstance(client_id, int):
            raise TypeError(f"client_id must be an int, got {client_id!r}")
        if client_id < 1:
            raise ValueError(f"client_id must be >= 1, got {client_id!r}")
        if client_id in self._included:
            raise EnvelopeError(f"client {client_id} already submitted in this round", AbortReason.REPLAYED)
        if (signature is None) != (self._client_keys is None):
            raise TypeError(
                "this server is in the verifiable mode: every upload needs its signature"
                if signature is None
                else "a signature was given, but this server was made without client_keys"
            )
        if signature is not None and not isinstance(signature, (bytes, bytearray, memoryview)):
            raise TypeError(f"signature must be bytes, got {type(signature).__name__}")
        if self._client_keys is not None and client_id not in self._client_keys:
            raise EnvelopeError(f"client {client_id} is not registered", AbortReason.AUTHENTICATION)
        params = self._loaded.params
        decoded = decode_envelope(
            envelope,
            kind=EnvelopeKind.UPLOAD,
            fingerprint=self._fingerprint,
            dim=self._dim,
            slots=params.slots,
            max_chunk_bytes=max_ciphertext_bytes(params),
        )
        upload = None
        if self._client_keys is not None:  # after decode_envelope checked the digest the signature covers
            upload = SignedUpload(client_id=client_id, envelope=bytes(envelope), signature=bytes(signature))
            verify_upload(self._client_keys[client_id], upload, round_id=self._round_id)
        vectors = [
            load_chunk(self._loaded, blob, index=i, length=min(params.slots, self._dim - i * params.slots))
            for i, blob in enumerate(decoded.chunks)
        ]
        # Commit: every ciphertext is validated (same level, scale and size as
        # the running sum), so the additions below cannot fail half-way.
        if self._sum is None:
            self._sum = vectors
        else:
            for acc, vector in zip(self._sum, vectors, strict=True):
                acc.add_(vector)
        self._included.append(client_id)
        if upload is not None:
            self._uploads.append(upload)

    def finish(self) -> AggregateOutput:
        """Close the round and serialise the encrypted sum.

        Returns:
            The :class:`AggregateOutput` (AGGREGATE envelope and included ids).

        Raises:
            CKKSStateError: if no envelope was accepted, or if called twice.
            CKKSError: if TenSEAL fails to serialise the sum.
        """
        if self._finished:
            raise CKKSStateError("finish() called twice")
        if self._sum is None:
            raise CKKSStateError("no client envelope was accepted, there is nothing to sum")
        plan = plan_sizes(self._dim, self._loaded.params)
        builder = EnvelopeBuilder(
            EnvelopeKind.AGGREGATE,
            fingerprint=self._fingerprint,
            dim=self._dim,
            contributors=len(self._included),
            chunk_count=plan.ciphertexts_per_client,
            capacity=plan.upload_bytes_max,
        )
        for vector in self._sum:  # one serialised ciphertext at a time, straight into the envelope
            try:
                blob = vector.serialize()
            except _TENSEAL_ERRORS as exc:
                raise CKKSError(f"TenSEAL failed to serialise the sum: {exc}") from exc
            builder.add(blob)
            del blob
        envelope = builder.finish()
        self._finished = True
        self._sum = None
        uploads = tuple(sorted(self._uploads, key=lambda u: u.client_id))
        self._uploads = []
        return AggregateOutput(envelope=envelope, included=self.included, uploads=uploads)
