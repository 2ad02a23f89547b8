"""SPEC.md is generated; it must match its chapters and the transition tables."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_spec_md_is_up_to_date_with_chapters_and_state_tables():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "protocol_spec" / "tools" / "build_spec.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
