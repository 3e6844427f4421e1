"""The wire contract: decode input messages into core events, encode outputs as JSON.

Decoding never lets a bad message through and never raises anything but
:class:`~stream_mlc.errors.DecodeError`, whose text is the dead-letter reason.
"""

from __future__ import annotations

import base64
import hashlib
import math
from typing import Any, NamedTuple

import orjson

from stream_mlc.core.events import FeatureEvent, JoinedExample, LabelEvent, Prediction
from stream_mlc.errors import DecodeError

MAX_ID_LENGTH = 256
#: Larger magnitudes are refused: one such value, once learned, turns a linear model's
#: every later score into NaN (seen with 1e308).
MAX_ABS_VALUE = 1e15


def decode_features(
    key: bytes | None, value: bytes | None, max_bytes: int = 1_000_000, default_ts: float | None = None
) -> FeatureEvent:
    """A feature event from a ``mlc.features`` message.

    A feature value is a number (kept as a float), a boolean, a string (a category, or free
    text for the fields the encoder is told are text) or a list of strings (tags): the raw
    values that :class:`~stream_mlc.core.features.FeatureEncoder` turns into numbers.

    >>> decode_features(b"e1", b'{"id": "e1", "features": {"a": 1, "b": 0.5}}')
    FeatureEvent(id='e1', features={'a': 1.0, 'b': 0.5}, ts=None)
    >>> decode_features(None, b'{"id": "e1", "features": {"c": "FR", "t": ["x", "y"], "v": true}}').features
    {'c': 'FR', 't': ['x', 'y'], 'v': True}
    >>> decode_features(b"e1", b'{"id": "e1", "features": {"a": null}}')
    Traceback (most recent call last):
    ...
    stream_mlc.errors.DecodeError: feature 'a' is null: a value must be a number, boolean, string or list of strings
    """
    doc = _load_object(value, max_bytes)
    event_id = _event_id(doc, key)
    raw = doc.get("features")
    if not isinstance(raw, dict):
        raise DecodeError(f"'features' must be an object of name: value, got {_type(raw)}")
    features = {}
    low, high = -MAX_ABS_VALUE, MAX_ABS_VALUE
    for name, number in raw.items():
        # Fast path for the common case (orjson never yields NaN or Infinity: a NaN would
        # fail both comparisons and take the slow path, which says what is wrong).
        kind = type(number)
        if (kind is float or kind is int) and low <= number <= high:
            features[name] = float(number)
        else:
            features[name] = _feature_value(number, name)
    return FeatureEvent(event_id, features, _ts(doc, default_ts))


_VALUE_TYPES = "a number, boolean, string or list of strings"


def _feature_value(value: Any, name: str) -> float | bool | str | list[str]:
    """A non-fast-path feature value, checked: a category, tags, a boolean, or a number."""
    kind = type(value)
    if kind is str or kind is bool:
        return value
    if kind is list:
        for item in value:
            if type(item) is not str:
                raise DecodeError(f"feature {name!r} is a list with a non-string item {_preview(item)}: "
                                  f"tags must be strings")
        return value
    if value is None:
        raise DecodeError(f"feature {name!r} is null: a value must be {_VALUE_TYPES}")
    if kind is dict:
        raise DecodeError(f"feature {name!r} is a nested object {_preview(value)}: a value must be {_VALUE_TYPES}")
    return _finite(value, f"feature {name!r}")


def decode_labels(
    key: bytes | None, value: bytes | None, max_bytes: int = 1_000_000, default_ts: float | None = None
) -> LabelEvent:
    """A label event from a ``mlc.labels`` message.

    >>> event = decode_labels(None, b'{"id": "e1", "labels": ["a"], "observed": ["b"]}')
    >>> event.id, sorted(event.labels), sorted(event.observed)
    ('e1', ['a'], ['a', 'b'])
    """
    doc = _load_object(value, max_bytes)
    event_id = _event_id(doc, key)
    labels = _names(doc.get("labels"), "labels")
    observed = None
    if doc.get("observed") is not None:
        # A label said to be positive is known for the event, listed in `observed` or not.
        observed = _names(doc["observed"], "observed") | labels
    return LabelEvent(event_id, labels, observed, _ts(doc, default_ts), _annotator(doc), _confidence(doc))


