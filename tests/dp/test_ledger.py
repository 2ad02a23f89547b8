"""Tests of dp.ledger: check-then-commit, remaining rounds, save/load and tamper rejection."""

from __future__ import annotations

import json

import dp_accounting
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dp.accounting import epsilon, epsilon_of, gaussian_round_event
from dp.ddp_rdp import DistributedNoiseDpEvent
from dp.distributed import DistributedDPConfig, plan
from dp.errors import BudgetExceededError, LedgerFormatError, UnsupportedEventError
from dp.ledger import MAX_LEDGER_BYTES, PrivacyLedger, decode_event, encode_event

DDP = DistributedNoiseDpEvent(
    mechanism="dgauss", clients=100, local_variance=2274.2, l2_sensitivity=494.4, l1_sensitivity=1.2e5, dim=65536
)


def _snapshot(ledger: PrivacyLedger) -> tuple[str, float]:
    return ledger.to_json(), ledger.spent_epsilon()


# --------------------------------------------------------------------------- charging


def test_spent_epsilon_equals_a_fresh_accountant_on_the_same_events():
    ledger = PrivacyLedger(epsilon=5.0, delta=1e-5)
    ledger.charge_gaussian_round(noise_multiplier=1.1, sampling_rate=0.01, count=300)
    assert ledger.spent_epsilon() == pytest.approx(
        epsilon(noise_multiplier=1.1, sampling_rate=0.01, steps=300, delta=1e-5), rel=1e-12
    )


def test_equal_consecutive_charges_merge_into_one_entry():
    ledger = PrivacyLedger(epsilon=5.0, delta=1e-5)
    for _ in range(3):
        ledger.charge_gaussian_round(noise_multiplier=1.1, sampling_rate=0.01, count=10)
    assert len(ledger.entries) == 1 and ledger.entries[0][1] == 30


def test_an_overspending_charge_raises_with_the_numbers_and_changes_nothing():
    ledger = PrivacyLedger(epsilon=1.0, delta=1e-5)
    ledger.charge_gaussian_round(noise_multiplier=2.0, sampling_rate=0.01, count=10)
    before = _snapshot(ledger)
    with pytest.raises(BudgetExceededError) as info:
        ledger.charge_gaussian_round(noise_multiplier=0.8, sampling_rate=0.5, count=1000)
    message = str(info.value)
    assert "budget 1" in message and f"{before[1]:.6g}" in message and "nothing was spent" in message
    assert _snapshot(ledger) == before


def test_an_unsupported_event_is_refused_and_changes_nothing():
    ledger = PrivacyLedger(epsilon=10.0, delta=1e-5)
    ledger.charge_gaussian_round(noise_multiplier=1.0, sampling_rate=0.1)
    before = _snapshot(ledger)
    with pytest.raises(UnsupportedEventError):
        ledger.spend(dp_accounting.LaplaceDpEvent(1.0))
    with pytest.raises(TypeError):
        ledger.spend("gaussian")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ledger.spend(dp_accounting.GaussianDpEvent(-1.0))
    with pytest.raises(ValueError):
        ledger.spend(dp_accounting.GaussianDpEvent(1.0), count=0)
    assert _snapshot(ledger) == before


def test_pld_ledger_refuses_distributed_noise_rounds():
    ledger = PrivacyLedger(epsilon=10.0, delta=1e-5, accountant="pld")
    with pytest.raises(UnsupportedEventError):
        ledger.spend(dp_accounting.PoissonSampledDpEvent(0.01, DDP))
    assert ledger.entries == ()


def test_replace_one_ledger_refuses_poisson_sampling_and_keeps_the_relation():
    ledger = PrivacyLedger(epsilon=10.0, delta=1e-5, neighbouring_relation="replace_one")
    with pytest.raises(UnsupportedEventError):
        ledger.charge_gaussian_round(noise_multiplier=1.0, sampling_rate=0.1)
    ledger.spend(dp_accounting.GaussianDpEvent(3.0))
    again = PrivacyLedger.from_json(ledger.to_json())
    assert again.neighbouring_relation == "replace_one" and again == ledger


def test_ddp_rounds_are_charged_from_a_plan():
    p = plan(DistributedDPConfig(mechanism="skellam", bits=16, l2_clip=1.0, noise_multiplier=1.0, dim=1000, min_clients=20))
    ledger = PrivacyLedger(epsilon=10.0, delta=1e-5)
    spent = ledger.charge_ddp_round(plan=p, sampling_rate=0.05, count=100)
    assert 0 < spent == ledger.spent_epsilon() <= 10.0
    assert isinstance(ledger.entries[0][0].event, DistributedNoiseDpEvent)


