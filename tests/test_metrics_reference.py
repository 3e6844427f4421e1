"""stream_mlc.core.metrics against scikit-learn and River on random streams (full, growing, partial labels)."""

from __future__ import annotations

import pytest
from metrics_streams import (
    RIVER_NAMES,
    TOL,
    assert_metrics_close,
    make_stream,
    mlhat_hamming,
    river_dicts,
    river_metrics,
    sklearn_full,
    sklearn_masked,
)
from river import metrics as rm
from river import stats, utils
from sklearn.metrics import f1_score, precision_score, recall_score

from stream_mlc.core.metrics import MultiLabelMetrics

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
