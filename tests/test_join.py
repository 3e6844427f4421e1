"""Unit tests of stream_mlc.core.join.JoinBuffer: the join of scored events with delayed labels."""

from __future__ import annotations

import pickle
from collections.abc import MutableMapping

import pytest

from stream_mlc.core.events import FeatureEvent, JoinedExample, LabelEvent, Prediction
from stream_mlc.core.join import DONE, EARLY, PENDING, JoinBuffer, JoinLimits

NO_LIMITS = JoinLimits(max_age_s=None, max_entries=None)


def feat(event_id: str, value: float = 1.0, ts: float | None = None) -> FeatureEvent:
    return FeatureEvent(event_id, {"f": value, "g": -value}, ts)


def pred(event_id: str, score: float = 0.8, version: int = 3) -> Prediction:
    labels = ["x"] if score >= 0.5 else []
    return Prediction(event_id, labels, {"x": score, "y": 1 - score}, version, {"x": 0.5, "y": 0.5}, 10.0)


def lab(event_id: str, labels=("x",), observed=None, ts: float | None = None) -> LabelEvent:
    return LabelEvent(event_id, frozenset(labels), None if observed is None else frozenset(observed), ts)


class RecordingStore(MutableMapping):
    """A mapping that is not a dict and remembers every write, like a changelog-backed table."""

    def __init__(self):
        self.data: dict = {}
        self.writes: list[tuple[str, str]] = []

    def __getitem__(self, key):
        return self.data[key]

    def __setitem__(self, key, value):
        self.writes.append((key, value["state"]))
        self.data[key] = value

    def __delitem__(self, key):
        del self.data[key]

    def __iter__(self):
        return iter(self.data)

    def __len__(self):
        return len(self.data)


# ------------------------------------------------------------------ joining


def test_features_then_labels_join_with_the_stored_prediction():
    buf = JoinBuffer(NO_LIMITS)
    assert buf.add_prediction(feat("a", 2.0, ts=100.0), pred("a", 0.8, version=7), now=1.0) is None
    assert buf.state_counts() == {PENDING: 1}
    joined = buf.add_labels(lab("a", ["x"], ts=150.0), now=2.0)
    assert joined == JoinedExample(
        id="a",
        features={"f": 2.0, "g": -2.0},
        labels=frozenset({"x"}),
        observed=None,
        scores={"x": 0.8, "y": pytest.approx(0.2)},
        predicted=["x"],
        model_version=7,
        feature_ts=100.0,
        label_ts=150.0,
    )
    assert buf.counts["joined"] == 1
    assert buf.state_counts() == {DONE: 1}
    assert len(buf) == 1  # the tombstone stays


def test_labels_then_features_join_right_after_scoring_never_before():
    buf = JoinBuffer(NO_LIMITS)
    assert buf.add_labels(lab("a", ["y"], ts=5.0), now=1.0) is None
    assert buf.state_counts() == {EARLY: 1}
    assert buf.counts["joined"] == 0
    # Other traffic does not release the early labels.
    assert buf.add_prediction(feat("b"), pred("b"), now=1.5) is None
    assert buf.add_labels(lab("c"), now=1.6) is None
    assert buf.counts["joined"] == 0
    joined = buf.add_prediction(feat("a", 3.0, ts=4.0), pred("a", 0.3, version=9), now=2.0)
    assert joined is not None
    assert joined.id == "a"
    assert joined.labels == frozenset({"y"})
    assert joined.features == {"f": 3.0, "g": -3.0}
    # The prediction joined is the one just made, not anything older.
    assert joined.scores == {"x": 0.3, "y": 0.7}
    assert joined.predicted == []
    assert joined.model_version == 9
    assert (joined.feature_ts, joined.label_ts) == (4.0, 5.0)
    assert buf.counts["joined"] == 1
    assert buf.store["a"]["state"] == DONE


def test_duplicate_labels_are_counted_and_not_joined_twice():
    buf = JoinBuffer(NO_LIMITS)
    buf.add_prediction(feat("a"), pred("a"), now=0.0)
    assert buf.add_labels(lab("a", ["x"]), now=1.0) is not None
    assert buf.add_labels(lab("a", ["x"]), now=2.0) is None
    assert buf.add_labels(lab("a", ["y"]), now=3.0) is None
    assert buf.counts["duplicate_labels"] == 2
    assert buf.counts["joined"] == 1


def test_duplicate_early_labels_keep_the_first_copy():
    buf = JoinBuffer(NO_LIMITS)
    assert buf.add_labels(lab("a", ["first"]), now=0.0) is None
    assert buf.add_labels(lab("a", ["second"]), now=1.0) is None
    assert buf.counts["duplicate_labels"] == 1
    joined = buf.add_prediction(feat("a"), pred("a"), now=2.0)
    assert joined.labels == frozenset({"first"})
    assert buf.counts["joined"] == 1


