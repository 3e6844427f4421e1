"""Unit tests of stream_mlc.core.engine.Engine: score, join, learn, thresholds, metrics, pickling."""

from __future__ import annotations

import pickle
import random

import orjson
import pytest

from stream_mlc.core.engine import Engine, EngineConfig, LabelLimitError
from stream_mlc.core.events import FeatureEvent, LabelEvent
from stream_mlc.core.join import JoinLimits
from stream_mlc.core.metrics import MultiLabelMetrics
from stream_mlc.core.thresholds import FixedThresholds


class FakeModel:
    """A River-style multi-label model that returns set probabilities and records what it learns."""

    def __init__(self, proba: dict[str, float] | None = None):
        self.proba = dict(proba or {})
        self.ys: list[dict[str, bool]] = []
        self.xs: list[dict[str, float]] = []
        self.predict_calls = 0

    def learn_one(self, x, y):
        self.xs.append(dict(x))
        self.ys.append(dict(y))

    def predict_proba_one(self, x):
        self.predict_calls += 1
        return {label: {False: 1.0 - p, True: p} for label, p in self.proba.items()}


class PerLabelThresholds(FixedThresholds):
    def __init__(self, table: dict[str, float]):
        super().__init__(0.5)
        self.table = table

    def get(self, label):
        return self.table.get(label, self.threshold)

    def snapshot(self, labels):
        return {label: self.get(label) for label in labels}


def river_engine(**config) -> Engine:
    return Engine.from_config(EngineConfig(model="river-br-lr", **config))


def feat(i, x: dict[str, float]) -> FeatureEvent:
    return FeatureEvent(str(i), x)


def lab(i, labels, observed=None) -> LabelEvent:
    return LabelEvent(str(i), frozenset(labels), None if observed is None else frozenset(observed))


def step(engine: Engine, i, x, labels, observed=None, now: float = 0.0):
    """Score an event, then join and learn its labels; return the prediction."""
    prediction, joined = engine.score(feat(i, x), now)
    assert joined is None
    joined = engine.join(lab(i, labels, observed), now)
    assert joined is not None
    engine.learn(joined)
    return prediction


def stream(seed: int, n: int):
    """A seeded stream: two features, labels 'a' (f1 > 0), 'b' (f2 > 0), 'c' (both)."""
    rng = random.Random(seed)
    for i in range(n):
        x = {"f1": rng.gauss(0, 1), "f2": rng.gauss(0, 1)}
        labels = {name for name, on in (("a", x["f1"] > 0), ("b", x["f2"] > 0)) if on}
        if len(labels) == 2:
            labels.add("c")
        yield i, x, labels


# ------------------------------------------------------------------ versions and labels


def test_model_version_counts_learned_examples():
    engine = river_engine()
    versions = []
    for i, x, labels in stream(1, 6):
        versions.append(step(engine, i, x, labels).model_version)
    assert versions == [0, 1, 2, 3, 4, 5]
    assert engine.learned == 6
    # Scored but not learned yet: the version does not move.
    p1, _ = engine.score(feat("u1", {"f1": 1.0, "f2": 1.0}), 0.0)
    p2, _ = engine.score(feat("u2", {"f1": 1.0, "f2": 1.0}), 0.0)
    assert (p1.model_version, p2.model_version) == (6, 6)
    # The joined example carries the version of the stored prediction, not the current one.
    engine.learn(engine.join(lab("u2", {"a"}), 0.0))
    joined = engine.join(lab("u1", {"a"}), 0.0)
    assert joined.model_version == 6
    engine.learn(joined)
    assert engine.learned == 8


def test_a_new_label_appears_in_predictions_only_after_a_label_event_introduced_it():
    engine = river_engine()
    x = {"f1": 1.0, "f2": -1.0}
    p, _ = engine.score(feat(1, x), 0.0)
    assert p.scores == {} and p.labels == []
    # Labels for an event not scored yet wait in the buffer: nothing is learned, nothing new.
    assert engine.join(lab(99, {"ham"}), 0.0) is None
    engine.learn(engine.join(lab(1, {"spam"}), 0.0))
    assert engine.labels == ["spam"]
    p, _ = engine.score(feat(2, x), 0.0)
    assert set(p.scores) == {"spam"}
    assert set(p.thresholds) == {"spam"}
    assert 0.0 <= p.scores["spam"] <= 1.0
    # 'ham' appears once its event is scored, joined and learned.
    p99, joined = engine.score(feat(99, x), 0.0)
    assert "ham" not in p99.scores
    engine.learn(joined)
    p, _ = engine.score(feat(3, x), 0.0)
    assert set(p.scores) == {"spam", "ham"}
    assert engine.labels == ["spam", "ham"]


