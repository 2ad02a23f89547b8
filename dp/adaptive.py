"""Adaptive clipping under secure aggregation (Andrew et al. 2021) with distributed discrete noise.

Each round, every client sends one vector in Z_{2^bits}: its clipped, noised
update (:func:`dp.distributed.encode_client` at the round's clip ``C``)
followed by one more word, its noised clip indicator ``1[||update|| <= C] -
1/2`` (encoded by a second plan with L2 clip 1/2). The secure sum of these
vectors gives the server only two noisy sums: of the clipped updates, and of
the indicators. From the indicator sum it estimates the unclipped fraction
``b`` and moves the clip geometrically toward the target quantile,
``C <- C exp(-eta (b - gamma))``, clamped to ``[min_clip, max_clip]``.

Promise: every round's event (:func:`AdaptiveClipping.round_event`) charges
both noises, composed on the same (sub)sample as Andrew et al. compose them;
the plan's integer part (noise, sensitivities, modulus) does not depend on
``C``, so the bit width that holds at one clip holds at every clip the rule
can reach (both ends are planned on construction). Theorem, proof sketch and
defaults: SPEC chapter 40, section 40.12 ("Adaptive clipping").

``dp`` never imports ``secagg``: the vectors go through any secure sum mod
``2^bits`` (``secagg.secure_sum`` or the sans-I/O roles); see
``tests/test_dp_with_secagg.py``.

>>> from dp.distributed import DistributedDPConfig
>>> base = DistributedDPConfig(mechanism="skellam", bits=20, l2_clip=1.0, noise_multiplier=1.0,
...                            dim=8, min_clients=10, max_clients=20)
>>> ac = AdaptiveClipping(base, target_quantile=0.5, initial_clip=1.0, indicator_stddev=1.0)
>>> rp = ac.round_plan()
>>> rp.clip, rp.words
(1.0, 9)
"""

from __future__ import annotations

import dataclasses
import hashlib
import math

import dp_accounting
import numpy as np

from dp._checks import is_int as _is_int
from dp._checks import is_real as _is_real
from dp.clipping import flatten, global_l2_norm
from dp.ddp_rdp import DistributedNoiseDpEvent, event_from_plan
from dp.distributed import DistributedDPConfig, DistributedDPPlan, decode_sum, encode_client, plan
from dp.randomness import DEFAULT_RANDOM, RandomSource

__all__ = [
    "AdaptiveClipping",
    "AdaptiveRoundPlan",
    "decode_round",
    "encode_round",
    "equivalent_noise_multiplier",
    "update_noise_multiplier",
]

#: The indicator ``1[||x|| <= C] - 1/2`` has L2 norm 1/2: its sensitivity under add/remove-one.
INDICATOR_SENSITIVITY = 0.5


def equivalent_noise_multiplier(update_noise_multiplier: float, indicator_stddev: float) -> float:
    """Andrew et al.'s Theorem 1: the Gaussian noise multiplier one adaptive-clipping round equals.

    Args:
        update_noise_multiplier: ``z_u``, the update noise stddev over the clip, > 0.
        indicator_stddev: ``sigma_b``, the stddev of the summed indicator noise (in counts), > 0.

    Returns:
        ``(z_u^-2 + (2 sigma_b)^-2)^-1/2``.

    Raises:
        ValueError: if an argument is not a positive finite number.
    """
    z_u, s_b = _positive("update_noise_multiplier", update_noise_multiplier), _positive("indicator_stddev", indicator_stddev)
    return (z_u**-2 + (2.0 * s_b) ** -2) ** -0.5


def update_noise_multiplier(noise_multiplier: float, indicator_stddev: float) -> float:
    """The update noise multiplier that keeps a round's total at ``noise_multiplier`` (Andrew et al.).

    Args:
        noise_multiplier: ``z``, the round's target equivalent multiplier, > 0.
        indicator_stddev: ``sigma_b`` (counts), > 0, with ``2 sigma_b > z``.

    Returns:
        ``z_u = (z^-2 - (2 sigma_b)^-2)^-1/2``.

    Raises:
        ValueError: if an argument is not positive and finite, or ``2 sigma_b <= z``
            (the indicator alone would spend the whole round).
    """
    z, s_b = _positive("noise_multiplier", noise_multiplier), _positive("indicator_stddev", indicator_stddev)
    if not 2.0 * s_b > z:
        raise ValueError(f"indicator_stddev={s_b:g} too small: need 2 * indicator_stddev > noise_multiplier={z:g}")
    return (z**-2 - (2.0 * s_b) ** -2) ** -0.5


def _positive(name: str, value: object) -> float:
    if not _is_real(value) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True, slots=True)
