"""Concept drift: ADWIN on per-label error streams and on the Hamming loss.

Every expected detection index is computed in the test by running River's ``ADWIN``
(public API: ``update`` and ``drift_detected``) on the same error stream.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from river.drift import ADWIN

from stream_mlc.core.drift import DriftMonitor, DriftSettings
from stream_mlc.core.drift.concept import ConceptTracker
from stream_mlc.core.drift.psi import READY, WARMUP

LABELS = ["a", "b", "c"]


def make_stream(seed: int, n: int, error_rates, p_true=0.3):
    """Joined events whose per-label error probability is ``error_rates[label](t)``.

    Returns ``(truths, predictions, errors)`` with ``errors[label]`` the 0/1 error stream.
    """
    rng = np.random.default_rng(seed)
    truths, predictions = [], []
    errors = {label: [] for label in error_rates}
    for t in range(n):
        truth, predicted = set(), set()
        for label, rate in error_rates.items():
            y = rng.random() < p_true
            wrong = rng.random() < rate(t)
            if y:
                truth.add(label)
            if y != wrong:
                predicted.add(label)
            errors[label].append(int(wrong))
        truths.append(frozenset(truth))
        predictions.append(sorted(predicted))
    return truths, predictions, errors


def river_detections(values, **params):
    """``(index, before, after, n_before, n_after)`` of every detection of River's ADWIN on ``values``.

    ``before``/``after`` are the means of the part of the window dropped/kept, computed from
    the values themselves (River's ADWIN is reset at the update after a detection).
    """
    adwin = ADWIN(**params)
    out = []
    start = 0
    for t, x in enumerate(values):
        adwin.update(x)
        if adwin.drift_detected:
            kept = int(adwin.width)
            window = np.asarray(values[start : t + 1], dtype=float)
            dropped, recent = window[: len(window) - kept], window[len(window) - kept :]
            out.append((t, float(dropped.mean()), float(recent.mean()), len(dropped), kept))
            start = t + 1
    return out


def hamming(truths, predictions, labels):
    return [len(set(t) ^ set(p)) / len(labels) for t, p in zip(truths, predictions, strict=False)]


def run(monitor, truths, predictions, labels=LABELS, observed=None):
    found = []
    for t, (truth, predicted) in enumerate(zip(truths, predictions, strict=False)):
        obs = None if observed is None else observed[t]
        for alert in monitor.observe_truth(truth, predicted, labels, obs):
            found.append((t, alert))
    return found


CP = 3000


def abrupt_on_a(t):
    return 0.35 if t >= CP else 0.05


def test_concept_drift_alert_at_rivers_detection_with_the_windows_figures():
    truths, predictions, errors = make_stream(1, 6000, {"a": abrupt_on_a, "b": lambda t: 0.1, "c": lambda t: 0.2})
    expected = river_detections(errors["a"])
    # The construction: nothing before the change, a detection soon after it.
    assert expected and all(t >= CP for t, *_ in expected)
    t_a, before, after, n_before, n_after = expected[0]
    assert CP <= t_a <= CP + 300
    assert after > before

    monitor = DriftMonitor(DriftSettings(monitor_example_loss=False))
    found = run(monitor, truths, predictions)
    concept = [(t, a) for t, a in found if a.kind == "concept_drift"]
    # b and c are stationary: whatever River's ADWIN says on them is what the monitor says.
    for label in ("b", "c"):
        increases = [d for d in river_detections(errors[label]) if d[2] > d[1]]
        assert [t for t, a in concept if a.subject == label] == [d[0] for d in increases[:1]]
    ((t, alert),) = [(t, a) for t, a in concept if a.subject == "a"]
    assert t == t_a
    assert alert.detector == "adwin"
    assert alert.value == pytest.approx(after)
    assert alert.threshold == pytest.approx(before)
    assert f"{before:.4f}" in alert.message and f"{after:.4f}" in alert.message
    assert f"{n_before} older events vs the last {n_after}" in alert.message
    assert monitor.snapshot()["detections"]["concept_drift"] == len(concept)


def test_the_fast_path_detects_exactly_what_adwin_update_detects():
    def rate_a(t):
        return (0.1, 0.5, 0.1, 0.4)[t // 2500]

    def rate_b(t):
        return 0.05 if t < 5000 else 0.3

    truths, predictions, errors = make_stream(7, 10_000, {"a": rate_a, "b": rate_b, "c": lambda t: 0.15})
    tracker = ConceptTracker()
    got = {label: [] for label in [*LABELS, "*"]}
    for t, (truth, predicted) in enumerate(zip(truths, predictions, strict=False)):
        for change in tracker.update(truth, predicted, LABELS) or ():
            got[change.subject].append((t, change.before, change.after, change.n_before, change.n_after))
    streams = dict(errors, **{"*": hamming(truths, predictions, LABELS)})
    for subject, values in streams.items():
        expected = river_detections(values)
        assert [d[0] for d in got[subject]] == [d[0] for d in expected], subject
        assert [d[3:] for d in got[subject]] == [d[3:] for d in expected], subject
        np.testing.assert_allclose([d[1:3] for d in got[subject]], [d[1:3] for d in expected], atol=1e-9)
    assert len(got["a"]) >= 3  # up, down, up
    assert tracker.increases + tracker.decreases == sum(len(v) for v in got.values())


def test_example_level_loss_is_monitored_with_subject_star():
    truths, predictions, errors = make_stream(
        3, 6000, {"a": abrupt_on_a, "b": lambda t: 0.3 if t >= CP else 0.05, "c": lambda t: 0.05}
    )
    expected = [d for d in river_detections(hamming(truths, predictions, LABELS)) if d[2] > d[1]]
    assert expected and CP <= expected[0][0] <= CP + 300
    monitor = DriftMonitor(DriftSettings())
    found = [(t, a) for t, a in run(monitor, truths, predictions) if a.subject == "*"]
    assert [t for t, _ in found] == [expected[0][0]]
    assert found[0][1].kind == "concept_drift"
    assert found[0][1].value == pytest.approx(expected[0][2])
    assert "example-level loss" in found[0][1].message


def test_only_observed_labels_feed_the_error_streams():
    truths, predictions, errors = make_stream(5, 8000, {"a": abrupt_on_a, "b": lambda t: 0.1, "c": lambda t: 0.1})
    rng = np.random.default_rng(11)
    observed = [frozenset({"b", "c"} | ({"a"} if rng.random() < 0.5 else set()) | set(tr)) for tr in truths]
    # Labels are observed when true (a LabelEvent's observed includes its labels), so the
    # stream of "a" is the subsequence of events where "a" is observed.
    seen = [t for t in range(8000) if "a" in observed[t]]
    sub = [errors["a"][t] for t in seen]
    expected = [d for d in river_detections(sub) if d[2] > d[1]]
    assert expected
    monitor = DriftMonitor(DriftSettings(monitor_example_loss=False))
    found = [t for t, a in run(monitor, truths, predictions, observed=observed) if a.subject == "a"]
    assert found == [seen[expected[0][0]]]


def test_reset_reaction_returns_a_model_reset_after_the_labels_alert():
    truths, predictions, errors = make_stream(1, 6000, {"a": abrupt_on_a, "b": lambda t: 0.3 if t >= CP else 0.05})
    t_a = river_detections(errors["a"])[0][0]
    monitor = DriftMonitor(DriftSettings(reaction="reset", prediction_warmup=500))
    # The label has a prediction reference before the reset ...
    for _ in range(6000):
        monitor.observe_prediction({"a": 0.2, "b": 0.7}, ["b"])
    assert monitor.scores.state("a") == READY
    found = run(monitor, truths, predictions, labels=["a", "b"])
    at_a = [a for t, a in found if t == t_a and a.subject == "a"]
    assert [a.kind for a in at_a] == ["concept_drift", "model_reset"]
    reset = at_a[1]
    assert reset.detector == "adwin" and reset.value == at_a[0].value and reset.threshold == at_a[0].threshold
    assert "reset the learner of label 'a'" in reset.message
    # ... and collects it again after the reset (warm-up first).
    assert monitor.scores.state("a") == WARMUP
    assert monitor.positive_rates._state[monitor.positive_rates.index["a"]] == WARMUP
    # Example-level drift never asks for a reset.
    assert not [a for t, a in found if a.kind == "model_reset" and a.subject == "*"]
    assert monitor.snapshot()["detections"]["model_reset"] == len([a for _, a in found if a.kind == "model_reset"])


def test_alert_reaction_never_resets():
    truths, predictions, _ = make_stream(1, 6000, {"a": abrupt_on_a})
    found = run(DriftMonitor(DriftSettings()), truths, predictions, labels=["a"])
    assert [a.kind for _, a in found] == ["concept_drift", "concept_drift"]  # "a" and "*"
    assert {a.subject for _, a in found} == {"a", "*"}


def river_recovery(values, alert_index, before, peak, window, min_window, fraction=0.5):
    """Where the monitor should report recovery, computed with River's ADWIN on ``values``.

    Every ``window`` events (event index ``k * window - 1``) ADWIN's estimate over its
    window is checked once the window holds ``min_window`` events: a new peak raises the
    peak; an estimate ``<= peak - fraction * (peak - before)`` is a recovery. At an event
    where ADWIN detects, the monitor has already restarted it (River does so at the next
    update): no check then.
    """
    adwin = ADWIN()
    for t, x in enumerate(values):
        adwin.update(x)
        if t <= alert_index or (t + 1) % window or adwin.drift_detected or adwin.width < min_window:
            continue
        error = adwin.estimation
        if error > peak:
            peak = error
            continue
        target = peak - fraction * (peak - before)
        if error <= target:
            return t, error, target
    return None


def test_recovered_when_the_error_falls_back():
    def rate(t):
        return 0.4 if 3000 <= t < 6000 else 0.05

    truths, predictions, errors = make_stream(2, 9000, {"a": rate})
    up = next(d for d in river_detections(errors["a"]) if d[2] > d[1])
    assert CP <= up[0] <= CP + 300
    expected = river_recovery(errors["a"], up[0], up[1], up[2], window=500, min_window=200)
    assert expected is not None and 6000 <= expected[0] <= 7000
    monitor = DriftMonitor(DriftSettings(monitor_example_loss=False))
    found = run(monitor, truths, predictions, labels=["a"])
    assert [(t, a.kind) for t, a in found] == [(up[0], "concept_drift"), (expected[0], "recovered")]
    recovered = found[1][1]
    assert recovered.detector == "adwin" and recovered.subject == "a"
    assert recovered.value == pytest.approx(expected[1]) and recovered.threshold == pytest.approx(expected[2])
    assert "recovered from concept drift" in recovered.message


def test_no_recovery_while_the_error_stays_high():
    truths, predictions, _ = make_stream(2, 9000, {"a": abrupt_on_a})
    found = run(DriftMonitor(DriftSettings(monitor_example_loss=False)), truths, predictions, labels=["a"])
    assert [a.kind for _, a in found] == ["concept_drift"]


def test_concept_alerts_are_debounced_per_label():
    def rate(t):  # up, down, up again, all within one cooldown
        return (0.05, 0.5, 0.05, 0.5)[t // 2000]

    truths, predictions, errors = make_stream(4, 8000, {"a": rate})
    ups = [d for d in river_detections(errors["a"]) if d[2] > d[1]]
    assert len(ups) >= 2 and ups[1][0] - ups[0][0] < 10_000
    monitor = DriftMonitor(DriftSettings(monitor_example_loss=False, cooldown_events=10_000))
    found = run(monitor, truths, predictions, labels=["a"])
    assert [t for t, a in found if a.kind == "concept_drift"] == [ups[0][0]]
    assert monitor.gate.suppressed >= 1
    # With a short cooldown the second increase is reported too.
    monitor = DriftMonitor(DriftSettings(monitor_example_loss=False, cooldown_events=100))
    found = run(monitor, truths, predictions, labels=["a"])
    assert [t for t, a in found if a.kind == "concept_drift"] == [d[0] for d in ups]


def test_max_labels_bounds_the_streams():
    monitor = DriftMonitor(DriftSettings(max_labels=2))
    for _ in range(10):
        monitor.observe_truth({"a"}, {"a"}, ["a", "b", "c", "d"])
    assert sorted(monitor.concept.streams) == ["a", "b"]
    assert monitor.snapshot()["ignored"]["label_updates"] >= 20


def test_concept_tracker_pickles_mid_stream_and_continues_identically():
    truths, predictions, _ = make_stream(9, 6000, {"a": abrupt_on_a, "b": lambda t: 0.1})
    tracker = ConceptTracker()
    for truth, predicted in zip(truths[:2990], predictions[:2990], strict=False):
        tracker.update(truth, predicted, ["a", "b"])
    copy = pickle.loads(pickle.dumps(tracker))
    assert copy.streams["a"].engine is copy.streams["a"].adwin._helper
    outs = []
    for tr in (tracker, copy):
        outs.append(
            [
                (t, c)
                for t, (truth, predicted) in enumerate(zip(truths[2990:], predictions[2990:], strict=False))
                for c in tr.update(truth, predicted, ["a", "b"]) or ()
            ]
        )
    assert outs[0] == outs[1] and outs[0]
