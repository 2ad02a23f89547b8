"""Smoke test of the DME reproduction script (bench/dme.py), so an API move in dp/ cannot break it silently."""

from __future__ import annotations

import pathlib
import sys

import numpy as np
import pytest

from dp.accounting import ddp_epsilon

BENCH = pathlib.Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def dme():
    sys.path.insert(0, str(BENCH))
    try:
        import dme as module
    finally:
        sys.path.remove(str(BENCH))
    return module


@pytest.mark.parametrize("mechanism", ["skellam", "dgauss"])
def test_calibrated_plan_meets_the_target_epsilon_and_estimates_the_mean(dme, mechanism):
    n, eps = 20, 2.0
    p = dme.calibrate(mechanism, n, 16, eps)
    got, _ = ddp_epsilon(plan=p, sampling_rate=1.0, steps=1, delta=dme.DELTA)
    assert got <= eps and got == pytest.approx(eps, rel=1e-3)
    data = dme.sphere(np.random.default_rng(0), n)
    assert np.allclose(np.linalg.norm(data, axis=1), dme.CLIP)
    mse = np.mean([dme.estimate_mse(p, data, bytes([r]) * 32) for r in range(3)])
    noise = p.local_variance / (p.scale**2 * n)
    # the measured MSE is the noise's (plus a little rounding), and no better than the analytic Gaussian
    assert 0.6 * noise < mse < 1.6 * noise
    assert mse > 0.8 * dme.gaussian_mse(eps, n)


def test_an_unreachable_epsilon_is_reported_as_refused(dme):
    assert dme.calibrate("skellam", 20, 4, 1.0) is None
