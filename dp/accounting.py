"""Privacy accounting over Google's dp-accounting: epsilon, delta, calibration.

A thin, keyword-only adapter (after opacus ``accountants/``): every mechanism is
described by the ``DpEvent`` it is, and a fresh accountant from
:func:`make_accountant` turns events into ``(epsilon, delta)``. The math lives
in dp-accounting; the only curves of our own are the distributed discrete
mechanisms' in :mod:`dp.ddp_rdp`. :class:`DistributedRdpAccountant` owns the
RDP composition and reads dp-accounting only through its public API (SPEC
chapter 40, section 40.3).

Accountant parameters (fixed, so results are reproducible):

* ``"rdp"``: :data:`RDP_ORDERS`, dp-accounting's default orders (1.1 to 10.9
  in steps of 0.1, the integers 11..63, 128, 256, 512, 1024) plus extra
  integer orders between 64 and 2048. The fractional orders matter for the
  Gaussian (the optimum is often between integers); the large integer orders
  serve small-epsilon, small-``q`` regimes and the distributed mechanisms,
  whose subsampling bound exists only at integer orders.
* ``"pld"``: privacy-loss distributions with
  ``value_discretization_interval =`` :data:`PLD_VALUE_DISCRETIZATION_INTERVAL`
  (``1e-4``). The discretization is pessimistic, so coarser grids overstate
  epsilon and the error grows with the number of compositions: for the
  14,063-step reference run below, ``1e-2`` gives 3.136, ``1e-3`` gives 2.391
  and ``1e-4`` gives 2.382 (converged to three decimals) in about 0.3 s.

Reference values (pinned in the tests): Poisson-sampled Gaussian,
``q = 256/60000``, 14,063 steps, ``delta = 1e-5``: noise 1.1 gives 2.597 (RDP)
and 2.382 (PLD); noise 1.12 gives 2.519 and 2.310.

Warning:
    ``noise_multiplier`` is the noise standard deviation divided by the L2
    sensitivity *under the chosen neighbouring relation*; under replace-one
    the sensitivity of a clipped sum is twice the clip norm.

>>> round(epsilon(noise_multiplier=1.1, sampling_rate=256 / 60000, steps=14063, delta=1e-5), 3)
2.597
>>> z = calibrate_noise(epsilon=2.0, delta=1e-5, sampling_rate=0.01, steps=100)
>>> epsilon(noise_multiplier=z, sampling_rate=0.01, steps=100, delta=1e-5) <= 2.0
True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import dp_accounting
import numpy as np
from dp_accounting import pld, rdp
from dp_accounting.rdp import rdp_privacy_accountant
from dp_accounting.privacy_accountant import NeighboringRelation, PrivacyAccountant

from dp._checks import is_int as _is_int
from dp._checks import is_real as _is_real
from dp.ddp_rdp import DistributedNoiseDpEvent, event_from_plan, joint_rdp_curve, rdp_curve
from dp.errors import UnsupportedEventError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from dp.distributed import DistributedDPPlan

__all__ = [
    "ACCOUNTANTS",
    "MAX_NOISE_MULTIPLIER",
    "MAX_POPULATION",
    "MIN_NOISE_MULTIPLIER",
    "NEIGHBOURING_RELATIONS",
    "NOISE_MULTIPLIER_FLOOR",
    "PLD_MAX_EPSILON",
    "PLD_VALUE_DISCRETIZATION_INTERVAL",
    "RDP_ORDERS",
    "SAMPLING_SCHEMES",
    "SCHEME_RELATIONS",
    "DistributedRdpAccountant",
    "calibrate_noise",
    "compose_event",
    "ddp_epsilon",
    "ddp_round_event",
    "delta",
    "delta_of",
    "epsilon",
    "epsilon_of",
    "gaussian_round_event",
    "make_accountant",
    "sampling_scheme",
]

ACCOUNTANTS = ("rdp", "pld")

#: Neighbouring relations by their stored name.
NEIGHBOURING_RELATIONS = {
    "add_or_remove_one": NeighboringRelation.ADD_OR_REMOVE_ONE,
    "replace_one": NeighboringRelation.REPLACE_ONE,
}
NEIGHBOURING_RELATIONS_NAMES = tuple(NEIGHBOURING_RELATIONS)

_EXTRA_ORDERS = (64, 72, 80, 96, 112, 144, 160, 192, 224, 320, 384, 448, 640, 768, 1536, 2048)

#: The RDP orders of every ``"rdp"`` accountant made here.
RDP_ORDERS: tuple[float, ...] = tuple(
    sorted({float(a) for a in rdp.rdp_privacy_accountant.DEFAULT_RDP_ORDERS} | {float(a) for a in _EXTRA_ORDERS})
)

#: The PLD accountant's grid of privacy-loss values (see the module docstring).
PLD_VALUE_DISCRETIZATION_INTERVAL = 1e-4

#: Calibration searches noise multipliers in this range.
MIN_NOISE_MULTIPLIER = 0.1
MAX_NOISE_MULTIPLIER = 1e6

#: The smallest noise multiplier accounted at all: below it epsilon is astronomical
#: (above 1e12 for one step) and dp-accounting divides by zero near 1e-300.
NOISE_MULTIPLIER_FLOOR = 1e-6

#: The PLD accountant is refused for an event whose RDP epsilon exceeds this: its
#: privacy-loss grid grows with epsilon (about 1.4 GB at epsilon 280).
PLD_MAX_EPSILON = 100.0


def _check_noise(noise_multiplier: object) -> float:
    if not _is_real(noise_multiplier):
        raise TypeError(f"noise_multiplier must be a real number, got {type(noise_multiplier).__name__}")
    if not (math.isfinite(noise_multiplier) and noise_multiplier >= NOISE_MULTIPLIER_FLOOR):
        raise ValueError(f"noise_multiplier must be finite and >= {NOISE_MULTIPLIER_FLOOR:g}, got {noise_multiplier!r}")
    return float(noise_multiplier)


def _refuse_costly_pld(event: dp_accounting.DpEvent, delta: float, relation: str) -> None:
    """Raise ``ValueError`` when the RDP epsilon of ``event`` is above :data:`PLD_MAX_EPSILON`."""
    acc = compose_event(make_accountant("rdp", neighbouring_relation=relation), event)
    rdp_eps = float(acc.get_epsilon(delta))
    if not rdp_eps <= PLD_MAX_EPSILON:
        raise ValueError(
            f"the RDP epsilon of this event is {rdp_eps:.6g} > PLD_MAX_EPSILON = {PLD_MAX_EPSILON:g}, where the "
            f"PLD accountant needs gigabytes; use accountant='rdp'"
        )


def _check_rate(sampling_rate: object) -> float:
    if not _is_real(sampling_rate):
        raise TypeError(f"sampling_rate must be a real number, got {type(sampling_rate).__name__}")
    if not 0.0 < sampling_rate <= 1.0:
        raise ValueError(f"sampling_rate must be in (0, 1], got {sampling_rate!r}")
    return float(sampling_rate)


def _check_steps(steps: object) -> int:
    if not _is_int(steps):
        raise TypeError(f"steps must be an int, got {type(steps).__name__}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    return int(steps)


def _check_delta(value: object) -> float:
    if not _is_real(value):
        raise TypeError(f"delta must be a real number, got {type(value).__name__}")
    if not 0.0 < value < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {value!r}")
    return float(value)


def _check_epsilon(value: object) -> float:
    if not _is_real(value):
        raise TypeError(f"epsilon must be a real number, got {type(value).__name__}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"epsilon must be finite and >= 0, got {value!r}")
    return float(value)


def _check_kind(kind: object) -> str:
    if not isinstance(kind, str):
        raise TypeError(f"accountant must be a str, got {type(kind).__name__}")
    if kind not in ACCOUNTANTS:
        raise ValueError(f"accountant must be one of {ACCOUNTANTS}, got {kind!r}")
    return kind


def _relation(name: object) -> NeighboringRelation:
    if not isinstance(name, str):
        raise TypeError(f"neighbouring_relation must be a str, got {type(name).__name__}")
    if name not in NEIGHBOURING_RELATIONS:
        raise ValueError(f"neighbouring_relation must be one of {tuple(NEIGHBOURING_RELATIONS)}, got {name!r}")
    return NEIGHBOURING_RELATIONS[name]


@functools.lru_cache(maxsize=256)
def _ddp_curve(event: DistributedNoiseDpEvent, q: float, factor: float, orders: tuple[float, ...]) -> np.ndarray:
    curve = rdp_curve(event, sampling_rate=q, orders=orders, relation_factor=factor)
    curve.setflags(write=False)
    return curve


def _frozen(curve: np.ndarray) -> np.ndarray:
    curve.setflags(write=False)
    return curve


@functools.lru_cache(maxsize=1024)
def _standard_curve(event: dp_accounting.DpEvent, relation: NeighboringRelation, orders: tuple[float, ...]) -> np.ndarray:
    return _frozen(_standard_curve_uncached(event, relation, orders))


def _standard_curve_uncached(
    event: dp_accounting.DpEvent, relation: NeighboringRelation, orders: tuple[float, ...]
) -> np.ndarray:
    acc = rdp.RdpAccountant(orders=list(orders), neighboring_relation=relation)
    try:
        acc.compose(event)
    except dp_accounting.UnsupportedEventError as exc:
        raise UnsupportedEventError(f"RDP accountant cannot bound {event!r}: {exc}") from exc
    return np.array(acc.rdp, dtype=np.float64)


def _ddp_parts(event: object) -> tuple[DistributedNoiseDpEvent, ...]:
    """The parts of a ``ComposedDpEvent`` made only of distributed-noise events, else ``()``."""
    if isinstance(event, dp_accounting.ComposedDpEvent) and event.events:
        if all(isinstance(e, DistributedNoiseDpEvent) for e in event.events):
            return tuple(event.events)
    return ()


@functools.lru_cache(maxsize=256)
def _joint_curve(events: tuple[DistributedNoiseDpEvent, ...], q: float, orders: tuple[float, ...]) -> np.ndarray:
    return _frozen(joint_rdp_curve(events, sampling_rate=q, orders=orders))


class DistributedRdpAccountant:
    """An RDP accountant for dp-accounting's events and :class:`DistributedNoiseDpEvent`.

    It owns the composition (RDP curves add) and uses only dp-accounting's
    public API: the curve of a standard event is read from a fresh
    ``dp_accounting.rdp.RdpAccountant`` (``compose`` then ``rdp``), epsilon
    and delta come from ``rdp_privacy_accountant.compute_epsilon`` /
    ``compute_delta``. ``ComposedDpEvent`` and ``SelfComposedDpEvent`` are
    split into their parts; a bare ``DistributedNoiseDpEvent`` adds the
    papers' curve (sensitivities doubled under replace-one), and a
    ``PoissonSampledDpEvent`` whose direct sub-event is one (or a
    ``ComposedDpEvent`` of several, released on the same sample) adds Zhu &
    Wang's subsampling bound of their summed curve (add/remove-one only). Each distinct event's curve is
    computed once per process (a cache), so replaying a ledger costs one
    vector addition per entry. ``compose`` checks before it commits: on error
    the accountant is unchanged.

    Args:
        orders: the RDP orders (default :data:`RDP_ORDERS`).
        neighboring_relation: a dp-accounting ``NeighboringRelation``
            (add/remove-one or replace-one).

    Raises:
        ValueError: if ``orders`` is empty or holds an order <= 1.
        TypeError: if ``neighboring_relation`` is not a ``NeighboringRelation``.
    """

    def __init__(
        self,
        orders: Sequence[float] | None = None,
        neighboring_relation: NeighboringRelation = NeighboringRelation.ADD_OR_REMOVE_ONE,
    ) -> None:
        chosen = RDP_ORDERS if orders is None else tuple(float(a) for a in orders)
        if not chosen or not all(a > 1.0 for a in chosen):
            raise ValueError(f"orders must be a non-empty sequence of numbers > 1, got {orders!r}")
        if not isinstance(neighboring_relation, NeighboringRelation):
            raise TypeError(f"neighboring_relation must be a NeighboringRelation, got {neighboring_relation!r}")
        if neighboring_relation not in NEIGHBOURING_RELATIONS.values():
            raise ValueError(f"neighboring_relation {neighboring_relation} is not supported")
        self._orders = chosen
        self._relation = neighboring_relation
        self._curve_sum = np.zeros(len(chosen), dtype=np.float64)

    @property
    def neighboring_relation(self) -> NeighboringRelation:
        """The neighbouring relation every composed event is bounded under."""
        return self._relation

    @property
    def orders(self) -> np.ndarray:
        """The RDP orders (a copy)."""
        return np.array(self._orders, dtype=np.float64)

    @property
    def rdp(self) -> np.ndarray:
        """The composed RDP curve, one value per order (a copy)."""
        return self._curve_sum.copy()

    def curve(self, event: dp_accounting.DpEvent) -> np.ndarray:
        """The RDP curve of one occurrence of ``event`` at :attr:`orders` (nothing is composed).

        Args:
            event: a dp-accounting event, possibly holding distributed-noise events.

        Returns:
            A read-only float64 array, one RDP value per order.

        Raises:
            UnsupportedEventError: if no valid RDP bound exists for ``event``
                under this relation.
        """
        if isinstance(event, DistributedNoiseDpEvent):
            factor = 2.0 if self._relation is NeighboringRelation.REPLACE_ONE else 1.0
            return _ddp_curve(event, 1.0, factor, self._orders)
        if isinstance(event, dp_accounting.PoissonSampledDpEvent) and isinstance(event.event, DistributedNoiseDpEvent):
            if self._relation is not NeighboringRelation.ADD_OR_REMOVE_ONE:
                raise UnsupportedEventError(
                    "Poisson-sampled distributed noise is bounded only under add/remove-one neighbours"
                )
            q = event.sampling_probability
            if not _is_real(q) or not 0.0 <= q <= 1.0:
                raise UnsupportedEventError(f"sampling probability {q!r} not in [0, 1]")
            if q == 0:
                return _frozen(np.zeros(len(self._orders)))
            return _ddp_curve(event.event, float(q), 1.0, self._orders)
        if isinstance(event, dp_accounting.PoissonSampledDpEvent) and _ddp_parts(event.event):
            if self._relation is not NeighboringRelation.ADD_OR_REMOVE_ONE:
                raise UnsupportedEventError(
                    "Poisson-sampled distributed noise is bounded only under add/remove-one neighbours"
                )
            q = event.sampling_probability
            if not _is_real(q) or not 0.0 < q <= 1.0:
                raise UnsupportedEventError(f"sampling probability {q!r} not in (0, 1]")
            return _joint_curve(_ddp_parts(event.event), float(q), self._orders)
        if isinstance(event, dp_accounting.ComposedDpEvent):
            total = np.zeros(len(self._orders), dtype=np.float64)
            for part in event.events:
                total = total + self.curve(part)
            return _frozen(total)
        if isinstance(event, dp_accounting.SelfComposedDpEvent):
            if not _is_int(event.count) or event.count < 0:
                raise UnsupportedEventError(f"self-composition count must be an int >= 0, got {event.count!r}")
            return _frozen(int(event.count) * self.curve(event.event))
        if not isinstance(event, dp_accounting.DpEvent):
            raise UnsupportedEventError(f"not a DpEvent: {type(event).__name__}")
        try:
            return _standard_curve(event, self._relation, self._orders)
        except TypeError:  # unhashable event (e.g. one holding a list): no cache
            return _frozen(_standard_curve_uncached(event, self._relation, self._orders))

    def supports(self, event: dp_accounting.DpEvent) -> bool:
        """Whether :meth:`compose` would accept ``event``.

        Args:
            event: any object.

        Returns:
            ``True`` when a valid RDP bound exists.

        Raises:
            Nothing of its own.
        """
        try:
            self.curve(event)
        except UnsupportedEventError:
            return False
        return True

    def compose(self, event: dp_accounting.DpEvent, count: int = 1) -> DistributedRdpAccountant:
        """Add ``count`` occurrences of ``event``; check first, commit after.

        Args:
            event: the event.
            count: an int >= 1.

        Returns:
            This accountant, for chaining.

        Raises:
            TypeError: if ``count`` is not an int.
            ValueError: if ``count < 1``.
            UnsupportedEventError: if no valid bound exists (nothing changes).
        """
        if not _is_int(count):
            raise TypeError(f"count must be an int, got {type(count).__name__}")
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        curve = self.curve(event)
        self._curve_sum = self._curve_sum + int(count) * curve
        return self

    def get_epsilon_and_optimal_order(self, target_delta: float) -> tuple[float, float]:
        """Epsilon at ``target_delta`` and the order attaining it.

        Args:
            target_delta: in ``[0, 1]``.

        Returns:
            ``(epsilon, order)`` from dp-accounting's ``compute_epsilon``.

        Raises:
            ValueError: if ``target_delta`` is out of range (dp-accounting's check).
        """
        eps, order = rdp_privacy_accountant.compute_epsilon(list(self._orders), list(self._curve_sum), target_delta)
        return float(eps), float(order)

    def get_epsilon(self, target_delta: float) -> float:
        """Epsilon at ``target_delta``.

        Args:
            target_delta: in ``[0, 1]``.

        Returns:
            The smallest epsilon over the orders (may be ``inf``).

        Raises:
            ValueError: if ``target_delta`` is out of range.
        """
        return self.get_epsilon_and_optimal_order(target_delta)[0]

    def get_delta(self, target_epsilon: float) -> float:
        """Delta at ``target_epsilon``.

        Args:
            target_epsilon: >= 0.

        Returns:
            The smallest delta over the orders, in ``[0, 1]``.

        Raises:
            ValueError: if ``target_epsilon`` is negative (dp-accounting's check).
        """
        dlt, _ = rdp_privacy_accountant.compute_delta(list(self._orders), list(self._curve_sum), target_epsilon)
        return float(dlt)


def make_accountant(
    kind: str = "rdp", *, neighbouring_relation: str = "add_or_remove_one"
) -> DistributedRdpAccountant | PrivacyAccountant:
    """A fresh, empty accountant with this module's fixed parameters.

    Args:
        kind: ``"rdp"`` (a :class:`DistributedRdpAccountant` at
            :data:`RDP_ORDERS`) or ``"pld"`` (dp-accounting's
            ``PLDAccountant`` at :data:`PLD_VALUE_DISCRETIZATION_INTERVAL`).
        neighbouring_relation: ``"add_or_remove_one"`` or ``"replace_one"``.

    Returns:
        The accountant.

    Raises:
        TypeError: if an argument is not a str.
        ValueError: if an argument names nothing known.
    """
    kind = _check_kind(kind)
    relation = _relation(neighbouring_relation)
    if kind == "rdp":
        return DistributedRdpAccountant(neighboring_relation=relation)
    return pld.PLDAccountant(neighboring_relation=relation, value_discretization_interval=PLD_VALUE_DISCRETIZATION_INTERVAL)


#: The sampling schemes a round may use, by their stored name (SPEC section 40.2).
SAMPLING_SCHEMES = ("poisson", "fixed_size", "all")

#: The neighbouring relation each sampling scheme is accounted under ("all" works under both).
SCHEME_RELATIONS = {"poisson": ("add_or_remove_one",), "fixed_size": ("replace_one",), "all": NEIGHBOURING_RELATIONS_NAMES}

MAX_POPULATION = 2**40


def gaussian_round_event(
    *,
    noise_multiplier: float,
    sampling_rate: float | None = None,
    sample_size: int | None = None,
    population: int | None = None,
) -> dp_accounting.DpEvent:
    """The event of one round of the Gaussian mechanism under one sampling scheme.

    Give either ``sampling_rate`` (Poisson sampling; 1 means every client
    every round) or ``sample_size`` and ``population`` (a fixed-size sample
    drawn without replacement, accounted under replace-one neighbours as
    dp-accounting does).

    Args:
        noise_multiplier: noise stddev over L2 sensitivity, finite and
            >= NOISE_MULTIPLIER_FLOOR.
        sampling_rate: Poisson sampling rate in ``(0, 1]``.
        sample_size: clients per round, in ``[1, population]``.
        population: clients to sample from, in ``[1, MAX_POPULATION]``.

    Returns:
        ``GaussianDpEvent(z)`` when every client takes part (``sampling_rate
        == 1`` or ``sample_size == population``),
        ``PoissonSampledDpEvent(q, GaussianDpEvent(z))`` for Poisson sampling,
        ``SampledWithoutReplacementDpEvent(population, sample_size,
        GaussianDpEvent(z))`` for a fixed-size sample.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if an argument is out of range, or not exactly one
            scheme is given.
    """
    z = _check_noise(noise_multiplier)
    gaussian = dp_accounting.GaussianDpEvent(z)
    if (sampling_rate is None) == (sample_size is None and population is None):
        raise ValueError("give sampling_rate (Poisson) or sample_size and population (fixed size), not both or neither")
    if sampling_rate is not None:
        q = _check_rate(sampling_rate)
        return gaussian if q == 1.0 else dp_accounting.PoissonSampledDpEvent(q, gaussian)
    for name, value in (("sample_size", sample_size), ("population", population)):
        if not _is_int(value):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 1 <= population <= MAX_POPULATION or not 1 <= sample_size <= population:
        raise ValueError(
            f"need 1 <= sample_size <= population <= {MAX_POPULATION}, got sample_size={sample_size}, "
            f"population={population}"
        )
    if sample_size == population:
        return gaussian
    return dp_accounting.SampledWithoutReplacementDpEvent(int(population), int(sample_size), gaussian)


def sampling_scheme(event: dp_accounting.DpEvent) -> str:
    """The sampling scheme of one round's event: ``"poisson"``, ``"fixed_size"``, ``"all"`` or ``"mixed"``.

    Args:
        event: a round's event (composed and self-composed events are looked through).

    Returns:
        The scheme of every sampled part, ``"all"`` when nothing is sampled,
        ``"mixed"`` when the parts disagree.

    Raises:
        Nothing of its own.
    """
    found = _schemes(event)
    return "all" if not found else found.pop() if len(found) == 1 else "mixed"


def _schemes(event: object) -> set[str]:
    if isinstance(event, dp_accounting.PoissonSampledDpEvent):
        return {"poisson"}
    if isinstance(event, dp_accounting.SampledWithoutReplacementDpEvent):
        return {"fixed_size"}
    if isinstance(event, dp_accounting.SelfComposedDpEvent):
        return _schemes(event.event)
    if isinstance(event, dp_accounting.ComposedDpEvent):
        return set().union(*(_schemes(e) for e in event.events)) if event.events else set()
    return set()


def ddp_round_event(*, plan: DistributedDPPlan, sampling_rate: float) -> dp_accounting.DpEvent:
    """The event of one round of distributed discrete noise with client sampling.

    Args:
        plan: a :class:`dp.distributed.DistributedDPPlan`.
        sampling_rate: Poisson client-sampling rate in ``(0, 1]``.

    Returns:
        The plan's :class:`DistributedNoiseDpEvent`, wrapped in
        ``PoissonSampledDpEvent`` when ``sampling_rate < 1``.

    Raises:
        TypeError: if ``plan`` is not a plan.
        ValueError: if ``sampling_rate`` is out of range.
    """
    event = event_from_plan(plan)
    q = _check_rate(sampling_rate)
    return event if q == 1.0 else dp_accounting.PoissonSampledDpEvent(q, event)


def compose_event(
    accountant: DistributedRdpAccountant | PrivacyAccountant, event: dp_accounting.DpEvent, count: int = 1
) -> DistributedRdpAccountant | PrivacyAccountant:
    """``accountant.compose(event, count)`` with our error vocabulary.

    dp-accounting checks support before it changes anything, so on error the
    accountant is untouched.

    Args:
        accountant: an accountant from :func:`make_accountant`.
        event: the event to compose.
        count: how many times.

    Returns:
        The same accountant, for chaining.

    Raises:
        TypeError: if ``event`` is not a DpEvent.
        UnsupportedEventError: if the accountant has no valid bound for ``event``.
    """
    if not isinstance(event, dp_accounting.DpEvent):
        raise TypeError(f"event must be a dp_accounting.DpEvent, got {type(event).__name__}")
    try:
        return accountant.compose(event, count)
    except UnsupportedEventError:
        raise
    except dp_accounting.UnsupportedEventError as exc:
        raise UnsupportedEventError(f"{type(accountant).__name__} cannot bound {event!r}: {exc}") from exc


def epsilon_of(
    event: dp_accounting.DpEvent,
    *,
    delta: float,
    accountant: str = "rdp",
    neighbouring_relation: str = "add_or_remove_one",
) -> float:
    """Epsilon of one (possibly composed) event at ``delta``, on a fresh accountant.

    Args:
        event: any event the accountant supports.
        delta: target delta in ``(0, 1)``.
        accountant: ``"rdp"`` or ``"pld"``.
        neighbouring_relation: ``"add_or_remove_one"`` or ``"replace_one"``.

    Returns:
        The epsilon (may be ``inf``).

    Raises:
        TypeError: if ``event`` is not a DpEvent or an argument has the wrong type.
        ValueError: if an argument is out of range, or ``accountant`` is
            ``"pld"`` and the event's RDP epsilon exceeds :data:`PLD_MAX_EPSILON`.
        UnsupportedEventError: if the accountant has no valid bound for ``event``.
    """
    d = _check_delta(delta)
    if _check_kind(accountant) == "pld":
        _refuse_costly_pld(event, d, neighbouring_relation)
    acc = compose_event(make_accountant(accountant, neighbouring_relation=neighbouring_relation), event)
    return float(acc.get_epsilon(d))


def delta_of(
    event: dp_accounting.DpEvent,
    *,
    epsilon: float,
    accountant: str = "rdp",
    neighbouring_relation: str = "add_or_remove_one",
) -> float:
    """Delta of one (possibly composed) event at ``epsilon``, on a fresh accountant.

    Args:
        event: any event the accountant supports.
        epsilon: target epsilon, finite and >= 0.
        accountant: ``"rdp"`` or ``"pld"``.
        neighbouring_relation: ``"add_or_remove_one"`` or ``"replace_one"``.

    Returns:
        The delta in ``[0, 1]``.

    Raises:
        TypeError: if ``event`` is not a DpEvent or an argument has the wrong type.
        ValueError: if an argument is out of range, or ``accountant`` is
            ``"pld"`` and the event's RDP epsilon at delta 1e-10 exceeds
            :data:`PLD_MAX_EPSILON`.
        UnsupportedEventError: if the accountant has no valid bound for ``event``.
    """
    e = _check_epsilon(epsilon)
    if _check_kind(accountant) == "pld":
        _refuse_costly_pld(event, 1e-10, neighbouring_relation)
    acc = compose_event(make_accountant(accountant, neighbouring_relation=neighbouring_relation), event)
    return float(acc.get_delta(e))


def _gaussian_run(noise_multiplier: float, sampling_rate: float, steps: int) -> dp_accounting.DpEvent:
    one = gaussian_round_event(noise_multiplier=noise_multiplier, sampling_rate=sampling_rate)
    t = _check_steps(steps)
    # dp-accounting refuses a self-composition count of 0: zero steps are a no-op.
    return dp_accounting.SelfComposedDpEvent(one, t) if t > 0 else dp_accounting.NoOpDpEvent()


def epsilon(
    *, noise_multiplier: float, sampling_rate: float, steps: int, delta: float, accountant: str = "rdp"
) -> float:
    """Epsilon at ``delta`` of ``steps`` rounds of the Poisson-sampled Gaussian.

    Args:
        noise_multiplier: noise stddev over L2 sensitivity, finite and
            >= NOISE_MULTIPLIER_FLOOR.
        sampling_rate: Poisson sampling rate ``q`` in ``(0, 1]``.
        steps: number of rounds ``T >= 0`` (self-composition).
        delta: target delta in ``(0, 1)``.
        accountant: ``"rdp"`` or ``"pld"``.

    Returns:
        The epsilon under add/remove-one neighbours.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if an argument is out of range.
    """
    return epsilon_of(_gaussian_run(noise_multiplier, sampling_rate, steps), delta=delta, accountant=accountant)


def delta(
    *, noise_multiplier: float, sampling_rate: float, steps: int, epsilon: float, accountant: str = "rdp"
) -> float:
    """Delta at ``epsilon`` of ``steps`` rounds of the Poisson-sampled Gaussian.

    Args:
        noise_multiplier: noise stddev over L2 sensitivity, finite and
            >= NOISE_MULTIPLIER_FLOOR.
        sampling_rate: Poisson sampling rate ``q`` in ``(0, 1]``.
        steps: number of rounds ``T >= 0``.
        epsilon: target epsilon, finite and >= 0.
        accountant: ``"rdp"`` or ``"pld"``.

    Returns:
        The delta under add/remove-one neighbours.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if an argument is out of range.
    """
    return delta_of(_gaussian_run(noise_multiplier, sampling_rate, steps), epsilon=epsilon, accountant=accountant)


def calibrate_noise(
    *,
    epsilon: float,
    delta: float,
    sampling_rate: float,
    steps: int,
    accountant: str = "rdp",
    rtol: float = 1e-5,
) -> float:
    """The smallest noise multiplier whose ``steps`` rounds stay within ``(epsilon, delta)``.

    Bisection over fresh accountants from :func:`make_accountant`: a
    geometric walk from a starting guess (1.0 for RDP; for PLD the RDP
    answer, since small multipliers are slow to evaluate under PLD) brackets
    the answer between a failing ``lo`` and a passing ``hi``, then the bracket
    is halved until ``hi - lo <= rtol * hi``. The *passing* end is returned,
    so the result never overshoots ``epsilon`` even where epsilon is not
    exactly monotone in the multiplier (PLD discretization).

    Args:
        epsilon: target epsilon, finite and > 0.
        delta: target delta in ``(0, 1)``.
        sampling_rate: Poisson sampling rate in ``(0, 1]``.
        steps: number of rounds, >= 1.
        accountant: ``"rdp"`` or ``"pld"``.
        rtol: relative width of the final bracket, in ``(0, 0.1]``.

    Returns:
        A noise multiplier ``z`` in ``[MIN_NOISE_MULTIPLIER, MAX_NOISE_MULTIPLIER]``
        with ``epsilon(z) <= epsilon``; it is within ``rtol`` (relative) of the
        smallest such value, or equals ``MIN_NOISE_MULTIPLIER`` when even that
        meets the target.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if an argument is out of range, or no noise multiplier up
            to ``MAX_NOISE_MULTIPLIER`` meets the target.
    """
    target = _check_epsilon(epsilon)
    if target <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    d = _check_delta(delta)
    q = _check_rate(sampling_rate)
    t = _check_steps(steps)
    if t < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    kind = _check_kind(accountant)
    if not _is_real(rtol) or not 0.0 < rtol <= 0.1:
        raise ValueError(f"rtol must be in (0, 0.1], got {rtol!r}")

    def meets(z: float) -> bool:
        run = _gaussian_run(z, q, t)
        if kind == "pld":
            rdp_eps = float(compose_event(make_accountant("rdp"), run).get_epsilon(d))
            if not rdp_eps <= PLD_MAX_EPSILON:  # too costly for PLD: count as failing (more noise, never less)
                return False
        return float(compose_event(make_accountant(kind), run).get_epsilon(d)) <= target

    # Start from a guess and walk geometrically: small multipliers are costly
    # for PLD, so the PLD search starts from the (cheap) RDP answer, which PLD
    # usually improves on by a few percent.
    guess = 1.0 if kind == "rdp" else calibrate_noise(epsilon=target, delta=d, sampling_rate=q, steps=t, rtol=1e-3)
    hi = guess
    if meets(hi):
        lo = hi
        while True:
            lo = max(0.8 * lo, MIN_NOISE_MULTIPLIER)
            if not meets(lo):
                break
            hi = lo
            if lo == MIN_NOISE_MULTIPLIER:
                return MIN_NOISE_MULTIPLIER
    else:
        lo = hi
        while not meets(hi):
            lo = hi
            hi *= 2.0
            if hi > MAX_NOISE_MULTIPLIER:
                raise ValueError(
                    f"no noise multiplier <= {MAX_NOISE_MULTIPLIER:g} reaches epsilon={target} at delta={d} "
                    f"(sampling_rate={q}, steps={t}, accountant={kind!r})"
                )
    while hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        if meets(mid):
            hi = mid
        else:
            lo = mid
    return hi


def ddp_epsilon(
    *,
    plan: DistributedDPPlan | DistributedNoiseDpEvent,
    sampling_rate: float,
    steps: int,
    delta: float,
    orders: Sequence[float] | None = None,
) -> tuple[float, float]:
    """Epsilon of ``steps`` Poisson-sampled rounds of a distributed discrete mechanism.

    Args:
        plan: a :class:`dp.distributed.DistributedDPPlan` or directly a
            :class:`~dp.ddp_rdp.DistributedNoiseDpEvent`.
        sampling_rate: client sampling rate ``q`` in ``(0, 1]``.
        steps: number of rounds ``T >= 0``.
        delta: target delta in ``(0, 1)``.
        orders: Rényi orders; defaults to :data:`RDP_ORDERS` (only its
            integer orders are usable).

    Returns:
        ``(epsilon, order)``: the smallest epsilon over the orders and the
        order that achieves it (``(0.0, nan)`` when ``steps == 0``).

    Raises:
        TypeError: if ``plan`` is neither a plan nor an event, or ``steps`` is not an int.
        ValueError: if a number is out of range.
        UnsupportedEventError: if no usable (integer) order is given.
    """
    event = plan if isinstance(plan, DistributedNoiseDpEvent) else event_from_plan(plan)
    if not _is_int(steps) or steps < 0:
        raise (TypeError if not _is_int(steps) else ValueError)(f"steps must be an int >= 0, got {steps!r}")
    if not _is_real(delta) or not 0.0 < delta < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    chosen = RDP_ORDERS if orders is None else orders
    if steps == 0:
        return 0.0, float("nan")
    curve = rdp_curve(event, sampling_rate=sampling_rate, orders=chosen)
    if not np.isfinite(curve).any():
        raise UnsupportedEventError("no integer Rényi order >= 2 among the orders: cannot bound the DDP event")
    eps, order = rdp_privacy_accountant.compute_epsilon(list(chosen), list(curve * steps), delta)
    return float(eps), float(order)