class AdaptiveRoundPlan:
    """What one adaptive-clipping round uses (public: send it to the clients).

    Attributes:
        clip: the round's L2 clip ``C`` (real units).
        update: the plan of the clipped update (``l2_clip = clip``).
        indicator: the plan of the one-word indicator (``l2_clip = 1/2``, ``dim = 1``).
        words: the length of a client's vector, ``update.padded_dim + 1``.
    """

    clip: float
    update: DistributedDPPlan
    indicator: DistributedDPPlan

    @property
    def words(self) -> int:
        """``update.padded_dim + indicator.padded_dim`` (the indicator takes one word)."""
        return self.update.padded_dim + self.indicator.padded_dim


class AdaptiveClipping:
    """The server-side state of adaptive clipping: the current clip and the update rule.

    Args:
        base: the update's :class:`~dp.distributed.DistributedDPConfig`; its
            ``noise_multiplier`` is the *update's* ``z_u`` (use
            :func:`update_noise_multiplier` to split a total) and its
            ``l2_clip`` is ignored (the rule sets it).
        target_quantile: ``gamma`` in ``(0, 1)``, the fraction of updates
            that should be unclipped.
        initial_clip: the first round's clip, in ``[min_clip, max_clip]``.
        indicator_stddev: ``sigma_b``, the stddev (counts) of the summed
            indicator noise over ``min_clients`` clients; Andrew et al.
            suggest ``expected clients / 20``.
        learning_rate: ``eta > 0`` of the geometric update (Andrew et al.: 0.2).
        min_clip, max_clip: the clip is clamped to this range, ``0 < min <= max``.

    Raises:
        TypeError: if ``base`` is not a config.
        ValueError: if a number is out of range, or the modulus does not hold
            at ``min_clip`` or ``max_clip`` (the message names the bits needed).
    """

    def __init__(
        self,
        base: DistributedDPConfig,
        *,
        target_quantile: float,
        initial_clip: float,
        indicator_stddev: float,
        learning_rate: float = 0.2,
        min_clip: float = 1e-6,
        max_clip: float = 1e6,
    ) -> None:
        if not isinstance(base, DistributedDPConfig):
            raise TypeError(f"base must be a DistributedDPConfig, got {type(base).__name__}")
        if not _is_real(target_quantile) or not 0.0 < target_quantile < 1.0:
            raise ValueError(f"target_quantile must be in (0, 1), got {target_quantile!r}")
        self._eta = _positive("learning_rate", learning_rate)
        lo, hi = _positive("min_clip", min_clip), _positive("max_clip", max_clip)
        if not lo <= hi:
            raise ValueError(f"need min_clip <= max_clip, got {lo:g} > {hi:g}")
        clip = _positive("initial_clip", initial_clip)
        if not lo <= clip <= hi:
            raise ValueError(f"initial_clip must be in [min_clip={lo:g}, max_clip={hi:g}], got {clip:g}")
        s_b = _positive("indicator_stddev", indicator_stddev)
        self._base = base
        self._gamma = float(target_quantile)
        self._range = (lo, hi)
        self._clip = clip
        self._indicator = plan(
            dataclasses.replace(
                base, l2_clip=INDICATOR_SENSITIVITY, noise_multiplier=s_b / INDICATOR_SENSITIVITY, dim=1
            )
        )
        for c in (lo, hi):  # the integer part is clip-free; planning both ends proves every reachable clip fits
            self._plan_update(c)

    def _plan_update(self, clip: float) -> DistributedDPPlan:
        return plan(dataclasses.replace(self._base, l2_clip=clip))

    @property
    def clip(self) -> float:
        """The clip the next round uses."""
        return self._clip

    @property
    def target_quantile(self) -> float:
        """``gamma``."""
        return self._gamma

    def round_plan(self) -> AdaptiveRoundPlan:
        """The plans of the next round, at the current clip.

        Returns:
            An :class:`AdaptiveRoundPlan`.

        Raises:
            Nothing of its own (the clip range was planned on construction).
        """
        return AdaptiveRoundPlan(clip=self._clip, update=self._plan_update(self._clip), indicator=self._indicator)

    def round_event(self, round_plan: AdaptiveRoundPlan, *, sampling_rate: float = 1.0) -> dp_accounting.DpEvent:
        """The event of one round: both noises, on the same (sub)sample of clients.

        Args:
            round_plan: the round's plan.
            sampling_rate: Poisson client-sampling rate in ``(0, 1]`` (1
                against the server, which sees who took part).

        Returns:
            ``ComposedDpEvent([update, indicator])`` of two
            :class:`~dp.ddp_rdp.DistributedNoiseDpEvent`, wrapped in
            ``PoissonSampledDpEvent`` when ``sampling_rate < 1`` (the
            subsampling bound is applied to the pair's joint curve).

        Raises:
            TypeError: if ``round_plan`` is not an :class:`AdaptiveRoundPlan`.
            ValueError: if ``sampling_rate`` is out of range.
        """
        if not isinstance(round_plan, AdaptiveRoundPlan):
            raise TypeError(f"round_plan must be an AdaptiveRoundPlan, got {type(round_plan).__name__}")
        if not _is_real(sampling_rate) or not 0.0 < sampling_rate <= 1.0:
            raise ValueError(f"sampling_rate must be in (0, 1], got {sampling_rate!r}")
        pair: list[DistributedNoiseDpEvent] = [event_from_plan(round_plan.update), event_from_plan(round_plan.indicator)]
        joint = dp_accounting.ComposedDpEvent(pair)
        return joint if sampling_rate == 1.0 else dp_accounting.PoissonSampledDpEvent(float(sampling_rate), joint)

    def update(self, noisy_indicator_sum: float, n_clients: int) -> float:
        """Move the clip toward the target quantile; return the new clip.

        ``b = (noisy_indicator_sum + n/2) / n`` estimates the unclipped
        fraction; ``C <- clamp(C exp(-eta (b - gamma)), min_clip, max_clip)``.

        Args:
            noisy_indicator_sum: the decoded sum of the indicators (second
                value of :func:`decode_round`).
            n_clients: how many clients the sum holds, >= 1.

        Returns:
            The clip of the next round.

        Raises:
            ValueError: if an argument is out of range or not finite.
        """
        if not _is_real(noisy_indicator_sum) or not math.isfinite(noisy_indicator_sum):
            raise ValueError(f"noisy_indicator_sum must be a finite number, got {noisy_indicator_sum!r}")
        if not _is_int(n_clients) or n_clients < 1:
            raise ValueError(f"n_clients must be an int >= 1, got {n_clients!r}")
        unclipped = (float(noisy_indicator_sum) + n_clients / 2.0) / n_clients
        lo, hi = self._range
        self._clip = min(hi, max(lo, self._clip * math.exp(-self._eta * (unclipped - self._gamma))))
        return self._clip


