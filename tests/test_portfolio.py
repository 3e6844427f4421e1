"""Champion and challengers: shadow metrics, promotion with evidence, per-label choice, restarts."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from stream_mlc import evaluate
from stream_mlc.core.models import make_model
from stream_mlc.errors import ConfigError
from stream_mlc.io.datasets import open_dataset
from stream_mlc.learners import Portfolio
from stream_mlc.learners.portfolio import _paired_t


def _phase_stream(n: int, concept: str, seed: int):
    """Two features; labels linear in them ("linear") or their XOR pattern ("xor", no linear fit)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        a, b = rng.uniform(-1, 1, size=2)
        if concept == "linear":
            y = {"l0": bool(a + b > 0), "l1": bool(a - b > 0.2)}
        else:
            y = {"l0": bool(a * b > 0), "l1": bool(a * b < 0)}
        rows.append(({"a": float(a), "b": float(b)}, y))
    return rows


def _served_accuracy(model, rows) -> float:
    hits = 0
    for x, y in rows:
        p = model.predict_proba_one(x)
        hits += sum((p.get(label, {True: 0.0})[True] > 0.5) == truth for label, truth in y.items())
        model.learn_one(x, y)
    return hits / (2 * len(rows))


def test_a_challenger_that_fits_the_new_concept_is_promoted_with_evidence():
    model = Portfolio(members="native-lr|knn:k=7;window=300;min_window=50", metric="micro_f1", window=200,
                      margin=0.02, confidence=0.99)
    before = _served_accuracy(model, _phase_stream(1500, "linear", seed=1))
    assert model.champion_name == "native-lr"  # the linear model wins the linear concept...
    model.drain_events()  # (while both were learning, the lead may have changed hands)
    assert model.promotions == [] or model.promotions[-1]["learned"] < 1000  # ... and keeps it
    after_change = _served_accuracy(model, _phase_stream(400, "xor", seed=2))
    events = model.drain_events()
    assert [e["kind"] for e in events] == ["model_promoted"]
    event = events[0]
    assert event["subject"] == model.champion_name == "knn:k=7,window=300,min_window=50"
    evidence = event["evidence"]
    assert evidence["previous"] == "native-lr" and evidence["metric"] == "micro_f1"
    assert evidence["difference"] > 0.02 and evidence["p_value"] < 0.01
    assert evidence["challenger_value"] - evidence["champion_value"] == pytest.approx(evidence["difference"])
    assert 1500 < evidence["learned"] <= 1900
    assert "replaces native-lr" in event["message"]
    settled = _served_accuracy(model, _phase_stream(600, "xor", seed=3))
    assert before > 0.9 and settled > 0.85 > after_change  # served quality recovers after the promotion
    assert model.drain_events() == []  # drained once
    assert model.report()["promotions"][0]["to"] == model.champion_name


def test_no_promotion_without_a_significant_margin():
    model = Portfolio(members="native-lr|native-lr:lr=0.31", window=100, margin=0.05)
    _served_accuracy(model, _phase_stream(800, "linear", seed=4))
    assert model.champion == 0 and model.drain_events() == [] and model.promotions == []


def test_promotion_survives_pickling_and_the_copy_behaves_identically():
    model = Portfolio(members="native-lr|knn:k=7;window=300;min_window=50", window=200, margin=0.02)
    rows = _phase_stream(1500, "linear", seed=1) + _phase_stream(600, "xor", seed=2)
    for x, y in rows[:1900]:
        model.learn_one(x, y)
    assert model.champion == 1
    twin = pickle.loads(pickle.dumps(model))
    assert twin.champion_name == model.champion_name and twin.promotions == model.promotions
    for x, y in rows[1900:]:
        assert twin.predict_proba_one(x) == model.predict_proba_one(x)
        twin.learn_one(x, y)
        model.learn_one(x, y)
    assert json.dumps(twin.report()) == json.dumps(model.report())


def test_member_metrics_are_the_engines_prequential_metrics():
    """A member scored in shadow gets the metrics it would get as the engine's model."""
    data = list(open_dataset("yeast"))[:300]
    labels = tuple(open_dataset("yeast").label_names)
    # Members decide with their own thresholds on the model's scores: the engine without calibration.
    alone = evaluate.prequential(data, "native-mlc", labels=labels, calibration="none").metrics
    model = Portfolio(members="native-lr|native-mlc", window=50)
    for record in data:
        model.learn_one(record.features, {label: label in record.labels for label in labels})
    shadow = model.report()["members"]["native-mlc"]["cumulative"]
    for metric, value in shadow.items():
        assert value == pytest.approx(alone[metric], abs=1e-12), metric


