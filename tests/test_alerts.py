"""Tests of stream_mlc.core.alerts: the Alert record, its wire form, and the debouncing gate."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import pytest

from stream_mlc.core import alerts as alerts_module
from stream_mlc.core.alerts import KINDS, Alert, AlertGate

WIRE_KEYS = {"kind", "detector", "subject", "value", "threshold", "ts", "model_version", "message"}


def test_alert_is_frozen_and_has_the_specified_fields():
    alert = Alert("label_drift", "label_rate", "spam", 6.2, 5.0, "label 'spam' ...")
    fields = [f.name for f in dataclasses.fields(Alert)]
    assert fields == ["kind", "detector", "subject", "value", "threshold", "message"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        alert.value = 1.0  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(alert)) == alert


def test_to_wire_gives_exactly_the_topic_fields():
    alert = Alert("concept_drift", "adwin", "*", 0.4, 0.1, "concept drift")
    wire = alert.to_wire(ts=12.5, model_version=42)
    assert set(wire) == WIRE_KEYS
    assert wire == {
        "kind": "concept_drift",
        "detector": "adwin",
        "subject": "*",
        "value": 0.4,
        "threshold": 0.1,
        "ts": 12.5,
        "model_version": 42,
        "message": "concept drift",
    }
    assert isinstance(wire["model_version"], int) and isinstance(wire["ts"], float)
    json.dumps(wire, allow_nan=False)


def test_to_wire_matches_the_topic_schema():
    spec = Path(__file__).resolve().parents[1] / "topics" / "alerts.json"
    schema = json.loads(spec.read_text())["schema"]
    assert set(schema["required"]) == WIRE_KEYS
    assert set(schema["properties"]["kind"]["enum"]) == KINDS


def test_non_finite_figures_are_written_as_zero_on_the_wire():
    wire = Alert("concept_drift", "adwin", "a", float("nan"), float("inf"), "x").to_wire(0, 0)
    assert wire["value"] == 0.0 and wire["threshold"] == 0.0
    json.dumps(wire, allow_nan=False)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown alert kind"):
        Alert("drift", "psi", "f", 0.3, 0.25, "")


KEY = ("feature_drift", "psi", "f1")


def test_gate_reports_a_level_once_and_a_recovery_once():
    gate = AlertGate(cooldown_events=100)
    assert gate.offer(KEY, 1, clock=0) == "alert"
    assert [gate.offer(KEY, 1, clock=t) for t in (500, 1000)] == [None, None]  # same level: nothing new
    assert gate.reported(KEY) == 1
    assert gate.offer(KEY, 0, clock=1500) == "recovered"
    assert gate.offer(KEY, 0, clock=1600) is None
    assert gate.reported(KEY) == 0
    assert gate.published == {"feature_drift": 1, "recovered": 1}


def test_gate_holds_back_within_the_cooldown_and_reports_later():
    gate = AlertGate(cooldown_events=100)
    assert gate.offer(KEY, 1, clock=10) == "alert"
    assert gate.offer(KEY, 2, clock=50) is None  # escalation inside the cooldown
    assert gate.suppressed == 1
    assert gate.offer(KEY, 2, clock=109) is None
    assert gate.offer(KEY, 2, clock=110) == "alert"  # still high once the cooldown has passed
    assert gate.reported(KEY) == 2


def test_gate_cooldown_applies_to_a_new_alert_after_a_recovery():
    gate = AlertGate(cooldown_events=100)
    assert gate.offer(KEY, 1, clock=0) == "alert"
    assert gate.offer(KEY, 0, clock=20) == "recovered"  # recoveries are not delayed
    assert gate.offer(KEY, 1, clock=40) is None  # flapping: held back
    assert gate.offer(KEY, 1, clock=100) == "alert"


def test_gate_keys_are_independent():
    gate = AlertGate(cooldown_events=100)
    other = ("prediction_drift", "positive_rate", "f1")
    assert gate.offer(KEY, 1, clock=0) == "alert"
    assert gate.offer(other, 1, clock=1) == "alert"
    assert gate.offer(("feature_drift", "psi", "f2"), 2, clock=2) == "alert"
    assert gate.active() == {KEY, other, ("feature_drift", "psi", "f2")}


def test_gate_events_fire_again_after_the_cooldown():
    gate = AlertGate(cooldown_events=100)
    key = ("concept_drift", "adwin", "a")
    assert gate.offer(key, 1, clock=0, event=True) == "alert"
    assert gate.offer(key, 1, clock=99, event=True) is None
    assert gate.offer(key, 1, clock=100, event=True) == "alert"
    assert gate.published == {"concept_drift": 2}


def test_gate_wall_clock_cooldown(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(alerts_module.time, "time", lambda: now[0])
    gate = AlertGate(cooldown_events=0, cooldown_seconds=60.0)
    key = ("concept_drift", "adwin", "a")
    assert gate.offer(key, 1, clock=0, event=True) == "alert"
    now[0] += 59.0
    assert gate.offer(key, 1, clock=1000, event=True) is None
    now[0] += 1.0
    assert gate.offer(key, 1, clock=1001, event=True) == "alert"


def test_gate_pickles_mid_stream():
    gate = AlertGate(cooldown_events=100)
    gate.offer(KEY, 1, clock=0)
    copy = pickle.loads(pickle.dumps(gate))
    for g in (gate, copy):
        assert g.offer(KEY, 2, clock=50) is None
        assert g.offer(KEY, 2, clock=100) == "alert"
    assert copy.published == gate.published and copy.suppressed == gate.suppressed