def test_new_labels_of_one_event_are_admitted_in_sorted_order():
    engine = Engine(FakeModel())
    step(engine, 1, {"f": 1.0}, {"zeta", "alpha", "mu"})
    assert engine.labels == ["alpha", "mu", "zeta"]
    step(engine, 2, {"f": 1.0}, {"beta"})
    assert engine.labels == ["alpha", "mu", "zeta", "beta"]


# ------------------------------------------------------------------ partial labels


def test_full_labels_learn_every_known_label():
    model = FakeModel()
    engine = Engine(model)
    step(engine, 1, {"f": 1.0}, {"a", "b"})
    step(engine, 2, {"f": 2.0}, {"c"})
    assert model.ys == [{"a": True, "b": True}, {"a": False, "b": False, "c": True}]
    assert model.xs == [{"f": 1.0}, {"f": 2.0}]


def test_partial_labels_learn_only_the_observed_labels():
    model = FakeModel()
    engine = Engine(model)
    step(engine, 1, {"f": 1.0}, {"a", "b", "c"})
    step(engine, 2, {"f": 1.0}, {"a"}, observed={"a", "b"})
    step(engine, 3, {"f": 1.0}, set(), observed={"c"})
    # An observed-negative label never seen before is introduced, and learned as negative.
    step(engine, 4, {"f": 1.0}, {"b"}, observed={"b", "d"})
    assert model.ys[1:] == [
        {"a": True, "b": False},
        {"c": False},
        {"b": True, "d": False},
    ]
    assert engine.labels == ["a", "b", "c", "d"]
    assert engine.learned == 4


# ------------------------------------------------------------------ thresholds


def test_predicted_labels_are_those_scoring_above_their_threshold():
    # Strictly above: a tie at 0.5 is not predicted, as River's argmax over {False, True} decides.
    model = FakeModel()
    engine = Engine(model, thresholds=FixedThresholds(0.5))
    step(engine, 0, {"f": 0.0}, {"a", "b", "c", "d"})
    model.proba = {"a": 0.5, "b": 0.50001, "c": 0.9, "d": 0.0}
    p, _ = engine.score(feat(1, {"f": 0.0}), now=12.5)
    assert p.labels == ["b", "c"]
    assert p.scores == {"a": 0.5, "b": 0.50001, "c": 0.9, "d": 0.0}
    assert p.thresholds == {"a": 0.5, "b": 0.5, "c": 0.5, "d": 0.5}
    assert p.ts == 12.5 and p.id == "1"


def test_per_label_thresholds_are_applied_per_label():
    model = FakeModel()
    engine = Engine(model, thresholds=PerLabelThresholds({"a": 0.95, "b": 0.1}))
    step(engine, 0, {"f": 0.0}, {"a", "b", "c"})
    model.proba = {"a": 0.9, "b": 0.2, "c": 0.6}
    p, _ = engine.score(feat(1, {"f": 0.0}), 0.0)
    assert p.labels == ["b", "c"]
    assert p.thresholds == {"a": 0.95, "b": 0.1, "c": 0.5}


def test_a_label_the_model_has_no_probability_for_scores_zero():
    model = FakeModel({"a": 0.8})
    engine = Engine(model, thresholds=FixedThresholds(0.5))
    step(engine, 0, {"f": 0.0}, {"a", "b"})
    p, _ = engine.score(feat(1, {"f": 0.0}), 0.0)
    assert p.scores == {"a": 0.8, "b": 0.0}
    assert p.labels == ["a"]


# ------------------------------------------------------------------ label budget


def test_label_limit_error_when_max_labels_would_be_exceeded():
    engine = Engine(FakeModel(), max_labels=3)
    step(engine, 1, {"f": 1.0}, {"a", "b"})
    step(engine, 2, {"f": 1.0}, {"c"})  # exactly at the limit: accepted
    assert engine.labels == ["a", "b", "c"]
    engine.score(feat(3, {"f": 1.0}), 0.0)
    with pytest.raises(LabelLimitError, match="max_labels=3"):
        engine.join(lab(3, {"a", "d"}), 0.0)
    # New labels hidden in `observed` count too.
    with pytest.raises(LabelLimitError):
        engine.join(lab(3, {"a"}, observed={"a", "e"}), 0.0)
    # Known labels are still accepted, and the refused event was not buffered.
    joined = engine.join(lab(3, {"a", "c"}), 0.0)
    assert joined is not None and joined.labels == frozenset({"a", "c"})
    engine.learn(joined)
    assert engine.labels == ["a", "b", "c"]


