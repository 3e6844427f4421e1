"""The feature encoder: raw values to a sparse numeric vector, bounded, prequential, pickle-able."""

from __future__ import annotations

import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_mlc.core.engine import Engine, EngineConfig
from stream_mlc.core.events import FeatureEvent
from stream_mlc.core.features import EncoderConfig, FeatureEncoder, FeatureTypeError, tokenize
from stream_mlc.core.join import JoinLimits
from stream_mlc.errors import ConfigError, DecodeError
from stream_mlc.io import open_dataset
from stream_mlc.wire import decode_features


def test_each_kind_of_value_and_its_name():
    encoder = FeatureEncoder()
    raw = {"n": 2.5, "i": 3, "zero": 0.0, "yes": True, "no": False, "country": "FR", "tags": ["a", "b", "a"]}
    assert encoder.encode_one(raw) == {
        "n": 2.5, "i": 3.0, "zero": 0.0, "yes": 1.0, "no": 0.0, "country=FR": 1.0, "tags=a": 1.0, "tags=b": 1.0,
    }
    assert encoder.encode_one({"tags": [], "country": ""}) == {"country=": 1.0}
    assert all(type(v) is float for v in encoder.encode_one(raw).values())


def test_all_numeric_events_pass_through_unchanged():
    encoder = FeatureEncoder()
    raw = {f"x{i}": float(i) - 3.5 for i in range(8)}
    assert encoder.encode_one(raw) == raw
    assert encoder.transform_one(raw) == raw


@pytest.mark.parametrize("value", [None, {"a": 1}, object(), [1], ["a", 2]])
def test_values_outside_the_contract_raise(value):
    with pytest.raises(FeatureTypeError, match="feature 'f'"):
        FeatureEncoder().encode_one({"f": value})


def test_categories_beyond_the_exact_cap_are_hashed_into_bounded_names():
    encoder = FeatureEncoder(EncoderConfig(max_exact=3, hash_bits=4))
    names = set()
    for i in range(500):
        names.update(encoder.encode_one({"user": f"u{i}", "tags": [f"t{i}", f"t{i + 1}"]}))
    exact = {n for n in names if "=" in n}
    hashed = {n for n in names if "#" in n}
    assert exact == {"user=u0", "user=u1", "user=u2", "tags=t0", "tags=t1", "tags=t2"}
    assert len(hashed) <= 2 * 16 and all(0 <= int(n.split("#")[1]) < 16 for n in hashed)
    assert names == exact | hashed
    # A value keeps its name: exact ones stay exact, hashed ones hash to the same bucket.
    again = FeatureEncoder(EncoderConfig(max_exact=3, hash_bits=4))
    assert again.encode_one({"user": "u499"}) == {"user=u499": 1.0}  # a fresh encoder has room
    assert encoder.encode_one({"user": "u1"}) == {"user=u1": 1.0}
    assert encoder.encode_one({"user": "u499"}) == encoder.encode_one({"user": "u499"})
    assert list(encoder.encode_one({"user": "u499"}))[0].startswith("user#")


def test_pure_hashing_trick_with_max_exact_zero():
    encoder = FeatureEncoder(EncoderConfig(max_exact=0, hash_bits=2))
    names = {name for i in range(100) for name in encoder.encode_one({"c": str(i)})}
    assert names <= {"c#0", "c#1", "c#2", "c#3"} and len(names) > 1


def test_text_is_tf_idf_with_document_frequencies_learned_online():
    encoder = FeatureEncoder(EncoderConfig(text_features=("title",)))
    first = encoder.encode_one({"title": "late delivery late"})
    assert first == pytest.approx({"title:late": 2 / math.sqrt(5), "title:delivery": 1 / math.sqrt(5)})
    # 'late' was in 1 document of 1, 'refund' in none: idf = ln(2/2) + 1 and ln(2/1) + 1.
    second = encoder.transform_one({"title": "late refund"})
    idf_late, idf_refund = 1.0, math.log(2.0) + 1.0
    norm = math.hypot(idf_late, idf_refund)
    assert second == pytest.approx({"title:late": idf_late / norm, "title:refund": idf_refund / norm})
    assert encoder.transform_one({"title": "late refund"}) == second  # transform learns nothing
    # A list in a text field is one document of several texts; a text without words is empty.
    assert encoder.transform_one({"title": ["late", "late"]}) == {"title:late": 1.0}
    assert encoder.transform_one({"title": "!! ?"}) == {}
    # The same string in a field that is not text is a category.
    assert encoder.transform_one({"other": "late refund"}) == {"other=late refund": 1.0}


