"""``secagg params``: JSON and table output, and one-line errors with exit status 2."""

from __future__ import annotations

import json

import pytest

from secagg.cli import build_parser, main
from secagg.protocol.finder import find_parameters


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output_is_one_object_with_the_finder_choice(capsys):
    code, out, err = run(
        capsys, "params", "--clients", "1000", "--dropout-rate", "0.1", "--adversarial-rate", "0.05",
        "--threat", "semi-honest", "--json",
    )
    assert code == 0 and err == ""
    lines = out.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    c = find_parameters(n_clients=1000, dropout_rate=0.1, adversarial_rate=0.05, threat="semi-honest")
    assert data["neighbors"] == c.neighbors and data["threshold"] == c.threshold and data["graph"] == "harary"
    assert data["clients"] == 1000 and data["dropout_rate"] == 0.1 and data["adversarial_rate"] == 0.05
    assert data["threat"] == "semi-honest" and data["note"] == c.note
    assert data["holders"] == c.neighbors + 1 and data["max_threshold"] == c.max_threshold


@pytest.mark.parametrize("threat", ["semi-honest", "semi-malicious", "active"])
def test_every_threat_model_is_accepted(capsys, threat):
    code, out, _ = run(capsys, "params", "--clients", "500", "--threat", threat, "--json")
    data = json.loads(out)
    assert code == 0 and data["threat"] == threat
    c = find_parameters(n_clients=500, dropout_rate=0.1, adversarial_rate=0.05, threat=threat)
    assert (data["neighbors"], data["threshold"]) == (c.neighbors, c.threshold)


def test_small_cohort_reports_the_complete_graph_and_the_note(capsys):
    code, out, _ = run(capsys, "params", "--clients", "4", "--dropout-rate", "0.25", "--adversarial-rate", "0.25", "--json")
    data = json.loads(out)
    assert code == 0 and data["graph"] == "complete" and data["neighbors"] == 3
    assert "complete graph" in data["note"]


def test_table_output_shows_graph_neighbors_threshold_and_note(capsys):
    code, out, err = run(capsys, "params", "--clients", "1000", "--dropout-rate", "0.1", "--adversarial-rate", "0.05")
    c = find_parameters(n_clients=1000, dropout_rate=0.1, adversarial_rate=0.05, threat="semi-honest")
    assert code == 0 and err == ""
    rows = {line.split("  ")[0].strip(): line for line in out.splitlines()}
    assert rows["graph"].split()[-1] == "harary"
    assert rows["neighbors k"].split()[-1] == str(c.neighbors)
    assert f"{c.threshold} of {c.neighbors + 1} holders" in rows["threshold t"]
    assert out.splitlines()[-1] == f"note: {c.note}"


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["params", "--clients", "1000", "--dropout-rate", "0.5", "--adversarial-rate", "0.45"], "0.45 + 0.5 = 0.95"),
        (["params", "--clients", "1000", "--dropout-rate", "0.45", "--threat", "active"], "2 * 0.45"),
        (["params", "--clients", "1"], "got 1"),
        (["params", "--clients", "2", "--dropout-rate", "0.5", "--adversarial-rate", "0"], "even the complete graph"),
        (["params", "--clients", "100", "--dropout-rate", "nan"], "nan"),
        (["params", "--clients", "x"], "invalid int value: 'x'"),
        (["params", "--clients", "100", "--threat", "evil"], "invalid choice: 'evil'"),
        (["params"], "--clients"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "required"),
    ],
)
def test_errors_print_one_line_on_stderr_and_exit_2(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "error:" in lines[0] and fragment in lines[0]
    assert "Traceback" not in err


def test_help_exits_zero_and_lists_the_params_options(capsys):
    code, out, _ = run(capsys, "params", "--help")
    assert code == 0
    for option in ("--clients", "--dropout-rate", "--adversarial-rate", "--threat", "--json"):
        assert option in out


def test_parser_dispatches_each_subcommand_to_its_handler():
    args = build_parser().parse_args(["params", "--clients", "10"])
    assert args.command == "params" and args.handler.__name__ == "_cmd_params"
    assert (args.dropout_rate, args.adversarial_rate, args.threat, args.json) == (0.1, 0.05, "semi-honest", False)
