"""The JSON Schemas of the topic specs: valid, checked by the checker, and met by real encoded messages."""

from __future__ import annotations

import json

import orjson
from topic_schemas import TOPIC_FILES, _meta_check, validate

from stream_mlc.core.engine import Engine, EngineConfig
from stream_mlc.core.events import FeatureEvent, LabelEvent
from stream_mlc.topics import load_specs
from stream_mlc.wire import (
    dead_letter,
    decode_features,
    decode_labels,
    encode_joined,
    encode_labels,
    encode_prediction,
    encode_scored,
    pack_records,
)


def test_every_topic_schema_is_a_valid_draft_2020_12_object_schema():
    for path in TOPIC_FILES:
        schema = json.loads(path.read_text())["schema"]
        assert schema.get("$schema") == "https://json-schema.org/draft/2020-12/schema", path.name
        assert schema.get("type") == "object", path.name
        assert schema.get("required"), path.name
        assert _meta_check(schema, path.stem) == []


def test_learn_messages_match_their_schema():
    engine = Engine.from_config(EngineConfig(labels=("a",)))
    event = FeatureEvent("e", {"x": 1.0}, ts=1.0)
    records = [encode_scored(event, engine.prediction(event, now=2.0), 2.0, ("mlc.features", 0, 7)),
               encode_labels(LabelEvent("e", frozenset({"a"}), ts=3.0), 3.0, ("mlc.labels", 0, 9))]
    schema = load_specs()["learn"].schema
    message = orjson.loads(pack_records(records))
    assert validate(message, schema) == []
    message["records"][0]["kind"] = "labels"
    assert validate(message, schema) == ["$.records[0]: matches 0 of the oneOf schemas, not exactly one"]


def test_the_schema_checker_can_fail():
    schema = load_specs()["predictions"].schema
    good = {"id": "e", "labels": ["a"], "scores": {"a": 0.5}, "model_version": 0, "ts": 1.0}
    assert validate(good, schema) == []
    assert validate({k: v for k, v in good.items() if k != "ts"}, schema) == ["$: missing 'ts'"]
    assert validate({**good, "scores": {"a": 1.5}}, schema) == ["$.scores.a: 1.5 > 1"]
    assert validate({**good, "model_version": True}, schema)
    assert validate({**good, "labels": [1]}, schema)
    assert validate({**good, "ts": None}, schema)
    assert _meta_check({"type": "objekt", "required": ["x"], "propertys": {}}, "s") != []


# ------------------------------------------------------------------ real messages against the schemas


def _engine_outputs():
    """A prediction and a joined example as the engine makes them, encoded for the wire."""
    engine = Engine.from_config(EngineConfig(model="river-br-lr"))
    outputs = {"predictions": [], "training": []}
    for i in range(6):
        x = {"f1": float(i), "f2": -0.5 * i}
        labels = {"a"} if i % 2 else {"a", "b"}
        prediction, _ = engine.score(FeatureEvent(f"e{i}", x, ts=100.0 + i), now=200.0 + i)
        outputs["predictions"].append(encode_prediction(prediction, 250.0 + i))
        observed = None if i % 3 else labels | {"c"}
        joined = engine.join(LabelEvent(f"e{i}", frozenset(labels), observed, ts=300.0 + i), now=300.0 + i)
        engine.learn(joined)
        outputs["training"].append(encode_joined(joined, engine.learned))
    return outputs


def test_encoded_predictions_and_joined_examples_validate_against_their_schemas():
    specs = load_specs()
    outputs = _engine_outputs()
    for topic in ("predictions", "training"):
        for message in outputs[topic]:
            doc = orjson.loads(message)
            assert validate(doc, specs[topic].schema) == [], (topic, doc)
            assert set(specs[topic].schema["required"]) <= set(doc)
    # The later predictions did score labels, so the score constraints were exercised.
    assert orjson.loads(outputs["predictions"][-1])["scores"]


def test_every_field_the_encoders_write_is_described_in_the_topic_schema():
    """topics/ is the single source of truth for the wire contract: no undocumented fields."""
    specs = load_specs()
    outputs = _engine_outputs()
    outputs["deadletter"] = [dead_letter("mlc.features", 0, 1, "reason", b"\xff")]
    for topic, messages in outputs.items():
        declared = set(specs[topic].schema["properties"])
        for message in messages:
            undocumented = sorted(set(orjson.loads(message)) - declared)
            assert undocumented == [], f"{topic}: fields not in topics/{topic}.json: {undocumented}"


def test_dead_letters_validate_against_their_schema():
    schema = load_specs()["deadletter"].schema
    for payload in (b'{"id": 1}', b"\xff\xfe", None):
        doc = orjson.loads(dead_letter("mlc.features", 2, 99, "reason", payload))
        assert validate(doc, schema) == [], doc


def test_input_messages_the_decoders_accept_validate_against_their_schemas():
    specs = load_specs()
    features = {"id": "e1", "features": {"a": 1, "b": -2.5}, "ts": 1700000000.25}
    labels = {"id": "e1", "labels": ["x"], "observed": ["x", "y"], "ts": 1700000001}
    mixed = {"id": "e2", "features": {"n": 1, "c": "FR", "t": ["a", "b"], "b": True, "text": "a title"}}
    decode_features(b"e1", orjson.dumps(features))
    decode_features(b"e2", orjson.dumps(mixed))
    decode_labels(b"e1", orjson.dumps(labels))
    assert validate(features, specs["features"].schema) == []
    assert validate(mixed, specs["features"].schema) == []
    assert validate(labels, specs["labels"].schema) == []
    # And messages the decoders refuse for a missing field are refused by the schemas too.
    assert validate({"id": "e1"}, specs["features"].schema) == ["$: missing 'features'"]
    assert validate({"id": "e1"}, specs["labels"].schema) == ["$: missing 'labels'"]
    assert validate({"id": "", "features": {}}, specs["features"].schema) == ["$.id: shorter than 1"]
