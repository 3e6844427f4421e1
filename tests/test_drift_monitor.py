"""DriftMonitor end to end: debounce and recovery, reference resets, pickling, snapshot, settings."""

from __future__ import annotations

import dataclasses
import json
import pickle

import numpy as np
import pytest

from stream_mlc.core.alerts import Alert
from stream_mlc.core.drift import DriftMonitor, DriftSettings
from stream_mlc.errors import ConfigError

W = 500


def feature_rows(seed, means):
    """One feature "x" whose mean is ``means[t // W]`` in window t // W, plus a steady "y"."""
    rng = np.random.default_rng(seed)
    return [{"x": float(rng.normal(m)), "y": float(rng.normal())} for m in means for _ in range(W)]


def run_features(monitor, rows):
    found, psi = [], []
    for t, row in enumerate(rows):
        found += [(t, a) for a in monitor.observe_features(row)]
        if (t + 1) % W == 0:
            psi.append(float(monitor.features.psi[monitor.features.index["x"]]))
    return found, psi


def gate_rules(psi, warn, alert, cooldown, reference_windows):
    """The debounce rules restated: (window, kind, threshold) expected from a PSI series."""
    out, reported, last = [], 0, None
    for w, value in enumerate(psi):
        if w < reference_windows:
            continue
        level = 2 if value >= alert else 1 if value >= warn else 0
        t = (w + 1) * W
        if level == 0:
            if reported:
                out.append((w, "recovered", warn))
                reported = 0
        elif level > reported and (last is None or t - last >= cooldown):
            out.append((w, "feature_drift", alert if level == 2 else warn))
            reported, last = level, t
    return out


