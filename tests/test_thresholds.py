"""Per-label thresholds: fixed, and adaptive ones converging to known optima on synthetic streams."""

from __future__ import annotations

import json
import logging
import math
import pickle
import random

import numpy as np
import pytest

from stream_mlc.core.engine import Engine
from stream_mlc.core.events import FeatureEvent, LabelEvent
from stream_mlc.core.thresholds import AdaptiveThresholds, FixedThresholds, make_thresholds
from stream_mlc.errors import ConfigError
from stream_mlc.learners import NativeMLC


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _near(threshold: float, target: float) -> bool:
    """Within two bins (0.25 wide in logit) of the target: the utility is flat at its optimum."""
    return abs(_logit(threshold) - _logit(target)) <= 0.5 + 1e-9


def _calibrated_pairs(rng: random.Random, n: int, shape: float):
    """(score, truth) with calibrated scores: truth ~ Bernoulli(score), score ~ Beta(1, shape)."""
    for _ in range(n):
        score = rng.betavariate(1.0, shape)
        yield score, rng.random() < score


def _best_f1_threshold(shape: float) -> float:
    """The F1-optimal threshold of the stream above, by numeric integration (it is F*/2)."""
    grid = [(i + 0.5) / 4000 for i in range(4000)]
    density = [shape * (1 - s) ** (shape - 1) for s in grid]
    best, best_t = -1.0, 0.0
    for k in range(0, 4000, 4):
        t = grid[k]
        tp = sum(d * s for d, s in zip(density[k:], grid[k:], strict=True)) / 4000
        fp = sum(d * (1 - s) for d, s in zip(density[k:], grid[k:], strict=True)) / 4000
        positives = 1.0 / (1.0 + shape)
        f1 = 2 * tp / (tp + fp + positives)
        if f1 > best:
            best, best_t = f1, t
    assert abs(best_t - best / 2) < 0.01  # the theory: the optimal threshold is F*/2
    return best_t


def test_fixed_thresholds():
    t = FixedThresholds(0.4)
    t.update("a", 0.9, False)
    t.reset("a")
    assert t.get("a") == 0.4 and t.snapshot(["a", "b"]) == {"a": 0.4, "b": 0.4}


@pytest.mark.parametrize("shape", [1.0, 3.0])
def test_hamming_objective_converges_to_one_half_on_calibrated_scores(shape):
    rng = random.Random(1)
    t = AdaptiveThresholds(objective="hybrid", beta=1.0, fade=0.9995)
    for score, truth in _calibrated_pairs(rng, 20_000, shape):
        t.update("a", score, truth)
    assert _near(t.get("a"), 0.5)


@pytest.mark.parametrize("objective, params", [("f1", {}), ("hybrid", {"beta": 0.0})])
def test_f1_objectives_converge_to_the_f1_optimum(objective, params):
    # With one label, micro-F1 is that label's F1: both objectives aim at F*/2.
    shape = 3.0
    target = _best_f1_threshold(shape)
    rng = random.Random(2)
    t = AdaptiveThresholds(objective=objective, fade=0.9995, **params)
    for score, truth in _calibrated_pairs(rng, 20_000, shape):
        t.update("a", score, truth)
    assert _near(t.get("a"), target)


def test_thresholds_correct_a_miscalibrated_model():
    # Scores are calibrated probabilities squashed towards 0 (p ** 3): the Hamming-optimal
    # threshold is 0.5 ** 3 = 0.125 on the score scale.
    rng = random.Random(3)
    t = AdaptiveThresholds(objective="hybrid", beta=1.0, fade=0.9995)
    for score, truth in _calibrated_pairs(rng, 20_000, 1.0):
        t.update("a", score**3, truth)
    assert _near(t.get("a"), 0.125)


def test_balanced_objective_lowers_thresholds_of_rare_labels():
    rng = random.Random(4)
    t = AdaptiveThresholds()
    for _ in range(20_000):
        for label, shape in (("frequent", 1.0), ("rare", 12.0)):
            score = rng.betavariate(1.0, shape)
            t.update(label, score, rng.random() < score)
    assert 0.2 < t.get("frequent") < 0.5
    assert t.get("rare") < t.get("frequent")