def test_prequential_transform_uses_the_state_before_learning():
    config = EncoderConfig(text_features=("t",), standardize="center")
    events = [{"t": f"w{i % 7} common", "x": float(i), "c": f"v{i % 3}"} for i in range(50)]
    combined = FeatureEncoder(config)
    separate = FeatureEncoder(config)
    for raw in events:
        expected = separate.transform_one(raw)
        separate.learn_one(raw)
        assert combined.encode_one(raw) == expected
    assert pickle.dumps(combined.__getstate__()["_moments"]) == pickle.dumps(separate.__getstate__()["_moments"])


def test_standardisation_modes():
    values = [1.0, 3.0, 5.0, 7.0]
    std = math.sqrt(8 / 3)  # of 1, 3, 5 (population), mean 3
    for mode, expected_last in [("off", 7.0), ("scale", 7.0 / std), ("center", (7.0 - 3.0) / std)]:
        encoder = FeatureEncoder(EncoderConfig(standardize=mode))
        out = [encoder.encode_one({"x": v})["x"] for v in values]
        assert out[-1] == pytest.approx(expected_last), mode
    encoder = FeatureEncoder(EncoderConfig(standardize="center"))
    # Nothing learned yet: unchanged; one value learned: centred, not scaled.
    assert encoder.encode_one({"x": 4.0, "c": "a", "b": True}) == {"x": 4.0, "c=a": 1.0, "b": 1.0}
    assert encoder.encode_one({"x": 6.0, "b": True}) == {"x": 2.0, "b": 1.0}


def test_cache_skips_tokenising_a_repeated_text_and_is_bounded():
    encoder = FeatureEncoder(EncoderConfig(text_features=("t",), cache_size=2))
    for text in ["a1 b1", "a1 b1", "c1 d1", "a1 b1", "e1 f1", "c1 d1"]:
        encoder.encode_one({"t": text})
    # misses: a, c, e, c (evicted by e, as a was used more recently); hits: a, a.
    assert encoder.cache_stats() == {"hits": 2, "misses": 4, "size": 2, "hit_rate": pytest.approx(1 / 3)}
    # The cache never changes a result.
    uncached = FeatureEncoder(EncoderConfig(text_features=("t",), cache_size=0))
    cached = FeatureEncoder(EncoderConfig(text_features=("t",)))
    for i in range(40):
        raw = {"t": f"w{i % 5} w{i % 3} shared"}
        assert uncached.encode_one(raw) == cached.encode_one(raw)
    assert uncached.cache_stats()["size"] == 0 and cached.cache_stats()["hits"] == 40 - 15  # 15 distinct texts


def test_pickle_round_trip_encodes_identically_and_drops_the_cache():
    encoder = FeatureEncoder(EncoderConfig(text_features=("t",), standardize="scale", max_exact=2))
    stream = [{"t": f"x{i % 4} y{i % 9}", "n": float(i), "c": f"c{i % 5}", "g": [f"g{i % 3}"]} for i in range(60)]
    for raw in stream[:30]:
        encoder.encode_one(raw)
    copy = pickle.loads(pickle.dumps(encoder))
    assert copy.cache_stats()["size"] == 0
    for raw in stream[30:]:
        assert copy.encode_one(raw) == encoder.encode_one(raw)


def test_transform_batch_equals_transform_one_and_learns_nothing():
    encoder = FeatureEncoder(EncoderConfig(text_features=("t",)))
    raws = [{"t": "a b", "c": "x"}, {"t": "b c", "n": 1.0}, {"t": "a b"}]
    encoder.learn_one(raws[0])
    assert encoder.transform_batch(raws) == [encoder.transform_one(raw) for raw in raws]
    assert encoder.learned == 1


