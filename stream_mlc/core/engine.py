"""The prequential engine: score, join delayed labels, score the stored prediction, learn.

The worker and the offline ``evaluate`` command drive the same :class:`Engine` (through the
dispatch of :mod:`stream_mlc.core.processor`), so offline results predict the service's.
:meth:`Engine.score` takes feature events and :meth:`Engine.join` label events; every joined
example goes through :meth:`Engine.learn` (or :meth:`Engine.learn_batch`, which the scaled
learner uses for a learn-topic message's examples), the only places the model changes.
``model_version`` is the number of examples learned so far: a prediction made at version
``v`` was made by the model that had learned exactly the first ``v`` joined examples.

An event's raw features are encoded once (:mod:`stream_mlc.core.features`); the model's
scores become a prediction in one place, the decision policy (calibration, thresholds,
set-size bounds, label rules: :mod:`stream_mlc.core.decision`); the labelling loop and
governance (label requests, annotators, the label registry, group quality) sit behind
:class:`~stream_mlc.core.governance.Governance`.
"""

from __future__ import annotations

import dataclasses

from stream_mlc.core.alerts import Alert, from_event, label_leak
from stream_mlc.core.calibration import IdentityCalibrator
from stream_mlc.core.decision import DecisionPolicy, make_decision_policy
from stream_mlc.core.drift import DriftMonitor

# Moved to engine_config (size rule); imported so imports from here keep working (`as`: a re-export).
from stream_mlc.core.engine_config import DEFAULT_MODEL as DEFAULT_MODEL
from stream_mlc.core.engine_config import EngineConfig, FeatureLimitError, LabelLimitError, LabelRuleError
from stream_mlc.core.events import FeatureEvent, JoinedExample, LabelEvent, Prediction
from stream_mlc.core.features import FeatureEncoder
from stream_mlc.core.governance import Governance
from stream_mlc.core.join import JoinBuffer
from stream_mlc.core.label_index import LabelIndex
from stream_mlc.core.metrics import MultiLabelMetrics
from stream_mlc.core.models import make_model, reset_label
from stream_mlc.core.registry import LabelChange, impact_report, merge_label_state
from stream_mlc.core.snapshot import ModelSnapshot, predict
from stream_mlc.core.thresholds import FixedThresholds


