"""Unit tests of stream_mlc.settings, stream_mlc.topics and the topic specs in topics/."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path

import orjson
import pytest

from stream_mlc.core.engine import Engine, EngineConfig
from stream_mlc.core.events import FeatureEvent, LabelEvent
from stream_mlc.errors import ConfigError
from stream_mlc.settings import ENV_PREFIX, Settings, describe_settings, normalize_broker
from stream_mlc.topics import load_specs, topics_dir
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

ROOT = Path(__file__).resolve().parents[1]
TOPIC_FILES = sorted((ROOT / "topics").glob("*.json"))
REQUIRED_SPEC_KEYS = {"name", "description", "partitions", "replication_factor", "key", "config", "schema"}


# ================================================================== settings


def test_from_env_reads_typed_values():
    environ = {
        "STREAM_MLC_BROKER": "kafka://k1:9092",
        "STREAM_MLC_BATCH_SIZE": "7",
        "STREAM_MLC_JOIN_MAX_AGE_S": "1.5",
        "STREAM_MLC_MODEL": "river-br-ht:grace_period=50",
        "STREAM_MLC_SASL_PASSWORD": "s3cret",
        "STREAM_MLC_PARTITIONS": "-0",
        "OTHER_BATCH_SIZE": "99",  # not ours
        "stream_mlc_batch_within_s": "9",  # the prefix is upper case
    }
    s = Settings.from_env(environ)
    assert s.broker == "kafka://k1:9092"
    assert s.batch_size == 7 and type(s.batch_size) is int
    assert s.join_max_age_s == 1.5 and type(s.join_max_age_s) is float
    assert s.model == "river-br-ht:grace_period=50"
    assert s.sasl_password == "s3cret"
    assert s.partitions == 0
    assert s.batch_within_s == Settings().batch_within_s
    # Unset variables keep the defaults.
    assert s.max_labels == Settings().max_labels


def test_from_env_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("STREAM_MLC_WORKER_ID", "w-from-env")
    monkeypatch.setenv("STREAM_MLC_METRICS_WINDOW", "33")
    s = Settings.from_env()
    assert (s.worker_id, s.metrics_window) == ("w-from-env", 33)


def test_overrides_win_over_the_environment_and_none_is_ignored():
    environ = {"STREAM_MLC_MODEL": "river-br-nb", "STREAM_MLC_WEB_PORT": "7000", "STREAM_MLC_APP_ID": "env-app"}
    s = Settings.from_env(environ, model="river-br-lr", web_port=None, worker_id="w9")
    assert s.model == "river-br-lr"
    assert s.web_port == 7000  # a None override leaves the environment's value
    assert s.worker_id == "w9"
    assert s.app_id == "env-app"
    assert s.replace(model=None, app_id="x") == dataclasses.replace(s, app_id="x")


@pytest.mark.parametrize(
    "name, raw",
    [
        ("BATCH_SIZE", "abc"),
        ("BATCH_SIZE", "1.5"),
        ("BATCH_SIZE", ""),
        ("WEB_PORT", "80 80"),
        ("JOIN_MAX_AGE_S", "one day"),
        ("ALIGN_IDLE_S", ""),
    ],
)
def test_bad_values_raise_config_error(name, raw):
    with pytest.raises(ConfigError, match=f"{ENV_PREFIX}{name}="):
        Settings.from_env({ENV_PREFIX + name: raw})


def test_kafka_urls_are_accepted_as_broker():
    assert Settings(broker="kafka://host:9092").bootstrap == "host:9092"
    assert Settings(broker="host:9092").bootstrap == "host:9092"
    assert Settings(broker=" kafka://a:1 , b:2 ,").bootstrap == "a:1,b:2"
    assert normalize_broker("kafka://127.0.0.1:9092,kafka://h2:9093") == "127.0.0.1:9092,h2:9093"


@pytest.mark.parametrize("broker", ["", "host", "kafka://host", ",", "a:1,b"])
def test_bad_brokers_raise_config_error(broker):
    with pytest.raises(ConfigError, match="is not host:port"):
        Settings(broker=broker).bootstrap  # noqa: B018


def test_topic_names_use_the_prefix():
    assert Settings(topic_prefix="t7.").topic("features") == "t7.features"


def test_safe_dict_masks_the_secrets():
    s = Settings(sasl_username="alice", sasl_password="hunter2", registry_key="k3y")
    safe = s.safe_dict()
    assert safe["sasl_password"] == safe["registry_key"] == "***"
    assert safe["sasl_username"] == "alice"
    assert "hunter2" not in json.dumps(safe) and "k3y" not in json.dumps(safe) and "k3y" not in repr(s)
    # Everything else is shown as is.
    secrets = {"sasl_password", "registry_key"}
    assert {k: v for k, v in safe.items() if k not in secrets} == {
        k: v for k, v in dataclasses.asdict(s).items() if k not in secrets
    }
    # An empty password is shown as empty (nothing to hide, and it tells it is unset).
    assert Settings().safe_dict()["sasl_password"] == ""


def test_the_sasl_password_is_not_printed_by_repr():
    """The module promises secrets are never printed; the dataclass repr prints every field."""
    s = Settings(sasl_password="hunter2")
    assert "hunter2" not in repr(s)
    assert "hunter2" not in str(s)


def _changed(value):
    """A value of the same type as a field's default, different from it."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 17
    if isinstance(value, float):
        return value / 3 + 0.1
    return value + "-changed" if value else "changed,x"


