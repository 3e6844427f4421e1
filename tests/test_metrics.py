"""stream_mlc.core.metrics against scikit-learn and River; windows, pickling, edge cases."""

from __future__ import annotations

import ast
import copy
import doctest
import math
import pickle
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from river import metrics as rm
from river import stats, utils
from sklearn.metrics import (
    accuracy_score,
    coverage_error,
    f1_score,
    hamming_loss,
    jaccard_score,
    label_ranking_average_precision_score,
    label_ranking_loss,
    precision_score,
    recall_score,
)

from stream_mlc.core import metrics as metrics_module
from stream_mlc.core.metrics import METRIC_NAMES, MultiLabelMetrics

TOL = 1e-9


# --------------------------------------------------------------------------- data


class Stream:
    """A random multi-label stream and its dense matrices.

    ``Y`` / ``P`` are the raw true / predicted indicator matrices, ``S`` the scores (0.0 where a
    label is missing from the event's scores), ``M`` the entries counted (label known at the
    event and observed). ``events`` are the keyword arguments of ``MultiLabelMetrics.update``.
    """

    def __init__(self, names, Y, P, S, M, events):
        self.names, self.Y, self.P, self.S, self.M, self.events = names, Y, P, S, M, events

    def __len__(self):
        return len(self.events)

    def feed(self, metric, start=0, stop=None):
        for event in self.events[start:stop]:
            metric.update(**event)
        return metric


