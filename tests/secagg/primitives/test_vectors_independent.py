"""The second, independent implementation re-verifies the kdf, prg, x25519, graph and merkle vectors."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]
VERIFIER = ROOT / "protocol_spec" / "tools" / "verify_independent.py"
VECTORS = ROOT / "protocol_spec" / "vectors"
CHECKED = ("kdf", "prg", "x25519", "graph", "merkle")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(VERIFIER), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_independent_verifier_accepts_every_vector():
    result = _run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MISMATCH" not in result.stdout
    last = result.stdout.strip().splitlines()[-1]
    passed = int(last.split()[0])
    assert last.endswith(", 0 failed") and passed > 150


def test_independent_verifier_imports_nothing_from_secagg():
    text = VERIFIER.read_text(encoding="utf-8")
    assert "import secagg" not in text and "from secagg" not in text


def _tamper(tmp_path: pathlib.Path, name: str, family: str, index: int, field: str) -> None:
    for f in CHECKED:
        shutil.copy(VECTORS / f"{f}.json", tmp_path / f"{f}.json")
    data = json.loads((tmp_path / f"{name}.json").read_text())
    entry = data[family][index]
    for part in field.split(".")[:-1]:
        entry = entry[int(part)] if isinstance(entry, list) else entry[part]
    field = field.split(".")[-1]
    value = entry[field]
    if isinstance(value, list):
        entry[field] = [value[0] ^ 1, *value[1:]]
    else:
        entry[field] = ("0" if value[0] != "0" else "1") + value[1:]
    (tmp_path / f"{name}.json").write_text(json.dumps(data))


def test_independent_verifier_reports_a_changed_kdf_key(tmp_path):
    _tamper(tmp_path, "kdf", "generate", 0, "key")
    result = _run("--vectors", str(tmp_path))
    assert result.returncode == 1
    assert "MISMATCH kdf/" in result.stdout


def test_independent_verifier_reports_a_changed_prg_word(tmp_path):
    _tamper(tmp_path, "prg", "generate", 3, "words")
    result = _run("--vectors", str(tmp_path))
    assert result.returncode == 1
    assert "MISMATCH prg/" in result.stdout and "words" in result.stdout


def test_independent_verifier_reports_a_changed_shared_secret(tmp_path):
    _tamper(tmp_path, "x25519", "verify", 0, "shared")
    result = _run("--vectors", str(tmp_path))
    assert result.returncode == 1
    assert "MISMATCH x25519/rfc7748-6.1-alice" in result.stdout


def test_independent_verifier_fails_on_a_missing_file(tmp_path):
    result = _run("--vectors", str(tmp_path))
    assert result.returncode == 1


def test_independent_verifier_checks_the_graph_and_merkle_files():
    out = _run().stdout
    for name in ("graph", "merkle"):
        line = next(x for x in out.splitlines() if x.startswith(f"{name}.json:"))
        assert int(line.split()[1]) > 100 and line.endswith(" 0 failed")


def test_independent_verifier_reports_a_changed_ring(tmp_path):
    _tamper(tmp_path, "graph", "generate", 1, "ring")
    result = _run("--vectors", str(tmp_path))
    assert result.returncode == 1
    assert "MISMATCH graph/harary-m6-k2 ring" in result.stdout


def test_independent_verifier_reports_a_changed_multiproof(tmp_path):
    _tamper(tmp_path, "merkle", "generate", 12, "proofs.3.proof")  # ordered-m100, a window's proof
    result = _run("--vectors", str(tmp_path))
    assert result.returncode == 1
    assert "MISMATCH merkle/ordered-m100 proof" in result.stdout


def test_independent_verifier_reports_an_invalid_multiproof_that_verifies(tmp_path):
    for f in CHECKED:
        shutil.copy(VECTORS / f"{f}.json", tmp_path / f"{f}.json")
    data = json.loads((tmp_path / "merkle.json").read_text())
    bad = next(e for e in data["invalid"] if e["id"] == "proof-one-item-short")
    good = next(e for e in data["generate"] if e["id"] == "ordered-m17")
    bad["proof"] = next(p["proof"] for p in good["proofs"] if p["positions"] == bad["positions"])
    (tmp_path / "merkle.json").write_text(json.dumps(data))
    result = _run("--vectors", str(tmp_path))
    assert result.returncode == 1
    assert "MISMATCH merkle/invalid/proof-one-item-short: accepted" in result.stdout
