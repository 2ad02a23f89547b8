"""Write ``bench/report/README.md`` and its PNGs from pytest-benchmark JSON and the table scripts.

Inputs (``make report`` produces them in this order):

* ``raw/benchmarks.json``: one pytest-benchmark run of ``bench/test_masking.py``,
  ``bench/test_server_sum.py``, ``bench/test_ckks.py`` (d <= 1e5) and
  ``bench/test_report_scaling.py``, side by side;
* ``dme.json``: ``bench/dme.py``;
* ``training_*_summary.json`` and ``training_*.png``: ``python -m examples.private_fedavg``.

Computed here (no timing): bytes per client from the codec's exact message
sizes (``bench/expansion.py``) and epsilon against bits (``bench/ddp_epsilon_table.py``).

Run: ``python bench/report/build.py`` (seconds; re-run after a new benchmark JSON).
"""

from __future__ import annotations

import json
import math
import pathlib
import platform
import statistics
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
BENCH = HERE.parent
sys.path.insert(0, str(BENCH))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load_benchmarks(path: pathlib.Path) -> tuple[dict, dict[str, dict]]:
    """The pytest-benchmark JSON, keyed by test name; per-round samples are dropped (and the file rewritten)."""
    data = json.loads(path.read_text())
    if any("data" in b["stats"] for b in data["benchmarks"]):
        for b in data["benchmarks"]:
            b["stats"].pop("data", None)
        path.write_text(json.dumps(data, indent=1) + "\n")
    return data, {b["name"]: b for b in data["benchmarks"]}


def med(b: dict) -> float:
    return b["stats"]["median"]


def rounds(b: dict) -> int:
    return b["stats"]["rounds"]


def fmt_s(s: float) -> str:
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


def span(values) -> str:
    """``"3"`` or ``"3-5"``: the range of a set of repeat counts."""
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def caption(fig, text: str) -> None:
    fig.text(0.01, 0.005, text, fontsize=7, va="bottom")


def save(fig, name: str) -> str:
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(HERE / name, dpi=100)
    plt.close(fig)
    return name


def slope(xs, ys) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


# ------------------------------------------------------------------ sections


