"""Distributed discrete DP that survives modular secure summation in Z_{2^bits}.

Each client turns its real update into an integer vector that already carries
its share of discrete noise (:func:`encode_client`: clip, pad and rotate,
scale, conditionally round, add Skellam or discrete-Gaussian noise, wrap mod
``2^bits``), so the secure sum mod ``2^bits`` is a noisy sum that nobody sees
without noise; :func:`decode_sum` centres, unscales and unrotates it. After
Kairouz, Liu, Steinke (DDG, ICML 2021) and Agarwal, Kairouz, Liu (Skellam,
NeurIPS 2021), as TensorFlow Federated's ``DistributedDpSumFactory``.

Promise: :func:`plan` calibrates the noise to ``min_clients`` (any sum of at
least that many encodings carries the accounted central variance), sizes the
modulus for ``max_clients`` with ``k`` stddevs of headroom per rotated
coordinate, and refuses (:class:`dp.errors.BitWidthError`, naming the bits
needed) a bit width at which the per-client noise would fall below one
integer unit or rounding would eat more than ``rounding_tolerance`` of the
noise multiplier. Pair it with a secure sum that never outputs fewer than
``min_clients`` inputs (``min_contributors``). The scale rule, its caps, the
sensitivities and the wrap-around trade-off are derived in SPEC chapter 41
("Distributed DP encoding"), section 41.1.

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
from scipy import special

from dp.clipping import Update, clip_l2, flatten
from dp.errors import BitWidthError, ConditionalRoundingError
from dp.mechanisms import discrete_gaussian, skellam
from dp.randomness import DEFAULT_RANDOM, RandomSource, random_uint64
from dp.rotation import MAX_DIM, padded_dim, rotate, unrotate

__all__ = [
    "DEFAULT_MAX_CLIENTS_FACTOR",
    "DEFAULT_MODCLIP_PROB",
    "DEFAULT_ROUNDING_TOLERANCE",
    "MAX_CLIENTS",
    "MAX_K_STDDEVS",
    "MAX_LOCAL_VARIANCE",
    "MAX_NOISE_MULTIPLIER",
    "MAX_ROUNDING_ATTEMPTS",
    "MAX_SCALED_CLIP",
    "MECHANISMS",
    "MIN_LOCAL_VARIANCE",
    "DistributedDPConfig",
    "DistributedDPPlan",
    "bits_needed",
    "conditional_round",
    "decode_sum",
    "encode_client",
    "k_stddevs_for",
    "modclip_prob_for",
    "plan",
    "word_dtype",
]

MECHANISMS = ("skellam", "dgauss")
#: Each client's noise variance must be at least one integer step.
MIN_LOCAL_VARIANCE = 1.0
#: The most clients a config may name. The DDG accountant sums ``clients``
#: terms per order, so this bounds its time (about 20 s at 2^20) and memory.
MAX_CLIENTS = 2**20
#: ``max_clients=None`` means this many times ``min_clients``.
DEFAULT_MAX_CLIENTS_FACTOR = 2
#: Per-coordinate modular-clipping probability when neither it nor ``k_stddevs`` is given.
DEFAULT_MODCLIP_PROB = 1e-4
#: ``eta``: the effective noise multiplier may fall at most this fraction below the requested one.
DEFAULT_ROUNDING_TOLERANCE = 0.1
MAX_NOISE_MULTIPLIER = 1e6
MAX_K_STDDEVS = 40.0
MAX_LOCAL_VARIANCE = 2.0**40
MAX_SCALED_CLIP = 2.0**40
MAX_ROUNDING_ATTEMPTS = 100


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def word_dtype(bits: int) -> np.dtype:
    """Return the unsigned dtype that holds values mod ``2^bits``: uint32 up to 32 bits, else uint64.

    Args:
        bits: the modulus width, an int in 1..62.

    Returns:
        ``np.dtype(np.uint32)`` or ``np.dtype(np.uint64)``.

    Raises:
        ValueError: if ``bits`` is outside 1..62.
    """
    if not _is_int(bits) or not 1 <= bits <= 62:
        raise ValueError(f"bits must be an int in [1, 62], got {bits!r}")
    return np.dtype(np.uint32) if bits <= 32 else np.dtype(np.uint64)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DistributedDPConfig:
    """What the deployment asks for; :func:`plan` turns it into integer parameters.

    The user-visible rule: the noise is calibrated to ``min_clients``, the
    modulus (bit budget) to ``max_clients``, and :func:`decode_sum` accepts
    any sum of ``n`` encodings with ``min_clients <= n <= expected_clients``.

    Attributes:
        mechanism: ``"skellam"`` or ``"dgauss"`` (distributed discrete Gaussian).
        bits: the secure sum is taken mod ``2^bits``; 1..62.
        l2_clip: per-client L2 clipping norm (real units), finite and > 0.
        noise_multiplier: the summed noise over ``min_clients`` clients has
            stddev ``noise_multiplier * l2_clip`` (real units); finite, in
            ``(0, MAX_NOISE_MULTIPLIER]``.
        dim: model dimension before padding, 1..2^30.
        min_clients: the fewest clients whose inputs any accepted secure sum
            contains (the secure sum's ``min_contributors``, at least its
            threshold); noise is calibrated to it.
            In ``[1, MAX_CLIENTS]``.
        beta: conditional-rounding parameter in [0, 1); 0 disables the
            conditional bound (only ``c s + sqrt(n')`` is used).
        k_stddevs: how many stddevs of the noisy sum must fit in half the
            modulus; > 0. Give either this or ``modclip_prob``, not both.
        max_clients: the most clients a sum may contain, which sizes the
            modulus headroom, in ``[min_clients, MAX_CLIENTS]``. ``None``
            means ``DEFAULT_MAX_CLIENTS_FACTOR * min_clients`` (capped at
            ``MAX_CLIENTS``), which covers a cohort of up to twice the
            minimum. Set it to the cohort size when that is known (tighter
            when the cohort is smaller, required when it is larger).
        modclip_prob: the per-coordinate modular-clipping probability, in
            ``(0, 1)``, as in TensorFlow Federated's ``DistributedDpSumFactory``:
            ``k_stddevs = sqrt(2) erfcinv(modclip_prob)``, i.e. the two-sided
            Gaussian tail ``P(|N(0, 1)| > k_stddevs) = modclip_prob`` for
            *each* rotated coordinate (not a union bound over the vector; the
            expected number of wrapped coordinates per sum is
            ``padded_dim * modclip_prob``). When neither this nor
            ``k_stddevs`` is given, :data:`DEFAULT_MODCLIP_PROB` is used.
        rounding_tolerance: ``eta`` in ``(0, 1)``: :func:`plan` refuses a
            bit width at which the effective noise multiplier (total noise
            stddev over the rounding-inflated L2 sensitivity, both in integer
            units) falls below ``(1 - eta) * noise_multiplier``.

    Raises:
        TypeError: if a field has the wrong type.
        ValueError: if a field is out of range (the message quotes it), or
            both ``k_stddevs`` and ``modclip_prob`` are given.
    """

    mechanism: str
    bits: int
    l2_clip: float
    noise_multiplier: float
    dim: int
    min_clients: int
    beta: float = math.exp(-0.5)
    k_stddevs: float | None = None
    max_clients: int | None = None
    modclip_prob: float | None = None
    rounding_tolerance: float = DEFAULT_ROUNDING_TOLERANCE

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
        if not 1 <= self.min_clients <= MAX_CLIENTS:
            raise ValueError(f"min_clients must be in [1, {MAX_CLIENTS}], got {self.min_clients}")
        if self.max_clients is not None:
            if not _is_int(self.max_clients):
                raise TypeError(f"max_clients must be an int or None, got {type(self.max_clients).__name__}")
            if not self.min_clients <= self.max_clients <= MAX_CLIENTS:
                raise ValueError(
                    f"max_clients must be in [min_clients={self.min_clients}, {MAX_CLIENTS}], got {self.max_clients}"
                )
        for name in ("l2_clip", "noise_multiplier", "beta", "rounding_tolerance"):
            if not _is_real(getattr(self, name)):
                raise TypeError(f"{name} must be a real number, got {type(getattr(self, name)).__name__}")
        for name in ("k_stddevs", "modclip_prob"):
            value = getattr(self, name)
            if value is not None and not _is_real(value):
                raise TypeError(f"{name} must be a real number or None, got {type(value).__name__}")
        for name in ("l2_clip", "noise_multiplier"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value}")
        if self.noise_multiplier > MAX_NOISE_MULTIPLIER:
            raise ValueError(f"noise_multiplier must be <= {MAX_NOISE_MULTIPLIER:g}, got {self.noise_multiplier}")
        if not 0.0 <= self.beta < 1.0:
            raise ValueError(f"beta must be in [0, 1), got {self.beta}")
        if not 0.0 < self.rounding_tolerance < 1.0:
            raise ValueError(f"rounding_tolerance must be in (0, 1), got {self.rounding_tolerance}")
        if self.k_stddevs is not None and self.modclip_prob is not None:
            raise ValueError(
                f"give k_stddevs or modclip_prob, not both (got k_stddevs={self.k_stddevs}, "
                f"modclip_prob={self.modclip_prob})"
            )
        if self.k_stddevs is not None and not (math.isfinite(self.k_stddevs) and 0 < self.k_stddevs <= MAX_K_STDDEVS):
            raise ValueError(f"k_stddevs must be in (0, {MAX_K_STDDEVS:g}], got {self.k_stddevs}")
        if self.modclip_prob is not None and not 1e-300 <= self.modclip_prob < 1.0:
            raise ValueError(f"modclip_prob must be in [1e-300, 1), got {self.modclip_prob}")

    @property
    def expected_clients(self) -> int:
        """The most clients a sum may hold; it sizes the modulus headroom.

        ``max_clients``, or ``min(DEFAULT_MAX_CLIENTS_FACTOR * min_clients,
        MAX_CLIENTS)`` when ``max_clients`` is ``None``.
        """
        if self.max_clients is not None:
            return int(self.max_clients)
        return min(DEFAULT_MAX_CLIENTS_FACTOR * int(self.min_clients), MAX_CLIENTS)

    @property
    def resolved_k_stddevs(self) -> float:
        """The ``k`` :func:`plan` uses: ``k_stddevs``, else ``sqrt(2) erfcinv(modclip_prob or DEFAULT_MODCLIP_PROB)``."""
        if self.k_stddevs is not None:
            return float(self.k_stddevs)
        prob = DEFAULT_MODCLIP_PROB if self.modclip_prob is None else float(self.modclip_prob)
        return k_stddevs_for(prob)

    @property
    def resolved_modclip_prob(self) -> float:
        """The per-coordinate Gaussian-tail probability of ``resolved_k_stddevs``: ``erfc(k / sqrt(2))``."""
        if self.k_stddevs is None:
            return DEFAULT_MODCLIP_PROB if self.modclip_prob is None else float(self.modclip_prob)
        return modclip_prob_for(self.k_stddevs)


def k_stddevs_for(modclip_prob: float) -> float:
    """``k`` with ``P(|N(0, 1)| > k) = modclip_prob``: ``sqrt(2) * erfcinv(modclip_prob)``.

    Args:
        modclip_prob: the per-coordinate two-sided tail probability.

    Returns:
        ``k > 0`` (3.89 at 1e-4, 4.89 at 1e-6).

    Raises:
        ValueError: if ``modclip_prob`` is not in ``[1e-300, 1)``.
    """
    if not _is_real(modclip_prob) or not 1e-300 <= modclip_prob < 1.0:
        raise ValueError(f"modclip_prob must be in [1e-300, 1), got {modclip_prob!r}")
    return float(math.sqrt(2.0) * special.erfcinv(float(modclip_prob)))


def modclip_prob_for(k_stddevs: float) -> float:
    """The two-sided Gaussian tail ``P(|N(0, 1)| > k_stddevs) = erfc(k_stddevs / sqrt(2))``.

    Args:
        k_stddevs: the number of standard deviations, a real number.

    Returns:
        The probability in ``[0, 1]``.

    Raises:
        TypeError: if ``k_stddevs`` is not a real number.
    """
    if not _is_real(k_stddevs):
        raise TypeError(f"k_stddevs must be a real number, got {type(k_stddevs).__name__}")
    return math.erfc(float(k_stddevs) / math.sqrt(2.0))


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
            ``sigma^2 = local_variance`` (true variance below it by at most
            2.1e-7 relative, at ``local_variance = 1``).
        l2_sensitivity: bound on the L2 norm of one client's rounded, scaled
            contribution (integer units; see SPEC section 41.1).
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


def _derive(config: DistributedDPConfig, bits: int, dpad: int) -> tuple[float, float, float, float]:
    """``(c s, local_variance, l2_sensitivity, l1_sensitivity)`` at ``bits``, all in integer units.

    Computed in units of the clip (``t = c s``), so no intermediate depends on
    the magnitude of ``l2_clip``: ``local_variance = (z t)^2 / min_clients``.
    """
    n = config.expected_clients
    m = config.min_clients
    z = float(config.noise_multiplier)
    k = config.resolved_k_stddevs
    half = 2.0 ** (bits - 1) / k  # half the modulus in stddevs; inf (never a division by zero) for tiny k
    headroom = half * half - n / 4.0
    t = math.sqrt(headroom / (n * n / dpad + n * z * z / m)) if headroom > 0 else 0.0
    t = min(t, MAX_SCALED_CLIP, math.sqrt(MAX_LOCAL_VARIANCE * m) / z)
    local_variance = (z * t) ** 2 / m
    bound = t + math.sqrt(dpad)
    if config.beta > 0:
        slack = math.sqrt(2.0 * math.log(1.0 / config.beta)) * (t + math.sqrt(dpad) / 2.0)
        bound = min(bound, math.sqrt(t * t + dpad / 4.0 + slack))
    l1 = min(math.sqrt(dpad) * bound, bound * bound)
    return t, local_variance, bound, l1


def _problems(config: DistributedDPConfig, t: float, local_variance: float, l2: float) -> list[str]:
    out = []
    if not local_variance >= MIN_LOCAL_VARIANCE:
        out.append(f"each client's noise variance is {local_variance:.3g} < {MIN_LOCAL_VARIANCE:g} integer units")
    floor = 1.0 - config.rounding_tolerance
    if not t >= floor * l2:
        z = config.noise_multiplier
        out.append(
            f"rounding inflates the L2 sensitivity from {t:.4g} to {l2:.4g} integer units, so the effective "
            f"noise multiplier is {z * t / l2:.4g} < (1 - rounding_tolerance={config.rounding_tolerance:g}) x "
            f"requested {z:g} = {floor * z:.4g}"
        )
    return out


def bits_needed(config: DistributedDPConfig) -> int | None:
    """The fewest bits (<= 62) at which :func:`plan` accepts ``config``'s other fields, or ``None``.

    A bit width is accepted when each client's noise variance is at least
    :data:`MIN_LOCAL_VARIANCE` and the effective noise multiplier
    ``sqrt(min_clients * local_variance) / l2_sensitivity`` is at least
    ``(1 - rounding_tolerance) * noise_multiplier``; both only improve with
    more bits.

    Args:
        config: a :class:`DistributedDPConfig` (its ``bits`` is ignored).

    Returns:
        The smallest accepted bit width, or ``None`` if none up to 62 is.

    Raises:
        TypeError: if ``config`` is not a :class:`DistributedDPConfig`.
    """
    if not isinstance(config, DistributedDPConfig):
        raise TypeError(f"config must be a DistributedDPConfig, got {type(config).__name__}")
    dpad = padded_dim(config.dim)
    for bits in range(1, 63):
        t, lv, l2, _ = _derive(config, bits, dpad)
        if not _problems(config, t, lv, l2):
            return bits
    return None


def plan(config: DistributedDPConfig) -> DistributedDPPlan:
    """Choose the scale and derive the integer noise and sensitivities.

    See SPEC section 41.1 for the exact formulas (scale rule, caps,
    per-client noise calibrated to ``min_clients``, modulus headroom sized
    for ``expected_clients``, sensitivities, the rounding check).

    Args:
        config: a validated :class:`DistributedDPConfig`.

    Returns:
        The :class:`DistributedDPPlan`.

    Raises:
        TypeError: if ``config`` is not a :class:`DistributedDPConfig`.
        BitWidthError: if ``2^bits`` is too small: at the largest scale that
            fits ``k`` stddevs of the noisy sum of ``expected_clients``
            clients, each client's noise variance is below 1 integer unit,
            or rounding inflates the sensitivity so much that the effective
            noise multiplier is below ``(1 - rounding_tolerance)`` times the
            requested one. The message names the numbers and the bits needed.
        ValueError: if no bit width up to 62 would do (e.g. a noise
            multiplier so small that even the largest allowed scale leaves a
            per-client variance below 1), or ``l2_clip`` is so small that the
            scale overflows.
    """
    if not isinstance(config, DistributedDPConfig):
        raise TypeError(f"config must be a DistributedDPConfig, got {type(config).__name__}")
    dpad = padded_dim(config.dim)
    c = float(config.l2_clip)
    t, local_variance, l2, l1 = _derive(config, config.bits, dpad)
    problems = _problems(config, t, local_variance, l2)
    if problems:
        setting = (
            f"k_stddevs={config.resolved_k_stddevs:.4g} stddevs of the noisy sum of up to {config.expected_clients} "
            f"clients (min_clients={config.min_clients}, dim={config.dim} padded to {dpad}, l2_clip={c:g}, "
            f"noise_multiplier={config.noise_multiplier:g}, mechanism={config.mechanism})"
        )
        needed = bits_needed(config)
        if needed is None:
            raise ValueError(
                f"bits={config.bits} is too few and no bit width up to 62 suffices: even at the largest allowed "
                f"scale ({setting}) "
                + "; ".join(problems)
            )
        raise BitWidthError(
            f"bits={config.bits} is too few: at the largest scale that fits {setting} in 2^{config.bits}, "
            + "; ".join(problems)
            + f"; need at least {needed} bits"
        )
    scale = t / c
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"l2_clip={c!r} is too small: the scale {t:g} / l2_clip overflows")
    return DistributedDPPlan(
        config=config,
        scale=scale,
        padded_dim=dpad,
        local_variance=local_variance,
        l2_sensitivity=l2,
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
            than accounted, more may overflow the modulus). With
            ``max_clients`` unset that is ``[min_clients, 2 * min_clients]``.

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
            f"got {n_clients}; the modulus was sized for at most {cfg.expected_clients} clients "
            f"(set max_clients in the config to sum more)"
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
