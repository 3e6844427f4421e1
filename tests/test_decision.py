"""The decision policy: calibrated scores, thresholds on them, bounds, rules, audit events."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from stream_mlc.bench.decisions import prequential
from stream_mlc.core.calibration import IdentityCalibrator
from stream_mlc.core.decision import DecisionPolicy, bound_set, make_decision_policy
from stream_mlc.core.models import make_model
from stream_mlc.core.rules import SeenLabelSets
from stream_mlc.core.thresholds import FixedThresholds
from stream_mlc.errors import ConfigError
from stream_mlc.io.datasets import open_dataset

LABELS = ["a", "b", "c", "d"]


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _stream(seed: int, n: int):
    """Over-confident raw scores (truth follows logit / 3) for four labels of different rates."""
    rng = np.random.default_rng(seed)
    shift = np.array([-2.0, -1.0, 0.0, 1.0])
    for _ in range(n):
        z = rng.normal(shift, 3.0)
        yield _sigmoid(z), rng.random(4) < _sigmoid(z / 3.0)


def _trained(spec: str = "adaptive", calibration: str = "isotonic", n: int = 3000, **kwargs) -> DecisionPolicy:
    policy = make_decision_policy(spec, calibration, **kwargs)
    for raw, truth in _stream(0, n):
        policy.update(LABELS, raw, truth)
    return policy


def test_calibrated_scores_halve_the_ece_of_the_raw_ones_in_the_same_run():
    report = _trained().report(LABELS)
    raw, calibrated = report["ece"]["raw"]["cumulative"], report["ece"]["calibrated"]["cumulative"]
    assert calibrated["ece"] * 2 < raw["ece"] and calibrated["brier"] < raw["brier"]
    assert set(report["ece"]["calibrated"]["per_label"]) == set(LABELS)


def test_no_label_gets_a_zero_threshold_on_yeast():
    # The demo run: two yeast labels had threshold 0.0 (always predicted).
    data = open_dataset("yeast", limit=1200)
    policy = make_decision_policy("adaptive", "isotonic")
    result = prequential(list(data), data.label_names, make_model("native-mlc"), policy)
    thresholds = policy.snapshot(data.label_names)
    assert min(thresholds.values()) >= 0.01
    assert result["micro_f1"] > 0.6


def test_a_batch_decides_as_one_by_one_and_a_frozen_copy_as_the_policy():
    policy = _trained("adaptive:max_labels=2", rules={"exclusive": [["a", "d"]]})
    batch = np.array([raw for raw, _ in _stream(1, 50)])
    calibrated, masks, corrections = policy.decide_batch(LABELS, batch)
    frozen = pickle.loads(pickle.dumps(policy.frozen(LABELS)))
    for row, cal, mask, fixes in zip(batch, calibrated, masks, corrections, strict=True):
        one = policy.decide(LABELS, row)
        assert np.allclose(one[0], cal, atol=1e-12) and one[1].tolist() == mask.tolist() and one[2] == fixes
        again = frozen.decide(LABELS, row)
        assert np.allclose(again[0], cal, atol=1e-12) and again[1].tolist() == mask.tolist()
        assert mask.sum() <= 2 and not (mask[0] and mask[3])
    assert frozen.snapshot(LABELS) == policy.snapshot(LABELS)


def test_the_policy_pickles_mid_stream_and_goes_on_identically():
    policy = _trained(n=1000)
    copy = pickle.loads(pickle.dumps(policy))
    for raw, truth in _stream(2, 500):
        for p in (policy, copy):
            p.update(LABELS, raw, truth)
    row = np.array([0.2, 0.4, 0.6, 0.8])
    assert np.array_equal(policy.decide(LABELS, row)[0], copy.decide(LABELS, row)[0])
    assert policy.report(LABELS) == copy.report(LABELS)


def test_set_size_bounds():
    masks = np.array([[True, True, True, False], [False, False, False, False]])
    scores = np.array([[0.9, 0.5, 0.7, 0.1], [0.1, 0.3, 0.2, 0.25]])
    assert bound_set(masks, scores, max_labels=2, min_labels=1).tolist() == [
        [True, False, True, False], [False, True, False, False]]
    policy = _trained("adaptive:min_labels=1")
    assert policy.decide(LABELS, np.full(4, 1e-6))[1].sum() == 1
    with pytest.raises(ConfigError):
        make_decision_policy("adaptive:min_labels=3,max_labels=2", "none")


def test_unobserved_labels_teach_nothing():
    policy = make_decision_policy("adaptive", "isotonic")
    for raw, truth in _stream(3, 300):
        policy.update(LABELS, raw, truth, observed=np.array([True, True, True, False]))
    assert [policy.calibrator.describe(i)["seen"] for i in range(4)] == [300, 300, 300, 0]
    assert policy.thresholds.get("d") == policy.thresholds.default and policy.thresholds.n_labels == 3
    assert policy.report(LABELS)["ece"]["raw"]["per_label"]["d"]["n"] == 0


def test_audit_events_threshold_moves_resets_and_rule_corrections():
    policy = _trained(rules={"implies": {"a": "b"}}, audit_step=0.05)
    moved = [e for e in policy.drain_events() if e["kind"] == "threshold_moved"]
    assert moved and all(abs(e["value"] - e["threshold"]) >= 0.05 and e["subject"] in LABELS for e in moved)
    policy.decide(LABELS, np.array([0.99, 0.01, 0.5, 0.5]))  # a without b: b is added
    policy.reset("c")
    events = policy.drain_events()
    assert {e["kind"] for e in events} >= {"calibration_reset", "rule_correction"}
    assert [e["value"] for e in events if e["kind"] == "rule_correction"] == [1.0]
    # The alerts topic's required fields, less the ts and model_version the worker adds.
    assert all({"kind", "detector", "subject", "value", "threshold", "message"} <= set(e) for e in events)
    assert policy.drain_events() == []
    assert policy.snapshot(["c"]) == {"c": 0.5}


@pytest.mark.parametrize("spec", ["adaptive", "fixed:threshold=0.4", "adaptive:objective='hybrid',beta=0",
                                  "adaptive:objective=mix", "adaptive:objective=cost,cost_fp=1,cost_fn=5"])
def test_the_thresholds_specs_keep_working(spec):
    policy = make_decision_policy(spec, "none")
    assert policy.decide(["x"], np.array([0.45]))[1].tolist() == [spec.startswith("fixed")]


def test_a_costs_file_must_be_loaded_outside_the_core():
    with pytest.raises(ConfigError, match="loaded"):
        make_decision_policy("adaptive:objective=cost,costs=costs.json", "none")
    policy = make_decision_policy("adaptive:objective=cost,costs=costs.json", "none", costs={"x": {"fn": 9}})
    assert policy.thresholds.costs == {"x": (1.0, 9.0)}


def test_the_subset_accuracy_objective_decodes_into_seen_label_sets():
    assert make_decision_policy("adaptive:objective=subset_accuracy,seen_sets=0", "none").label_sets is None
    assert make_decision_policy("adaptive:objective=subset_accuracy", "none").label_sets is not None
    policy = DecisionPolicy(FixedThresholds(0.5), IdentityCalibrator(), label_sets=SeenLabelSets())
    for _ in range(50):  # a and b always come together
        policy.update(["a", "b"], np.array([0.9, 0.4]), np.array([True, True]))
    plain = DecisionPolicy(FixedThresholds(0.5), IdentityCalibrator())
    assert plain.decide(["a", "b"], np.array([0.9, 0.4]))[1].tolist() == [True, False]
    # {a} alone was never seen: {a, b} is the likeliest seen set.
    assert policy.decide(["a", "b"], np.array([0.9, 0.4]))[1].tolist() == [True, True]
    frozen = pickle.loads(pickle.dumps(policy.frozen(["a", "b"])))
    assert frozen.decide(["a", "b"], np.array([0.9, 0.4]))[1].tolist() == [True, True]
