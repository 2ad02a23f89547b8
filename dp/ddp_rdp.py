"""Rényi-DP curves of the distributed discrete mechanisms, and their event.

dp-accounting has no ``DpEvent`` for a secure sum of per-client discrete
noise, so this module supplies one (:class:`DistributedNoiseDpEvent`) and
the papers' RDP bounds for it at integer orders: the distributed discrete
Gaussian (Kairouz, Liu, Steinke, ICML 2021, Theorem 1), Skellam (Agarwal,
Kairouz, Liu, NeurIPS 2021), and Zhu & Wang's general bound for Poisson
sampling of clients (ICML 2019). The formulas, their evaluation (the ``tau``
series, once per event) and the three assumptions every epsilon here rests
on -- at least ``clients`` noise shares in every sum, a client's noise present
in both neighbouring worlds, and (for ``q < 1``) participation hidden from
whoever the guarantee is towards, so use ``sampling_rate=1`` against the
secure-aggregation server -- are in SPEC chapter 40, sections 40.4 to 40.6.

>>> ev = DistributedNoiseDpEvent(mechanism="skellam", clients=10, local_variance=100.0,
...                              l2_sensitivity=10.0, l1_sensitivity=100.0, dim=64)
>>> curve = rdp_curve(ev, sampling_rate=1.0, orders=[2.0, 2.5])
>>> round(float(curve[0]), 6), bool(curve[1] == float("inf"))
(0.100225, True)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import attr
import dp_accounting
import numpy as np
from scipy import special

from dp._checks import is_int as _is_int
from dp._checks import is_real as _is_real

if TYPE_CHECKING:  # pragma: no cover - typing only; dp.distributed is not imported at run time
    from dp.distributed import DistributedDPPlan

__all__ = [
    "DDP_MECHANISMS",
    "MAX_ORDER",
    "DistributedNoiseDpEvent",
    "ddg_rdp",
    "ddg_tau",
    "event_from_plan",
    "joint_rdp_curve",
    "poisson_subsampled_rdp",
    "rdp_curve",
    "skellam_rdp",
]

DDP_MECHANISMS = ("skellam", "dgauss")

#: Largest integer order evaluated (the subsampling sum has ``a`` terms).
MAX_ORDER = 1 << 14


def _positive_finite(name: str, value: object) -> None:
    if not _is_real(value):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")


@attr.s(frozen=True, slots=True, auto_attribs=True)
class DistributedNoiseDpEvent(dp_accounting.DpEvent):
    """One release of a secure sum carrying distributed discrete noise.

    The released value is ``sum_i (x_i + Z_i)`` over at least ``clients``
    clients, where ``x_i`` is client ``i``'s integer vector in ``Z^dim`` (L2
    norm at most ``l2_sensitivity``, L1 norm at most ``l1_sensitivity``) and
    ``Z_i`` its noise: per coordinate, the discrete Gaussian ``N_Z(0, s^2)``
    with ``s^2 = local_variance`` (``mechanism="dgauss"``), or Skellam with
    variance ``local_variance`` (``mechanism="skellam"``). Modular reduction
    of the sum is post-processing. The RDP bounds are in the module
    docstring. Wrap it in ``PoissonSampledDpEvent`` for client sampling.

    Attributes:
        mechanism: ``"skellam"`` or ``"dgauss"``.
        clients: the minimum number of noise shares in the sum (``n``).
        local_variance: per-client, per-coordinate noise variance (integer units).
        l2_sensitivity: L2 bound of one client's contribution (integer units).
        l1_sensitivity: L1 bound of one client's contribution (integer units).
        dim: number of noised coordinates (the padded dimension).

    Raises:
        TypeError: if a field has the wrong type.
        ValueError: if a field is out of range (the message quotes it).
    """

    mechanism: str
    clients: int
    local_variance: float
    l2_sensitivity: float
    l1_sensitivity: float
    dim: int

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.mechanism, str):
            raise TypeError(f"mechanism must be a str, got {type(self.mechanism).__name__}")
        if self.mechanism not in DDP_MECHANISMS:
            raise ValueError(f"mechanism must be one of {DDP_MECHANISMS}, got {self.mechanism!r}")
        for name in ("clients", "dim"):
            value = getattr(self, name)
            if not _is_int(value):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        for name in ("local_variance", "l2_sensitivity", "l1_sensitivity"):
            _positive_finite(name, getattr(self, name))

    @property
    def total_variance(self) -> float:
        """The summed per-coordinate noise variance ``clients * local_variance``."""
        return self.clients * float(self.local_variance)


def _check_order(order: object) -> int:
    if not _is_real(order) or not float(order).is_integer():
        raise ValueError(f"order must be an integer >= 2, got {order!r}")
    a = int(order)
    if not 2 <= a <= MAX_ORDER:
        raise ValueError(f"order must be an integer in [2, {MAX_ORDER}], got {order!r}")
    return a


def ddg_tau(*, clients: int, local_variance: float) -> float:
    """The distributed discrete Gaussian's closeness term (DDG Theorem 1).

    ``tau = 10 * sum_{k=1}^{n-1} exp(-2 pi^2 sigma^2 k / (k+1))``.

    Args:
        clients: ``n >= 1``.
        local_variance: ``sigma^2 > 0``.

    Returns:
        ``tau`` (0.0 when ``n == 1``).

    Raises:
        TypeError: if ``clients`` or ``local_variance`` is not a number (from
            NumPy). Nothing else: neither argument is validated (callers such
            as :func:`ddg_rdp` check the event). ``clients <= 1`` gives 0.0, a
            non-integer ``clients`` sums over ``k = 1, 2, ... < clients``, and
            a negative ``local_variance`` can overflow to ``inf`` with a
            NumPy ``RuntimeWarning``; NaN gives NaN.
    """
    if _is_int(clients) and _is_real(local_variance) and math.isfinite(local_variance) and local_variance >= 0.25:
        return _tau(int(clients), float(local_variance))
    return _tau_direct(clients, local_variance)


#: Up to this many terms ``ddg_tau`` sums directly; beyond, the tail is a series.
TAU_DIRECT_TERMS = 4096


def _tau_direct(clients: object, local_variance: object) -> float:
    k = np.arange(1, clients, dtype=np.float64)
    return float(10.0 * np.sum(np.exp(-2.0 * math.pi**2 * local_variance * k / (k + 1.0))))


@functools.lru_cache(maxsize=4096)
def _tau(n: int, variance: float) -> float:
    """``ddg_tau`` in time independent of ``n`` (SPEC, chapter 40, "Loading a ledger").

    With ``c = 2 pi^2 sigma^2`` and ``j = k + 1``, the terms are
    ``exp(-c) exp(c / j)``. The first ``J`` are summed directly; for the tail
    ``sum_{j=J+1}^{n} exp(c/j) = sum_m c^m/m! S_m`` with ``S_0 = n - J``,
    ``S_1 = psi(n+1) - psi(J+1)`` and ``S_m = zeta(m, J+1) - zeta(m, n+1)``;
    ``J >= 4c`` makes the series converge geometrically (ratio <= 1/4).
    """
    c = 2.0 * math.pi**2 * variance
    if n <= 1 or c > 1500.0:  # every term is below exp(-c/2) < 1e-325: exactly 0.0 in float64
        return 0.0
    cut = max(TAU_DIRECT_TERMS, math.ceil(4.0 * c))
    if n - 1 <= cut:
        return _tau_direct(n, variance)
    head = _tau_direct(cut, variance)  # k = 1 .. cut-1, i.e. j = 2 .. cut
    series = float(n - cut) + c * float(special.digamma(n + 1) - special.digamma(cut + 1))
    term_scale = c
    for m in range(2, 80):
        term_scale *= c / m
        term = term_scale * float(special.zeta(m, cut + 1) - special.zeta(m, n + 1))
        series += term
        if term <= 1e-18 * series:
            break
    return head + 10.0 * math.exp(-c + math.log(series))


def ddg_rdp(order: float, event: DistributedNoiseDpEvent, *, relation_factor: float = 1.0) -> float:
    """RDP at ``order`` of one distributed discrete Gaussian release (DDG Theorem 1).

    Args:
        order: the Rényi order, an integer ``>= 2``.
        event: a ``"dgauss"`` :class:`DistributedNoiseDpEvent`.
        relation_factor: multiplies the sensitivities (2 for replace-one).

    Returns:
        ``min(a D2^2/(2 n s^2) + tau d, a/2 (D2/sqrt(n s^2) + tau sqrt(d))^2)``.

    Raises:
        ValueError: if ``order`` is not an integer in ``[2, MAX_ORDER]``, the
            event is not ``"dgauss"``, or ``local_variance < 1/4`` (we refuse
            per-client noise below half an integer step: a conservative guard).
    """
    a = _check_order(order)
    if event.mechanism != "dgauss":
        raise ValueError(f"ddg_rdp needs a 'dgauss' event, got {event.mechanism!r}")
    if event.local_variance < 0.25:
        raise ValueError(f"local_variance must be >= 1/4 for the DDG bound, got {event.local_variance}")
    tau = ddg_tau(clients=event.clients, local_variance=event.local_variance)
    d2 = relation_factor * event.l2_sensitivity
    total = event.total_variance
    first = a * d2 * d2 / (2.0 * total) + tau * event.dim
    second = 0.5 * a * (d2 / math.sqrt(total) + tau * math.sqrt(event.dim)) ** 2
    return min(first, second)


def skellam_rdp(order: float, event: DistributedNoiseDpEvent, *, relation_factor: float = 1.0) -> float:
    """RDP at ``order`` of one multi-dimensional Skellam release (Agarwal, Kairouz, Liu 2021).

    Args:
        order: the Rényi order, an integer ``>= 2``.
        event: a ``"skellam"`` :class:`DistributedNoiseDpEvent`.
        relation_factor: multiplies the sensitivities (2 for replace-one).

    Returns:
        ``a D2^2/(2 mu) + min(((2a-1) D2^2 + 6 D1)/(4 mu^2), 3 D1/(2 mu))``
        with ``mu = clients * local_variance``.

    Raises:
        ValueError: if ``order`` is not an integer in ``[2, MAX_ORDER]`` or the
            event is not ``"skellam"``.
    """
    a = _check_order(order)
    if event.mechanism != "skellam":
        raise ValueError(f"skellam_rdp needs a 'skellam' event, got {event.mechanism!r}")
    d2 = relation_factor * event.l2_sensitivity
    d1 = relation_factor * event.l1_sensitivity
    mu = event.total_variance
    return a * d2 * d2 / (2.0 * mu) + min(((2 * a - 1) * d2 * d2 + 6.0 * d1) / (4.0 * mu * mu), 3.0 * d1 / (2.0 * mu))


def _base_rdp(event: DistributedNoiseDpEvent, relation_factor: float) -> Callable[[int], float]:
    fn = ddg_rdp if event.mechanism == "dgauss" else skellam_rdp
    return lambda a: fn(a, event, relation_factor=relation_factor)


def poisson_subsampled_rdp(order: float, sampling_rate: float, base_rdp: Callable[[int], float]) -> float:
    """Zhu & Wang's general RDP bound for a Poisson-subsampled mechanism (ICML 2019).

    Valid for any mechanism whose RDP at integer orders ``l`` is bounded by
    ``base_rdp(l)``, under add/remove-one neighbours. Computed in log space.

    Args:
        order: an integer ``a >= 2``.
        sampling_rate: ``q`` in ``(0, 1]``; ``q == 1`` returns ``base_rdp(a)``.
        base_rdp: the mechanism's RDP bound, called at ``l = 2..a``.

    Returns:
        ``min(eps'(a), base_rdp(a))`` with ``eps'`` the bound of SPEC section 40.6.

    Raises:
        ValueError: if ``order`` is not an integer in ``[2, MAX_ORDER]`` or
            ``sampling_rate`` is not in ``(0, 1]``.
    """
    a = _check_order(order)
    if not _is_real(sampling_rate) or not 0.0 < sampling_rate <= 1.0:
        raise ValueError(f"sampling_rate must be in (0, 1], got {sampling_rate!r}")
    unamplified = float(base_rdp(a))
    if sampling_rate == 1.0:
        return unamplified
    q = float(sampling_rate)
    log_q, log_1mq = math.log(q), math.log1p(-q)
    ls = np.arange(2, a + 1)
    eps_l = np.array([base_rdp(int(l)) for l in ls], dtype=np.float64)
    log_binom = special.gammaln(a + 1) - special.gammaln(ls + 1) - special.gammaln(a - ls + 1)
    terms = log_binom + ls * log_q + (a - ls) * log_1mq + (ls - 1) * eps_l
    terms[1:] += math.log(3.0)  # l >= 3 carry the factor 3
    head = (a - 1) * log_1mq + math.log(a * q - q + 1.0)
    log_total = special.logsumexp(np.concatenate(([head], terms)))
    return min(float(log_total) / (a - 1), unamplified)


def rdp_curve(
    event: DistributedNoiseDpEvent, *, sampling_rate: float, orders: Sequence[float], relation_factor: float = 1.0
) -> np.ndarray:
    """Per-round RDP of ``event`` under Poisson sampling at each of ``orders``.

    Non-integer orders (and orders below 2) get ``inf``: the subsampling bound
    holds only at integer orders, so they are simply not used.

    Args:
        event: the per-round release.
        sampling_rate: client sampling rate ``q`` in ``(0, 1]``.
        orders: Rényi orders (e.g. the accountant's).
        relation_factor: multiplies the sensitivities (2 for replace-one).

    Returns:
        A float64 array, one RDP value per order.

    Raises:
        TypeError: if ``event`` is not a :class:`DistributedNoiseDpEvent`.
        ValueError: if ``sampling_rate`` is not in ``(0, 1]``.
    """
    if not isinstance(event, DistributedNoiseDpEvent):
        raise TypeError(f"event must be a DistributedNoiseDpEvent, got {type(event).__name__}")
    if not _is_real(sampling_rate) or not 0.0 < sampling_rate <= 1.0:
        raise ValueError(f"sampling_rate must be in (0, 1], got {sampling_rate!r}")
    return joint_rdp_curve((event,), sampling_rate=sampling_rate, orders=orders, relation_factor=relation_factor)


def joint_rdp_curve(
    events: Sequence[DistributedNoiseDpEvent],
    *,
    sampling_rate: float,
    orders: Sequence[float],
    relation_factor: float = 1.0,
) -> np.ndarray:
    """Per-round RDP of several distributed-noise releases of the *same* Poisson sample.

    The releases' curves add at every order (composition), and the
    subsampling bound is applied once, to the sum (the sample is shared, as
    for an update and its clip indicator, SPEC section 40.12).

    Args:
        events: one or more releases.
        sampling_rate: client sampling rate ``q`` in ``(0, 1]``.
        orders: Rényi orders.
        relation_factor: multiplies the sensitivities (2 for replace-one).

    Returns:
        A float64 array, one RDP value per order (``inf`` at non-integer orders).

    Raises:
        TypeError: if an event is not a :class:`DistributedNoiseDpEvent`.
        ValueError: if ``events`` is empty or ``sampling_rate`` is not in ``(0, 1]``.
    """
    events = tuple(events)
    if not events:
        raise ValueError("events must not be empty")
    for event in events:
        if not isinstance(event, DistributedNoiseDpEvent):
            raise TypeError(f"event must be a DistributedNoiseDpEvent, got {type(event).__name__}")
    if not _is_real(sampling_rate) or not 0.0 < sampling_rate <= 1.0:
        raise ValueError(f"sampling_rate must be in (0, 1], got {sampling_rate!r}")
    ints = [int(o) for o in orders if float(o).is_integer() and 2 <= o <= MAX_ORDER]
    out = np.full(len(orders), np.inf, dtype=np.float64)
    if not ints:
        return out
    eps = sum(_base_array(e, relation_factor, max(ints)) for e in events)  # eps[l - 2] = eps(l), computed once
    q = float(sampling_rate)
    for i, order in enumerate(orders):
        if float(order).is_integer() and 2 <= order <= MAX_ORDER:
            out[i] = _subsampled(int(order), q, eps)
    return out


def _base_array(event: DistributedNoiseDpEvent, relation_factor: float, top: int) -> np.ndarray:
    """``[eps(2), ..., eps(top)]``: :func:`ddg_rdp` / :func:`skellam_rdp` at every integer order, vectorised."""
    a = np.arange(2, top + 1, dtype=np.float64)
    d2 = relation_factor * event.l2_sensitivity
    if event.mechanism == "dgauss":
        ddg_rdp(2, event, relation_factor=relation_factor)  # the scalar function's checks
        tau = ddg_tau(clients=event.clients, local_variance=event.local_variance)
        total = event.total_variance
        first = a * d2 * d2 / (2.0 * total) + tau * event.dim
        second = 0.5 * a * (d2 / math.sqrt(total) + tau * math.sqrt(event.dim)) ** 2
        return np.minimum(first, second)
    d1 = relation_factor * event.l1_sensitivity
    mu = event.total_variance
    return a * d2 * d2 / (2.0 * mu) + np.minimum(((2 * a - 1) * d2 * d2 + 6.0 * d1) / (4.0 * mu * mu), 3.0 * d1 / (2.0 * mu))


def _subsampled(a: int, q: float, eps: np.ndarray) -> float:
    """:func:`poisson_subsampled_rdp` at order ``a`` from the precomputed ``eps`` array."""
    unamplified = float(eps[a - 2])
    if q == 1.0:
        return unamplified
    log_q, log_1mq = math.log(q), math.log1p(-q)
    ls = np.arange(2, a + 1, dtype=np.float64)
    log_binom = special.gammaln(a + 1) - special.gammaln(ls + 1) - special.gammaln(a - ls + 1)
    terms = log_binom + ls * log_q + (a - ls) * log_1mq + (ls - 1) * eps[: a - 1]
    terms[1:] += math.log(3.0)  # l >= 3 carry the factor 3
    head = (a - 1) * log_1mq + math.log(a * q - q + 1.0)
    every = np.concatenate(([head], terms))
    top = float(np.max(every))
    if not math.isfinite(top):
        return min(top, unamplified)
    log_total = top + math.log(float(np.sum(np.exp(every - top))))
    return min(log_total / (a - 1), unamplified)


def event_from_plan(plan: DistributedDPPlan) -> DistributedNoiseDpEvent:
    """The per-round event of a :class:`dp.distributed.DistributedDPPlan`.

    Args:
        plan: the plan (read duck-typed: ``config.mechanism``,
            ``config.min_clients``, ``local_variance``, ``l2_sensitivity``,
            ``l1_sensitivity``, ``padded_dim``).

    Returns:
        The :class:`DistributedNoiseDpEvent` of one unsampled round.

    Raises:
        TypeError: if ``plan`` lacks those fields or they have the wrong type.
        ValueError: if a field is out of range.
    """
    try:
        cfg = plan.config
        return DistributedNoiseDpEvent(
            mechanism=cfg.mechanism,
            clients=cfg.min_clients,
            local_variance=plan.local_variance,
            l2_sensitivity=plan.l2_sensitivity,
            l1_sensitivity=plan.l1_sensitivity,
            dim=plan.padded_dim,
        )
    except AttributeError as exc:
        raise TypeError(f"plan must be a DistributedDPPlan, got {type(plan).__name__}") from exc