class Engine:
    """One model with its label set, decision policy, join buffer and prequential metrics.

    Parameters
    ----------
    model
        A River-style multi-label classifier (see :mod:`stream_mlc.core.models`).
    thresholds
        Per-label decision thresholds, with no calibration (fixed at 0.5 by default); or
    policy
        the whole decision policy (:class:`~stream_mlc.core.decision.DecisionPolicy`).
    join
        The join buffer (checkpointed with the engine).
    metrics
        The incremental prequential metrics.
    max_labels, max_features
        Label and feature names beyond this many are refused (:class:`LabelLimitError`,
        :class:`FeatureLimitError`): input cannot grow the model and its state without bound.
    labels
        Labels known from the start. A label event lists only positive labels, so a label
        not declared here becomes known when it is first positive; from then on it is
        learned (and scored) as negative wherever it is not listed.
    monitor
        A drift monitor fed every scored and every joined event; its alerts wait in
        :attr:`alerts` (with the model version they were raised at) for the caller to
        publish, and a ``model_reset`` alert has already reset that label's learner.
    encoder
        Raw feature values to numbers (:class:`~stream_mlc.core.features.FeatureEncoder`).
    governance
        The labelling loop (:class:`~stream_mlc.core.governance.Governance`).

    Examples
    --------
    >>> from stream_mlc.core.events import FeatureEvent, LabelEvent
    >>> engine = Engine.from_config(EngineConfig(model="river-br-lr"))
    >>> prediction, _ = engine.score(FeatureEvent("e1", {"f": 1.0}), now=0.0)
    >>> prediction.model_version, prediction.labels
    (0, [])
    >>> joined = engine.join(LabelEvent("e1", frozenset({"spam"})), now=1.0)
    >>> engine.learn(joined)
    >>> engine.labels, engine.learned
    (['spam'], 1)
    """

    def __init__(self, model, *, thresholds=None, policy: DecisionPolicy | None = None, join=None, metrics=None,
                 max_labels: int = 10_000, max_features: int = 100_000, labels=(), monitor=None,
                 encoder: FeatureEncoder | None = None, governance: Governance | None = None):
        self.model = model
        #: Scores -> calibrated scores -> label set; ``thresholds`` alone means no calibration.
        self.policy = policy or DecisionPolicy(thresholds or FixedThresholds(), IdentityCalibrator())
        self.buffer = join if join is not None else JoinBuffer()
        self.metrics = metrics or MultiLabelMetrics()
        self.max_labels = max_labels
        self.max_features = max_features
        self.features: set[str] = set()
        self.labels: list[str] = []
        self._index = LabelIndex()  # where each label sits in labels
        self._known: set[str] = set()
        #: New labels of label events accepted but not learned yet: they count against max_labels.
        self._reserved: set[str] = set()
        self.learned = 0
        self.monitor: DriftMonitor | None = monitor
        #: Raw values to numbers; its statistics learn as events are scored (checkpointed with the engine).
        self.encoder = encoder if encoder is not None else FeatureEncoder()
        self.governance = governance if governance is not None else Governance(known=self.labels)
        self.alerts: list[tuple[Alert, int]] = []
        for name in labels:  # declared order, not sorted
            self._admit(name)

    @classmethod
    def from_config(cls, config: EngineConfig, store=None) -> Engine:
        labels: list[str] = []
        engine = cls(
            make_model(config.model),
            policy=make_decision_policy(config.thresholds, config.calibration, rules=config.rules,
                                        explain=config.explain, costs=config.costs, audit_step=config.audit_step,
                                        window=config.metrics_window),
            join=JoinBuffer(config.join, store),
            metrics=MultiLabelMetrics(window=config.metrics_window),
            max_labels=config.max_labels,
            max_features=config.max_features,
            monitor=DriftMonitor(config.drift) if config.drift is not None else None,
            encoder=FeatureEncoder(config.features),
            governance=Governance(config.governance, known=labels, max_pending=config.join.max_entries or 100_000),
        )
        engine.labels = labels  # the list the governance's annotations vote over
        for name in config.labels:
            engine._admit(name)
        return engine

    # -- scoring ---------------------------------------------------------------------------
    @property
    def thresholds(self):
        return self.policy.thresholds

    def predict(self, features: dict) -> dict[str, float]:
        """Probability of every predicted label for one event of raw features (nothing is learned)."""
        return self.prediction(FeatureEvent("", self.encoder.transform_one(features)), None).scores

    def prediction(self, event: FeatureEvent, now: float | None) -> Prediction:
        """The prediction for an encoded event (deprecated and merged labels are not predicted)."""
        return predict(self.model, self.governance.predictable(self.labels), self.policy, event, self.learned, now)

    def score(self, event: FeatureEvent, now: float) -> tuple[Prediction, JoinedExample | None]:
        """Encode one event, predict it and keep it for its labels; return the example if they already came.

        The event is encoded once, with the encoder's statistics before it, which then learn it
        (they need no labels); the join buffer keeps the encoded vector, which ``learn`` uses.
        """
        event = self.encode(event)
        self._check_feature_budget(event.features)
        return self._keep(event, self.prediction(event, now), now)

    def record(self, event: FeatureEvent, prediction: Prediction, now: float) -> JoinedExample | None:
        """Keep an event a scorer predicted (scaled mode, raw features); return the example if its labels came."""
        event = self.encode(event)
        self._check_feature_budget(event.features)
        return self._keep(event, prediction, now)[1]

    def encode(self, event: FeatureEvent) -> FeatureEvent:
        """The event with its raw features encoded (and learned into the encoder's statistics)."""
        return FeatureEvent(event.id, self.encoder.encode_one(event.features), event.ts)

    def _keep(self, event: FeatureEvent, prediction: Prediction, now: float):
        duplicates = self.buffer.counts["duplicate_features"]
        joined = self.buffer.add_prediction(event, prediction, now)
        # A redelivered event is not a new observation of the feature and score distributions.
        if self.buffer.counts["duplicate_features"] == duplicates:
            if self.monitor is not None:
                self._raise(self.monitor.observe_features(event.features))
                self._raise(self.monitor.observe_prediction(prediction.scores, prediction.labels))
            self.governance.offer(prediction, now)
        return prediction, joined

    def snapshot(self) -> ModelSnapshot:
        """What a scorer needs to predict as this engine does now (pickle it before learning on)."""
        labels = tuple(self.governance.predictable(self.labels))
        return ModelSnapshot(self.model, labels, self.policy.frozen(labels), self.learned, self.encoder)

    # -- joining and learning ------------------------------------------------------------------
    def join(self, event: LabelEvent, now: float) -> JoinedExample | None:
        """Join labels with their scored event (or keep them until it is scored).

        The registry routes the labels, the label rules check them, and with several
        annotators the event waits for the id's others (:class:`~stream_mlc.core.governance.Governance`).
        """
        event = self._checked(self.governance.route(event))
        self._check_label_budget(event)
        truth = self.governance.labels(event, now)
        return None if truth is None else self.buffer.add_labels(truth, now)

    def resolve_due(self, now: float) -> list[JoinedExample]:
        """Join the ids whose annotation deadline has passed; the examples to learn."""
        joined = (self.buffer.add_labels(truth, now) for truth in self.governance.due(now))
        return [example for example in joined if example is not None]

    def _checked(self, event: LabelEvent) -> LabelEvent:
        rules = self.policy.rules
        if rules is None:
            return event
        verdict = rules.check_truth(event.labels)
        if verdict.action == "deadletter":
            raise LabelRuleError(f"label event {event.id!r} breaks the label rules: {', '.join(verdict.violations)}")
        if verdict.labels == event.labels:
            return event
        observed = None if event.observed is None else event.observed | verdict.labels
        return dataclasses.replace(event, labels=verdict.labels, observed=observed)

    def learn(self, example: JoinedExample) -> None:
        """Score the stored prediction against the truth, adapt the decision policy, then learn."""
        self._admit_labels(example.labels if example.observed is None else example.observed | example.labels)
        self._evaluate(example)
        self.model.learn_one(example.features, self._targets(example))
        self._learned(example)

    def learn_batch(self, examples: list[JoinedExample]) -> list[tuple[JoinedExample, Exception]]:
        """Learn examples joined together: as :meth:`learn` each, the bookkeeping done at once.

        The model learns them one step per example, in order (a mini-batch step costs
        order-sensitive streams too much: ``stream-mlc bench batching``); then the stored
        predictions of those it learned are scored, and the decision policy adapts to them
        at once (its thresholds and curves are re-chosen at the batch's end). Returns the
        examples the model refused, with the error: they are not learned, and nothing
        else has changed for them.
        """
        refused, learned = [], []
        learn_one = self.model.learn_one
        for example in examples:
            self._admit_labels(example.labels if example.observed is None else example.observed | example.labels)
            try:
                learn_one(example.features, self._targets(example))
            except Exception as error:
                refused.append((example, error))
                continue
            learned.append(example)
        for example in learned:
            self.metrics.update(example.labels, example.predicted, example.scores, self.labels, example.observed)
        if learned:
            self.policy.update_batch(self.labels, [self._policy_arrays(example) for example in learned])
        for example in learned:
            self._learned(example)
        return refused

    def _targets(self, example: JoinedExample) -> dict:
        """``{label: truth}`` for the labels known for the example (all, unless ``observed``)."""
        observed, truth = example.observed, example.labels
        counted = self.labels if observed is None else [name for name in self.labels if name in observed]
        return {label: label in truth for label in counted}

    def _evaluate(self, example: JoinedExample) -> None:
        """Score the stored prediction against the truth, and adapt the decision policy."""
        self.metrics.update(example.labels, example.predicted, example.scores, self.labels, example.observed)
        self._update_policy(example)

    def _learned(self, example: JoinedExample) -> None:
        """What follows learning an example: the version, audits, fairness, promotions, drift."""
        self.learned += 1
        self._audit_leakage(example)
        self._raise([from_event(found, "fairness") for found in
                     self.governance.learned(example, self.labels, self.learned)])
        drain = getattr(self.model, "drain_events", None)  # a portfolio's promotions
        if drain is not None:
            self._raise([from_event(found, "portfolio") for found in drain()])
        if self.monitor is not None:
            found = self.monitor.observe_truth(example.labels, example.predicted, self.labels, example.observed)
            for alert in found:
                if alert.kind == "model_reset":
                    reset_label(self.model, alert.subject)
                    self.policy.reset(alert.subject)
            self._raise(found)

    def _audit_leakage(self, example: JoinedExample) -> None:
        """Alert on labels older than their features (the 1st, 10th, 100th... such example): a leak."""
        alert = label_leak(example, self.buffer.counts["label_before_features"])
        if alert is not None:
            self._raise([alert])

    def _update_policy(self, example: JoinedExample) -> None:
        """Feed the decision policy the raw scores of scoring time (labels new since: 0.0)."""
        self.policy.update(self.labels, *self._policy_arrays(example))

    def _policy_arrays(self, example: JoinedExample) -> tuple:
        """``(raw, truth, known, published)`` of an example, aligned with the labels (see the policy)."""
        labels, index = self.labels, self._index
        raw = index.values(labels, example.raw_scores if example.raw_scores is not None else example.scores)
        truth = index.mask(labels, example.labels)
        known = None if example.observed is None else index.mask(labels, example.observed)
        # The ECE is measured on what was published, when it covers every label.
        published = None
        if example.raw_scores is not None and len(example.scores) == len(labels):
            published = index.values(labels, example.scores)
        return raw, truth, known, published

    def drain_alerts(self) -> list[tuple[Alert, int]]:
        """The alerts raised since the last call (drift, promotions, decision audit events), each with
        the model version it was raised at."""
        self._raise([from_event(found, "decision") for found in self.policy.drain_events()])
        alerts, self.alerts = self.alerts, []
        return alerts

    def drain_requests(self) -> list:
        """The label requests made since the last call, for the caller to publish."""
        return self.governance.drain_requests()

    def _raise(self, alerts: list[Alert]) -> None:
        if alerts:
            self.alerts.extend((alert, self.learned) for alert in alerts)

    def expire(self, now: float) -> int:
        return self.buffer.expire(now)

    # -- governance: the label registry and forget requests -----------------------------------
    def follow_registry(self, doc: dict) -> dict:
        """Apply a label record from the registry topic; return its impact report.

        A merge target new to the model starts from the source's learner (README: The label
        registry). A change the policy refuses raises (the caller dead-letters the record).
        """
        governance = self.governance
        governance.registry = governance.registry.follow(doc, governance.policy)
        history = doc.get("history") or [{}]
        change = LabelChange.from_wire(history[-1]) if history[-1] else None
        name = doc["name"]
        if change is not None and change.op == "merge" and change.into == name and name not in self._known:
            self._admit(name)
            merge_label_state(self.model, self.thresholds, change.label, name)
        involved = [name] + ([doc["merged_into"]] if doc.get("merged_into") else [])
        return impact_report({"change": history[-1], "labels": involved}, self.status())

    def forget(self, key: str) -> bool:
        """Remove an event id from every state that holds it (``stream-mlc forget``)."""
        found = self.buffer.forget(key)
        return self.governance.forget(key) or found

    def status(self) -> dict:
        """Counts and metrics, JSON-able: what ``stream-mlc status`` and the demo print."""
        report = getattr(self.model, "report", None)  # a portfolio's members and champion
        return {
            "learned": self.learned,
            "labels": list(self.labels),
            "thresholds": self.policy.snapshot(self.labels),
            "decisions": self.policy.report(self.labels),
            "pending": self.buffer.waiting,
            "join": dict(self.buffer.counts),
            "metrics": self.metrics.report(),
            "drift": self.monitor.snapshot() if self.monitor is not None else {},
            "features": {"cache": self.encoder.cache_stats(), "encoded": self.encoder.learned},
            "models": report() if report is not None else {},
            **self.governance.report(),
        }

    def _check_feature_budget(self, features: dict[str, float]) -> None:
        known = self.features
        if known.issuperset(features):
            return
        new = [name for name in features if name not in known]
        if len(known) + len(new) > self.max_features:
            raise FeatureLimitError(
                f"feature limit reached: {len(known)} features known, max_features={self.max_features}; "
                f"refusing new features {sorted(new)[:5]}"
            )
        known.update(new)

    def _check_label_budget(self, event: LabelEvent) -> None:
        names = event.labels if event.observed is None else event.labels | event.observed
        new = [name for name in names if name not in self._known and name not in self._reserved]
        if not new:
            return
        if len(self._known) + len(self._reserved) + len(new) > self.max_labels:
            raise LabelLimitError(
                f"label limit reached: {len(self._known) + len(self._reserved)} labels known or pending, "
                f"max_labels={self.max_labels}; refusing new labels {sorted(new)[:5]}"
            )
        self._reserved.update(new)

    def _admit_labels(self, names) -> None:
        # Sorted, so that a batch of new labels gets the same order in every run.
        for name in sorted(names):
            if name not in self._known:
                self._admit(name)

    def _admit(self, name: str) -> None:
        self._reserved.discard(name)
        self._known.add(name)
        self._index.add(name, len(self.labels))
        self.labels.append(name)
