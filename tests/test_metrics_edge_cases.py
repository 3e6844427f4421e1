"""Edge cases of stream_mlc.core.metrics: empty events, zero divisions, ties, missing scores, odd inputs."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from metrics_streams import TOL, make_stream, report_of, river_metrics
from river import metrics as rm
from sklearn.metrics import (
    accuracy_score,
    coverage_error,
    f1_score,
    jaccard_score,
    label_ranking_average_precision_score,
    label_ranking_loss,
)

from stream_mlc.core.metrics import METRIC_NAMES, MultiLabelMetrics


def test_report_before_any_event_is_all_zero():
    report = MultiLabelMetrics().report()
    assert report == {
        "n": 0,
        "window_n": 0,
        "cumulative": dict.fromkeys(METRIC_NAMES, 0.0),
        "window": dict.fromkeys(METRIC_NAMES, 0.0),
        "per_label": {},
    }
    assert list(report["cumulative"]) == list(METRIC_NAMES)
    # River reports 0.0 before any update too, except MacroAverage, which raises
    for name, m in river_metrics().items():
        if name.startswith("macro_"):
            with pytest.raises(statistics.StatisticsError):
                m.get()
        else:
            assert m.get() == 0.0


def test_report_keys_are_the_metric_names_in_order():
    report = report_of(({"a"}, {"b"}, {"a": 0.2, "b": 0.7}, ["a", "b"]))
    assert list(report) == ["n", "window_n", "cumulative", "window", "per_label"]
    assert list(report["cumulative"]) == list(report["window"]) == list(METRIC_NAMES)
    assert all(type(v) is float for v in report["cumulative"].values())


def test_event_without_true_and_predicted_labels():
    c = report_of((set(), set(), {"a": 0.3, "b": 0.1}, ["a", "b"]))["cumulative"]
    # zero divisions give 0.0 (River SampleAverage(F1()), sklearn zero_division=0) ...
    for name in ("example_precision", "example_recall", "example_f1", "jaccard"):
        assert c[name] == 0.0
    for name in ("micro_precision", "micro_recall", "micro_f1", "macro_f1", "weighted_f1"):
        assert c[name] == 0.0
    # ... but the empty sets match exactly and no label is wrong
    assert c["subset_accuracy"] == 1.0
    assert c["hamming_loss"] == 0.0
    # ranking of an event with no true label: sklearn takes it as perfect
    assert (c["coverage_error"], c["ranking_loss"], c["lrap"], c["one_error"]) == (0, 0, 1, 0)
    assert (c["cardinality_true"], c["cardinality_pred"]) == (0.0, 0.0)
    y = np.zeros((1, 2), dtype=int)
    s = np.array([[0.3, 0.1]])
    assert f1_score(y, y, average="samples", zero_division=0) == 0.0
    assert jaccard_score(y, y, average="samples", zero_division=0) == 0.0
    assert accuracy_score(y, y) == 1.0
    assert coverage_error(y, s) == 0.0
    assert label_ranking_loss(y, s) == 0.0
    assert label_ranking_average_precision_score(y, s) == 1.0
    river = river_metrics()
    for m in river.values():
        m.update({"a": False, "b": False}, {"a": False, "b": False})
    assert river["example_f1"].get() == 0.0
    assert river["subset_accuracy"].get() == 1.0


def test_empty_event_lowers_example_f1_as_in_river():
    events = [({"a"}, {"a"}, {"a": 0.9}, ["a", "b"]), (set(), set(), {}, ["a", "b"])]
    c = report_of(*events)["cumulative"]
    assert c["example_f1"] == 0.5
    assert c["subset_accuracy"] == 1.0
    assert c["micro_f1"] == 1.0


def test_label_never_positive_counts_as_zero_in_macro():
    events = [({"a"}, {"a"}, {"a": 0.9}, ["a", "b"]), (set(), set(), {}, ["a", "b"])] * 3
    report = report_of(*events)
    c = report["cumulative"]
    assert c["macro_f1"] == c["macro_precision"] == c["macro_recall"] == 0.5
    assert c["micro_f1"] == c["weighted_f1"] == 1.0  # no support: weight 0
    assert report["per_label"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["per_label"]["a"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 3}
    y = np.array([[1, 0], [0, 0]] * 3)
    assert f1_score(y, y, average="macro", zero_division=0) == 0.5
    river = rm.multioutput.MacroAverage(rm.F1())
    for truth, *_ in events:
        river.update({"a": "a" in truth, "b": False}, {"a": "a" in truth, "b": False})
    assert river.get() == 0.5


def test_label_predicted_but_never_true_and_true_but_never_predicted():
    report = report_of(({"a"}, {"b"}, {"a": 0.2, "b": 0.8}, ["a", "b"]))
    assert report["per_label"]["a"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["per_label"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    c = report["cumulative"]
    assert c["micro_precision"] == c["micro_recall"] == c["micro_f1"] == 0.0
    assert c["example_precision"] == c["example_recall"] == c["example_f1"] == c["jaccard"] == 0.0
    assert c["subset_accuracy"] == 0.0
    assert c["hamming_loss"] == 1.0
    assert c["one_error"] == 1.0
    assert c["coverage_error"] == 2.0
    assert c["ranking_loss"] == 1.0
    assert c["lrap"] == 0.5


def test_weighted_f1_without_any_support_is_zero():
    c = report_of((set(), {"a"}, {"a": 0.9}, ["a", "b"]))["cumulative"]
    assert c["weighted_f1"] == 0.0
    y, p = np.array([[0, 0]]), np.array([[1, 0]])
    assert f1_score(y, p, average="weighted", zero_division=0) == 0.0


def test_ranking_ties_count_against_the_ranking():
    scores = {"a": 0.5, "b": 0.5, "c": 0.5, "d": 0.5}
    c = report_of(({"b"}, set(), scores, ["a", "b", "c", "d"]))["cumulative"]
    assert c["coverage_error"] == 4.0
    assert c["ranking_loss"] == 1.0
    assert c["lrap"] == 0.25
    assert c["one_error"] == 1.0
    y, s = np.array([[0, 1, 0, 0]]), np.array([[0.5] * 4])
    assert coverage_error(y, s) == 4.0
    assert label_ranking_loss(y, s) == 1.0
    assert label_ranking_average_precision_score(y, s) == 0.25


def test_ranking_with_partial_ties():
    scores = {"a": 0.9, "b": 0.6, "c": 0.6, "d": 0.1}
    c = report_of(({"a", "c"}, {"a"}, scores, ["a", "b", "c", "d"]))["cumulative"]
    y, s = np.array([[1, 0, 1, 0]]), np.array([[0.9, 0.6, 0.6, 0.1]])
    assert c["coverage_error"] == coverage_error(y, s) == 3.0
    assert c["ranking_loss"] == pytest.approx(label_ranking_loss(y, s)) == 0.25
    assert c["lrap"] == pytest.approx(label_ranking_average_precision_score(y, s))
    assert c["one_error"] == 0.0  # "a" is strictly on top


def test_missing_scores_count_as_zero():
    full = report_of(({"b"}, {"b"}, {"a": 0.0, "b": 0.7, "c": 0.0}, ["a", "b", "c"]))
    sparse = report_of(({"b"}, {"b"}, {"b": 0.7}, ["a", "b", "c"]))
    assert full == sparse
    # a true label without a score ties with the other unscored labels
    c = report_of(({"c"}, set(), {"a": 0.4}, ["a", "b", "c"]))["cumulative"]
    assert (c["coverage_error"], c["one_error"], c["ranking_loss"]) == (3.0, 1.0, 1.0)
    assert c["lrap"] == pytest.approx(1 / 3)


def test_scores_of_labels_not_counted_are_ignored():
    base = report_of(({"a"}, {"a"}, {"a": 0.3, "b": 0.1}, ["a", "b"]))
    extra = report_of(({"a"}, {"a"}, {"a": 0.3, "b": 0.1, "zzz": 0.99}, ["a", "b"]))
    assert base == extra


def test_every_label_true():
    scores = {"a": 0.1, "b": 0.9, "c": 0.5}
    c = report_of(({"a", "b", "c"}, {"b"}, scores, ["a", "b", "c"]))["cumulative"]
    assert (c["coverage_error"], c["ranking_loss"], c["lrap"], c["one_error"]) == (3, 0, 1, 0)
    y, s = np.ones((1, 3), dtype=int), np.array([[0.1, 0.9, 0.5]])
    assert coverage_error(y, s) == 3.0
    assert label_ranking_loss(y, s) == 0.0
    assert label_ranking_average_precision_score(y, s) == 1.0


def test_hamming_loss_divides_by_the_labels_counted_for_each_event():
    report = report_of(
        (set(), {"a"}, {"a": 0.9}, ["a"]),  # 1 wrong of 1
        (set(), {"a"}, {"a": 0.9}, ["a", "b"]),  # 1 wrong of 2
    )
    assert report["cumulative"]["hamming_loss"] == 0.75
    # the label "b" counts from the second event only
    assert report["per_label"]["a"]["support"] == 0
    assert report["cumulative"]["macro_precision"] == 0.0


def test_label_counts_start_when_the_label_first_appears():
    events = [
        ({"a"}, {"a"}, {"a": 0.9}, ["a", "b"]),
        ({"a"}, {"a"}, {"a": 0.9}, ["a", "b"]),
        ({"c"}, {"c"}, {"c": 0.9}, ["a", "b", "c"]),
    ]
    report = report_of(*events)
    c = report["cumulative"]
    assert c["macro_f1"] == pytest.approx(2 / 3)  # a: 1, b: 0 (never positive), c: 1
    assert c["hamming_loss"] == 0.0
    assert list(report["per_label"]) == ["a", "b", "c"]
    river = rm.multioutput.MacroAverage(rm.F1())
    for truth, predicted, _, labels in events:
        river.update({k: k in truth for k in labels}, {k: k in predicted for k in labels})
    assert c["macro_f1"] == pytest.approx(river.get(), abs=TOL)


def test_partial_labels_ignore_unobserved_labels():
    # "c" is true and "d" predicted, but neither is observed: only a and b count.
    got = report_of(({"a", "c"}, {"a", "d"}, {"a": 0.8, "c": 0.99, "d": 0.95}, ["a", "b", "c", "d"], {"a", "b"}))
    expected = report_of(({"a"}, {"a"}, {"a": 0.8}, ["a", "b"]))
    assert got["cumulative"] == expected["cumulative"]
    assert got["per_label"] == expected["per_label"]  # c and d were never counted


def test_observed_equal_to_every_label_is_the_same_as_full_labels():
    stream = make_stream(95, 120, 6, 0.3, grow=True)
    full = stream.feed(MultiLabelMetrics(window=10))
    observed = MultiLabelMetrics(window=10)
    for event in stream.events:
        observed.update(**{**event, "observed": set(event["labels"])})
    assert observed.report() == full.report()


def test_observed_empty_counts_as_an_empty_event():
    report = report_of(({"a"}, {"b"}, {"a": 0.5}, ["a", "b"], set()))
    assert report["n"] == 1
    assert report["per_label"] == {}
    c = report["cumulative"]
    assert c["subset_accuracy"] == 1.0
    assert c["hamming_loss"] == 0.0
    assert c["example_f1"] == 0.0
    assert c["lrap"] == 1.0
    assert c["macro_f1"] == 0.0


def test_true_or_predicted_label_missing_from_labels_is_added():
    lenient = report_of(({"z"}, {"a", "z"}, {"z": 0.7, "a": 0.6}, ["a"]))
    strict = report_of(({"z"}, {"a", "z"}, {"z": 0.7, "a": 0.6}, ["a", "z"]))
    assert lenient["cumulative"] == strict["cumulative"]
    assert set(lenient["per_label"]) == {"a", "z"}


def test_inputs_are_not_mutated_and_any_collection_is_accepted():
    labels = frozenset({"a", "b"})
    labels_set = {"a", "b"}
    truth, predicted, scores = {"c"}, ["a"], {"a": 0.4}
    metric = MultiLabelMetrics()
    metric.update(truth, predicted, scores, labels_set)
    assert labels_set == {"a", "b"} and truth == {"c"} and predicted == ["a"]
    assert scores == {"a": 0.4}
    as_lists = report_of((["b"], ("a",), {"a": 0.4, "b": 0.2}, ["a", "b"]))
    as_sets = report_of((frozenset({"b"}), {"a"}, {"a": 0.4, "b": 0.2}, labels))
    from_generator = report_of((("b",), ["a"], {"a": 0.4, "b": 0.2}, (x for x in "ab")))
    assert as_lists["cumulative"] == as_sets["cumulative"] == from_generator["cumulative"]


def test_duplicates_in_inputs_are_counted_once():
    dup = report_of((["a", "a"], ["a", "a"], {"a": 0.9}, ["a", "b", "a"]))
    once = report_of((["a"], ["a"], {"a": 0.9}, ["a", "b"]))
    assert dup == once


def test_repr_and_properties():
    metric = MultiLabelMetrics(window=3)
    metric.update({"a"}, set(), {}, ["a", "b"])
    assert metric.n == 1 and metric.window == 3
    assert repr(metric) == "MultiLabelMetrics(window=3, n=1, window_n=1, labels=2)"
