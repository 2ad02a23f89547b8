"""How one round's client updates become the server's model update: one class per arm.

Every arm gets the *unclipped* client updates of the round (so an arm may
choose its own clip, e.g. adaptively) and the round's dropout schedule
(``{position + 1: secagg.Phase}``, the ids ``secagg.secure_sum`` uses), and
returns an :class:`Aggregate`. The mean is always ``sum / expected_clients``
(the expected cohort ``q N``, a data-independent denominator as in DP-FedAvg),
so the arms differ only in how the sum is computed and what noise it carries.

To add an arm, subclass :class:`Arm` and implement :meth:`Arm.aggregate`;
for a DP arm, charge ``self.ledger`` *before* computing anything. :class:`AdaptiveDistributedDP`
moves its clip every round toward a target quantile of the update norms
(``dp.adaptive``, Andrew et al. 2021) and charges both noises.
"""

from __future__ import annotations

import abc
import dataclasses
import os
import time

import dp_accounting
import numpy as np

import secagg
from dp import PrivacyLedger
from dp.adaptive import AdaptiveClipping, decode_round, encode_round, update_noise_multiplier
from dp.accounting import epsilon_of
from dp.clipping import clip_l2
from dp.distributed import DistributedDPConfig, decode_sum, encode_client, plan
from dp.mechanisms import add_central_gaussian

#: Phases at or after which a dropping client has already uploaded its input.
_UPLOADED = (secagg.Phase.CONSISTENCY_CHECK, secagg.Phase.UNMASKING)


@dataclasses.dataclass
class Aggregate:
    """What one round of an arm produced.

    Attributes:
        mean: the update to apply (``sum / expected_clients``), or ``None``
            when the round aborted (the model stays as it was).
        included: how many client inputs the sum holds.
        epsilon: epsilon spent so far (``None`` for arms without DP).
        seconds: wall time of the aggregation (encoding, crypto, decoding).
        bytes: protocol bytes sent by server and clients (plaintext arms:
            the float32 uploads).
    """

    mean: np.ndarray | None
    included: int
    epsilon: float | None
    seconds: float
    bytes: int


def clip_all(updates: list[np.ndarray], clip: float) -> list[np.ndarray]:
    """Each update scaled down to L2 norm at most ``clip``."""
    return [clip_l2(u, clip)[0] for u in updates]


def surviving(n: int, dropouts: dict[int, secagg.Phase]) -> list[int]:
    """Positions (0-based) of the clients whose input reaches the server under ``dropouts``."""
    return [i for i in range(n) if dropouts.get(i + 1) in (None, *_UPLOADED)]


class Arm(abc.ABC):
    """One way of aggregating; subclasses implement :meth:`aggregate`.

    Args:
        name: label in the tables and plots.
        clip: per-client L2 clip.
        expected_clients: the FedAvg denominator (expected cohort size).
    """

    ledger: PrivacyLedger | None = None

    def __init__(self, name: str, *, clip: float, expected_clients: float) -> None:
        self.name, self.clip, self.expected_clients = name, float(clip), float(expected_clients)

    @abc.abstractmethod
    def aggregate(self, updates: list[np.ndarray], dropouts: dict[int, secagg.Phase]) -> Aggregate:
        """Aggregate one round's (unclipped) updates under ``dropouts``."""


class Plain(Arm):
    """FedAvg in the clear: the server sees every clipped update."""

    def aggregate(self, updates, dropouts):
        t = time.perf_counter()
        alive = set(surviving(len(updates), dropouts))
        kept = [u for i, u in enumerate(clip_all(updates, self.clip)) if i in alive]
        total = np.sum(kept, axis=0) if kept else None
        mean = None if total is None else total / self.expected_clients
        return Aggregate(mean, len(kept), None, time.perf_counter() - t, 4 * len(kept) * updates[0].size)


