"""The ``dp`` command line: epsilon, noise calibration and distributed-noise epsilon.

Subcommands (each takes ``--json`` to print exactly one JSON object instead
of a short table):

* ``dp epsilon --noise-multiplier Z --sampling-rate Q --steps T --delta D [--accountant rdp|pld]``
* ``dp calibrate --epsilon E --delta D --sampling-rate Q --steps T [--accountant rdp|pld]``
* ``dp report LEDGER [--json | --csv] [--key-file F]``: the ledger's per-round
  report (one row per run of identical rounds), as a table, JSON or CSV.
* ``dp ddp-epsilon --mechanism skellam|dgauss --bits B --clients N --dim D --l2-clip C
  --noise-multiplier Z --sampling-rate Q --steps T --delta D [--max-clients M]
  [--modclip-prob P | --k-stddevs K] [--rounding-tolerance ETA]``

Numeric arguments are range-checked before anything is computed (see
:data:`RANGES`): noise multipliers in ``[1e-3, 1e6]``, clips in
``[1e-30, 1e30]``, steps up to ``10^9``, at most ``2^20`` clients, and so on.
The PLD accountant's memory grows with epsilon (about 1.4 GB at epsilon
280), so ``dp epsilon --accountant pld`` is refused when the RDP epsilon of
the same run exceeds :data:`PLD_MAX_EPSILON` (100), and ``dp calibrate
--accountant pld`` when the target exceeds half of it.

``dp calibrate`` searches noise multipliers down to
:data:`dp.accounting.MIN_NOISE_MULTIPLIER` (0.1); when even that meets the
target, the output has ``at_search_bound: true`` (the true minimum may be
lower; ``achieved_epsilon`` says how far below the target it is).
Otherwise ``at_search_bound`` is ``false``.

Errors print one line on stderr and exit with status 2 (no traceback); absl
log messages from dp-accounting are silenced while the command runs. In
JSON output a non-finite number (an infinite epsilon, or the order of a
zero-step run) is ``null``.

>>> main(["epsilon", "--noise-multiplier", "1.1", "--sampling-rate", "0.0042666667",
...       "--steps", "14063", "--delta", "1e-5", "--json"])  # doctest: +ELLIPSIS
{"accountant": "rdp", "delta": 1e-05, "epsilon": 2.59..., ...}
0
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

__all__ = ["PLD_MAX_EPSILON", "RANGES", "main"]

EXIT_OK = 0
EXIT_ERROR = 2

#: PLD is refused above this RDP epsilon (its memory grows with epsilon). The same
#: value as dp.accounting.PLD_MAX_EPSILON (a test checks), kept here so that parsing
#: the command line does not import dp-accounting.
PLD_MAX_EPSILON = 100.0


_MAX_CLIENTS = 2**20  # = dp.distributed.MAX_CLIENTS (checked by a test; not imported to keep start-up light)

#: Inclusive ranges of the numeric options, checked before any computation.
#: ``None`` leaves a side to the library's own check (an open interval).
RANGES: dict[str, tuple[float | None, float | None]] = {
    "noise_multiplier": (1e-3, 1e6),
    "sampling_rate": (None, 1.0),
    "steps": (0, 10**9),
    "delta": (1e-300, None),
    "epsilon": (None, 1e4),
    "bits": (1, 62),
    "clients": (1, _MAX_CLIENTS),
    "max_clients": (1, _MAX_CLIENTS),
    "dim": (1, 2**30),
    "l2_clip": (1e-30, 1e30),
    "modclip_prob": (1e-300, None),
    "k_stddevs": (None, 40.0),
    "rounding_tolerance": (None, None),
}


class _UsageError(Exception):
    """A bad command line; the message is printed as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage block
        raise _UsageError(f"{self.prog}: {message}")


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _build_parser() -> _Parser:
    parser = _Parser(prog="dp", description="Differential-privacy accounting for federated learning.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    eps = sub.add_parser("epsilon", help="epsilon of T rounds of the Poisson-sampled Gaussian")
    eps.add_argument("--noise-multiplier", type=_finite_float, required=True)
    eps.add_argument("--sampling-rate", type=_finite_float, required=True)
    eps.add_argument("--steps", type=_int, required=True)
    eps.add_argument("--delta", type=_finite_float, required=True)
    eps.add_argument("--accountant", choices=("rdp", "pld"), default="rdp")
    eps.add_argument("--json", action="store_true", help="print one JSON object")

    cal = sub.add_parser("calibrate", help="smallest Gaussian noise multiplier meeting (epsilon, delta)")
    cal.add_argument("--epsilon", type=_finite_float, required=True)
    cal.add_argument("--delta", type=_finite_float, required=True)
    cal.add_argument("--sampling-rate", type=_finite_float, required=True)
    cal.add_argument("--steps", type=_int, required=True)
    cal.add_argument("--accountant", choices=("rdp", "pld"), default="rdp")
    cal.add_argument("--json", action="store_true", help="print one JSON object")

    ddp = sub.add_parser("ddp-epsilon", help="epsilon of distributed Skellam / discrete Gaussian rounds")
    ddp.add_argument("--mechanism", choices=("skellam", "dgauss"), required=True)
    ddp.add_argument("--bits", type=_int, required=True)
    ddp.add_argument("--clients", type=_int, required=True, help="minimum clients per sum (noise calibrated to it)")
    ddp.add_argument("--dim", type=_int, required=True)
    ddp.add_argument("--l2-clip", type=_finite_float, required=True)
    ddp.add_argument("--noise-multiplier", type=_finite_float, required=True)
    ddp.add_argument("--sampling-rate", type=_finite_float, required=True)
    ddp.add_argument("--steps", type=_int, required=True)
    ddp.add_argument("--delta", type=_finite_float, required=True)
    ddp.add_argument(
        "--max-clients", type=_int, default=None,
        help="most clients per sum; sizes the modulus (default: 2 x --clients)",
    )  # fmt: skip
    clip = ddp.add_mutually_exclusive_group()
    clip.add_argument(
        "--modclip-prob", type=_finite_float, default=None,
        help="per-coordinate modular-clipping probability (default 1e-4)",
    )  # fmt: skip
    clip.add_argument("--k-stddevs", type=_finite_float, default=None, help="stddevs of the sum that fit the modulus")
    ddp.add_argument(
        "--rounding-tolerance", type=_finite_float, default=None,
        help="eta: refuse bits where rounding lowers the effective noise multiplier by more (default 0.1)",
    )  # fmt: skip
    ddp.add_argument("--json", action="store_true", help="print one JSON object")

    rep = sub.add_parser("report", help="the per-round report of a saved ledger, for an auditor")
    rep.add_argument("ledger", help="the ledger file")
    rep.add_argument("--key-file", default=None, help="file holding the ledger's HMAC key (authenticated ledgers)")
    fmt = rep.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print a JSON array, one object per entry")
    fmt.add_argument("--csv", action="store_true", help="print CSV with a header row")
    return parser


def _check_ranges(args: argparse.Namespace) -> None:
    for name, (lo, hi) in RANGES.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            low = "" if lo is None else f">= {lo!r}"
            high = "" if hi is None else f"<= {hi!r}"
            bounds = " and ".join(b for b in (low, high) if b)
            raise _UsageError(f"dp {args.command}: --{name.replace('_', '-')} must be {bounds}, got {value!r}")


def _run_epsilon(args: argparse.Namespace) -> dict[str, Any]:
    from dp.accounting import epsilon

    if args.accountant == "pld":
        rdp_eps = epsilon(
            noise_multiplier=args.noise_multiplier, sampling_rate=args.sampling_rate, steps=args.steps, delta=args.delta
        )
        if not rdp_eps <= PLD_MAX_EPSILON:
            raise _UsageError(
                f"dp epsilon: the RDP epsilon of this run is {rdp_eps:.6g} > {PLD_MAX_EPSILON:g}, where the PLD "
                f"accountant needs gigabytes; use --accountant rdp"
            )
    eps = epsilon(
        noise_multiplier=args.noise_multiplier,
        sampling_rate=args.sampling_rate,
        steps=args.steps,
        delta=args.delta,
        accountant=args.accountant,
    )
    return {
        "epsilon": eps,
        "delta": args.delta,
        "noise_multiplier": args.noise_multiplier,
        "sampling_rate": args.sampling_rate,
        "steps": args.steps,
        "accountant": args.accountant,
    }


def _run_calibrate(args: argparse.Namespace) -> dict[str, Any]:
    from dp.accounting import MIN_NOISE_MULTIPLIER, calibrate_noise, epsilon

    if args.accountant == "pld" and args.epsilon > PLD_MAX_EPSILON / 2:
        raise _UsageError(
            f"dp calibrate: --epsilon {args.epsilon:g} is above {PLD_MAX_EPSILON / 2:g}, where the PLD accountant "
            f"needs gigabytes; use --accountant rdp"
        )
    z = calibrate_noise(
        epsilon=args.epsilon,
        delta=args.delta,
        sampling_rate=args.sampling_rate,
        steps=args.steps,
        accountant=args.accountant,
    )
    achieved = epsilon(
        noise_multiplier=z, sampling_rate=args.sampling_rate, steps=args.steps, delta=args.delta, accountant=args.accountant
    )
    return {
        "noise_multiplier": z,
        "at_search_bound": z <= MIN_NOISE_MULTIPLIER,
        "achieved_epsilon": achieved,
        "target_epsilon": args.epsilon,
        "delta": args.delta,
        "sampling_rate": args.sampling_rate,
        "steps": args.steps,
        "accountant": args.accountant,
    }


def _run_ddp(args: argparse.Namespace) -> dict[str, Any]:
    from dp.accounting import ddp_epsilon
    from dp.distributed import DistributedDPConfig, plan

    p = plan(
        DistributedDPConfig(
            mechanism=args.mechanism,
            bits=args.bits,
            l2_clip=args.l2_clip,
            noise_multiplier=args.noise_multiplier,
            dim=args.dim,
            min_clients=args.clients,
            max_clients=args.max_clients,
            modclip_prob=args.modclip_prob,
            k_stddevs=args.k_stddevs,
            **({} if args.rounding_tolerance is None else {"rounding_tolerance": args.rounding_tolerance}),
        )
    )
    eps, order = ddp_epsilon(plan=p, sampling_rate=args.sampling_rate, steps=args.steps, delta=args.delta)
    return {
        "epsilon": eps,
        "order": order,
        "delta": args.delta,
        "mechanism": args.mechanism,
        "bits": args.bits,
        "clients": args.clients,
        "max_clients": p.config.expected_clients,
        "k_stddevs": p.config.resolved_k_stddevs,
        "modclip_prob": p.config.resolved_modclip_prob,
        "effective_noise_multiplier": math.sqrt(args.clients * p.local_variance) / p.l2_sensitivity,
        "dim": args.dim,
        "padded_dim": p.padded_dim,
        "scale": p.scale,
        "local_variance": p.local_variance,
        "l2_sensitivity": p.l2_sensitivity,
        "l1_sensitivity": p.l1_sensitivity,
        "noise_multiplier": args.noise_multiplier,
        "sampling_rate": args.sampling_rate,
        "steps": args.steps,
        "accountant": "rdp",
    }


def _run_report(args: argparse.Namespace) -> str:
    from dp.ledger import MAX_LEDGER_BYTES, REPORT_COLUMNS, PrivacyLedger

    key = None
    if args.key_file is not None:
        with open(args.key_file, "rb") as fh:
            key = fh.read(4097)
        if len(key) > 4096:
            raise ValueError(f"key file {args.key_file} is longer than 4096 bytes")
    with open(args.ledger, "rb") as fh:
        data = fh.read(MAX_LEDGER_BYTES + 1)
    ledger = PrivacyLedger.from_json(data, key=key)
    if args.json:
        return ledger.report_json()
    if args.csv:
        return ledger.report_csv().rstrip("\n")
    rows = ledger.report()
    cells = [list(REPORT_COLUMNS)] + [
        ["-" if r[c] is None else f"{r[c]:.6g}" if isinstance(r[c], float) else str(r[c]) for c in REPORT_COLUMNS]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(REPORT_COLUMNS))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    state = "authenticated" if key is not None else "chain checked, head not verified (no key)" if ledger.read_only else "unauthenticated"
    lines.append(
        f"budget epsilon {ledger.epsilon_budget:g} at delta {ledger.delta:g}; spent {ledger.spent_epsilon():.6g}; "
        f"{ledger.accountant}, {ledger.neighbouring_relation}; {state}"
    )
    return "\n".join(lines)


_COMMANDS = {"epsilon": _run_epsilon, "calibrate": _run_calibrate, "ddp-epsilon": _run_ddp, "report": _run_report}


def _table(result: dict[str, Any]) -> str:
    width = max(len(k) for k in result)
    lines = []
    for key, value in result.items():
        text = f"{value:.6g}" if isinstance(value, float) else str(value)
        lines.append(f"{key.ljust(width)}  {text}")
    return "\n".join(lines)


def _jsonable(result: dict[str, Any]) -> dict[str, Any]:
    # JSON has no inf/nan: a non-finite float (e.g. epsilon = inf) becomes null.
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in result.items()}


