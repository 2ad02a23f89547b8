"""Issue 14: the CLI checks every number before it allocates, and every refusal is one line.

Before these checks, ``secagg simulate --clients 2147483648`` (and ``--dim
2147483648``, ``--dim 268435456``, ``--clients 99999999999999999999999``,
``--seed 9223372036854775808``, also with ``--backend ckks``) ended in a
MemoryError or OverflowError traceback, and ``--clip inf`` or a huge clip
printed NumPy warnings before the error line: these tests failed then.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

import secagg.cli as cli
import secagg.simulate
from secagg.cli import available_memory, main

ISSUE_NUMBERS = [
    ["--clients", "2147483648"],
    ["--dim", "2147483648"],
    ["--dim", "268435456"],
    ["--clients", "99999999999999999999999"],
    ["--seed", "9223372036854775808"],
    ["--seed", "-9223372036854775809"],
]


@pytest.fixture
def nothing_runs(monkeypatch):
    def refuse(**kwargs):
        raise AssertionError("run_simulation was called although the arguments should have been refused")

    monkeypatch.setattr(secagg.simulate, "run_simulation", refuse)


def _refusal(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("backend", ["masking", "ckks"])
@pytest.mark.parametrize("numbers", ISSUE_NUMBERS, ids=lambda a: " ".join(a))
def test_the_issues_numbers_are_refused_in_one_line_before_anything_runs(capsys, nothing_runs, numbers, backend):
    line = _refusal(capsys, ["simulate", *numbers, "--backend", backend])
    assert line.startswith("secagg simulate: error: ")
    flag, value = numbers
    assert flag in line and value in line  # names the flag and the number


@pytest.mark.parametrize(
    "extra",
    [
        ["--clip", "inf"], ["--clip", "nan"], ["--clip", "-1"], ["--clip", "1e300"], ["--clip", "1e30"],
        ["--precision", "0"], ["--precision", "inf"], ["--precision", "1e-300"],
        ["--dropout", "nan"], ["--dropout", "1"], ["--dropout", "-0.1"],
        ["--workers", "0"], ["--workers", "99999999999999999999"], ["--bits", "0"], ["--bits", "100"],
        ["--clients", "1"], ["--dim", "0"], ["--clients", "-5"],
        ["--clients", "abc"], ["--dim", "1.5"], ["--nonsense"],
    ],
    ids=lambda a: " ".join(a),
)
@pytest.mark.parametrize("backend", ["masking", "ckks"])
def test_other_bad_numbers_are_one_line(capsys, nothing_runs, extra, backend):
    _refusal(capsys, ["simulate", "--clients", "3", "--dim", "10", *extra, "--backend", backend])


def test_a_run_above_the_available_memory_is_refused_naming_the_numbers(capsys, nothing_runs, monkeypatch):
    monkeypatch.setattr(cli, "available_memory", lambda: 2**30)
    line = _refusal(capsys, ["simulate", "--clients", "1000", "--dim", "1000000"])
    assert "--clients 1000" in line and "--dim 1000000" in line and "GB" in line and "available" in line
    line = _refusal(capsys, ["simulate", "--clients", "1000", "--dim", "1000000", "--backend", "ckks"])
    assert "ckks" in line and "available" in line


def test_the_estimate_grows_with_clients_and_dim_and_a_small_run_fits(monkeypatch):
    parse = cli.build_parser().parse_args
    small = cli.estimate_simulation_memory(parse(["simulate", "--clients", "5", "--dim", "100"]))
    large = cli.estimate_simulation_memory(parse(["simulate", "--clients", "50", "--dim", "100000"]))
    ckks = cli.estimate_simulation_memory(parse(["simulate", "--clients", "5", "--dim", "100", "--backend", "ckks"]))
    assert small < large and small < ckks
    assert small < available_memory()  # this machine runs the test suite's own simulations


def test_available_memory_respects_the_address_space_limit():
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, resource.RLIM_INFINITY));"
        "from secagg.cli import available_memory; print(available_memory())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert 0 < int(out.stdout) <= 3 * 2**30


def test_a_cgroup_limit_counts_reclaimable_page_cache_as_free(tmp_path):
    (tmp_path / "memory.max").write_text("1000000\n")
    (tmp_path / "memory.current").write_text("900000\n")
    (tmp_path / "memory.stat").write_text("anon 500000\ninactive_file 300000\nactive_file 100000\n")
    assert cli._cgroup_available(str(tmp_path)) == 400_000
    (tmp_path / "memory.max").write_text("max\n")
    assert cli._cgroup_available(str(tmp_path)) is None
    assert cli._cgroup_available(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("error", [OverflowError("a\nb"), MemoryError(), ZeroDivisionError("x")])
def test_an_arithmetic_or_memory_error_from_inside_is_one_line(capsys, monkeypatch, error):
    def fail(**kwargs):
        raise error

    monkeypatch.setattr(secagg.simulate, "run_simulation", fail)
    _refusal(capsys, ["simulate", "--clients", "3", "--dim", "10"])


@pytest.mark.parametrize(
    "extra",
    [["--clients", "99999999999999999999999"], ["--clients", "1"], ["--dropout-rate", "nan"],
     ["--adversarial-rate", "inf"], ["--security-bits", "99999999999"], ["--failure-bits", "-5"]],
    ids=lambda a: " ".join(a),
)
def test_params_refusals_are_one_line_naming_the_number(capsys, extra):
    line = _refusal(capsys, ["params", "--clients", "100", *extra])
    assert extra[1] in line


def _limited():  # runs in the child: a regression must not take the machine's memory
    resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, resource.RLIM_INFINITY))


@pytest.mark.parametrize(
    "argv",
    [["--clip", "inf"], ["--clip", "1e300"], ["--dim", "2147483648", "--backend", "ckks"], ["--dim", "268435456"]],
    ids=lambda a: " ".join(a),
)
def test_the_real_command_prints_exactly_one_line(argv):
    """In a real process, NumPy warnings would reach stderr too (capsys does not see them)."""
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    proc = subprocess.run(
        [sys.executable, "-m", "secagg.cli", "simulate", "--clients", "3", "--dim", "10", *argv],
        capture_output=True, text=True, timeout=120, preexec_fn=_limited, env=env,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
