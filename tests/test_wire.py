"""Unit tests of stream_mlc.wire: the decoders' dead-letter reasons, the encoders, dead letters."""

from __future__ import annotations

import base64
import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_mlc.core.events import FeatureEvent, JoinedExample, LabelEvent, Prediction
from stream_mlc.errors import DecodeError
from stream_mlc.wire import (
    MAX_ID_LENGTH,
    dead_letter,
    decode_features,
    decode_joined,
    decode_labels,
    encode_joined,
    encode_prediction,
)

DECODERS = [decode_features, decode_labels]
BOTH = pytest.mark.parametrize("decode", DECODERS, ids=["features", "labels"])


def doc(**fields) -> bytes:
    return json.dumps(fields).encode()  # the stdlib writes integers of any size


def features_doc(**extra) -> bytes:
    return doc(**{"id": "e1", "features": {"a": 1.0}, **extra})


def labels_doc(**extra) -> bytes:
    return doc(**{"id": "e1", "labels": ["x"], **extra})


def reason(decode, value: bytes | None, key: bytes | None = None, **kwargs) -> str:
    with pytest.raises(DecodeError) as info:
        decode(key, value, **kwargs)
    return str(info.value)


# ------------------------------------------------------------------ valid messages


def test_valid_feature_event():
    event = decode_features(b"e1", doc(id="e1", features={"a": 1, "b": -0.5, "c": 2**40}, ts=17))
    assert event == FeatureEvent("e1", {"a": 1.0, "b": -0.5, "c": float(2**40)}, 17.0)
    assert all(type(v) is float for v in event.features.values())
    assert type(event.ts) is float
    assert decode_features(None, features_doc()) == FeatureEvent("e1", {"a": 1.0}, None)
    assert decode_features(b"e1", doc(id="e1", features={})) == FeatureEvent("e1", {}, None)


def test_valid_label_event():
    assert decode_labels(b"e1", labels_doc(ts=3.5)) == LabelEvent("e1", frozenset({"x"}), None, 3.5)
    assert decode_labels(None, doc(id="e1", labels=[])) == LabelEvent("e1", frozenset(), None, None)
    assert decode_labels(None, labels_doc(observed=None)).observed is None


def test_observed_always_includes_the_positive_labels():
    event = decode_labels(None, doc(id="e1", labels=["a", "b"], observed=["c"]))
    assert event.labels == frozenset({"a", "b"})
    assert event.observed == frozenset({"a", "b", "c"})
    assert decode_labels(None, doc(id="e1", labels=["a"], observed=[])).observed == frozenset({"a"})
    assert decode_labels(None, doc(id="e1", labels=[], observed=[])).observed == frozenset()


def test_non_ascii_id_matches_its_utf8_key():
    event_id = "événement-✓"
    assert decode_features(event_id.encode(), doc(id=event_id, features={})).id == event_id


# ------------------------------------------------------------------ dead-letter reasons


@BOTH
def test_invalid_json(decode):
    assert "not valid JSON" in reason(decode, b'{"id": "e1", ')
    assert "not valid JSON" in reason(decode, b"\xff\xfe{}")
    assert "not valid JSON" in reason(decode, b"")


@BOTH
def test_no_value(decode):
    assert "empty message" in reason(decode, None)


@BOTH
@pytest.mark.parametrize("value, kind", [(b"[1, 2]", "list"), (b'"s"', "str"), (b"3", "int"), (b"null", "null")])
def test_non_object(decode, value, kind):
    assert reason(decode, value) == f"value must be a JSON object, got {kind}"


@BOTH
@pytest.mark.parametrize(
    "event_id, kind",
    [(None, "null"), ("", "str"), (5, "int"), (["e1"], "list"), (True, "bool")],
    ids=["missing", "empty", "int", "list", "bool"],
)
def test_bad_id(decode, event_id, kind):
    fields = {"features": {}, "labels": []}
    if event_id is not None:
        fields["id"] = event_id
    assert reason(decode, doc(**fields)) == f"'id' must be a non-empty string, got {kind}"


@BOTH
def test_id_too_long(decode):
    fields = {"features": {}, "labels": []}
    assert decode(None, doc(id="i" * MAX_ID_LENGTH, **fields)).id == "i" * MAX_ID_LENGTH
    assert "longer than 256" in reason(decode, doc(id="i" * (MAX_ID_LENGTH + 1), **fields))


@BOTH
def test_key_mismatch(decode):
    value = doc(id="e1", features={}, labels=[])
    assert "does not match id" in reason(decode, value, key=b"e2")
    assert "does not match id" in reason(decode, value, key=b"")
    assert decode(b"e1", value).id == "e1"


