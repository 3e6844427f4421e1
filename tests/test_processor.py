"""The one dispatch and its roles, without a broker: every record ends somewhere, and nothing is lost.

An exception is injected in each stage (decode, score, join, learn, forward); the failing
record is dead-lettered with the reason and every other record is handled as if nothing
had happened. The roles give the same model as a plain loop over the engine.
"""

from __future__ import annotations

import hashlib

import orjson
import pytest

from stream_mlc import bootstrap
from stream_mlc.core.engine import Engine, EngineConfig
from stream_mlc.core.events import FeatureEvent, LabelEvent
from stream_mlc.core.processor import (
    FEATURES,
    LABELS,
    Dispatch,
    ErrorPolicy,
    Limits,
    Outcome,
    ProcessingError,
    Record,
)
from stream_mlc.core.roles import EventTimeProcessor, LearnTopicProcessor, Scorer, pack
from stream_mlc.io.datasets import open_dataset
from stream_mlc.service.producer import feature_message, label_message
from stream_mlc.settings import Settings
from stream_mlc.wire import decode_features, unpack_records

KINDS = {"f": FEATURES, "l": LABELS}


def stream(n: int = 120, delay: int = 10) -> list[Record]:
    """Yeast as a worker reads it: feature i at time 2i, its labels ``delay`` events later."""
    records = []
    for i, row in enumerate(open_dataset("yeast", limit=n)):
        key = row.id.encode()
        records.append(Record("f", 0, i, 2.0 * i, key, feature_message(row)))
        records.append(Record("l", 0, i, 2.0 * (i + delay) + 1, key, label_message(row)))
    return records


def engine() -> Engine:
    return bootstrap.build_engine(EngineConfig(model="native-mlc", labels=tuple(open_dataset("yeast").label_names)))


def run(records: list[Record], dispatch: Dispatch) -> Outcome:
    processor = EventTimeProcessor(dispatch, idle_s=0.0)
    processor.accept(records, now=0.0)
    return processor.release_all(wall_now=0.0)


def sinks(out: Outcome) -> dict[str, int]:
    counts: dict[str, int] = {}
    for send in out.sends:
        counts[send.sink] = counts.get(send.sink, 0) + 1
    return counts


def test_the_processor_learns_exactly_what_a_plain_loop_over_the_engine_learns():
    records = stream()
    dispatch = Dispatch(engine(), KINDS)
    out = run(records, dispatch)
    reference = engine()
    for record in sorted(records, key=lambda r: (r.timestamp, KINDS[r.topic])):
        if record.topic == "f":
            _, joined = reference.score(decode_features(record.key, record.value), record.timestamp)
        else:
            event = orjson.loads(record.value)
            joined = reference.join(LabelEvent(event["id"], frozenset(event["labels"])), record.timestamp)
        if joined is not None:
            reference.learn(joined)
    assert sinks(out)["predictions"] == sinks(out)["training"] == 120
    assert set(sinks(out)) <= {"predictions", "training", "alerts", "audit"}
    assert out.counts["scored"] == out.counts["joined"] == 120
    probe = decode_features(records[0].key, records[0].value).features
    assert dispatch.engine.predict(probe) == reference.predict(probe)
    assert dispatch.engine.metrics.report() == reference.metrics.report()


class Boom(Exception):
    """An injected bug."""


@pytest.mark.parametrize("stage", ["score", "join", "learn"])
def test_an_exception_in_a_stage_dead_letters_that_record_and_the_rest_goes_on(monkeypatch, stage):
    records = stream(60)
    dispatch = Dispatch(engine(), KINDS)
    victim = "yeast-18"
    method = {"score": "score", "join": "join", "learn": "learn"}[stage]
    original = getattr(dispatch.engine, method)

    def failing(event, *args):
        if getattr(event, "id", None) == victim:
            raise Boom(f"injected in {stage}")
        return original(event, *args)

    monkeypatch.setattr(dispatch.engine, method, failing)
    out = run(records, dispatch)
    letters = [orjson.loads(send.value) for send in out.sends if send.sink == "deadletter"]
    assert len(letters) == 1 and f"internal error in {stage}: Boom: injected in {stage}" == letters[0]["error"]
    assert (letters[0]["topic"], letters[0]["offset"]) == ("f" if stage == "score" else "l", 18)
    assert out.counts["scored"] == (59 if stage == "score" else 60)
    assert out.counts["joined"] == 59
    assert sinks(out)["training"] == 59


def test_a_policy_that_refuses_stops_before_the_record_counts_as_processed(monkeypatch):
    dispatch = Dispatch(engine(), KINDS, ErrorPolicy(on_error=lambda record, stage, error: False))
    processor = EventTimeProcessor(dispatch, idle_s=0.0)
    bad = Record("f", 0, 0, 0.0, b"x", b"{not json")
    processor.accept([bad], now=0.0)
    with pytest.raises(ProcessingError, match="decode failed on f\\[0\\]@0"):
        processor.release_all(wall_now=0.0)
    assert processor.processed == {}


def test_a_message_over_the_size_limit_is_dead_lettered_whole_or_cut_to_fit_with_its_digest():
    policy = ErrorPolicy(Limits(max_message_bytes=1_000_000, max_dead_letter_bytes=900_000))
    big = b'{"id": "big", "features": {"x": 1}, "pad": "' + b"y" * 1_250_000 + b'"}'
    out = run([Record("f", 3, 41, 0.0, b"big", big)], Dispatch(engine(), KINDS, policy))
    (send,) = out.sends
    letter = orjson.loads(send.value)
    assert len(send.value) <= 900_000 and send.key == b"big"
    assert (letter["topic"], letter["partition"], letter["offset"]) == ("f", 3, 41)
    assert letter["payload_truncated"] and letter["payload_bytes"] == len(big)
    assert letter["payload_sha256"] == hashlib.sha256(big).hexdigest()
    assert "exceeds max_message_bytes" in letter["error"]


