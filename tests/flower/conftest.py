"""Shared fixtures of the Flower adapter tests (skipped without the ``flower`` extra)."""

from __future__ import annotations

import pathlib
import sys

import pytest

pytest.importorskip("flwr", reason="the flower extra is not installed")

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "flower"
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))


@pytest.fixture(autouse=True)
def _task_identity():
    """Messages need a run id outside a Flower process; set one for the test."""
    from flwr.supercore.task_identity import TaskIdentity

    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1
    yield
    TaskIdentity.run_id = TaskIdentity.node_id = TaskIdentity.task_id = None
