"""Hostile input against a running worker: whatever arrives, every message is accounted for.

A deterministic batch of hostile messages (hand-written edge cases plus a fixed set drawn by
Hypothesis: arbitrary bytes, JSON of every type, event-shaped JSON with wrong fields, odd
numbers, non-UTF-8 keys) goes to the features and labels topics, interleaved with good
Yeast events and their labels. A message may be valid by accident: each one is classified
with the wire decoders first, and the valid ones are expected to be scored or joined like
the good ones. Then, with a real worker on the embedded broker:

- the worker is still running;
- every invalid message is on the dead-letter topic, under its topic and key, with a reason
  and its exact original bytes;
- every valid feature event was predicted, every good example learned;
- scored + labels + deadlettered in the worker's status is the number of messages sent.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections import Counter

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kafka import KafkaProducer

from stream_mlc.errors import DecodeError
from stream_mlc.io.datasets import open_dataset
from stream_mlc.service.producer import feature_message, label_message
from stream_mlc.service.reader import TopicReader, wait_until
from stream_mlc.wire import decode_features, decode_labels

MAX_BYTES = 50_000
MAX_LABELS = 1_000
N_GOOD = 100
LABEL_DELAY = 5
FEATURES, LABELS = "features", "labels"

Message = tuple[str, "bytes | None", "bytes | None"]  # (topic short name, key, value)

# -- what Hypothesis draws -------------------------------------------------------------------------
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
scalars = (
    st.none() | st.booleans() | text
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=10
)
number_literals = st.sampled_from(
    [b"1e308", b"-1e308", b"1e309", b"-1e309", b"1" * 400, b"-" + b"9" * 400, b"NaN", b"Infinity", b"-Infinity",
     b"1e-400", b"-0", b"0x10", b"1.", b".5", b"+1", b"01", b"1e", b"true", b"null", b'"1"', b"[]", b"{}"]
)
ids = text | st.sampled_from(["", "x" * 257, "e\u0000", "\u00e9t\u00e9", "\U0001f600"])


@st.composite
def hostile_message(draw) -> Message:
    topic = draw(st.sampled_from([FEATURES, LABELS]))
    kind = draw(st.sampled_from(["bytes", "json", "features", "labels", "literal"]))
    event_id = draw(ids)
    key = draw(st.sampled_from(["id", "none", "bytes"]))
    key = {"id": event_id.encode("utf-8"), "none": None, "bytes": draw(st.binary(max_size=16))}[key]
    if kind == "bytes":
        return topic, key, draw(st.binary(max_size=300))
    if kind == "json":
        return topic, key, orjson.dumps(draw(json_values))
    if kind == "literal":
        name = b"features" if topic == FEATURES else b"labels"
        inner = b'{"a": %s}' % draw(number_literals) if topic == FEATURES else b"[%s]" % draw(number_literals)
        return topic, key, b'{"id": %s, "%s": %s}' % (orjson.dumps(event_id), name, inner)
    doc = {"id": draw(st.one_of(st.just(event_id), json_values))}
    if kind == "features":
        doc["features"] = draw(st.dictionaries(text, json_values, max_size=4) | json_values)
    else:
        doc["labels"] = draw(st.lists(json_values, max_size=4) | json_values)
        if draw(st.booleans()):
            doc["observed"] = draw(st.lists(text, max_size=3) | json_values)
    if draw(st.booleans()):
        doc["ts"] = draw(json_values)
    return topic, key, orjson.dumps(doc)


def drawn_messages(n: int = 40) -> list[Message]:
    """A fixed list of ``n`` hostile messages: the same on every run (derandomized, no database)."""
    found: list[Message] = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(hostile_message())
    def collect(message):
        found.append(message)

    collect()
    return found


def handwritten_messages() -> list[Message]:
    def feature_doc(event_id, features, **extra) -> bytes:
        return orjson.dumps({"id": event_id, "features": features, **extra})

    nested = b"[" * 1000 + b"]" * 1000
    too_deep = b"[" * 100_000 + b"]" * 100_000
    padded = feature_doc("h-exact", {"a": 1.0})
    at_limit = padded + b" " * (MAX_BYTES - len(padded))  # exactly max_message_bytes: accepted
    over = feature_doc("h-over", {f"f{i}": i for i in range(5000)})  # ~62 KB: refused unparsed
    assert len(at_limit) == MAX_BYTES and MAX_BYTES < len(over) < 70_000
    many_labels = orjson.dumps({"id": "h-many", "labels": [f"new{i}" for i in range(MAX_LABELS + 500)]})
    assert len(many_labels) < MAX_BYTES
    return [
        # Features: numbers at and beyond the float range, literals JSON does not have.
        (FEATURES, b"h-big", feature_doc("h-big", {"a": 1e308, "b": -1e308, "c": 5e-324})),  # valid
        (FEATURES, b"h-int", b'{"id": "h-int", "features": {"a": 18446744073709551615}}'),    # valid
        (FEATURES, b"h-huge", b'{"id": "h-huge", "features": {"a": 1' + b"0" * 400 + b"}}"),
        (FEATURES, b"h-inf", b'{"id": "h-inf", "features": {"a": 1e309}}'),
        (FEATURES, b"h-nan", b'{"id": "h-nan", "features": {"a": NaN}}'),
        (FEATURES, b"h-infinity", b'{"id": "h-infinity", "features": {"a": Infinity}}'),
        (FEATURES, b"h-minf", b'{"id": "h-minf", "features": {"a": -Infinity}}'),
        (FEATURES, b"h-str", b'{"id": "h-str", "features": {"a": "1.0"}}'),
        (FEATURES, b"h-bool", b'{"id": "h-bool", "features": {"a": false}}'),
        (FEATURES, b"h-null", b'{"id": "h-null", "features": {"a": null}}'),
        (FEATURES, b"h-ts", feature_doc("h-ts", {"a": 1.0}, ts="yesterday")),
        (FEATURES, b"h-ts-big", feature_doc("h-ts-big", {"a": 1.0}, ts=1e308)),              # valid
        (FEATURES, b"h-empty-name", feature_doc("h-empty-name", {"": 1.0})),                 # valid
        (FEATURES, b"h-wide", feature_doc("h-wide", {f"w{i}": 1.0 for i in range(3500)})),   # valid, wide
        # Nesting: within orjson's depth limit (so the decoder must describe it), and beyond.
        (FEATURES, b"h-nested", b'{"id": "h-nested", "features": {"a": ' + nested + b"}}"),
        (FEATURES, b"h-nested-f", b'{"id": "h-nested-f", "features": ' + nested + b"}"),
        (FEATURES, b"h-deep", b'{"id": "h-deep", "features": {"a": ' + too_deep[:40_000] + b"}}"),
        (LABELS, b"h-nested-l", b'{"id": "h-nested-l", "labels": ' + nested + b"}"),
        (LABELS, b"h-nested-o", b'{"id": "h-nested-o", "labels": [], "observed": [' + nested + b"]}"),
        # Size: exactly at the limit, and just over it.
        (FEATURES, b"h-exact", at_limit),                                                    # valid
        (FEATURES, b"h-over", over),
        (LABELS, b"h-over-l", orjson.dumps({"id": "h-over-l", "labels": ["x" * 60_000]})),
        # Several megabytes, several in a row: dead-lettered cut to fit, with size and digest.
        *[(FEATURES, f"h-mb{i}".encode(), feature_doc(f"h-mb{i}", {"a": 1.0}, pad="m" * 2_500_000))
          for i in range(3)],
        (LABELS, b"h-mb-l", orjson.dumps({"id": "h-mb-l", "labels": ["y" * 3_000_000]})),
        # No value, empty value, not UTF-8.
        (FEATURES, b"h-none", None),
        (LABELS, b"h-none-l", None),
        (FEATURES, b"h-empty", b""),
        (FEATURES, b"\xff\xfe\xfd", b'{"id": "h-key", "features": {"a": 1}}'),              # key not its id
        (LABELS, b"\xc3\x28", b'{"id": "h-key-l", "labels": []}'),
        (FEATURES, b"h-bad-utf8", b'{"id": "h-\xff\xfe", "features": {"a": 1}}'),
        (LABELS, b"h-bad-utf8-l", b'{"id": "h-bad-utf8-l", "labels": ["\xc3\x28"]}'),
        (FEATURES, b"\xff" * 300, b"\xff" * 300),
        (FEATURES, None, b'{"id": "h-surrogate-\\ud800", "features": {}}'),
        # Ids.
        (FEATURES, None, feature_doc("x" * 257, {"a": 1.0})),
        (FEATURES, None, feature_doc("", {"a": 1.0})),
        (FEATURES, None, b'{"id": 12, "features": {"a": 1}}'),
        (FEATURES, b"h-nul\x00", feature_doc("h-nul\x00", {"a": 1.0})),                      # valid
        # Labels that are not a list of non-empty strings; more new labels than allowed.
        (LABELS, b"h-l1", b'{"id": "h-l1", "labels": [1, 2]}'),
        (LABELS, b"h-l2", b'{"id": "h-l2", "labels": [null]}'),
        (LABELS, b"h-l3", b'{"id": "h-l3", "labels": [["a"]]}'),
        (LABELS, b"h-l4", b'{"id": "h-l4", "labels": [{"a": 1}]}'),
        (LABELS, b"h-l5", b'{"id": "h-l5", "labels": [true]}'),
        (LABELS, b"h-l6", b'{"id": "h-l6", "labels": [""]}'),
        (LABELS, b"h-l7", b'{"id": "h-l7", "labels": "abc"}'),
        (LABELS, b"h-l8", b'{"id": "h-l8", "labels": ["a"], "observed": "a"}'),
        (LABELS, b"h-l9", b'{"id": "h-l9", "labels": ["a"], "ts": NaN}'),
        (LABELS, b"h-many", many_labels),
        (LABELS, b"h-early", b'{"id": "h-early", "labels": ["z"]}'),                        # valid, never joined
        # Not an object at all.
        (FEATURES, b"h-arr", b"[]"),
        (FEATURES, b"h-str2", b'"features"'),
        (LABELS, b"h-num", b"1e308"),
        (LABELS, b"h-dup", b'{"id": "h-dup", "labels": []} {"id": "h-dup", "labels": []}'),
    ]


def classify(topic: str, key: bytes | None, value: bytes | None) -> str:
    """``"feature"`` or ``"label"`` when the message follows the contract, else ``"invalid"``."""
    try:
        if topic == FEATURES:
            decode_features(key, value, MAX_BYTES)
            return "feature"
        event = decode_labels(key, value, MAX_BYTES)
    except DecodeError:
        return "invalid"
    except RecursionError:  # a decoder bug, but the message breaks the contract all the same
        return "invalid"
    if len(event.labels | (event.observed or frozenset())) > MAX_LABELS:
        return "invalid"  # refused by the engine's label budget
    return "label"


def event_id(topic: str, key: bytes | None, value: bytes) -> str:
    decode = decode_features if topic == FEATURES else decode_labels
    return decode(key, value, MAX_BYTES).id


def fingerprint(payload: bytes):
    """A payload as a dead letter keeps it: whole, or (over a broker's message size) its digest."""
    return ("sha256", hashlib.sha256(payload).hexdigest(), len(payload)) if len(payload) > 1_000_000 else payload


def lettered_payload(entry: dict):
    if entry.get("payload_truncated"):
        return ("sha256", entry["payload_sha256"], entry["payload_bytes"])
    return base64.b64decode(entry["payload"]) if entry["payload_encoding"] == "base64" else entry["payload"].encode()


def read_raw(settings, *topics) -> list[tuple[str, bytes | None, bytes]]:
    async def read():
        async with TopicReader(settings, *topics, decode=lambda value: value) as reader:
            return await reader.drain(idle_s=1.0)

    return asyncio.run(read())


def test_hostile_messages_are_dead_lettered_and_the_rest_is_processed(service_settings, start_worker):
    s = service_settings.replace(max_message_bytes=MAX_BYTES, max_labels=MAX_LABELS)
    hostile = handwritten_messages() + drawn_messages()
    good = list(open_dataset("yeast"))[:N_GOOD]

    # Interleave: the good features, each good label LABEL_DELAY events late, a hostile message every few.
    sent: list[Message] = []
    step = max(1, N_GOOD // len(hostile))
    queue = list(hostile)
    for i, record in enumerate(good):
        sent.append((FEATURES, record.id.encode(), feature_message(record)))
        if i >= LABEL_DELAY:
            late = good[i - LABEL_DELAY]
            sent.append((LABELS, late.id.encode(), label_message(late)))
        if i % step == 0 and queue:
            sent.append(queue.pop(0))
    sent += queue
    sent += [(LABELS, r.id.encode(), label_message(r)) for r in good[N_GOOD - LABEL_DELAY:]]

    producer = KafkaProducer(bootstrap_servers=s.bootstrap, linger_ms=5, max_request_size=16 * 1024 * 1024)
    for topic, key, value in sent:
        producer.send(s.topic(topic), key=key, value=value)
    producer.flush()
    producer.close()

    classified = [(topic, key, value, classify(topic, key, value)) for topic, key, value in sent]
    kinds = [kind for *_, kind in classified]
    valid_features = Counter(event_id(t, k, v) for t, k, v, kind in classified if kind == "feature")
    valid_labels = {event_id(t, k, v) for t, k, v, kind in classified if kind == "label"}
    invalid = Counter((s.topic(t), k, fingerprint(v or b"")) for t, k, v, kind in classified if kind == "invalid")
    n_features, n_labels, n_invalid = kinds.count("feature"), kinds.count("label"), kinds.count("invalid")
    to_learn = len(valid_labels & set(valid_features))
    assert n_invalid >= 60 and {r.id for r in good} <= set(valid_features)  # the batch is what we think

    worker = start_worker(s)

    def done(state):
        assert worker.process.poll() is None, f"worker died; see {worker.log_path}"
        log = worker.log_path.read_text(errors="replace")
        assert "Crashed reason=" not in log, f"the worker's agent crashed:\n{log[-3000:]}"
        counts = state["status"].get("counts", {})
        accounted = counts.get("scored", 0) + counts.get("labels", 0) + counts.get("deadlettered", 0)
        return (accounted >= len(sent) and state["predictions"] >= n_features
                and state["status"].get("learned", -1) >= to_learn)

    try:
        state = asyncio.run(wait_until(s, done, timeout_s=60))
    except TimeoutError as error:
        raise AssertionError(f"{error}; worker log: {worker.log_path.read_text()[-3000:]}") from None
    assert worker.process.poll() is None

    counts = state["status"]["counts"]
    assert (counts.get("scored", 0), counts.get("labels", 0), counts.get("deadlettered", 0)) == (
        n_features, n_labels, n_invalid)
    assert counts["scored"] + counts["labels"] + counts["deadlettered"] == len(sent)
    assert state["status"]["learned"] == to_learn

    out = read_raw(s, "predictions", "deadletter")
    predictions = [orjson.loads(v) for t, _, v in out if t == s.topic("predictions")]
    assert Counter(p["id"] for p in predictions) == valid_features
    # The hostile input did not poison the model: the good events' scores are numbers (NaN is null).
    good_ids = {r.id for r in good}
    assert all(isinstance(score, float) for p in predictions if p["id"] in good_ids for score in p["scores"].values())

    dead = [(key, orjson.loads(value)) for topic, key, value in out if topic == s.topic("deadletter")]
    assert all(entry["error"] for _, entry in dead)
    lettered = Counter((entry["topic"], key, lettered_payload(entry)) for key, entry in dead)
    assert lettered == invalid
    assert sum(1 for _, entry in dead if entry.get("payload_truncated")) == 4  # the multi-megabyte ones
    assert worker.process.poll() is None