def masking(b: dict[str, dict]) -> tuple[str, str]:
    cases = [(d, k) for d in (10_000, 100_000, 1_000_000) for k in (8, 32)]
    names = [("add_masks (ours, fused)", "test_add_masks"), ("AES-CTR keystream, one buffer", "test_keystream_whole_buffer"),
             ("AES-CTR keystream, 64 KiB chunks", "test_keystream_chunked"), ("expand + NumPy add", "test_naive_expand_then_numpy_add")]
    rows, fig = [], plt.figure(figsize=(9, 4.5))
    ax = fig.gca()
    width = 0.2
    reps = set()
    for j, (label, test) in enumerate(names):
        ys = []
        for d, k in cases:
            key = f"{test}[d={d:.0e}-k={k}]"
            ys.append(med(b[key]) if key in b else np.nan)
            if key in b:
                reps.add(rounds(b[key]))
        ax.bar(np.arange(len(cases)) + (j - 1.5) * width, ys, width, label=label)
    for i, (d, k) in enumerate(cases):
        ours, floor = b.get(f"test_add_masks[d={d:.0e}-k={k}]"), b.get(f"test_keystream_whole_buffer[d={d:.0e}-k={k}]")
        chunk = b.get(f"test_keystream_chunked[d={d:.0e}-k={k}]")
        if ours and floor:
            ratio = med(ours) / med(floor)
            ax.annotate(f"{ratio:.2f}x", (i - 1.5 * width, med(ours)), fontsize=7, ha="center", va="bottom")
            rows.append(f"| {d:.0e} | {k} | {fmt_s(med(ours))} | {fmt_s(med(floor))} | **{ratio:.2f}x** | "
                        f"{fmt_s(med(chunk)) if chunk else ''} | {f'{med(ours) / med(chunk):.2f}x' if chunk else ''} |")
    ax.set_xticks(range(len(cases)), [f"d={d:.0e}\nk={k}" for d, k in cases], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("median seconds")
    ax.set_title("Client masking: k + 1 masks of d 32-bit words against the AES-CTR floor", fontsize=10)
    ax.legend(fontsize=7)
    caption(fig, f"pytest-benchmark medians, {span(reps)} rounds per case; label: add_masks / one-buffer keystream")
    png = save(fig, "masking.png")
    text = ("| d | k | `add_masks` | keystream, one buffer | ratio | keystream, 64 KiB chunks | ratio |\n"
            "|---:|---:|---:|---:|---:|---:|---:|\n" + "\n".join(rows))
    return png, text


def server_sum(b: dict[str, dict]) -> tuple[str, str]:
    base = b.get("test_numpy_float32_iadd")
    widths = [8, 16, 20, 24, 27, 32, 40]
    have = [w for w in widths if f"test_accumulate_packed[{w}]" in b]
    ratios = [med(b[f"test_accumulate_packed[{w}]"]) / med(base) for w in have]
    fig = plt.figure(figsize=(7, 4))
    ax = fig.gca()
    ax.bar([str(w) for w in have], ratios, color="tab:blue")
    ax.axhline(1.0, color="black", linewidth=1, label=f"NumPy float32 acc += v ({fmt_s(med(base))})")
    ax.axhline(1.2, color="tab:red", linestyle="--", linewidth=1, label="target 1.2x")
    for i, r in enumerate(ratios):
        ax.annotate(f"{r:.2f}x", (i, r), ha="center", va="bottom", fontsize=8)
    ax.set_xlabel("wire bits per coordinate")
    ax.set_ylabel("time / float32 sum")
    ax.set_title("Server streaming sum of n = 100 packed uploads, d = 1e6 (fused unpack + add)", fontsize=10)
    ax.legend(fontsize=8)
    reps = sorted({rounds(b[f"test_accumulate_packed[{w}]"]) for w in have} | {rounds(base)})
    caption(fig, f"pytest-benchmark medians, {span(reps)} rounds per case, one run side by side")
    png = save(fig, "server_sum.png")
    text = ("| wire bits | " + " | ".join(map(str, have)) + " |\n|---|" + "---:|" * len(have) + "\n"
            "| fused unpack + add | " + " | ".join(fmt_s(med(b[f"test_accumulate_packed[{w}]"])) for w in have) + " |\n"
            "| ratio to float32 `acc += v` | " + " | ".join(f"{r:.2f}x" for r in ratios) + " |")
    return png, text


def round_vs_n(b: dict[str, dict]) -> tuple[str, str]:
    fig = plt.figure(figsize=(7, 4.5))
    ax = fig.gca()
    rows = []
    reps = set()
    for graph, label, color in (("secagg+", "SecAgg+ (Harary, k = O(log n))", "tab:blue"), ("secagg", "SecAgg (complete graph)", "tab:orange")):
        pts = sorted((v["extra_info"]["n"], v["stats"]["min"], v["stats"]["median"], v["extra_info"]["k"], rounds(v))
                     for v in b.values() if v["name"].startswith("test_round_vs_n") and v["extra_info"].get("graph") == graph)
        if len(pts) < 2:
            continue
        ns, mins, meds = [p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts]
        reps |= {p[4] for p in pts}
        s = slope(ns, mins)
        ax.loglog(ns, mins, marker="o", color=color, label=f"{label}: slope {s:.2f}")
        ax.loglog(ns, meds, marker="x", linestyle=":", color=color, alpha=0.6)
        extra = ""
        if graph == "secagg+":
            extra = f"; against n*k: {slope([n * p[3] for n, p in zip(ns, pts)], mins):.2f}"
        rows.append(f"| {label} | " + ", ".join(f"n={n}: {fmt_s(m)} (k={p[3]})" for n, m, p in zip(ns, mins, pts))
                    + f" | **{s:.2f}**{extra} |")
    all_ns = sorted({v["extra_info"]["n"] for v in b.values() if v["name"].startswith("test_round_vs_n")})
    ax.set_xticks(all_ns, [str(n) for n in all_ns])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("clients n")
    ax.set_ylabel("seconds per round (one core)")
    ax.set_title("Whole round in process, d = 1e4, 10% dropouts: time against n", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    caption(fig, f"dots: fastest of {span(reps)} rounds (used for the slope); crosses: median. "
                 "Shared machine: the fastest round is the least disturbed")
    png = save(fig, "round_vs_n.png")
    text = "| graph | fastest round per n | log-log slope |\n|---|---|---:|\n" + "\n".join(rows)
    return png, text


def bytes_per_client() -> tuple[str, str]:
    import expansion

    dim = 2**20
    ns = [2**e for e in range(7, 14)]
    series: dict[str, list[float]] = {"SecAgg+ (Harary)": [], "SecAgg (complete)": []}
    for n in ns:
        for r in expansion.expansion_rows(n, dim):
            if r["dropped"] == 0:
                series[r["graph"]].append(r["total_x"])
    paper = [expansion.paper_expansion(n, dim) for n in ns]
    fig = plt.figure(figsize=(7, 4.5))
    ax = fig.gca()
    ax.semilogx(ns, paper, color="black", linestyle="--", label="Bonawitz et al.: (2n aK + (5n-4) aS + m R) / 16m", base=2)
    for name, ys in series.items():
        ax.semilogx(ns, ys, marker="o", label=f"{name} (exact codec sizes)", base=2)
    ax.plot([2**10], [1.73], marker="*", markersize=12, color="black", linestyle="", label="paper, reported (2^10 clients)")
    ax.set_xlabel("clients n")
    ax.set_ylabel("(sent + received) / 16-bit input in the clear")
    ax.set_title(f"Bytes per client against the paper's expansion, m = 2^20 coordinates", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    caption(fig, "computed from the codec's exact message sizes (bench/expansion.py; tests/secagg/test_expansion.py checks them "
                 "against real rounds); no timing, no repeats")
    png = save(fig, "bytes_per_client.png")
    text = ("| n | paper formula | SecAgg+ | SecAgg (complete) |\n|---:|---:|---:|---:|\n"
            + "\n".join(f"| 2^{int(math.log2(n))} | {p:.2f}x | {a:.2f}x | {c:.2f}x |"
                        for n, p, a, c in zip(ns, paper, series["SecAgg+ (Harary)"], series["SecAgg (complete)"])))
    return png, text


def ckks(b: dict[str, dict]) -> tuple[str, str] | None:
    dims = [d for d in (10_000, 100_000) if f"test_client_encrypt[{d}]" in b]
    if not dims:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.2))
    x = np.arange(len(dims))
    enc = [med(b[f"test_client_encrypt[{d}]"]) for d in dims]
    mask = [med(b[f"test_add_masks[d={d:.0e}-k=32]"]) for d in dims]
    csum = [med(b[f"test_server_sum_of_100[{d}]"]) for d in dims]
    msum = [med(b[f"test_masking_server_sum_of_100[{d}]"]) for d in dims]
    a1.bar(x - 0.3, enc, 0.2, label="CKKS client encrypt")
    a1.bar(x - 0.1, mask, 0.2, label="masking: client masks (k = 32)")
    a1.bar(x + 0.1, csum, 0.2, label="CKKS server sum, n = 100")
    a1.bar(x + 0.3, msum, 0.2, label="masking server sum, n = 100 (24-bit)")
    a1.set_xticks(x, [f"d={d:.0e}" for d in dims])
    a1.set_yscale("log")
    a1.set_ylabel("median seconds")
    a1.legend(fontsize=7)
    a1.set_title("time", fontsize=10)
    up = [b[f"test_client_encrypt[{d}]"]["extra_info"]["upload_bytes"] for d in dims]
    a2.bar(x - 0.25, up, 0.25, label="CKKS upload")
    a2.bar(x, [3 * d for d in dims], 0.25, label="masking upload (24-bit words)")
    a2.bar(x + 0.25, [4 * d for d in dims], 0.25, label="float32 in the clear")
    a2.set_xticks(x, [f"d={d:.0e}" for d in dims])
    a2.set_yscale("log")
    a2.set_ylabel("bytes per client")
    a2.legend(fontsize=7)
    a2.set_title("bytes", fontsize=10)
    fig.suptitle("CKKS (TenSEAL, 'default' parameters) against masking", fontsize=10)
    reps = sorted({rounds(b[k]) for k in b if k.startswith(("test_client_encrypt", "test_server_sum_of_100", "test_masking_server"))})
    caption(fig, f"pytest-benchmark medians, {span(reps)} rounds; masking upload bytes = packed 24-bit words")
    png = save(fig, "ckks_vs_masking.png")
    text = ("| d | CKKS encrypt | masks (k=32) | CKKS server sum, n=100 | masking server sum, n=100 | CKKS bytes | masking bytes | float32 bytes |\n"
            "|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            + "\n".join(f"| {d:.0e} | {fmt_s(e)} | {fmt_s(m)} ({e / m:.0f}x less) | {fmt_s(c)} | {fmt_s(s)} ({c / s:.0f}x less) | "
                        f"{u / 1e6:.2f} MB ({u / (4 * d):.1f}x float32) | {3 * d / 1e6:.2f} MB | {4 * d / 1e6:.2f} MB |"
                        for d, e, m, c, s, u in zip(dims, enc, mask, csum, msum, up)))
    return png, text


