"""`secagg simulate --backend ckks`: same JSON fields as masking, explicit masking options refused."""

from __future__ import annotations

import json

import pytest

from secagg.cli import main
from secagg.simulate import run_simulation

COMMON = ["simulate", "--clients", "5", "--dim", "300", "--dropout", "0.2", "--json"]
FIELDS = {"exact", "max_abs_error", "clients", "included", "dim", "neighbors", "threshold", "seconds", "bytes"}


def _json_run(capsys, argv):
    status = main(argv)
    out = capsys.readouterr()
    return status, (json.loads(out.out) if out.out.strip() else None), out.err


def test_ckks_json_has_the_same_top_level_fields_as_masking(capsys):
    status_m, masking, _ = _json_run(capsys, COMMON)
    status_c, ckks, _ = _json_run(capsys, [*COMMON, "--backend", "ckks"])
    assert status_m == status_c == 0
    assert FIELDS <= set(masking) and FIELDS <= set(ckks)
    assert set(ckks) == set(masking)
    assert ckks["exact"] is True and ckks["backend"] == "ckks"
    assert ckks["neighbors"] is None and ckks["threshold"] is None
    assert ckks["clients"] == 5 and ckks["dim"] == 300 and 1 <= ckks["included"] <= 5
    assert ckks["bytes"]["upload_per_client"] > 300 * 4  # the real envelope size, not a fallback


def test_ckks_upload_per_client_is_the_envelope_size():
    r = run_simulation(clients=3, dim=10, dropout=0.0, backend="ckks")
    assert r["bytes"]["upload_per_client"] == r["bytes"]["sent"]["clients"] // 3  # mean of 3 envelopes


def test_ckks_text_verdict_says_within_bound_not_exact(capsys):
    assert main(["simulate", "--clients", "3", "--dim", "20", "--dropout", "0", "--backend", "ckks"]) == 0
    out = capsys.readouterr().out
    assert "WITHIN BOUND" in out and "EXACT" not in out


@pytest.mark.parametrize("flag", [["--threat", "active"], ["--graph", "complete"], ["--bits", "40"],
                                  ["--threat", "semi-honest"], ["--graph", "auto"]])
def test_explicit_masking_options_with_ckks_are_an_error(capsys, flag):
    status, report, err = _json_run(capsys, [*COMMON, "--backend", "ckks", *flag])
    assert status == 2 and report is None
    assert flag[0].lstrip("-") in err


def test_precision_with_ckks_is_the_requested_absolute_error(capsys):
    status, report, _ = _json_run(capsys, [*COMMON, "--backend", "ckks", "--precision", "1e-5"])
    assert status == 0 and report["max_abs_error"] <= 1e-5
    status, report, err = _json_run(capsys, [*COMMON, "--backend", "ckks", "--precision", "1e-12"])
    assert status == 2 and "error bound" in err


def test_masking_defaults_are_unchanged(capsys):
    status, report, _ = _json_run(capsys, COMMON)
    assert status == 0 and report["exact"] is True
    assert report["threat"] == "semi-honest" and report["graph"] in ("complete", "harary")
