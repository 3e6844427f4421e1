"""The prequential engine: score, join delayed labels, score the stored prediction, learn.

The worker and the offline ``evaluate`` command drive the same :class:`Engine`, so offline
results predict the service's. The worker's agents call :meth:`Engine.score` for feature
events and :meth:`Engine.join` for label events; every joined example goes through
:meth:`Engine.learn`, which is the only place the model changes. ``model_version`` is the
number of examples learned so far: a prediction made at version ``v`` was made by the model
that had learned exactly the first ``v`` joined examples, in learning order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stream_mlc.core.alerts import Alert
from stream_mlc.core.drift import DriftMonitor, DriftSettings
from stream_mlc.core.events import FeatureEvent, JoinedExample, LabelEvent, Prediction
from stream_mlc.core.features import EncoderConfig, FeatureEncoder
from stream_mlc.core.join import JoinBuffer, JoinLimits
from stream_mlc.core.metrics import MultiLabelMetrics
from stream_mlc.core.models import make_model, reset_label
from stream_mlc.core.snapshot import ModelSnapshot, predict
from stream_mlc.core.thresholds import DEFAULT_THRESHOLDS, FixedThresholds, make_thresholds
from stream_mlc.errors import StreamMlcError


class LabelLimitError(StreamMlcError):
    """A label event names more distinct labels than the service accepts."""


class FeatureLimitError(StreamMlcError):
    """A feature event names more distinct features than the service accepts."""


#: The service's default learner and thresholds: the best of ours on the benchmark streams
#: (``stream-mlc bench models``); River's models stay available by name.
DEFAULT_MODEL = "native-mlc"


@dataclass
class EngineConfig:
    model: str = DEFAULT_MODEL
    thresholds: str = DEFAULT_THRESHOLDS
    metrics_window: int = 1000
    max_labels: int = 10_000
    max_features: int = 100_000
    #: Labels known from the start (an ARFF header, a declared label set); others join as they appear.
    labels: tuple[str, ...] = ()
    join: JoinLimits = field(default_factory=JoinLimits)
    #: Drift monitoring (None: off).
    drift: DriftSettings | None = field(default_factory=DriftSettings)
    #: How raw feature values (categories, tags, text) become numbers.
    features: EncoderConfig = field(default_factory=EncoderConfig)


class Engine:
    """One model with its label set, thresholds, join buffer and prequential metrics.

    Parameters
    ----------
    model
        A River-style multi-label classifier (see :mod:`stream_mlc.core.models`).
    thresholds
        Per-label decision thresholds; fixed at 0.5 by default.
    join
        The join buffer (checkpointed with the engine).
    metrics
        The incremental prequential metrics.
    max_labels
        Label names beyond this many are refused (:class:`LabelLimitError`).
    max_features
        Feature names beyond this many are refused (:class:`FeatureLimitError`): input
        cannot grow the model and its state without bound.
    labels
        Labels known from the start. A label event lists only positive labels, so a label
        not declared here becomes known when it is first positive; from then on it is
        learned (and scored) as negative wherever it is not listed.
    monitor
        A drift monitor fed every scored and every joined event; its alerts wait in
        :attr:`alerts` (with the model version they were raised at) for the caller to
        publish, and a ``model_reset`` alert has already reset that label's learner.

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

    def __init__(
        self,
        model,
        *,
        thresholds=None,
        join=None,
        metrics=None,
        max_labels: int = 10_000,
        max_features: int = 100_000,
        labels=(),
        monitor=None,
        encoder: FeatureEncoder | None = None,
    ):
        self.model = model
        self.thresholds = thresholds or FixedThresholds()
        self.buffer = join if join is not None else JoinBuffer()
        self.metrics = metrics or MultiLabelMetrics()
        self.max_labels = max_labels
        self.max_features = max_features
        self.features: set[str] = set()
        self.labels: list[str] = []
        self._known: set[str] = set()
        #: New labels of label events accepted but not learned yet: they count against max_labels.
        self._reserved: set[str] = set()
        self.learned = 0
        self.monitor: DriftMonitor | None = monitor
        #: Raw values to numbers; its statistics learn as events are scored (checkpointed with the engine).
        self.encoder = encoder if encoder is not None else FeatureEncoder()
        self.alerts: list[tuple[Alert, int]] = []
        for name in labels:  # declared order, not sorted
            self._admit(name)

    @classmethod
    def from_config(cls, config: EngineConfig, store=None) -> Engine:
        return cls(
            make_model(config.model),
            thresholds=make_thresholds(config.thresholds),
            join=JoinBuffer(config.join, store),
            metrics=MultiLabelMetrics(window=config.metrics_window),
            max_labels=config.max_labels,
            max_features=config.max_features,
            labels=config.labels,
            monitor=DriftMonitor(config.drift) if config.drift is not None else None,
            encoder=FeatureEncoder(config.features),
        )

    # -- scoring ---------------------------------------------------------------------------
    def predict(self, features: dict) -> dict[str, float]:
        """Probability of every known label for one event of raw features (nothing is learned)."""
        return self.prediction(FeatureEvent("", self.encoder.transform_one(features)), None).scores

    def prediction(self, event: FeatureEvent, now: float | None) -> Prediction:
        thresholds = {label: self.thresholds.get(label) for label in self.labels}
        return predict(self.model, self.labels, thresholds, event, self.learned, now)

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
        if self.monitor is not None and self.buffer.counts["duplicate_features"] == duplicates:
            self._raise(self.monitor.observe_features(event.features))
            self._raise(self.monitor.observe_prediction(prediction.scores, prediction.labels))
        return prediction, joined

    def snapshot(self) -> ModelSnapshot:
        """What a scorer needs to predict as this engine does now (pickle it before learning on)."""
        labels = tuple(self.labels)
        return ModelSnapshot(self.model, labels, self.thresholds.snapshot(labels), self.learned, self.encoder)

    # -- joining and learning ------------------------------------------------------------------
    def join(self, event: LabelEvent, now: float) -> JoinedExample | None:
        """Join labels with their scored event (or keep them until it is scored)."""
        self._check_label_budget(event)
        return self.buffer.add_labels(event, now)

    def learn(self, example: JoinedExample) -> None:
        """Score the stored prediction against the truth, adapt thresholds, then learn."""
        self._admit_labels(example.labels if example.observed is None else example.observed | example.labels)
        observed = example.observed
        counted = self.labels if observed is None else [name for name in self.labels if name in observed]
        self.metrics.update(example.labels, example.predicted, example.scores, self.labels, example.observed)
        for label in counted:
            self.thresholds.update(label, example.scores.get(label, 0.0), label in example.labels)
        self.model.learn_one(example.features, {label: label in example.labels for label in counted})
        self.learned += 1
        if self.monitor is not None:
            found = self.monitor.observe_truth(example.labels, example.predicted, self.labels, example.observed)
            for alert in found:
                if alert.kind == "model_reset":
                    reset_label(self.model, alert.subject)
                    self.thresholds.reset(alert.subject)
            self._raise(found)

    def drain_alerts(self) -> list[tuple[Alert, int]]:
        """The alerts raised since the last call, each with the model version it was raised at."""
        alerts, self.alerts = self.alerts, []
        return alerts

    def _raise(self, alerts: list[Alert]) -> None:
        if alerts:
            self.alerts.extend((alert, self.learned) for alert in alerts)

    def expire(self, now: float) -> int:
        return self.buffer.expire(now)

    def status(self) -> dict:
        """Counts and metrics, JSON-able: what ``stream-mlc status`` and the demo print."""
        report = self.metrics.report()
        return {
            "learned": self.learned,
            "labels": list(self.labels),
            "thresholds": self.thresholds.snapshot(self.labels),
            "pending": self.buffer.waiting,
            "join": dict(self.buffer.counts),
            "metrics": report,
            "drift": self.monitor.snapshot() if self.monitor is not None else {},
            "features": {"cache": self.encoder.cache_stats(), "encoded": self.encoder.learned},
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
        self.labels.append(name)
