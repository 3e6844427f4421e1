"""The sliding window of stream_mlc.core.metrics: equal to a fresh object fed its events, no drift, bounds."""

from __future__ import annotations

import pytest
from metrics_streams import assert_metrics_close, make_stream, report_of, sklearn_full

from stream_mlc.core.metrics import MultiLabelMetrics

# --------------------------------------------------------------------------- window


WINDOW_CASES = [
    # seed, n, labels, density, grow, partial, window
    (70, 90, 5, 0.3, False, 0.0, 1),
    (71, 120, 6, 0.3, False, 0.0, 25),
    (72, 120, 8, 0.2, True, 0.0, 20),
    (73, 140, 8, 0.3, False, 0.5, 15),
    (74, 140, 10, 0.25, True, 0.4, 30),
    (75, 60, 4, 0.4, True, 0.3, 500),  # window larger than the stream
    (76, 150, 30, 0.04, True, 0.3, 9),  # sparse, labels leave the window
]


@pytest.mark.parametrize("seed,n,n_labels,density,grow,partial,window", WINDOW_CASES)
def test_window_equals_fresh_object_fed_the_last_window_events(seed, n, n_labels, density, grow, partial, window):
    stream = make_stream(seed, n, n_labels, density, p_empty=0.2, grow=grow, partial=partial)
    metric = MultiLabelMetrics(window=window)
    for t, event in enumerate(stream.events, start=1):
        metric.update(**event)
        report = metric.report()
        fresh = stream.feed(MultiLabelMetrics(window=window), max(0, t - window), t)
        assert report["window_n"] == fresh.n == min(t, window)
        assert_metrics_close(report["window"], fresh.report()["cumulative"])


def test_window_sums_do_not_drift_over_a_long_stream():
    # Adding and subtracting per-event floats drifts by ~1e-14 over 20k events here; the
    # periodic re-summation keeps the window within a few ulps of a fresh computation.
    stream = make_stream(80, 20000, 4, 0.3, p_empty=0.2, decimals=3)
    metric = MultiLabelMetrics(window=3)
    for t, event in enumerate(stream.events, start=1):
        metric.update(**event)
        if t % 500 == 0:
            tail = stream.feed(MultiLabelMetrics(window=3), t - 3, t)
            assert_metrics_close(metric.report()["window"], tail.report()["cumulative"], tol=1e-15)
    assert_metrics_close(metric.report()["cumulative"], sklearn_full(stream.Y, stream.P, stream.S))


def test_window_macro_counts_only_labels_counted_in_the_window():
    metric = MultiLabelMetrics(window=2)
    metric.update({"a"}, {"a"}, {"a": 0.9}, ["a"], observed={"a"})
    metric.update({"b"}, {"b"}, {"b": 0.9}, ["a", "b"], observed={"b"})
    metric.update({"b"}, {"b"}, {"b": 0.9}, ["a", "b"], observed={"b"})
    report = metric.report()
    # "a" left the window: the window averages over "b" only
    assert report["window"]["macro_f1"] == 1.0
    assert report["cumulative"]["macro_f1"] == 1.0
    metric.update(set(), set(), {}, ["a", "b"])  # counts both, neither positive
    assert metric.report()["window"]["macro_f1"] == 0.5


def test_window_of_one_is_the_last_event():
    events = [
        ({"a"}, {"a"}, {"a": 0.9}, ["a", "b"]),
        ({"b"}, {"a"}, {"a": 0.9, "b": 0.1}, ["a", "b"]),
    ]
    report = report_of(*events, window=1)
    assert report["window_n"] == 1
    assert report["window"] == report_of(events[1])["cumulative"]
    assert report["window"]["subset_accuracy"] == 0.0
    assert report["cumulative"]["subset_accuracy"] == 0.5


@pytest.mark.parametrize("window", [0, -3, 1.5, "10", True, None])
def test_invalid_window_is_rejected(window):
    with pytest.raises(ValueError, match="window"):
        MultiLabelMetrics(window=window)