def test_to_env_round_trip_of_every_field():
    defaults = Settings()
    changed = Settings(
        **{f.name: _changed(getattr(defaults, f.name)) for f in dataclasses.fields(Settings)} | {"mode": "scaled"},
    )
    for f in dataclasses.fields(Settings):
        assert getattr(changed, f.name) != getattr(defaults, f.name), f.name
    env = changed.to_env()
    assert set(env) == {ENV_PREFIX + f.name.upper() for f in dataclasses.fields(Settings)}
    assert all(isinstance(v, str) for v in env.values())
    assert Settings.from_env(env) == changed
    assert Settings.from_env(defaults.to_env()) == defaults


def test_every_setting_has_a_one_line_meaning():
    for f in dataclasses.fields(Settings):
        meaning = f.metadata.get("help", "")
        assert meaning and "\n" not in meaning and "``" not in meaning, f.name
    variables = [ENV_PREFIX + f.name.upper() for f in dataclasses.fields(Settings)]
    assert [row[0] for row in describe_settings()] == variables


def test_an_unknown_variable_is_warned_about_once_with_the_closest_name(caplog):
    environ = {"STREAM_MLC_BROKR": "h:1", "STREAM_MLC_ZZZ_QQQ": "1", "STREAM_MLC_BROKER": "h:2"}
    with caplog.at_level(logging.WARNING, logger="stream_mlc.settings"):
        assert Settings.from_env(environ).broker == "h:2"
        Settings.from_env(environ)  # the same variables again: no second warning
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "stream-mlc: warning: STREAM_MLC_BROKR is not a setting and is ignored; did you mean STREAM_MLC_BROKER?",
        "stream-mlc: warning: STREAM_MLC_ZZZ_QQQ is not a setting and is ignored; `stream-mlc settings` lists them",
    ]


@pytest.mark.parametrize(
    "name, raw, requirement",
    [
        ("CONNECT_TIMEOUT_S", "0", "must be > 0"),
        ("BATCH_SIZE", "0", "must be > 0"),
        ("METRICS_PORT", "70000", "must be a port number"),
        ("PARTITIONS", "-1", "must be >= 0"),
        ("DRIFT_MONITOR", "maybe", "is not a valid bool"),
    ],
)
def test_out_of_range_values_are_refused_by_name(name, raw, requirement):
    with pytest.raises(ConfigError, match=f"{ENV_PREFIX}{name}=.*{requirement}"):
        Settings.from_env({ENV_PREFIX + name: raw})


def test_booleans_accept_the_usual_spellings():
    for raw, value in [("true", True), ("1", True), ("on", True), ("False", False), ("0", False), ("no", False)]:
        assert Settings.from_env({"STREAM_MLC_DRIFT_MONITOR": raw}).drift_monitor is value


def test_the_learning_config_names_what_a_checkpoint_is_checked_against():
    s = Settings(model="river-br-lr", thresholds="fixed:threshold=0.4", drift_options="reaction=reset", labels="a, b")
    assert s.learning_config() == {"model": "river-br-lr", "thresholds": "fixed:threshold=0.4",
                                   "drift_options": "reaction=reset", "labels": "a,b", "calibration": "isotonic",
                                   "challengers": "", "rules": "", "text_features": ""}
    assert s.replace(drift_monitor=False).learning_config()["drift_options"] is None


def test_an_unknown_mode_is_refused_by_name():
    with pytest.raises(ConfigError, match="STREAM_MLC_MODE='scaledd'"):
        Settings.from_env({"STREAM_MLC_MODE": "scaledd"})


# ================================================================== topic specs


