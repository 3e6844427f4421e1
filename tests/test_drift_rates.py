"""Label drift and prediction drift: rate tests and score PSI, against direct computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stream_mlc.core.drift import DriftMonitor, DriftSettings
from stream_mlc.core.drift.psi import COLLECT, READY, WARMUP
from stream_mlc.core.drift.rates import RateTracker, two_proportion_z


def z_direct(xw, nw, xr, nr):
    """Pooled two-proportion z with Yates' correction, written out with math."""
    pw, pr = xw / nw, xr / nr
    pooled = (xw + xr) / (nw + nr)
    h = 1 / nw + 1 / nr
    se = math.sqrt(pooled * (1 - pooled) * h)
    return 0.0 if se == 0 else max(abs(pw - pr) - h / 2, 0.0) / se


@pytest.mark.parametrize(
    "xw,nw,xr,nr",
    [
        (50, 500, 500, 5000),
        (120, 500, 500, 5000),
        (3, 500, 0, 5000),
        (0, 500, 40, 5000),
        (499, 500, 4000, 5000),
        (7, 60, 300, 1000),
    ],
)
def test_z_matches_the_formula(xw, nw, xr, nr):
    assert float(two_proportion_z(xw, nw, xr, nr)) == pytest.approx(z_direct(xw, nw, xr, nr))
    assert float(two_proportion_z(xr, nr, xw, nw)) == pytest.approx(z_direct(xw, nw, xr, nr))  # symmetric


def test_z_is_zero_when_both_rates_are_zero_or_one():
    assert two_proportion_z([0, 500], [500, 500], [0, 5000], [5000, 5000]).tolist() == [0.0, 0.0]


def label_stream(seed, n, rates):
    """Joined truths: label -> rate(t)."""
    rng = np.random.default_rng(seed)
    return [frozenset(label for label, rate in rates.items() if rng.random() < rate(t)) for t in range(n)]


def expected_rate_alerts(truths, label, window, reference, warn, alert, observed=None, rolling_after=None):
    """First window whose |z| reaches ``warn``: (event index, |z|, threshold), computed directly.

    The reference is the first ``reference`` events, or with ``rolling_after=w`` the
    ``reference`` events before each window, from event ``w + reference`` on.
    """

    def counts(lo, hi):
        x = n = 0
        for t in range(lo, hi):
            if observed is None or label in observed[t]:
                n += 1
                x += label in truths[t]
        return x, n

    first = reference if rolling_after is None else rolling_after + reference
    xr, nr = counts(0, reference)
    for start in range(first, len(truths) - window + 1, window):
        if rolling_after is not None:
            xr, nr = counts(start - reference, start)
        xw, nw = counts(start, start + window)
        z = z_direct(xw, nw, xr, nr)
        if z >= warn:
            return start + window - 1, z, alert if z >= alert else warn
    return None


def test_label_drift_at_the_first_window_over_the_threshold():
    truths = label_stream(0, 12_000, {"a": lambda t: 0.3 if t >= 7130 else 0.1, "b": lambda t: 0.2})
    s = DriftSettings()
    expected = expected_rate_alerts(
        truths, "a", s.window_size, s.reference_size, s.label_rate_z_warn, s.label_rate_z_alert
    )
    assert expected is not None and 7130 <= expected[0] < 7130 + 2 * s.window_size
    monitor = DriftMonitor(s)
    found = [(t, a) for t, truth in enumerate(truths) for a in monitor.observe_truth(truth, truth, ["a", "b"])]
    assert [(t, a.kind, a.detector, a.subject) for t, a in found] == [(expected[0], "label_drift", "label_rate", "a")]
    alert = found[0][1]
    assert alert.value == pytest.approx(expected[1]) and alert.threshold == expected[2]
    assert "label 'a' is true in" in alert.message and "in its reference" in alert.message
    rates = monitor.snapshot()["label_rate"]
    assert rates["a"]["reference"] == pytest.approx(sum("a" in t for t in truths[:5000]) / 5000)


def test_a_label_first_seen_after_the_reference_is_label_drift():
    truths = label_stream(1, 9000, {"a": lambda t: 0.2, "new": lambda t: 0.1 if t >= 6000 else 0.0})
    monitor = DriftMonitor(DriftSettings())
    found = [(t, a) for t, truth in enumerate(truths) for a in monitor.observe_truth(truth, truth, ["a"])]
    assert [(t, a.subject) for t, a in found] == [(6499, "new")]
    assert "against 0.00% of 5000 in its reference" in found[0][1].message


def test_partially_observed_labels_count_only_where_observed():
    rng = np.random.default_rng(2)
    truths = label_stream(2, 14_000, {"a": lambda t: 0.4 if t >= 9000 else 0.15})
    observed = [frozenset({"a"}) if rng.random() < 0.5 else frozenset() for _ in truths]
    truths = [t & o for t, o in zip(truths, observed, strict=False)]  # a label is known only where observed
    s = DriftSettings()
    expected = expected_rate_alerts(
        truths, "a", s.window_size, s.reference_size, s.label_rate_z_warn, s.label_rate_z_alert, observed
    )
    monitor = DriftMonitor(s)
    found = [
        (t, a)
        for t, (truth, obs) in enumerate(zip(truths, observed, strict=False))
        for a in monitor.observe_truth(truth, truth, ["a"], obs)
    ]
    assert [t for t, a in found if a.kind == "label_drift"] == [expected[0]]
    i = monitor.label_rates.index["a"]
    assert monitor.label_rates.ref_n[i] == sum("a" in o for o in observed[:5000])


