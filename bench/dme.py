"""Distributed mean estimation: Kairouz, Liu, Steinke (ICML 2021), the setting of their ``dme_run.py``.

``n`` clients each hold a vector drawn uniformly from the sphere of radius
``c = 10`` in ``d = 250`` dimensions (padded to 256). Each client encodes it
with :func:`dp.distributed.encode_client` (clip, rotate, scale, conditional
stochastic rounding with ``beta = e^-0.5``, its share of discrete noise, wrap
mod ``2^bits``); the words are summed mod ``2^bits`` (what the secure sum
outputs, bit for bit) and decoded with :func:`dp.distributed.decode_sum`.
The metric is the MSE of the estimated mean, ``mean((est - true)^2)`` over
coordinates, averaged over repeats.

Calibration: for each (mechanism, n, bits, epsilon), the noise multiplier is
bisected so that :func:`dp.ddp_epsilon` of the plan (one round, ``q = 1``,
RDP) equals the target epsilon; the plan uses ``k_stddevs = 2`` and
``min_clients = max_clients = n`` as in the paper. ``rounding_tolerance`` is
opened to 0.999 so that plan() accepts widths where rounding inflates the
sensitivity (the paper runs them too); plan()'s other guard (each client's
noise variance at least one integer step) is kept, so such cells are reported
as refused.

Baseline: the analytic Gaussian mechanism (Balle & Wang 2018) at the same
``(epsilon, delta)`` with sensitivity ``c``: ``sigma = c * get_sigma_gaussian(eps, delta)``
from dp_accounting, whose mean has expected MSE ``sigma^2 / n^2`` per
coordinate (exact, so no sampling noise enters the ratio).

Run: ``python bench/dme.py [--repeats 5] [--out bench/report]`` (about a minute
on 2 cores). Writes ``dme.json``, ``dme.png`` and ``dme_table.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import pathlib
import time

import numpy as np
from dp_accounting import gaussian_mechanism

from dp.accounting import ddp_epsilon
from dp.distributed import DistributedDPConfig, decode_sum, encode_client, plan
from dp.errors import BitWidthError

NS = (100, 1000)
DIM = 250
CLIP = 10.0
BITS = (10, 12, 14, 16)
EPSILONS = (0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0)
DELTA = 1e-5
K_STDDEVS = 2.0
BETA = math.exp(-0.5)
MECHANISMS = ("dgauss", "skellam")
LABEL = {"dgauss": "distributed discrete Gaussian", "skellam": "distributed Skellam"}


def config(mechanism: str, n: int, bits: int, z: float) -> DistributedDPConfig:
    return DistributedDPConfig(mechanism=mechanism, bits=bits, l2_clip=CLIP, noise_multiplier=z, dim=DIM,
                               min_clients=n, max_clients=n, k_stddevs=K_STDDEVS, beta=BETA,
                               rounding_tolerance=0.999)


def epsilon_at(mechanism: str, n: int, bits: int, z: float) -> float:
    """One-round epsilon of the plan at noise multiplier ``z`` (inf if plan() refuses it)."""
    try:
        p = plan(config(mechanism, n, bits, z))
    except (BitWidthError, ValueError):
        return math.inf
    return ddp_epsilon(plan=p, sampling_rate=1.0, steps=1, delta=DELTA)[0]


def calibrate(mechanism: str, n: int, bits: int, eps: float):
    """The plan whose one-round epsilon is ``eps`` (within 1e-4 relative), or ``None`` if refused."""
    lo, hi = 1e-2, 1e3
    if epsilon_at(mechanism, n, bits, hi) > eps:
        return None
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if epsilon_at(mechanism, n, bits, mid) <= eps:
            hi = mid
        else:
            lo = mid
        if hi / lo < 1 + 1e-4:
            break
    try:
        return plan(config(mechanism, n, bits, hi))
    except (BitWidthError, ValueError):
        return None


def sphere(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(size=(n, DIM))
    return CLIP * x / np.linalg.norm(x, axis=1, keepdims=True)


def estimate_mse(p, data: np.ndarray, seed: bytes) -> float:
    n = len(data)
    modulus = np.uint64(1) << np.uint64(p.config.bits)
    total = np.zeros(p.padded_dim, dtype=np.uint64)
    for x in data:
        total = (total + encode_client(x, p, rotation_seed=seed).astype(np.uint64)) % modulus
    est = decode_sum(total, p, rotation_seed=seed, n_clients=n) / n
    return float(np.mean((est - data.mean(axis=0)) ** 2))


def gaussian_mse(eps: float, n: int) -> float:
    sigma = CLIP * gaussian_mechanism.get_sigma_gaussian(eps, DELTA)
    return sigma**2 / n**2


def run(repeats: int, log=print) -> dict:
    rng = np.random.default_rng(2021)
    out = dict(setting=dict(ns=NS, dim=DIM, clip=CLIP, bits=BITS, epsilons=EPSILONS, delta=DELTA,
                            k_stddevs=K_STDDEVS, beta=BETA, repeats=repeats), results=[])
    for n in NS:
        datasets = [sphere(rng, n) for _ in range(repeats)]
        for mech in MECHANISMS:
            for bits in BITS:
                start = time.perf_counter()
                row = dict(n=n, mechanism=mech, bits=bits, mse=[], gauss_mse=[], noise_mse=[], noise_multiplier=[],
                           refused=[])
                for eps in EPSILONS:
                    p = calibrate(mech, n, bits, eps)
                    row["gauss_mse"].append(gaussian_mse(eps, n))
                    if p is None:
                        row["mse"].append(None)
                        row["noise_multiplier"].append(None)
                        row["noise_mse"].append(None)
                        row["refused"].append(eps)
                        continue
                    row["noise_multiplier"].append(p.config.noise_multiplier)
                    # the expected MSE of the noise alone (n shares of local_variance, in real units, over n^2)
                    row["noise_mse"].append(p.local_variance / (p.scale**2 * n))
                    # a fresh public rotation seed per repeat, as per round in training
                    row["mse"].append([estimate_mse(p, d, bytes([r]) * 32) for r, d in enumerate(datasets)])
                out["results"].append(row)
                ratios = [("refused" if m is None else f"{np.mean(m) / g:.2f}") for m, g in zip(row["mse"], row["gauss_mse"])]
                log(f"n={n:<5} {mech:<8} {bits} bits: MSE / Gaussian MSE = {' '.join(ratios)}  "
                    f"({time.perf_counter() - start:.1f} s)")
    return out


def table(result: dict, key: str = "mse") -> str:
    """Ratios to the analytic Gaussian MSE: measured (``key="mse"``) or the noise's expected share (``"noise_mse"``)."""
    eps = result["setting"]["epsilons"]
    lines = ["| n | mechanism | bits | " + " | ".join(f"ε={e:g}" for e in eps) + " |",
             "|---:|---|---:|" + "---:|" * len(eps)]
    for row in result["results"]:
        cells = ["–" if m is None else f"{np.mean(m) / g:.2f}" for m, g in zip(row[key], row["gauss_mse"])]
        lines.append(f"| {row['n']} | {row['mechanism']} | {row['bits']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(result: dict, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result["setting"]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5), sharey="row")
    for i, mech in enumerate(MECHANISMS):
        for j, n in enumerate(s["ns"]):
            ax = axes[i][j]
            rows = [r for r in result["results"] if r["n"] == n and r["mechanism"] == mech]
            ax.plot(s["epsilons"], rows[0]["gauss_mse"], color="black", linestyle="--", label="analytic Gaussian (central)")
            for r in rows:
                xs = [e for e, m in zip(s["epsilons"], r["mse"]) if m is not None]
                ms = [np.asarray(m) for m in r["mse"] if m is not None]
                if xs:
                    line, = ax.plot(xs, [m.mean() for m in ms], marker="o", markersize=3, label=f"{r['bits']} bits")
                    ax.fill_between(xs, [m.min() for m in ms], [m.max() for m in ms], color=line.get_color(), alpha=0.15)
            ax.set_yscale("log")
            ax.set_title(f"{LABEL[mech]}, n = {n}, d = {s['dim']}", fontsize=10)
            ax.set_xlabel("epsilon (one round, delta = 1e-5)")
            ax.set_ylabel("MSE of the mean")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7)
    fig.suptitle(f"Distributed mean estimation (Kairouz, Liu, Steinke 2021 setting): c = {s['clip']:g}, "
                 f"k = {s['k_stddevs']:g}, beta = e^-0.5; mean (line) and min-max (band) of {s['repeats']} repeats",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="bench/report")
    args = ap.parse_args(argv)
    logging.getLogger("absl").setLevel(logging.ERROR)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = run(args.repeats)
    result["seconds"] = time.perf_counter() - start
    (out / "dme.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "dme_table.md").write_text(table(result) + "\n\nNoise alone (expected MSE of the plan's noise over the Gaussian's):\n\n"
                                      + table(result, "noise_mse") + "\n")
    plot(result, out / "dme.png")
    print(table(result))
    print(f"{result['seconds']:.0f} s; wrote {out}/dme.json, dme_table.md, dme.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
