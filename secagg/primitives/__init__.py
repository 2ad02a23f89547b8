"""Pure cryptographic and numeric primitives ("hazmat" layer).

Nothing here knows about rounds, messages or sockets; every function is pure
given its inputs and the injected :class:`~secagg.primitives.randomness.RandomSource`.
Modules: ``randomness`` (the injected source), ``words`` (word widths),
``kex`` (X25519 + HKDF), ``aead`` (AES-256-GCM), ``sign`` (Ed25519), ``prg``
(the AES-256-CTR keystream and masks), ``merkle`` (the key leaf hash),
``ordered_tree`` (the ring order, the ordered key tree and multiproofs),
``shamir``, ``encoding`` (fixed point and bit budgets), ``packing`` (bit
packing), ``masking`` (Numba kernels) and ``masking_reference`` (their NumPy
references); ``_common`` holds the bytes check and the key-object base.
"""