def _annotator(doc: dict) -> str:
    annotator = doc.get("annotator", "")
    if not isinstance(annotator, str):
        raise DecodeError(f"'annotator' must be a string, got {_preview(annotator)}")
    return annotator


def _confidence(doc: dict) -> dict[str, float] | None:
    raw = doc.get("confidence")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise DecodeError(f"'confidence' must be an object of label: number, got {_preview(raw)}")
    confidence = {name: _finite(value, f"confidence of {name!r}") for name, value in raw.items()}
    if any(not 0.0 <= value <= 1.0 for value in confidence.values()):
        raise DecodeError("'confidence' values must be in [0, 1]")
    return confidence


def encode_prediction(prediction: Prediction, ts: float, source: tuple[str, int, int] | None = None) -> bytes:
    """The ``mlc.predictions`` value; ``ts`` is when it is published (epoch seconds).

    ``scores`` are the calibrated probabilities; ``explanations`` and ``corrections`` are
    there when the worker explains predictions or label rules corrected the label set.
    ``source`` is the ``(topic, partition, offset)`` of the feature message (for audit).
    """
    doc = {
        "id": prediction.id,
        "labels": prediction.labels,
        "scores": prediction.scores,
        "thresholds": prediction.thresholds,
        "model_version": prediction.model_version,
        "ts": ts,
    }
    if source is not None:
        doc["source"] = source
    if prediction.explanations is not None:
        doc["explanations"] = {label: [[name, value] for name, value in top]
                               for label, top in prediction.explanations.items()}
    if prediction.corrections:
        doc["corrections"] = prediction.corrections
    return orjson.dumps(doc)


def encode_joined(example: JoinedExample, seq: int) -> bytes:
    """The ``mlc.training`` value; ``seq`` is the example's place in the learning order (from 1).

    A worker that resumes from a checkpoint learns again what it had learned after it, so
    the log may repeat a ``seq``: the last record of each ``seq`` is the one that counts.
    """
    return orjson.dumps(
        {
            "seq": seq,
            "id": example.id,
            "features": example.features,
            "labels": sorted(example.labels),
            "observed": None if example.observed is None else sorted(example.observed),
            "scores": example.scores,
            "predicted": example.predicted,
            "model_version": example.model_version,
            "feature_ts": example.feature_ts,
            "label_ts": example.label_ts,
            "raw_scores": example.raw_scores,
        }
    )


def decode_joined(value: bytes) -> JoinedExample:
    """A joined example from ``mlc.training`` (written by the service itself)."""
    doc = orjson.loads(value)
    observed = doc.get("observed")
    return JoinedExample(
        id=doc["id"],
        features=doc["features"],
        labels=frozenset(doc["labels"]),
        observed=None if observed is None else frozenset(observed),
        scores=doc["scores"],
        predicted=doc["predicted"],
        model_version=doc["model_version"],
        feature_ts=doc.get("feature_ts"),
        label_ts=doc.get("label_ts"),
        raw_scores=doc.get("raw_scores"),
    )


def encode_scored(event: FeatureEvent, prediction: Prediction, t: float, origin: tuple[str, int, int]) -> bytes:
    """One ``mlc.learn`` record of a scored event (scaled mode); ``t`` is its event time and
    ``origin`` the ``(topic, partition, offset)`` of the feature message it came from."""
    return orjson.dumps(
        {
            "kind": "scored",
            "id": event.id,
            "t": t,
            "src": origin,
            "features": event.features,
            "ts": event.ts,
            "scores": prediction.scores,
            "raw_scores": prediction.raw_scores,
            "predicted": prediction.labels,
            "model_version": prediction.model_version,
        }
    )


