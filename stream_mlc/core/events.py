"""The events the core works on, already decoded and validated (see :mod:`stream_mlc.wire`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FeatureEvent:
    """One event to classify: ``features`` maps feature names to raw values (finite numbers,
    booleans, categories, lists of tags, text; see :mod:`stream_mlc.core.features`), or, once
    the engine has encoded it, to finite floats."""

    id: str
    features: dict[str, float | bool | str | list[str]]
    ts: float | None = None


@dataclass(frozen=True, slots=True)
class LabelEvent:
    """The truth for one event.

    ``observed`` is None when every label not in ``labels`` is negative; otherwise only the
    labels in ``observed`` (which always includes ``labels``) are known for this event.
    ``annotator`` names who labelled it, ``confidence`` how sure they are per label
    (see :mod:`stream_mlc.core.annotators`).
    """

    id: str
    labels: frozenset[str]
    observed: frozenset[str] | None = None
    ts: float | None = None
    annotator: str = ""
    confidence: Mapping[str, float] | None = None


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the service publishes for one feature event.

    ``model_version`` is the number of examples the model had learned when it scored the
    event, so that the exact interleaving of scoring and learning can be replayed offline.
    """

    id: str
    labels: list[str]
    scores: dict[str, float]
    model_version: int
    thresholds: dict[str, float] = field(default_factory=dict)
    ts: float | None = None
    #: The model's own scores before calibration (``scores`` are the calibrated ones), kept
    #: for the decision policy to learn from when the labels come; None if not kept.
    raw_scores: dict[str, float] | None = None
    #: Per predicted label, its top contributing features ``[(feature, contribution), ...]``
    #: (STREAM_MLC_EXPLAIN > 0), and the label rules' corrections of this prediction.
    explanations: dict[str, list] | None = None
    corrections: list[dict] | None = None


@dataclass(frozen=True, slots=True)
class JoinedExample:
    """A scored event joined with its truth: what the learner learns, in learning order."""

    id: str
    features: dict[str, float]
    labels: frozenset[str]
    observed: frozenset[str] | None
    scores: dict[str, float]
    predicted: list[str]
    model_version: int
    feature_ts: float | None = None
    label_ts: float | None = None
    #: The model's scores before calibration at scoring time (None: ``scores`` are raw).
    raw_scores: dict[str, float] | None = None
