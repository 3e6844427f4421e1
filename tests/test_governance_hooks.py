"""The issue-15 hooks in the engine: requests, annotators, registry, fairness, forget (proposed test file)."""

from __future__ import annotations

import random

import pytest

from stream_mlc.core.checkpoint import Checkpoint, dumps
from stream_mlc.core.engine import Engine, EngineConfig
from stream_mlc.core.events import FeatureEvent, LabelEvent
from stream_mlc.core.governance import GovernanceConfig
from stream_mlc.core.registry import LabelChange, LabelRegistry, UnauthorizedChangeError, UnregisteredLabelError, sign


def _stream(engine, n=300, seed=0, annotators=("a",), noisy="c", start=0):
    rng = random.Random(seed)
    for i in range(start, start + n):
        x = {"x": rng.random(), "sex": float(i % 2)}
        engine.score(FeatureEvent(f"e{i}", x), now=float(i))
        truth = {"pos"} if x["x"] > 0.5 else {"neg"}
        for who in annotators:
            labels = ({"pos", "neg"} - truth) if who == noisy and i % 3 == 0 else truth
            joined = engine.join(LabelEvent(f"e{i}", frozenset(labels), annotator=who), now=float(i))
            if joined is not None:
                engine.learn(joined)
        for joined in engine.resolve_due(float(i)):
            engine.learn(joined)


def test_requests_stay_within_the_budget_and_are_drained():
    engine = Engine.from_config(
        EngineConfig(model="river-br-lr", labels=("pos", "neg"), governance=GovernanceConfig(label_budget="0.1"))
    )
    _stream(engine, 1000)
    requests = engine.drain_requests()
    assert 80 <= len(requests) <= 100 + 3 and engine.drain_requests() == []
    assert engine.status()["label_requests"]["requested"] == len(requests)


def test_three_annotators_are_resolved_and_their_agreement_measured():
    engine = Engine.from_config(
        EngineConfig(model="river-br-lr", labels=("pos", "neg"), governance=GovernanceConfig(annotation_wait_for=3))
    )
    _stream(engine, 300, annotators=("a", "b", "c"))
    status = engine.status()
    assert engine.learned == 300
    assert status["agreement"]["annotators"]["c"]["disagreement"] == pytest.approx(1 / 3, abs=0.01)
    assert status["agreement"]["annotators"]["a"]["disagreement"] == 0.0
    assert 0.4 < status["agreement"]["kappa"] < 0.8


def test_a_deadline_resolves_what_came():
    engine = Engine.from_config(
        EngineConfig(model="river-br-lr", governance=GovernanceConfig(annotation_wait_for=3, annotation_deadline_s=5.0))
    )
    _stream(engine, 50, annotators=("a",))
    assert engine.learned == 45  # the last five are still within their deadline


def test_registry_changes_change_predictions_and_learning():
    engine = Engine.from_config(EngineConfig(model="river-br-lr", labels=("pos", "neg")))
    _stream(engine, 200)
    registry = LabelRegistry()
    for change in (
        LabelChange("add", "pos"),
        LabelChange("add", "neg"),
        LabelChange("deprecate", "neg"),
        LabelChange("merge", "pos", into="positive"),
    ):
        registry, impact = registry.apply(change)
        reports = [engine.follow_registry(registry[name].to_wire()) for name in impact["labels"]]
    probe = FeatureEvent("p", {"x": 0.9, "sex": 0.0})
    assert sorted(engine.prediction(probe, 0.0).scores) == ["positive"]
    assert engine.prediction(probe, 0.0).scores["positive"] > 0.5  # started from pos's learner
    assert reports[0]["impact"]["pos"]["support"] > 0
    engine.score(FeatureEvent("n1", {"x": 0.9}), 300.0)
    joined = engine.join(LabelEvent("n1", frozenset({"pos", "neg"})), 300.0)
    assert joined.labels == frozenset({"positive"})
    engine.governance.registered_only = True
    with pytest.raises(UnregisteredLabelError):
        engine.join(LabelEvent("n2", frozenset({"other"})), 301.0)


def test_unsigned_changes_are_refused_when_a_key_is_set():
    engine = Engine.from_config(
        EngineConfig(model="river-br-lr", governance=GovernanceConfig(registry_principals=("alice",), registry_key="k"))
    )
    registry, _ = LabelRegistry().apply(LabelChange("add", "a", principal="alice"))
    with pytest.raises(UnauthorizedChangeError):
        engine.follow_registry(registry["a"].to_wire())
    registry, _ = LabelRegistry().apply(sign(LabelChange("add", "a", principal="alice"), b"k"))
    engine.follow_registry(registry["a"].to_wire())
    assert "a" in engine.governance.registry


