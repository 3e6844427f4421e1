"""Dead-letter replay against a real (embedded) broker and a worker process."""

from __future__ import annotations

import asyncio
import base64

import orjson
from kafka import KafkaProducer

from stream_mlc.service.deadletter import replay_deadletters
from stream_mlc.service.reader import TopicReader, wait_until

BAD_FEATURES = [
    (b"d1", b"not json"),
    (b"d2", b"\xff\xfe\x00garbage"),                             # not UTF-8: kept as base64
    (b"d3", b'{"id": "d3", "features": {"a": null}}'),            # null is no feature value
    (None, b'{"features": {"a": 1}}'),                           # no key, no id
    (b"d5", b'{"id": "d5", "features": {"\xc3": 1}}'),            # invalid UTF-8 inside JSON
]
BAD_LABELS = [(b"l1", b'{"id": "l1", "labels": [1]}')]
GOOD = [(f"g{i}".encode(), orjson.dumps({"id": f"g{i}", "features": {"a": i, "b": 1.0}})) for i in range(20)]


def raw_records(settings, *topics) -> list[tuple[str, bytes | None, bytes]]:
    async def read():
        async with TopicReader(settings, *topics, decode=lambda value: value) as reader:
            return await reader.drain(idle_s=1.0)

    return asyncio.run(read())


def wait_deadlettered(settings, worker, count: int, predictions: int = 0) -> dict:
    def done(state):
        assert worker.process.poll() is None, f"worker died; see {worker.log_path}"
        counts = state["status"].get("counts", {})
        return state["predictions"] >= predictions and counts.get("deadlettered", 0) >= count

    return asyncio.run(wait_until(settings, done, timeout_s=60))


def test_replay_sends_the_exact_payloads_back_and_they_are_dead_lettered_again(service_settings, start_worker):
    features, labels = service_settings.topic("features"), service_settings.topic("labels")
    producer = KafkaProducer(bootstrap_servers=service_settings.bootstrap)
    for i, (key, value) in enumerate(GOOD):
        producer.send(features, key=key, value=value)
        if i < len(BAD_FEATURES):
            producer.send(features, key=BAD_FEATURES[i][0], value=BAD_FEATURES[i][1])
    for key, value in BAD_LABELS:
        producer.send(labels, key=key, value=value)
    producer.flush()
    producer.close()
    n_bad = len(BAD_FEATURES) + len(BAD_LABELS)

    # Nothing to replay yet: an empty dead-letter topic replays nothing (and returns).
    assert replay_deadletters(service_settings) == {}

    worker = start_worker(service_settings)
    state = wait_deadlettered(service_settings, worker, n_bad, predictions=len(GOOD))
    assert state["status"]["counts"]["deadlettered"] == n_bad
    dead = [orjson.loads(value) for _, _, value in raw_records(service_settings, "deadletter")]
    assert {d["payload_encoding"] for d in dead} == {"utf-8", "base64"}

    # A dry run counts, sends nothing.
    assert replay_deadletters(service_settings, dry_run=True) == {features: len(BAD_FEATURES), labels: 1}
    assert replay_deadletters(service_settings, topic_filter="labels", dry_run=True) == {labels: 1}

    # Replay only the features (the short name under the prefix works, as does the full one).
    assert replay_deadletters(service_settings, topic_filter="features") == {features: len(BAD_FEATURES)}

    # The exact original bytes (the non-UTF-8 ones too) and keys are on the features topic twice.
    on_features = [(key, value) for _, key, value in raw_records(service_settings, "features")]
    for key, value in BAD_FEATURES:
        assert on_features.count((key, value)) == 2, (key, value)
    assert len(on_features) == len(GOOD) + 2 * len(BAD_FEATURES)
    on_labels = [(key, value) for _, key, value in raw_records(service_settings, "labels")]
    assert on_labels == BAD_LABELS  # filtered out: not sent again

    # They still break the contract: the worker dead-letters them again, and keeps running.
    state = wait_deadlettered(service_settings, worker, n_bad + len(BAD_FEATURES))
    assert state["status"]["counts"]["deadlettered"] == n_bad + len(BAD_FEATURES)
    assert state["status"]["counts"]["scored"] == len(GOOD)

    dead = [orjson.loads(value) for _, _, value in raw_records(service_settings, "deadletter")]
    assert len(dead) == n_bad + len(BAD_FEATURES)
    payloads = [
        base64.b64decode(d["payload"]) if d["payload_encoding"] == "base64" else d["payload"].encode()
        for d in dead if d["topic"] == features
    ]
    for _, value in BAD_FEATURES:
        assert payloads.count(value) == 2, value

    # A full replay now sends every entry, the second generation included (the log is not emptied).
    assert replay_deadletters(service_settings, dry_run=True) == {features: 2 * len(BAD_FEATURES), labels: 1}
    assert worker.process.poll() is None
