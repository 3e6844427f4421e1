"""Drift alerts and their debouncing.

An :class:`Alert` is what the drift monitor hands back to its caller and what the service
publishes on the ``alerts`` topic (see ``topics/alerts.json``). :class:`AlertGate` decides
*whether* a detector's finding becomes an alert: at most one alert per (kind, detector,
subject) per cooldown, and one ``recovered`` alert when a subject that was reported goes
back under its threshold. Both are plain, pickle-able objects (they are checkpointed).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

CONCEPT_DRIFT = "concept_drift"
FEATURE_DRIFT = "feature_drift"
PREDICTION_DRIFT = "prediction_drift"
LABEL_DRIFT = "label_drift"
MODEL_RESET = "model_reset"
RECOVERED = "recovered"
#: Decisions the service makes on its own, published for audit with the model version.
MODEL_PROMOTED = "model_promoted"
THRESHOLD_MOVED = "threshold_moved"
CALIBRATION_RESET = "calibration_reset"
RULE_CORRECTION = "rule_correction"
FAIRNESS_GAP = "fairness_gap"
LABEL_CHANGE = "label_change"
#: A label event older than its feature event: features computed after the truth can leak it.
LABEL_BEFORE_FEATURES = "label_before_features"

KINDS = frozenset({CONCEPT_DRIFT, FEATURE_DRIFT, PREDICTION_DRIFT, LABEL_DRIFT, MODEL_RESET, RECOVERED,
                   MODEL_PROMOTED, THRESHOLD_MOVED, CALIBRATION_RESET, RULE_CORRECTION, FAIRNESS_GAP, LABEL_CHANGE,
                   LABEL_BEFORE_FEATURES})

#: The ``subject`` of an example-level detector (e.g. ADWIN on the per-event Hamming loss).
EXAMPLE_LEVEL = "*"


@dataclass(frozen=True, slots=True)
class Alert:
    """One drift finding, a model reset, or a recovery.

    Parameters
    ----------
    kind
        One of ``concept_drift``, ``feature_drift``, ``prediction_drift``, ``label_drift``,
        ``model_reset``, ``recovered``.
    detector
        What found it: ``adwin`` (error streams), ``psi`` (feature distributions),
        ``score_psi`` (score distributions), ``positive_rate`` (rate of positive
        predictions), ``label_rate`` (rate of true labels). A ``recovered`` alert carries
        the detector of the alert it closes, so (detector, subject) says what recovered.
    subject
        The label or feature name, or ``"*"`` for the example level.
    value
        The statistic: PSI, ``|z|``, or for ADWIN the error rate of the window kept.
    threshold
        The bound ``value`` crossed: the warn or alert threshold, or for ADWIN the error
        rate before the change (the dropped part of the window).
    message
        A sentence for a person, with the figures.

    Examples
    --------
    >>> a = Alert("feature_drift", "psi", "f1", 0.31, 0.25, "feature 'f1' drifted")
    >>> sorted(a.to_wire(ts=1.5, model_version=7))
    ['detector', 'kind', 'message', 'model_version', 'subject', 'threshold', 'ts', 'value']
    """

    kind: str
    detector: str
    subject: str
    value: float
    threshold: float
    message: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r}; expected one of {sorted(KINDS)}")

    def to_wire(self, ts: float, model_version: int) -> dict:
        """The record published on the ``alerts`` topic.

        Non-finite figures (which JSON cannot carry) are written as 0.0; the message keeps
        the original text.
        """
        return {
            "kind": self.kind,
            "detector": self.detector,
            "subject": self.subject,
            "value": _finite(self.value),
            "threshold": _finite(self.threshold),
            "ts": float(ts),
            "model_version": int(model_version),
            "message": self.message,
        }


def from_event(event: dict, detector: str) -> Alert:
    """An alert from an event dict a model or decision policy reports (``kind``, ``subject``, ``message``).

    >>> from_event({"kind": "model_promoted", "subject": "chains", "message": "promoted"}, "portfolio").kind
    'model_promoted'
    """
    evidence = event.get("evidence") or {}  # a promotion's: the challenger's and the champion's figures
    message = str(event["message"]) + (f" (evidence: {evidence})" if evidence else "")
    return Alert(event["kind"], event.get("detector", detector), str(event.get("subject", EXAMPLE_LEVEL)),
                 float(event.get("value", evidence.get("challenger_value", 0.0))),
                 float(event.get("threshold", evidence.get("champion_value", 0.0))), message)


def _finite(x: float) -> float:
    x = float(x)
    return x if math.isfinite(x) else 0.0


class AlertGate:
    """Debounces findings into alerts.

    Keys are ``(kind, detector, subject)``. A finding has a *level*: 0 (under the
    threshold), 1 (warn), 2 (alert); event detectors (ADWIN) report level 1 with
    ``event=True``. :meth:`offer` returns what to publish:

    - ``"alert"`` when the level is above what was last reported for the key (or, for an
      event, whenever it fires) and no alert was published for the key within the last
      ``cooldown_events`` events of the caller's clock (and ``cooldown_seconds`` of wall
      time, if set). A finding held back by the cooldown is not lost: a level that is still
      high when the cooldown has passed is reported then.
    - ``"recovered"`` when the level is 0 and something was reported and not yet recovered.
      Recoveries are not delayed: there is at most one per reported alert.
    - ``None`` otherwise.

    Parameters
    ----------
    cooldown_events
        Minimum distance, in events of the clock passed to :meth:`offer`, between two
        alerts of the same key. Counting in events keeps offline runs deterministic.
    cooldown_seconds
        Optional extra minimum distance in wall-clock seconds (``time.time()``).

    Examples
    --------
    >>> gate = AlertGate(cooldown_events=100)
    >>> key = ("feature_drift", "psi", "f1")
    >>> gate.offer(key, 1, clock=10), gate.offer(key, 2, clock=50), gate.offer(key, 2, clock=110)
    ('alert', None, 'alert')
    >>> gate.offer(key, 0, clock=120), gate.offer(key, 0, clock=130)
    ('recovered', None)
    """

    def __init__(self, cooldown_events: int, cooldown_seconds: float | None = None) -> None:
        self.cooldown_events = int(cooldown_events)
        self.cooldown_seconds = cooldown_seconds
        self._last: dict[tuple[str, str, str], tuple[int, float]] = {}
        self._reported: dict[tuple[str, str, str], int] = {}
        #: Alerts published, per kind (``recovered`` included).
        self.published: dict[str, int] = {}
        #: Findings held back by the cooldown.
        self.suppressed = 0

    def reported(self, key: tuple[str, str, str]) -> int:
        """The level last reported for ``key`` and not yet recovered (0 if none)."""
        return self._reported.get(key, 0)

    def active(self) -> set[tuple[str, str, str]]:
        """The keys reported and not yet recovered."""
        return set(self._reported)

    def offer(self, key: tuple[str, str, str], level: int, clock: int, event: bool = False) -> str | None:
        """Decide what a finding of ``level`` for ``key`` at ``clock`` becomes; see the class."""
        reported = self._reported.get(key, 0)
        if level <= 0:
            if reported:
                del self._reported[key]
                self._count(RECOVERED)
                return "recovered"
            return None
        if not event and level <= reported:
            return None
        now = time.time() if self.cooldown_seconds else 0.0
        last = self._last.get(key)
        if last is not None and (
            clock - last[0] < self.cooldown_events or (self.cooldown_seconds and now - last[1] < self.cooldown_seconds)
        ):
            self.suppressed += 1
            return None
        self._last[key] = (clock, now)
        self._reported[key] = level
        self._count(key[0])
        return "alert"

    def forget(self, key: tuple[str, str, str]) -> None:
        """Drop what was reported for ``key`` without a recovery (the cooldown still holds)."""
        self._reported.pop(key, None)

    def _count(self, kind: str) -> None:
        self.published[kind] = self.published.get(kind, 0) + 1


def label_leak(example, seen: int) -> Alert | None:
    """The alert for a label event older than its feature event, at the 1st, 10th, 100th... such one.

    ``seen``: how many label events so far were older than their feature events. Features
    computed after the truth was known can leak it; one alert per power of ten keeps it heard
    without flooding the topic.
    """
    if example.label_ts is None or example.feature_ts is None or example.label_ts >= example.feature_ts:
        return None
    if seen <= 0 or 10 ** round(math.log10(seen)) != seen:
        return None
    return Alert(LABEL_BEFORE_FEATURES, "join", example.id, float(seen), 0.0,
                 f"{seen} label events so far were older than their feature events (here {example.id!r} "
                 f"by {example.feature_ts - example.label_ts:.3f} s): features computed after the "
                 "truth was known can leak it")
