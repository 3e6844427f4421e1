"""The topic spec files in topics/ and stream_mlc.topics' reading of them: keys, names, partitions."""

from __future__ import annotations

import json

from topic_schemas import ROOT, TOPIC_FILES

from stream_mlc.topics import load_specs, topics_dir

REQUIRED_SPEC_KEYS = {"name", "description", "partitions", "replication_factor", "key", "config", "schema"}


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
