"""Tamper-evident ledgers (hash chain + HMAC head) and the auditor's report (JSON, CSV, `dp report`)."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest

from dp.accounting import gaussian_round_event
from dp.adaptive import AdaptiveClipping
from dp.cli import main
from dp.distributed import DistributedDPConfig
from dp.errors import LedgerFormatError
from dp.ledger import REPORT_COLUMNS, PrivacyLedger, _canonical

KEY = bytes(range(32))


def keyed(n=4):
    ledger = PrivacyLedger(epsilon=20.0, delta=1e-5, key=KEY)
    for i in range(n):
        ledger.charge_gaussian_round(noise_multiplier=1.0 + 0.1 * i, sampling_rate=0.01, count=10 * (i + 1), clip=0.5 + i)
    return ledger


def recompute_chain(doc, fix_head=True):
    """What an attacker without the key can do: make every hash consistent again."""
    header = {k: doc[k] for k in ("format", "accountant", "neighbouring_relation", "budget")}
    link = hashlib.sha256(b"dp-ledger/v2/chain|" + _canonical(header)).digest()
    for item in doc["entries"]:
        link = hashlib.sha256(link + _canonical({k: item[k] for k in ("count", "event", "clip")})).digest()
        item["hash"] = link.hex()
    if fix_head:
        doc["head"]["hash"], doc["head"]["entries"] = link.hex(), len(doc["entries"])
    return json.dumps(doc)


def test_an_authenticated_ledger_round_trips_only_with_its_key():
    ledger = keyed()
    text = ledger.to_json()
    assert json.loads(text)["version"] == 2 and "head" in json.loads(text)
    assert PrivacyLedger.from_json(text, key=KEY) == ledger
    with pytest.raises(LedgerFormatError, match="fails authentication"):
        PrivacyLedger.from_json(text, key=b"\x01" * 32)
    auditor = PrivacyLedger.from_json(text)  # no key: chain checked, head unverified, read-only
    assert auditor.read_only and auditor.spent_epsilon() == ledger.spent_epsilon()
    with pytest.raises(LedgerFormatError, match="read-only"):
        auditor.charge_gaussian_round(noise_multiplier=1.0, sampling_rate=0.01)
    with pytest.raises(LedgerFormatError, match="not authenticated"):
        PrivacyLedger.from_json(PrivacyLedger(epsilon=1.0, delta=1e-5).to_json(), key=KEY)


def test_an_edited_entry_is_refused_and_named():
    doc = json.loads(keyed().to_json())
    doc["entries"][2]["event"]["event"]["noise_multiplier"] = 50.0  # a cheaper past
    with pytest.raises(LedgerFormatError, match="entry 2 breaks the hash chain"):
        PrivacyLedger.from_json(json.dumps(doc), key=KEY)
    with pytest.raises(LedgerFormatError, match="entry 2 breaks the hash chain"):
        PrivacyLedger.from_json(json.dumps(doc))  # even without the key
    doc["entries"][1]["count"] = 1
    with pytest.raises(LedgerFormatError, match="entry 1 breaks"):
        PrivacyLedger.from_json(json.dumps(doc), key=KEY)


def test_a_recomputed_chain_fails_authentication():
    doc = json.loads(keyed().to_json())
    doc["entries"][0]["count"] = 1
    with pytest.raises(LedgerFormatError, match="fails authentication"):
        PrivacyLedger.from_json(recompute_chain(doc), key=KEY)


def test_truncated_and_reordered_ledgers_are_refused_with_the_entry_named():
    doc = json.loads(keyed().to_json())
    truncated = dict(doc, entries=doc["entries"][:3])
    with pytest.raises(LedgerFormatError, match=r"truncated: the head names 4 entries, the file has 3 \(entry 3 onwards"):
        PrivacyLedger.from_json(json.dumps(truncated), key=KEY)
    with pytest.raises(LedgerFormatError, match="fails authentication"):
        PrivacyLedger.from_json(recompute_chain(json.loads(json.dumps(truncated))), key=KEY)
    swapped = json.loads(json.dumps(doc))
    swapped["entries"][1], swapped["entries"][2] = swapped["entries"][2], swapped["entries"][1]
    with pytest.raises(LedgerFormatError, match="entry 1 breaks the hash chain"):
        PrivacyLedger.from_json(json.dumps(swapped), key=KEY)
    extra = json.loads(json.dumps(doc))
    extra["entries"].append(dict(extra["entries"][0]))
    with pytest.raises(LedgerFormatError, match="entry 4 breaks"):
        PrivacyLedger.from_json(json.dumps(extra), key=KEY)


@pytest.mark.parametrize("position", [10, 200, 900, -40])
def test_a_corrupted_byte_is_refused(position):
    text = bytearray(keyed().to_json().encode())
    text[position] ^= 0x04
    with pytest.raises(LedgerFormatError):
        PrivacyLedger.from_json(bytes(text), key=KEY)


def test_a_keyed_file_keeps_check_then_commit_across_handles(tmp_path):
    path = tmp_path / "ledger.json"
    PrivacyLedger(epsilon=2.0, delta=1e-5, key=KEY).save(path)
    one, two = PrivacyLedger.load(path, key=KEY), PrivacyLedger.load(path, key=KEY)
    event = gaussian_round_event(noise_multiplier=1.0, sampling_rate=0.01)
    for _ in range(30):
        one.spend(event)
        two.spend(event, clip=2.0)  # a different clip: a new entry each time, chained
    final = PrivacyLedger.load(path, key=KEY)
    assert sum(c for _, c in final.entries) == 60 and len(final.entries) == 60
    with pytest.raises(LedgerFormatError, match="fails authentication"):
        PrivacyLedger.load(path, key=b"\x02" * 32)


def adaptive_ledger():
    base = DistributedDPConfig(mechanism="skellam", bits=20, l2_clip=1.0, noise_multiplier=1.0, dim=8, min_clients=10)
    ac = AdaptiveClipping(base, target_quantile=0.5, initial_clip=1.0, indicator_stddev=1.0)
    ledger = PrivacyLedger(epsilon=1e4, delta=1e-5, key=KEY)
    ledger.charge_gaussian_round(noise_multiplier=1.1, sampling_rate=0.01, count=100, clip=1.0)
    for unclipped in (9.0, 8.0, 7.0):
        rp = ac.round_plan()
        ledger.spend(ac.round_event(rp), clip=rp.clip)
        ac.update(unclipped - 5.0, 10)
    return ledger


def test_the_report_has_one_row_per_run_of_rounds_with_epsilon_so_far():
    ledger = adaptive_ledger()
    rows = ledger.report()
    assert [r["first_round"] for r in rows] == [1, 101, 102, 103]
    assert [r["mechanism"] for r in rows] == ["gaussian", "skellam+indicator", "skellam+indicator", "skellam+indicator"]
    assert rows[0]["sampling"] == "poisson" and rows[1]["sampling"] == "all" and rows[1]["sampling_rate"] == 1.0
    assert rows[0]["epsilon_pld"] is not None and rows[0]["epsilon_pld"] < rows[0]["epsilon_rdp"]
    assert all(r["epsilon_pld"] is None for r in rows[1:])  # PLD does not bound distributed noise
    clips = [r["clip"] for r in rows[1:]]
    assert clips[0] == 1.0 and clips[1] < clips[0] and clips[2] < clips[1]  # the adaptive clip, round by round
    eps = [r["epsilon_rdp"] for r in rows]
    assert eps == sorted(eps) and eps[-1] == pytest.approx(ledger.spent_epsilon())
    assert json.loads(ledger.report_json()) == rows
    parsed = list(csv.DictReader(io.StringIO(ledger.report_csv())))
    assert tuple(parsed[0]) == REPORT_COLUMNS and len(parsed) == 4
    assert float(parsed[3]["epsilon_rdp"]) == eps[3] and parsed[1]["epsilon_pld"] == ""


def test_dp_report_prints_the_table_json_and_csv_and_refuses_a_tampered_file_in_one_line(tmp_path, capsys):
    ledger = adaptive_ledger()
    path, key_file = tmp_path / "ledger.json", tmp_path / "key"
    ledger.save(path)
    key_file.write_bytes(KEY)
    assert main(["report", str(path), "--key-file", str(key_file)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == list(REPORT_COLUMNS) and len(out) == 6 and "authenticated" in out[-1]
    assert main(["report", str(path), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 4
    assert main(["report", str(path), "--csv"]) == 0
    assert capsys.readouterr().out.startswith("entry,first_round")
    doc = json.loads(path.read_text())
    doc["entries"][1]["count"] = 2
    path.write_text(json.dumps(doc))
    assert main(["report", str(path), "--key-file", str(key_file)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "entry 1 breaks the hash chain" in err