def test_redelivered_features_are_stored_once_and_the_first_copy_is_joined():
    buf = JoinBuffer(NO_LIMITS)
    assert buf.add_prediction(feat("a", 1.0), pred("a", 0.9, version=1), now=0.0) is None
    assert buf.add_prediction(feat("a", 5.0), pred("a", 0.1, version=2), now=1.0) is None
    assert buf.counts["duplicate_features"] == 1
    assert len(buf) == 1 and len(buf.store) == 1
    joined = buf.add_labels(lab("a"), now=2.0)
    assert joined.features == {"f": 1.0, "g": -1.0}
    assert joined.scores == {"x": 0.9, "y": pytest.approx(0.1)}
    assert joined.model_version == 1
    # After the join, another redelivery is a duplicate too, and joins nothing.
    assert buf.add_prediction(feat("a", 7.0), pred("a"), now=3.0) is None
    assert buf.counts["duplicate_features"] == 2
    assert buf.counts["joined"] == 1


def test_partial_labels_are_carried_through_to_the_joined_example():
    buf = JoinBuffer(NO_LIMITS)
    buf.add_prediction(feat("a"), pred("a"), now=0.0)
    joined = buf.add_labels(lab("a", ["x"], observed=["x", "z"]), now=1.0)
    assert joined.observed == frozenset({"x", "z"})
    assert joined.labels == frozenset({"x"})
    # Early partial labels too.
    buf.add_labels(lab("b", [], observed=["y"]), now=2.0)
    joined = buf.add_prediction(feat("b"), pred("b"), now=3.0)
    assert joined.observed == frozenset({"y"})
    assert joined.labels == frozenset()


def test_full_labels_give_observed_none():
    buf = JoinBuffer(NO_LIMITS)
    buf.add_labels(lab("a", ["x"]), now=0.0)
    assert buf.add_prediction(feat("a"), pred("a"), now=1.0).observed is None


# ------------------------------------------------------------------ expiry


def test_expiry_by_age_is_oldest_first_and_counted_per_state():
    buf = JoinBuffer(JoinLimits(max_age_s=10.0, max_entries=None))
    buf.add_prediction(feat("p"), pred("p"), now=0.0)  # pending, t=0
    buf.add_labels(lab("e"), now=1.0)  # early, t=1
    buf.add_prediction(feat("d"), pred("d"), now=2.0)
    assert buf.add_labels(lab("d"), now=3.0) is not None  # done; its tombstone keeps t=2
    buf.add_prediction(feat("young"), pred("young"), now=9.0)  # t=9
    assert buf.expire(now=10.0) == 0  # exactly max_age old is not too old
    assert set(buf.store) == {"p", "e", "d", "young"}
    assert buf.expire(now=11.5) == 2  # p (11.5 old) and e (10.5 old); d is 9.5 old
    assert set(buf.store) == {"d", "young"}
    assert buf.counts["expired_pending"] == 1
    assert buf.counts["expired_early"] == 1
    assert buf.counts["expired_done"] == 0
    assert buf.expire(now=12.5) == 1  # the tombstone expires too
    assert buf.counts["expired_done"] == 1
    assert set(buf.store) == {"young"} and len(buf) == 1
    # A label arriving for the expired tombstone is no longer a duplicate: it waits as early.
    assert buf.add_labels(lab("d"), now=13.0) is None
    assert buf.counts["duplicate_labels"] == 0
    assert buf.store["d"]["state"] == EARLY


def test_expiry_by_count_drops_the_oldest_first():
    buf = JoinBuffer(JoinLimits(max_age_s=None, max_entries=2))
    buf.add_labels(lab("e1"), now=0.0)
    buf.add_prediction(feat("p1"), pred("p1"), now=1.0)
    buf.add_prediction(feat("d1"), pred("d1"), now=2.0)
    buf.add_labels(lab("d1"), now=3.0)
    buf.add_prediction(feat("p2"), pred("p2"), now=4.0)
    buf.expire(now=4.0)
    assert set(buf.store) == {"d1", "p2"} and len(buf) == 2
    assert (buf.counts["expired_early"], buf.counts["expired_pending"], buf.counts["expired_done"]) == (1, 1, 0)
    buf.add_labels(lab("e2"), now=5.0)
    buf.expire(now=5.0)
    assert set(buf.store) == {"p2", "e2"}
    assert buf.counts["expired_done"] == 1
    assert buf.expire(now=1e9) == 0  # no age limit, and within the count
    assert set(buf.store) == {"p2", "e2"}
    # The survivors still join.
    assert buf.add_labels(lab("p2"), now=1e9) is not None


def test_expired_pending_event_does_not_join_later_labels():
    buf = JoinBuffer(JoinLimits(max_age_s=1.0, max_entries=None))
    buf.add_prediction(feat("a"), pred("a"), now=0.0)
    assert buf.expire(now=5.0) == 1
    assert buf.add_labels(lab("a"), now=5.0) is None
    assert buf.counts["joined"] == 0


