"""The deployment harness leaves nothing behind, even when the test process itself is killed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux prctl")
def test_a_process_the_harness_started_dies_with_a_sigkilled_test_process(tmp_path):
    # A stand-in test process starts a long sleep through the harness, prints its pid, then is SIGKILLed:
    # neither finally nor atexit runs, so only the parent-death signal can stop the child.
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {os.path.dirname(HERE)!r})
        from flower.deployment import Deployment
        dep = Deployment(1, workdir={str(tmp_path)!r})
        proc = dep._spawn("sleeper", ["sleep", "120"])
        print(proc.pid, flush=True)
        time.sleep(120)
        """
    )
    child = None
    runner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(runner.stdout.readline())
        os.kill(child, 0)  # alive while its parent lives
        runner.kill()
        runner.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(child):
            time.sleep(0.05)
        assert not _alive(child), "the harness's child outlived the killed test process"
    finally:
        runner.kill()
        if child is not None and _alive(child):
            os.kill(child, 9)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
