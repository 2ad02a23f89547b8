"""The settings of secure aggregation in a Flower run, read from the run config.

The ServerApp and every ClientApp read the same ``[tool.flwr.app.config]``
(overridable with ``flwr run --run-config``), so both sides derive the same
encoding from it; the server still sends the round parameters it chose and
each client checks them against its own reading.

Keys (all optional; ``secagg-`` for the protocol and encoding, ``dp-`` for
distributed DP)::

    secagg-clip             per-coordinate bound of a model update (default 1.0)
    secagg-precision        largest quantisation step of an update (default clip / 2**16)
    secagg-max-examples     the largest num-examples a client may report (default 100000)
    secagg-metric-clip      bound of each reported metric value (default 1000.0)
    secagg-metric-precision quantisation step of metrics (default 1e-3)
    secagg-weighted-by-key  the MetricRecord key holding num-examples (default "num-examples")
    secagg-dropout-rate     the dropout rate the parameter finder plans for (default 0.3)
    secagg-threat           "semi-honest" (default) or "semi-malicious" (a server that may lie
                            about dropouts); a node refuses a round of a weaker model than its own
    secagg-threshold        Shamir threshold t (with secagg-neighbors; default: the finder's)
    secagg-neighbors        neighbours k (with secagg-threshold; default: the finder's)
    secagg-min-contributors the fewest inputs a sum may hold (default: the threshold)
    secagg-stage-timeout    seconds the server waits for one key or unmasking stage (default 60)
    secagg-train-timeout    seconds it waits for the masked inputs, training included
                            (default: the strategy's timeout)
    secagg-poll-interval    seconds between the server's pulls for replies (default 0.1)
    dp-noise-multiplier     turns distributed DP (Skellam) on when > 0 (default 0: off)
    dp-l2-clip              L2 clipping norm of a client's update (default 1.0)
    dp-min-clients          the fewest contributors the noise is calibrated to (required with DP)
    dp-bits                 modulus bits of the DP encoding (default 20)
    dp-mechanism            "skellam" (default) or "dgauss"
    dp-epsilon, dp-delta    the run's privacy budget (required with DP)
    dp-sampling-rate        client sampling rate used by the accountant (default 1.0:
                            no amplification by sampling is claimed)
    dp-ledger               path of a ledger file to load and save on the server
                            (default: a ledger kept in memory for this run)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

__all__ = ["DistributedDPSettings", "SecAggSettings"]

_DEFAULT_STAGE_TIMEOUT = 60.0


def _get(cfg: Mapping[str, object], key: str, default, kind):
    value = cfg.get(key, default)
    if value is None:
        return None
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"run config {key!r} must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"run config {key!r} must be finite, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"run config {key!r} must be an integer, got {value!r}")
        return int(value)
    if not isinstance(value, str):
        raise TypeError(f"run config {key!r} must be a string, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DistributedDPSettings:
    """Distributed discrete noise added by the clients, accounted on the server.

    Attributes:
        noise_multiplier: stddev of the summed noise over ``min_clients``
            clients, in units of ``l2_clip``; > 0.
        l2_clip: L2 clipping norm of one client's update; > 0.
        min_clients: the fewest contributors the noise is calibrated to; the
            secure sum refuses fewer (``min_contributors``).
        bits: modulus bits of the encoding, 2..62.
        mechanism: ``"skellam"`` or ``"dgauss"``.
        epsilon, delta: the privacy budget of the run.
        sampling_rate: the client-sampling rate the accountant assumes, in (0, 1].
        ledger_path: a ledger file to load (if present) and save after each
            charge, or ``None`` for an in-memory ledger.

    Raises:
        ValueError: a value out of range (the message names it).
    """

    noise_multiplier: float
    l2_clip: float
    min_clients: int
    bits: int
    mechanism: str
    epsilon: float
    delta: float
    sampling_rate: float
    ledger_path: str | None

    def __post_init__(self) -> None:
        if not self.noise_multiplier > 0 or not self.l2_clip > 0:
            raise ValueError("dp-noise-multiplier and dp-l2-clip must be > 0")
        if self.min_clients < 2:
            raise ValueError(f"dp-min-clients must be >= 2, got {self.min_clients}")
        if not 2 <= self.bits <= 62:
            raise ValueError(f"dp-bits must be in [2, 62], got {self.bits}")
        if self.mechanism not in ("skellam", "dgauss"):
            raise ValueError(f"dp-mechanism must be 'skellam' or 'dgauss', got {self.mechanism!r}")
        if not self.epsilon > 0 or not 0 < self.delta < 1:
            raise ValueError(f"dp-epsilon must be > 0 and dp-delta in (0, 1), got {self.epsilon}, {self.delta}")
        if not 0 < self.sampling_rate <= 1:
            raise ValueError(f"dp-sampling-rate must be in (0, 1], got {self.sampling_rate}")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SecAggSettings:
    """Everything both sides must agree on, plus the server's timing knobs.

    Build it with :meth:`from_run_config`; see the module docstring for the keys.

    Attributes:
        clip: per-coordinate bound of an update (fixed-point path).
        precision: the largest quantisation step of an update.
        max_examples: the largest num-examples a client may report.
        metric_clip: bound of each metric value.
        metric_precision: quantisation step of metrics.
        weighted_by_key: the MetricRecord key holding num-examples.
        dropout_rate: the dropout rate the parameter finder plans for.
        threat: ``"semi-honest"`` or ``"semi-malicious"``.
        threshold, neighbors: explicit t and k, or ``None`` for the finder's.
        min_contributors: the fewest inputs a sum may hold, or ``None``.
        stage_timeout: seconds per key or unmasking stage.
        train_timeout: seconds for the masked-input stage, or ``None`` for the
            strategy's timeout.
        poll_interval: seconds between pulls for replies.
        dp: the distributed-DP settings, or ``None`` when DP is off.

    Raises:
        ValueError: a value out of range (the message names the key).
    """

    clip: float = 1.0
    precision: float | None = None
    max_examples: int = 100_000
    metric_clip: float = 1000.0
    metric_precision: float = 1e-3
    weighted_by_key: str = "num-examples"
    dropout_rate: float = 0.3
    threat: str = "semi-honest"
    threshold: int | None = None
    neighbors: int | None = None
    min_contributors: int | None = None
    stage_timeout: float = _DEFAULT_STAGE_TIMEOUT
    train_timeout: float | None = None
    poll_interval: float = 0.1
    dp: DistributedDPSettings | None = None

    def __post_init__(self) -> None:
        for name in ("clip", "metric_clip", "metric_precision", "stage_timeout", "poll_interval"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name.replace('_', '-')} must be > 0, got {getattr(self, name)}")
        if self.precision is not None and not self.precision > 0:
            raise ValueError(f"secagg-precision must be > 0, got {self.precision}")
        if self.train_timeout is not None and not self.train_timeout > 0:
            raise ValueError(f"secagg-train-timeout must be > 0, got {self.train_timeout}")
        if not 1 <= self.max_examples <= 2**40:
            raise ValueError(f"secagg-max-examples must be in [1, 2**40], got {self.max_examples}")
        if not 0 <= self.dropout_rate < 1:
            raise ValueError(f"secagg-dropout-rate must be in [0, 1), got {self.dropout_rate}")
        if (self.threshold is None) != (self.neighbors is None):
            raise ValueError("give both secagg-threshold and secagg-neighbors, or neither")
        if self.threat not in ("semi-honest", "semi-malicious"):
            raise ValueError(
                f"secagg-threat must be 'semi-honest' or 'semi-malicious', got {self.threat!r} (the active model "
                "needs a PKI of long-term signing keys, which this adapter does not set up)"
            )
        if not self.weighted_by_key:
            raise ValueError("secagg-weighted-by-key must not be empty")

    @property
    def update_precision(self) -> float:
        """The quantisation step of updates: ``precision`` or ``clip / 2**16``."""
        return self.precision if self.precision is not None else self.clip / 2**16

    @classmethod
    def from_run_config(cls, cfg: Mapping[str, object]) -> SecAggSettings:
        """Read the ``secagg-*`` and ``dp-*`` keys of a Flower run config.

        Args:
            cfg: ``context.run_config`` (unknown keys are ignored: they belong
                to the app).

        Returns:
            The validated settings.

        Raises:
            TypeError: a key holds a value of the wrong type.
            ValueError: a value out of range, or DP turned on without
                ``dp-min-clients``, ``dp-epsilon`` and ``dp-delta``.
        """
        nm = _get(cfg, "dp-noise-multiplier", 0.0, float)
        dp = None
        if nm > 0:
            missing = [k for k in ("dp-min-clients", "dp-epsilon", "dp-delta") if k not in cfg]
            if missing:
                raise ValueError(f"distributed DP (dp-noise-multiplier > 0) needs {', '.join(missing)} in the run config")
            ledger = _get(cfg, "dp-ledger", "", str)
            dp = DistributedDPSettings(
                noise_multiplier=nm,
                l2_clip=_get(cfg, "dp-l2-clip", 1.0, float),
                min_clients=_get(cfg, "dp-min-clients", None, int),
                bits=_get(cfg, "dp-bits", 20, int),
                mechanism=_get(cfg, "dp-mechanism", "skellam", str),
                epsilon=_get(cfg, "dp-epsilon", None, float),
                delta=_get(cfg, "dp-delta", None, float),
                sampling_rate=_get(cfg, "dp-sampling-rate", 1.0, float),
                ledger_path=ledger or None,
            )
        return cls(
            clip=_get(cfg, "secagg-clip", 1.0, float),
            precision=_get(cfg, "secagg-precision", None, float),
            max_examples=_get(cfg, "secagg-max-examples", 100_000, int),
            metric_clip=_get(cfg, "secagg-metric-clip", 1000.0, float),
            metric_precision=_get(cfg, "secagg-metric-precision", 1e-3, float),
            weighted_by_key=_get(cfg, "secagg-weighted-by-key", "num-examples", str),
            dropout_rate=_get(cfg, "secagg-dropout-rate", 0.3, float),
            threat=_get(cfg, "secagg-threat", "semi-honest", str),
            threshold=_get(cfg, "secagg-threshold", None, int),
            neighbors=_get(cfg, "secagg-neighbors", None, int),
            min_contributors=_get(cfg, "secagg-min-contributors", None, int),
            stage_timeout=_get(cfg, "secagg-stage-timeout", _DEFAULT_STAGE_TIMEOUT, float),
            train_timeout=_get(cfg, "secagg-train-timeout", None, float),
            poll_interval=_get(cfg, "secagg-poll-interval", 0.1, float),
            dp=dp,
        )
