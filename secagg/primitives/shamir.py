"""Shamir secret sharing of 32-byte secrets over GF(2^31 - 1), in 30-bit limbs.

A secret of :data:`SECRET_SIZE` = 32 bytes is read as a 256-bit
**little-endian** integer ``S`` and cut into :data:`LIMBS` = 9 limbs of
:data:`LIMB_BITS` = 30 bits, ``limb[j] = (S >> 30*j) & (2**30 - 1)`` (the top
limb has 16 significant bits). Each limb is shared on its own, with an
independent random polynomial of degree ``threshold - 1`` over the prime field
GF(:data:`PRIME`), ``PRIME = 2**31 - 1``; holder ``x`` receives the 9 values
``f_j(x)``. On the wire one share of one secret is the 9 values as
``uint32`` little-endian (:data:`SHARE_SIZE` = 36 bytes).

Any ``threshold`` shares give the secret back by Lagrange interpolation at 0
(:class:`Lagrange`, which precomputes the weights once for a responder set so
the server can reuse them for many secrets); ``threshold - 1`` shares are
uniformly distributed whatever the secret. The word size keeps every product
below 2**62, so all arithmetic is exact in ``uint64``.

Layouts (the shapes every function uses): ``split`` returns ``uint32`` shares
of shape ``(len(xs), len(secrets), LIMBS)``, where ``[i, j]`` is holder
``xs[i]``'s share of secret ``j``; ``reconstruct`` takes the same layout
restricted to the responders.

>>> secrets = [bytes(range(32)), b"\\xff" * 32]
>>> shares = split(secrets, threshold=2, xs=[1, 2, 3])
>>> shares.shape
(3, 2, 9)
>>> reconstruct([3, 1], shares[[2, 0]], threshold=2) == secrets
True
>>> len(shares_to_bytes(shares[0]))
72
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

import numpy as np

from secagg.errors import DuplicateShareError, InsufficientSharesError, InvalidShareError
from secagg.primitives.randomness import DEFAULT_RANDOM, RandomSource, uniform_below

__all__ = [
    "LIMBS",
    "LIMB_BITS",
    "PRIME",
    "SECRET_SIZE",
    "SHARE_SIZE",
    "Lagrange",
    "check_shares",
    "interpolate",
    "reconstruct",
    "shares_from_bytes",
    "shares_to_bytes",
    "split",
]

PRIME = 2**31 - 1
"""The field modulus (a Mersenne prime)."""
LIMB_BITS = 30
"""Bits per limb of a secret (every limb value is below ``2**30 < PRIME``)."""
LIMBS = 9
"""Limbs per secret: ``9 * 30 = 270 >= 256`` bits."""
SECRET_SIZE = 32
"""Bytes per secret."""
SHARE_SIZE = 4 * LIMBS
"""Bytes of one share of one secret on the wire: 9 x ``uint32`` little-endian."""

_TOP_BITS = 8 * SECRET_SIZE - LIMB_BITS * (LIMBS - 1)  # 16 significant bits in the top limb
_P64 = np.uint64(PRIME)
_SMALL = 16  # shares_from_bytes: up to this many shares are range-checked in Python
_U4 = np.dtype("<u4")
_LIMB_WORDS = struct.Struct(f"<{2 * LIMBS}I")


def _check_xs(xs: Sequence[int]) -> tuple[int, ...]:
    """Validate evaluation points: ints in ``[1, PRIME - 1]``, pairwise distinct."""
    if isinstance(xs, (str, bytes)) or not isinstance(xs, (Sequence, np.ndarray)):
        raise TypeError(f"xs must be a sequence of ints, got {type(xs).__name__}")
    out = []
    for x in xs:
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
            raise TypeError(f"every x must be an int, got {x!r}")
        if not 1 <= x <= PRIME - 1:
            raise InvalidShareError(f"x = {int(x)} is outside [1, {PRIME - 1}] (x = 0 would reveal the secret)")
        out.append(int(x))
    if len(set(out)) != len(out):
        dup = sorted({x for x in out if out.count(x) > 1})
        raise DuplicateShareError(f"x-coordinates must be distinct, repeated: {dup[:8]}")
    return tuple(out)


def _check_threshold(threshold: int) -> int:
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, (int, np.integer)):
        raise TypeError(f"threshold must be an int, got {type(threshold).__name__}")
    if threshold < 1:
        raise ValueError(f"threshold must be >= 1, got {threshold}")
    return int(threshold)


def _limbs_from_secrets(secrets: Sequence[bytes]) -> np.ndarray:
    """``(m, LIMBS)`` uint64 limbs of the 256-bit little-endian secrets."""
    if isinstance(secrets, (bytes, bytearray, memoryview, str)) or not isinstance(secrets, Sequence):
        raise TypeError(f"secrets must be a sequence of 32-byte strings, got {type(secrets).__name__}")
    raw = []
    for j, s in enumerate(secrets):
        if not isinstance(s, (bytes, bytearray, memoryview)):
            raise TypeError(f"secret {j} must be bytes, got {type(s).__name__}")
        s = bytes(s)
        if len(s) != SECRET_SIZE:
            raise ValueError(f"secret {j} must be exactly {SECRET_SIZE} bytes, got {len(s)}")
        raw.append(s)
    m = len(raw)
    octets = np.frombuffer(b"".join(raw), dtype=np.uint8).reshape(m, SECRET_SIZE)
    bits = np.zeros((m, LIMBS, 32), dtype=np.uint8)
    stream = np.zeros((m, LIMBS * LIMB_BITS), dtype=np.uint8)
    stream[:, : 8 * SECRET_SIZE] = np.unpackbits(octets, axis=1, bitorder="little")
    bits[:, :, :LIMB_BITS] = stream.reshape(m, LIMBS, LIMB_BITS)
    words = np.packbits(bits, axis=2, bitorder="little")  # (m, LIMBS, 4) little-endian bytes
    return words.view("<u4").reshape(m, LIMBS).astype(np.uint64)


def _limbs_out_of_range(limbs: np.ndarray) -> np.ndarray:
    """``(m,)`` bool: which rows of ``(m, LIMBS)`` limbs no secret has (a limb ``>= 2**30``, top limb ``>= 2**16``)."""
    return (limbs[:, : LIMBS - 1] >> np.uint64(LIMB_BITS)).any(axis=1) | (
        limbs[:, LIMBS - 1] >> np.uint64(_TOP_BITS)
    ).astype(bool)


def _bytes_from_limbs(limbs: np.ndarray) -> bytes:
    """The ``m`` 32-byte secrets of ``(m, LIMBS)`` in-range limbs, concatenated."""
    m = limbs.shape[0]
    octets = limbs.astype("<u4").view(np.uint8).reshape(m, LIMBS, 4)
    bits = np.unpackbits(octets, axis=2, bitorder="little")[:, :, :LIMB_BITS].reshape(m, LIMBS * LIMB_BITS)
    return np.packbits(bits[:, : 8 * SECRET_SIZE], axis=1, bitorder="little").tobytes()


def _secrets_from_limbs(limbs: np.ndarray) -> list[bytes]:
    """Inverse of :func:`_limbs_from_secrets`; refuses limbs that no secret has."""
    m = limbs.shape[0]
    if m == 0:
        return []
    too_big = _limbs_out_of_range(limbs)
    if too_big.any():
        bad = np.flatnonzero(too_big)
        raise InvalidShareError(
            f"inconsistent shares: secrets {bad[:8].tolist()} interpolate to limbs outside "
            f"[0, 2**{LIMB_BITS}) (top limb [0, 2**{_TOP_BITS}))"
        )
    flat = _bytes_from_limbs(limbs)
    return [flat[SECRET_SIZE * j : SECRET_SIZE * (j + 1)] for j in range(m)]


def split(
    secrets: Sequence[bytes],
    *,
    threshold: int,
    xs: Sequence[int],
    random: RandomSource = DEFAULT_RANDOM,
) -> np.ndarray:
    """Share each 32-byte secret among the holders ``xs`` with the given threshold.

    For secret ``j`` and limb ``l`` the polynomial is
    ``f(x) = limb + sum_{k=1}^{t-1} a[k-1, j, l] * x^k mod PRIME`` where the
    ``(t-1) * m * LIMBS`` coefficients ``a`` come from one call
    ``uniform_below(random, PRIME, (t-1) * m * LIMBS)`` in C order of shape
    ``(t-1, m, LIMBS)`` (so coefficient of ``x^1`` first). With
    ``threshold == 1`` nothing is drawn and every share equals the limbs.

    Args:
        secrets: the ``m`` secrets, each exactly 32 bytes (``bytes``,
            ``bytearray`` or ``memoryview``).
        threshold: ``t``, the number of shares that reconstruct; ``1 <= t <= len(xs)``.
        xs: the holders' distinct evaluation points, each in ``[1, PRIME - 1]``.
        random: the randomness source for the coefficients.

    Returns:
        ``uint32`` array of shape ``(len(xs), m, LIMBS)``; ``out[i, j]`` is
        holder ``xs[i]``'s share of secret ``j``, every value in ``[0, PRIME)``.

    Raises:
        TypeError: ``secrets``, a secret, ``xs``, an x or ``threshold`` of the
            wrong type.
        ValueError: a secret that is not 32 bytes, or ``threshold`` outside
            ``[1, len(xs)]``.
        InvalidShareError: an x outside ``[1, PRIME - 1]`` (a ``ValueError``).
        DuplicateShareError: two equal xs (a ``ValueError``).

    Warning:
        A threshold below half the holders (``2 * t < len(xs)``) lets a
        minority of them pool their shares and reconstruct the secret (and
        in the protocol, learn a client's self-mask seed or mask key). Any
        ``t`` colluding holders always can: choose ``t`` from the threat
        model, never for convenience.
    """
    limbs = _limbs_from_secrets(secrets)
    points = _check_xs(xs)
    t = _check_threshold(threshold)
    if t > len(points):
        raise ValueError(f"threshold must be <= the number of holders {len(points)}, got {t}")
    m = limbs.shape[0]
    if t > 1:
        coeffs = uniform_below(random, PRIME, (t - 1) * m * LIMBS).reshape(t - 1, m, LIMBS)
    else:
        coeffs = np.empty((0, m, LIMBS), dtype=np.uint64)
    x = np.array(points, dtype=np.uint64).reshape(-1, 1, 1)
    # Horner from the top coefficient: acc and coeff are < PRIME < 2**31, so
    # (acc + coeff) * x < 2**32 * 2**31 = 2**63: exact in uint64.
    acc = np.zeros((len(points), m, LIMBS), dtype=np.uint64)
    for k in range(t - 2, -1, -1):
        acc = (acc + coeffs[k]) * x % _P64
    acc = (acc + limbs) % _P64
    return acc.astype(np.uint32)


def shares_to_bytes(shares: np.ndarray) -> bytes:
    """Encode ``m`` shares (one holder's shares of ``m`` secrets) for the wire.

    Args:
        shares: integer array of shape ``(m, LIMBS)`` with values in
            ``[0, PRIME)``.

    Returns:
        ``m * SHARE_SIZE`` bytes: share 0 first, each as 9 ``uint32``
        little-endian limbs, limb 0 first.

    Raises:
        TypeError: ``shares`` is not an integer array.
        ValueError: the shape is not ``(m, LIMBS)``.
        InvalidShareError: a value outside ``[0, PRIME)``.
    """
    arr = np.asarray(shares)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"shares must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] != LIMBS:
        raise ValueError(f"shares must have shape (m, {LIMBS}), got {arr.shape}")
    if arr.size and ((arr.dtype.kind == "i" and int(arr.min()) < 0) or int(arr.max()) >= PRIME):
        raise InvalidShareError(f"share values must be in [0, {PRIME}), got [{int(arr.min())}, {int(arr.max())}]")
    return arr.tobytes() if arr.dtype == _U4 else arr.astype(_U4).tobytes()


def check_shares(data: bytes, count: int) -> None:
    """Check ``count`` shares written by :func:`shares_to_bytes` without decoding them.

    The same checks as :func:`shares_from_bytes` (which calls this), for a
    caller that keeps the bytes.

    Args:
        data: exactly ``count * SHARE_SIZE`` bytes (``bytes``, ``bytearray`` or
            ``memoryview``).
        count: the number of shares expected (>= 0).

    Raises:
        TypeError: ``data`` is not bytes-like or ``count`` is not an int.
        ValueError: ``count`` is negative.
        InvalidShareError: ``len(data) != count * SHARE_SIZE``, or a limb
            ``>= PRIME``.
    """
    if type(data) is bytes and type(count) is int and 0 <= count <= _SMALL:
        # The common case (a protocol message's one or two shares), without NumPy.
        if len(data) != count * SHARE_SIZE:
            raise InvalidShareError(f"expected {count} x {SHARE_SIZE} = {count * SHARE_SIZE} share bytes, got {len(data)}")
        if count and max(_LIMB_WORDS.unpack(data) if count == 2 else memoryview(data).cast("I")) >= PRIME:
            limb = max(memoryview(data).cast("I"))
            raise InvalidShareError(f"a share limb is {limb}, outside the field [0, {PRIME})")
        return
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if isinstance(count, (bool, np.bool_)) or not isinstance(count, (int, np.integer)):
        raise TypeError(f"count must be an int, got {type(count).__name__}")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    size = memoryview(data).nbytes
    if size != count * SHARE_SIZE:
        raise InvalidShareError(f"expected {count} x {SHARE_SIZE} = {count * SHARE_SIZE} share bytes, got {size}")
    top = int(np.frombuffer(data, dtype="<u4").max()) if size else 0
    if top >= PRIME:
        raise InvalidShareError(f"a share limb is {top}, outside the field [0, {PRIME})")


def shares_from_bytes(data: bytes, count: int) -> np.ndarray:
    """Decode ``count`` shares written by :func:`shares_to_bytes`.

    The length is checked before anything is allocated.

    Args:
        data: exactly ``count * SHARE_SIZE`` bytes (``bytes``, ``bytearray`` or
            ``memoryview``).
        count: the number of shares expected (>= 0).

    Returns:
        A fresh ``uint32`` array of shape ``(count, LIMBS)``.

    Raises:
        TypeError: ``data`` is not bytes-like or ``count`` is not an int.
        ValueError: ``count`` is negative.
        InvalidShareError: ``len(data) != count * SHARE_SIZE``, or a limb
            ``>= PRIME``.
    """
    check_shares(data, count)
    return np.frombuffer(data, dtype="<u4").reshape(int(count), LIMBS).copy()


class Lagrange:
    """Lagrange weights at 0 for one responder set, reusable for many secrets.

    ``coefficients[i] = prod_{k != i} x_k / (x_k - x_i) mod PRIME``, so that
    ``f(0) = sum_i coefficients[i] * f(x_i) mod PRIME`` for every polynomial
    of degree below ``len(xs)``. Inverses are ``pow(., -1, PRIME)``.

    Attributes:
        xs: the responders' points, in the order given.
        coefficients: the weights, one per x, each in ``[1, PRIME)``.

    Raises:
        TypeError: ``xs`` or one x is not an int.
        InsufficientSharesError: ``xs`` is empty.
        InvalidShareError: an x outside ``[1, PRIME - 1]``.
        DuplicateShareError: two equal xs.
    """

    __slots__ = ("_weights", "coefficients", "xs")

    def __init__(self, xs: Sequence[int]) -> None:
        points = _check_xs(xs)
        if not points:
            raise InsufficientSharesError("Lagrange interpolation needs at least one share")
        # weight_i = prod_k x_k / (x_i * prod_{k != i} (x_k - x_i)): the products as exact integers
        # (one reduction each), all t denominators inverted with one pow (Montgomery's batch trick).
        # The points are distinct and in [1, PRIME - 1], so no denominator is 0 mod PRIME.
        total = math.prod(points) % PRIME
        dens = [xi * math.prod([xk - xi for xk in points if xk != xi]) % PRIME for xi in points]
        prefix = [1]
        for d in dens:
            prefix.append(prefix[-1] * d % PRIME)
        inv = pow(prefix[-1], -1, PRIME)
        weights = [0] * len(dens)
        for i in range(len(dens) - 1, -1, -1):
            weights[i] = total * (inv * prefix[i] % PRIME) % PRIME
            inv = inv * dens[i] % PRIME
        self.xs: tuple[int, ...] = points
        self.coefficients: tuple[int, ...] = tuple(weights)
        self._weights = np.array(weights, dtype=np.uint64).reshape(-1, 1, 1)

    def reconstruct(self, ys: np.ndarray) -> list[bytes]:
        """Interpolate ``m`` secrets from the responders' shares.

        Args:
            ys: integer array of shape ``(len(xs), m, LIMBS)``: ``ys[i, j]`` is
                responder ``xs[i]``'s share of secret ``j`` (``m >= 0``).

        Returns:
            The ``m`` secrets, 32 bytes each, in order.

        Raises:
            TypeError: ``ys`` is not an integer array.
            ValueError: ``ys`` has the wrong shape.
            InvalidShareError: a share value outside ``[0, PRIME)``, or an
                interpolated limb ``>= 2**30`` (top limb ``>= 2**16``), which
                means the shares were inconsistent (not all on one polynomial
                of degree below ``len(xs)``).

        Warning:
            The limb-range check rejects a share replaced by random values
            with probability about ``1 - 2**-23`` (a single corrupted low limb
            only with probability about 1/2), but it is NOT an integrity check:
            a holder who knows the shares can shift the secret to another
            valid one. The protocol's commitments (seed commitment, public
            key) must still be checked on the result.
        """
        arr = np.asarray(ys)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"ys must be an integer array, got dtype {arr.dtype}")
        if arr.ndim != 3 or arr.shape[0] != len(self.xs) or arr.shape[2] != LIMBS:
            raise ValueError(f"ys must have shape ({len(self.xs)}, m, {LIMBS}), got {arr.shape}")
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= PRIME):
            raise InvalidShareError(f"share values must be in [0, {PRIME}), got [{int(arr.min())}, {int(arr.max())}]")
        # weight * y < 2**62 each; reduce every product, then a sum of at most
        # 2**32 terms below 2**31 each stays below 2**63.
        products = arr.astype(np.uint64) * self._weights % _P64
        limbs = products.sum(axis=0, dtype=np.uint64) % _P64
        return _secrets_from_limbs(limbs)

    def __repr__(self) -> str:
        return f"Lagrange(xs={list(self.xs)!r})"


def interpolate(weights: np.ndarray, ys: np.ndarray) -> list[bytes | None]:
    """Interpolate ``m`` secrets at 0, each from its own shares and weights, in one NumPy pass.

    Secret ``j`` is ``sum_i weights[j, i] * ys[j, i] mod PRIME``, limb by
    limb: what ``Lagrange(xs_j).reconstruct`` gives when ``weights[j]`` is
    ``Lagrange(xs_j).coefficients`` and ``ys[j]`` the shares of the holders
    ``xs_j`` in the same order; the holder sets may differ from secret to
    secret. A secret that :meth:`Lagrange.reconstruct` would refuse is
    ``None`` here, and the others are still returned.

    Args:
        weights: integer array of shape ``(m, t)``, values in ``[0, PRIME)``.
        ys: integer array of shape ``(m, t, LIMBS)``.

    Returns:
        ``m`` entries: the 32-byte secret, or ``None`` where a share value
        is outside ``[0, PRIME)`` or the interpolated limbs fall outside
        their range (inconsistent shares, see :meth:`Lagrange.reconstruct`).

    Raises:
        TypeError: ``weights`` or ``ys`` is not an integer array.
        ValueError: the shapes do not match, or a weight is outside
            ``[0, PRIME)``.

    Warning:
        As for :meth:`Lagrange.reconstruct`: the range check is not an
        integrity check; compare each secret with its commitment.
    """
    w, arr = np.asarray(weights), np.asarray(ys)
    if w.dtype.kind not in "iu" or arr.dtype.kind not in "iu":
        raise TypeError(f"weights and ys must be integer arrays, got dtypes {w.dtype} and {arr.dtype}")
    if w.ndim != 2 or arr.ndim != 3 or arr.shape[:2] != w.shape or arr.shape[2] != LIMBS:
        raise ValueError(f"weights must have shape (m, t) and ys (m, t, {LIMBS}), got {w.shape} and {arr.shape}")
    m = arr.shape[0]
    if m == 0:
        return []
    if w.size and (int(w.min()) < 0 or int(w.max()) >= PRIME):
        raise ValueError(f"weights must be in [0, {PRIME}), got [{int(w.min())}, {int(w.max())}]")
    bad = (arr < 0).any(axis=(1, 2)) | (arr >= PRIME).any(axis=(1, 2)) if arr.dtype.kind == "i" else (arr >= PRIME).any(axis=(1, 2))
    # weight * y < 2**62 for in-range values; every product is reduced, so a sum of t terms stays
    # below 2**63. Rows with out-of-range values are computed (wrapping) and then discarded.
    products = arr.astype(np.uint64) * w.astype(np.uint64)[:, :, None] % _P64
    limbs = products.sum(axis=1, dtype=np.uint64) % _P64
    bad |= _limbs_out_of_range(limbs)
    flat = _bytes_from_limbs(limbs)
    return [None if bad[j] else flat[SECRET_SIZE * j : SECRET_SIZE * (j + 1)] for j in range(m)]


def reconstruct(xs: Sequence[int], ys: np.ndarray, *, threshold: int) -> list[bytes]:
    """Reconstruct secrets from exactly the first ``threshold`` of the given shares.

    Args:
        xs: the points of the shares given (distinct, in ``[1, PRIME - 1]``).
        ys: integer array of shape ``(len(xs), m, LIMBS)``, as :func:`split`
            returns restricted to the rows of ``xs``.
        threshold: the threshold the secrets were split with (>= 1).

    Returns:
        The ``m`` secrets, 32 bytes each.

    Raises:
        TypeError: wrong types (as :class:`Lagrange`).
        ValueError: ``threshold < 1``, or ``ys`` of the wrong shape.
        InsufficientSharesError: ``len(xs) < threshold``.
        InvalidShareError, DuplicateShareError: as :class:`Lagrange` and
            :meth:`Lagrange.reconstruct`.

    Warning:
        Only the first ``threshold`` shares are used: extra shares are not
        cross-checked. To survive a corrupted share, retry other subsets and
        check each result against a commitment.
    """
    t = _check_threshold(threshold)
    points = _check_xs(xs)
    if len(points) < t:
        raise InsufficientSharesError(f"{len(points)} shares given, threshold is {t}")
    arr = np.asarray(ys)
    if arr.ndim != 3 or arr.shape[0] != len(points):
        raise ValueError(f"ys must have shape ({len(points)}, m, {LIMBS}), got {arr.shape}")
    return Lagrange(points[:t]).reconstruct(arr[:t])
