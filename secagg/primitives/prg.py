"""AES-256-CTR pseudorandom generator that expands 32-byte seeds into masks.

Derivation (normative text in protocol_spec/SPEC.md, chapter "PRG"):

* key = HKDF-SHA256(ikm = seed, salt = session_id,
  info = b"secagg/v1/prg" || 0x00 || u64le(length) || u8(bits)), 32 bytes.
  Binding the session id, vector length and bit width into the key means a
  seed never yields the same keystream for two different vectors.
* keystream = AES-256-CTR(key) over zero plaintext, initial counter block
  16 zero bytes (the 128-bit block counter is big-endian, as in NIST SP 800-38A).
* mask word i = little-endian unsigned integer of keystream bytes
  ``[w*i, w*(i+1))`` AND ``(2**bits - 1)``, where ``w`` = 4 for ``bits <= 32``
  and 8 above (:func:`secagg.primitives.words.word_bytes`). Because 2**bits
  divides 2**(8w), every mask word is exactly uniform in ``[0, 2**bits)``: no
  rejection and no bias.
* hard cap: one key produces at most ``length * w`` bytes, and ``length`` is at
  most :data:`MAX_LENGTH`; asking for more raises :class:`PrgLimitExceeded`.

>>> m = expand_mask(bytes(32), session_id=bytes(32), length=4, bits=20)
>>> m.dtype, bool((m < 2**20).all())
(dtype('uint32'), True)
"""

from __future__ import annotations

import sys

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from secagg.errors import PrgLimitExceeded
from secagg.primitives.hkdf import hkdf_sha256
from secagg.primitives.words import check_bits, modulus_mask, word_dtype

__all__ = ["MAX_LENGTH", "PRG_LABEL", "SEED_SIZE", "SESSION_ID_SIZE", "AESCTRPrg", "Keystream", "expand_mask", "prg_key"]

SEED_SIZE = 32
SESSION_ID_SIZE = 32
MAX_LENGTH = 2**31
PRG_LABEL = b"secagg/v1/prg"
_ZERO_IV = bytes(16)
_CTR_ZERO = modes.CTR(_ZERO_IV)  # immutable; one object for every keystream
_GCM_ZERO = modes.GCM(bytes(12))  # its encryption stream is CTR blocks 2, 3, ... (see Keystream)
_GCM_START = 32  # the first keystream byte GCM's stream gives (counter block 2)
_GCM_END = 2**36  # counter block 2**32: GCM's 32-bit counter stops here
_CTR_TAIL = modes.CTR((2**32).to_bytes(16, "big"))

if sys.byteorder != "little":  # pragma: no cover - every supported platform is little-endian
    raise ImportError("secagg's kernels assume a little-endian host")


def _check_bytes(name: str, value: object, size: int) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, got {type(value).__name__}")
    value = bytes(value)
    if len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")
    return value


def _check_length(length: object) -> int:
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)):
        raise TypeError(f"length must be an int, got {type(length).__name__}")
    if not 1 <= length <= MAX_LENGTH:
        raise ValueError(f"length must be in [1, {MAX_LENGTH}], got {length}")
    return int(length)


def prg_key(seed: bytes, *, session_id: bytes, length: int, bits: int) -> bytes:
    """Derive the AES-256 key that expands ``seed`` into one mask.

    Args:
        seed: 32 secret bytes (a self-mask seed or a pairwise mask seed).
        session_id: the 32-byte session id.
        length: number of mask words the key will produce (1..MAX_LENGTH).
        bits: modulus bits of the mask words (1..62).

    Returns:
        32 bytes.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if a size or range is wrong.
    """
    seed = _check_bytes("seed", seed, SEED_SIZE)
    session_id = _check_bytes("session_id", session_id, SESSION_ID_SIZE)
    length = _check_length(length)
    bits = check_bits(bits)
    return _derive(seed, session_id, length, bits)


def _info(length: int, bits: int) -> bytes:
    return PRG_LABEL + b"\x00" + length.to_bytes(8, "little") + bits.to_bytes(1, "little")


def _derive(seed: bytes, session_id: bytes, length: int, bits: int) -> bytes:
    # prg_key without the checks: for callers that validated every argument already.
    return hkdf_sha256(seed, salt=session_id, info=_info(length, bits))