@settings(max_examples=20, deadline=None)
@given(
    budget=st.floats(0.5, 8.0),
    charges=st.lists(
        st.tuples(st.floats(0.5, 3.0), st.floats(1e-3, 0.2), st.integers(1, 2000)), min_size=1, max_size=6
    ),
)
def test_the_ledger_never_exceeds_its_budget_and_refusals_change_nothing(budget, charges):
    ledger = PrivacyLedger(epsilon=budget, delta=1e-5)
    for z, q, count in charges:
        before = _snapshot(ledger)
        try:
            ledger.charge_gaussian_round(noise_multiplier=z, sampling_rate=q, count=count)
        except BudgetExceededError:
            assert _snapshot(ledger) == before
        assert ledger.spent_epsilon() <= budget


# --------------------------------------------------------------------------- remaining rounds


@pytest.mark.parametrize("kind", ["rdp", "pld"])
def test_remaining_rounds_fit_and_one_more_does_not(kind):
    ledger = PrivacyLedger(epsilon=2.0, delta=1e-5, accountant=kind)
    ledger.charge_gaussian_round(noise_multiplier=1.0, sampling_rate=0.02, count=50)
    round_event = gaussian_round_event(noise_multiplier=1.0, sampling_rate=0.02)
    k = ledger.remaining_rounds(round_event)
    assert k > 0
    ledger_copy = PrivacyLedger.from_json(ledger.to_json())
    ledger_copy.spend(round_event, count=k)
    assert ledger_copy.spent_epsilon() <= 2.0
    with pytest.raises(BudgetExceededError):
        ledger_copy.spend(round_event)


def test_remaining_rounds_is_zero_when_not_one_round_fits_and_capped_by_max_rounds():
    ledger = PrivacyLedger(epsilon=0.1, delta=1e-5)
    assert ledger.remaining_rounds(dp_accounting.GaussianDpEvent(0.5)) == 0
    roomy = PrivacyLedger(epsilon=50.0, delta=1e-5)
    assert roomy.remaining_rounds(gaussian_round_event(noise_multiplier=5.0, sampling_rate=0.001), max_rounds=37) == 37


def test_remaining_rounds_of_ddp_rounds_never_overspend():
    ledger = PrivacyLedger(epsilon=2.0, delta=1e-5)
    ev = dp_accounting.PoissonSampledDpEvent(0.01, DDP)
    k = ledger.remaining_rounds(ev)
    assert k > 0
    assert epsilon_of(dp_accounting.SelfComposedDpEvent(ev, k), delta=1e-5) <= 2.0
    assert epsilon_of(dp_accounting.SelfComposedDpEvent(ev, k + 1), delta=1e-5) > 2.0


# --------------------------------------------------------------------------- persistence


def _full_ledger() -> PrivacyLedger:
    ledger = PrivacyLedger(epsilon=6.0, delta=1e-6)
    ledger.charge_gaussian_round(noise_multiplier=1.3, sampling_rate=0.01, count=100)
    ledger.spend(dp_accounting.PoissonSampledDpEvent(0.01, DDP), count=20)
    ledger.spend(
        dp_accounting.ComposedDpEvent(
            [dp_accounting.GaussianDpEvent(8.0), dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(9.0), 3)]
        )
    )
    return ledger


def test_a_saved_ledger_loads_to_the_same_state(tmp_path):
    ledger = _full_ledger()
    path = tmp_path / "ledger.json"
    ledger.save(path)
    again = PrivacyLedger.load(path)
    assert again == ledger
    assert again.spent_epsilon() == ledger.spent_epsilon()
    assert again.to_json() == ledger.to_json()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.json", "ledger.json.lock"]  # no temporary left


@settings(max_examples=15, deadline=None)
@given(
    relation=st.sampled_from(["add_or_remove_one", "replace_one"]),
    charges=st.lists(st.tuples(st.floats(0.8, 20.0), st.integers(1, 50)), min_size=0, max_size=5),
)
def test_any_ledger_round_trips_through_json(relation, charges):
    ledger = PrivacyLedger(epsilon=20.0, delta=1e-5, neighbouring_relation=relation)
    for z, count in charges:
        try:
            ledger.spend(dp_accounting.GaussianDpEvent(z), count=count)
        except BudgetExceededError:
            pass
    again = PrivacyLedger.from_json(ledger.to_json())
    assert again == ledger and again.spent_epsilon() == ledger.spent_epsilon()


def test_event_codec_round_trips_every_supported_event():
    events = [
        dp_accounting.GaussianDpEvent(1.5),
        dp_accounting.PoissonSampledDpEvent(0.3, dp_accounting.GaussianDpEvent(1.5)),
        dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(1.5), 7),
        dp_accounting.ComposedDpEvent([dp_accounting.GaussianDpEvent(1.5), DDP]),
        DDP,
    ]
    for ev in events:
        assert decode_event(json.loads(json.dumps(encode_event(ev)))) == ev


