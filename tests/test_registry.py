"""The label registry: changes, routing, signing, impact; the topic through the real broker."""

from __future__ import annotations

import argparse
import asyncio
import pickle

import orjson
import pytest

from stream_mlc import labels_cli
from stream_mlc.core.engine import Engine, EngineConfig
from stream_mlc.core.events import FeatureEvent, LabelEvent
from stream_mlc.core.models import make_model
from stream_mlc.core.registry import (
    ChangePolicy,
    LabelChange,
    LabelRegistry,
    RegistryError,
    UnauthorizedChangeError,
    UnregisteredLabelError,
    impact_report,
    merge_label_state,
    sign,
)
from stream_mlc.service.reader import TopicReader
from stream_mlc.service.registry import publish_change, publish_forget, read_registry
from stream_mlc.topics import load_specs
from tests.topic_schemas import validate


def _registry(*changes: LabelChange) -> LabelRegistry:
    registry = LabelRegistry()
    for change in changes:
        registry, _ = registry.apply(change)
    return registry


def test_changes_version_the_record_and_keep_its_history():
    before = _registry(LabelChange("add", "spam", definition="bulk mail", source="team-a"))
    after, impact = before.apply(LabelChange("define", "spam", definition="unsolicited bulk mail"))
    assert before["spam"].version == 1 and before["spam"].definition == "bulk mail"  # unchanged
    spam = after["spam"]
    assert (spam.version, spam.definition, spam.source) == (2, "unsolicited bulk mail", "team-a")
    assert [h["op"] for h in after["spam"].history] == ["add", "define"]
    assert impact["labels"] == ["spam"]
    deprecated, _ = after.apply(LabelChange("deprecate", "spam"))
    assert deprecated["spam"].status == "deprecated" and deprecated.active() == []
    again, _ = deprecated.apply(LabelChange("add", "spam"))
    assert again["spam"].status == "active" and again["spam"].definition == "unsolicited bulk mail"


@pytest.mark.parametrize("change", [LabelChange("deprecate", "nope"), LabelChange("merge", "a", into="a"),
                                    LabelChange("merge", "a", into=""), LabelChange("merge", "b", into="a"),
                                    LabelChange("merge", "a", into="b")])
def test_impossible_changes_are_refused(change):
    registry = _registry(LabelChange("add", "a"), LabelChange("add", "b"), LabelChange("deprecate", "b"))
    with pytest.raises(RegistryError):
        registry.apply(change)


def test_unknown_operations_are_refused():
    with pytest.raises(RegistryError):
        LabelChange("rename", "a")


def test_merges_chain_and_a_new_target_inherits_the_definition():
    registry = _registry(LabelChange("add", "a", definition="A"), LabelChange("add", "c"),
                         LabelChange("merge", "a", into="b"), LabelChange("merge", "b", into="c"))
    assert registry["b"].definition == "A" and registry["b"].status == "merged"
    assert registry.target("a") == registry.target("b") == registry.target("c") == "c"
    with pytest.raises(RegistryError):  # c into a would make a cycle
        registry.apply(LabelChange("merge", "c", into="a"))


def test_routing_maps_merged_labels_drops_deprecated_and_refuses_unregistered():
    registry = _registry(LabelChange("add", "a"), LabelChange("add", "old"), LabelChange("add", "gone"),
                         LabelChange("merge", "old", into="a"), LabelChange("deprecate", "gone"))
    routed = registry.route(LabelEvent("e", frozenset({"old", "gone"}), frozenset({"old", "gone", "x"}), ts=3.0))
    assert (routed.labels, routed.observed, routed.ts) == (frozenset({"a"}), frozenset({"a", "x"}), 3.0)
    event = LabelEvent("e", frozenset({"a", "x"}))
    assert registry.route(event) is event
    with pytest.raises(UnregisteredLabelError, match="'x'"):
        registry.route(event, registered_only=True)


def test_only_the_configured_principals_signed_changes_are_followed():
    key = b"registry-key"
    record = _registry(sign(LabelChange("add", "a", principal="alice"), key))["a"].to_wire()
    policy = ChangePolicy(frozenset({"alice"}), key)
    assert "a" in LabelRegistry().follow(record, policy)
    forged = {**record, "history": [{**record["history"][-1], "definition": "changed"}]}
    with pytest.raises(UnauthorizedChangeError, match="bad signature"):
        LabelRegistry().follow(forged, policy)
    mallory = _registry(sign(LabelChange("add", "a", principal="mallory"), key))["a"].to_wire()
    with pytest.raises(UnauthorizedChangeError, match="not allowed"):
        LabelRegistry().follow(mallory, policy)
    assert "a" in LabelRegistry().follow(mallory)  # no policy: any change


def test_the_impact_report_takes_the_engines_figures():
    engine = Engine.from_config(EngineConfig(model="river-br-lr", labels=("a", "b")))
    for i in range(40):
        engine.score(FeatureEvent(str(i), {"x": float(i % 2)}), now=float(i))
        engine.learn(engine.join(LabelEvent(str(i), frozenset({"ab"[i % 2]})), now=float(i)))
    _, skeleton = _registry(LabelChange("add", "a"), LabelChange("add", "b")).apply(
        LabelChange("merge", "a", into="b"))
    report = impact_report(skeleton, engine.status())
    per_label = engine.status()["metrics"]["per_label"]
    assert report["learned"] == 40 and set(report["impact"]) == {"a", "b"}
    assert report["impact"]["a"]["support"] == per_label["a"]["support"] == 20
    assert report["impact"]["a"]["f1"] == per_label["a"]["f1"]
    assert report["impact"]["b"]["known"] and report["change"]["op"] == "merge"
    assert orjson.loads(orjson.dumps(report)) == report