def _mask_keystreams(seeds: list[bytes], session_id: bytes, length: int, bits: int) -> list[Keystream]:
    # The keystreams of AESCTRPrg(seed, session_id=session_id, length=length, bits=bits) for each seed
    # (the same key, so the same bytes), without the AESCTRPrg layer: for masking.add_masks, which has
    # checked every argument (seeds: bytes of SEED_SIZE; session_id: SESSION_ID_SIZE bytes; length: int
    # in [1, MAX_LENGTH]; bits: int in [1, 62]) and reads exactly `length` words from each stream,
    # which is AESCTRPrg's cap, so the cap's check per read is not needed.
    info = _info(length, bits)
    return [Keystream(hkdf_sha256(seed, salt=session_id, info=info)) for seed in seeds]


def _bulk_writers(streams: list[Keystream]) -> list:
    # For add_masks once every stream has read its first chunk: the callable that writes each stream's
    # next bytes, which is what read_into calls from byte 32 up to byte 2**36 (the GCM context's
    # update_into). A mask stream never reaches 2**36: it reads at most MAX_LENGTH * 8 = 2**34 bytes.
    # A stream still in its head (a first chunk of at most 32 bytes) keeps read_into.
    return [s.read_into if s._bulk is None or s._pos < _GCM_START else s._bulk.update_into for s in streams]


class Keystream:
    """The AES-256-CTR keystream of one key (zero IV, counter from 0): the one keystream of the library.

    The masks and the simulator's test data all read
    their bytes from here (with different keys); callers are responsible for
    never reusing a key for two purposes.

    The bytes are exactly AES-256-CTR's (SPEC chapter "PRG"); how they are
    computed is not: counter blocks 0 and 1 come from a CTR context, blocks
    2 .. 2**32 - 1 from the encryption stream of AES-256-GCM under the same
    key and the all-zero 96-bit nonce, whose counter blocks are exactly
    ``0^96 || u32be(2 + i)`` (NIST SP 800-38D, 7.1: ``J0 = IV || 0^31 || 1``,
    then ``inc32``). GCM's tag is never computed or used: GCM here is only
    OpenSSL's fastest CTR engine (VAES/AVX-512 on x86, about twice the
    bytes per second of its plain CTR path on the CPUs we measured).
    Keystream bytes past ``2**36`` (block ``2**32``, where GCM's 32-bit
    counter would wrap) come from a CTR context started there.

    Args:
        key: 32 bytes.

    Raises:
        ValueError: if ``key`` is not a valid AES-256 key.
    """

    __slots__ = ("_algorithm", "_bulk", "_head", "_pos")

    def __init__(self, key: bytes) -> None:
        self._algorithm = algorithms.AES(key)
        self._head = Cipher(self._algorithm, _CTR_ZERO).encryptor()  # bytes [0, 32): counter blocks 0 and 1
        self._bulk = None  # the GCM stream, made on first use at byte 32
        self._pos = 0

    def _contexts(self, n: int):
        # Yield (context, byte count) for the next n bytes, advancing the position.
        while n:
            pos = self._pos
            if pos < _GCM_START:
                ctx, take = self._head, min(n, _GCM_START - pos)
            elif pos < _GCM_END:
                if self._bulk is None:
                    self._bulk = Cipher(self._algorithm, _GCM_ZERO).encryptor()
                ctx, take = self._bulk, min(n, _GCM_END - pos)
            else:
                if self._bulk is not None:  # at byte 2**36: CTR from counter block 2**32 on
                    self._head, self._bulk = Cipher(self._algorithm, _CTR_TAIL).encryptor(), None
                ctx, take = self._head, n
            self._pos = pos + take
            n -= take
            yield ctx, take

    def read(self, n: int) -> bytes:
        """Return the next ``n`` keystream bytes.

        Args:
            n: how many bytes.

        Returns:
            ``n`` bytes.

        Raises:
            Nothing of its own.
        """
        return b"".join(ctx.update(bytes(take)) for ctx, take in self._contexts(n))

    def read_into(self, zeros, out) -> None:
        """Write the next ``len(zeros)`` keystream bytes into ``out`` (no allocation).

        Args:
            zeros: a ``uint8`` buffer of zeros.
            out: a writable ``uint8`` buffer at least as long.

        Raises:
            Nothing of its own (as ``cryptography``'s ``update_into``).
        """
        n = len(zeros)
        bulk = self._bulk
        if bulk is not None and self._pos + n <= _GCM_END:  # the steady state: one call
            bulk.update_into(zeros, out)
            self._pos += n
            return
        if not self._pos and _GCM_START < n <= _GCM_END:  # a first read past the head: what _contexts does, unrolled
            with memoryview(zeros) as zv, memoryview(out) as ov:
                self._head.update_into(zv[:_GCM_START], ov[:_GCM_START])
                self._bulk = bulk = Cipher(self._algorithm, _GCM_ZERO).encryptor()
                bulk.update_into(zv[_GCM_START:n], ov[_GCM_START:n])
            self._pos = n
            return
        done = 0
        with memoryview(zeros) as zv, memoryview(out) as ov:
            for ctx, take in self._contexts(n):
                ctx.update_into(zv[done : done + take], ov[done : done + take])
                done += take


