"""The drift monitor the service calls: every detector behind one object, findings as alerts."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable

import numpy as np

from stream_mlc.core.alerts import (
    CONCEPT_DRIFT,
    EXAMPLE_LEVEL,
    FEATURE_DRIFT,
    LABEL_DRIFT,
    MODEL_RESET,
    PREDICTION_DRIFT,
    RECOVERED,
    Alert,
    AlertGate,
)
from stream_mlc.core.drift.concept import ConceptTracker, ErrorChange, ErrorStream
from stream_mlc.core.drift.psi import READY, PsiTracker
from stream_mlc.core.drift.rates import RateTracker
from stream_mlc.core.drift.scores import ScorePsiTracker
from stream_mlc.core.drift.settings import DriftSettings

ADWIN, PSI, SCORE_PSI, POSITIVE_RATE, LABEL_RATE = "adwin", "psi", "score_psi", "positive_rate", "label_rate"


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
            return self._close_features()
        return []

    def observe_prediction(self, scores: dict[str, float], predicted: Collection[str]) -> list[Alert]:
        """Add a scored event's scores and predicted labels; prediction drift alerts."""
        self.prediction_events += 1
        full = self.scores.observe(scores)
        if self.positive_rates.add(predicted) or full:
            return self._close_predictions()
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
            alerts.extend(self._close_labels())
            if self._in_drift:
                alerts.extend(self._recoveries())
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

    # -- windows and findings ----------------------------------------------------------

    def _close_features(self) -> list[Alert]:
        s = self.settings
        tracker = self.features
        tracker.close()
        sampled = f", 1 in {self._sample_every}" if self._sample_every > 1 else ""
        return self._levels(
            tracker,
            tracker.psi,
            FEATURE_DRIFT,
            PSI,
            s.feature_psi_warn,
            s.feature_psi_alert,
            self.feature_events,
            lambda i, level, threshold: _psi_message(
                f"feature {tracker.names[i]!r}",
                f"its reference ({int(tracker._ref_n[i])} events{sampled})",
                tracker,
                i,
                level,
                threshold,
                sampled,
            ),
        )

    def _close_predictions(self) -> list[Alert]:
        s = self.settings
        alerts: list[Alert] = []
        if self.scores.n:
            scores = self.scores
            scores.close()
            alerts += self._levels(
                scores,
                scores.psi,
                PREDICTION_DRIFT,
                SCORE_PSI,
                s.score_psi_warn,
                s.score_psi_alert,
                self.prediction_events,
                lambda i, level, threshold: _psi_message(
                    f"the scores of label {scores.names[i]!r}",
                    f"the {scores.reference_size} events before",
                    scores,
                    i,
                    level,
                    threshold,
                ),
            )
        if self.positive_rates.n:
            rates = self.positive_rates
            if len(rates.names) < len(self.scores.names):
                for name in self.scores.names:
                    rates.register(name)
            rates.close()
            alerts += self._levels(
                rates,
                rates.z,
                PREDICTION_DRIFT,
                POSITIVE_RATE,
                s.positive_rate_z_warn,
                s.positive_rate_z_alert,
                self.prediction_events,
                lambda i, level, threshold: _rate_message(
                    f"label {rates.names[i]!r} is predicted positive", "scored", rates, i, level, threshold
                ),
            )
        return alerts

    def _close_labels(self) -> list[Alert]:
        s = self.settings
        rates = self.label_rates
        if len(rates.names) < len(self.concept.streams):
            for name in self.concept.streams:
                rates.register(name)
        rates.close()
        return self._levels(
            rates,
            rates.z,
            LABEL_DRIFT,
            LABEL_RATE,
            s.label_rate_z_warn,
            s.label_rate_z_alert,
            self.joined_events,
            lambda i, level, threshold: _rate_message(
                f"label {rates.names[i]!r} is true", "joined", rates, i, level, threshold
            ),
        )

    def _levels(self, tracker, values, kind, detector, warn, alert, clock, describe) -> list[Alert]:
        """Turn one window's statistics (``values`` per subject of ``tracker``) into alerts."""
        names = tracker.names
        S = len(names)
        values = values[:S]
        ready = tracker._state[:S] == READY
        with np.errstate(invalid="ignore"):
            high = np.flatnonzero(ready & (values >= warn))
        candidates = set(high.tolist())
        for k, d, subject in self.gate.active():
            if k == kind and d == detector:
                i = tracker.index.get(subject)
                if i is not None and ready[i] and not math.isnan(values[i]):
                    candidates.add(i)
        alerts: list[Alert] = []
        for i in sorted(candidates):
            value = float(values[i])
            level = 2 if value >= alert else 1 if value >= warn else 0
            decision = self.gate.offer((kind, detector, names[i]), level, clock)
            if decision == "alert":
                threshold = alert if level == 2 else warn
                alerts.append(Alert(kind, detector, names[i], value, threshold, describe(i, level, threshold)))
            elif decision == "recovered":
                alerts.append(
                    Alert(RECOVERED, detector, names[i], value, warn, describe(i, 0, warn) + f" ({kind} recovered)")
                )
        return alerts

    def _recoveries(self) -> list[Alert]:
        """Recovered error streams: checked every ``window_size`` joined events.

        The error is ADWIN's estimate over its window. After the alert's detection ADWIN
        restarted, so its window holds only later events: it tracks the drifted error, then
        (once ADWIN has dropped the drifted part) the error after the learner adapted.
        """
        s = self.settings
        alerts: list[Alert] = []
        for subject, stream in list(self._in_drift.items()):
            adwin = stream.adwin
            width = int(adwin.width)
            if width < s.concept_recovery_min_window:
                continue
            error = float(adwin.estimation)
            if error > stream.alert_peak:
                stream.alert_peak = error
                continue
            before, peak = stream.alert_before, stream.alert_peak
            target = peak - s.concept_recovery * (peak - before)
            if error > target:
                continue
            self.gate.offer((CONCEPT_DRIFT, ADWIN, subject), 0, self.joined_events)
            what = "the example-level loss" if subject == EXAMPLE_LEVEL else f"label {subject!r}"
            alerts.append(
                Alert(
                    RECOVERED,
                    ADWIN,
                    subject,
                    error,
                    target,
                    f"{what} recovered from concept drift: error rate {error:.4f} over the last "
                    f"{width} events <= {target:.4f} (it was {before:.4f} before the drift and "
                    f"peaked at {peak:.4f})",
                )
            )
            stream.alert_before = stream.alert_peak = None
            del self._in_drift[subject]
        return alerts

    def _on_changes(self, changes: list[ErrorChange]) -> list[Alert]:
        s = self.settings
        alerts: list[Alert] = []
        for change in changes:
            subject = change.subject
            stream = self.concept.get(subject)
            key = (CONCEPT_DRIFT, ADWIN, subject)
            what = "the example-level loss (Hamming)" if subject == EXAMPLE_LEVEL else f"label {subject!r}"
            sizes = f"{change.n_before} older events vs the last {change.n_after}"
            if change.increased:
                if self.gate.offer(key, 1, self.joined_events, event=True) != "alert":
                    continue
                if stream.alert_before is None:
                    stream.alert_before, stream.alert_peak = change.before, change.after
                    self._in_drift[subject] = stream
                else:  # again, before recovering: keep the error from before the first alert
                    stream.alert_peak = max(stream.alert_peak, change.after)
                alerts.append(
                    Alert(
                        CONCEPT_DRIFT,
                        ADWIN,
                        subject,
                        change.after,
                        change.before,
                        f"concept drift on {what}: error rate rose from {change.before:.4f} to "
                        f"{change.after:.4f} (ADWIN, delta={s.adwin_delta}, {sizes})",
                    )
                )
                if s.reaction == "reset" and subject != EXAMPLE_LEVEL:
                    self.label_reset(subject)
                    self.gate.published[MODEL_RESET] = self.gate.published.get(MODEL_RESET, 0) + 1
                    alerts.append(
                        Alert(
                            MODEL_RESET,
                            ADWIN,
                            subject,
                            change.after,
                            change.before,
                            f"reset the learner of label {subject!r} after concept drift: error rate "
                            f"{change.before:.4f} -> {change.after:.4f} ({sizes})",
                        )
                    )
        return alerts


def _psi_message(what: str, reference: str, tracker, i: int, level: int, threshold: float, sampled: str = "") -> str:
    value = float(tracker.psi[i])
    op = ">=" if level else "<"
    head = "" if not level else ("warning: " if level == 1 else "alert: ")
    return (
        f"{head}{what} PSI {value:.4f} {op} {threshold:g} between {reference} "
        f"and the last window ({tracker.window_size} events{sampled})"
    )


def _rate_message(what: str, events: str, rates: RateTracker, i: int, level: int, threshold: float) -> str:
    value = float(rates.z[i])
    op = ">=" if level else "<"
    head = "" if not level else ("warning: " if level == 1 else "alert: ")
    return (
        f"{head}{what} in {100 * rates.rate(i):.2f}% of the last {int(rates.last_n[i])} {events} events "
        f"against {100 * rates.reference_rate(i):.2f}% of {int(rates.ref_n[i])} "
        f"{'before' if rates.rolling else 'in its reference'}: "
        f"|z| {value:.2f} {op} {threshold:g}"
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