def test_thresholds_follow_a_drift():
    rng = random.Random(5)
    t = AdaptiveThresholds(objective="hybrid", beta=1.0)
    for score, truth in _calibrated_pairs(rng, 6000, 1.0):
        t.update("a", score, truth)
    assert _near(t.get("a"), 0.5)
    for score, truth in _calibrated_pairs(rng, 6000, 1.0):  # the model's scores halve
        t.update("a", score / 2, truth)
    assert _near(t.get("a"), 0.25)


def test_default_until_enough_positives_and_reset():
    t = AdaptiveThresholds(min_positives=5)
    for _ in range(100):
        t.update("a", 0.2, False)
    for _ in range(4):
        t.update("a", 0.3, True)
    assert t.get("a") == 0.5
    for _ in range(10):
        t.update("a", 0.3, True)
    assert t.get("a") < 0.5
    t.reset("a")
    assert t.get("a") == 0.5


def test_pickles_and_continues_identically():
    rng = random.Random(6)
    a = AdaptiveThresholds()
    pairs = [(f"l{rng.randrange(3)}", rng.random(), rng.random() < 0.3) for _ in range(3000)]
    for label, score, truth in pairs[:1500]:
        a.update(label, score, truth)
    b = pickle.loads(pickle.dumps(a))
    for label, score, truth in pairs[1500:]:
        a.update(label, score, truth)
        b.update(label, score, truth)
        assert a.get(label) == b.get(label)
    assert a.snapshot(["l0", "l1", "l2"]) == b.snapshot(["l0", "l1", "l2"])


def test_long_streams_stay_finite():
    t = AdaptiveThresholds(fade=0.9)  # the lazy fading renormalises long before overflowing
    for i in range(5000):
        t.update("a", (i % 100) / 100, i % 3 == 0)
    assert 0.0 <= t.get("a") <= 1.0
    t.update("a", 0.5, True)
    t._count_queued()
    assert np.isfinite(t._pos).all() and np.isfinite(t._neg).all() and t._weight.max() <= 1e100


def test_threshold_changes_are_logged_at_debug(caplog):
    caplog.set_level(logging.DEBUG, logger="stream_mlc.core.thresholds")
    t = AdaptiveThresholds(objective="hybrid", beta=1.0)
    for i in range(400):
        t.update("a", 0.1 if i % 2 else 0.3, i % 2 == 0)
    assert t.changes >= 1
    assert any("label 'a'" in record.getMessage() for record in caplog.records)


def test_make_thresholds():
    assert isinstance(make_thresholds("fixed"), FixedThresholds)
    assert make_thresholds("fixed:threshold=0.3").get("x") == 0.3
    adaptive = make_thresholds("adaptive:objective=hybrid,beta=0.25,fade=0.99")
    assert isinstance(adaptive, AdaptiveThresholds)
    assert (adaptive.objective, adaptive.beta, adaptive.fade) == ("hybrid", 0.25, 0.99)
    for bad in ("nope", "adaptive:objective=x", "adaptive:beta=2", "adaptive:colour=1", "fixed:fade=1"):
        with pytest.raises(ConfigError):
            make_thresholds(bad)


def test_engine_with_adaptive_thresholds_and_native_model():
    engine = Engine(NativeMLC(), thresholds=AdaptiveThresholds(), labels=("a", "b"))
    rng = random.Random(7)
    for i in range(600):
        x = {"f": rng.gauss(0, 1), "g": rng.gauss(0, 1)}
        truth = frozenset(label for label, v in (("a", x["f"]), ("b", x["g"])) if v > 0.5)
        engine.score(FeatureEvent(f"e{i}", x), now=float(i))
        engine.learn(engine.join(LabelEvent(f"e{i}", truth), now=float(i)))
    status = engine.status()
    json.dumps(status)  # plain floats
    assert set(status["thresholds"]) == {"a", "b"}
    assert all(0.0 < v < 1.0 for v in status["thresholds"].values())
    assert status["metrics"]["cumulative"]["micro_f1"] > 0.7


# -- stated objectives (issue 14) ---------------------------------------------------------------


@pytest.mark.parametrize("cost_fp, cost_fn", [(1.0, 3.0), (1.0, 1.0), (4.0, 1.0)])
def test_cost_objective_converges_to_the_bayes_threshold(cost_fp, cost_fn):
    # On calibrated scores the expected cost is lowest above cost_fp / (cost_fp + cost_fn).
    rng = random.Random(3)
    t = AdaptiveThresholds(objective="cost", cost_fp=cost_fp, cost_fn=cost_fn, fade=0.9995)
    for score, truth in _calibrated_pairs(rng, 20_000, 1.0):
        t.update("a", score, truth)
    assert _near(t.get("a"), cost_fp / (cost_fp + cost_fn))