def test_a_dead_letter_written_again_after_a_crash_names_the_same_input_message():
    records = [Record("f", 1, 7, 0.0, b"e", b"[1, 2]")]
    first, again = (run(records, Dispatch(engine(), KINDS)) for _ in range(2))
    assert first.sends == again.sends


def test_the_scorer_forwards_in_input_order_and_dead_letters_what_it_cannot_score():
    snapshot = engine().snapshot()
    records = stream(30)[:40] + [Record("f", 0, 99, 500.0, b"bad", b"null")]
    out = Scorer(KINDS, snapshot=snapshot).handle(records, wall_now=1.0)
    forwarded = [record for send in out.sends if send.sink == "learn" for record in unpack_records(send.value)]
    assert [(r["src"][0], r["src"][2]) for r in forwarded] == [(r.topic, r.offset) for r in records[:40]]
    assert sinks(out)["deadletter"] == 1 and out.counts["scored"] == 20 and out.counts["labels"] == 20


def test_a_learner_record_that_fails_is_dead_lettered_as_the_input_message_it_came_from(monkeypatch):
    snapshot = engine().snapshot()
    scored = Scorer(KINDS, snapshot=snapshot).handle(stream(20), wall_now=1.0)
    learn = [Record("mlc.learn", 0, i, 0.0, None, send.value)
             for i, send in enumerate(s for s in scored.sends if s.sink == "learn")]
    learner = LearnTopicProcessor(Dispatch(engine(), KINDS), ("mlc.learn", 0))
    original = learner.engine.learn
    monkeypatch.setattr(learner.engine, "learn", lambda joined: (_ for _ in ()).throw(Boom("bad"))
                        if joined.id == "yeast-5" else original(joined))
    # The learner learns a message's examples together: the model's step refuses that one.
    targets = learner.engine._targets
    monkeypatch.setattr(learner.engine, "_targets", lambda joined: (_ for _ in ()).throw(Boom("bad"))
                        if joined.id == "yeast-5" else targets(joined))
    out = learner.handle(learn, wall_now=2.0)
    (letter,) = [orjson.loads(send.value) for send in out.sends if send.sink == "deadletter"]
    assert (letter["topic"], letter["partition"]) == ("l", 0)
    assert orjson.loads(letter["payload"])["id"] == "yeast-5"  # replayable: the label event itself
    assert out.counts["joined"] == 19 and learner.processed == len(learn)


def test_the_learner_skips_what_its_restored_state_reflects():
    snapshot = engine().snapshot()
    scored = Scorer(KINDS, snapshot=snapshot).handle(stream(10), wall_now=1.0)
    messages = pack([orjson.dumps(r) for s in scored.sends if s.sink == "learn" for r in unpack_records(s.value)],
                    size=2000)
    learn = [Record("mlc.learn", 0, i, 0.0, None, value) for i, value in enumerate(messages)]
    whole = LearnTopicProcessor(Dispatch(engine(), KINDS), ("mlc.learn", 0))
    whole.handle(learn, wall_now=0.0)
    resumed = LearnTopicProcessor(Dispatch(engine(), KINDS), ("mlc.learn", 0))
    resumed.handle(learn[:2], wall_now=0.0)
    resumed.handle(learn, wall_now=0.0)  # redelivered from the start: the first two are skipped
    assert resumed.engine.learned == whole.engine.learned == 10
    assert resumed.processed == len(learn)


def test_bootstrap_builds_every_role_from_one_settings_object():
    settings = Settings.from_env(environ={}, labels="a,b", model="native-lr")
    single = bootstrap.single_processor(settings)
    assert set(single.dispatch.kinds) == {"mlc.features", "mlc.labels"}
    assert single.engine.labels == ["a", "b"]
    checkpoint = single.checkpoint()
    checkpoint.offsets = {"mlc.learn": {0: 12}}
    learner = bootstrap.learner(settings, checkpoint)
    assert learner.processed == 12 and learner.engine is single.engine
    assert bootstrap.scorer(settings, single.engine.snapshot()).snapshot.version == 0
    assert FeatureEvent  # the events the roles take


def test_a_learner_batch_whose_bookkeeping_fails_is_dead_lettered_and_the_learner_goes_on(monkeypatch):
    snapshot = engine().snapshot()
    scored = Scorer(KINDS, snapshot=snapshot).handle(stream(40), wall_now=1.0)
    messages = pack([orjson.dumps(r) for s in scored.sends if s.sink == "learn" for r in unpack_records(s.value)],
                    size=2000)
    learn = [Record("mlc.learn", 0, i, 0.0, None, value) for i, value in enumerate(messages)]
    learner = LearnTopicProcessor(Dispatch(engine(), KINDS), ("mlc.learn", 0))
    update_batch, calls = learner.engine.policy.update_batch, []

    def second_batch_breaks(labels, events):
        calls.append(len(events))
        if len(calls) == 2:
            raise Boom("bookkeeping")
        update_batch(labels, events)

    monkeypatch.setattr(learner.engine.policy, "update_batch", second_batch_breaks)
    out = learner.handle(learn, wall_now=2.0)
    letters = [orjson.loads(send.value) for send in out.sends if send.sink == "deadletter"]
    assert len(calls) > 2 and len(letters) == calls[1]  # that batch's label events, each with the reason
    assert all("bookkeeping" in letter["error"] for letter in letters)
    assert out.counts["joined"] + len(letters) == 40 and learner.processed == len(learn)