def make_stream(
    seed,
    n,
    n_labels,
    density=0.3,
    p_empty=0.1,
    grow=False,
    partial=0.0,
    patterns=None,
    truth_outside_observed=True,
    decimals=1,
    p_missing_score=0.15,
    thresholded=0.5,
):
    """Random stream; seeded.

    grow: labels 2.. appear at random times (labels 0 and 1 are known from the start).
    partial: probability that an event gives ``observed`` (a random subset of the known labels
    of size >= 2, or one of ``patterns`` (lists of label indices) when given).
    decimals: scores are rounded, which makes ties.
    thresholded: probability that the prediction is ``score >= 0.5`` (else independent noise).
    """
    rng = np.random.default_rng(seed)
    L = n_labels
    names = [f"lab{j:03d}" for j in range(L)]
    dens = rng.uniform(0.2, 1.8, size=L) * density
    Y = rng.random((n, L)) < dens
    Y[rng.random(n) < p_empty] = False
    S = np.round(rng.random((n, L)), decimals)
    S[rng.random((n, L)) < p_missing_score] = 0.0  # dropped from the scores dict below
    P = np.where(rng.random(n)[:, None] < thresholded, S >= 0.5, rng.random((n, L)) < density)
    P[rng.random(n) < p_empty] = False
    if grow:
        appear = np.sort(rng.integers(0, max(n // 2, 1), size=L))
        appear[:2] = 0
    else:
        appear = np.zeros(L, dtype=int)
    M = np.zeros((n, L), dtype=bool)
    events = []
    for t in range(n):
        known = [j for j in range(L) if appear[j] <= t]
        Y[t, [j for j in range(L) if j not in known]] = False
        P[t, [j for j in range(L) if j not in known]] = False
        observed = None
        counted = known
        if partial and rng.random() < partial:
            if patterns is not None:
                counted = [j for j in patterns[rng.integers(len(patterns))] if j in known]
            else:
                size = int(rng.integers(2, len(known) + 1))
                counted = sorted(rng.choice(known, size=size, replace=False).tolist())
            if len(counted) < 2:  # sklearn needs two labels per sub-matrix: count them all
                counted = known
        if counted is not known:
            observed = {names[j] for j in counted}
            if not truth_outside_observed:
                Y[t, [j for j in known if j not in counted]] = False
        M[t, counted] = True
        scores = {names[j]: float(S[t, j]) for j in known if S[t, j] != 0.0 or rng.random() < 0.5}
        events.append(
            {
                "truth": {names[j] for j in known if Y[t, j]},
                "predicted": [names[j] for j in known if P[t, j]],
                "scores": scores,
                "labels": [names[j] for j in known],
                "observed": observed,
            }
        )
    return Stream(names, Y, P, S, M, events)


# --------------------------------------------------------------------------- references


def one_error(Y, S):
    """One-error computed directly: the best true label is not strictly above every false one."""
    errors = []
    for y, s in zip(Y, S, strict=True):
        if not y.any() or y.all():
            errors.append(0.0)
        else:
            errors.append(float(s[~y].max() >= s[y].max()))
    return float(np.mean(errors))


def sklearn_full(Y, P, S):
    """Every metric from scikit-learn (one-error directly) on full indicator matrices."""
    Yi, Pi = Y.astype(int), P.astype(int)
    z = {"zero_division": 0}
    return {
        "micro_precision": precision_score(Yi, Pi, average="micro", **z),
        "micro_recall": recall_score(Yi, Pi, average="micro", **z),
        "micro_f1": f1_score(Yi, Pi, average="micro", **z),
        "macro_precision": precision_score(Yi, Pi, average="macro", **z),
        "macro_recall": recall_score(Yi, Pi, average="macro", **z),
        "macro_f1": f1_score(Yi, Pi, average="macro", **z),
        "weighted_f1": f1_score(Yi, Pi, average="weighted", **z),
        "example_precision": precision_score(Yi, Pi, average="samples", **z),
        "example_recall": recall_score(Yi, Pi, average="samples", **z),
        "example_f1": f1_score(Yi, Pi, average="samples", **z),
        "jaccard": jaccard_score(Yi, Pi, average="samples", **z),
        "subset_accuracy": accuracy_score(Yi, Pi),
        "hamming_loss": hamming_loss(Yi, Pi),
        "one_error": one_error(Y, S),
        "coverage_error": coverage_error(Yi, S),
        "ranking_loss": label_ranking_loss(Yi, S),
        "lrap": label_ranking_average_precision_score(Yi, S),
        "cardinality_true": float(Yi.sum(axis=1).mean()),
        "cardinality_pred": float(Pi.sum(axis=1).mean()),
    }


LABEL_BASED = {
    "micro_precision",
    "micro_recall",
    "micro_f1",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "weighted_f1",
}


def sklearn_masked(Y, P, S, M):
    """scikit-learn on the counted entries only (growing label set, partial labels).

    Label-based metrics: each label on the events that count it (binary sklearn metrics per
    column; micro on the concatenation of the counted entries). Example-based and ranking
    metrics: sklearn on the sub-matrix of each group of events counting the same labels,
    averaged with the group sizes as weights.
    """
    n = len(Y)
    z = {"zero_division": 0}
    out = {}
    yt, yp = Y[M].astype(int), P[M].astype(int)
    out["micro_precision"] = precision_score(yt, yp, **z)
    out["micro_recall"] = recall_score(yt, yp, **z)
    out["micro_f1"] = f1_score(yt, yp, **z)
    per = []
    for j in range(Y.shape[1]):
        rows = M[:, j]
        if rows.any():
            a, b = Y[rows, j].astype(int), P[rows, j].astype(int)
            per.append((precision_score(a, b, **z), recall_score(a, b, **z), f1_score(a, b, **z), a.sum()))
    per = np.array(per)
    out["macro_precision"] = per[:, 0].mean()
    out["macro_recall"] = per[:, 1].mean()
    out["macro_f1"] = per[:, 2].mean()
    out["weighted_f1"] = (per[:, 2] * per[:, 3]).sum() / per[:, 3].sum() if per[:, 3].sum() else 0.0
    groups = defaultdict(list)
    for t in range(n):
        groups[tuple(np.flatnonzero(M[t]))].append(t)
    acc = defaultdict(float)
    for cols, rows in groups.items():
        assert len(cols) >= 2, "sklearn needs at least two labels per sub-matrix"
        sub = np.ix_(rows, cols)
        values = sklearn_full(Y[sub], P[sub], S[sub])
        for name, value in values.items():
            if name not in LABEL_BASED:
                acc[name] += value * len(rows)
    for name, total in acc.items():
        out[name] = total / n
    return out


def assert_metrics_close(got, expected, tol=TOL, names=METRIC_NAMES):
    bad = {
        name: (got[name], expected[name])
        for name in names
        if not math.isclose(got[name], expected[name], rel_tol=0.0, abs_tol=tol)
    }
    assert not bad, f"metric mismatches (got, expected): {bad}"


RIVER_NAMES = [
    "micro_precision",
    "micro_recall",
    "micro_f1",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "example_precision",
    "example_recall",
    "example_f1",
    "jaccard",
    "subset_accuracy",
]


def river_metrics():
    """River's multioutput metrics, as used by the MLHAT2024 protocol."""
    return {
        "micro_precision": rm.multioutput.MicroAverage(rm.Precision()),
        "micro_recall": rm.multioutput.MicroAverage(rm.Recall()),
        "micro_f1": rm.multioutput.MicroAverage(rm.F1()),
        "macro_precision": rm.multioutput.MacroAverage(rm.Precision()),
        "macro_recall": rm.multioutput.MacroAverage(rm.Recall()),
        "macro_f1": rm.multioutput.MacroAverage(rm.F1()),
        "example_precision": rm.multioutput.SampleAverage(rm.Precision()),
        "example_recall": rm.multioutput.SampleAverage(rm.Recall()),
        "example_f1": rm.multioutput.SampleAverage(rm.F1()),
        "jaccard": rm.multioutput.SampleAverage(rm.Jaccard()),
        "subset_accuracy": rm.multioutput.ExactMatch(),
    }


def river_dicts(event):
    """River's y_true / y_pred: one boolean per label counted for the event."""
    counted = event["observed"] if event["observed"] is not None else event["labels"]
    truth, predicted = set(event["truth"]), set(event["predicted"])
    return {k: k in truth for k in counted}, {k: k in predicted for k in counted}


def mlhat_hamming(y_true, y_pred):
    """Hamming loss of one event as in the MLHAT2024 code: wrong labels / labels in y_true."""
    return sum(y_pred[k] != v for k, v in y_true.items()) / len(y_true)


# --------------------------------------------------------------------------- sklearn


SIZES = [
    # seed, n, labels, density, p_empty
    (0, 60, 2, 0.4, 0.1),
    (1, 200, 6, 0.3, 0.1),
    (2, 300, 14, 0.25, 0.2),
    (3, 250, 40, 0.03, 0.3),  # sparse label sets, many empty rows
    (4, 120, 5, 0.8, 0.0),  # dense: many rows with every label true
    (5, 150, 25, 0.08, 0.5),
]


@pytest.mark.parametrize("seed,n,n_labels,density,p_empty", SIZES)
def test_cumulative_matches_sklearn(seed, n, n_labels, density, p_empty):
    stream = make_stream(seed, n, n_labels, density, p_empty)
    metric = stream.feed(MultiLabelMetrics(window=17))
    report = metric.report()
    assert report["n"] == metric.n == n
    assert report["window_n"] == 17
    expected = sklearn_full(stream.Y, stream.P, stream.S)
    assert_metrics_close(report["cumulative"], expected)
    assert_metrics_close(report["cumulative"], sklearn_masked(stream.Y, stream.P, stream.S, stream.M))


@pytest.mark.parametrize("seed,n,n_labels,density,p_empty", SIZES[:4])
def test_prequential_curve_matches_sklearn_at_checkpoints(seed, n, n_labels, density, p_empty):
    stream = make_stream(seed, n, n_labels, density, p_empty)
    metric = MultiLabelMetrics()
    for t, event in enumerate(stream.events, start=1):
        metric.update(**event)
        if t % 37 == 0 or t == 1:
            expected = sklearn_full(stream.Y[:t], stream.P[:t], stream.S[:t])
            assert_metrics_close(metric.report()["cumulative"], expected)


@pytest.mark.parametrize("seed,n,n_labels,density", [(10, 200, 6, 0.3), (11, 250, 20, 0.1)])
def test_per_label_matches_sklearn(seed, n, n_labels, density):
    stream = make_stream(seed, n, n_labels, density)
    per_label = stream.feed(MultiLabelMetrics()).report()["per_label"]
    Yi, Pi = stream.Y.astype(int), stream.P.astype(int)
    z = {"average": None, "zero_division": 0}
    p, r, f = precision_score(Yi, Pi, **z), recall_score(Yi, Pi, **z), f1_score(Yi, Pi, **z)
    assert list(per_label) == stream.names  # in order of first appearance in `labels`
    for j, name in enumerate(stream.names):
        got = per_label[name]
        assert got["support"] == int(Yi[:, j].sum())
        assert isinstance(got["support"], int)
        assert got["precision"] == pytest.approx(p[j], abs=TOL)
        assert got["recall"] == pytest.approx(r[j], abs=TOL)
        assert got["f1"] == pytest.approx(f[j], abs=TOL)


@pytest.mark.parametrize("seed", [20, 21, 22])
def test_growing_label_set_matches_sklearn_on_counted_entries(seed):
    stream = make_stream(seed, 240, 12, 0.25, grow=True)
    assert not stream.M.all()  # labels did appear mid-stream
    metric = stream.feed(MultiLabelMetrics(window=40))
    expected = sklearn_masked(stream.Y, stream.P, stream.S, stream.M)
    assert_metrics_close(metric.report()["cumulative"], expected)


PATTERNS = [[0, 1, 2, 3, 4, 5], [0, 1, 2, 3], [0, 2, 4], [1, 3, 5], [4, 5]]


@pytest.mark.parametrize("seed,grow", [(30, False), (31, False), (32, True), (33, True)])
def test_partial_labels_match_sklearn_on_observed_submatrix(seed, grow):
    stream = make_stream(seed, 260, 6, 0.35, grow=grow, partial=0.6, patterns=PATTERNS)
    assert any(e["observed"] is not None for e in stream.events)
    # some true labels fall outside `observed` and must be ignored
    assert (stream.Y & ~stream.M).any()
    metric = stream.feed(MultiLabelMetrics(window=30))
    expected = sklearn_masked(stream.Y, stream.P, stream.S, stream.M)
    assert_metrics_close(metric.report()["cumulative"], expected)


def test_sklearn_masked_reference_reduces_to_sklearn_on_full_matrices():
    stream = make_stream(40, 150, 7, 0.3)
    assert stream.M.all()
    assert_metrics_close(
        sklearn_masked(stream.Y, stream.P, stream.S, stream.M),
        sklearn_full(stream.Y, stream.P, stream.S),
    )


# --------------------------------------------------------------------------- River


RIVER_CASES = [
    # seed, n, labels, density, grow, partial
    (50, 300, 6, 0.3, False, 0.0),
    (51, 300, 14, 0.2, False, 0.0),
    (52, 200, 30, 0.04, False, 0.0),
    (53, 250, 10, 0.3, True, 0.0),
    (54, 250, 8, 0.3, False, 0.5),
    (55, 250, 10, 0.25, True, 0.5),
]


@pytest.mark.parametrize("seed,n,n_labels,density,grow,partial", RIVER_CASES)
def test_prequential_curve_matches_river(seed, n, n_labels, density, grow, partial):
    stream = make_stream(seed, n, n_labels, density, p_empty=0.2, grow=grow, partial=partial)
    metric = MultiLabelMetrics(window=25)
    river = river_metrics()
    hamming = stats.Mean()
    for t, event in enumerate(stream.events, start=1):
        metric.update(**event)
        y_true, y_pred = river_dicts(event)
        for m in river.values():
            m.update(y_true, y_pred)
        hamming.update(mlhat_hamming(y_true, y_pred))
        if t % 10 == 0 or t <= 3:
            got = metric.report()["cumulative"]
            assert_metrics_close(got, {k: m.get() for k, m in river.items()}, names=RIVER_NAMES)
            assert got["hamming_loss"] == pytest.approx(hamming.get(), abs=TOL)


@pytest.mark.parametrize("seed,window", [(60, 1), (61, 13), (62, 50)])
def test_window_matches_river_rolling_on_a_fixed_label_set(seed, window):
    stream = make_stream(seed, 200, 6, 0.3, p_empty=0.2)
    metric = MultiLabelMetrics(window=window)
    rolling = {
        "micro_f1": utils.Rolling(rm.multioutput.MicroAverage, window_size=window, metric=rm.F1()),
        "macro_f1": utils.Rolling(rm.multioutput.MacroAverage, window_size=window, metric=rm.F1()),
        "example_f1": utils.Rolling(rm.multioutput.SampleAverage, window_size=window, metric=rm.F1()),
        "subset_accuracy": utils.Rolling(rm.multioutput.ExactMatch, window_size=window),
    }
    for t, event in enumerate(stream.events, start=1):
        metric.update(**event)
        y_true, y_pred = river_dicts(event)
        for m in rolling.values():
            m.update(y_true, y_pred)
        if t % 7 == 0:
            got = metric.report()["window"]
            assert_metrics_close(got, {k: m.get() for k, m in rolling.items()}, names=list(rolling))


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


# --------------------------------------------------------------------------- pickling


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip_mid_stream_continues_identically(protocol):
    stream = make_stream(90, 200, 9, 0.3, p_empty=0.2, grow=True, partial=0.3)
    metric = stream.feed(MultiLabelMetrics(window=31), 0, 111)
    restored = pickle.loads(pickle.dumps(metric, protocol=protocol))
    assert restored.report() == metric.report()
    assert restored.n == metric.n == 111
    stream.feed(metric, 111)
    stream.feed(restored, 111)
    assert restored.report() == metric.report()
    assert restored.window == 31


def test_copy_and_pickle_of_an_empty_object():
    metric = MultiLabelMetrics(window=5)
    for other in (pickle.loads(pickle.dumps(metric)), copy.deepcopy(metric), copy.copy(metric)):
        assert other.report() == metric.report()
        other.update({"a"}, {"a"}, {"a": 1.0}, ["a", "b"])
        assert other.n == 1
    assert metric.n == 0


def test_unpickling_an_unknown_state_version_fails():
    state = MultiLabelMetrics().__getstate__()
    state["_version"] = 999
    fresh = MultiLabelMetrics.__new__(MultiLabelMetrics)
    with pytest.raises(ValueError, match="state version"):
        fresh.__setstate__(state)


# --------------------------------------------------------------------------- edge cases


def report_of(*events, window=1000):
    metric = MultiLabelMetrics(window=window)
    for event in events:
        metric.update(*event)
    return metric.report()


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


# --------------------------------------------------------------------------- module


def test_module_doctests_pass():
    result = doctest.testmod(metrics_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_module_imports_only_the_standard_library():
    # metrics.py and the modules it is split into (metrics_event, metrics_window, metrics_summary),
    # which may import one another.
    paths = sorted(Path(metrics_module.__file__).parent.glob("metrics*.py"))
    assert len(paths) > 1
    allowed = {"__future__", "bisect", "collections", "itertools", "math", "operator", "typing"}
    for path in paths:
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module or "")
        own = {name for name in imported if name.startswith("stream_mlc.core.metrics")}
        outside = {name.split(".")[0] for name in imported - own}
        assert outside <= allowed, (path.name, outside - allowed)
