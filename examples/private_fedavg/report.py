"""What a run writes: ``metrics.csv``, ``summary.json``, two PNG plots, and the final table."""

from __future__ import annotations

import csv
import json
import pathlib

FIELDS = ("arm", "round", "accuracy", "epsilon", "cohort", "included", "aborted", "agg_seconds", "round_seconds", "bytes")


def write_metrics(rows: list[dict], path: pathlib.Path) -> None:
    """One CSV row per (arm, round)."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r[k] is None else r[k]) for k in FIELDS})


def summarise(rows: list[dict]) -> dict[str, dict]:
    """Per arm: final accuracy, epsilon, aggregation seconds, total bytes, aborted rounds."""
    out: dict[str, dict] = {}
    for r in rows:
        s = out.setdefault(r["arm"], dict(accuracy=0.0, epsilon=None, seconds=0.0, bytes=0, rounds=0, aborted=0))
        s["accuracy"], s["epsilon"] = r["accuracy"], r["epsilon"]
        s["seconds"] += r["agg_seconds"]
        s["bytes"] += r["bytes"]
        s["rounds"] += 1
        s["aborted"] += int(r["aborted"])
    return out


def table(summary: dict, delta: float) -> str:
    """The final table as Markdown."""
    lines = [f"| arm | final accuracy | epsilon (delta = {delta:g}) | epsilon against the server (q = 1) "
             "| aggregation seconds | protocol MB | aborted rounds |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, s in summary["arms"].items():
        eps = "-" if s["epsilon"] is None else f"{s['epsilon']:.2f}"
        eps1 = "-" if s.get("epsilon_vs_server") is None else f"{s['epsilon_vs_server']:.1f}"
        if s["epsilon"] is not None and s.get("epsilon_vs_server") is None:
            eps1 = "none (sees the sum)"
        lines.append(f"| {name} | {s['accuracy']:.3f} | {eps} | {eps1} | {s['seconds']:.2f} | "
                     f"{s['bytes'] / 1e6:.2f} | {s['aborted']} |")
    return "\n".join(lines)


def plot(rows: list[dict], summary: dict, out: pathlib.Path) -> list[pathlib.Path]:
    """``accuracy_vs_round.png`` and ``accuracy_vs_epsilon.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = summary["config"]
    caption = (f"{cfg['dataset']} / {cfg['model']}: {cfg['clients']} clients, Dirichlet({cfg['alpha']:g}), "
               f"q = {cfg['sampling_rate']:g}, {cfg['dropout_rate']:.0%} dropouts, clip {cfg['clip']:g}; one run")
    paths = []
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name in summary["arms"]:
        mine = [r for r in rows if r["arm"] == name]
        plain = name.startswith("plain")
        ax.plot([r["round"] for r in mine], [r["accuracy"] for r in mine], label=name, linestyle="--" if plain else "-",
                color="black" if plain else None, linewidth=1.2 if plain else 1.5, zorder=3 if plain else 2)
    ax.set_xlabel("round")
    ax.set_ylabel("test accuracy")
    ax.set_title("Test accuracy per round", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.text(0.01, 0.01, caption, fontsize=7)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    paths.append(out / "accuracy_vs_round.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for kind, marker in (("Skellam", "o"), ("central", "s")):
        pts = sorted((s["epsilon"], s["accuracy"], n) for n, s in summary["arms"].items() if kind in n)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker,
                    label="SecAgg+ with distributed Skellam" if kind == "Skellam" else "central Gaussian (trusted server)")
    no_dp = [(s["accuracy"], n) for n, s in summary["arms"].items() if s["epsilon"] is None]
    if no_dp:
        top = max(a for a, _ in no_dp)
        ax.axhline(top, color="grey", linestyle="--", linewidth=1)
        ax.annotate("no DP: " + ", ".join(f"{n} {a:.3f}" for a, n in no_dp), (0.02, top),
                    xycoords=("axes fraction", "data"), fontsize=7, va="bottom")
    ax.set_xlabel(f"epsilon after {cfg['rounds']} rounds (delta = {cfg['delta']:g}, RDP)")
    ax.set_ylabel("final test accuracy")
    ax.set_title("Final accuracy against epsilon", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.text(0.01, 0.01, caption, fontsize=7)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    paths.append(out / "accuracy_vs_epsilon.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def write_summary(summary: dict, path: pathlib.Path) -> None:
    """``summary.json`` (indented, keys in insertion order)."""
    path.write_text(json.dumps(summary, indent=2) + "\n")