def test_rate_needs_min_count_observations():
    tracker = RateTracker(window_size=100, reference_size=200, min_count=50)
    for t in range(300):
        tracker.add(["a"] if t % 2 else [], observed=["a"] if t % 5 == 0 else [])
        if tracker.n == 100:
            tested = tracker.close()
    assert len(tested) == 0 and math.isnan(tracker.z[0])  # 20 observations per window


def prediction_events(seed, n, shift_at):
    rng = np.random.default_rng(seed)
    events = []
    for t in range(n):
        scores = {
            "a": float(rng.beta(2, 5) if t < shift_at else rng.beta(5, 2)),
            "b": float(rng.beta(2, 2)),
        }
        events.append((scores, [label for label, s in scores.items() if s >= 0.5]))
    return events


def test_prediction_drift_on_scores_and_positive_rate_after_the_warmup():
    s = DriftSettings(prediction_warmup=1000)
    events = prediction_events(0, 12_000, shift_at=8120)
    monitor = DriftMonitor(s)
    states = []
    found = []
    for t, (scores, predicted) in enumerate(events):
        found += [(t, a) for a in monitor.observe_prediction(scores, predicted)]
        if t in (998, 999, 5998, 5999):
            states.append(monitor.scores.state("a"))
    # Warm-up for 1000 events, then the reference: 5000 events (states move at window closes).
    assert states == [WARMUP, COLLECT, COLLECT, READY]
    kinds = {(a.kind, a.detector, a.subject) for _, a in found}
    assert kinds == {("prediction_drift", "score_psi", "a"), ("prediction_drift", "positive_rate", "a")}
    # Both fire at the close of the window holding the change or the next.
    assert all(8120 <= t < 8120 + 2 * s.window_size for t, _ in found)
    # The positive rate, checked directly.
    # Rolling reference (the 5000 events before each window) from the end of the warm-up.
    predicted_a = [frozenset({"a"}) if "a" in p else frozenset() for _, p in events]
    expected = expected_rate_alerts(
        predicted_a,
        "a",
        s.window_size,
        s.reference_size,
        s.positive_rate_z_warn,
        s.positive_rate_z_alert,
        rolling_after=1000,
    )
    rate_alerts = [(t, a) for t, a in found if a.detector == "positive_rate"]
    assert rate_alerts[0][0] == expected[0]
    assert rate_alerts[0][1].value == pytest.approx(expected[1])
    assert "label 'a' is predicted positive in" in rate_alerts[0][1].message


def test_a_new_label_in_the_scores_collects_its_own_reference():
    s = DriftSettings(prediction_warmup=500, window_size=500, reference_size=1000)
    monitor = DriftMonitor(s)
    rng = np.random.default_rng(4)
    for t in range(5000):
        scores = {"a": float(rng.random())}
        if t >= 3000:
            scores["late"] = float(rng.random() * 0.1)  # a new label: no reference of zeros
        assert monitor.observe_prediction(scores, [k for k, v in scores.items() if v > 0.5]) == []
    assert monitor.scores.state("late") == READY


def test_score_psi_matches_the_formula_with_a_rolling_reference():
    from stream_mlc.core.drift.scores import ScorePsiTracker

    rng = np.random.default_rng(6)
    n, window, reference, warmup = 6000, 250, 1000, 500
    S = np.column_stack([rng.beta(2, 5, n), rng.beta(1, 1, n)])
    S[4000:, 0] = rng.beta(5, 2, n - 4000)
    absent = rng.random(n) < 0.1  # label "b" missing from 10% of the events: a score of 0
    S[absent, 1] = 0.0
    tracker = ScorePsiTracker(window_size=window, reference_size=reference, warmup_size=warmup)
    got = {}
    for t in range(n):
        scores = {"a": float(S[t, 0])} if absent[t] else {"a": float(S[t, 0]), "b": float(S[t, 1])}
        if tracker.observe(scores):
            for i in tracker.close():
                got[(t, tracker.names[i])] = float(tracker.psi[i])
    edges = np.arange(1, 10) / 10
    expected = {}
    for start in range(warmup + reference, n - window + 1, window):
        for j, name in enumerate("ab"):
            p = np.bincount(np.digitize(S[start - reference : start, j], edges, right=True), minlength=10) / reference
            q = np.bincount(np.digitize(S[start : start + window, j], edges, right=True), minlength=10) / window
            p, q = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
            expected[(start + window - 1, name)] = float(np.sum((q - p) * np.log(q / p)))
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert max(v for (t, name), v in got.items() if name == "a" and t < 4000) < 0.1
    assert got[(4249, "a")] > 1.0


def test_rebaseline_forgets_a_labels_rolling_reference():
    from stream_mlc.core.drift.scores import ScorePsiTracker

    tracker = ScorePsiTracker(window_size=10, reference_size=20, warmup_size=10)
    for _t in range(60):
        if tracker.observe({"a": 0.3, "b": 0.6}):
            tracker.close()
    assert tracker.state("a") == READY and tracker.psi[0] == pytest.approx(0.0)
    tracker.rebaseline("a")
    assert tracker.state("a") == WARMUP and np.isnan(tracker.psi[0])
    states = []
    for _t in range(40):
        if tracker.observe({"a": 0.9, "b": 0.6}):
            tracker.close()
            states.append(tracker.state("a"))
    assert states == [COLLECT, COLLECT, READY, READY]
    assert tracker.psi[0] == pytest.approx(0.0)  # the reference holds only the new scores