class SecAgg(Arm):
    """SecAgg+ (real X25519 / AES-GCM / AES-CTR, Shamir recovery) over fixed-point floats.

    Each clipped update lies in ``[-clip, clip]`` per coordinate, which is
    the bound ``secure_sum`` encodes with (quantisation step ``clip / 2^16``).
    """

    def aggregate(self, updates, dropouts):
        t = time.perf_counter()
        try:
            r = secagg.secure_sum(clip_all(updates, self.clip), clip=self.clip, dropouts=dropouts)
        except secagg.ProtocolAborted:
            return Aggregate(None, 0, None, time.perf_counter() - t, 0)
        return Aggregate(r.total / self.expected_clients, len(r.included), None, time.perf_counter() - t,
                         sum(r.stats.bytes_sent.values()))


class DistributedDP(Arm):
    """SecAgg+ over ``Z_{2^bits}`` with distributed discrete noise (``dp.distributed``).

    Each client clips, rotates, rounds and adds its share of Skellam (or
    discrete Gaussian) noise; the server only ever sees the noisy sum. The
    noise is calibrated to ``min_clients`` and the secure sum aborts rather
    than output fewer (``min_contributors``). The ledger is charged before
    each round; an aborted round has still spent its epsilon.

    Args:
        noise_multiplier: central noise stddev over the clip, at ``min_clients``.
        bits: modulus bits of the secure sum.
        dim: model dimension.
        min_clients, max_clients: see :class:`dp.distributed.DistributedDPConfig`.
        sampling_rate: the Poisson rate charged to the ledger.
        ledger: the :class:`dp.PrivacyLedger` to charge.
        mechanism: ``"skellam"`` or ``"dgauss"``.
    """

    def __init__(self, name, *, clip, expected_clients, noise_multiplier, bits, dim, min_clients, max_clients,
                 sampling_rate, ledger, mechanism="skellam"):
        super().__init__(name, clip=clip, expected_clients=expected_clients)
        self.noise_multiplier, self.bits, self.dim = noise_multiplier, bits, dim
        self.min_clients, self.max_clients, self.sampling_rate = min_clients, max_clients, sampling_rate
        self.ledger, self.mechanism = ledger, mechanism
        self._plans: dict[float, object] = {}

    def plan(self):
        """The plan for the current clip (cached per clip value)."""
        if self.clip not in self._plans:
            self._plans[self.clip] = plan(DistributedDPConfig(
                mechanism=self.mechanism, bits=self.bits, l2_clip=self.clip, noise_multiplier=self.noise_multiplier,
                dim=self.dim, min_clients=self.min_clients, max_clients=self.max_clients))
        return self._plans[self.clip]

    def aggregate(self, updates, dropouts):
        t = time.perf_counter()
        p = self.plan()
        eps = self.ledger.charge_ddp_round(plan=p, sampling_rate=self.sampling_rate)  # refuses before spending
        if len(updates) < self.min_clients:  # the sum could never hold min_clients inputs: do not start
            return Aggregate(None, 0, eps, time.perf_counter() - t, 0)
        seed = os.urandom(32)  # the round's public rotation seed
        words = [encode_client(u, p, rotation_seed=seed) for u in updates]  # on each device
        try:
            r = secagg.secure_sum(words, bits=self.bits, min_contributors=self.min_clients, dropouts=dropouts)
        except secagg.ProtocolAborted:
            return Aggregate(None, 0, eps, time.perf_counter() - t, 0)
        noisy = decode_sum(r.total, p, rotation_seed=seed, n_clients=len(r.included))
        return Aggregate(noisy / self.expected_clients, len(r.included), eps, time.perf_counter() - t,
                         sum(r.stats.bytes_sent.values()))


class CentralDP(Arm):
    """The trusted-server baseline: the server sees the clipped sum and adds Gaussian noise.

    Args:
        noise_multiplier: stddev of the added noise over the clip.
        sampling_rate: the Poisson rate charged to the ledger.
        ledger: the :class:`dp.PrivacyLedger` to charge.
    """

    def __init__(self, name, *, clip, expected_clients, noise_multiplier, sampling_rate, ledger):
        super().__init__(name, clip=clip, expected_clients=expected_clients)
        self.noise_multiplier, self.sampling_rate, self.ledger = noise_multiplier, sampling_rate, ledger

    def aggregate(self, updates, dropouts):
        t = time.perf_counter()
        eps = self.ledger.charge_gaussian_round(noise_multiplier=self.noise_multiplier, sampling_rate=self.sampling_rate)
        alive = set(surviving(len(updates), dropouts))
        kept = [u for i, u in enumerate(clip_all(updates, self.clip)) if i in alive]
        total = np.sum(kept, axis=0) if kept else np.zeros(updates[0].size)
        noisy = add_central_gaussian(total, l2_clip=self.clip, noise_multiplier=self.noise_multiplier)
        return Aggregate(noisy / self.expected_clients, len(kept), eps, time.perf_counter() - t,
                         4 * len(kept) * updates[0].size)


