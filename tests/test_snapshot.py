"""Model snapshots: a scorer predicts as the engine it came from, one by one or in a batch."""

from __future__ import annotations

import pickle

import pytest

from stream_mlc.core.checkpoint import CheckpointError
from stream_mlc.core.engine import Engine, EngineConfig
from stream_mlc.core.events import FeatureEvent, LabelEvent
from stream_mlc.core.snapshot import dumps, loads
from stream_mlc.errors import DecodeError
from stream_mlc.io.datasets import open_dataset
from stream_mlc.wire import decode_learn, encode_labels, encode_scored, pack_records, unpack_records

STREAM = "synthetic:n=600,features=20,labels=6,seed=3"


def trained(model: str, n: int = 400) -> tuple[Engine, list]:
    records = list(open_dataset(STREAM))
    engine = Engine.from_config(EngineConfig(model=model, thresholds="adaptive"))
    for t, record in enumerate(records[:n]):
        engine.score(FeatureEvent(record.id, record.features), now=t)
        engine.learn(engine.join(LabelEvent(record.id, frozenset(record.labels)), now=t))
    return engine, [FeatureEvent(r.id, r.features) for r in records[n:]]


@pytest.mark.parametrize("model", ["native-mlc", "native-lr", "river-br-lr"])
def test_a_batch_is_scored_as_one_by_one_and_as_the_engine(model):
    engine, events = trained(model)
    snapshot = loads(dumps(engine.snapshot()))
    batch = snapshot.predictions(events, now=1.0)
    for event, in_batch in zip(events, batch, strict=True):
        alone, live = snapshot.prediction(event, now=1.0), engine.prediction(event, now=1.0)
        assert in_batch.labels == alone.labels == live.labels
        assert in_batch.thresholds == alone.thresholds == live.thresholds
        assert in_batch.model_version == alone.model_version == live.model_version == 400
        for label in engine.labels:
            assert abs(in_batch.scores[label] - alone.scores[label]) <= 1e-12
            assert alone.scores[label] == live.scores[label]


def test_a_snapshot_is_a_copy_that_later_learning_does_not_touch():
    engine, events = trained("native-mlc", n=200)
    snapshot = loads(dumps(engine.snapshot()))
    before = [p.scores for p in snapshot.predictions(events[:20], now=0.0)]
    for event in events[:50]:
        engine.score(event, now=0.0)
        engine.learn(engine.join(LabelEvent(event.id, frozenset({engine.labels[0]})), now=0.0))
    after = [p.scores for p in snapshot.predictions(events[:20], now=0.0)]
    # Equal up to rounding: the model's encoding caches can pick another (equal) summation order.
    assert max(abs(a[k] - b[k]) for a, b in zip(after, before, strict=True) for k in a) <= 1e-12
    assert snapshot.version == 200 and engine.learned == 250


def test_labels_the_model_has_not_seen_score_zero_in_a_batch_too():
    engine = Engine.from_config(EngineConfig(labels=("declared", "other")))
    snapshot = engine.snapshot()
    batch = snapshot.predictions([FeatureEvent("a", {"x": 1.0}), FeatureEvent("b", {"x": 2.0})], now=0.0)
    assert [p.scores for p in batch] == [{"declared": 0.0, "other": 0.0}] * 2
    assert [p.labels for p in batch] == [[], []]


def test_a_tampered_or_foreign_snapshot_is_refused_before_unpickling():
    blob = dumps(Engine.from_config(EngineConfig()).snapshot())
    with pytest.raises(CheckpointError, match="checksum"):
        loads(blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(CheckpointError, match="not a stream-mlc model snapshot"):
        loads(b"SMLC-CKPT" + blob[9:])
    with pytest.raises(CheckpointError, match="truncated"):
        loads(blob[:10])
    assert pickle.loads(pickle.dumps(loads(blob))).version == 0


def test_engine_record_keeps_a_scorers_prediction_for_the_join():
    engine = Engine.from_config(EngineConfig(labels=("a", "b")))
    prediction = loads(dumps(engine.snapshot())).prediction(FeatureEvent("e", {"x": 1.0}), now=0.0)
    assert engine.record(FeatureEvent("e", {"x": 1.0}), prediction, now=0.0) is None
    joined = engine.join(LabelEvent("e", frozenset({"a"})), now=1.0)
    assert joined.scores == prediction.scores and joined.model_version == 0
    engine.learn(joined)
    assert engine.learned == 1
    # A scored event forwarded twice (a scorer re-read it after a crash) is not kept twice.
    assert engine.record(FeatureEvent("e", {"x": 1.0}), prediction, now=2.0) is None
    assert engine.join(LabelEvent("e", frozenset({"a"})), now=2.0) is None
    assert engine.buffer.counts["duplicate_features"] == 1 and engine.buffer.counts["duplicate_labels"] == 1


def test_learn_topic_messages_carry_records_in_order():
    engine = Engine.from_config(EngineConfig(labels=("a",)))
    event = FeatureEvent("e", {"x": 1.5, "y": -2.0}, ts=10.0)
    prediction = engine.prediction(event, now=11.0)
    labels = LabelEvent("e", frozenset({"a"}), frozenset({"a", "b"}), ts=13.0)
    first, second = unpack_records(pack_records([encode_scored(event, prediction, 12.0, ("mlc.features", 2, 7)),
                                                 encode_labels(labels, 14.0, ("mlc.labels", 2, 9))]))
    t, decoded, kept, origin = decode_learn(first)
    assert (t, decoded, kept.scores, kept.labels, kept.model_version, origin) == (
        12.0, event, prediction.scores, prediction.labels, 0, ("mlc.features", 2, 7))
    assert decode_learn(second) == (14.0, labels, None, ("mlc.labels", 2, 9))


@pytest.mark.parametrize("value", [b"not json", b'{"other": 1}', b'{"records": 3}'])
def test_a_broken_learn_message_is_a_decode_error(value):
    with pytest.raises(DecodeError, match="not a learn-topic message"):
        unpack_records(value)


def test_a_broken_learn_record_is_a_decode_error():
    with pytest.raises(DecodeError, match="not a learn-topic record: KeyError"):
        decode_learn({"kind": "scored", "id": "e"})