def _mutations():
    def setkey(path, value):
        def f(doc):
            target = doc
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            return json.dumps(doc)

        return f

    def delkey(path):
        def f(doc):
            target = doc
            for key in path[:-1]:
                target = target[key]
            del target[path[-1]]
            return json.dumps(doc)

        return f

    ev0 = ("entries", 0, "event")
    return {
        "wrong version": setkey(("version",), 2),
        "version as string": setkey(("version",), "1"),
        "wrong format name": setkey(("format",), "opacus"),
        "extra top-level key": setkey(("spent",), 0.0),
        "missing entries": delkey(("entries",)),
        "unknown accountant": setkey(("accountant",), "moments"),
        "unknown relation": setkey(("neighbouring_relation",), "swap"),
        "budget epsilon negative": setkey(("budget", "epsilon"), -1.0),
        "budget delta one": setkey(("budget", "delta"), 1.0),
        "budget lowered below spent": setkey(("budget", "epsilon"), 0.01),
        "unknown event type": setkey(ev0 + ("type",), "laplace"),
        "class name injection": setkey(ev0 + ("type",), "dp_accounting.dp_event.NonPrivateDpEvent"),
        "module_name injection": setkey(ev0 + ("module_name",), "os"),
        "negative noise": setkey(ev0 + ("event", "noise_multiplier"), -1.0),
        "zero sampling": setkey(ev0 + ("sampling_probability",), 0.0),
        "sampling above one": setkey(ev0 + ("sampling_probability",), 1.5),
        "sampling as string": setkey(ev0 + ("sampling_probability",), "0.1"),
        "count as bool": setkey(("entries", 0, "count"), True),
        "count as float": setkey(("entries", 0, "count"), 3.0),
        "count zero": setkey(("entries", 0, "count"), 0),
        "count huge": setkey(("entries", 0, "count"), 10**30),
        "entry extra key": setkey(("entries", 0, "note"), "x"),
        "entries not a list": setkey(("entries",), {"0": 1}),
        "ddp mechanism unknown": setkey(("entries", 1, "event", "event", "mechanism"), "laplace"),
        "ddp clients zero": setkey(("entries", 1, "event", "event", "clients"), 0),
        "ddp variance missing": delkey(("entries", 1, "event", "event", "local_variance")),
        "pld with ddp": setkey(("accountant",), "pld"),
    }


@pytest.mark.parametrize("name", sorted(_mutations()))
def test_tampered_ledger_json_is_rejected_with_ledger_format_error(name):
    doc = json.loads(_full_ledger().to_json())
    text = _mutations()[name](doc)
    with pytest.raises(LedgerFormatError):
        PrivacyLedger.from_json(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        "null",
        "{",
        '{"format": "dp-ledger", "format": "dp-ledger"}',
        '{"budget": {"epsilon": NaN, "delta": 1e-5}}',
        '{"budget": {"epsilon": Infinity, "delta": 1e-5}}',
        b"\xff\xfe{}",
        "[" * 100_000 + "]" * 100_000,
        " " * (MAX_LEDGER_BYTES + 1),
    ],
    ids=["empty", "list", "null", "truncated", "duplicate-key", "nan", "infinity", "not-utf8", "deep", "oversize"],
)
def test_malformed_ledger_json_is_rejected_with_ledger_format_error(text):
    with pytest.raises(LedgerFormatError):
        PrivacyLedger.from_json(text)


def test_events_nested_too_deep_are_rejected_on_load_and_on_save():
    ev: dp_accounting.DpEvent = dp_accounting.GaussianDpEvent(1.0)
    for _ in range(10):
        ev = dp_accounting.SelfComposedDpEvent(ev, 1)
    with pytest.raises(UnsupportedEventError):
        encode_event(ev)
    deep: dict = {"type": "gaussian", "noise_multiplier": 1.0}
    for _ in range(10):
        deep = {"type": "self_composed", "count": 1, "event": deep}
    with pytest.raises(LedgerFormatError, match="deeper"):
        decode_event(deep)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_corrupted_byte_gives_a_valid_ledger_or_ledger_format_error(data):
    text = _full_ledger().to_json().encode()
    i = data.draw(st.integers(0, len(text) - 1))
    b = data.draw(st.integers(0, 255))
    corrupted = text[:i] + bytes([b]) + text[i + 1 :]
    try:
        ledger = PrivacyLedger.from_json(corrupted)
    except LedgerFormatError:
        return
    assert ledger.spent_epsilon() <= ledger.epsilon_budget


