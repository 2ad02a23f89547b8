"""The federated loop: sample a cohort, train locally, aggregate through an arm, evaluate.

All arms see the same data split, the same cohorts, the same dropout
schedule and the same local-training randomness (``Config.seed``); the
cryptographic randomness (keys, masks, DP noise, rotation seeds) comes from
the OS CSPRNG, as everywhere in the library.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from typing import Callable

import numpy as np

import secagg
from dp import PrivacyLedger, calibrate_noise
from dp.accounting import ddp_epsilon

from . import arms as A
from . import report
from .data import Dataset, dirichlet_split, load_digits, load_mnist1d
from .models import MLP, LogisticRegression, accuracy, local_sgd

PHASES = tuple(secagg.Phase)


@dataclasses.dataclass(frozen=True)
class Config:
    """One experiment. The defaults are the issue's digits setting."""

    name: str = "digits-logreg"
    dataset: str = "digits"            # "digits" or "mnist1d"
    model: str = "logreg"              # "logreg" or "mlp"
    clients: int = 100
    sampling_rate: float = 0.2         # Poisson: each client joins a round with this probability
    rounds: int = 40
    alpha: float = 0.5                 # Dirichlet label skew
    dropout_rate: float = 0.05         # a sampled client vanishes with this probability, at a random phase
    clip: float = 1.0                  # per-client L2 clip (every arm)
    bits: int = 20                     # modulus of the distributed-DP secure sum
    noise_multipliers: tuple[float, ...] = (1.0, 2.0)
    min_clients: int = 14              # distributed noise is calibrated to this many; fewer abort the round
    delta: float = 1e-5
    local_epochs: int = 10
    batch: int = 16
    lr: float = 0.5
    server_lr: float = 0.5
    server_momentum: float = 0.5       # FedAvgM: w += server_lr * (m = momentum * m + mean update)
    hidden: int = 32
    samples: int = 5000                # MNIST-1D only: how many sequences to generate
    seed: int = 0

    @property
    def expected_clients(self) -> float:
        return self.sampling_rate * self.clients


@dataclasses.dataclass(frozen=True)
class Round:
    """One round's cohort (client indices) and its dropouts ``{position + 1: Phase}``."""

    cohort: tuple[int, ...]
    dropouts: dict[int, secagg.Phase]


def make_schedule(cfg: Config) -> list[Round]:
    """Poisson-sampled cohorts and random-phase dropouts, fixed by ``cfg.seed``."""
    rng = np.random.default_rng([cfg.seed, 1])
    out = []
    for _ in range(cfg.rounds):
        cohort = tuple(int(i) for i in np.flatnonzero(rng.random(cfg.clients) < cfg.sampling_rate))
        drops = {pos + 1: PHASES[int(rng.integers(len(PHASES)))]
                 for pos in range(len(cohort)) if rng.random() < cfg.dropout_rate}
        out.append(Round(cohort, drops))
    return out


def make_task(cfg: Config):
    """``(data, model, client index arrays)`` for ``cfg``."""
    data: Dataset = load_digits(cfg.seed) if cfg.dataset == "digits" else load_mnist1d(cfg.samples)
    features = data.x.shape[1]
    model = LogisticRegression(features, data.classes) if cfg.model == "logreg" else MLP(features, cfg.hidden, data.classes)
    parts = dirichlet_split(data.y, cfg.clients, cfg.alpha, np.random.default_rng([cfg.seed, 0]))
    return data, model, parts


def make_arms(cfg: Config, dim: int) -> list[A.Arm]:
    """Plain FedAvg, SecAgg+, distributed Skellam per noise level, adaptive clip, central Gaussian at each same epsilon.

    Each DP arm gets its own ledger whose budget is the epsilon of exactly
    ``cfg.rounds`` rounds: one more round would raise ``BudgetExceededError``.
    """
    common = dict(clip=cfg.clip, expected_clients=cfg.expected_clients)
    out: list[A.Arm] = [A.Plain("plain FedAvg", **common), A.SecAgg("SecAgg+", **common)]
    central = []
    for z in cfg.noise_multipliers:
        ddp = dict(noise_multiplier=z, bits=cfg.bits, dim=dim, min_clients=cfg.min_clients,
                   max_clients=cfg.clients, sampling_rate=cfg.sampling_rate)
        probe = A.DistributedDP("probe", ledger=None, **common, **ddp).plan()
        eps, _ = ddp_epsilon(plan=probe, sampling_rate=cfg.sampling_rate, steps=cfg.rounds, delta=cfg.delta)
        budget = eps * (1 + 1e-9)
        out.append(A.DistributedDP(f"SecAgg+ Skellam z={z:g}", **common, **ddp,
                                   ledger=PrivacyLedger(epsilon=budget, delta=cfg.delta)))
        zc = calibrate_noise(epsilon=eps, delta=cfg.delta, sampling_rate=cfg.sampling_rate, steps=cfg.rounds)
        central.append(A.CentralDP(f"central Gaussian z={zc:.3g}", **common, noise_multiplier=zc,
                                   sampling_rate=cfg.sampling_rate, ledger=PrivacyLedger(epsilon=budget, delta=cfg.delta)))
    z = cfg.noise_multipliers[0]
    adaptive = A.AdaptiveDistributedDP(f"SecAgg+ Skellam adaptive clip z={z:g}", **common, noise_multiplier=z,
                                       bits=cfg.bits, dim=dim, min_clients=cfg.min_clients, max_clients=cfg.clients,
                                       sampling_rate=cfg.sampling_rate, ledger=None)
    eps = adaptive.epsilon(sampling_rate=cfg.sampling_rate, steps=cfg.rounds, delta=cfg.delta)
    adaptive.ledger = PrivacyLedger(epsilon=eps * (1 + 1e-9), delta=cfg.delta)
    return out + [adaptive] + central