def _indicator_seed(rotation_seed: bytes) -> bytes:
    return hashlib.sha256(b"dp/adaptive/indicator-rotation|" + bytes(rotation_seed)).digest()


def encode_round(
    update: np.ndarray | list[np.ndarray],
    round_plan: AdaptiveRoundPlan,
    *,
    rotation_seed: bytes,
    random: RandomSource = DEFAULT_RANDOM,
) -> np.ndarray:
    """One client's vector: its clipped, noised update, then its noised clip indicator.

    Args:
        update: the client's update (``round_plan.update.config.dim`` scalars).
        round_plan: the round's plan.
        rotation_seed: the round's 32-byte public rotation seed.
        random: the randomness source for rounding and noise (secret).

    Returns:
        ``round_plan.words`` words in ``[0, 2^bits)`` (uint32 or uint64).

    Raises:
        TypeError, ValueError: as :func:`dp.distributed.encode_client`.
    """
    if not isinstance(round_plan, AdaptiveRoundPlan):
        raise TypeError(f"round_plan must be an AdaptiveRoundPlan, got {type(round_plan).__name__}")
    vector, _ = flatten(update)
    inside = global_l2_norm(vector) <= round_plan.clip
    indicator = np.array([0.5 if inside else -0.5])
    head = encode_client(vector, round_plan.update, rotation_seed=rotation_seed, random=random)
    tail = encode_client(indicator, round_plan.indicator, rotation_seed=_indicator_seed(rotation_seed), random=random)
    return np.concatenate([head, tail.astype(head.dtype)])


def decode_round(
    modular_sum: np.ndarray, round_plan: AdaptiveRoundPlan, *, rotation_seed: bytes, n_clients: int
) -> tuple[np.ndarray, float]:
    """Split and decode the secure sum of :func:`encode_round` vectors.

    Args:
        modular_sum: ``round_plan.words`` integers in ``[0, 2^bits)``.
        round_plan: the round's plan.
        rotation_seed: the round's rotation seed.
        n_clients: how many clients the sum holds (as :func:`dp.distributed.decode_sum`).

    Returns:
        ``(noisy sum of the clipped updates, noisy sum of the indicators)``;
        pass the second to :meth:`AdaptiveClipping.update`.

    Raises:
        TypeError, ValueError: as :func:`dp.distributed.decode_sum`, or if the
            length is not ``round_plan.words``.
    """
    if not isinstance(round_plan, AdaptiveRoundPlan):
        raise TypeError(f"round_plan must be an AdaptiveRoundPlan, got {type(round_plan).__name__}")
    total = np.asarray(modular_sum)
    if total.ndim != 1 or total.shape[0] != round_plan.words:
        raise ValueError(f"modular_sum must have {round_plan.words} words, got shape {total.shape}")
    cut = round_plan.update.padded_dim
    updates = decode_sum(total[:cut], round_plan.update, rotation_seed=rotation_seed, n_clients=n_clients)
    indicator = decode_sum(
        total[cut:], round_plan.indicator, rotation_seed=_indicator_seed(rotation_seed), n_clients=n_clients
    )
    return updates, float(indicator[0])