class AESCTRPrg:
    """A keystream for one (seed, session, length, bits): read it once, in order.

    Args:
        seed: 32 secret bytes.
        session_id: the 32-byte session id.
        length: number of mask words this PRG may produce.
        bits: modulus bits (1..62).

    Raises:
        TypeError, ValueError: as :func:`prg_key`.

    Warning:
        The keystream is a one-time pad for the vector it masks. Never expand
        the same (seed, session_id, length, bits) for two different vectors;
        the protocol guarantees this by drawing fresh seeds per session.
    """

    __slots__ = ("_produced", "_stream", "bits", "dtype", "length", "limit", "word_size")

    def __init__(self, seed: bytes, *, session_id: bytes, length: int, bits: int) -> None:
        self._setup(prg_key(seed, session_id=session_id, length=length, bits=bits), int(length), int(bits))

    @classmethod
    def _checked(cls, seed: bytes, session_id: bytes, length: int, bits: int) -> AESCTRPrg:
        # The constructor for callers that validated seed (32 bytes), session_id (32 bytes),
        # length (int in [1, MAX_LENGTH]) and bits (int in [1, 62]) already: the same key, no re-checks.
        self = cls.__new__(cls)
        self._setup(_derive(seed, session_id, length, bits), length, bits)
        return self

    def _setup(self, key: bytes, length: int, bits: int) -> None:
        self.length = length
        self.bits = bits
        self.dtype = word_dtype(bits)
        self.word_size = self.dtype.itemsize
        self.limit = length * self.word_size
        self._produced = 0
        self._stream = Keystream(key)

    @property
    def produced(self) -> int:
        """Keystream bytes produced so far."""
        return self._produced

    def keystream_into(self, zeros: np.ndarray, out: np.ndarray) -> None:
        """Write the next ``len(zeros)`` keystream bytes into ``out``.

        Args:
            zeros: a ``uint8`` buffer of zeros (reused across calls; its length
                is the number of bytes produced).
            out: a writable ``uint8`` buffer of the same length.

        Raises:
            PrgLimitExceeded: if the key would produce more than
                ``length * word_size`` bytes in total.
            ValueError: if the buffers differ in length.
        """
        n = len(zeros)
        if len(out) != n:
            raise ValueError(f"out has {len(out)} bytes, zeros has {n}")
        produced = self._produced + n
        if produced > self.limit:
            raise PrgLimitExceeded(
                f"PRG asked for {produced} bytes, cap is {self.limit} "
                f"({self.length} words of {self.word_size} bytes)"
            )
        self._stream.read_into(zeros, out)
        self._produced = produced

    def words(self, count: int) -> np.ndarray:
        """Return the next ``count`` mask words, reduced mod ``2**bits``.

        Args:
            count: how many words to read; the keystream advances by
                ``count * word_size`` bytes.

        Returns:
            A new array of dtype :attr:`dtype` and shape ``(count,)``, values
            in ``[0, 2**bits)``.

        Raises:
            PrgLimitExceeded: past the cap (more than :attr:`length` words in
                total from this PRG); nothing is consumed then.
            ValueError: if ``count`` is negative.
            TypeError: if ``count`` is not an integer (not checked here; the
                comparison or NumPy raises it).
        """
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        nbytes = count * self.word_size
        out = np.empty(nbytes, dtype=np.uint8)
        self.keystream_into(np.zeros(nbytes, dtype=np.uint8), out)
        # Little-endian words: the module refuses to import on big-endian hosts.
        return out.view(self.dtype) & self.dtype.type(modulus_mask(self.bits))


def expand_mask(seed: bytes, *, session_id: bytes, length: int, bits: int) -> np.ndarray:
    """Return the whole mask of ``length`` words for ``seed`` (reference path).

    Args:
        seed: 32 secret bytes.
        session_id: the 32-byte session id.
        length: number of words.
        bits: modulus bits.

    Returns:
        An array of dtype ``word_dtype(bits)``, values in ``[0, 2**bits)``.

    Raises:
        TypeError, ValueError: as :func:`prg_key`.
    """
    return AESCTRPrg(seed, session_id=session_id, length=length, bits=bits).words(length)
