"""Pure cryptographic and numeric primitives ("hazmat" layer).

Nothing here knows about rounds, messages or sockets; every function is pure
given its inputs and the injected :class:`~secagg.primitives.randomness.RandomSource`.
Modules: ``randomness``, ``kex`` (X25519 + HKDF), ``aead`` (AES-256-GCM),
``sign`` (Ed25519), ``prg`` (AES-256-CTR masks), ``shamir``, ``encoding``
(fixed point and bit budgets) and ``masking`` (Numba kernels with NumPy
references).
"""
