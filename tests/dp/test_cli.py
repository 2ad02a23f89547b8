"""Tests of the ``dp`` command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dp.accounting import epsilon
from dp.cli import main
from dp.accounting import ddp_epsilon
from dp.distributed import DistributedDPConfig, plan

EPS_ARGS = ["epsilon", "--noise-multiplier", "1.1", "--sampling-rate", "0.01", "--steps", "500", "--delta", "1e-5"]
DDP_ARGS = [
    "ddp-epsilon", "--mechanism", "dgauss", "--bits", "16", "--clients", "100", "--dim", "65536",
    "--l2-clip", "1.0", "--noise-multiplier", "1.0", "--sampling-rate", "0.01", "--steps", "1000", "--delta", "1e-5",
]  # fmt: skip


def _run_json(capsys, argv):
    assert main(argv + ["--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("\n") == 1
    return json.loads(out)


@pytest.mark.parametrize("kind", ["rdp", "pld"])
def test_epsilon_json_prints_one_object_with_the_library_epsilon(capsys, kind):
    result = _run_json(capsys, EPS_ARGS + ["--accountant", kind])
    assert result["epsilon"] == epsilon(noise_multiplier=1.1, sampling_rate=0.01, steps=500, delta=1e-5, accountant=kind)
    assert result["accountant"] == kind


def test_calibrate_json_gives_a_noise_multiplier_within_the_target(capsys):
    result = _run_json(
        capsys, ["calibrate", "--epsilon", "2.0", "--delta", "1e-5", "--sampling-rate", "0.01", "--steps", "200"]
    )
    z = result["noise_multiplier"]
    assert epsilon(noise_multiplier=z, sampling_rate=0.01, steps=200, delta=1e-5) <= 2.0
    assert result["achieved_epsilon"] <= 2.0


def test_ddp_epsilon_json_reports_the_plans_scale_and_epsilon(capsys):
    result = _run_json(capsys, DDP_ARGS)
    p = plan(DistributedDPConfig(mechanism="dgauss", bits=16, l2_clip=1.0, noise_multiplier=1.0, dim=65536, min_clients=100))
    eps, order = ddp_epsilon(plan=p, sampling_rate=0.01, steps=1000, delta=1e-5)
    assert result["scale"] == p.scale
    assert result["epsilon"] == eps and result["order"] == order
    assert result["padded_dim"] == 65536


def test_without_json_a_short_table_is_printed(capsys):
    assert main(EPS_ARGS) == 0
    out, _ = capsys.readouterr()
    rows = dict(line.split(None, 1) for line in out.strip().splitlines())
    assert set(rows) >= {"epsilon", "delta", "steps", "accountant"}
    assert float(rows["epsilon"]) == pytest.approx(
        epsilon(noise_multiplier=1.1, sampling_rate=0.01, steps=500, delta=1e-5), rel=1e-5
    )


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nonsense"],
        ["epsilon", "--noise-multiplier", "x", "--sampling-rate", "0.1", "--steps", "1", "--delta", "1e-5"],
        ["epsilon", "--noise-multiplier", "nan", "--sampling-rate", "0.1", "--steps", "1", "--delta", "1e-5"],
        ["epsilon", "--noise-multiplier", "1", "--sampling-rate", "1.5", "--steps", "1", "--delta", "1e-5"],
        ["epsilon", "--noise-multiplier", "1", "--sampling-rate", "0.1", "--steps", "-3", "--delta", "1e-5"],
        ["epsilon", "--noise-multiplier", "1", "--sampling-rate", "0.1", "--steps", "2.5", "--delta", "1e-5"],
        ["epsilon", "--noise-multiplier", "1", "--sampling-rate", "0.1", "--steps", "1"],
        ["calibrate", "--epsilon", "0", "--delta", "1e-5", "--sampling-rate", "0.1", "--steps", "10"],
        ["epsilon", "--noise-multiplier", "1", "--sampling-rate", "0.1", "--steps", "1", "--delta", "1e-5", "--accountant", "x"],
        [a if a != "16" else "4" for a in DDP_ARGS],
        [a if a != "dgauss" else "laplace" for a in DDP_ARGS],
    ],
    ids=[
        "no-command", "unknown-command", "not-a-number", "nan", "rate-above-one", "negative-steps", "float-steps",
        "missing-delta", "zero-epsilon", "unknown-accountant", "too-few-bits", "unknown-mechanism",
    ],
)  # fmt: skip
def test_errors_print_one_line_on_stderr_and_exit_2(capsys, argv):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.strip()
    assert "Traceback" not in err


def test_too_few_bits_names_the_bits_needed(capsys):
    main([a if a != "16" else "4" for a in DDP_ARGS])
    assert "BitWidthError" in capsys.readouterr().err


def test_the_module_runs_as_a_program_without_traceback_on_error():
    proc = subprocess.run(
        [sys.executable, "-m", "dp.cli", "epsilon", "--noise-multiplier", "-1", "--sampling-rate", "0.1",
         "--steps", "1", "--delta", "1e-5"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stdout == "" and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_help_returns_zero_and_lists_the_subcommands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "epsilon" in out and "calibrate" in out and "ddp-epsilon" in out


# --------------------------------------------------------------------------- edge cases of the review

_REVIEW_DDP = [
    "ddp-epsilon", "--mechanism", "skellam", "--bits", "7", "--clients", "100", "--dim", "65536", "--l2-clip", "1",
    "--noise-multiplier", "1", "--sampling-rate", "0.01", "--steps", "1000", "--delta", "1e-5",
]  # fmt: skip


def _with(argv, **changes):
    out = list(argv)
    for key, value in changes.items():
        flag = "--" + key.replace("_", "-")
        if flag in out:
            out[out.index(flag) + 1] = value
        else:
            out += [flag, value]
    return out


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (_with(DDP_ARGS, clients="1000000000000"), "--clients"),  # was a MemoryError traceback
        (_with(EPS_ARGS, noise_multiplier="1e-300"), "--noise-multiplier"),  # was ZeroDivisionError
        (_with(DDP_ARGS, l2_clip="1e300", noise_multiplier="1e-300"), "--noise-multiplier"),  # was OverflowError
        (_with(DDP_ARGS, l2_clip="1e300"), "--l2-clip"),
        (_with(EPS_ARGS, steps="10000000000"), "--steps"),
        (_with(DDP_ARGS, dim=str(2**31)), "--dim"),
        (_with(DDP_ARGS, max_clients="2000000"), "--max-clients"),
        (_with(DDP_ARGS, bits="63"), "--bits"),
        (_with(DDP_ARGS, modclip_prob="0"), "--modclip-prob"),
        (_with(DDP_ARGS, modclip_prob="1"), "modclip_prob"),
        (_with(DDP_ARGS, max_clients="50"), "max_clients"),
        (_with(EPS_ARGS, noise_multiplier="0.1", sampling_rate="1", steps="1000", accountant="pld"), "--accountant rdp"),
        (["calibrate", "--epsilon", "60", "--delta", "1e-5", "--sampling-rate", "0.1", "--steps", "10",
          "--accountant", "pld"], "--accountant rdp"),
        (_REVIEW_DDP, "effective noise multiplier"),  # planned with epsilon 75,195 before
    ],
    ids=["clients-1e12", "noise-1e-300", "clip-1e300-noise-1e-300", "clip-1e300", "steps-1e10", "dim-2^31",
         "max-clients-2e6", "bits-63", "modclip-0", "modclip-1", "max-below-min", "pld-huge-epsilon", "pld-calibrate-huge",
         "rounding-eats-noise"],
)  # fmt: skip
def test_out_of_range_arguments_give_one_clear_line_and_exit_2(capsys, argv, names):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and names in err
    for bad in ("Traceback", "ZeroDivisionError", "OverflowError", "MemoryError"):
        assert bad not in err


def test_calibrate_reports_a_target_met_at_the_lowest_noise_searched_and_prints_no_absl_warnings():
    proc = subprocess.run(
        [sys.executable, "-m", "dp.cli", "calibrate", "--epsilon", "1000", "--delta", "1e-5",
         "--sampling-rate", "0.1", "--steps", "10", "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0
    assert proc.stderr == ""  # dp-accounting logged ~34 absl WARNING lines here before
    result = json.loads(proc.stdout)
    assert result["at_search_bound"] is True
    assert result["noise_multiplier"] == 0.1 and result["achieved_epsilon"] < 1000


def test_calibrate_inside_the_search_range_is_not_at_the_bound(capsys):
    result = _run_json(capsys, ["calibrate", "--epsilon", "2.0", "--delta", "1e-5", "--sampling-rate", "0.01",
                                "--steps", "200"])  # fmt: skip
    assert result["at_search_bound"] is False


def test_ddp_epsilon_takes_modclip_prob_and_max_clients_and_reports_them(capsys):
    argv = _with(DDP_ARGS, modclip_prob="1e-6", max_clients="150")
    result = _run_json(capsys, argv)
    p = plan(DistributedDPConfig(mechanism="dgauss", bits=16, l2_clip=1.0, noise_multiplier=1.0, dim=65536,
                                 min_clients=100, max_clients=150, modclip_prob=1e-6))  # fmt: skip
    assert result["scale"] == p.scale
    assert result["max_clients"] == 150 and result["modclip_prob"] == 1e-6
    assert result["k_stddevs"] == pytest.approx(4.891638, rel=1e-6)
    assert 0.9 <= result["effective_noise_multiplier"] <= 1.0
    default = _run_json(capsys, DDP_ARGS)
    assert default["max_clients"] == 200 and default["modclip_prob"] == 1e-4


def test_modclip_prob_and_k_stddevs_are_mutually_exclusive(capsys):
    assert main(_with(DDP_ARGS, modclip_prob="1e-6", k_stddevs="5")) == 2
    assert "not allowed with" in capsys.readouterr().err


def test_the_cli_client_bound_is_the_plans():
    from dp.cli import RANGES
    from dp.distributed import MAX_CLIENTS

    assert RANGES["clients"] == (1, MAX_CLIENTS) and RANGES["max_clients"] == (1, MAX_CLIENTS)