def encode_labels(event: LabelEvent, t: float, origin: tuple[str, int, int]) -> bytes:
    """One ``mlc.learn`` record of a label event (scaled mode); ``t`` is its event time and
    ``origin`` the ``(topic, partition, offset)`` of the label message it came from."""
    return orjson.dumps({"kind": "labels", "id": event.id, "t": t, "src": origin, **_labels_body(event)})


def _labels_body(event: LabelEvent) -> dict:
    observed = None if event.observed is None else sorted(event.observed)
    body = {"labels": sorted(event.labels), "observed": observed, "ts": event.ts}
    if event.annotator:
        body["annotator"] = event.annotator
    if event.confidence is not None:
        body["confidence"] = dict(event.confidence)
    return body


def pack_records(records: list[bytes]) -> bytes:
    """One ``mlc.learn`` message of encoded records, in order: ``{"records": [...]}``."""
    return b'{"records":[' + b",".join(records) + b"]}"


def unpack_records(value: bytes) -> list[dict]:
    """The records of an ``mlc.learn`` message (written by the service itself)."""
    try:
        records = orjson.loads(value)["records"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        raise DecodeError(f"not a learn-topic message: {type(error).__name__}: {error}") from error
    if not isinstance(records, list):
        raise DecodeError("not a learn-topic message: records is not a list")
    return records


class LearnRecord(NamedTuple):
    """One record of an ``mlc.learn`` message, decoded (see :func:`decode_learn`)."""

    t: float
    event: FeatureEvent | LabelEvent
    prediction: Prediction | None
    #: ``(topic, partition, offset)`` of the input message it stands for (None in old records).
    origin: tuple[str, int, int] | None

    def message(self) -> bytes:
        """The input message it stands for, as a producer would have posted it (for a dead letter)."""
        event = self.event
        if isinstance(event, FeatureEvent):
            return orjson.dumps({"id": event.id, "features": event.features, "ts": event.ts})
        return orjson.dumps({"id": event.id, **_labels_body(event)})


def decode_learn(doc: dict) -> LearnRecord:
    """One record of an ``mlc.learn`` message (written by the service itself).

    >>> e = FeatureEvent("a", {"x": 1.0}, ts=5.0)
    >>> scored = encode_scored(e, Prediction("a", ["y"], {"y": 0.9}, 3), 7.0, ("mlc.features", 1, 40))
    >>> labels = encode_labels(LabelEvent("a", frozenset({"y"})), 8.0, ("mlc.labels", 1, 41))
    >>> first, second = unpack_records(pack_records([scored, labels]))
    >>> record = decode_learn(first)
    >>> record.t, record.event == e, record.prediction.labels, record.prediction.model_version, record.origin
    (7.0, True, ['y'], 3, ('mlc.features', 1, 40))
    >>> decode_learn(second).event.labels
    frozenset({'y'})
    """
    try:
        src = doc.get("src")
        origin = None if src is None else (str(src[0]), int(src[1]), int(src[2]))
        if doc["kind"] == "scored":
            event = FeatureEvent(doc["id"], doc["features"], doc["ts"])
            prediction = Prediction(doc["id"], doc["predicted"], doc["scores"], doc["model_version"],
                                    raw_scores=doc.get("raw_scores"))
            return LearnRecord(doc["t"], event, prediction, origin)
        observed = doc["observed"]
        event = LabelEvent(doc["id"], frozenset(doc["labels"]), None if observed is None else frozenset(observed),
                           doc["ts"], doc.get("annotator", ""), doc.get("confidence"))
        return LearnRecord(doc["t"], event, None, origin)
    except (KeyError, TypeError, IndexError, ValueError, AttributeError) as error:
        raise DecodeError(f"not a learn-topic record: {type(error).__name__}: {error}") from error


def encode_alert(alert, ts: float, model_version: int) -> bytes:
    """The ``mlc.alerts`` value of a :class:`~stream_mlc.core.alerts.Alert`."""
    return orjson.dumps(alert.to_wire(ts, model_version))


def dead_letter(topic: str, partition: int, offset: int, error: str, payload: bytes | None,
                max_bytes: int = 900_000) -> bytes:
    """A ``mlc.deadletter`` value that keeps the original payload for a later replay.

    A dead letter must fit under the broker's message limit, or it would be lost; when it
    would not, the payload is cut to fit and its size and SHA-256 are kept, so the original
    can still be recognised (``payload_truncated``). ``(topic, partition, offset)`` name the
    input message, so a dead letter written again after a crash can be deduplicated.

    >>> import orjson
    >>> letter = orjson.loads(dead_letter("mlc.features", 0, 7, "too big", b"x" * 5000, max_bytes=1000))
    >>> letter["offset"], letter["payload_truncated"], letter["payload_bytes"], len(letter["payload"]) < 1000
    (7, True, 5000, True)
    """
    payload = payload or b""
    head = {"topic": topic, "partition": partition, "offset": offset, "error": error[:2000]}
    value = orjson.dumps({**head, **_payload_fields(payload)})
    if len(value) <= max_bytes:
        return value
    truncated = {"payload_truncated": True, "payload_bytes": len(payload),
                 "payload_sha256": hashlib.sha256(payload).hexdigest()}
    keep = max(0, (max_bytes - len(error[:2000]) - 512) * 3 // 4)  # base64 grows by 4/3
    while True:  # JSON escapes can grow a payload further: cut until it fits
        value = orjson.dumps({**head, **_payload_fields(payload[:keep]), **truncated})
        if len(value) <= max_bytes or keep == 0:
            return value
        keep //= 2


def _payload_fields(payload: bytes) -> dict:
    try:
        return {"payload": payload.decode("utf-8"), "payload_encoding": "utf-8"}
    except UnicodeDecodeError:
        return {"payload": base64.b64encode(payload).decode("ascii"), "payload_encoding": "base64"}


def _load_object(value: bytes | None, max_bytes: int) -> dict:
    if value is None:
        raise DecodeError("empty message (no value)")
    if len(value) > max_bytes:
        raise DecodeError(f"message of {len(value)} bytes exceeds max_message_bytes={max_bytes}; not parsed")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        raise DecodeError(f"not valid JSON: {error}") from None
    if not isinstance(doc, dict):
        raise DecodeError(f"value must be a JSON object, got {_type(doc)}")
    return doc


def _event_id(doc: dict, key: bytes | None) -> str:
    event_id = doc.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise DecodeError(f"'id' must be a non-empty string, got {_type(event_id)}")
    if len(event_id) > MAX_ID_LENGTH:
        raise DecodeError(f"'id' is longer than {MAX_ID_LENGTH} characters")
    if key is not None and key != event_id.encode("utf-8", "surrogatepass"):
        # The key decides the partition, and the join is local to a partition.
        raise DecodeError(f"message key {key[:64]!r} does not match id {event_id[:64]!r}")
    return event_id


def _names(raw: Any, field: str) -> frozenset[str]:
    if not isinstance(raw, list) or not all(isinstance(name, str) and name for name in raw):
        raise DecodeError(f"{field!r} must be a list of non-empty strings, got {_preview(raw)}")
    return frozenset(raw)


def _finite(number: Any, what: str) -> float:
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise DecodeError(f"{what} is not a number: {_preview(number)}")
    try:
        result = float(number)
    except OverflowError:
        raise DecodeError(f"{what} is too large for a float") from None
    if not math.isfinite(result):
        raise DecodeError(f"{what} is not finite: {number!r}")
    if abs(result) > MAX_ABS_VALUE:
        raise DecodeError(f"{what} is out of range (|x| > {MAX_ABS_VALUE:g}): {result:g}")
    return result


def _ts(doc: dict, default: float | None) -> float | None:
    """The event's own ``ts``, else ``default`` (the worker passes the Kafka timestamp)."""
    ts = doc.get("ts")
    return default if ts is None else _finite(ts, "'ts'")


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _preview(value: Any) -> str:
    try:
        text = repr(value)
    except RecursionError:  # JSON nested deeper than repr goes (orjson parses up to 1024 levels)
        text = f"<{_type(value)} nested too deeply to show>"
    return text if len(text) <= 80 else text[:77] + "..."