def test_per_label_costs_override_the_defaults():
    rng = random.Random(4)
    t = AdaptiveThresholds(objective="cost", costs={"rare_miss": {"fn": 9.0}}, fade=0.9995)
    for score, truth in _calibrated_pairs(rng, 20_000, 1.0):
        t.update("rare_miss", score, truth)
        t.update("plain", score, truth)
    assert _near(t.get("rare_miss"), 0.1) and _near(t.get("plain"), 0.5)


@pytest.mark.parametrize("objective, twin", [("micro_f1", {"objective": "hybrid", "beta": 0.0}),
                                             ("macro_f1", {"objective": "f1"}),
                                             ("mix", {"objective": "balanced"}),
                                             ("subset_accuracy", {"objective": "hybrid", "beta": 1.0})])
def test_named_objectives_are_the_utilities_they_say(objective, twin):
    rng = random.Random(5)
    named, reference = AdaptiveThresholds(objective=objective), AdaptiveThresholds(**twin)
    for score, truth in _calibrated_pairs(rng, 5000, 2.0):
        for t in (named, reference):
            t.update("a", score, truth)
            t.update("b", score * 0.5, truth)
    assert named.snapshot(["a", "b"]) == reference.snapshot(["a", "b"])


def test_thresholds_never_go_below_the_floor():
    # A label true 95% of the time: every objective that counts TP wants to predict it always.
    rng = random.Random(6)
    for objective in ("macro_f1", "mix", "cost"):
        t = AdaptiveThresholds(objective=objective, cost_fn=20.0)
        for _ in range(3000):
            t.update("common", rng.random() * 0.02, rng.random() < 0.95)
        assert t.get("common") >= 0.01
    unfloored = AdaptiveThresholds(objective="macro_f1", floor=0.0)
    for _ in range(3000):
        unfloored.update("common", rng.random() * 0.02, rng.random() < 0.95)
    assert unfloored.get("common") == 0.0  # what the floor prevents


@pytest.mark.parametrize("spec", ["adaptive:objective=accuracy", "adaptive:cost_fp=-1",
                                  "adaptive:objective=cost,costs=costs.json", "adaptive:floor=1.5",
                                  "adaptive:objective=cost,costs={'a': 3}"])
def test_bad_objective_specs_are_config_errors(spec):
    with pytest.raises(ConfigError):
        make_thresholds(spec)


def test_queued_pairs_are_counted_as_if_one_by_one():
    # Counts do not depend on when the queue is counted: once per pair, or once for 600 events.
    rng = np.random.default_rng(3)
    labels = ["a", "b", "c"]
    eager, lazy = AdaptiveThresholds(every=1), AdaptiveThresholds(every=10_000, min_positives=1e9)
    for _ in range(600):
        scores, truth = rng.random(3), rng.random(3) < 0.3
        eager.update_batch(labels, scores[None, :], truth[None, :])
        eager._count_queued()
        lazy.update_batch(labels, scores[None, :], truth[None, :])
    lazy._count_queued()
    for name in ("_pos", "_neg", "_positives", "_total", "_weight"):
        assert np.allclose(getattr(eager, name), getattr(lazy, name), rtol=1e-12, atol=0), name


def test_a_batch_of_events_counts_as_its_events_one_by_one():
    rng = np.random.default_rng(4)
    labels = ["a", "b"]
    scores, truth = rng.random((50, 2)), rng.random((50, 2)) < 0.4
    one, batch = AdaptiveThresholds(), AdaptiveThresholds()
    for r in range(50):
        one.update_batch(labels, scores[r:r + 1], truth[r:r + 1])
    batch.update_batch(labels, scores, truth)
    one._count_queued()
    batch._count_queued()
    assert np.allclose(one._pos, batch._pos) and np.allclose(one._neg, batch._neg)
    # Re-chosen at the batch's end rather than at each label's due event: set, not equal.
    assert (batch._seen[:2] == 50).all() and (batch._since[:2] < batch.every).all()
