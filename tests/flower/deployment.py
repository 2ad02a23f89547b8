"""A real local Flower deployment for tests and benchmarks: SuperLink, SuperNodes, ``flwr run``.

Every process runs in its own process group on free loopback ports, with
``FLWR_HOME`` in a temporary directory; :meth:`Deployment.stop` (also called
from ``__exit__`` and at interpreter exit) ends every group it started, first
with SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = pathlib.Path(sys.executable).parent
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_LIVE: list[Deployment] = []  # deployments not yet stopped, for atexit


def _stop_groups(pgids) -> None:
    pgids = list(pgids)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in pgids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
        deadline = time.monotonic() + 5
        while sig == signal.SIGTERM and time.monotonic() < deadline and any(_alive(p) for p in pgids):
            time.sleep(0.1)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the test process dies, even by SIGKILL (Linux prctl)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


@atexit.register
def _stop_all() -> None:
    for dep in list(_LIVE):
        dep.stop()


def processes_with_env(name: str, value: str) -> list[int]:
    """Pids of live processes whose environment holds ``name=value`` (zombies excluded)."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready within {timeout:g} s")


class Deployment:
    """A SuperLink and ``n_nodes`` SuperNodes on loopback, each a process group.

    Args:
        n_nodes: how many SuperNodes (node config ``partition-id=i num-partitions=n_nodes``).
        workdir: where logs and ``FLWR_HOME`` go (a fresh temporary directory by default).

    Use as a context manager; every process is stopped on exit, also on failure.
    """

    def __init__(self, n_nodes: int, workdir: str | os.PathLike | None = None) -> None:
        self.n_nodes = n_nodes
        self._own_dir = workdir is None
        self.dir = pathlib.Path(workdir or tempfile.mkdtemp(prefix="secagg-flower-"))
        self.home = self.dir / "flwr-home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "FLWR_HOME": str(self.home),
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "PYTHONUNBUFFERED": "1",
            # the SuperLink and SuperNodes start flower-superexec, flwr-serverapp and flwr-clientapp by name
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        self.port = free_port()
        self.procs: dict[str, subprocess.Popen] = {}
        self.node_ids: dict[int, int] = {}
        _LIVE.append(self)

    # ------------------------------------------------------------ processes

    def _spawn(self, name: str, argv: list[str], cwd: str | None = None) -> subprocess.Popen:
        log = open(self.dir / f"{name}.log", "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=cwd, start_new_session=True,
                                preexec_fn=_die_with_parent)
        log.close()
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        """The output of process ``name`` so far."""
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, timeout: float = 60) -> Deployment:
        """Start the SuperLink and the SuperNodes; wait until every node registered.

        Raises:
            TimeoutError: a process did not come up in time.
        """
        self._spawn(
            "superlink",
            [str(BIN / "flower-superlink"), "--insecure", "--port", str(self.port),
             "--disable-runtime-dependency-installation", "--database", ":flwr-in-memory:"],
        )
        _wait_for(lambda: "Uvicorn running" in self.log("superlink"), timeout, "SuperLink")
        for i in range(self.n_nodes):
            self._spawn(
                f"node{i}",
                [str(BIN / "flower-supernode"), "--insecure", "--superlink", f"127.0.0.1:{self.port}",
                 "--port", str(free_port()), "--node-config", f"partition-id={i} num-partitions={self.n_nodes}"],
            )
        pattern = re.compile(r"SuperNode ID: (\d+)")

        def registered() -> bool:
            for i in range(self.n_nodes):
                m = pattern.search(self.log(f"node{i}"))
                if m:
                    self.node_ids[i] = int(m.group(1))
            return len(self.node_ids) == self.n_nodes

        _wait_for(registered, timeout, "SuperNodes")
        (self.home / "config.toml").write_text(
            f'[superlink]\ndefault = "local"\n\n[superlink.local]\naddress = "127.0.0.1:{self.port}"\ninsecure = true\n'
        )
        return self

    def run(self, app_dir: str | os.PathLike, run_config: dict[str, object]) -> subprocess.Popen:
        """Start ``flwr run <app_dir> local --stream`` with run-config overrides."""
        overrides = " ".join(f"{k}={_toml(v)}" for k, v in run_config.items())
        argv = [str(BIN / "flwr"), "run", str(app_dir), "local", "--stream"]
        if overrides:
            argv += ["--run-config", overrides]
        return self._spawn("run", argv)

    def received(self, i: int) -> int:
        """How many train messages node ``i`` has pulled so far."""
        return self.log(f"node{i}").count("Receiving: train message")

    def signal_node(self, i: int, sig: int) -> None:
        """Send ``sig`` to node ``i``'s whole process group (SuperNode and its ClientApp)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.procs[f"node{i}"].pid, sig)

    def stop(self) -> None:
        """Stop everything this deployment started: its process groups, then any process
        that carries its ``FLWR_HOME`` (Flower starts SuperExec detached, in a session of
        its own); SIGTERM first, SIGKILL after 5 s. Reaps the direct children."""
        _stop_groups(p.pid for p in self.procs.values())
        for sig in (signal.SIGTERM, signal.SIGKILL):
            strays = processes_with_env("FLWR_HOME", str(self.home))
            for pid in strays:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 5
            while strays and time.monotonic() < deadline and processes_with_env("FLWR_HOME", str(self.home)):
                time.sleep(0.1)
        for p in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=5)
        if self in _LIVE:
            _LIVE.remove(self)

    def leftover(self) -> list[int]:
        """Pids of this deployment still running (should be empty after :meth:`stop`)."""
        return [p.pid for p in self.procs.values() if p.poll() is None] + processes_with_env("FLWR_HOME", str(self.home))

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "") + "'"
