"""The vector layout (encode / decode, clamps counted, never wrapped) and the stage envelope."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.params import Params
from secagg_flower.config import SecAggSettings
from secagg_flower.layout import MAX_METRICS, ArraySpec, Layout
from secagg_flower.wire import ClientReply, StageRequest, WireError

SPECS = (ArraySpec("w", (3, 4), "float32"), ArraySpec("b", (4,), "float64"))


def _sum(layout, vectors):
    total = np.zeros(layout.dim, dtype=np.uint64)
    for v in vectors:
        total = (total + v.astype(np.uint64)) & np.uint64((1 << layout.bits) - 1)
    return total


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 6),
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(0.01, 10.0),
    clip=st.sampled_from([0.1, 1.0, 4.0]),
)
def test_the_decoded_sum_is_the_weighted_mean_of_the_clamped_updates(n, seed, scale, clip):
    s = SecAggSettings(clip=clip, max_examples=500)
    layout = Layout(SPECS, n, s)
    rng = np.random.default_rng(seed)
    x = [rng.normal(size=sp.shape).astype(sp.dtype) for sp in SPECS]
    vectors, weights, clamped_deltas, clamped = [], [], [], 0
    for _ in range(n):
        y = [a + rng.normal(scale=scale, size=a.shape).astype(a.dtype) for a in x]
        ex = int(rng.integers(1, 500))
        v, keys, report = layout.encode(y, x, num_examples=ex, metrics={"loss": 1.5})
        delta = np.concatenate([(b.astype(np.float64) - a.astype(np.float64)).ravel() for a, b in zip(x, y)])
        clamped += int((np.abs(delta) > clip).sum())
        assert report.update_values == int((np.abs(delta) > clip).sum())
        clamped_deltas.append(np.clip(delta, -clip, clip))
        weights.append(ex)
        vectors.append(v)
    out = layout.decode(_sum(layout, vectors), x, n_included=n, metric_keys=keys)
    mean = sum(w * d for w, d in zip(weights, clamped_deltas)) / sum(weights)
    got = np.concatenate([(o.astype(np.float64) - a.astype(np.float64)).ravel() for o, a in zip(out.arrays, x)])
    float32_slack = 2 * np.finfo(np.float32).eps * (np.abs(np.concatenate([a.ravel() for a in x])).max() + clip)
    assert np.abs(got - mean).max() <= layout.quantisation_bound(sum(weights) / 500) + float32_slack
    assert out.examples == sum(weights)
    assert out.clipped_values == min(clamped, layout.max_code * n) and out.clipped_clients <= n
    # metric step 2^-10 (precision 1e-3): n roundings divided by the summed weight
    assert abs(out.metrics["loss"] - 1.5) <= n * 2**-10 / (sum(weights) / 500)


def test_values_far_beyond_the_clip_are_clamped_and_counted_never_wrapped():
    layout = Layout(SPECS, 3, SecAggSettings(clip=1.0, max_examples=10))
    x = [np.zeros(sp.shape, sp.dtype) for sp in SPECS]
    huge = [np.full(sp.shape, 1e9, sp.dtype) for sp in SPECS]
    vs = [layout.encode(huge, x, num_examples=1e6, metrics={"m": -1e9})[0] for _ in range(3)]
    out = layout.decode(_sum(layout, vs), x, n_included=3, metric_keys=["m"])
    assert all(np.allclose(a, 1.0) for a in out.arrays)  # every coordinate at +clip, not wrapped to a negative
    assert out.clipped_clients == 3 and out.clipped_values == 3 * 16 and out.clipped_other == 3
    assert out.examples == 30 and out.metrics["m"] == pytest.approx(-1000.0)


def test_more_metrics_than_slots_are_not_sent_and_are_reported():
    layout = Layout(SPECS, 2, SecAggSettings())
    x = [np.zeros(sp.shape, sp.dtype) for sp in SPECS]
    metrics = {f"m{i:02d}": float(i) for i in range(MAX_METRICS + 2)} | {"text": "no"}
    _, keys, report = layout.encode(x, x, num_examples=1, metrics=metrics)
    assert len(keys) == MAX_METRICS and set(report.dropped_metrics) == {"m08", "m09", "text"}


def test_a_reply_of_another_shape_or_dtype_is_refused():
    layout = Layout(SPECS, 2, SecAggSettings())
    with pytest.raises(ValueError, match="shape"):
        layout.check_reply_arrays({"w": np.zeros((4, 3), np.float32), "b": np.zeros(4)})
    with pytest.raises(ValueError, match="dtype"):
        layout.check_reply_arrays({"w": np.zeros((3, 4), np.int32), "b": np.zeros(4)})
    with pytest.raises(ValueError, match="nan"):
        layout.check_reply_arrays({"w": np.full((3, 4), np.nan, np.float32), "b": np.zeros(4)})


def test_a_bit_budget_above_62_bits_is_refused_with_the_settings_named():
    with pytest.raises(ValueError, match="secagg-clip"):
        Layout(SPECS, 1000, SecAggSettings(clip=1e12, precision=1e-9))


PARAMS = Params(n_clients=3, dim=10, bits=20, graph="complete", neighbors=2, threshold=2)


def _fields(**change):
    f = StageRequest(stage="share-keys", round=1, client_id=2, params=PARAMS, nonce=b"n" * 32, msg=b"x").to_fields()
    f.update(change)
    return f


def test_a_stage_request_round_trips_through_its_fields():
    req = StageRequest.from_fields(_fields())
    assert req.params == PARAMS and req.client_id == 2 and req.msg == b"x"


@pytest.mark.parametrize(
    "change",
    [
        {"v": 2},
        {"stage": "masked"},
        {"id": 4},
        {"id": True},
        {"params": [3, 10, 20, 2]},
        {"params": [3, 10, 20, 2, 9]},
        {"graph": "ring"},
        {"threat": "active"},
        {"nonce": b"short"},
        {"msg": b""},
        {"round": -1},
    ],
)
def test_a_malformed_stage_request_is_a_wire_error(change):
    with pytest.raises(WireError):
        StageRequest.from_fields(_fields(**change))


def test_a_malformed_reply_is_a_wire_error():
    good = ClientReply(stage="masked-input", round=1, msg=b"m", arrays_name="a", metrics_name="m", metric_keys=("x",))
    assert ClientReply.from_fields(good.to_fields(), max_keys=8) == good
    for change in ({"keys": ["x", "x"]}, {"keys": ["k"] * 9}, {"arrays": 7}, {"metrics": ""}, {"msg": "text"}):
        with pytest.raises(WireError):
            ClientReply.from_fields({**good.to_fields(), **change}, max_keys=8)