def test_every_topic_file_has_the_required_keys():
    assert {p.stem for p in TOPIC_FILES} >= {"features", "labels", "predictions", "training", "deadletter", "status"}
    for path in TOPIC_FILES:
        raw = json.loads(path.read_text())
        assert REQUIRED_SPEC_KEYS <= set(raw), f"{path.name}: missing {REQUIRED_SPEC_KEYS - set(raw)}"
        assert raw["name"] == path.stem, path.name
        assert type(raw["partitions"]) is int and raw["partitions"] >= 1, path.name
        assert type(raw["replication_factor"]) is int and raw["replication_factor"] >= 1, path.name
        assert isinstance(raw["key"], str) and raw["key"], path.name
        assert isinstance(raw["description"], str) and raw["description"], path.name
        assert isinstance(raw["config"], dict), path.name
        assert raw["config"].get("cleanup.policy") in {"delete", "compact", "compact,delete"}, path.name
        assert all(isinstance(v, str) for v in raw["config"].values()), path.name


def test_load_specs_reads_the_same_files():
    specs = load_specs()
    assert topics_dir().resolve() == (ROOT / "topics").resolve()
    assert set(specs) == {p.stem for p in TOPIC_FILES}
    for path in TOPIC_FILES:
        raw = json.loads(path.read_text())
        spec = specs[path.stem]
        assert (spec.partitions, spec.schema, spec.key) == (raw["partitions"], raw["schema"], raw["key"])
        assert spec.full_name("mlc.") == f"mlc.{path.stem}"


def test_features_and_labels_have_the_same_partitions():
    raw = {p.stem: json.loads(p.read_text()) for p in TOPIC_FILES}
    assert raw["features"]["partitions"] == raw["labels"]["partitions"]
    assert load_specs()["features"].partitions == load_specs()["labels"].partitions


# ------------------------------------------------------------------ a small JSON Schema checker
# jsonschema is not installed (nor a dependency); this checks the subset of draft 2020-12 the specs use, and
# test_schemas_use_only_keywords_the_checker_knows makes sure they use nothing else.

_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
_ANNOTATIONS = {"$schema", "title", "description"}
_KEYWORDS = {
    "type",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "const",
    "oneOf",
}


def _meta_check(schema, where: str) -> list[str]:
    """Structural errors of a (sub)schema."""
    if not isinstance(schema, dict):
        return [f"{where}: a schema must be an object"]
    errors = [f"{where}: unknown keyword {k!r}" for k in schema if k not in _KEYWORDS | _ANNOTATIONS]
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not isinstance(kinds, list) or not kinds or not set(kinds) <= _TYPES:
            errors.append(f"{where}: bad type {schema['type']!r}")
    if "required" in schema:
        required = schema["required"]
        if not isinstance(required, list) or len(set(required)) != len(required):
            errors.append(f"{where}: required must be a list of unique names")
        elif not set(required) <= set(schema.get("properties", {})):
            missing = set(required) - set(schema.get("properties", {}))
            errors.append(f"{where}: required names without a property: {sorted(missing)}")
    for name, sub in schema.get("properties", {}).items():
        errors += _meta_check(sub, f"{where}.{name}")
    for key in ("additionalProperties", "items"):
        if key in schema and not isinstance(schema[key], bool):
            errors += _meta_check(schema[key], f"{where}[{key}]")
    if "oneOf" in schema:
        if not isinstance(schema["oneOf"], list) or not schema["oneOf"]:
            errors.append(f"{where}: oneOf must be a non-empty list")
        else:
            for i, sub in enumerate(schema["oneOf"]):
                errors += _meta_check(sub, f"{where}.oneOf[{i}]")
    if "enum" in schema and (not isinstance(schema["enum"], list) or not schema["enum"]):
        errors.append(f"{where}: enum must be a non-empty list")
    for key in ("minimum", "maximum", "minLength"):
        if key in schema and (isinstance(schema[key], bool) or not isinstance(schema[key], (int, float))):
            errors.append(f"{where}: {key} must be a number")
    return errors


def _is(value, kind: str) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return not isinstance(value, bool) and (
            isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        )
    if kind == "number":
        return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, {"object": dict, "array": list, "string": str}[kind])


def validate(value, schema, where: str = "$") -> list[str]:
    """Errors of a JSON value against a schema of the supported subset."""
    errors = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(value, kind) for kind in kinds):
            return [f"{where}: {value!r} is not of type {kinds}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} is not {schema['const']!r}")
    if "oneOf" in schema:
        matching = sum(not validate(value, sub, where) for sub in schema["oneOf"])
        if matching != 1:
            errors.append(f"{where}: matches {matching} of the oneOf schemas, not exactly one")
    if _is(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} > {schema['maximum']}")
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        errors.append(f"{where}: shorter than {schema['minLength']}")
    if isinstance(value, dict):
        errors += [f"{where}: missing {name!r}" for name in schema.get("required", []) if name not in value]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                errors += validate(item, properties[name], f"{where}.{name}")
            elif extra is False:
                errors.append(f"{where}: unexpected {name!r}")
            elif isinstance(extra, dict):
                errors += validate(item, extra, f"{where}.{name}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors += validate(item, schema["items"], f"{where}[{i}]")
    return errors


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
