"""The label join buffer: scored events wait here for their delayed labels.

Each event id has at most one entry, in one of three states:

``pending``
    the event was scored; its features and prediction wait for the labels;
``early``
    the labels came before the features; they wait for the event to be scored;
``done``
    the event was joined and handed to the learner; the entry stays as a tombstone so that
    a second label event for the id (a producer retry) is recognised as a duplicate.

Entries expire by age and by count, oldest first, so memory stays bounded whatever the
producers do; every expiry is counted. Both are decided on the caller's clock (the worker
passes event time) at the moment an entry is used or added, not when a sweep happens to
run, so the outcome of a join depends only on the stream. The entries live in an injectable mutable mapping of
plain JSON-able dicts: a ``dict`` in the offline evaluator, a changelog-backed Faust table
in the worker. The arrival order needed for expiry is kept beside it, in memory, and rebuilt
from the store with :meth:`JoinBuffer.rebuild` after a restore.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import MutableMapping
from dataclasses import dataclass

from stream_mlc.core.events import FeatureEvent, JoinedExample, LabelEvent, Prediction

PENDING, EARLY, DONE = "pending", "early", "done"


@dataclass(frozen=True, slots=True)
class JoinLimits:
    """How long and how many entries the buffer keeps (``None``: no limit)."""

    max_age_s: float | None = 7 * 24 * 3600.0
    max_entries: int | None = 1_000_000


class JoinBuffer:
    """Joins scored events with their labels, whichever comes first.

    Parameters
    ----------
    limits
        Expiry by age (seconds of the clock the caller passes as ``now``) and by count.
    store
        Where entries live; a plain dict by default.

    Examples
    --------
    >>> from stream_mlc.core.events import FeatureEvent, LabelEvent, Prediction
    >>> buf = JoinBuffer()
    >>> p = Prediction(id="a", labels=["x"], scores={"x": 0.9}, model_version=0)
    >>> buf.add_prediction(FeatureEvent("a", {"f": 1.0}), p, now=0.0) is None
    True
    >>> joined = buf.add_labels(LabelEvent("a", frozenset({"x"})), now=1.0)
    >>> joined.labels, joined.scores
    (frozenset({'x'}), {'x': 0.9})
    >>> buf.add_labels(LabelEvent("a", frozenset({"x"})), now=2.0) is None, buf.counts["duplicate_labels"]
    (True, 1)
    """

    def __init__(self, limits: JoinLimits | None = None, store: MutableMapping | None = None):
        self.limits = limits or JoinLimits()
        self.store: MutableMapping[str, dict] = {} if store is None else store
        self._arrival: OrderedDict[str, float] = OrderedDict()
        self.counts: Counter[str] = Counter()
        self.rebuild()

    def __len__(self) -> int:
        """Entries held, tombstones of joined events included (see :attr:`waiting`)."""
        return len(self._arrival)

    @property
    def waiting(self) -> int:
        """Events waiting for their labels, and labels waiting for their event: not yet joined."""
        return len(self._arrival) - self.tombstones

    @property
    def tombstones(self) -> int:
        """Joined events kept to recognise duplicate labels."""
        if not hasattr(self, "_tombstones"):  # a buffer checkpointed before it was counted
            self._tombstones = sum(1 for entry in self.store.values() if entry["state"] == DONE)
        return self._tombstones

    def state_counts(self) -> Counter[str]:
        """How many entries are in each state (O(n): for status reports, not the hot path)."""
        return Counter(entry["state"] for entry in self.store.values())

    def rebuild(self) -> None:
        """Re-derive the arrival order from the store (after it was restored)."""
        entries = sorted(self.store.items(), key=lambda item: item[1]["t"])
        self._arrival = OrderedDict((key, entry["t"]) for key, entry in entries)
        self._tombstones = sum(1 for _, entry in entries if entry["state"] == DONE)

    def add_prediction(self, event: FeatureEvent, prediction: Prediction, now: float) -> JoinedExample | None:
        """Store a scored event; return the joined example if its labels were waiting."""
        entry = self._live(event.id, now)
        if entry is None:
            self._put(event.id, _pending(event, prediction, now))
            return None
        if entry["state"] == EARLY:
            self._finish(event.id, entry["t"])
            return self._audited(_joined(event.id, _pending(event, prediction, now), entry))
        # A redelivered event: it was scored again, but the first copy stays the one joined.
        self.counts["duplicate_features"] += 1
        return None

    def add_labels(self, event: LabelEvent, now: float) -> JoinedExample | None:
        """Join labels with their scored event, or park them until it is scored."""
        entry = self._live(event.id, now)
        if entry is None:
            self._put(event.id, _early(event, now))
            return None
        if entry["state"] == PENDING:
            self._finish(event.id, entry["t"])
            return self._audited(_joined(event.id, entry, _early(event, now)))
        self.counts["duplicate_labels"] += 1
        return None

    def _audited(self, joined: JoinedExample) -> JoinedExample:
        if joined.feature_ts is not None and joined.label_ts is not None and joined.label_ts < joined.feature_ts:
            self.counts["label_before_features"] += 1
        return joined

    def expire(self, now: float) -> int:
        """Drop entries beyond the age and count limits, oldest first; return how many."""
        dropped = 0
        max_age, max_entries = self.limits.max_age_s, self.limits.max_entries
        while self._arrival:
            key, t = next(iter(self._arrival.items()))
            too_old = max_age is not None and now - t > max_age
            too_many = max_entries is not None and len(self._arrival) > max_entries
            if not (too_old or too_many):
                break
            self._drop(key)
            dropped += 1
        return dropped

    def _live(self, key: str, now: float) -> dict | None:
        """The entry for ``key``, unless it is too old to use (then it expires now)."""
        entry = self.store.get(key)
        max_age = self.limits.max_age_s
        if entry is not None and max_age is not None and now - entry["t"] > max_age:
            self._drop(key)
            return None
        return entry

    def _put(self, key: str, entry: dict) -> None:
        self.store[key] = entry
        self._arrival[key] = entry["t"]
        self._arrival.move_to_end(key)
        max_entries = self.limits.max_entries
        while max_entries is not None and len(self._arrival) > max_entries:
            self._drop(next(iter(self._arrival)))

    def _finish(self, key: str, t: float) -> None:
        # The tombstone keeps the first arrival time, so it expires with the entry it replaces.
        self.store[key] = {"state": DONE, "t": t}
        self._tombstones = self.tombstones + 1
        self.counts["joined"] += 1

    def _drop(self, key: str) -> None:
        tombstones = self.tombstones  # counted before the entry goes
        self._arrival.pop(key)
        entry = self.store.pop(key, None)
        if entry is not None:
            self.counts[f"expired_{entry['state']}"] += 1
            if entry["state"] == DONE:
                self._tombstones = tombstones - 1

    def forget(self, key: str) -> bool:
        """Remove every trace of an id (its features, scores, labels and tombstone); True if held."""
        if key not in self.store:
            return False
        if self.store[key]["state"] == DONE:
            self._tombstones = self.tombstones - 1
        del self.store[key]
        self._arrival.pop(key, None)
        return True


def _pending(event: FeatureEvent, prediction: Prediction, now: float) -> dict:
    return {
        "state": PENDING,
        "t": now,
        "x": event.features,
        "fts": event.ts,
        "scores": prediction.scores,
        "predicted": prediction.labels,
        "v": prediction.model_version,
        "raw": prediction.raw_scores,
    }


def _early(event: LabelEvent, now: float) -> dict:
    return {
        "state": EARLY,
        "t": now,
        "labels": sorted(event.labels),
        "observed": None if event.observed is None else sorted(event.observed),
        "lts": event.ts,
    }


def _joined(key: str, pending: dict, labels: dict) -> JoinedExample:
    observed = labels["observed"]
    return JoinedExample(
        id=key,
        features=pending["x"],
        labels=frozenset(labels["labels"]),
        observed=None if observed is None else frozenset(observed),
        scores=pending["scores"],
        predicted=list(pending["predicted"]),
        model_version=pending["v"],
        feature_ts=pending["fts"],
        label_ts=labels["lts"],
        raw_scores=pending.get("raw"),
    )

