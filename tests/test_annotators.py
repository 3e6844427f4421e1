"""Resolving several annotators' label events for one id."""

from __future__ import annotations

import pickle

import pytest

from stream_mlc.core.annotators import Annotation, PendingAnnotations, collect_votes, resolve
from stream_mlc.errors import ConfigError


def ann(annotator, labels, observed=None, confidence=None, ts=None, key="e"):
    return Annotation(key, frozenset(labels), annotator, None if observed is None else frozenset(observed),
                      confidence or {}, ts)


def test_majority_takes_the_labels_most_annotators_give_and_a_tie_is_negative():
    annotations = [ann("a", {"x", "y"}), ann("b", {"x"}), ann("c", {"x", "z"}), ann("d", {"y"})]
    event = resolve(annotations, "majority").event
    assert event.labels == frozenset({"x"})  # x: 3 of 4; y: 2 of 4 (tie); z: 1 of 4
    assert event.observed is None and event.id == "e"


def test_confidence_weighted_can_overrule_the_majority():
    annotations = [ann("a", {"x"}, confidence={"x": 0.95}), ann("b", set(), confidence={"x": 0.3}),
                   ann("c", set(), confidence={"x": 0.4})]
    assert resolve(annotations, "majority").event.labels == frozenset()
    assert resolve(annotations, "weighted").event.labels == frozenset({"x"})


def test_partial_annotations_vote_only_on_what_they_observed():
    annotations = [ann("a", {"x"}, observed={"x"}), ann("b", {"y"}, observed={"y", "z"})]
    resolution = resolve(annotations, known=("w",))
    assert resolution.event.labels == frozenset({"x", "y"})
    assert resolution.event.observed == frozenset({"x", "y", "z"})  # nobody observed w
    assert [v.annotator for v in resolution.votes["x"]] == ["a"]
    assert resolution.votes["w"] == ()


def test_known_labels_get_negative_votes_from_full_annotations():
    votes = collect_votes([ann("a", {"x"}), ann("b", set())], known=("y",))
    assert {label: [v.positive for v in cast] for label, cast in votes.items()} == {
        "x": [True, False], "y": [False, False]}


def test_the_newest_timestamp_is_the_resolved_events():
    assert resolve([ann("a", {"x"}, ts=5.0), ann("b", {"x"}, ts=9.0)]).event.ts == 9.0


def test_wait_for_n_annotators_then_resolve():
    pending = PendingAnnotations(wait_for=3, deadline_s=100.0)
    assert pending.add(ann("a", {"x"}), now=0.0) is None
    assert pending.add(ann("a", {"y"}), now=1.0) is None  # the same annotator again: replaces, not counts
    assert pending.add(ann("b", {"y"}), now=2.0) is None
    resolution = pending.add(ann("c", {"x"}), now=3.0)
    assert resolution.event.labels == frozenset({"y"})  # y: a (who changed its mind) and b; x: c only
    assert "e" not in pending and len(pending) == 0


def test_the_deadline_resolves_with_what_came_oldest_first():
    pending = PendingAnnotations(wait_for=5, deadline_s=10.0)
    pending.add(ann("a", {"x"}, key="first"), now=0.0)
    pending.add(ann("a", {"y"}, key="second"), now=4.0)
    pending.add(ann("b", {"y"}, key="second"), now=11.0)
    assert [r.event.id for r in pending.expire(now=9.9)] == []
    assert [r.event.id for r in pending.expire(now=10.0)] == ["first"]
    resolved = pending.expire(now=14.0)
    assert [(r.event.id, r.annotators) for r in resolved] == [("second", ["a", "b"])]


def test_pending_ids_are_bounded_and_forget_drops_an_id():
    pending = PendingAnnotations(wait_for=2, deadline_s=1e9, max_pending=2)
    for i in range(3):
        pending.add(ann("a", {"x"}, key=f"e{i}"), now=float(i))
    assert len(pending) == 2 and "e0" not in pending
    assert pending.forget("e1") and not pending.forget("nope")
    assert [r.event.id for r in pending.expire(now=0.0)] == ["e0"]  # evicted early, resolved
    assert pickle.loads(pickle.dumps(pending)).add(ann("b", {"x"}, key="e2"), now=5.0).event.labels == {"x"}


def test_wait_for_one_resolves_at_once():
    assert PendingAnnotations().add(ann("a", {"x"}), now=0.0).event.labels == frozenset({"x"})


@pytest.mark.parametrize("kwargs", [{"rule": "vote"}, {"wait_for": 0}, {"deadline_s": 0.0}])
def test_bad_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        PendingAnnotations(**kwargs)
