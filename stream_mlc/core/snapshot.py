"""Model snapshots: what a scorer needs of the learner's state to predict as the learner would.

In scaled mode one worker learns and every worker scores (README: Scaling). The learner
publishes a :class:`ModelSnapshot` (the model, the label set, each label's threshold and
the version: examples learned) every so often; scorers load the newest and predict with
it. :func:`predict` is the one place a prediction is made, for the engine and the
snapshots alike, so a snapshot scores an event exactly as the engine it was taken from.

Snapshots travel as ``MAGIC | schema | SHA-256 | pickle`` (see
:mod:`stream_mlc.core.checkpoint`): only ever load them from the service's own topic.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stream_mlc.core.checkpoint import seal, unseal
from stream_mlc.core.events import FeatureEvent, Prediction
from stream_mlc.core.explain import explain
from stream_mlc.core.features import FeatureEncoder

MAGIC = b"SMLC-SNAP"


@dataclass(frozen=True)
class ModelSnapshot:
    """A frozen copy of the learner's model, labels, decision policy and encoder at one version.

    Examples
    --------
    >>> from stream_mlc.core.engine import Engine, EngineConfig
    >>> from stream_mlc.core.events import FeatureEvent, LabelEvent
    >>> engine = Engine.from_config(EngineConfig(labels=("a", "b")))
    >>> for i in range(20):
    ...     _, _ = engine.score(FeatureEvent(str(i), {"x": i % 2}), now=i)
    ...     engine.learn(engine.join(LabelEvent(str(i), frozenset({"ab"[i % 2]})), now=i))
    >>> snapshot = loads(dumps(engine.snapshot()))
    >>> event = FeatureEvent("new", {"x": 1.0})
    >>> snapshot.prediction(event, now=0.0) == engine.prediction(event, now=0.0)
    True
    >>> snapshot.version, snapshot.prediction(event, now=0.0).labels
    (20, ['b'])
    """

    model: object
    labels: tuple[str, ...]
    #: What turns scores into a prediction (a frozen :class:`~stream_mlc.core.decision.DecisionPolicy`).
    policy: object
    version: int
    #: The learner's feature encoder at this version: scorers encode raw events as it does.
    encoder: FeatureEncoder | None = None

    def encoded(self, event: FeatureEvent) -> FeatureEvent:
        """The event with its raw features encoded by the snapshot's encoder (which learns nothing)."""
        if self.encoder is None:
            return event
        return FeatureEvent(event.id, self.encoder.transform_one(event.features), event.ts)

    @property
    def thresholds(self) -> dict[str, float]:
        return self.policy.snapshot(self.labels)

    def prediction(self, event: FeatureEvent, now: float | None) -> Prediction:
        return predict(self.model, self.labels, self.policy, self.encoded(event), self.version, now)

    def predictions(self, events: Sequence[FeatureEvent], now: float | None) -> list[Prediction]:
        """Score a batch at once where the model has a batch path; equal to one by one (to 1e-12)."""
        batch = getattr(self.model, "predict_proba_batch", None)
        if batch is None or len(events) < 2:
            return [self.prediction(event, now) for event in events]
        events = [self.encoded(event) for event in events]
        model_labels, proba = batch([event.features for event in events])
        column = {label: i for i, label in enumerate(model_labels)}
        raw = np.zeros((len(events), len(self.labels)))
        for j, label in enumerate(self.labels):
            if label in column:
                raw[:, j] = proba[:, column[label]]
        calibrated, masks, corrections = self.policy.decide_batch(self.labels, raw)
        thresholds = self.policy.snapshot(self.labels)
        return [
            _prediction(self.model, self.labels, self.policy, event, raw[i], (calibrated[i], masks[i], corrections[i]),
                        thresholds, self.version, now)
            for i, event in enumerate(events)
        ]


def predict(model, labels: Sequence[str], policy, event: FeatureEvent, version: int, now: float | None) -> Prediction:
    """Every known label's calibrated probability, and the labels the decision policy predicts."""
    raw = raw_scores(model, labels, event.features)
    return _prediction(model, labels, policy, event, raw, policy.decide(labels, raw), policy.snapshot(labels),
                       version, now)


def raw_scores(model, labels: Sequence[str], features: dict) -> np.ndarray:
    """The model's probability of each of ``labels`` for one event (0.0 for labels it does not know).

    A model with ``predict_vector`` (the native learners) gives its labels and an array in
    their order; else River's ``predict_proba_one`` dict of dicts is read label by label.
    """
    vector = getattr(model, "predict_vector", None)
    if vector is None:
        proba = model.predict_proba_one(features)
        return np.fromiter((_positive(proba.get(label)) for label in labels), dtype=np.float64, count=len(labels))
    own, p = vector(features)
    if len(own) == len(labels) and own == labels:
        return p
    column = {label: i for i, label in enumerate(own)}
    out = np.zeros(len(labels))
    for j, label in enumerate(labels):
        i = column.get(label)
        if i is not None:
            out[j] = p[i]
    return out


def _prediction(model, labels, policy, event, raw, decided, thresholds, version, now) -> Prediction:
    """The prediction from a decision: the labels of the mask, in ``labels`` order, explained if asked."""
    calibrated, mask, corrections = decided
    predicted = [label for label, chosen in zip(labels, mask.tolist(), strict=True) if chosen]
    explanations = explain(model, event.features, predicted, policy.explain) if policy.explain and predicted else None
    return Prediction(event.id, predicted, dict(zip(labels, calibrated.tolist(), strict=True)), version, thresholds,
                      now, raw_scores=dict(zip(labels, raw.tolist(), strict=True)), explanations=explanations,
                      corrections=corrections or None)


def dumps(snapshot: ModelSnapshot) -> bytes:
    return seal(pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL), MAGIC)


def loads(data: bytes) -> ModelSnapshot:
    """The snapshot in ``data``, after checking its magic, schema version and checksum."""
    snapshot = pickle.loads(unseal(data, MAGIC, "model snapshot"))  # noqa: S301 - checked by unseal
    if not isinstance(snapshot, ModelSnapshot):
        raise TypeError("model snapshot payload is not a ModelSnapshot")
    return snapshot


def _positive(proba) -> float:
    if not proba:
        return 0.0
    return float(proba.get(True, 0.0))
