"""The labelling loop and governance around one engine, behind one small interface.

:class:`Governance` holds what decides which labels are asked for, trusted, kept and
reported, so that the :class:`~stream_mlc.core.engine.Engine` only calls it at four points:

* **scoring**: each fresh prediction is offered to the label requester (active learning,
  :mod:`stream_mlc.core.active`); deprecated and merged labels are not predicted;
* **labels**: a label event is routed through the registry (merged labels to their target,
  deprecated ones dropped, unregistered ones refused in registered-only mode,
  :mod:`stream_mlc.core.registry`), then, with several annotators, waits for its id's other
  annotations and is resolved (:mod:`stream_mlc.core.annotators`), their agreement measured
  (:mod:`stream_mlc.core.agreement`);
* **learning**: quality per group of a feature (:mod:`stream_mlc.core.fairness`), with an
  alert when the gap between groups crosses a threshold;
* **forgetting**: an id is removed from the pending annotations (the engine clears its join
  buffer).

Everything is plain and pickle-able: it is checkpointed with the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stream_mlc.core.active import LabelRequest, LabelRequester
from stream_mlc.core.agreement import Agreement
from stream_mlc.core.annotators import Annotation, PendingAnnotations, Resolution
from stream_mlc.core.events import JoinedExample, LabelEvent, Prediction
from stream_mlc.core.fairness import GroupMetrics, group_of
from stream_mlc.core.registry import ChangePolicy, LabelRegistry

#: Fairness gaps cost O(groups x labels): they are checked every this many learned examples.
GAP_EVERY = 100


@dataclass(frozen=True)
class GovernanceConfig:
    """The labelling loop's settings (all off by default)."""

    #: Label requests: "0.1" (a fraction of events) or "5/s" (a rate); empty: off. The strategy:
    #: "uncertainty", or "random" (the baseline it is measured against).
    label_budget: str = ""
    label_strategy: str = "uncertainty"
    #: How several annotators' label events for one id combine, and when an id is resolved.
    annotation_rule: str = "majority"
    annotation_wait_for: int = 1
    annotation_deadline_s: float = 3600.0
    #: Refuse (dead-letter) label events naming labels the registry does not have.
    registered_labels_only: bool = False
    #: Registry changes followed only from these principals (empty: any), signed with this key.
    registry_principals: tuple[str, ...] = ()
    registry_key: str = field(default="", repr=False)
    #: Quality per value of this feature (empty: off), the gap that raises an alert, and how many groups.
    group_by: str = ""
    group_gap_alert: float = 0.1
    group_max: int = 20


class Governance:
    """Label requests, annotators, the label registry and group quality of one engine.

    Parameters
    ----------
    config
        What is on (:class:`GovernanceConfig`).
    known
        The engine's list of known labels (shared, not copied): an annotation without
        ``observed`` votes negative on every known label.
    max_pending
        At most this many ids wait for annotations.

    Examples
    --------
    >>> from stream_mlc.core.events import LabelEvent
    >>> governance = Governance(GovernanceConfig(annotation_wait_for=2), known=["a"])
    >>> governance.labels(LabelEvent("e", frozenset({"a"}), annotator="ann1"), now=0.0) is None
    True
    >>> sorted(governance.labels(LabelEvent("e", frozenset({"a"}), annotator="ann2"), now=1.0).labels)
    ['a']
    """

    def __init__(self, config: GovernanceConfig | None = None, known: list[str] | None = None,
                 max_pending: int = 100_000):
        config = config or GovernanceConfig()
        self.requester = LabelRequester(config.label_budget, config.label_strategy) if config.label_budget \
            else None
        self.requests: list[LabelRequest] = []
        self.annotations: PendingAnnotations | None = None
        self.agreement: Agreement | None = None
        if config.annotation_wait_for > 1:  # one annotator per id needs no resolution: its event is the truth
            self.annotations = PendingAnnotations(config.annotation_rule, config.annotation_wait_for,
                                                  config.annotation_deadline_s, max_pending)
            self.annotations.known = known if known is not None else []
            self.agreement = Agreement()
        self.registry = LabelRegistry()
        self.registered_only = config.registered_labels_only
        principals = frozenset(config.registry_principals)
        self.policy = ChangePolicy(principals, config.registry_key.encode()) if principals or config.registry_key \
            else None
        self.group_by = config.group_by
        self.groups = GroupMetrics(config.group_max, gap_threshold=config.group_gap_alert) if config.group_by \
            else None

    # -- scoring ---------------------------------------------------------------------------------
    def predictable(self, labels: list[str]) -> list[str]:
        """The labels to predict: deprecated and merged ones are not."""
        return self.registry.predictable(labels) if self.registry.records else labels

    def offer(self, prediction: Prediction, now: float) -> None:
        """Offer a fresh prediction to the label requester (a request waits in :meth:`drain_requests`)."""
        if self.requester is not None and (request := self.requester.offer(prediction, now)) is not None:
            self.requests.append(request)

    def drain_requests(self) -> list[LabelRequest]:
        requests, self.requests = self.requests, []
        return requests

    # -- labels ----------------------------------------------------------------------------------
    def route(self, event: LabelEvent) -> LabelEvent:
        """The label event as the learner should see it (registry: merged, deprecated, unregistered)."""
        if not self.registry.records and not self.registered_only:
            return event
        return self.registry.route(event, self.registered_only)

    def labels(self, event: LabelEvent, now: float) -> LabelEvent | None:
        """The truth to join now: the event itself, or once its id's annotations are resolved (else None)."""
        if self.annotations is None:
            return event
        annotation = Annotation(event.id, event.labels, event.annotator, event.observed, event.confidence or {},
                                event.ts)
        resolution = self.annotations.add(annotation, now)
        return None if resolution is None else self._resolved(resolution)

    def due(self, now: float) -> list[LabelEvent]:
        """The truths of the ids whose annotation deadline has passed."""
        if self.annotations is None:
            return []
        return [self._resolved(resolution) for resolution in self.annotations.expire(now)]

    def _resolved(self, resolution: Resolution) -> LabelEvent:
        self.agreement.observe(resolution)
        return resolution.event

    # -- learning --------------------------------------------------------------------------------
    def learned(self, example: JoinedExample, labels: list[str], count: int) -> list[dict]:
        """Group quality of a learned example; the fairness alerts due (every :data:`GAP_EVERY`)."""
        if self.groups is None:
            return []
        self.groups.update(group_of(example.features, self.group_by), example.labels, example.predicted,
                           example.scores, labels, example.observed)
        return self.groups.alerts() if count % GAP_EVERY == 0 else []

    def forget(self, key: str) -> bool:
        return self.annotations is not None and self.annotations.forget(key)

    def report(self) -> dict:
        return {
            "label_requests": dict(self.requester.counts) if self.requester is not None else {},
            "agreement": self.agreement.report() if self.agreement is not None else {},
            "groups": self.groups.report() if self.groups is not None else {},
            "registry": {"labels": len(self.registry.records), "active": len(self.registry.active())},
        }