class AdaptiveDistributedDP(Arm):
    """Distributed DP with adaptive clipping (``dp.adaptive``, Andrew et al. 2021) inside SecAgg+.

    Each client's one masked vector holds its clipped, noised update and its
    noised clip indicator; the server learns the two noisy sums and moves the
    clip geometrically toward ``target_quantile`` of the update norms. The
    round's noise is split as Andrew et al. do: indicator stddev ``sigma_b``
    (default ``max(expected_clients / 20, noise_multiplier)``) and update
    multiplier ``z_u`` with ``(z_u^-2 + (2 sigma_b)^-2)^-1/2 = noise_multiplier``;
    the ledger charges both noises composed (SPEC 40.12). The integer plan
    does not depend on the clip, so neither does the modulus or the epsilon.

    Args:
        clip: the first round's clip.
        noise_multiplier: the round's total (equivalent) noise multiplier.
        target_quantile: the fraction of updates to leave unclipped.
        Others: as :class:`DistributedDP`.
    """

    def __init__(self, name, *, clip, expected_clients, noise_multiplier, bits, dim, min_clients, max_clients,
                 sampling_rate, ledger, target_quantile=0.5, indicator_stddev=None, mechanism="skellam"):
        super().__init__(name, clip=clip, expected_clients=expected_clients)
        s_b = indicator_stddev if indicator_stddev is not None else max(expected_clients / 20.0, noise_multiplier)
        self.bits, self.min_clients, self.sampling_rate, self.ledger = bits, min_clients, sampling_rate, ledger
        base = DistributedDPConfig(mechanism=mechanism, bits=bits, l2_clip=clip,
                                   noise_multiplier=update_noise_multiplier(noise_multiplier, s_b), dim=dim,
                                   min_clients=min_clients, max_clients=max_clients)
        self.adaptive = AdaptiveClipping(base, target_quantile=target_quantile, initial_clip=clip, indicator_stddev=s_b,
                                         min_clip=clip / 1000, max_clip=clip * 1000)

    def epsilon(self, *, sampling_rate, steps, delta):
        """Epsilon of ``steps`` rounds at ``sampling_rate`` (the same at every clip)."""
        event = self.adaptive.round_event(self.adaptive.round_plan(), sampling_rate=sampling_rate)
        return epsilon_of(dp_accounting.SelfComposedDpEvent(event, steps), delta=delta)

    def aggregate(self, updates, dropouts):
        t = time.perf_counter()
        rp = self.adaptive.round_plan()
        self.clip = rp.clip
        eps = self.ledger.spend(self.adaptive.round_event(rp, sampling_rate=self.sampling_rate), clip=rp.clip)
        if len(updates) < self.min_clients:
            return Aggregate(None, 0, eps, time.perf_counter() - t, 0)
        seed = os.urandom(32)
        words = [encode_round(u, rp, rotation_seed=seed) for u in updates]  # on each device
        try:
            r = secagg.secure_sum(words, bits=self.bits, min_contributors=self.min_clients, dropouts=dropouts)
        except secagg.ProtocolAborted:
            return Aggregate(None, 0, eps, time.perf_counter() - t, 0)
        noisy, indicator_sum = decode_round(r.total, rp, rotation_seed=seed, n_clients=len(r.included))
        self.adaptive.update(indicator_sum, len(r.included))  # the next round's clip
        return Aggregate(noisy / self.expected_clients, len(r.included), eps, time.perf_counter() - t,
                         sum(r.stats.bytes_sent.values()))
