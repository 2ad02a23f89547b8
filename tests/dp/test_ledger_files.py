"""A ledger file shared by processes: no overspend, no lost charge, durable saves, links and modes."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from dp.accounting import gaussian_round_event
from dp.errors import BudgetExceededError, LedgerConflictError, LedgerFormatError
from dp.ledger import NEW_FILE_MODE, PrivacyLedger

# About 500 of the 1,200 charges below fit in this budget.
BUDGET = 1.5
EVENTS = {
    "a": {"noise_multiplier": 1.0, "sampling_rate": 0.01},
    "b": {"noise_multiplier": 1.02, "sampling_rate": 0.01},
    "c": {"noise_multiplier": 1.04, "sampling_rate": 0.01},
}

CHARGER = textwrap.dedent(
    """
    import os, sys, time
    from dp.accounting import gaussian_round_event
    from dp.errors import BudgetExceededError
    from dp.ledger import PrivacyLedger
    path, go, attempts, z, q = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    event = gaussian_round_event(noise_multiplier=z, sampling_rate=q)
    ledger = PrivacyLedger.load(path)
    while not os.path.exists(go):
        time.sleep(0.001)
    granted = refused = 0
    for i in range(attempts):
        if i % 2:  # the issue's pattern: load, charge, save, each time
            ledger = PrivacyLedger.load(path)
        try:
            ledger.spend(event)
            granted += 1
        except BudgetExceededError:
            refused += 1
        ledger.save(path)  # never refused: the charge is already in the file
    print(granted, refused)
    """
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _counts(ledger: PrivacyLedger) -> dict[str, int]:
    out = dict.fromkeys(EVENTS, 0)
    for event, count in ledger.entries:
        for name, spec in EVENTS.items():
            if event == gaussian_round_event(**spec):
                out[name] += count
    return out


@pytest.mark.slow
def test_three_processes_charging_one_file_never_overspend_nor_lose_a_charge(tmp_path):
    path = tmp_path / "ledger.json"
    PrivacyLedger(epsilon=BUDGET, delta=1e-5).save(path)
    go = tmp_path / "go"
    attempts = 400  # 1,200 charges between three processes
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", CHARGER, str(path), str(go), str(attempts), str(spec["noise_multiplier"]),
             str(spec["sampling_rate"])],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
        )
        for name, spec in EVENTS.items()
    }
    try:
        time.sleep(0.5)
        go.touch()
        results = {}
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            granted, refused = map(int, out.split())
            assert granted + refused == attempts
            results[name] = (granted, refused)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    final = PrivacyLedger.load(path)
    assert final.spent_epsilon() <= BUDGET
    assert _counts(final) == {name: granted for name, (granted, _) in results.items()}  # no lost charge
    assert 300 < sum(g for g, _ in results.values()) < 3 * attempts  # the budget ran out mid-run
    assert sum(1 for granted, _ in results.values() if granted) >= 2  # more than one process got charges in
    for name, (_, refused) in results.items():
        if refused:  # refused once means it never fitted again: the budget was really used up
            assert final.remaining_rounds(gaussian_round_event(**EVENTS[name])) == 0


def test_a_stale_in_memory_ledger_cannot_overwrite_charges_in_the_file(tmp_path):
    path = tmp_path / "ledger.json"
    PrivacyLedger(epsilon=3.0, delta=1e-5).save(path)
    first, second = PrivacyLedger.load(path), PrivacyLedger.from_json(path.read_bytes())
    first.charge_gaussian_round(noise_multiplier=1.0, sampling_rate=0.01, count=50)
    second.charge_gaussian_round(noise_multiplier=1.0, sampling_rate=0.01, count=60)  # unbound: in memory only
    before = path.read_bytes()
    with pytest.raises(LedgerConflictError, match="refusing to overwrite"):
        second.save(path)
    assert path.read_bytes() == before
    assert PrivacyLedger.load(path) == first


def test_a_bound_ledger_sees_the_other_process_charges_before_it_checks(tmp_path):
    path = tmp_path / "ledger.json"
    PrivacyLedger(epsilon=1.0, delta=1e-5).save(path)
    one, two = PrivacyLedger.load(path), PrivacyLedger.load(path)
    event = gaussian_round_event(noise_multiplier=1.0, sampling_rate=0.01)
    fit = one.remaining_rounds(event)
    one.spend(event, count=fit)
    with pytest.raises(BudgetExceededError):
        two.spend(event)  # two has not re-read by hand; the charge does it under the lock
    assert PrivacyLedger.load(path).entries == ((event, fit),)


def test_a_bound_ledger_refuses_a_file_that_lost_its_charges(tmp_path):
    path = tmp_path / "ledger.json"
    fresh = PrivacyLedger(epsilon=3.0, delta=1e-5)
    fresh.save(path)
    old = path.read_bytes()
    ledger = PrivacyLedger.load(path)
    ledger.charge_gaussian_round(noise_multiplier=1.0, sampling_rate=0.01, count=10)
    path.write_bytes(old)  # someone restores an older copy
    with pytest.raises(LedgerConflictError, match="no longer holds"):
        ledger.charge_gaussian_round(noise_multiplier=1.0, sampling_rate=0.01)
    os.unlink(path)
    with pytest.raises(LedgerConflictError, match="removed"):
        ledger.charge_gaussian_round(noise_multiplier=1.0, sampling_rate=0.01)


def test_save_refuses_to_overwrite_a_file_that_is_not_a_ledger(tmp_path):
    path = tmp_path / "notes.json"
    path.write_text("my notes")
    with pytest.raises(LedgerFormatError, match="refusing to overwrite"):
        PrivacyLedger(epsilon=1.0, delta=1e-5).save(path)
    assert path.read_text() == "my notes"


def test_save_through_a_symbolic_link_keeps_the_link_and_updates_its_target(tmp_path):
    real = tmp_path / "store" / "ledger.json"
    real.parent.mkdir()
    link = tmp_path / "ledger.json"
    PrivacyLedger(epsilon=3.0, delta=1e-5).save(real)
    link.symlink_to(real)
    ledger = PrivacyLedger.load(link)
    ledger.charge_gaussian_round(noise_multiplier=1.0, sampling_rate=0.01, count=5)
    ledger.save(link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert PrivacyLedger.load(real) == ledger
    assert ledger.path == str(real)
    assert (real.parent / "ledger.json.lock").exists()  # one lock, beside the target, whichever name is used


def test_save_keeps_an_existing_files_mode_and_creates_new_files_private(tmp_path):
    path = tmp_path / "ledger.json"
    ledger = PrivacyLedger(epsilon=3.0, delta=1e-5)
    ledger.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == NEW_FILE_MODE == 0o600
    os.chmod(path, 0o640)
    ledger.charge_gaussian_round(noise_multiplier=1.0, sampling_rate=0.01)
    ledger.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_save_fsyncs_the_file_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        calls.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    def replace(src, dst):
        calls.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    PrivacyLedger(epsilon=3.0, delta=1e-5).save(tmp_path / "ledger.json")
    assert calls == ["file", "rename", "dir"]


SAVER = textwrap.dedent(
    """
    import sys
    from dp.ledger import PrivacyLedger
    ledger = PrivacyLedger.load(sys.argv[1])
    print("ready", flush=True)
    while True:
        ledger.charge_gaussian_round(noise_multiplier=50.0, sampling_rate=0.5)
    """
)


@pytest.mark.slow
def test_a_process_killed_mid_save_leaves_the_last_committed_ledger_readable(tmp_path):
    path = tmp_path / "ledger.json"
    PrivacyLedger(epsilon=1e4, delta=1e-5).save(path)
    seen = 0
    for delay in (0.05, 0.17, 0.29, 0.41):
        proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE, env=_env())
        try:
            assert proc.stdout.readline().strip() == b"ready"
            time.sleep(delay)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        ledger = PrivacyLedger.load(path, lock_timeout=5.0)  # readable, and the lock died with the process
        total = sum(count for _, count in ledger.entries)
        assert total >= seen
        seen = total
        ledger.charge_gaussian_round(noise_multiplier=50.0, sampling_rate=0.5)
        seen += 1
    assert seen > 4
    stray = [p.name for p in tmp_path.iterdir() if p.name not in ("ledger.json", "ledger.json.lock")]
    assert all(name.startswith(".ledger-") and name.endswith(".tmp") for name in stray)
    json.loads(path.read_text())
