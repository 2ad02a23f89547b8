"""Distributed discrete DP that survives modular secure summation in Z_{2^bits}.

Each client turns its real update into an integer vector that already carries
its share of discrete noise, so the securely computed sum mod ``2^bits`` is a
noisy sum and nobody (not even the server) sees a noiseless value. This
follows Kairouz, Liu, Steinke, "The Distributed Discrete Gaussian Mechanism
for Federated Learning with Secure Aggregation" (ICML 2021; "DDG") and
Agarwal, Kairouz, Liu, "The Skellam Mechanism for Differentially Private
Federated Learning" (NeurIPS 2021), as in TensorFlow Federated's
``DistributedDpSumFactory``.

Client (:func:`encode_client`), with ``c = l2_clip``, ``s = plan.scale``,
``n' = plan.padded_dim``:

1. flatten the layers and clip the global L2 norm to ``c``;
2. pad to ``n'`` and rotate with the public per-round seed
   (:func:`dp.rotation.rotate`);
3. multiply by ``s`` (real ``x`` maps to about ``round(x * s)``);
4. conditional stochastic rounding: each coordinate becomes ``floor(v)`` or
   ``floor(v) + 1`` with probability ``v - floor(v)``; the whole vector is
   redrawn while its L2 norm exceeds ``plan.l2_sensitivity`` (DDG Section 4.1;
   each draw fails with probability at most ``beta``);
5. add the client's noise: Skellam with ``mu = local_variance / 2`` (variance
   ``local_variance``) or the discrete Gaussian with
   ``sigma^2 = local_variance``;
6. reduce mod ``2^bits`` (two's complement wrap).

Server (:func:`decode_sum`): centre the modular sum into
``[-2^(bits-1), 2^(bits-1))``, divide by ``s``, rotate back, drop the padding.

Scale (:func:`plan`), with ``n = expected clients`` (``max_clients``, or
``min_clients`` when unset), ``sigma^2 = (noise_multiplier * c)^2 / min_clients``
the per-client noise variance in real units and ``k = k_stddevs``: the TFF /
DDG rule (DDG Sections 4.2 and 4.4) treats each coordinate of the rotated sum
as sub-Gaussian with variance proxy ``(n c)^2 / n'`` (``n`` clipped vectors,
aligned in the worst case, spread by the rotation), plus rounding variance
``1/4`` and noise variance ``sigma^2 s^2`` per client in integer units, and
asks ``k`` standard deviations of it to fit in half the modulus:

    2^bits = 2 k sqrt( s^2 ((n c)^2 / n' + n sigma^2) + n / 4 )
    =>  s = sqrt( (2^(2 bits) / (4 k^2) - n / 4) / ((n c)^2 / n' + n sigma^2) ).

``s`` is then capped so that ``c s <= 2^40`` (float64 keeps 12 fractional bits
for stochastic rounding) and ``local_variance <= 2^40`` (the samplers'
accuracy range); beyond both caps the quantisation variance is below 2^-40
of the noise variance, so a larger scale would buy nothing. Finally the
discrete noise must be meaningful: ``local_variance = sigma^2 s^2`` must be at
least :data:`MIN_LOCAL_VARIANCE` (= 1, one integer step per client),
otherwise :class:`dp.errors.BitWidthError` names the bits that would be needed.

Warning:
    ``k_stddevs`` trades resolution for wrap-arounds. At the default 4, a
    rotated coordinate of a noise-dominated sum falls outside
    ``[-2^(bits-1), 2^(bits-1))`` with probability about 6e-5 (the Gaussian
    tail beyond 4 sigma), so at ``padded_dim = 2^20`` some dozens of
    coordinates wrap; each wrap adds ``+-2^bits / scale`` to one rotated
    coordinate, which the inverse rotation spreads as ``2^bits / (scale
    sqrt(padded_dim))`` over every output coordinate. Privacy is unaffected
    (the noise is added before the wrap); utility is. Use ``k_stddevs`` of 6
    (about 2e-9 per coordinate) or more when that matters.

Noise calibration: every client adds variance
``(noise_multiplier * c * s)^2 / min_clients``, so the sum over *any* set of
at least ``min_clients`` clients carries at least the accounted central
variance ``(noise_multiplier * c * s)^2``; dropouts down to the protocol's
threshold cannot shrink the noise below what the accountant charged for.

Sensitivities (for the accountant, in integer units): the rounded, scaled
vector of one client has L2 norm at most (DDG Theorem for conditional
rounding, dimension ``n'``)

    l2_sensitivity = min( c s + sqrt(n'),
                          sqrt( (c s)^2 + n'/4 + sqrt(2 ln(1/beta)) (c s + sqrt(n')/2) ) )

(the second term is dropped when ``beta = 0``), and L1 norm at most
``min(sqrt(n') l2, l2^2)`` (Cauchy-Schwarz, and ``|x|_1 <= |x|_2^2`` for integer
vectors).

>>> cfg = DistributedDPConfig(mechanism="skellam", bits=20, l2_clip=1.0,
...                           noise_multiplier=1.0, dim=3, min_clients=2)
>>> p = plan(cfg)
>>> p.padded_dim, round(p.central_stddev(), 9)
(4, 1.0)
>>> seed = bytes(32)
>>> ys = [encode_client(np.array([0.1, 0.2, 0.3]), p, rotation_seed=seed) for _ in range(2)]
>>> total = (ys[0].astype(np.uint64) + ys[1]) % 2**20
>>> decode_sum(total, p, rotation_seed=seed, n_clients=2).shape
(3,)
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from dp.clipping import Update, clip_l2, flatten
from dp.errors import BitWidthError, ConditionalRoundingError
from dp.mechanisms import discrete_gaussian, skellam
from dp.randomness import DEFAULT_RANDOM, RandomSource, random_uint64
from dp.rotation import MAX_DIM, padded_dim, rotate, unrotate

__all__ = [
    "MAX_LOCAL_VARIANCE",
    "MAX_ROUNDING_ATTEMPTS",
    "MAX_SCALED_CLIP",
    "MECHANISMS",
    "MIN_LOCAL_VARIANCE",
    "DistributedDPConfig",
    "DistributedDPPlan",
    "conditional_round",
    "decode_sum",
    "encode_client",
    "plan",
    "word_dtype",
]

MECHANISMS = ("skellam", "dgauss")
MIN_LOCAL_VARIANCE = 1.0
MAX_LOCAL_VARIANCE = 2.0**40
MAX_SCALED_CLIP = 2.0**40
MAX_ROUNDING_ATTEMPTS = 100


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def word_dtype(bits: int) -> np.dtype:
    """Return the unsigned dtype that holds values mod ``2^bits``: uint32 up to 32 bits, else uint64.

    Raises:
        ValueError: if ``bits`` is outside 1..62.
    """
    if not _is_int(bits) or not 1 <= bits <= 62:
        raise ValueError(f"bits must be an int in [1, 62], got {bits!r}")
    return np.dtype(np.uint32) if bits <= 32 else np.dtype(np.uint64)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DistributedDPConfig:
    """What the deployment asks for; :func:`plan` turns it into integer parameters.

    Attributes:
        mechanism: ``"skellam"`` or ``"dgauss"`` (distributed discrete Gaussian).
        bits: the secure sum is taken mod ``2^bits``; 1..62.
        l2_clip: per-client L2 clipping norm (real units), finite and > 0.
        noise_multiplier: the summed noise over ``min_clients`` clients has
            stddev ``noise_multiplier * l2_clip`` (real units); finite and > 0.
        dim: model dimension before padding, 1..2^30.
        min_clients: the fewest clients whose inputs any accepted secure sum
            contains (e.g. the protocol threshold); noise is calibrated to it.
        beta: conditional-rounding parameter in [0, 1); 0 disables the
            conditional bound (only ``c s + sqrt(n')`` is used).
        k_stddevs: how many stddevs of the noisy sum must fit in the modulus; > 0.
        max_clients: the most clients a sum may contain, which sizes the
            modulus headroom; ``None`` means ``min_clients``. An addition to
            the interface of the issue, keyword-only with a default, so
            callers that do not know it are unaffected.

    Raises:
        TypeError: if a field has the wrong type.
        ValueError: if a field is out of range (the message quotes it).
    """

    mechanism: str
    bits: int
    l2_clip: float
    noise_multiplier: float
    dim: int
    min_clients: int
    beta: float = math.exp(-0.5)
    k_stddevs: float = 4.0
    max_clients: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.mechanism, str):
            raise TypeError(f"mechanism must be a str, got {type(self.mechanism).__name__}")
        if self.mechanism not in MECHANISMS:
            raise ValueError(f"mechanism must be one of {MECHANISMS}, got {self.mechanism!r}")
        for name in ("bits", "dim", "min_clients"):
            if not _is_int(getattr(self, name)):
                raise TypeError(f"{name} must be an int, got {type(getattr(self, name)).__name__}")
        if not 1 <= self.bits <= 62:
            raise ValueError(f"bits must be in [1, 62], got {self.bits}")
        if not 1 <= self.dim <= MAX_DIM:
            raise ValueError(f"dim must be in [1, {MAX_DIM}], got {self.dim}")
        if self.min_clients < 1:
            raise ValueError(f"min_clients must be >= 1, got {self.min_clients}")
        if self.max_clients is not None:
            if not _is_int(self.max_clients):
                raise TypeError(f"max_clients must be an int or None, got {type(self.max_clients).__name__}")
            if self.max_clients < self.min_clients:
                raise ValueError(f"max_clients must be >= min_clients={self.min_clients}, got {self.max_clients}")
        for name in ("l2_clip", "noise_multiplier", "beta", "k_stddevs"):
            if not _is_real(getattr(self, name)):
                raise TypeError(f"{name} must be a real number, got {type(getattr(self, name)).__name__}")
        for name in ("l2_clip", "noise_multiplier", "k_stddevs"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value}")
        if not 0.0 <= self.beta < 1.0:
            raise ValueError(f"beta must be in [0, 1), got {self.beta}")

    @property
    def expected_clients(self) -> int:
        """The client count that sizes the modulus headroom (``max_clients or min_clients``)."""
        return self.min_clients if self.max_clients is None else int(self.max_clients)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DistributedDPPlan:
    """The integer parameters derived from a config by :func:`plan`.

    Attributes:
        config: the config it was derived from.
        scale: real ``x`` maps to about ``round(x * scale)``.
        padded_dim: the next power of two ``>= config.dim``.
        local_variance: per-client, per-coordinate noise variance in integer
            units. Skellam: each client adds Skellam(mu, mu) with
            ``mu = local_variance / 2`` (variance exactly ``2 mu``). dgauss:
            each client adds the discrete Gaussian with parameter
            ``sigma^2 = local_variance`` (true variance below it by < 1e-8 relative).
        l2_sensitivity: bound on the L2 norm of one client's rounded, scaled
            contribution (integer units; see the module docstring).
        l1_sensitivity: ``min(sqrt(padded_dim) * l2_sensitivity, l2_sensitivity^2)``.

    Raises:
        TypeError: if ``config`` is not a :class:`DistributedDPConfig`.
        ValueError: if a number is not finite and positive, or ``padded_dim``
            is not the padding of ``config.dim``.
    """

    config: DistributedDPConfig
    scale: float
    padded_dim: int
    local_variance: float
    l2_sensitivity: float
    l1_sensitivity: float

    def __post_init__(self) -> None:
        if not isinstance(self.config, DistributedDPConfig):
            raise TypeError(f"config must be a DistributedDPConfig, got {type(self.config).__name__}")
        for name in ("scale", "local_variance", "l2_sensitivity", "l1_sensitivity"):
            value = getattr(self, name)
            if not _is_real(value) or not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value!r}")
        if self.padded_dim != padded_dim(self.config.dim):
            raise ValueError(f"padded_dim must be {padded_dim(self.config.dim)}, got {self.padded_dim}")

    def central_stddev(self) -> float:
        """Stddev of the summed noise over ``min_clients`` clients, in real units.

        Equals ``sqrt(min_clients * local_variance) / scale``, which is
        ``noise_multiplier * l2_clip`` up to float rounding. A sum over more
        clients carries more noise (``sqrt(n_clients / min_clients)`` times this).
        """
        return math.sqrt(self.config.min_clients * self.local_variance) / self.scale

    @property
    def dtype(self) -> np.dtype:
        """The unsigned word dtype of encodings (uint32 up to 32 bits, else uint64)."""
        return word_dtype(self.config.bits)


def _bits_needed(config: DistributedDPConfig, dpad: int, sigma_sq: float) -> int:
    n = config.expected_clients
    b_over_sigma = n * n * config.l2_clip**2 / (dpad * sigma_sq) + n
    need = 4.0 * config.k_stddevs**2 * (b_over_sigma * MIN_LOCAL_VARIANCE + n / 4.0)
    return math.ceil(0.5 * math.log2(need))


def plan(config: DistributedDPConfig) -> DistributedDPPlan:
    """Choose the scale and derive the integer noise and sensitivities.

    See the module docstring for the exact formulas (scale rule, caps,
    per-client noise calibrated to ``min_clients``, sensitivities).

    Args:
        config: a validated :class:`DistributedDPConfig`.

    Returns:
        The :class:`DistributedDPPlan`.

    Raises:
        TypeError: if ``config`` is not a :class:`DistributedDPConfig`.
        BitWidthError: if ``2^bits`` is too small to hold ``k_stddevs``
            stddevs of the noisy sum of ``expected_clients`` clients at a
            scale where each client's noise variance is at least 1 integer
            unit; the message names the bits needed and given.
        ValueError: if ``noise_multiplier`` is so small that even the largest
            allowed scale gives a per-client variance below 1.
    """
    if not isinstance(config, DistributedDPConfig):
        raise TypeError(f"config must be a DistributedDPConfig, got {type(config).__name__}")
    dpad = padded_dim(config.dim)
    n = config.expected_clients
    c = float(config.l2_clip)
    sigma_sq = (config.noise_multiplier * c) ** 2 / config.min_clients
    headroom = 2.0 ** (2 * config.bits) / (4.0 * config.k_stddevs**2) - n / 4.0
    spread = n * n * c * c / dpad + n * sigma_sq
    scale = math.sqrt(headroom / spread) if headroom > 0 else 0.0
    if scale * math.sqrt(sigma_sq) < math.sqrt(MIN_LOCAL_VARIANCE):
        raise BitWidthError(
            f"bits={config.bits} is too few: k_stddevs={config.k_stddevs} stddevs of the noisy sum of {n} clients "
            f"(l2_clip={c}, noise_multiplier={config.noise_multiplier}, min_clients={config.min_clients}, "
            f"dim={config.dim} padded to {dpad}) fit only at a scale where each client's noise variance is "
            f"{(scale * scale * sigma_sq):.3g} < {MIN_LOCAL_VARIANCE} integer units; "
            f"need at least {_bits_needed(config, dpad, sigma_sq)} bits"
        )
    scale = min(scale, MAX_SCALED_CLIP / c, math.sqrt(MAX_LOCAL_VARIANCE / sigma_sq))
    local_variance = sigma_sq * scale * scale
    if local_variance < MIN_LOCAL_VARIANCE:
        raise ValueError(
            f"noise_multiplier={config.noise_multiplier} is too small for discrete noise: the per-client "
            f"variance is {local_variance:.3g} < {MIN_LOCAL_VARIANCE} even at the largest scale {scale:.6g}"
        )
    cs = c * scale
    bound = cs + math.sqrt(dpad)
    if config.beta > 0:
        slack = math.sqrt(2.0 * math.log(1.0 / config.beta)) * (cs + math.sqrt(dpad) / 2.0)
        bound = min(bound, math.sqrt(cs * cs + dpad / 4.0 + slack))
    l1 = min(math.sqrt(dpad) * bound, bound * bound)
    return DistributedDPPlan(
        config=config,
        scale=scale,
        padded_dim=dpad,
        local_variance=local_variance,
        l2_sensitivity=bound,
        l1_sensitivity=l1,
    )


def _check_plan(p: object) -> DistributedDPPlan:
    if not isinstance(p, DistributedDPPlan):
        raise TypeError(f"plan must be a DistributedDPPlan, got {type(p).__name__}")
    return p


def conditional_round(v: np.ndarray, bound: float, *, random: RandomSource = DEFAULT_RANDOM) -> np.ndarray:
    """Stochastically round ``v`` to integers, redrawing while ``||round(v)||_2 > bound``.

    Each coordinate becomes ``floor(v_i) + 1`` with probability
    ``v_i - floor(v_i)`` (up to the 2^-53 grid of the uniforms), else
    ``floor(v_i)``; the vector is redrawn as a whole (DDG Section 4.1).

    Args:
        v: a 1-D float64 vector with ``|v_i| < 2^52``.
        bound: the L2 bound to enforce, > 0.
        random: the randomness source.

    Returns:
        An ``int64`` vector of the same length with L2 norm ``<= bound``.

    Raises:
        ConditionalRoundingError: after :data:`MAX_ROUNDING_ATTEMPTS` draws all
            exceeding ``bound`` (with ``bound`` from the plan this happens with
            probability at most ``beta^100``: the input was not clipped).
        ValueError: if ``v`` has a coordinate of magnitude ``>= 2^52`` or nan.
    """
    v = np.asarray(v, dtype=np.float64)
    if not (np.abs(v) < 2.0**52).all():
        raise ValueError("v has a coordinate of magnitude >= 2^52 (or nan); the scale is too large")
    low = np.floor(v)
    frac = v - low
    bound_sq = bound * bound
    for _ in range(MAX_ROUNDING_ATTEMPTS):
        u = (random_uint64(random, v.shape[0]) >> np.uint64(11)).astype(np.float64) * 2.0**-53
        rounded = (low + (u < frac)).astype(np.int64)
        as_float = rounded.astype(np.float64)
        if float(np.dot(as_float, as_float)) <= bound_sq:
            return rounded
    raise ConditionalRoundingError(
        f"stochastic rounding exceeded the L2 bound {bound:.6g} in {MAX_ROUNDING_ATTEMPTS} draws "
        f"(input norm {float(np.linalg.norm(v)):.6g})"
    )


def encode_client(
    update: Update, plan: DistributedDPPlan, *, rotation_seed: bytes, random: RandomSource = DEFAULT_RANDOM
) -> np.ndarray:
    """Clip, rotate, scale, round and noise one client's update; return it mod ``2^bits``.

    Args:
        update: one array or a list of arrays with ``plan.config.dim`` scalars in total.
        plan: from :func:`plan`.
        rotation_seed: the round's 32-byte public rotation seed (the same for
            every client and the server).
        random: the randomness source for rounding and noise (secret).

    Returns:
        A vector of ``plan.padded_dim`` words, dtype uint32 if ``bits <= 32``
        else uint64, every value in ``[0, 2^bits)``.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if the update has the wrong size or holds nan / inf, or
            the seed is not 32 bytes.
        ConditionalRoundingError: as :func:`conditional_round` (never with a
            clipped input in practice).

    Warning:
        The noise is only as private as ``random``: never pass a seeded or
        deterministic source outside tests. The rotation seed must be fresh
        per round and fixed before clients compute their updates.
    """
    p = _check_plan(plan)
    cfg = p.config
    vector, _ = flatten(update)
    if vector.shape[0] != cfg.dim:
        raise ValueError(f"update has {vector.shape[0]} scalars, the plan expects dim={cfg.dim}")
    clipped, _ = clip_l2(vector, cfg.l2_clip)
    scaled = rotate(clipped, rotation_seed) * p.scale
    rounded = conditional_round(scaled, p.l2_sensitivity, random=random)
    if cfg.mechanism == "skellam":
        noise = skellam(p.padded_dim, p.local_variance / 2.0, random=random)
    else:
        noise = discrete_gaussian(p.padded_dim, p.local_variance, random=random)
    mask = np.int64((1 << cfg.bits) - 1)
    return ((rounded + noise) & mask).astype(p.dtype)


def decode_sum(modular_sum: np.ndarray, plan: DistributedDPPlan, *, rotation_seed: bytes, n_clients: int) -> np.ndarray:
    """Turn the secure sum mod ``2^bits`` of ``n_clients`` encodings back into a real noisy sum.

    Centres each word into ``[-2^(bits-1), 2^(bits-1))``, divides by the
    scale, rotates back and drops the padding.

    Args:
        modular_sum: ``plan.padded_dim`` unsigned or signed integers in ``[0, 2^bits)``.
        plan: the plan the clients encoded with.
        rotation_seed: the round's 32-byte rotation seed.
        n_clients: how many clients' encodings the sum contains; must be in
            ``[min_clients, expected_clients]`` (fewer would carry less noise
            than accounted, more may overflow the modulus).

    Returns:
        A float64 vector of ``plan.config.dim`` values: the clipped sum plus
        noise of stddev ``plan.central_stddev() * sqrt(n_clients / min_clients)``
        plus rounding error.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if the shape, a value's range, or ``n_clients`` is wrong.
    """
    p = _check_plan(plan)
    cfg = p.config
    if not _is_int(n_clients):
        raise TypeError(f"n_clients must be an int, got {type(n_clients).__name__}")
    if not cfg.min_clients <= n_clients <= cfg.expected_clients:
        raise ValueError(
            f"n_clients must be in [min_clients={cfg.min_clients}, expected_clients={cfg.expected_clients}], "
            f"got {n_clients}; set max_clients in the config to sum more clients"
        )
    if not isinstance(modular_sum, np.ndarray) or modular_sum.dtype.kind not in "iu":
        raise TypeError(f"modular_sum must be an integer ndarray, got {type(modular_sum).__name__}")
    if modular_sum.shape != (p.padded_dim,):
        raise ValueError(f"modular_sum must have shape ({p.padded_dim},), got {modular_sum.shape}")
    modulus = 1 << cfg.bits
    if modular_sum.size and (int(modular_sum.min()) < 0 or int(modular_sum.max()) >= modulus):
        raise ValueError(f"modular_sum has values outside [0, 2^{cfg.bits})")
    centred = modular_sum.astype(np.int64)
    centred[centred >= modulus // 2] -= modulus
    return unrotate(centred.astype(np.float64) / p.scale, rotation_seed, cfg.dim)