def test_groups_and_a_fairness_alert():
    engine = Engine.from_config(
        EngineConfig(
            model="river-br-lr",
            labels=("pos", "neg"),
            drift=None,
            governance=GovernanceConfig(group_by="sex", group_gap_alert=0.0),
        )
    )
    _stream(engine, 400)
    assert set(engine.status()["groups"]["groups"]) == {"0", "1"}
    assert any(alert.kind == "fairness_gap" for alert, _ in engine.drain_alerts())


def test_forget_leaves_no_trace_in_a_checkpoint():
    engine = Engine.from_config(EngineConfig(model="river-br-lr", governance=GovernanceConfig(annotation_wait_for=2)))
    _stream(engine, 50, annotators=("a", "b"))
    engine.score(FeatureEvent("user-4711", {"x": 0.25}), 60.0)  # waits for its labels
    engine.join(LabelEvent("user-0815", frozenset({"pos"}), annotator="a"), 60.0)  # waits for annotator b
    before = dumps(Checkpoint(engine))
    assert b"user-4711" in before and b"user-0815" in before
    assert engine.forget("user-4711") and engine.forget("user-0815") and not engine.forget("never-seen")
    after = dumps(Checkpoint(engine))
    assert b"user-4711" not in after and b"user-0815" not in after


def test_the_dispatch_publishes_requests_and_follows_the_registry():
    import orjson

    from stream_mlc.core.processor import FEATURES, LABELS, Dispatch, Outcome, Record

    engine = Engine.from_config(EngineConfig(model="river-br-lr", governance=GovernanceConfig(label_budget="1")))
    dispatch = Dispatch(engine, {"f": FEATURES, "l": LABELS})
    out = Outcome()
    dispatch.handle(Record("f", 0, 0, 1.0, b"e1", b'{"id": "e1", "features": {"x": 1}}'), 1.0, 2.0, out)
    registry, _ = LabelRegistry().apply(LabelChange("add", "spam", principal="p"))
    dispatch.govern(Record("r", 0, 0, 1.0, b"spam", orjson.dumps(registry["spam"].to_wire())), 2.0, out)
    dispatch.govern(Record("r", 0, 1, 1.0, b"forget/e1", b'{"kind": "forget", "id": "e1"}'), 2.0, out)
    dispatch.govern(Record("r", 0, 2, 1.0, b"spam", b'{"kind": "label"}'), 2.0, out)
    assert [send.sink for send in out.sends] == ["predictions", "label-requests", "audit", "deadletter"]
    assert out.counts["forgotten"] == 1 and "e1" not in engine.buffer.store and "spam" in engine.governance.registry


def test_our_learner_copies_a_merged_labels_state_to_a_new_target():
    from stream_mlc.learners.linear import NativeMLC

    model = NativeMLC()
    rows = [{"a": i % 7 / 7, "b": i % 5 / 5} for i in range(300)]
    for x in rows:
        model.learn_one(x, {"s": x["a"] > 0.5, "o": x["b"] > 0.5})
    assert model.copy_label("s", "t") and not model.copy_label("unknown", "u")
    probe = model.predict_proba_one({"a": 0.9, "b": 0.1})
    assert probe["t"][True] == probe["s"][True] > 0.5  # the target predicts as the source did
    model.learn_one({"a": 0.9, "b": 0.1}, {"s": True, "o": False, "t": True})  # and learns on


def test_evaluate_simulates_annotators_and_reports_their_agreement():
    from stream_mlc.evaluate import prequential
    from stream_mlc.io.datasets import open_dataset

    data = open_dataset("yeast", limit=300)
    agreeing = prequential(data, "native-mlc", annotators="3:0.0").status["agreement"]
    noisy = prequential(data, "native-mlc", annotators="3:0.2").status["agreement"]
    assert agreeing["kappa"] == pytest.approx(1.0) and agreeing["subjects"] > 0
    assert 0.0 < noisy["kappa"] < 0.9 and noisy["low_agreement"]
    assert prequential(data, "native-mlc").status["agreement"] == {}  # one annotator: nothing to measure
