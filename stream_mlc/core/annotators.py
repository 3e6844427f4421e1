"""Several annotators' label events for one id, resolved into the one truth the model learns.

A label event may carry ``annotator`` (a string) and ``confidence`` (label to a number in
[0, 1]: how sure the annotator is of what they said about that label, 1.0 when absent).
Each annotation votes on every label it covers: without ``observed``, on every label it
lists and every label known (as negative where unlisted); with ``observed``, only on those.

Rules (:data:`RULES`):

``majority``
    a label is positive when more votes say positive than negative (a tie is negative: we
    learn a label only when the annotators lean to it);
``weighted``
    each vote counts with its confidence: positive when the confidence-weighted votes for
    exceed those against (a tie is negative).

:class:`PendingAnnotations` holds an id's annotations until ``wait_for`` distinct annotators
have sent one, or until ``deadline_s`` after the first (then it resolves with what it has).
It is a plain pickle-able object keyed by id, checkpointed with the engine.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from stream_mlc.core.events import LabelEvent
from stream_mlc.errors import ConfigError

RULES = ("majority", "weighted")

#: The annotator of a label event that names none.
ANONYMOUS = ""


@dataclass(frozen=True, slots=True)
class Annotation:
    """One annotator's label event: positive labels, observed labels, per-label confidence."""

    id: str
    labels: frozenset[str]
    annotator: str = ANONYMOUS
    observed: frozenset[str] | None = None
    confidence: Mapping[str, float] = field(default_factory=dict)
    ts: float | None = None

    def covers(self, label: str) -> bool:
        return self.observed is None or label in self.observed


@dataclass(frozen=True, slots=True)
class Vote:
    annotator: str
    positive: bool
    confidence: float


@dataclass(frozen=True)
class Resolution:
    """The resolved truth of one id, with the votes it came from (for agreement statistics)."""

    event: LabelEvent
    votes: Mapping[str, tuple[Vote, ...]]

    @property
    def annotators(self) -> list[str]:
        return sorted({vote.annotator for votes in self.votes.values() for vote in votes})


def collect_votes(annotations: Iterable[Annotation], known: Iterable[str] = ()) -> dict[str, tuple[Vote, ...]]:
    """Every label's votes: the labels known, listed or observed by any annotation.

    >>> a = Annotation("e", frozenset({"x"}), "ann1")
    >>> b = Annotation("e", frozenset(), "ann2", confidence={"x": 0.6})
    >>> [(v.annotator, v.positive, v.confidence) for v in collect_votes([a, b])["x"]]
    [('ann1', True, 1.0), ('ann2', False, 0.6)]
    """
    annotations = list(annotations)
    labels = set(known)
    for annotation in annotations:
        labels |= annotation.labels | (annotation.observed or frozenset())
    return {
        label: tuple(
            Vote(a.annotator, label in a.labels, float(a.confidence.get(label, 1.0)))
            for a in annotations if a.covers(label)
        )
        for label in sorted(labels)
    }


def resolve(annotations: list[Annotation], rule: str = "majority", known: Iterable[str] = ()) -> Resolution:
    """Combine one id's annotations by ``rule`` (see the module docstring).

    >>> anns = [Annotation("e", frozenset({"x"}), "a", confidence={"x": 0.9}),
    ...         Annotation("e", frozenset(), "b", confidence={"x": 0.2}),
    ...         Annotation("e", frozenset(), "c", confidence={"x": 0.3})]
    >>> sorted(resolve(anns, "majority").event.labels), sorted(resolve(anns, "weighted").event.labels)
    ([], ['x'])
    """
    if rule not in RULES:
        raise ConfigError(f"annotation rule {rule!r}: expected one of {', '.join(RULES)}")
    votes = collect_votes(annotations, known)
    weigh = (lambda vote: 1.0) if rule == "majority" else (lambda vote: vote.confidence)
    positives = frozenset(
        label for label, cast in votes.items()
        if sum(weigh(v) for v in cast if v.positive) > sum(weigh(v) for v in cast if not v.positive)
    )
    partial = any(a.observed is not None for a in annotations)
    observed = frozenset(label for label, cast in votes.items() if cast) if partial else None
    times = [a.ts for a in annotations if a.ts is not None]
    event = LabelEvent(annotations[0].id, positives, observed, max(times) if times else None)
    return Resolution(event, votes)


class PendingAnnotations:
    """Annotations waiting, per id, for ``wait_for`` annotators or ``deadline_s``.

    Parameters
    ----------
    rule
        How the annotations are combined (:data:`RULES`).
    wait_for
        Resolve an id once this many distinct annotators have annotated it (1: at once).
    deadline_s
        Resolve an id with what it has this long (caller's clock) after its first annotation.
    max_pending
        At most this many ids wait; beyond it the oldest is resolved early.

    Examples
    --------
    >>> pending = PendingAnnotations(wait_for=3, deadline_s=60.0)
    >>> pending.add(Annotation("e", frozenset({"x"}), "a"), now=0.0) is None
    True
    >>> pending.add(Annotation("e", frozenset({"x"}), "b"), now=5.0) is None
    True
    >>> [sorted(r.event.labels) for r in pending.expire(now=61.0)]
    [['x']]
    >>> len(pending)
    0
    """

    def __init__(self, rule: str = "majority", wait_for: int = 1, deadline_s: float = 3600.0,
                 max_pending: int = 100_000, known: Iterable[str] = ()):
        if rule not in RULES:
            raise ConfigError(f"annotation rule {rule!r}: expected one of {', '.join(RULES)}")
        if wait_for < 1 or deadline_s <= 0 or max_pending < 1:
            raise ConfigError("annotations: wait_for and max_pending must be >= 1 and deadline_s > 0")
        self.rule, self.wait_for, self.deadline_s, self.max_pending = rule, wait_for, deadline_s, max_pending
        self.known: list[str] = list(known)
        #: id -> (first arrival, {annotator: their latest annotation}), oldest first.
        self._waiting: OrderedDict[str, tuple[float, dict[str, Annotation]]] = OrderedDict()
        self._ready: list[Resolution] = []

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, key: str) -> bool:
        return key in self._waiting

    def add(self, annotation: Annotation, now: float) -> Resolution | None:
        """Keep ``annotation``; return the id's resolution once enough annotators have sent one."""
        first, by = self._waiting.get(annotation.id, (now, {}))
        by[annotation.annotator] = annotation  # an annotator's later event replaces their earlier one
        if len(by) >= self.wait_for:
            self._waiting.pop(annotation.id, None)
            return self._resolve(by)
        self._waiting[annotation.id] = (first, by)
        while len(self._waiting) > self.max_pending:
            _, (_, oldest) = self._waiting.popitem(last=False)
            self._ready.append(self._resolve(oldest))
        return None

    def expire(self, now: float) -> list[Resolution]:
        """Resolutions of the ids past their deadline (and of those evicted early), oldest first."""
        ready, self._ready = self._ready, []
        while self._waiting:
            key, (first, by) = next(iter(self._waiting.items()))
            if now - first < self.deadline_s:
                break
            del self._waiting[key]
            ready.append(self._resolve(by))
        return ready

    def forget(self, key: str) -> bool:
        """Drop an id's annotations (``stream-mlc forget``); True if it had any."""
        found = self._waiting.pop(key, None) is not None
        kept = [r for r in self._ready if r.event.id != key]
        found = found or len(kept) < len(self._ready)
        self._ready = kept
        return found

    def _resolve(self, by: dict[str, Annotation]) -> Resolution:
        return resolve(sorted(by.values(), key=lambda a: a.annotator), self.rule, self.known)