def test_label_limit_error_when_a_single_event_brings_too_many_labels():
    engine = Engine(FakeModel(), max_labels=2)
    with pytest.raises(LabelLimitError):
        engine.join(lab(1, {"a", "b", "c"}), 0.0)
    assert len(engine.buffer) == 0


def test_label_budget_counts_new_labels_of_joins_not_learned_yet():
    """Label events whose new labels are waiting (not learned yet) must count against max_labels:
    otherwise any number of distinct labels gets past the limit while they wait for learning."""
    engine = Engine(FakeModel(), max_labels=3)
    engine.score(feat(1, {"f": 1.0}), 0.0)
    engine.score(feat(2, {"f": 1.0}), 0.0)
    first = engine.join(lab(1, {"a", "b"}), 0.0)
    with pytest.raises(LabelLimitError):
        engine.join(lab(2, {"c", "d"}), 0.0)  # a, b, c, d: four labels > 3
    engine.learn(first)
    assert len(engine.labels) <= engine.max_labels


# ------------------------------------------------------------------ metrics


def test_metrics_are_updated_from_the_stored_prediction_not_a_rescore():
    model = FakeModel({"a": 0.9, "b": 0.2})
    engine = Engine(model)
    step(engine, 0, {"f": 0.0}, {"a", "b"})
    reference = MultiLabelMetrics(window=engine.metrics.window)
    reference.update({"a", "b"}, [], {}, [], None)  # event 0: scored before any label was known
    prediction, _ = engine.score(feat(1, {"f": 1.0}), 0.0)
    assert prediction.labels == ["a"]
    calls = model.predict_calls
    # The model changes its mind before the labels come: a re-score would predict 'b', not 'a'.
    model.proba = {"a": 0.1, "b": 0.95}
    engine.learn(engine.join(lab(1, {"a"}), 0.0))
    assert model.predict_calls == calls  # learning did not score again
    reference.update({"a"}, ["a"], {"a": 0.9, "b": 0.2}, ["a", "b"], None)
    assert engine.metrics.report() == reference.report()
    per_label = engine.metrics.report()["per_label"]
    # 'a': a true positive on event 1 (a re-score would have missed it), a miss on event 0.
    assert (per_label["a"]["precision"], per_label["a"]["recall"]) == (1.0, 0.5)
    assert engine.metrics.report()["cumulative"]["hamming_loss"] == pytest.approx(0.5 * (2 / 2) + 0.5 * 0)


def test_partial_labels_reach_the_metrics_as_observed():
    model = FakeModel({"a": 0.9, "b": 0.9, "c": 0.9})
    engine = Engine(model)
    step(engine, 0, {"f": 0.0}, {"a", "b", "c"})
    step(engine, 1, {"f": 0.0}, {"a"}, observed={"a", "b"})
    per_label = engine.metrics.report()["per_label"]
    # 'c' was predicted for event 1 but is unobserved there: no false positive counted.
    assert per_label["c"]["precision"] == 0.0 and per_label["c"]["support"] == 1
    assert per_label["b"]["support"] == 1  # the false positive on b (observed negative) counts


# ------------------------------------------------------------------ status and pickling


def test_status_is_json_serialisable_with_orjson():
    engine = river_engine(metrics_window=5, thresholds="fixed", join=JoinLimits(max_age_s=10.0, max_entries=100))
    for i, x, labels in stream(2, 20):
        step(engine, i, x, labels, observed=None if i % 3 else labels | {"a", "z"}, now=float(i))
    engine.score(feat("pending", {"f1": 0.0, "f2": 0.0}), 25.0)
    engine.join(lab("early", {"a"}), 25.0)
    engine.join(lab(19, {"a"}), 25.0)  # a duplicate
    assert engine.expire(30.0) > 0
    status = engine.status()
    decoded = orjson.loads(orjson.dumps(status))
    assert decoded["learned"] == 20
    assert decoded["labels"] == engine.labels
    assert decoded["pending"] == len(engine.buffer)
    assert decoded["join"]["joined"] == 20 and decoded["join"]["duplicate_labels"] == 1
    assert decoded["thresholds"] == {label: 0.5 for label in engine.labels}
    assert decoded["metrics"]["n"] == 20


