"""Quality per group and the gaps between groups."""

from __future__ import annotations

import pickle
import random

import pytest

from stream_mlc.core.fairness import OTHER, GroupMetrics, group_of
from stream_mlc.core.metrics import MultiLabelMetrics

LABELS = ["x", "y", "z"]


def _stream(seed: int, n: int = 600):
    rng = random.Random(seed)
    for _ in range(n):
        group = rng.choice("ab")
        truth = {label for label in LABELS if rng.random() < 0.4}
        # Group b's predictions are noisier: its quality must come out lower.
        noise = 0.1 if group == "a" else 0.4
        predicted = {label for label in LABELS if (label in truth) != (rng.random() < noise)}
        scores = {label: float(label in predicted) for label in LABELS}
        yield group, truth, predicted, scores


def test_group_figures_equal_metrics_fed_only_that_group():
    groups = GroupMetrics(min_events=10)
    alone = {"a": MultiLabelMetrics(), "b": MultiLabelMetrics()}
    positives = {"a": {}, "b": {}}
    for group, truth, predicted, scores in _stream(1):
        groups.update(group, truth, predicted, scores, LABELS)
        alone[group].update(truth, predicted, scores, LABELS)
        for label in predicted:
            positives[group][label] = positives[group].get(label, 0) + 1
    report = groups.report()
    for group in "ab":
        expected = alone[group].report()["cumulative"]
        figures = report["groups"][group]
        assert figures["micro_f1"] == expected["micro_f1"] and figures["macro_f1"] == expected["macro_f1"]
        assert figures["positive_rate"] == {k: v / alone[group].n for k, v in sorted(positives[group].items())}
    gap = report["gaps"]["micro_f1"]
    assert (gap["max_group"], gap["min_group"]) == ("a", "b")
    assert gap["gap"] == pytest.approx(report["groups"]["a"]["micro_f1"] - report["groups"]["b"]["micro_f1"])


def test_an_alert_is_raised_once_per_gap_and_again_after_it_closed():
    groups = GroupMetrics(min_events=10, gap_threshold=0.2)
    for group, truth, predicted, scores in _stream(2):
        groups.update(group, truth, predicted, scores, LABELS)
    alerts = groups.alerts()
    assert {a["subject"] for a in alerts} >= {"micro_f1"}
    assert all(a["kind"] == "fairness_gap" and a["value"] > 0.2 for a in alerts)
    assert groups.alerts() == []  # still open: not repeated
    groups.gap_threshold = 1.0
    assert groups.alerts() == []  # closed (under the threshold now) ...
    groups.gap_threshold = 0.2
    assert {a["subject"] for a in groups.alerts()} == {a["subject"] for a in alerts}  # ... and raised again


def test_groups_are_bounded_and_small_groups_are_not_judged():
    groups = GroupMetrics(max_groups=3, min_events=50)
    for i in range(100):
        groups.update(str(i % 10), {"x"}, {"x"} if i % 10 else set(), {"x": 1.0}, ["x"])
    report = groups.report()
    assert set(report["groups"]) == {"0", "1", "2", OTHER}
    assert report["groups"][OTHER]["events"] == 70
    assert report["gaps"] == {}  # only (other) has 50 events: nothing to compare it with
    assert pickle.loads(pickle.dumps(groups)).report() == report


def test_group_of_reads_a_feature():
    assert group_of({"region": 3.0}, "region") == "3"
    assert group_of({"score": 0.25}, "score") == "0.25"
    assert group_of({}, "region") == "(missing)"