def test_load_of_an_oversize_file_is_rejected(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b" " * (MAX_LEDGER_BYTES + 10))
    with pytest.raises(LedgerFormatError):
        PrivacyLedger.load(path)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"epsilon": 0.0}, ValueError),
        ({"epsilon": float("inf")}, ValueError),
        ({"epsilon": "1"}, TypeError),
        ({"delta": 0.0}, ValueError),
        ({"delta": 1.0}, ValueError),
        ({"accountant": "moments"}, ValueError),
        ({"neighbouring_relation": "swap"}, ValueError),
    ],
)
def test_ledger_construction_rejects_bad_budgets(kwargs, error):
    args = {"epsilon": 1.0, "delta": 1e-5}
    args.update(kwargs)
    with pytest.raises(error):
        PrivacyLedger(**args)


# --------------------------------------------------------------------------- hostile field values


def _ddp_ledger_doc(mechanism: str) -> dict:
    ledger = PrivacyLedger(epsilon=50.0, delta=1e-5)
    event = DistributedNoiseDpEvent(
        mechanism=mechanism, clients=100, local_variance=2274.2, l2_sensitivity=494.4, l1_sensitivity=1.2e5, dim=65536
    )
    ledger.spend(dp_accounting.PoissonSampledDpEvent(0.01, event), count=10)
    ledger.charge_gaussian_round(noise_multiplier=1.3, sampling_rate=0.01, count=10)
    return json.loads(ledger.to_json())


@pytest.mark.parametrize(
    ("mechanism", "field", "value"),
    [
        ("dgauss", "local_variance", 0.1),  # was ValueError from the DDG guard
        ("skellam", "local_variance", 1e-300),  # was ZeroDivisionError
        ("skellam", "l2_sensitivity", 1e308),  # was OverflowError
        ("dgauss", "l2_sensitivity", 1e308),
        ("skellam", "l1_sensitivity", 1e308),
        ("dgauss", "clients", 2**40),  # was MemoryError (tau sums n terms)
        ("dgauss", "clients", 2**20 + 1),
        ("skellam", "dim", 2**40),
        ("skellam", "mechanism", {}),
        ("dgauss", "clients", [100]),
    ],
)
def test_hostile_distributed_noise_fields_give_ledger_format_error_naming_the_field(mechanism, field, value):
    doc = _ddp_ledger_doc(mechanism)
    doc["entries"][0]["event"]["event"][field] = value
    with pytest.raises(LedgerFormatError, match=field):
        PrivacyLedger.from_json(json.dumps(doc))


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("neighbouring_relation",), {}, "neighbouring_relation"),  # was TypeError: unhashable
        (("neighbouring_relation",), [], "neighbouring_relation"),
        (("accountant",), {}, "accountant"),
        (("format",), {}, "format"),
        (("budget",), [], "budget"),
        (("entries", 1, "event", "event", "noise_multiplier"), 1e-300, "noise_multiplier"),
        (("entries", 1, "event", "event", "noise_multiplier"), 1e13, "noise_multiplier"),
        (("entries", 0, "event", "event", "type"), {}, "type"),
    ],
)
def test_hostile_top_level_and_gaussian_fields_give_ledger_format_error(path, value, field):
    doc = _ddp_ledger_doc("skellam")
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(LedgerFormatError, match=field):
        PrivacyLedger.from_json(json.dumps(doc))


def _leaf_paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaf_paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaf_paths(value, prefix + (i,))
    yield prefix


_HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0.0, -0.0, 5e-324, 1e-300, 1e-10, 0.1, 0.25, 1e10, 1e300, 1.7e308, 2**40, 2**63]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.just({}),
    st.just([]),
    st.just({"type": "gaussian"}),
)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), mechanism=st.sampled_from(["skellam", "dgauss"]))
def test_any_field_replaced_by_any_value_gives_a_valid_ledger_or_ledger_format_error(data, mechanism):
    doc = _ddp_ledger_doc(mechanism)
    path = data.draw(st.sampled_from(sorted(_leaf_paths(doc), key=repr)))
    value = data.draw(_HOSTILE)
    if not path:
        doc = value
    else:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    try:
        ledger = PrivacyLedger.from_json(json.dumps(doc))
    except LedgerFormatError:
        return
    assert ledger.spent_epsilon() <= ledger.epsilon_budget


def test_distributed_noise_events_outside_the_stored_ranges_are_refused_before_charging():
    ledger = PrivacyLedger(epsilon=50.0, delta=1e-5)
    huge = DistributedNoiseDpEvent(
        mechanism="dgauss", clients=2**21, local_variance=10.0, l2_sensitivity=10.0, l1_sensitivity=100.0, dim=64
    )
    with pytest.raises(ValueError, match="clients"):
        ledger.spend(huge)
    assert ledger.entries == ()


def test_the_ledgers_client_bound_is_the_plans():
    from dp.distributed import MAX_CLIENTS
    from dp.ledger import MAX_EVENT_CLIENTS

    assert MAX_EVENT_CLIENTS == MAX_CLIENTS
