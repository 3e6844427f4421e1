"""Feature drift: PSI per feature against a direct numpy computation, sparse events, limits."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from stream_mlc.core.drift import DriftMonitor, DriftSettings
from stream_mlc.core.drift.psi import READY, PsiTracker, psi

W, N, BINS, EPS = 250, 1000, 10, 1e-4


def sparse_stream(seed: int, n: int, shift_at: int | None = None):
    """Events as sparse dicts: absent names are zeros. Many distinct name tuples."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(n):
        row = {"dense": float(rng.normal(3.0 if shift_at is not None and t >= shift_at else 0.0))}
        if rng.random() < 0.3:
            row["sparse"] = float(rng.exponential(2.0))
        if rng.random() < 0.5:
            row["binary"] = 1.0
        if rng.random() < 0.6:
            row["signed"] = float(rng.normal(-1.0, 2.0))
        if rng.random() < 0.01:
            row["rare"] = float(rng.normal())
        if t >= 1500 and rng.random() < 0.5:
            row["late"] = float(rng.uniform(1, 2))  # first seen after the reference
        if rng.random() < 0.2:
            row["zero_valued"] = 0.0  # present with value 0: the same as absent
        rows.append(row)
    return rows


def expected_windows(rows, names, window=W, reference=N, bins=BINS, eps=EPS):
    """PSI and histograms per window, straight from the definition, on dense arrays.

    Reference: the first ``reference`` events; edges: the reference's quantiles at
    k/bins (duplicates removed), plus an edge just under the minimum when the first
    quantile equals it; a value's bin is the number of edges strictly below it
    (``np.digitize(..., right=True)``). A name never seen in the reference has an all-zero
    reference.
    """
    X = np.array([[row.get(name, 0.0) for name in names] for row in rows])
    out = []
    ref = X[:reference]
    edges = []
    for j in range(len(names)):
        e = np.unique(np.quantile(ref[:, j], np.arange(1, bins) / bins))
        if e[0] <= ref[:, j].min():
            e = np.concatenate(([np.nextafter(ref[:, j].min(), -np.inf)], e))
        edges.append(e)
    for start in range(reference, len(rows) - window + 1, window):
        cur = X[start : start + window]
        values, hists = {}, {}
        for j, name in enumerate(names):
            slots = bins + 1
            p = np.bincount(np.digitize(ref[:, j], edges[j], right=True), minlength=slots) / reference
            c = np.bincount(np.digitize(cur[:, j], edges[j], right=True), minlength=slots)
            q = c / window
            p, q = np.maximum(p, eps), np.maximum(q, eps)
            values[name] = float(np.sum((q - p) * np.log(q / p)))
            hists[name] = c
        out.append((start + window - 1, values, hists))
    return out


NAMES = ["dense", "sparse", "binary", "signed", "rare", "late", "zero_valued"]


def tracker():
    return PsiTracker(bins=BINS, epsilon=EPS, window_size=W, reference_size=N, max_subjects=100, late="zero")


def run_tracker(tr, rows):
    got = []
    for t, row in enumerate(rows):
        if tr.observe(row):
            ready = tr.close()
            got.append((t, {tr.names[i]: float(tr.psi[i]) for i in ready}, tr.last_counts.copy()))
    return got


@pytest.mark.parametrize("dense", [False, True], ids=["sparse-dicts", "explicit-zeros"])
def test_psi_matches_the_formula_computed_directly(dense):
    rows = sparse_stream(0, 4000, shift_at=2600)
    if dense:  # the same events with every name present: one schema, the matrix path
        rows = [{name: row.get(name, 0.0) for name in NAMES} for row in rows]
    tr = tracker()
    got = run_tracker(tr, rows)
    expected = expected_windows(rows, NAMES)
    got_ready = [(t, v, h) for t, v, h in got if v]
    assert [t for t, *_ in got_ready] == [t for t, *_ in expected]
    for (t, values, counts), (_, want, hists) in zip(got_ready, expected, strict=False):
        for name in NAMES:
            if name not in values:  # not seen yet: all zeros, like its reference
                assert name == "late" and t < 1500 and want[name] == 0.0
                continue
            assert values[name] == pytest.approx(want[name], rel=1e-9, abs=1e-12), (t, name)
            np.testing.assert_array_equal(counts[tr.index[name]], hists[name])
    # And the figures mean something: the dense feature moved at 2600, the late one appeared.
    first = dict(expected[0][1])
    assert max(first.values()) < 0.1
    last = expected[-1][1]
    assert last["dense"] > 1.0 and last["late"] > 0.25