def test_debounce_escalation_recovery_and_cooldown():
    # Windows: 10 reference, then a small shift (warn), a large one (alert), back to
    # normal (recovered), large again soon (held back by the cooldown), then reported.
    means = [0.0] * 10 + [0.45] * 3 + [2.0] * 2 + [0.0] * 3 + [2.0] * 12
    settings = DriftSettings(window_size=W, reference_size=10 * W, cooldown_events=5000)
    monitor = DriftMonitor(settings)
    found, psi = run_features(monitor, feature_rows(0, means))
    expected = gate_rules(psi, settings.feature_psi_warn, settings.feature_psi_alert, 5000, 10)
    got = [((t + 1) // W - 1, a.kind, a.threshold) for t, a in found if a.subject == "x"]
    assert got == expected
    # The scenario exercises every rule: warn, escalation held back then reported,
    # recovery, a new drift held back by the cooldown then reported.
    kinds = [k for _, k, _ in expected]
    assert kinds[:1] == ["feature_drift"] and "recovered" in kinds and kinds[-1] == "feature_drift"
    assert {th for _, k, th in expected if k == "feature_drift"} == {0.1, 0.25}
    assert monitor.gate.suppressed > 0
    assert not [a for _, a in found if a.subject == "y"]
    recovered = next(a for _, a in found if a.kind == "recovered")
    assert recovered.detector == "psi" and recovered.value < 0.1 and "(feature_drift recovered)" in recovered.message


def test_reset_reference_accepts_the_new_distribution():
    means = [0.0] * 10 + [2.0] * 4
    monitor = DriftMonitor(DriftSettings(window_size=W, reference_size=10 * W))
    found, _ = run_features(monitor, feature_rows(1, means))
    assert [a.kind for _, a in found] == ["feature_drift"]
    monitor.reset_reference()
    found, _ = run_features(monitor, feature_rows(2, [2.0] * 12))
    # The new reference is ready after 10 windows; the next window is under the threshold.
    assert [((t + 1) // W, a.kind, a.subject) for t, a in found] == [(11, "recovered", "x")]


def mixed_stream(seed, n):
    """Features, predictions and truths, with a feature shift, a label prior change and a
    concept change on one label."""
    rng = np.random.default_rng(seed)
    labels = ["a", "b", "c"]
    events = []
    for t in range(n):
        features = {"f0": float(rng.normal(1.5 if t >= 7000 else 0.0))}
        if rng.random() < 0.4:
            features["f1"] = float(rng.exponential())
        truth = {label for label in labels if rng.random() < (0.5 if label == "c" and t >= 8000 else 0.2)}
        wrong = {label for label in labels if rng.random() < (0.4 if label == "a" and t >= 6000 else 0.05)}
        predicted = sorted(set(truth) ^ wrong)
        scores = {label: float(np.clip(rng.normal(0.8 if label in predicted else 0.2, 0.1), 0, 1)) for label in labels}
        events.append((features, scores, predicted, frozenset(truth), labels))
    return events


def feed(monitor, events, offset=0):
    out = []
    for t, (features, scores, predicted, truth, labels) in enumerate(events, start=offset):
        for alert in monitor.observe_features(features):
            out.append((t, alert))
        for alert in monitor.observe_prediction(scores, predicted):
            out.append((t, alert))
        for alert in monitor.observe_truth(truth, predicted, labels):
            out.append((t, alert))
    return out


def test_pickle_round_trip_mid_stream_continues_identically():
    events = mixed_stream(0, 11_000)
    settings = DriftSettings(reaction="reset", prediction_warmup=1000)
    monitor = DriftMonitor(settings)
    before = feed(monitor, events[:5321])
    blob = pickle.dumps(monitor)
    copy = pickle.loads(blob)
    assert copy.snapshot() == monitor.snapshot()
    after = feed(monitor, events[5321:], offset=5321)
    after_copy = feed(copy, events[5321:], offset=5321)
    assert after == after_copy
    assert copy.snapshot() == monitor.snapshot()
    # The stream has something for every detector family.
    kinds = {a.kind for _, a in before + after}
    assert {"concept_drift", "model_reset", "feature_drift", "prediction_drift", "label_drift"} <= kinds
    # And the wire form of everything is valid JSON with the topic's fields.
    for t, alert in before + after:
        wire = alert.to_wire(ts=float(t), model_version=t)
        json.dumps(wire, allow_nan=False)
        assert len(wire) == 8 and isinstance(alert, Alert)


def test_snapshot_reports_current_figures():
    events = mixed_stream(1, 9000)
    monitor = DriftMonitor(DriftSettings(snapshot_top_k=1, prediction_warmup=1000))
    found = feed(monitor, events)
    snap = monitor.snapshot()
    assert snap["events"] == {"features": 9000, "predictions": 9000, "joined": 9000}
    assert list(snap["feature_psi"]) == ["f0"] and snap["feature_psi"]["f0"] > 0.25
    assert set(snap["score_psi"]) == {"a", "b", "c"}
    assert set(snap["error_rate"]) == {"a", "b", "c", "*"} and snap["error_rate"]["a"] > 0.2
    assert set(snap["label_rate"]["c"]) == {"rate", "reference", "z"}
    assert snap["label_rate"]["c"]["rate"] > 0.35 and snap["label_rate"]["c"]["reference"] < 0.25
    published = {}
    for _, alert in found:
        published[alert.kind] = published.get(alert.kind, 0) + 1
    assert snap["detections"] == published
    assert snap["active"] == len(monitor.gate.active())
    json.dumps(snap, allow_nan=False)


def test_monitor_state_is_plain_data():
    monitor = DriftMonitor()
    feed(monitor, mixed_stream(2, 600))
    size = len(pickle.dumps(monitor))
    assert size < 2_000_000


@pytest.mark.parametrize(
    "change",
    [
        {"window_size": 0},
        {"reference_size": 750},
        {"prediction_warmup": 100},
        {"feature_psi_warn": 0.3, "feature_psi_alert": 0.2},
        {"label_rate_z_warn": 0},
        {"psi_bins": 1},
        {"psi_epsilon": 0},
        {"adwin_delta": 1.5},
        {"reaction": "retrain"},
        {"cooldown_events": -1},
        {"cooldown_seconds": -1.0},
        {"concept_recovery": 0},
    ],
)
def test_settings_are_validated(change):
    with pytest.raises(ConfigError):
        DriftSettings(**change)


def test_settings_are_frozen_with_sensible_defaults():
    s = DriftSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.window_size = 10  # type: ignore[misc]
    assert (s.feature_psi_warn, s.feature_psi_alert) == (0.1, 0.25)
    assert s.reaction == "alert" and s.reference_size % s.window_size == 0