# ------------------------------------------------------------------ restore, pickling, stores


def _fill(buf: JoinBuffer) -> None:
    buf.add_prediction(feat("a"), pred("a"), now=0.0)
    buf.add_labels(lab("b", ["y"], observed=["y", "x"]), now=1.0)
    buf.add_prediction(feat("c"), pred("c"), now=2.0)
    buf.add_labels(lab("c"), now=3.0)  # tombstone at t=2
    buf.add_prediction(feat("d"), pred("d"), now=4.0)


def test_rebuild_after_the_store_was_filled_elsewhere_restores_the_expiry_order():
    source = JoinBuffer(NO_LIMITS)
    _fill(source)
    restored_store = pickle.loads(pickle.dumps(source.store))
    # A restore may give the entries back in any order: reverse them.
    shuffled = dict(reversed(list(restored_store.items())))
    buf = JoinBuffer(JoinLimits(max_age_s=None, max_entries=2), store={})
    buf.store.update(shuffled)
    assert len(buf) == 0  # the arrival order does not know them yet
    buf.rebuild()
    assert len(buf) == 4
    assert buf.expire(now=10.0) == 2
    assert set(buf.store) == {"c", "d"}  # a (t=0) and b (t=1) were the oldest
    assert (buf.counts["expired_pending"], buf.counts["expired_early"]) == (1, 1)
    # The restored entries still join.
    joined = buf.add_labels(lab("d"), now=11.0)
    assert joined is not None and joined.id == "d"


def test_constructor_rebuilds_from_a_prefilled_store():
    source = JoinBuffer(NO_LIMITS)
    _fill(source)
    store = dict(reversed(list(pickle.loads(pickle.dumps(source.store)).items())))
    buf = JoinBuffer(JoinLimits(max_age_s=2.5, max_entries=None), store=store)
    assert len(buf) == 4
    assert buf.expire(now=4.0) == 2  # a (4.0 old), b (3.0 old); the tombstone c is 2.0 old
    assert set(store) == {"c", "d"}


def test_pickle_round_trip_of_the_buffer():
    buf = JoinBuffer(JoinLimits(max_age_s=100.0, max_entries=4))
    _fill(buf)
    buf.add_labels(lab("c"), now=5.0)  # a duplicate, counted
    copy = pickle.loads(pickle.dumps(buf))
    assert copy.store == buf.store
    assert copy.counts == buf.counts and copy.counts["duplicate_labels"] == 1
    assert copy.limits == buf.limits
    assert len(copy) == len(buf) == 4
    # Both continue identically.
    for b in (buf, copy):
        joined = b.add_prediction(feat("b"), pred("b", 0.6, version=8), now=6.0)
        assert joined.observed == frozenset({"x", "y"}) and joined.model_version == 8
        b.add_prediction(feat("e"), pred("e"), now=7.0)  # a fifth entry
        b.expire(now=7.0)
        assert set(b.store) == {"b", "c", "d", "e"}  # the count limit dropped a, the oldest
        assert b.counts["expired_pending"] == 1
    assert copy.store == buf.store and copy.counts == buf.counts


def test_a_custom_mutable_mapping_store_is_used():
    store = RecordingStore()
    buf = JoinBuffer(JoinLimits(max_age_s=None, max_entries=1), store=store)
    buf.add_prediction(feat("a"), pred("a"), now=0.0)
    assert store.data["a"]["state"] == PENDING
    assert store.data["a"]["x"] == {"f": 1.0, "g": -1.0}
    buf.add_labels(lab("a"), now=1.0)
    assert store.data["a"] == {"state": DONE, "t": 0.0}
    buf.add_labels(lab("b"), now=2.0)
    assert store.data["b"]["state"] == EARLY
    assert store.writes == [("a", PENDING), ("a", DONE), ("b", EARLY)]
    buf.expire(now=3.0)
    assert set(store.data) == {"b"}  # the count limit (1) dropped the tombstone of a
    assert buf.counts["expired_done"] == 1
    assert buf.state_counts() == {EARLY: 1}


def test_stored_entries_are_json_able_plain_data():
    import orjson

    buf = JoinBuffer(NO_LIMITS)
    _fill(buf)
    copy = orjson.loads(orjson.dumps(buf.store))
    # A JSON round trip (e.g. a changelog-backed table) gives an equivalent store.
    restored = JoinBuffer(NO_LIMITS, store=copy)
    joined = restored.add_labels(lab("a"), now=9.0)
    assert joined.scores == {"x": 0.8, "y": pytest.approx(0.2)} and joined.predicted == ["x"]
    joined = restored.add_prediction(feat("b"), pred("b"), now=9.0)
    assert joined.observed == frozenset({"x", "y"})
