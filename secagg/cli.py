"""The ``secagg`` command line.

Subcommands:

* ``secagg params --clients N --dropout-rate X --adversarial-rate Y --threat T [--json]``:
  the number of neighbours and the threshold the SecAgg+ parameter finder
  chooses for a cohort (:func:`secagg.protocol.finder.find_parameters`).
* ``secagg simulate --clients N --dim D --dropout F [--graph G] [--threat T]
  [--bits B] [--backend masking|ckks] [--json]``: one full round with real
  cryptography on random float data, checked against the plain sum of the
  included clients, with a per-phase table of time and bytes. With
  ``--backend ckks``, ``--graph``/``--threat``/``--bits`` are refused and
  ``--precision`` is the requested absolute error; the JSON field ``exact``
  then means "within the documented error bound" (verdict WITHIN BOUND).

Every subcommand is one ``_cmd_<name>(args) -> int`` function. Errors print one
line on stderr and exit with status 2 (no traceback). ``simulate`` checks every
number up front (ranges named by their flags, the modulus for ``--clip`` and
``--precision``) and refuses a run whose estimated memory
(:func:`estimate_simulation_memory`) exceeds what the machine has
(:func:`available_memory`), before it allocates anything.

>>> argv = ["params", "--clients", "1000", "--dropout-rate", "0.1", "--adversarial-rate", "0.05", "--json"]
>>> main(argv)  # doctest: +ELLIPSIS
{"clients": 1000, ..., "graph": "harary", "neighbors": 34, "holders": 35, "threshold": 18, ...}
0
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence

from secagg.errors import SecAggError
from secagg.params import MAX_CLIENTS, MAX_DIM, ThreatModel
from secagg.primitives.words import MAX_BITS, MIN_BITS
from secagg.protocol.finder import DEFAULT_FAILURE_BITS, DEFAULT_SECURITY_BITS, find_parameters

__all__ = ["available_memory", "build_parser", "estimate_simulation_memory", "main"]

PROG = "secagg"


class _UsageError(Exception):
    """A command-line usage error (argparse's, turned into one stderr line)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse calls this and expects no return
        raise _UsageError(f"{self.prog}: error: {message}")


def build_parser() -> argparse.ArgumentParser:
    """Return the ``secagg`` argument parser, one subparser per subcommand.

    Each subparser sets ``handler`` to its ``_cmd_<name>`` function.

    Returns:
        The parser; its ``parse_args`` raises the internal usage error that
        :func:`main` turns into exit status 2.

    Raises:
        Nothing of its own.
    """
    parser = _Parser(prog=PROG, description="Secure aggregation for federated learning.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser(
        "params",
        help="choose the neighbours and threshold for a cohort (SecAgg+ parameter finder)",
        description="Choose the smallest even number of neighbours k and a Shamir threshold t that give "
        "2^-40 statistical security and a failure probability below 2^-20 (chapter "
        "'Parameters and graphs' of the protocol specification).",
    )
    p.add_argument("--clients", type=int, required=True, metavar="N", help=f"number of clients, 2..{MAX_CLIENTS}")
    p.add_argument(
        "--dropout-rate", type=float, default=0.1, metavar="X", help="largest dropout fraction (default 0.1)"
    )
    p.add_argument(
        "--adversarial-rate", type=float, default=0.05, metavar="Y", help="largest colluding fraction (default 0.05)"
    )
    p.add_argument(
        "--threat",
        choices=[t.value for t in ThreatModel],
        default=ThreatModel.SEMI_HONEST.value,
        help="threat model (default semi-honest)",
    )
    p.add_argument("--security-bits", type=int, default=DEFAULT_SECURITY_BITS, help="statistical security (default 40)")
    p.add_argument(
        "--failure-bits", type=int, default=DEFAULT_FAILURE_BITS, help="failure probability 2^-f (default 20)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(handler=_cmd_params)

    p = sub.add_parser(
        "simulate",
        help="run one full round in process on random data and check the sum",
        description="Run SecAgg/SecAgg+ (or CKKS) with real cryptography between in-memory clients and a "
        "server, with a random dropout schedule, and check the result against the plain sum of the "
        "included clients.",
    )
    p.add_argument("--clients", type=int, default=200, metavar="N", help="number of clients (default 200)")
    p.add_argument("--dim", type=int, default=100_000, metavar="D", help="vector length (default 100000)")
    p.add_argument("--dropout", type=float, default=0.1, metavar="F", help="fraction of clients that drop (default 0.1)")
    # default=None so that an explicit value can be told apart: with --backend ckks, --graph,
    # --threat and --bits are an error and --precision is the requested absolute error.
    p.add_argument(
        "--graph", choices=["auto", "complete", "harary"], default=None, help="neighbour graph (default auto; masking only)"
    )
    p.add_argument(
        "--threat",
        choices=[t.value for t in ThreatModel],
        default=None,
        help="threat model (default semi-honest; masking only)",
    )
    p.add_argument(
        "--bits", type=int, default=None, metavar="B",
        help="modulus bits (default: planned from clients, clip, precision; masking only)",
    )
    p.add_argument("--clip", type=float, default=1.0, help="per-coordinate clip of the float data (default 1.0)")
    p.add_argument(
        "--precision", type=float, default=None,
        help="masking: largest quantisation step (default 1e-4); ckks: requested absolute error of the sum",
    )
    p.add_argument("--backend", choices=["masking", "ckks"], default="masking", help="masking (default) or ckks")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated data and dropout schedule (not of any key)")
    p.add_argument(
        "--workers", type=int, default=1, metavar="W",
        help="masking: run the clients in W forked processes (default 1; at most the CPU count)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(handler=_cmd_simulate)
    return parser


_SEED_RANGE = (-(2**63), 2**63 - 1)
"""The simulation stream keys AES with the seed as a signed 64-bit integer."""
_CKKS_MAX_CLIENTS = 2**32 - 1
"""An AGGREGATE envelope counts its contributors in a u32."""
_BASE_MEMORY = 128 * 2**20
"""The interpreter, NumPy, Numba and TenSEAL once imported (about 120 MB measured)."""
_MASKING_BYTES_PER_VALUE = 24
"""Per client and coordinate: the float32 data, the encoded words and the
generation's float64 temporaries, which dominate (measured peak RSS:
20 x 1e6 values 605 MB, 100 x 2e5 583 MB, 2 x 5e6 438 MB)."""
_MASKING_BYTES_PER_DIM = 32
"""Per coordinate, once: the server's running sum and one client's masks."""
_CKKS_BYTES_PER_VALUE = 40
"""Per client and coordinate: the float32 data and the float64 copies the
driver makes (the ciphertexts are in the planner's per-role figures)."""


def _check_int_range(flag: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{flag} must be in {low}..{high}, got {value}")


def _check_positive_float(flag: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ValueError(f"{flag} must be finite and > 0, got {value!r}")


def _cgroup_available(root: str) -> int | None:
    """cgroup v2: ``memory.max - memory.current + inactive_file`` (page cache the kernel can reclaim)."""
    try:
        with open(os.path.join(root, "memory.max"), encoding="ascii") as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open(os.path.join(root, "memory.current"), encoding="ascii") as f:
            current = int(f.read().strip())
        reclaimable = 0
        with open(os.path.join(root, "memory.stat"), encoding="ascii") as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name == "inactive_file":
                    reclaimable = int(value)
        return max(int(limit) - current + reclaimable, 0)
    except (OSError, ValueError):
        return None


def available_memory() -> int:
    """Return the bytes this process may still allocate, as best the OS says.

    The smallest of: ``MemAvailable`` from ``/proc/meminfo`` (else the free
    physical pages), the cgroup v2 limit minus current use (reclaimable page
    cache counted as free), and the soft address-space limit (``ulimit -v``).

    Returns:
        A byte count (0 if nothing could be read: callers then refuse large runs).

    Raises:
        Nothing: unreadable sources are skipped.
    """
    figures = []
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    figures.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    if not figures:
        try:
            figures.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, AttributeError):
            pass
    cgroup = _cgroup_available("/sys/fs/cgroup")
    if cgroup is not None:
        figures.append(cgroup)
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            figures.append(soft)
    except (ImportError, OSError, ValueError):
        pass
    return min(figures) if figures else 0


def _format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def estimate_simulation_memory(args: argparse.Namespace) -> int:
    """Return the peak memory ``secagg simulate`` needs for ``args``, in bytes (an upper estimate).

    Masking: ``24 n d + 32 d`` plus the interpreter; CKKS: ``40 n d`` plus
    the planner's memory of the server, one client and the key holder
    (:func:`secagg.ckks.plan_sizes`), plus the interpreter. The constants
    were fitted on measured peak resident memory (module constants).

    Args:
        args: parsed ``simulate`` arguments whose numbers are already range-checked.

    Returns:
        The estimate in bytes.

    Raises:
        PlanError: (CKKS) if the planner refuses the round.
    """
    n, d = args.clients, args.dim
    if args.backend == "ckks":
        from secagg.ckks import plan_sizes

        plan = plan_sizes(
            d, None, clients=n, value_bound=args.clip, abs_error=args.precision, memory_limit=2**62
        )
        roles = plan.server_memory_bytes + plan.client_memory_bytes + plan.key_holder_memory_bytes
        return _BASE_MEMORY + _CKKS_BYTES_PER_VALUE * n * d + roles
    return _BASE_MEMORY + _MASKING_BYTES_PER_VALUE * n * d + _MASKING_BYTES_PER_DIM * d


def _check_simulate_args(args: argparse.Namespace) -> None:
    """Refuse bad numbers and runs that cannot fit in memory, before anything is allocated."""
    ckks = args.backend == "ckks"
    _check_int_range("--clients", args.clients, 2, _CKKS_MAX_CLIENTS if ckks else MAX_CLIENTS)
    _check_int_range("--dim", args.dim, 1, MAX_DIM)
    if not (math.isfinite(args.dropout) and 0.0 <= args.dropout < 1.0):
        raise ValueError(f"--dropout must be in [0, 1), got {args.dropout!r}")
    _check_positive_float("--clip", args.clip)
    _check_positive_float("--precision", args.precision)
    _check_int_range("--seed", args.seed, *_SEED_RANGE)
    _check_int_range("--workers", args.workers, 1, os.cpu_count() or 1)
    if ckks:
        given = [f"--{name}" for name in ("graph", "threat", "bits") if getattr(args, name) is not None]
        if given:
            raise ValueError(f"{', '.join(given)} only apply to the masking backend, not to --backend ckks")
    elif args.bits is not None:
        _check_int_range("--bits", args.bits, MIN_BITS, MAX_BITS)
    if not ckks:
        from secagg.primitives.encoding import plan_bits

        # The modulus must hold n x clip at this precision: refused here, before any data exists.
        plan_bits(n_clients=args.clients, clip=args.clip, precision=1e-4 if args.precision is None else args.precision)
    need = estimate_simulation_memory(args)
    have = available_memory()
    if need > have:
        raise MemoryError(
            f"--clients {args.clients} x --dim {args.dim} ({args.backend}) needs about {_format_bytes(need)} "
            f"of memory (estimate), {_format_bytes(have)} is available; lower --clients or --dim"
        )


def _cmd_simulate(args: argparse.Namespace) -> int:
    from secagg.simulate import run_simulation

    _check_simulate_args(args)

    report = run_simulation(
        clients=args.clients,
        dim=args.dim,
        dropout=args.dropout,
        graph=args.graph,
        threat=args.threat,
        bits=args.bits,
        clip=args.clip,
        precision=args.precision,
        backend=args.backend,
        seed=args.seed,
        workers=args.workers,
        progress=_progress_printer() if not args.json or sys.stderr.isatty() else None,
    )
    if args.json:
        print(json.dumps(report))
    else:
        print(_simulation_table(report))
    return 0 if report["exact"] else 1


def _progress_printer():
    """Return a progress callback drawing a one-line bar on stderr."""
    tty = sys.stderr.isatty()
    state = {"phase": None}

    def show(phase: str, done: int, total: int) -> None:
        if tty:
            width = 30
            filled = width * done // max(total, 1)
            sys.stderr.write(f"\r  {phase:<18} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif done == total and state["phase"] != phase:
            state["phase"] = phase
            print(f"  {phase}: {total} clients", file=sys.stderr)

    return show


def _simulation_table(r: dict) -> str:
    if r["backend"] == "ckks":
        setup = f"{r['graph']}, CKKS (TenSEAL)"
    else:
        setup = f"{r['graph']} graph, k={r['neighbors']}, t={r['threshold']}, {r['bits']} bits, threat {r['threat']}"
    lines = [
        f"{r['backend']} round: {r['clients']} clients, dim {r['dim']}, {setup}",
        f"included {r['included']} of {r['clients']} (dropped {r['clients'] - r['included']})",
        "",
    ]
    seconds = {role: v for role, v in r["seconds"].items() if isinstance(v, dict)}
    by_phase = r["bytes"]["by_phase"]
    roles = list(seconds)
    phases: list[str] = []
    for role in roles:
        for p in (*seconds[role], *by_phase.get(role, {})):
            if p != "total" and p not in phases:
                phases.append(p)
    head = f"{'phase':<16}" + "".join(f"{role + ' s':>14}{role + ' sent':>16}" for role in roles)
    lines.append(head)
    for phase in [*phases, "total"]:
        row = f"{phase:<16}"
        for role in roles:
            t = seconds[role].get(phase)
            b = r["bytes"]["sent"][role] if phase == "total" else by_phase.get(role, {}).get(phase)
            row += f"{'' if t is None else format(t, '.3f'):>14}{'' if b is None else format(b, ','):>16}"
        lines.append(row)
    lines.append(f"wall clock: {r['seconds']['total']:.2f} s")
    lines.append("")
    lines.append(f"upload per client: {r['bytes']['upload_per_client']:,} bytes "
                 f"({r['bytes']['expansion_vs_float32']:.2f}x float32)")
    lines.append("")
    if r["backend"] == "ckks":  # `exact` means "within the documented error bound" for CKKS
        verdict = "WITHIN BOUND" if r["exact"] else "OUT OF BOUND"
    else:
        verdict = "EXACT" if r["exact"] else "MISMATCH"
    lines.append(f"{verdict}: {r['check']}; max |decoded - plain float sum| = {r['max_abs_error']:.3g}")
    return "\n".join(lines)


def _cmd_params(args: argparse.Namespace) -> int:
    _check_int_range("--clients", args.clients, 2, MAX_CLIENTS)
    for flag, rate in (("--dropout-rate", args.dropout_rate), ("--adversarial-rate", args.adversarial_rate)):
        if not (math.isfinite(rate) and 0.0 <= rate < 1.0):
            raise ValueError(f"{flag} must be in [0, 1), got {rate!r}")
    choice = find_parameters(
        n_clients=args.clients,
        dropout_rate=args.dropout_rate,
        adversarial_rate=args.adversarial_rate,
        threat=args.threat,
        security_bits=args.security_bits,
        failure_bits=args.failure_bits,
    )
    out = {
        "clients": args.clients,
        "dropout_rate": args.dropout_rate,
        "adversarial_rate": args.adversarial_rate,
        "threat": args.threat,
        "security_bits": args.security_bits,
        "failure_bits": args.failure_bits,
        "graph": choice.graph.value,
        "neighbors": choice.neighbors,
        "holders": choice.neighbors + 1,
        "threshold": choice.threshold,
        "max_threshold": choice.max_threshold,
        "adversarial_bound": choice.adversarial_bound,
        "survivor_bound": choice.survivor_bound,
        "note": choice.note,
    }
    if args.json:
        print(json.dumps(out))
        return 0
    rows = [
        ("clients", f"{args.clients}"),
        ("dropout rate", f"{args.dropout_rate:g}"),
        ("adversarial rate", f"{args.adversarial_rate:g}"),
        ("threat model", args.threat),
        ("graph", choice.graph.value),
        ("neighbors k", f"{choice.neighbors}"),
        ("threshold t", f"{choice.threshold} of {choice.neighbors + 1} holders (safe up to {choice.max_threshold})"),
        ("corrupted holders", f"at most {choice.adversarial_bound} (except with prob. 2^-{args.security_bits + 1})"),
        ("surviving holders", f"at least {choice.survivor_bound} (except with prob. 2^-{args.failure_bits})"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"note: {choice.note}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``secagg`` command line.

    Args:
        argv: the arguments after the program name (default ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 2 on a usage or value error (one line
        on stderr), or argparse's status for ``--help``.

    Raises:
        Nothing for bad input: usage, type and value errors and every
        :class:`~secagg.errors.SecAggError` become exit status 2.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except _UsageError as e:
        print(str(e), file=sys.stderr)
        return 2
    except SystemExit as e:  # --help exits through argparse
        return e.code if isinstance(e.code, int) else 0
    try:
        return args.handler(args)
    except (TypeError, ValueError, ArithmeticError, MemoryError, SecAggError) as e:
        detail = " ".join(str(e).split()) or type(e).__name__  # one line, whatever the message held
        print(f"{PROG} {args.command}: error: {detail}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