@contextlib.contextmanager
def _quiet_absl() -> Iterator[None]:
    # dp-accounting warns through absl (e.g. "optimal order is the largest
    # alpha") once per probe; a calibration would print dozens of lines.
    from absl import logging as absl_logging

    before = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        yield
    finally:
        absl_logging.set_verbosity(before)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dp`` command line.

    Args:
        argv: the arguments after the program name (default ``sys.argv[1:]``).

    Returns:
        0 on success (including ``--help``), 2 on any error (bad arguments, out-of-range values, too
        few bits, unsupported parameters); the error is one line on stderr.

    Raises:
        Nothing for bad input: every error becomes exit status 2. (An
        unexpected internal error, a bug, still propagates.)
    """
    try:
        args = _build_parser().parse_args(None if argv is None else list(argv))
        _check_ranges(args)
        with _quiet_absl():
            result = _COMMANDS[args.command](args)
    except _UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    except SystemExit as exc:  # --help / --version: argparse has printed, report its status
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except (ValueError, TypeError, ArithmeticError, MemoryError, OSError) as exc:  # typed errors subclass ValueError
        message = " ".join(str(exc).split())
        print(f"dp: error: {type(exc).__name__}: {message}", file=sys.stderr)
        return EXIT_ERROR
    if args.command == "report":
        print(result)
    elif args.json:
        print(json.dumps(_jsonable(result), sort_keys=True, allow_nan=False))
    else:
        print(_table(result))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
