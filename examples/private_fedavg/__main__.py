"""``python -m examples.private_fedavg [--only digits|mnist1d] [--rounds N] [--out runs]``."""

from __future__ import annotations

import argparse
import logging
import pathlib
import time

from .train import Config, run

#: The two experiments of ``make demo``.
EXPERIMENTS = {
    "digits": Config(name="digits-logreg", dataset="digits", model="logreg"),
    # MNIST-1D needs bigger cohorts for DP to leave any signal: 10,000 generated sequences, 200 clients, q = 0.25.
    "mnist1d": Config(name="mnist1d-mlp", dataset="mnist1d", model="mlp", samples=10_000, clients=200,
                      sampling_rate=0.25, min_clients=40, lr=0.1, local_epochs=5, server_momentum=0.9, hidden=32),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m examples.private_fedavg", description=__doc__)
    ap.add_argument("--only", choices=sorted(EXPERIMENTS), help="run one experiment (default: both)")
    ap.add_argument("--rounds", type=int, help="override the number of rounds")
    ap.add_argument("--clients", type=int, help="override the number of clients")
    ap.add_argument("--out", default="runs", help="parent folder of runs/<name>/ (default: runs)")
    args = ap.parse_args(argv)
    logging.getLogger("absl").setLevel(logging.ERROR)  # dp-accounting's RDP order warnings
    start = time.perf_counter()
    for key, cfg in EXPERIMENTS.items():
        if args.only and key != args.only:
            continue
        changes = {k: v for k, v in (("rounds", args.rounds), ("clients", args.clients)) if v is not None}
        cfg = Config(**{**cfg.__dict__, **changes})
        out = pathlib.Path(args.out) / cfg.name
        print(f"== {cfg.name}: {cfg.clients} clients, Dirichlet({cfg.alpha:g}), q = {cfg.sampling_rate:g}, "
              f"{cfg.rounds} rounds, {cfg.dropout_rate:.0%} of sampled clients drop at a random phase ==")
        run(cfg, out)
        print(f"\nwrote {out}/metrics.csv, summary.json, accuracy_vs_round.png, accuracy_vs_epsilon.png\n")
    print(f"total {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
