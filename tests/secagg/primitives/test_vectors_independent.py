"""The second, independent implementation re-verifies the vector files (whole transcripts included) and catches tampering."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
VERIFIER = ROOT / "protocol_spec" / "tools" / "verify_independent.py"
VECTORS = ROOT / "protocol_spec" / "vectors"
CHECKED = ("kdf", "prg", "x25519", "graph", "merkle", "transcripts")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(VERIFIER), *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def clean_run() -> subprocess.CompletedProcess:
    return _run()


def test_independent_verifier_accepts_every_vector(clean_run):
    result = clean_run
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MISMATCH" not in result.stdout
    last = result.stdout.strip().splitlines()[-1]
    passed = int(last.split()[0])
    assert last.endswith(", 0 failed") and passed > 150


def test_independent_verifier_checks_every_vector_file(clean_run):
    files = sorted(path.stem for path in VECTORS.glob("*.json"))
    checked = sorted(line.split(".json:")[0] for line in clean_run.stdout.splitlines() if ".json: " in line)
    assert checked == files
    for line in clean_run.stdout.splitlines():
        if ".json: " in line:
            assert int(line.split()[1]) > 20 and line.endswith(" 0 failed"), line


def test_vectors_readme_describes_every_file_and_its_fields():
    readme = (VECTORS / "README.md").read_text(encoding="utf-8")
    for path in VECTORS.glob("*.json"):
        assert f"`{path.name}`" in readme, path.name
    finder = readme[readme.index("- `finder.json`") :]
    for field in ("n_clients", "dropout_rate", "adversarial_rate", "threat", "security_bits", "failure_bits",
                  "complete_only", "choice", "graph", "neighbors", "threshold", "max_threshold",
                  "adversarial_bound", "survivor_bound", "arguments", "error"):
        assert f"`{field}`" in finder, field
    state = readme[readme.index("### `client_state.json`") :]
    for field in ("params", "client", "clients", "before", "message", "random", "reply", "after", "identity", "pki",
                  "reason", "detail", "abort", "hex", "error", "round_counter"):
        assert f"`{field}`" in state, field


def test_independent_verifier_imports_nothing_from_secagg():
    text = VERIFIER.read_text(encoding="utf-8")
    assert "import secagg" not in text and "from secagg" not in text


def _copy(tmp_path: pathlib.Path) -> None:
    for f in CHECKED:
        shutil.copy(VECTORS / f"{f}.json", tmp_path / f"{f}.json")


def _edit(tmp_path: pathlib.Path, name: str, edit) -> None:
    shutil.copy(VECTORS / f"{name}.json", tmp_path / f"{name}.json")
    data = json.loads((tmp_path / f"{name}.json").read_text())
    edit(data)
    (tmp_path / f"{name}.json").write_text(json.dumps(data))


def _entry(data: dict, family: str, entry_id: str) -> dict:
    return next(e for e in data[family] if e["id"] == entry_id)


def _flip_byte(hex_text: str, index: int) -> str:
    raw = bytearray(bytes.fromhex(hex_text))
    raw[index] ^= 0x01
    return raw.hex()


def _tamper(tmp_path: pathlib.Path, name: str, family: str, index: int, field: str) -> None:
    _copy(tmp_path)
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
    result = _run("--vectors", str(tmp_path), "--only", "kdf")
    assert result.returncode == 1
    assert "MISMATCH kdf/" in result.stdout


def test_independent_verifier_reports_a_changed_prg_word(tmp_path):
    _tamper(tmp_path, "prg", "generate", 3, "words")
    result = _run("--vectors", str(tmp_path), "--only", "prg")
    assert result.returncode == 1
    assert "MISMATCH prg/" in result.stdout and "words" in result.stdout


def test_independent_verifier_reports_a_changed_shared_secret(tmp_path):
    _tamper(tmp_path, "x25519", "verify", 0, "shared")
    result = _run("--vectors", str(tmp_path), "--only", "x25519")
    assert result.returncode == 1
    assert "MISMATCH x25519/rfc7748-6.1-alice" in result.stdout


def test_independent_verifier_fails_on_a_missing_file(tmp_path):
    result = _run("--vectors", str(tmp_path))
    assert result.returncode == 1


def test_independent_verifier_checks_the_graph_and_merkle_files(clean_run):
    out = clean_run.stdout
    for name in ("graph", "merkle"):
        line = next(x for x in out.splitlines() if x.startswith(f"{name}.json:"))
        assert int(line.split()[1]) > 100 and line.endswith(" 0 failed")


def test_independent_verifier_reports_a_changed_ring(tmp_path):
    _tamper(tmp_path, "graph", "generate", 1, "ring")
    result = _run("--vectors", str(tmp_path), "--only", "graph")
    assert result.returncode == 1
    assert "MISMATCH graph/harary-m6-k2 ring" in result.stdout


def test_independent_verifier_reports_a_changed_multiproof(tmp_path):
    _tamper(tmp_path, "merkle", "generate", 12, "proofs.3.proof")  # ordered-m100, a window's proof
    result = _run("--vectors", str(tmp_path), "--only", "merkle")
    assert result.returncode == 1
    assert "MISMATCH merkle/ordered-m100 proof" in result.stdout


def test_independent_verifier_reports_an_invalid_multiproof_that_verifies(tmp_path):
    _copy(tmp_path)
    data = json.loads((tmp_path / "merkle.json").read_text())
    bad = next(e for e in data["invalid"] if e["id"] == "proof-one-item-short")
    good = next(e for e in data["generate"] if e["id"] == "ordered-m17")
    bad["proof"] = next(p["proof"] for p in good["proofs"] if p["positions"] == bad["positions"])
    (tmp_path / "merkle.json").write_text(json.dumps(data))
    result = _run("--vectors", str(tmp_path), "--only", "merkle")
    assert result.returncode == 1
    assert "MISMATCH merkle/invalid/proof-one-item-short: accepted" in result.stdout


def _tampered_run(tmp_path: pathlib.Path, name: str, edits) -> list[str]:
    """Apply every edit (each to its own entry) to a copy of NAME.json, run the tool on it once, return the MISMATCH lines."""
    data = json.loads((VECTORS / f"{name}.json").read_text())
    for edit in edits:
        edit(data)
    (tmp_path / f"{name}.json").write_text(json.dumps(data))
    result = _run("--vectors", str(tmp_path), "--only", name)
    assert result.returncode == 1, result.stdout
    return [line for line in result.stdout.splitlines() if line.startswith("MISMATCH")]


def _mismatch(lines: list[str], where: str, what: str) -> bool:
    return any(line.startswith(f"MISMATCH {where}") and what in line for line in lines)


def test_independent_verifier_re_runs_every_transcript(clean_run):
    line = next(x for x in clean_run.stdout.splitlines() if x.startswith("transcripts.json:"))
    assert int(line.split()[1]) > 3000 and line.endswith(" 0 failed")


# One tampered transcripts.json, one run of the tool: each edit is in its own entry, each test asserts its own mismatch.


def _wrong_sum(data):
    result = _entry(data, "generate", "n8-harary-k4-drop-before-masked-input")["result"]
    result["sum"][2] = (result["sum"][2] + 1) % 2**16


def _changed_blob(data):
    entry = _entry(data, "generate", "n5-harary-k2-no-dropout")
    msg = next(m for m in entry["messages"] if m["type"] == "ShareKeysResponse" and m["client"] == 2)
    msg["hex"] = _flip_byte(msg["hex"], len(msg["hex"]) // 2 - 20)  # inside the last blob


def _changed_flag_root(data):
    entry = _entry(data, "generate", "n11-active-harary-k4-drop-before-masked-input")
    msg = next(m for m in entry["messages"] if m["type"] == "ConsistencyCheckRequest")
    msg["hex"] = _flip_byte(msg["hex"], 2 + 32)  # first byte of survivors_root


def _changed_seed_draw(data):
    entry = _entry(data, "generate", "n4-complete-bits-7-drop-before-unmasking")
    entry["random"]["3"][2] = _flip_byte(entry["random"]["3"][2], 0)  # client 3's self-mask seed b_3


def _wrong_delivery(data):
    entry = _entry(data, "generate", "n4-harary-k2-drop-before-share-keys")
    msg = next(m for m in entry["messages"] if m["type"] == "ShareKeysRequest" and m["client"] == 3)
    msg["delivered"] = True  # client 3 drops before ShareKeys


def _wrong_abort_threshold(data):
    result = _entry(data, "generate", "n5-complete-abort-too-few-unmasking-responses")["result"]
    result["detail"] = result["detail"].replace("threshold t = 3", "threshold t = 2")


def _undecodable_message(data):
    entry = _entry(data, "generate", "n3-complete-drop-before-unmasking")
    msg = next(m for m in entry["messages"] if m["type"] == "UnmaskingRequest")
    msg["hex"] += "00"  # a trailing byte


@pytest.fixture(scope="module")
def tampered_transcripts(tmp_path_factory) -> list[str]:
    edits = [_wrong_sum, _changed_blob, _changed_flag_root, _changed_seed_draw, _wrong_delivery, _wrong_abort_threshold, _undecodable_message]
    return _tampered_run(tmp_path_factory.mktemp("transcripts"), "transcripts", edits)


def test_independent_verifier_reports_a_wrong_final_sum(tampered_transcripts):
    assert _mismatch(tampered_transcripts, "transcripts/n8-harary-k4-drop-before-masked-input", "result sum")


def test_independent_verifier_reports_a_changed_encrypted_share(tampered_transcripts):
    assert _mismatch(tampered_transcripts, "transcripts/n5-harary-k2-no-dropout", "share_keys ShareKeysResponse of 2: bytes differ")


def test_independent_verifier_reports_a_changed_flag_tree_root(tampered_transcripts):
    assert _mismatch(tampered_transcripts, "transcripts/n11-active-harary-k4-drop-before-masked-input", "masked_input ConsistencyCheckRequest to")


def test_independent_verifier_reports_a_changed_self_mask_seed(tampered_transcripts):
    assert _mismatch(tampered_transcripts, "transcripts/n4-complete-bits-7-drop-before-unmasking", "share_keys ShareKeysResponse of 3")


def test_independent_verifier_reports_a_wrong_delivery(tampered_transcripts):
    assert _mismatch(tampered_transcripts, "transcripts/n4-harary-k2-drop-before-share-keys", "message order, recipients and delivery")


def test_independent_verifier_reports_a_wrong_abort_threshold(tampered_transcripts):
    assert _mismatch(tampered_transcripts, "transcripts/n5-complete-abort-too-few-unmasking-responses", "abort detail")


def test_independent_verifier_reports_a_message_that_does_not_decode(tampered_transcripts):
    assert _mismatch(tampered_transcripts, "transcripts/n3-complete-drop-before-unmasking", "UnmaskingRequest to 1) decodes")


def test_tampered_transcripts_touch_only_their_own_entries(tampered_transcripts):
    touched = {line.split()[1].split("/")[1] for line in tampered_transcripts}
    assert touched == {
        "n8-harary-k4-drop-before-masked-input", "n5-harary-k2-no-dropout", "n11-active-harary-k4-drop-before-masked-input",
        "n4-complete-bits-7-drop-before-unmasking", "n4-harary-k2-drop-before-share-keys",
        "n5-complete-abort-too-few-unmasking-responses", "n3-complete-drop-before-unmasking",
    }


# shamir, aead, packing, codec, reconstruction: one tampered copy of each file, one run of the tool per file.


def _set(family: str, entry_id: str, field: str, change):
    def edit(data):
        entry = _entry(data, family, entry_id)
        entry[field] = change(entry[field])

    return edit


def _flip_hex_list(index: int):
    return lambda values: [_flip_byte(v, 0) if i == index else v for i, v in enumerate(values)]


def _first_valid_codec_message(data):
    bad = _entry(data, "invalid", "trailing-byte-masked-input-response")
    bad["encoded"] = _entry(data, "generate", "abort-empty-detail")["encoded"]  # an invalid entry that decodes


def _set_choice(entry_id: str, field: str, change):
    def edit(data):
        choice = _entry(data, "generate", entry_id)["choice"]
        choice[field] = change(choice[field])

    return edit


def _feasible_rates(data):
    bad = _entry(data, "invalid", "semi-honest-sum-above-0.9")
    bad["arguments"]["adversarial_rate"] = 0.4  # 0.5 + 0.4 = 0.9: feasible, so the finder answers


def _state_step(data, entry_id: str, client: str, step: int) -> dict:
    return _entry(data, "generate", entry_id)["clients"][client][step]


def _changed_share_key(data):
    step = _state_step(data, "n3-complete", "1", 1)  # the phase-2 state after ShareKeys
    step["after"] = _flip_byte(step["after"], 66 + 32 + 12 + 12 + 40)  # inside k_uv of the first neighbour


def _wrong_state_version(data):
    step = _state_step(data, "n5-harary-k2", "2", 2)
    raw = bytearray(bytes.fromhex(step["before"]))
    raw[23] = 2  # state version 2
    step["before"] = raw.hex()


def _other_identity_signature(data):
    step = _state_step(data, "n4-active", "3", 1)  # the phase-1 state: its last byte ends the signature
    step["before"] = _flip_byte(step["before"], len(step["before"]) // 2 - 1)


def _honest_message_in_abort_vector(data):
    bad = _entry(data, "verify", "n5-harary-k2/MaskedInputRequest/share-blob-flipped")
    bad["message"] = _state_step(data, "n5-harary-k2", "1", 2)["message"]  # the untampered request


def _valid_state_in_invalid_entry(data):
    _entry(data, "invalid", "truncated")["hex"] = _state_step(data, "n3-complete", "1", 1)["after"]


def _version_3_in_invalid_entry(data):
    bad = _entry(data, "invalid", "version 4")
    raw = bytearray(bytes.fromhex(bad["hex"]))
    raw[23] = 3
    bad["hex"] = raw.hex()


TAMPERED = {
    "shamir": [
        _set("generate", "t3-n5-two-secrets", "shares", _flip_hex_list(2)),
        _set("verify", "t4-sparse-large-xs", "secrets", _flip_hex_list(0)),
        _set("invalid", "duplicate-x", "error", lambda _: "InsufficientSharesError"),  # the wrong error class
    ],
    "aead": [
        _set("generate", "blob-0-plaintext-0-bytes", "blob", lambda b: _flip_byte(b, 20)),
        _set("verify", "gcm-spec-test-case-16", "plaintext", lambda b: _flip_byte(b, 0)),
    ],
    "packing": [
        _set("generate", "worked-example-bits4", "packed", lambda b: _flip_byte(b, 0)),
        _set("invalid", "one-byte-short-bits3-len5", "packed", lambda b: "ff07"),  # now the right length, padding zero
    ],
    "codec": [
        _set("generate", "masked-input-response", "encoded", lambda b: _flip_byte(b, 40)),
        _set("verify", "survivors-count-n", "fields", lambda f: {**f, "dropped": [5]}),
        _first_valid_codec_message,
    ],
    "reconstruction": [
        _set("generate", "t3-of-6-two-bad-shares-need-the-subset-search", "attempts", lambda a: {k: v[:-2] + v[-1:] for k, v in a.items()}),
        _set("generate", "t3-of-4-errors-cancel-and-blame-an-honest-holder", "suspects", lambda s: [3]),
        _set("generate", "t3-of-4-too-many-bad-shares", "result", lambda r: {**r, "owner": 1}),
    ],
    "finder": [
        _set_choice("n1000-d0.1-a0.05-semi-honest-s40-f20", "neighbors", lambda k: k + 2),  # accepted, but not the smallest
        _set_choice("n65535-d0.1-a0.05-semi-honest-s40-f20", "neighbors", lambda k: k - 1),  # off by one
        _set_choice("n10000-d0.1-a0.05-semi-honest-s80-f30", "threshold", lambda t: t + 1),
        _set_choice("n1000000-d0.3-a0.3-semi-malicious-s40-f20", "adversarial_bound", lambda a: a - 1),
        _set_choice("n100000-d0.1-a0.1-semi-malicious-s40-f20", "survivor_bound", lambda z: z + 1),
        _set_choice("n1000-d0.1-a0.05-active-s40-f20", "graph", lambda g: "harary"),
        _set("invalid", "n-float", "error", lambda _: "ValueError"),  # the wrong error class
        _feasible_rates,
    ],
    "client_state": [
        _changed_share_key,
        _wrong_state_version,
        _other_identity_signature,
        _honest_message_in_abort_vector,
        _set("verify", "n4-active/ConsistencyCheckRequest/every-flag-cleared", "reason", lambda _: "AUTHENTICATION"),
        _valid_state_in_invalid_entry,
        _version_3_in_invalid_entry,
        _set("invalid", "another client's state", "error", lambda _: "DecodeError"),
    ],
}
EXPECTED = {
    "shamir": ["shamir/t3-n5-two-secrets shares", "shamir/verify/t4-sparse-large-xs", "shamir/invalid/duplicate-x: refused with DuplicateShareError"],
    "aead": ["aead/blob-0-plaintext-0-bytes blob", "aead/gcm-spec-test-case-16 blob"],
    "packing": ["packing/worked-example-bits4 pack", "packing/invalid/one-byte-short-bits3-len5: accepted"],
    "codec": ["codec/masked-input-response encode", "codec/survivors-count-n encode", "codec/invalid/trailing-byte-masked-input-response: accepted"],
    "reconstruction": [
        "reconstruction/t3-of-6-two-bad-shares-need-the-subset-search attempts of 4",
        "reconstruction/t3-of-4-errors-cancel-and-blame-an-honest-holder suspects",
        "reconstruction/t3-of-4-too-many-bad-shares result",
    ],
    "finder": [
        "finder/n1000-d0.1-a0.05-semi-honest-s40-f20 neighbors",
        "finder/n65535-d0.1-a0.05-semi-honest-s40-f20 neighbors",
        "finder/n10000-d0.1-a0.05-semi-honest-s80-f30 threshold",
        "finder/n1000000-d0.3-a0.3-semi-malicious-s40-f20 adversarial_bound",
        "finder/n100000-d0.1-a0.1-semi-malicious-s40-f20 survivor_bound",
        "finder/n1000-d0.1-a0.05-active-s40-f20 graph",
        "finder/invalid/n-float: refused with TypeError",
        "finder/invalid/semi-honest-sum-above-0.9: accepted",
    ],
    "client_state": [
        "client_state/n3-complete client 1 step 1 after (phase 2) re-derived",
        "client_state/n5-harary-k2: Refused: DecodeError: state version 2",
        "client_state/n4-active: ValueError: the advertised keys were signed by another identity",
        "client_state/verify/n5-harary-k2/MaskedInputRequest/share-blob-flipped refused: the independent client accepts",
        "client_state/verify/n4-active/ConsistencyCheckRequest/every-flag-cleared after is the aborted state",
        "client_state/invalid/truncated: accepted",
        "client_state/invalid/version 4: accepted",
        "client_state/invalid/another client's state: refused with ValueError",
    ],
}


@pytest.mark.parametrize("name", sorted(TAMPERED))
def test_independent_verifier_checks_the_file(clean_run, name):
    line = next(x for x in clean_run.stdout.splitlines() if x.startswith(f"{name}.json:"))
    assert int(line.split()[1]) > 20 and line.endswith(" 0 failed")


@pytest.mark.parametrize("name", sorted(TAMPERED))
def test_independent_verifier_reports_each_tampered_value(tmp_path, name):
    lines = _tampered_run(tmp_path, name, TAMPERED[name])
    for expected in EXPECTED[name]:
        assert any(line.startswith(f"MISMATCH {expected}") for line in lines), (expected, lines)
    assert len({line.split()[1].split(":")[0].split(" ")[0] for line in lines}) >= len(EXPECTED[name])