def test_psi_helper_is_the_formula():
    rng = np.random.default_rng(3)
    ref, cur = rng.integers(0, 50, 10), rng.integers(0, 50, 10)
    ref[2] = 0
    p, q = np.maximum(ref / ref.sum(), 1e-4), np.maximum(cur / cur.sum(), 1e-4)
    assert psi(ref, cur) == pytest.approx(float(np.sum((q - p) * np.log(q / p))))


@pytest.mark.parametrize("max_schemas", [1024, 2])
def test_both_binning_paths_agree_on_mixed_schemas(max_schemas):
    rng = np.random.default_rng(8)
    names = [f"f{i}" for i in range(6)]
    rows = []
    for t in range(3000):
        if t % 3:  # two thirds: one dense schema (matrix path); the rest: random subsets
            rows.append({n: float(rng.normal(i)) for i, n in enumerate(names)})
        else:
            rows.append({n: float(rng.normal(i)) for i, n in enumerate(names) if rng.random() < 0.5})
    tr = PsiTracker(window_size=W, reference_size=N, max_schemas=max_schemas)
    got = [(t, v) for t, v, _ in run_tracker(tr, rows) if v]
    assert len(tr._schemas) <= max(max_schemas, W)
    expected = expected_windows(rows, names)
    for (t, values), (t2, want, _) in zip(got, expected, strict=True):
        assert t == t2
        for name in names:
            assert values[name] == pytest.approx(want[name], rel=1e-9, abs=1e-12)


def test_cost_is_per_present_value_and_zeros_are_counted_by_subtraction():
    tr = tracker()
    for t in range(N):
        tr.observe({"a": 1.0} if t % 10 == 0 else {})
        if tr.n == W:
            tr.close()
    # What an event stores is its present values only ...
    for _ in range(100):
        tr.observe({"a": 2.0, "b": 1.0} if _ % 2 else {"c": 3.0})
    assert len(tr._flat_values) + sum(len(b) for b in tr._buf) == 50 * 2 + 50
    # ... and the window's histograms still count every event, zeros included.
    for _ in range(W - 100):
        tr.observe({})
    tr.close()
    assert tr.last_counts.sum(axis=1).tolist() == [W] * len(tr.names)
    i = tr.index["a"]
    edges, counts, n_ref = tr.reference("a")
    assert n_ref == N and counts.sum() == N
    # Reference of "a": 90% zeros, 10% ones. Deciles (linear interpolation): 0 eight
    # times, then 0.1; the zero point mass at the minimum gets its own bin, and values
    # under it another.
    assert edges.tolist() == [np.nextafter(0.0, -np.inf), 0.0, pytest.approx(0.1)]
    assert counts[:4].tolist() == [0, 900, 0, 100]
    assert tr.last_counts[i][:4].tolist() == [0, W - 50, 0, 50]  # 50 events with a=2.0


def test_new_feature_after_the_reference_is_compared_with_zeros():
    tr = tracker()
    rows = [{"x": float(v)} for v in np.random.default_rng(1).normal(size=N)]
    for row in rows:
        if tr.observe(row):
            tr.close()
    assert tr.state("x") == READY
    # A name first seen now has a reference of zeros: rare appearances hardly move it,
    # a common one does.
    for t in range(W):
        tr.observe({"x": 0.0, "new": 1.0} if t < 2 else {"x": 0.0})
    tr.close()
    assert tr.state("new") == READY and tr.psi[tr.index["new"]] < 0.1
    for t in range(W):
        tr.observe({"x": 0.0, "new": 1.0} if t % 2 else {"x": 0.0})
    tr.close()
    assert tr.psi[tr.index["new"]] > 0.25
    edges, counts, n_ref = tr.reference("new")
    assert counts.tolist()[:3] == [0, N, 0] and n_ref == N