def run_arm(cfg: Config, task, arm: A.Arm, schedule: list[Round], log: Callable[[str], None] = print) -> list[dict]:
    """Train from the same initial model through ``arm``; one metrics row (and log line) per round."""
    data, model, parts = task
    w = model.init(np.random.default_rng([cfg.seed, 2]))
    velocity = np.zeros_like(w)
    rows = []
    for t, rnd in enumerate(schedule, 1):
        start = time.perf_counter()
        updates = [local_sgd(model, w, data.x[parts[c]], data.y[parts[c]], epochs=cfg.local_epochs, batch=cfg.batch,
                             lr=cfg.lr, rng=np.random.default_rng([cfg.seed, t, c])) for c in rnd.cohort]
        agg = arm.aggregate(updates, rnd.dropouts) if len(updates) >= 2 else A.Aggregate(None, 0, None, 0.0, 0)
        if agg.mean is not None:
            velocity = cfg.server_momentum * velocity + agg.mean
            w = w + cfg.server_lr * velocity
        acc = accuracy(model, w, data.x_test, data.y_test)
        row = dict(arm=arm.name, round=t, accuracy=acc, epsilon=agg.epsilon, cohort=len(rnd.cohort),
                   included=agg.included, aborted=agg.mean is None, agg_seconds=agg.seconds,
                   round_seconds=time.perf_counter() - start, bytes=agg.bytes)
        rows.append(row)
        eps = "    -" if agg.epsilon is None else f"{agg.epsilon:5.2f}"
        note = " ABORTED (too few survivors), model unchanged" if agg.mean is None else ""
        log(f"{arm.name:<28} round {t:>3}/{cfg.rounds}  acc {acc:.3f}  eps {eps}  {agg.seconds:6.3f} s  "
            f"{agg.bytes / 1e3:7.1f} kB  sum of {agg.included:>2}/{len(rnd.cohort):>2}{note}")
    return rows


def run(cfg: Config, out: str | pathlib.Path | None = None, log: Callable[[str], None] = print) -> dict:
    """Train every arm of ``cfg`` on the same schedule; write ``out/`` (metrics.csv, summary.json, PNGs).

    Returns:
        The summary: ``config``, ``arms`` (per arm: accuracy, epsilon,
        epsilon_vs_server, delta, seconds, bytes, rounds, aborted) and ``seconds``.
    """
    start = time.perf_counter()
    task = make_task(cfg)
    schedule = make_schedule(cfg)
    rows: list[dict] = []
    arms = make_arms(cfg, task[1].dim)
    for arm in arms:
        rows += run_arm(cfg, task, arm, schedule, log)
    summary = dict(config=dataclasses.asdict(cfg), arms=report.summarise(rows))
    for arm in arms:
        s = summary["arms"][arm.name]
        s["delta"] = cfg.delta if arm.ledger is not None else None
        s["epsilon_vs_server"] = None
        if isinstance(arm, A.DistributedDP):  # the server sees who took part: no amplification by sampling
            s["epsilon_vs_server"] = ddp_epsilon(plan=arm.plan(), sampling_rate=1.0, steps=cfg.rounds, delta=cfg.delta)[0]
        if isinstance(arm, A.AdaptiveDistributedDP):
            s["epsilon_vs_server"] = arm.epsilon(sampling_rate=1.0, steps=cfg.rounds, delta=cfg.delta)
        s["server_sees"] = {A.Plain: "every clipped update", A.SecAgg: "the sum only",
                            A.DistributedDP: "the noisy sum only",
                            A.AdaptiveDistributedDP: "the noisy sums (update, clip indicator)", A.CentralDP: "the noiseless sum (trusted)"}.get(type(arm), "")
    summary["seconds"] = time.perf_counter() - start
    if out is not None:
        out = pathlib.Path(out)
        out.mkdir(parents=True, exist_ok=True)
        report.write_metrics(rows, out / "metrics.csv")
        report.write_summary(summary, out / "summary.json")
        report.plot(rows, summary, out)
    log(f"\n{cfg.name}: {cfg.rounds} rounds, {summary['seconds']:.1f} s\n")
    log(report.table(summary, cfg.delta))
    return summary
