"""Tests of the ``dp`` command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dp.accounting import epsilon
from dp.cli import main
from dp.ddp_rdp import ddp_epsilon
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