def test_pickled_engine_continues_exactly_like_its_twin():
    engine = river_engine(metrics_window=7)
    events = list(stream(3, 120))
    pending = []
    for i, x, labels in events[:60]:
        prediction, _ = engine.score(feat(i, x), float(i))
        pending.append((i, labels))
        if len(pending) > 5:  # labels come five events late
            j, truth = pending.pop(0)
            engine.learn(engine.join(lab(j, truth), float(i)))
    twin = pickle.loads(pickle.dumps(engine))
    assert twin is not engine and twin.model is not engine.model
    outputs = {id(engine): [], id(twin): []}
    for copy in (engine, twin):
        queue = list(pending)
        for i, x, labels in events[60:]:
            prediction, _ = copy.score(feat(i, x), float(i))
            outputs[id(copy)].append((prediction.labels, prediction.scores, prediction.model_version))
            queue.append((i, labels))
            j, truth = queue.pop(0)
            copy.learn(copy.join(lab(j, truth), float(i)))
    assert outputs[id(engine)] == outputs[id(twin)]
    assert engine.status() == twin.status()
    # The stream was learned: the predictions are not trivially constant.
    assert len({tuple(labels) for labels, _, _ in outputs[id(engine)]}) > 1
    assert engine.learned == twin.learned == 115


def test_feature_names_beyond_the_limit_are_refused_and_nothing_is_stored():
    from stream_mlc.core.engine import FeatureLimitError

    engine = Engine(FakeModel(), max_features=3)
    engine.score(feat(0, {"a": 1.0, "b": 2.0}), 0.0)
    engine.score(feat(1, {"a": 1.0, "c": 2.0}), 0.0)  # three known now
    with pytest.raises(FeatureLimitError, match="max_features=3"):
        engine.score(feat(2, {"a": 1.0, "d": 1.0}), 0.0)
    assert engine.features == {"a", "b", "c"}
    assert len(engine.buffer) == 2  # the refused event was not stored
    engine.score(feat(3, {"b": 5.0, "c": 1.0}), 0.0)  # known names still pass


def test_labels_older_than_their_features_are_counted_and_alerted_as_a_leak():
    engine = Engine.from_config(EngineConfig(model="native-lr", drift=None))
    for i in range(12):
        engine.score(FeatureEvent(str(i), {"x": 1.0}, ts=10.0), 10.0)
        engine.learn(engine.join(LabelEvent(str(i), frozenset({"a"}), ts=5.0 if i % 2 else 11.0), 10.0))
    leaks = [alert for alert, _ in engine.drain_alerts() if alert.kind == "label_before_features"]
    assert engine.buffer.counts["label_before_features"] == 6
    assert [alert.value for alert in leaks] == [1.0]  # the 1st, then the 10th would follow


def test_learning_a_batch_learns_the_model_as_one_by_one():
    # The scaled learner learns a learn-topic message's examples together: the model takes
    # them one step each, in order, so it ends as an engine that learned them one at a time.
    import numpy as np

    from stream_mlc.bootstrap import build_engine
    from stream_mlc.io.datasets import open_dataset

    rows = list(open_dataset("yeast", limit=120))
    config = EngineConfig(model="native-mlc", labels=tuple(open_dataset("yeast").label_names))
    one, batch = build_engine(config), build_engine(config)
    joined = {}
    for engine in (one, batch):
        joined[id(engine)] = []
        for row in rows:
            engine.score(row.feature_event(), 0.0)
            joined[id(engine)].append(engine.join(row.label_event(), 0.0))
    for example in joined[id(one)]:
        one.learn(example)
    assert batch.learn_batch(joined[id(batch)]) == []
    assert one.learned == batch.learned == len(rows)
    probe = [row.features for row in open_dataset("yeast", limit=140)][120:]
    ours = np.array([list(batch.model.predict_proba_batch(probe)[1].ravel())])
    theirs = np.array([list(one.model.predict_proba_batch(probe)[1].ravel())])
    assert np.abs(ours - theirs).max() <= 1e-12
    assert batch.metrics.report()["cumulative"] == one.metrics.report()["cumulative"]