def test_report_is_json_able_and_has_every_members_metrics():
    model = make_model("portfolio:members=native-mlc|powerset:decode=1.0;joint=1.0,window=30,margin=0.5,ensemble=True")
    for x, y in _phase_stream(100, "linear", seed=5):
        model.learn_one(x, y)
    report = json.loads(json.dumps(model.report()))
    assert report["champion"] == "native-mlc" and report["learned"] == 100
    assert set(report["members"]) == {"native-mlc", "powerset:decode=1.0,joint=1.0", "mean"}
    for member in report["members"].values():
        assert member["n"] == 100 and member["window_n"] == 30
        assert set(member["cumulative"]) == set(member["window"]) == {
            "subset_accuracy", "hamming_loss", "example_f1", "micro_f1", "macro_f1"}


def test_the_ensemble_member_serves_the_mean_of_the_members():
    model = Portfolio(members="native-lr|native-mlc", window=20, margin=1.0, ensemble=True, start=2, align=False)
    for x, y in _phase_stream(80, "linear", seed=6):
        model.learn_one(x, y)
    x = {"a": 0.3, "b": -0.2}
    served = model.predict_proba_one(x)
    members = [m.predict_proba_one(x) for m in model._models]
    for label in ("l0", "l1"):
        assert served[label][True] == pytest.approx((members[0][label][True] + members[1][label][True]) / 2)
    labels, P = model.predict_proba_batch([x])
    assert P[0, labels.index("l0")] == pytest.approx(served["l0"][True])


def test_per_label_choice_serves_each_label_from_its_best_member():
    rng = np.random.default_rng(7)
    model = Portfolio(members="native-lr|knn:k=7;window=300", window=100, per_label=True, align=False)
    for _ in range(1500):
        a, b = rng.uniform(-1, 1, size=2)
        model.learn_one({"a": float(a), "b": float(b)}, {"linear": bool(a + b > 0), "xor": bool(a * b > 0)})
    choice = model.report()["per_label"]
    assert choice == {"linear": "native-lr", "xor": "knn:k=7,window=300"}
    x = {"a": 0.5, "b": 0.4}
    served = model.predict_proba_one(x)
    assert served["xor"] == model._models[1].predict_proba_one(x)["xor"]
    assert served["linear"][True] == pytest.approx(model._models[0].predict_proba_one(x)["linear"][True])


def test_served_scores_put_the_champions_own_thresholds_at_one_half():
    model = Portfolio(members="native-mlc|native-lr", window=50, margin=1.0)
    rows = _phase_stream(400, "linear", seed=8)
    for x, y in rows[:300]:
        model.learn_one(x, y)
    champion, thresholds = model._models[0], model._thresholds[0]
    assert {round(thresholds.get(label), 3) for label in ("l0", "l1")} != {0.5}  # adapted
    for x, _ in rows[300:]:
        served, raw = model.predict_proba_one(x), champion.predict_proba_one(x)
        for label in ("l0", "l1"):
            assert (served[label][True] > 0.5) == (raw[label][True] > thresholds.get(label))
            assert 0.0 <= served[label][True] <= 1.0
    xs = [x for x, _ in rows[300:]]
    labels, P = model.predict_proba_batch(xs)
    one_by_one = np.array([[model.predict_proba_one(x)[label][True] for label in labels] for x in xs])
    np.testing.assert_allclose(P, one_by_one, rtol=1e-12)


@pytest.mark.parametrize("spec", ["portfolio:metric=accuracy", "portfolio:members=", "portfolio:window=3",
                                  "portfolio:members=native-mlc|nope", "portfolio:start=5"])
def test_bad_specs_are_config_errors(spec):
    with pytest.raises(ConfigError):
        make_model(spec)


def test_river_models_can_be_members():
    model = Portfolio(members="river-br-lr|native-lr", window=20, ensemble=True, start=2)
    for x, y in _phase_stream(60, "linear", seed=9):
        model.learn_one(x, y)
    labels, P = model.predict_proba_batch([{"a": 0.5, "b": 0.5}, {"a": -0.5, "b": -0.5}])
    assert sorted(labels) == ["l0", "l1"] and P.shape == (2, 2)
    assert P[0, labels.index("l0")] > 0.5 > P[1, labels.index("l0")]
    assert model.reset_label("l0") is True
    assert set(model.report()["members"]) == {"river-br-lr", "native-lr", "mean"}


def test_paired_t_test():
    d = np.array([0.1, 0.2, 0.0, 0.3, 0.1, 0.2])
    t, p = _paired_t(d)
    assert t == pytest.approx(d.mean() / (d.std(ddof=1) / np.sqrt(6)))
    assert 0 < p < 0.01
    assert _paired_t(-d)[1] > 0.99
    assert _paired_t(np.zeros(10)) == (0.0, 1.0)