def test_max_features_bounds_the_names_monitored():
    monitor = DriftMonitor(DriftSettings(window_size=10, reference_size=20, max_features=3))
    for t in range(40):
        monitor.observe_features({f"f{i}": float(t % 7 + i) for i in range(5)})
    assert monitor.features.names == ["f0", "f1", "f2"]
    snap = monitor.snapshot()
    assert snap["monitored"]["features"] == 3
    assert snap["ignored"]["feature_values"] == 2 * 40
    # A sparse path too.
    for _ in range(10):
        monitor.observe_features({"f9": 1.0})
    assert monitor.snapshot()["ignored"]["feature_values"] == 2 * 40 + 10


def test_feature_drift_alert_at_the_first_window_over_the_threshold():
    rows = sparse_stream(4, 5000, shift_at=2630)
    settings = DriftSettings(window_size=W, reference_size=N)
    monitor = DriftMonitor(settings)
    found = [(t, a) for t, row in enumerate(rows) for a in monitor.observe_features(row)]
    expected = expected_windows(rows, NAMES)
    first_over = {}
    for t, values, _ in expected:
        for name, v in values.items():
            if v >= settings.feature_psi_warn and name not in first_over:
                first_over[name] = (t, v)
    assert first_over["dense"][0] == 2630 - 2630 % W + W - 1  # the window holding the change
    # One alert per feature, at the first window over the warn threshold; at the alert
    # level straight away when the first value is that high.
    by_subject = {a.subject: (t, a) for t, a in found if a.kind == "feature_drift"}
    assert sorted(by_subject) == sorted(first_over)
    for name, (t, alert) in by_subject.items():
        assert t == first_over[name][0]
        assert alert.detector == "psi" and alert.value == pytest.approx(first_over[name][1])
        assert alert.threshold == (0.25 if alert.value >= 0.25 else 0.1)
        assert f"feature {name!r} PSI {alert.value:.4f}" in alert.message


def test_stationary_stream_has_no_feature_alerts():
    rows = sparse_stream(5, 20_000)
    for row in rows:
        row.pop("late", None)
    monitor = DriftMonitor(DriftSettings())
    assert [a for row in rows for a in monitor.observe_features(row)] == []
    assert max(monitor.snapshot()["feature_psi"].values()) < 0.1


def test_tracker_pickles_mid_window_and_continues_identically():
    rows = sparse_stream(6, 4000, shift_at=3000)
    tr = tracker()
    for row in rows[:1733]:
        if tr.observe(row):
            tr.close()
    copy = pickle.loads(pickle.dumps(tr))
    a, b = run_tracker(tr, rows[1733:]), run_tracker(copy, rows[1733:])
    assert [(t, v) for t, v, _ in a] == [(t, v) for t, v, _ in b]


def test_restart_collects_a_new_reference():
    tr = tracker()
    rng = np.random.default_rng(2)
    for t in range(2 * N):
        if tr.observe({"x": float(rng.normal(0 if t < N else 5))}):
            tr.close()
    assert tr.psi[0] > 1
    tr.restart()
    for _ in range(N):
        if tr.observe({"x": float(rng.normal(5))}):
            tr.close()
    assert tr.state("x") == READY
    for _ in range(W):
        tr.observe({"x": float(rng.normal(5))})
    tr.close()
    assert tr.psi[0] < 0.1


def test_feature_sampling_feeds_one_event_in_k():
    rows = sparse_stream(9, 6000, shift_at=4100)
    sampled = DriftMonitor(DriftSettings(window_size=W, reference_size=N, feature_sample_every=2))
    found = [(t, a) for t, row in enumerate(rows) for a in sampled.observe_features(row)]
    direct = DriftMonitor(DriftSettings(window_size=W, reference_size=N))
    expected = [(2 * t + 1, a) for t, row in enumerate(rows[1::2]) for a in direct.observe_features(row)]
    assert [(t, a.kind, a.subject, a.value) for t, a in found] == [(t, a.kind, a.subject, a.value) for t, a in expected]
    assert found and all("1 in 2" in a.message for _, a in found)
    assert sampled.snapshot()["events"]["features"] == 6000