def epsilon_vs_bits() -> tuple[str, str]:
    import ddp_epsilon_table as t

    from dp.accounting import epsilon

    rows = t.rows()
    gauss = epsilon(noise_multiplier=t.Z, sampling_rate=t.Q, steps=t.ROUNDS, delta=t.DELTA)
    generic = t.generic_gaussian_epsilon()
    fig = plt.figure(figsize=(7, 4.2))
    ax = fig.gca()
    for idx, label, marker in ((3, "Skellam", "o"), (4, "distributed discrete Gaussian", "x")):
        pts = [(r[0], float(r[idx])) for r in rows if r[idx].replace(".", "").isdigit()]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=label)
    ax.axhline(generic, color="grey", linestyle="--", label=f"Gaussian, same generic subsampling bound ({generic:.3f})")
    ax.axhline(gauss, color="black", linestyle=":", label=f"Gaussian, dp-accounting's tight RDP ({gauss:.3f})")
    refused = [r[0] for r in rows if not r[3].replace(".", "").isdigit()]
    ax.set_xlabel("bits of the secure sum" + (f" (refused by plan(): {refused})" if refused else ""))
    ax.set_ylabel(f"epsilon (delta = {t.DELTA:g})")
    ax.set_title(f"Epsilon against bits: {t.CLIENTS} clients, d = 2^16, q = {t.Q}, {t.ROUNDS} rounds, z = {t.Z}", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    caption(fig, "computed with dp.ddp_epsilon (RDP), no timing, no repeats (bench/ddp_epsilon_table.py)")
    png = save(fig, "epsilon_vs_bits.png")
    text = ("| bits | " + " | ".join(str(r[0]) for r in rows) + " |\n|---|" + "---:|" * len(rows) + "\n"
            "| Skellam ε | " + " | ".join(r[3] for r in rows) + " |\n"
            "| DDG ε | " + " | ".join(r[4] for r in rows) + " |\n"
            f"| Gaussian ε (tight RDP / generic bound) | " + " | ".join(f"{gauss:.3f} / {generic:.3f}" for _ in rows) + " |")
    return png, text


def dme(path: pathlib.Path) -> tuple[str, str, dict] | None:
    if not path.exists():
        return None
    import dme as dme_mod

    result = json.loads(path.read_text())
    text = (dme_mod.table(result) + "\n\nThe noise alone: expected MSE of each calibrated plan's noise over the analytic "
            "Gaussian's (no sampling; what the measured ratios scatter around):\n\n" + dme_mod.table(result, "noise_mse"))
    return "dme.png", text, result


def training() -> list[tuple[str, dict]]:
    out = []
    for p in sorted(HERE.glob("training_*_summary.json")):
        out.append((p.name.removeprefix("training_").removesuffix("_summary.json"), json.loads(p.read_text())))
    return out


# ------------------------------------------------------------------ README


def machine(meta: dict) -> str:
    m = meta.get("machine_info", {})
    cpu = m.get("cpu", {})
    return (f"{cpu.get('brand_raw', platform.processor() or 'unknown CPU')}, {cpu.get('count', '?')} logical CPUs, "
            f"{m.get('system', platform.system())} {m.get('release', '')}, Python {m.get('python_version', platform.python_version())}; "
            f"benchmarks run at {meta.get('datetime', '?')}")


def copy_training(runs: pathlib.Path) -> None:
    """Copy each ``runs/<name>/`` summary and plots next to this report (``runs/`` itself is not committed)."""
    import shutil

    for summary in sorted(runs.glob("*/summary.json")):
        name = summary.parent.name
        shutil.copyfile(summary, HERE / f"training_{name}_summary.json")
        for png in ("accuracy_vs_round", "accuracy_vs_epsilon"):
            if (summary.parent / f"{png}.png").exists():
                shutil.copyfile(summary.parent / f"{png}.png", HERE / f"training_{name}_{png}.png")


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", help="copy the training results from this folder (the demo's runs/)")
    ap.add_argument("--quiet-machine", action="store_true",
                    help="the benchmarks ran on a machine doing nothing else (default: say it was shared)")
    args = ap.parse_args(argv)
    if args.runs:
        copy_training(pathlib.Path(args.runs))
    meta, b = load_benchmarks(HERE / "raw" / "benchmarks.json")
    parts = [
        "# Benchmark report",
        "",
        "Written by `make report` (`bench/report/build.py`) from one pytest-benchmark run "
        "(`raw/benchmarks.json`) plus the DME and training runs. Do not edit by hand: re-run `make report`.",
        "",
        f"**Machine:** {machine(meta)}.",
        "",
        ("**This run was made on a machine doing nothing else.**" if args.quiet_machine else
         "**This run was made while other engineers' jobs shared the same 2 cores.** Repeats are modest "
         "(pytest-benchmark's minimum rounds, see each plot); ratios measured side by side in one run are "
         "more trustworthy than absolute times.")
        + " On a quiet machine, `make report QUIET=1 REPORT_ROUNDS=20 BENCH_REPEATS=5` re-measures everything "
        "with more repeats and says so here.",
        "",
    ]
    sections = [
        ("Client masking against the AES-CTR floor", masking(b),
         "Target: at most 1.25x the keystream at d = 1e6. The one-buffer keystream streams the whole (k+1) d * 4 "
         "bytes through memory, so it suffers most from other jobs on a shared machine; the chunked keystream "
         "(output stays in cache) is the steadier floor."),
        ("Server sum against a float32 sum", server_sum(b), "Target: at most 1.2x for widths up to 32 bits."),
        ("Round time against n", round_vs_n(b),
         "SecAgg+ grows like n k (k = O(log n) neighbours); the complete graph like n^2 (every pair agrees a key)."),
        ("Bytes per client against the paper's expansion", bytes_per_client(),
         "The complete graph forwards a Merkle proof with every key, so it grows faster than the paper's formula; "
         "SecAgg+ sends only k keys and shares."),
        ("CKKS against masking", ckks(b), "d = 1e6 is left out of `make report` (its CKKS server sum alone takes ~30 s a round)."),
        ("Epsilon against bits", epsilon_vs_bits(), ""),
    ]
    for title, res, note in sections:
        if res is None:
            parts += [f"## {title}", "", "Not measured in this run.", ""]
            continue
        png, text = res
        parts += [f"## {title}", "", f"![{title}]({png})", "", text, ""] + ([note, ""] if note else [])
    d = dme(HERE / "dme.json")
    if d:
        png, text, result = d
        s = result["setting"]
        parts += ["## Distributed mean estimation (Kairouz, Liu, Steinke, ICML 2021)", "",
                  f"n in {list(s['ns'])}, d = {s['dim']} (padded to 256), vectors uniform on the sphere of radius "
                  f"{s['clip']:g}, k = {s['k_stddevs']:g} stddevs, beta = e^-0.5, delta = {s['delta']:g}, one round, "
                  f"{s['repeats']} repeats (`bench/dme.py`, {result.get('seconds', 0):.0f} s). "
                  "Each cell: mean MSE of the estimated mean over the analytic Gaussian mechanism's MSE at the same "
                  "epsilon (1.00 = central DP accuracy).", "",
                  f"![DME]({png})", "", text, "", (HERE / "dme_notes.md").read_text() if (HERE / "dme_notes.md").exists() else "", ""]
    runs = training()
    if runs:
        parts += ["## Private federated training (`make demo`)", ""]
        for name, summary in runs:
            cfg = summary["config"]
            parts += [f"### {name}: {cfg['clients']} clients, Dirichlet({cfg['alpha']}), q = {cfg['sampling_rate']}, "
                      f"{cfg['rounds']} rounds, clip {cfg['clip']}, one run", "",
                      "| arm | final accuracy | ε | aggregation seconds | protocol MB | aborted rounds |",
                      "|---|---:|---:|---:|---:|---:|"]
            for arm, s in summary["arms"].items():
                eps = "-" if s["epsilon"] is None else f"{s['epsilon']:.2f}"
                parts.append(f"| {arm} | {s['accuracy']:.3f} | {eps} | {s['seconds']:.2f} | {s['bytes'] / 1e6:.2f} | {s['aborted']} |")
            parts += ["", f"![accuracy per round](training_{name}_accuracy_vs_round.png)",
                      f"![accuracy against epsilon](training_{name}_accuracy_vs_epsilon.png)", ""]
    (HERE / "README.md").write_text("\n".join(parts).rstrip() + "\n")
    print(f"wrote {HERE / 'README.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
