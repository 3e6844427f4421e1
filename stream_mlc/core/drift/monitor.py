"""The drift monitor the service calls: every detector behind one object, findings as alerts.

The monitor holds the detectors and the state that is checkpointed; closing their windows
and turning their statistics into alerts is in :mod:`stream_mlc.core.drift.findings`, the
alerts' text in :mod:`stream_mlc.core.drift.messages`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable

import numpy as np

from stream_mlc.core.alerts import Alert, AlertGate
from stream_mlc.core.drift.concept import ConceptTracker, ErrorChange, ErrorStream

# The detectors' names are defined with the findings that carry them; importable from here too.
from stream_mlc.core.drift.findings import ADWIN as ADWIN
from stream_mlc.core.drift.findings import LABEL_RATE as LABEL_RATE
from stream_mlc.core.drift.findings import POSITIVE_RATE as POSITIVE_RATE
from stream_mlc.core.drift.findings import PSI as PSI
from stream_mlc.core.drift.findings import SCORE_PSI as SCORE_PSI
from stream_mlc.core.drift.findings import (
    concept_alerts,
    concept_recoveries,
    feature_alerts,
    label_alerts,
    prediction_alerts,
)
from stream_mlc.core.drift.psi import READY, PsiTracker
from stream_mlc.core.drift.rates import RateTracker
from stream_mlc.core.drift.scores import ScorePsiTracker
from stream_mlc.core.drift.settings import DriftSettings


class DriftMonitor:
    """Concept, feature, prediction and label drift of one model's streams, as alerts.

    Call :meth:`observe_features` and :meth:`observe_prediction` for every scored event and
    :meth:`observe_truth` for every joined event; each returns the list of
    :class:`~stream_mlc.core.alerts.Alert` to publish (usually empty). Per event these only
    append to buffers or feed ADWIN; histograms, PSI and rate tests are computed with numpy
    once per tumbling window of ``settings.window_size`` events.

    - **Concept drift** (``detector="adwin"``): ``river.drift.ADWIN`` on each label's 0/1
      error stream (observed labels only) and on the per-event Hamming loss (subject
      ``"*"``). An increase of the error is a ``concept_drift`` alert (value: the error of
      the window kept, threshold: the error before); with ``reaction="reset"`` a label's
      alert is followed by a ``model_reset`` alert: the caller resets that label's learner
      and publishes it. It is ``recovered`` when ADWIN's error estimate has come back
      down by ``concept_recovery`` of the way from its peak to the error before the alert.
    - **Feature drift** (``"psi"``): PSI of each feature between its reference (first
      ``reference_size`` events) and each window, quantile bins of the reference; absent
      features are zeros.
    - **Prediction drift**: PSI of each label's scores (``"score_psi"``, fixed bins on
      [0, 1]) and the two-proportion z-test on the rate at which it is predicted positive
      (``"positive_rate"``), against the ``reference_size`` events just before the
      window (the model learns all the time: see :mod:`stream_mlc.core.drift.scores`),
      from ``prediction_warmup`` events after a label first appears or is reset.
    - **Label drift** (``"label_rate"``): the z-test on each label's rate among the truths.

    Levels (warn, alert) are debounced by an :class:`~stream_mlc.core.alerts.AlertGate`:
    one alert when a subject reaches a level higher than reported (at most one per
    ``cooldown_events``), one ``recovered`` when it is back under its warn threshold.

    The object is plain and pickle-able: it is part of the checkpointed state.

    Parameters
    ----------
    settings
        Thresholds, windows, cooldowns and reaction.

    Examples
    --------
    A feature whose distribution moves after 6000 events, in windows of 500 events:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> monitor = DriftMonitor(DriftSettings(window_size=500, reference_size=2000))
    >>> found = []
    >>> for t in range(8000):
    ...     x = rng.normal(2.0 if t >= 6000 else 0.0)
    ...     for alert in monitor.observe_features({"x": x, "y": rng.normal()}):
    ...         found.append((t, alert.kind, alert.subject, round(alert.value, 2)))
    >>> found
    [(6499, 'feature_drift', 'x', 3.58)]
    >>> monitor.snapshot()["feature_psi"]["x"] > 0.25
    True

    A label whose error rate jumps from 5% to 50% at joined event 3000, with the reset
    reaction:

    >>> monitor = DriftMonitor(DriftSettings(reaction="reset"))
    >>> for t in range(4000):
    ...     wrong = rng.random() < (0.5 if t >= 3000 else 0.05)
    ...     truth = {"a"} if rng.random() < 0.5 else set()
    ...     predicted = truth ^ {"a"} if wrong else truth
    ...     for alert in monitor.observe_truth(truth, predicted, labels=["a", "b"]):
    ...         print(t, alert.kind, alert.subject)
    3039 concept_drift a
    3039 model_reset a
    3071 concept_drift *
    """

    def __init__(self, settings: DriftSettings | None = None) -> None:
        s = self.settings = settings or DriftSettings()
        self.features = PsiTracker(
            bins=s.psi_bins,
            epsilon=s.psi_epsilon,
            window_size=s.window_size,
            reference_size=s.reference_size,
            warmup_size=0,
            max_subjects=s.max_features,
            late="zero",
            max_schemas=s.max_schemas,
        )
        self.scores = ScorePsiTracker(
            bins=s.psi_bins,
            epsilon=s.psi_epsilon,
            window_size=s.window_size,
            reference_size=s.reference_size,
            warmup_size=s.prediction_warmup,
            max_subjects=s.max_labels,
            max_schemas=s.max_schemas,
        )
        self.positive_rates = RateTracker(
            window_size=s.window_size,
            reference_size=s.reference_size,
            warmup_size=s.prediction_warmup,
            max_subjects=s.max_labels,
            late="collect",
            min_count=s.rate_min_count,
            rolling=True,
        )
        self.label_rates = RateTracker(
            window_size=s.window_size,
            reference_size=s.reference_size,
            warmup_size=0,
            max_subjects=s.max_labels,
            late="zero",
            min_count=s.rate_min_count,
        )
        self.concept = ConceptTracker(
            delta=s.adwin_delta,
            clock=s.adwin_clock,
            grace_period=s.adwin_grace_period,
            max_labels=s.max_labels,
            example_level=s.monitor_example_loss,
        )
        self.gate = AlertGate(s.cooldown_events, s.cooldown_seconds)
        self._sample_every = s.feature_sample_every
        # Error streams with a concept drift alert outstanding, watched for recovery.
        self._in_drift: dict[str, ErrorStream] = {}
        #: Events seen by :meth:`observe_features`, :meth:`observe_prediction`, :meth:`observe_truth`.
        self.feature_events = 0
        self.prediction_events = 0
        self.joined_events = 0

    # -- per event -------------------------------------------------------------------

    def observe_features(self, features: dict[str, float]) -> list[Alert]:
        """Add a scored event's features; alerts of feature drift when a window closes."""
        self.feature_events += 1
        if self._sample_every > 1 and self.feature_events % self._sample_every:
            return []
        if self.features.observe(features):
            return feature_alerts(self.features, self.gate, self.settings, self.feature_events, self._sample_every)
        return []

    def observe_prediction(self, scores: dict[str, float], predicted: Collection[str]) -> list[Alert]:
        """Add a scored event's scores and predicted labels; prediction drift alerts."""
        self.prediction_events += 1
        full = self.scores.observe(scores)
        if self.positive_rates.add(predicted) or full:
            return prediction_alerts(self.scores, self.positive_rates, self.gate, self.settings, self.prediction_events)
        return []

    def observe_truth(
        self,
        truth: Collection[str],
        predicted: Collection[str],
        labels: Iterable[str],
        observed: Collection[str] | None = None,
    ) -> list[Alert]:
        """Add a joined event: concept drift (ADWIN) and label drift alerts.

        Parameters
        ----------
        truth
            The true labels.
        predicted
            The labels the model predicted for the event.
        labels
            The labels to compute errors for: the model's label set (include new truth
            labels to count them as errors). Iterated in order; pass a list for
            deterministic alert order.
        observed
            None when every label not in ``truth`` is negative; otherwise only these labels
            are known (errors and rates are counted for them only).
        """
        self.joined_events += 1
        changes = self.concept.update(truth, predicted, labels, observed)
        alerts = self._on_changes(changes) if changes else []
        if self.label_rates.add(truth, observed):
            alerts.extend(
                label_alerts(self.label_rates, self.concept.streams, self.gate, self.settings, self.joined_events)
            )
            if self._in_drift:
                alerts.extend(concept_recoveries(self._in_drift, self.gate, self.settings, self.joined_events))
        return alerts

    # -- control ---------------------------------------------------------------------

    def reset_reference(self) -> None:
        """Accept the current distributions: every reference is collected again from now.

        Subjects in drift then report ``recovered`` once their new reference is ready.
        """
        self.features.restart()
        self.scores.restart()
        self.positive_rates.restart()
        self.label_rates.restart()

    def label_reset(self, label: str) -> None:
        """The caller reset ``label``'s learner: collect its prediction references again.

        Done by the monitor itself for the ``model_reset`` alerts it returns.
        """
        self.scores.rebaseline(label)
        self.positive_rates.rebaseline(label)

    # -- snapshot --------------------------------------------------------------------

    def snapshot(self) -> dict:
        """Current figures for metrics (Prometheus gauges): plain numbers in plain dicts.

        Keys: ``events`` (per stream), ``feature_psi`` (the ``snapshot_top_k`` features with
        the highest PSI at the last window), ``score_psi``, ``positive_rate`` and
        ``label_rate`` (per label tested at the last window: ``rate``, ``reference``,
        ``z``), ``error_rate`` (ADWIN's estimate per label and ``"*"``), ``detections``
        (alerts published per kind), ``suppressed`` (findings held back by cooldowns),
        ``adwin_changes`` (``increase``, ``decrease``), ``active`` (alerts not yet
        recovered), ``monitored`` and ``ignored`` (subjects, and values of subjects beyond
        the limits). No NaN: a figure without a value is left out.
        """
        f = self.features
        psi = f.psi[: len(f.names)]
        top = [int(i) for i in np.argsort(-np.nan_to_num(psi, nan=-1.0), kind="stable")[: self.settings.snapshot_top_k]]
        return {
            "events": {
                "features": self.feature_events,
                "predictions": self.prediction_events,
                "joined": self.joined_events,
            },
            "feature_psi": {f.names[i]: float(psi[i]) for i in top if not math.isnan(psi[i])},
            "score_psi": {
                name: float(v) for name, v in zip(self.scores.names, self.scores.psi, strict=False) if not math.isnan(v)
            },
            "positive_rate": _rates(self.positive_rates),
            "label_rate": _rates(self.label_rates),
            "error_rate": self.concept.error_rates(),
            "detections": dict(self.gate.published),
            "suppressed": self.gate.suppressed,
            "adwin_changes": {"increase": self.concept.increases, "decrease": self.concept.decreases},
            "active": len(self.gate.active()),
            "monitored": {
                "features": len(f.names),
                "labels": len(self.concept.streams),
            },
            "ignored": {
                "feature_values": f.ignored_values,
                "label_updates": self.concept.ignored_updates
                + self.scores.ignored_values
                + self.positive_rates.ignored_values
                + self.label_rates.ignored_values,
            },
        }

    # -- findings ----------------------------------------------------------------------

    def _on_changes(self, changes: list[ErrorChange]) -> list[Alert]:
        return concept_alerts(
            changes,
            concept=self.concept,
            gate=self.gate,
            in_drift=self._in_drift,
            settings=self.settings,
            clock=self.joined_events,
            label_reset=self.label_reset,
        )


def _rates(rates: RateTracker) -> dict[str, dict[str, float]]:
    out = {}
    for i, name in enumerate(rates.names):
        if rates._state[i] == READY and not math.isnan(rates.z[i]):  # tested at the last window
            out[name] = {
                "rate": rates.rate(i),
                "reference": rates.reference_rate(i),
                "z": float(rates.z[i]),
            }
    return out
