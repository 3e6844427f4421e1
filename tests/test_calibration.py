"""Online calibrators and calibration metrics: they recover known miscalibrations and follow drift."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from stream_mlc.core.calibration import (
    IdentityCalibrator,
    IsotonicCalibrator,
    PlattCalibrator,
    make_calibrator,
    pool_adjacent_violators,
)
from stream_mlc.core.calibration_metrics import CalibrationMetrics, expected_calibration_error
from stream_mlc.errors import ConfigError


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _miscalibrated(rng, n, labels=2, slope=0.5, shift=-1.0):
    """Raw scores sigmoid(z) whose truth follows sigmoid(slope * z + shift)."""
    for _ in range(n):
        z = rng.normal(0.0, 3.0, size=labels)
        yield _sigmoid(z), rng.random(labels) < _sigmoid(slope * z + shift)


def _run(calibrator, pairs, idx):
    # A window of 2000 events: 4000 scores put the ECE's sampling noise well under 0.03.
    metrics_raw, metrics_cal = CalibrationMetrics(window=2000), CalibrationMetrics(window=2000)
    for raw, truth in pairs:
        metrics_raw.update(idx, raw, truth)
        metrics_cal.update(idx, calibrator.calibrate(idx, raw), truth)
        calibrator.update(idx, raw, truth)
    return metrics_raw, metrics_cal


def test_platt_recovers_a_known_slope_and_shift():
    rng = np.random.default_rng(0)
    cal = PlattCalibrator(fade=0.9995)  # a window of about 2000 pairs: standard errors about 0.1
    _run(cal, _miscalibrated(rng, 6000), np.array([0, 1]))
    assert np.allclose(cal.theta[:2, 0], 0.5, atol=0.08)
    assert np.allclose(cal.theta[:2, 1], -1.0, atol=0.25)


@pytest.mark.parametrize("spec", ["platt", "isotonic", "isotonic:shrink_to=pooled", "isotonic:shrink_to=identity"])
def test_calibration_cuts_the_ece_of_miscalibrated_scores(spec):
    rng = np.random.default_rng(1)
    raw, calibrated = _run(make_calibrator(spec), _miscalibrated(rng, 6000), np.array([0, 1]))
    assert raw.report([0, 1])["window"]["ece"] > 0.1
    assert calibrated.report([0, 1])["window"]["ece"] < 0.03


def test_isotonic_curve_is_monotone_and_follows_drift():
    rng = np.random.default_rng(2)
    cal = IsotonicCalibrator(fade=0.998)  # about the last 500 pairs count
    grid = np.linspace(0.01, 0.99, 50)
    z = np.linspace(-3.0, 3.0, 25)
    for shift in (-1.0, 1.5):  # the truth changes; fading counts forget the old mapping
        for raw, truth in _miscalibrated(rng, 3000, labels=1, slope=1.0, shift=shift):
            cal.update(np.array([0]), raw, truth)
        curve = cal.calibrate(np.zeros(50, dtype=np.intp), grid)
        assert np.all(np.diff(curve) >= -1e-12)
        error = cal.calibrate(np.zeros(25, dtype=np.intp), _sigmoid(z)) - _sigmoid(z + shift)
        assert np.abs(error).mean() < 0.06


def test_auto_shrinks_to_the_pooled_curve_only_when_the_raw_scores_are_off():
    rng = np.random.default_rng(6)
    idx = np.array([0, 1, 2])
    calibrated, off = IsotonicCalibrator(), IsotonicCalibrator()
    for _ in range(2000):
        z = rng.normal(0.0, 2.0, size=3)
        calibrated.update(idx, _sigmoid(z), rng.random(3) < _sigmoid(z))
        off.update(idx, _sigmoid(z), rng.random(3) < 0.3)  # the scores say nothing: 30% true everywhere
    assert calibrated._prior_curve() is calibrated._identity
    # The bins with data (centres within +-2.75 logits) learn the pooled rate; the empty outer
    # bins stay near the identity.
    assert np.allclose(off._prior_curve()[6:18], 0.3, atol=0.05)


def test_identity_and_fresh_labels_pass_scores_through():
    raw = np.array([0.2, 0.7])
    assert IdentityCalibrator().calibrate(np.array([0, 1]), raw).tolist() == raw.tolist()
    for spec in ("platt", "isotonic"):
        cal = make_calibrator(spec)
        cal.update(np.array([0]), np.array([0.4]), np.array([True]))
        edges = np.array([0.0, 1.0, 0.3])
        assert cal.calibrate(np.array([3, 9, 1]), edges).tolist() == edges.tolist()  # labels not learned yet


@pytest.mark.parametrize("spec", ["platt", "isotonic"])
def test_batch_pickle_and_reset(spec):
    rng = np.random.default_rng(3)
    cal = make_calibrator(spec)
    idx = np.array([0, 1])
    for raw, truth in _miscalibrated(rng, 1000):
        cal.update(idx, raw, truth)
    batch = rng.random((20, 2))
    rows = np.array([cal.calibrate(idx, row) for row in batch])
    assert np.allclose(cal.calibrate(idx, batch), rows, atol=1e-12)
    copy = pickle.loads(pickle.dumps(cal))
    assert np.array_equal(copy.calibrate(idx, batch), cal.calibrate(idx, batch))
    cal.reset(0)
    assert np.allclose(cal.calibrate(np.array([0]), np.array([0.3])), [0.3], atol=0.02)
    # Label 1 keeps what it learned: raw 0.3 (z = -0.85) is true at sigmoid(0.5 z - 1) = 0.19.
    assert abs(cal.calibrate(np.array([1]), np.array([0.3]))[0] - 0.19) < 0.08


def test_pool_adjacent_violators_matches_sklearn():
    rng = np.random.default_rng(4)
    values, weights = rng.random(40), rng.random(40) + 0.1
    expected = IsotonicRegression().fit_transform(np.arange(40), values, sample_weight=weights)
    assert np.allclose(pool_adjacent_violators(values, weights), expected)
    rows, row_weights = rng.random((5, 24)), rng.random((5, 24)) + 0.1  # several curves at once
    fitted = pool_adjacent_violators(rows, row_weights)
    for row, w, fit in zip(rows, row_weights, fitted, strict=True):
        assert np.allclose(fit, IsotonicRegression().fit_transform(np.arange(24), row, sample_weight=w))


def test_bad_specs_are_config_errors():
    for spec in ("sigmoid", "platt:fade=2", "isotonic:bins=1", "isotonic:shrink_to=magic", "platt:speed=3"):
        with pytest.raises(ConfigError):
            make_calibrator(spec)


def test_metrics_match_the_batch_definition_cumulative_windowed_and_per_label():
    rng = np.random.default_rng(5)
    metrics = CalibrationMetrics(window=300)
    scores, truths = rng.random((1000, 3)) ** 2, rng.random((1000, 3)) < 0.4
    idx = np.arange(3)
    for s, t in zip(scores, truths, strict=True):
        metrics.update(idx, s, t)
    report = metrics.report(["a", "b", "c"])
    assert report["cumulative"]["ece"] == pytest.approx(expected_calibration_error(scores, truths))
    assert report["window"]["ece"] == pytest.approx(expected_calibration_error(scores[-300:], truths[-300:]))
    assert report["cumulative"]["brier"] == pytest.approx(np.mean((scores - truths) ** 2))
    assert report["per_label"]["b"]["ece"] == pytest.approx(expected_calibration_error(scores[:, 1], truths[:, 1]))
    assert report["per_label"]["c"]["window_n"] == 300
    diagram = metrics.reliability()
    assert sum(diagram["count"]) == 3000 and len(diagram["edges"]) == 16


def test_isotonic_counts_queued_pairs_as_if_one_by_one():
    rng = np.random.default_rng(5)
    idx = np.arange(4)
    eager, lazy = IsotonicCalibrator(every=1), IsotonicCalibrator(every=100_000)
    for _ in range(500):
        raw, truth = rng.random(4), rng.random(4) < 0.3
        eager.update(idx, raw, truth)
        lazy.update(idx, raw, truth)
    eager._count_queued()
    lazy._count_queued()
    for name in ("counts", "positives", "weight", "pooled_counts", "pooled_positives"):
        assert np.allclose(getattr(eager, name), getattr(lazy, name), rtol=1e-12, atol=0), name
    assert eager.pooled_weight == pytest.approx(lazy.pooled_weight, rel=1e-12)
