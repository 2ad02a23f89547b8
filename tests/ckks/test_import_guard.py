"""secagg.ckks imports without TenSEAL; using it without TenSEAL names the extra."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

import secagg
from secagg.errors import CKKSUnavailableError, SecAggError


@pytest.fixture
def ckks_without_tenseal(monkeypatch):
    """A freshly imported secagg.ckks in a process where `import tenseal` fails."""
    monkeypatch.setitem(sys.modules, "tenseal", None)
    monkeypatch.setitem(sys.modules, "tenseal.sealapi", None)
    for name in [m for m in sys.modules if m == "secagg.ckks" or m.startswith("secagg.ckks.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(secagg, "ckks", getattr(secagg, "ckks", None), raising=False)
    return importlib.import_module("secagg.ckks")


def test_importing_secagg_ckks_succeeds_when_tenseal_cannot_be_imported(ckks_without_tenseal):
    with pytest.raises(ImportError):
        import tenseal  # noqa: F401
    assert ckks_without_tenseal.KeyHolder.__module__ == "secagg.ckks.keyholder"


def test_planner_and_envelope_codec_work_without_tenseal(ckks_without_tenseal):
    plan = ckks_without_tenseal.plan_sizes(10_000, "default", clients=5)
    assert plan.ciphertexts_per_client == 3
    fp = ckks_without_tenseal.context_fingerprint(b"ctx")
    data = ckks_without_tenseal.encode_envelope(
        ckks_without_tenseal.EnvelopeKind.UPLOAD, fingerprint=fp, dim=1, contributors=1, chunks=[b"x"]
    )
    assert data[:4] == b"SGCK"


@pytest.mark.parametrize(
    "construct",
    [
        lambda m: m.KeyHolder(),
        lambda m: m.KeyHolder("compact"),
        lambda m: m.Client(b"signed context", key_holder_key=bytes(32)),
        lambda m: m.Server(b"signed context", key_holder_key=bytes(32), dim=4),
        lambda m: m.secure_sum_ckks([np.ones(3), np.ones(3)]),
    ],
    ids=["key_holder", "key_holder_named", "client", "server", "driver"],
)
def test_every_role_and_the_driver_raise_ckks_unavailable_naming_the_extra(ckks_without_tenseal, construct):
    with pytest.raises(CKKSUnavailableError) as info:
        construct(ckks_without_tenseal)
    assert "pip install 'secagg-dp[ckks]'" in str(info.value)
    assert isinstance(info.value, ImportError)
    assert isinstance(info.value, SecAggError)