@pytest.mark.parametrize("features, kind", [(None, "null"), ([1.0], "list"), ("a=1", "str"), (3, "int")])
def test_features_not_an_object(features, kind):
    value = doc(id="e1") if features is None else doc(id="e1", features=features)
    assert reason(decode_features, value) == f"'features' must be an object of name: value, got {kind}"


def test_categories_tags_and_booleans_are_valid_raw_values():
    features = {"n": 2, "country": "FR", "empty": "", "tags": ["a", "b"], "no_tags": [], "vip": True, "off": False}
    event = decode_features(b"e1", doc(id="e1", features=features))
    assert event.features == {**features, "n": 2.0}
    assert type(event.features["n"]) is float
    assert type(event.features["vip"]) is bool and type(event.features["off"]) is bool
    # Raw values survive the learn topic's round trip (scaled mode forwards them as they are).
    assert orjson.loads(orjson.dumps(event.features)) == event.features


@pytest.mark.parametrize(
    "value, message",
    [
        (None, "feature 'bad' is null: a value must be a number, boolean, string or list of strings"),
        ({"v": 1}, "feature 'bad' is a nested object {'v': 1}: a value must be a number, boolean, string or list"),
        ([1], "feature 'bad' is a list with a non-string item 1: tags must be strings"),
        (["a", None], "feature 'bad' is a list with a non-string item None: tags must be strings"),
        (["a", ["b"]], "feature 'bad' is a list with a non-string item ['b']: tags must be strings"),
        (["a", {"b": 1}], "feature 'bad' is a list with a non-string item {'b': 1}: tags must be strings"),
        (10**16, "feature 'bad' is out of range (|x| > 1e+15): 1e+16"),
    ],
    ids=["null", "object", "int-item", "null-item", "nested-list", "object-item", "beyond-1e15"],
)
def test_invalid_feature_values_are_refused_with_the_reason(value, message):
    assert reason(decode_features, features_doc(features={"ok": 1, "bad": value})).startswith(message)


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999"])
def test_non_finite_feature(literal):
    value = b'{"id": "e1", "features": {"a": ' + literal + b"}}"
    with pytest.raises(DecodeError):
        decode_features(None, value)


def test_huge_int_feature():
    value = b'{"id": "e1", "features": {"a": 1' + b"0" * 400 + b"}}"
    with pytest.raises(DecodeError):
        decode_features(None, value)
    # Up to 1e15 in magnitude a number is accepted, as a float; beyond it, refused with the reason.
    assert decode_features(None, features_doc(features={"a": 10**15})).features == {"a": 1e15}
    with pytest.raises(DecodeError, match="out of range"):
        decode_features(None, features_doc(features={"a": -(10**30)}))


@pytest.mark.parametrize(
    "labels, shown",
    [
        (None, "None"),
        ("x", "'x'"),
        ({"x": True}, "{'x': True}"),
        ([1], "[1]"),
        (["x", None], "['x', None]"),
        ([""], "['']"),
        (["x", ""], "['x', '']"),
    ],
    ids=["missing", "str", "object", "int-item", "null-item", "empty", "empty-item"],
)
def test_labels_not_a_list_of_non_empty_strings(labels, shown):
    value = doc(id="e1") if labels is None else doc(id="e1", labels=labels)
    assert reason(decode_labels, value) == f"'labels' must be a list of non-empty strings, got {shown}"


@pytest.mark.parametrize("observed", ["x", {"x": 1}, 1, [2], [""]])
def test_observed_not_a_list_of_non_empty_strings(observed):
    assert reason(decode_labels, labels_doc(observed=observed)).startswith("'observed' must be a list")


@BOTH
@pytest.mark.parametrize("ts", ["2024-01-01", True, [1], {"t": 1}])
def test_ts_not_a_number(decode, ts):
    value = doc(id="e1", features={}, labels=[], ts=ts)
    assert reason(decode, value).startswith("'ts' is not a number")


@BOTH
def test_oversized_message_is_rejected_without_parsing(decode):
    huge = b"\x00not json at all " * 70_000  # > 1 MB and not JSON
    message = reason(decode, huge)
    assert str(len(huge)) in message and "max_message_bytes=1000000" in message
    assert "JSON" not in message  # the size check came first: it was never parsed
    # The limit is configurable and inclusive.
    small = features_doc()
    assert decode_features(None, small, max_bytes=len(small)).id == "e1"
    assert f"message of {len(small)} bytes exceeds" in reason(decode_features, small, max_bytes=len(small) - 1)


# ------------------------------------------------------------------ encoders