def test_config_checks_and_the_text_features_setting():
    assert EncoderConfig.from_text("title, body").text_features == ("title", "body")
    assert EncoderConfig.from_text("").text_features == ()
    for bad in [{"hash_bits": 0}, {"hash_bits": 25}, {"max_exact": -1}, {"standardize": "minmax"}]:
        with pytest.raises(ConfigError):
            EncoderConfig(**bad)
    assert tokenize("Ünïcode wörds, a b CD") == ["ünïcode", "wörds", "cd"]


def test_decoded_wire_events_encode_and_the_engine_learns_them():
    """From the wire to the model: categories, tags, booleans and text, none dead-lettered."""
    ds = open_dataset("synthetic-text:n=1500,seed=3")
    encoder = FeatureEncoder(EncoderConfig(text_features=ds.text_features))
    engine = Engine.from_config(EngineConfig(labels=ds.label_names, join=JoinLimits(None, None), drift=None))
    import orjson

    for n, record in enumerate(ds):
        event = decode_features(None, orjson.dumps({"id": record.id, "features": record.features}))
        x = encoder.encode_one(event.features)
        engine.score(FeatureEvent(event.id, x), now=float(n))
        engine.learn(engine.join(record.label_event(), now=float(n)))
    assert engine.metrics.report()["window"]["micro_f1"] > 0.8
    assert len(engine.features) < 1000  # bounded: 4 numbers, 16 categories, 30 tags, the words


def test_text_tokens_hashed_into_one_bucket_add_up_and_count_one_document():
    encoder = FeatureEncoder(EncoderConfig(text_features=("t",), max_exact=0, hash_bits=1))
    x = encoder.encode_one({"t": "alpha beta gamma delta epsilon zeta"})
    assert set(x) <= {"t#0", "t#1"} and math.hypot(*x.values()) == pytest.approx(1.0)
    assert sorted(encoder._document_frequency.values()) in ([1], [1, 1])  # once per document, not per token
    # All six tokens in two buckets: the weights are proportional to the bucket's token count.
    buckets = [encoder.transform_one({"t": word}) for word in "alpha beta gamma delta epsilon zeta".split()]
    per_bucket = {name: sum(1 for b in buckets if name in b) for name in x}
    assert x == pytest.approx({name: n / math.hypot(*per_bucket.values()) for name, n in per_bucket.items()})


def test_memory_is_bounded_across_fields_and_survives_pickling():
    encoder = FeatureEncoder(EncoderConfig(max_exact=3, max_names=10, hash_bits=2, standardize="scale"))
    for i in range(200):  # a producer inventing a new field every event
        encoder.encode_one({f"field{i}": f"value{i}", f"tags{i}": ["a", "b"], f"n{i}": 1.0})
    assert sum(len(v.names) for v in encoder._vocabularies.values()) == 10
    assert len(encoder._vocabularies) <= 10 and len(encoder._moments) == 10
    assert encoder.transform_one({"field150": "value150"}) == {f"field150#{_bucket('value150', 2)}": 1.0}
    copy = pickle.loads(pickle.dumps(encoder))
    assert all(v.room is copy._room for v in copy._vocabularies.values()) and copy._room == [0]
    # Transforming never stores a field's vocabulary: only learning does.
    fresh = FeatureEncoder()
    fresh.transform_one({"a": "x", "t": ["y"]})
    assert fresh._vocabularies == {} and fresh.encode_one({"a": "x"}) == {"a=x": 1.0}


def _bucket(value: str, bits: int) -> int:
    import zlib

    return zlib.crc32(value.encode()) & ((1 << bits) - 1)


_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
    st.lists(st.one_of(st.text(max_size=8), st.integers()), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(deadline=None, derandomize=True, database=None, max_examples=200)
@given(features=st.dictionaries(st.sampled_from(["a", "b", "t", "c", "d"]), _values, max_size=5))
def test_whatever_the_wire_accepts_encodes_to_finite_floats(features):
    import json

    try:  # the stdlib writes integers of any size
        event = decode_features(None, json.dumps({"id": "e", "features": features}).encode())
    except DecodeError:
        return
    encoder = FeatureEncoder(EncoderConfig(text_features=("t",), standardize="center"))
    for _ in range(2):
        x = encoder.encode_one(event.features)
        assert all(type(v) is float and math.isfinite(v) for v in x.values())