def test_a_new_merge_target_starts_from_the_sources_learner():
    model = make_model("river-br-lr")
    for i in range(30):
        model.learn_one({"x": float(i % 2)}, {"a": bool(i % 2)})
    assert merge_label_state(model, None, "a", "b")
    probe = model.predict_proba_one({"x": 1.0})
    assert probe["b"] == probe["a"]
    assert not merge_label_state(model, None, "missing", "c")


def test_the_registry_pickles():
    registry = _registry(LabelChange("add", "a"))
    assert pickle.loads(pickle.dumps(registry))["a"] == registry["a"]


# ------------------------------------------------------------------ through the broker


def test_changes_and_forget_requests_round_trip_through_the_topic(service_settings):
    publish_change(service_settings, LabelChange("add", "spam", definition="bulk", principal="alice"))
    publish_change(service_settings, LabelChange("add", "junk", principal="alice"))
    registry, impact = publish_change(service_settings, LabelChange("merge", "junk", into="spam", principal="bob"),
                                      key=b"k")
    assert impact["labels"] == ["junk", "spam"]
    read, forgets = read_registry(service_settings)
    assert {name: read[name] for name in read.records} == registry.records
    assert read["junk"].history[-1]["principal"] == "bob" and read["junk"].history[-1]["signature"]
    assert publish_forget(service_settings, ["e1", "e2"], principal="dpo") == []
    assert read_registry(service_settings)[1] == ["e1", "e2"]


def test_the_labels_commands(service_settings, capsys):
    parser = argparse.ArgumentParser()
    labels_cli.add_parsers(parser.add_subparsers())
    common = ["--broker", service_settings.bootstrap, "--topic-prefix", service_settings.topic_prefix]

    def run(*argv: str) -> int:
        args = parser.parse_args([argv[0], *argv[1:], *common] if argv[0] == "forget" else
                                 ["labels", argv[0], *argv[1:], *common])
        return args.run(args)

    assert run("add", "spam", "--definition", "unsolicited bulk mail", "--principal", "alice") == 0
    assert run("add", "junk") == 0
    assert run("merge", "junk", "--into", "spam") == 0
    assert run("deprecate", "spam") == 0
    assert run("forget", "e7") == 0
    capsys.readouterr()
    assert run("list") == 0
    listing = capsys.readouterr().out
    assert "merged into spam" in listing and "deprecated" in listing and "1 forget request(s) pending" in listing
    assert run("show", "spam") == 0
    shown = orjson.loads(capsys.readouterr().out)
    assert [h["op"] for h in shown["history"]] == ["add", "merge", "deprecate"]
    assert shown["history"][0]["principal"] == "alice" and shown["version"] == 3
    assert run("show", "nope") == 1


def test_registry_records_validate_against_the_topic_schema(service_settings):
    publish_change(service_settings, LabelChange("add", "a", definition="d"))
    publish_forget(service_settings, ["e1"])
    schema = load_specs()["label-registry"].schema

    async def read():
        async with TopicReader(service_settings, "label-registry") as reader:
            return await reader.read_to_end()

    records = asyncio.run(read())
    assert len(records) == 2
    for _, _, value in records:
        assert validate(value, schema) == []


def test_the_labels_command_signs_with_the_configured_key(service_settings, monkeypatch):
    monkeypatch.setenv("STREAM_MLC_REGISTRY_KEY", "s3cret")
    parser = argparse.ArgumentParser()
    labels_cli.add_parsers(parser.add_subparsers())
    args = parser.parse_args(["labels", "add", "spam", "--principal", "alice", "--broker", service_settings.bootstrap,
                              "--topic-prefix", service_settings.topic_prefix])
    assert args.run(args) == 0
    record = read_registry(service_settings)[0]["spam"].to_wire()
    assert "spam" in LabelRegistry().follow(record, ChangePolicy(frozenset({"alice"}), b"s3cret"))
    with pytest.raises(UnauthorizedChangeError):
        LabelRegistry().follow(record, ChangePolicy(key=b"another key"))


def test_a_follower_reads_the_backlog_then_every_later_record_once(service_settings):
    from stream_mlc.service.registry import RegistryFollower

    async def follow() -> tuple[list, list]:
        async with RegistryFollower(service_settings) as follower:
            backlog = await follower.backlog()
            later: list = []
            # The tools run their own event loop: from here, in a thread.
            await asyncio.to_thread(publish_change, service_settings, LabelChange("add", "b"))
            await asyncio.to_thread(publish_forget, service_settings, ["e9"])
            for _ in range(120):  # at most a minute: the records are there long before
                if len(later) >= 2:
                    break
                later += await follower.poll(0.5)
            return backlog, later

    publish_change(service_settings, LabelChange("add", "a"))
    backlog, later = asyncio.run(follow())
    assert [key for key, _ in backlog] == [b"a"]
    assert [key for key, _ in later] == [b"b", b"forget/e9"]
    assert orjson.loads(later[0][1])["name"] == "b"