def test_encode_prediction():
    prediction = Prediction("e1", ["a"], {"a": 0.75, "b": 0.25}, 42, {"a": 0.5, "b": 0.5}, 12.0)
    # The ts on the wire is the publication time given to the encoder.
    assert orjson.loads(encode_prediction(prediction, 1700000000.5)) == {
        "id": "e1",
        "labels": ["a"],
        "scores": {"a": 0.75, "b": 0.25},
        "thresholds": {"a": 0.5, "b": 0.5},
        "model_version": 42,
        "ts": 1700000000.5,
    }


@pytest.mark.parametrize("observed", [None, frozenset({"a", "c"})])
def test_encode_joined_decode_joined_round_trip(observed):
    example = JoinedExample(
        id="é1",
        features={"f1": 0.1, "f2": -3.0},
        labels=frozenset({"a", "b"}) if observed is None else frozenset({"a"}),
        observed=observed,
        scores={"a": 0.9, "b": 0.2, "c": 0.6},
        predicted=["a", "c"],
        model_version=17,
        feature_ts=10.25,
        label_ts=None if observed is None else 99.0,
    )
    encoded = encode_joined(example, 5)
    assert decode_joined(encoded) == example
    raw = orjson.loads(encoded)
    assert raw["seq"] == 5
    assert raw["labels"] == sorted(example.labels)
    assert raw["observed"] == (None if observed is None else ["a", "c"])


# ------------------------------------------------------------------ dead letters


def test_dead_letter_keeps_utf8_payload_as_text():
    payload = '{"id": "é", "features": oops'.encode()
    record = orjson.loads(dead_letter("mlc.features", 3, 1234, "not valid JSON: ...", payload))
    assert record == {
        "topic": "mlc.features",
        "partition": 3,
        "offset": 1234,
        "error": "not valid JSON: ...",
        "payload": '{"id": "é", "features": oops',
        "payload_encoding": "utf-8",
    }


def test_dead_letter_keeps_non_utf8_payload_as_base64():
    payload = bytes(range(256))
    record = orjson.loads(dead_letter("mlc.labels", 0, 7, "bad", payload))
    assert record["payload_encoding"] == "base64"
    assert base64.b64decode(record["payload"], validate=True) == payload


def test_dead_letter_of_a_missing_payload():
    record = orjson.loads(dead_letter("mlc.labels", 0, 7, "empty message (no value)", None))
    assert (record["payload"], record["payload_encoding"]) == ("", "utf-8")


# ------------------------------------------------------------------ only DecodeError escapes

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=12,
)

_ids = st.one_of(st.text(max_size=300), _json_values)
_numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False), st.integers(min_value=-(2**70), max_value=2**70), _json_values
)
_name_lists = st.one_of(st.lists(st.text(max_size=3), max_size=4), _json_values)

# Documents with an id the decoders accept, so that the later checks are reached too.
_docs = st.fixed_dictionaries(
    {"id": st.just("e1")},
    optional={
        "features": st.one_of(st.dictionaries(st.text(max_size=5), _numbers, max_size=5), _json_values),
        "labels": _name_lists,
        "observed": st.one_of(st.none(), _name_lists),
        "ts": _numbers,
        "extra": _json_values,
    },
)
# Documents with any id at all.
_any_id_docs = st.fixed_dictionaries({}, optional={"id": _ids, "features": _json_values, "labels": _name_lists})


def _serialise(value, ensure_ascii: bool) -> bytes:
    text = json.dumps(value, allow_nan=True, ensure_ascii=ensure_ascii)
    return text.encode("utf-8", "surrogatepass")


def _check(key, value, max_bytes=1_000_000):
    for decode, kind in ((decode_features, FeatureEvent), (decode_labels, LabelEvent)):
        try:
            event = decode(key, value, max_bytes)
        except DecodeError as error:
            assert str(error)
        else:
            assert isinstance(event, kind)
            assert isinstance(event.id, str) and 0 < len(event.id) <= MAX_ID_LENGTH


_keys = st.one_of(st.none(), st.binary(max_size=20))
_fuzz = settings(
    deadline=None, derandomize=True, database=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow]
)


@_fuzz
@given(key=_keys, value=st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_decode_error(key, value):
    _check(key, value)


@_fuzz
@given(key=_keys, value=st.one_of(_json_values, _any_id_docs), ensure_ascii=st.booleans())
def test_arbitrary_json_values_raise_only_decode_error(key, value, ensure_ascii):
    _check(key, _serialise(value, ensure_ascii))


@_fuzz
@given(
    key=st.sampled_from([None, b"e1"]),
    value=_docs,
    ensure_ascii=st.booleans(),
    max_bytes=st.sampled_from([1_000_000, 1_000_000, 1_000_000, 64]),
)
def test_arbitrary_documents_raise_only_decode_error(key, value, ensure_ascii, max_bytes):
    _check(key, _serialise(value, ensure_ascii), max_bytes)
