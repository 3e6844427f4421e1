"""From the detectors' statistics to alerts, through the monitor's :class:`~stream_mlc.core.alerts.AlertGate`.

When a tumbling window closes, :func:`feature_alerts`, :func:`prediction_alerts` and
:func:`label_alerts` compute its statistic per subject (PSI, ``|z|``), and
:func:`level_alerts` turns those into warn and alert levels and the alerts the gate lets
through. :func:`concept_alerts` turns ADWIN's changes of error streams into
``concept_drift`` (and ``model_reset``) alerts, and :func:`concept_recoveries` says when
those streams have recovered. The state they work on (gate, trackers, streams in drift)
belongs to :class:`~stream_mlc.core.drift.monitor.DriftMonitor`, which checkpoints it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection

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
from stream_mlc.core.drift.messages import (
    concept_drift_message,
    model_reset_message,
    psi_message,
    rate_message,
    recovered_message,
)
from stream_mlc.core.drift.psi import READY, PsiTracker
from stream_mlc.core.drift.rates import RateTracker
from stream_mlc.core.drift.scores import ScorePsiTracker
from stream_mlc.core.drift.settings import DriftSettings

__all__ = [
    "concept_alerts",
    "concept_recoveries",
    "feature_alerts",
    "label_alerts",
    "level_alerts",
    "prediction_alerts",
]

#: The detectors, as alerts name them.
ADWIN, PSI, SCORE_PSI, POSITIVE_RATE, LABEL_RATE = "adwin", "psi", "score_psi", "positive_rate", "label_rate"


def feature_alerts(
    tracker: PsiTracker, gate: AlertGate, settings: DriftSettings, clock: int, sample_every: int
) -> list[Alert]:
    """Close the features' window: the PSI of each feature, as ``feature_drift`` alerts."""
    s = settings
    tracker.close()
    sampled = f", 1 in {sample_every}" if sample_every > 1 else ""
    return level_alerts(
        gate,
        tracker,
        tracker.psi,
        FEATURE_DRIFT,
        PSI,
        s.feature_psi_warn,
        s.feature_psi_alert,
        clock,
        lambda i, level, threshold: psi_message(
            f"feature {tracker.names[i]!r}",
            f"its reference ({int(tracker._ref_n[i])} events{sampled})",
            tracker,
            i,
            level,
            threshold,
            sampled,
        ),
    )


def prediction_alerts(
    scores: ScorePsiTracker, rates: RateTracker, gate: AlertGate, settings: DriftSettings, clock: int
) -> list[Alert]:
    """Close the predictions' windows: each label's score PSI and positive rate, as ``prediction_drift`` alerts."""
    s = settings
    alerts: list[Alert] = []
    if scores.n:
        scores.close()
        alerts += level_alerts(
            gate,
            scores,
            scores.psi,
            PREDICTION_DRIFT,
            SCORE_PSI,
            s.score_psi_warn,
            s.score_psi_alert,
            clock,
            lambda i, level, threshold: psi_message(
                f"the scores of label {scores.names[i]!r}",
                f"the {scores.reference_size} events before",
                scores,
                i,
                level,
                threshold,
            ),
        )
    if rates.n:
        if len(rates.names) < len(scores.names):
            for name in scores.names:
                rates.register(name)
        rates.close()
        alerts += level_alerts(
            gate,
            rates,
            rates.z,
            PREDICTION_DRIFT,
            POSITIVE_RATE,
            s.positive_rate_z_warn,
            s.positive_rate_z_alert,
            clock,
            lambda i, level, threshold: rate_message(
                f"label {rates.names[i]!r} is predicted positive", "scored", rates, i, level, threshold
            ),
        )
    return alerts


def label_alerts(
    rates: RateTracker, labels: Collection[str], gate: AlertGate, settings: DriftSettings, clock: int
) -> list[Alert]:
    """Close the truths' window: each label's rate (of every one in ``labels``), as ``label_drift`` alerts."""
    s = settings
    if len(rates.names) < len(labels):
        for name in labels:
            rates.register(name)
    rates.close()
    return level_alerts(
        gate,
        rates,
        rates.z,
        LABEL_DRIFT,
        LABEL_RATE,
        s.label_rate_z_warn,
        s.label_rate_z_alert,
        clock,
        lambda i, level, threshold: rate_message(
            f"label {rates.names[i]!r} is true", "joined", rates, i, level, threshold
        ),
    )


def level_alerts(gate: AlertGate, tracker, values, kind, detector, warn, alert, clock, describe) -> list[Alert]:
    """Turn one window's statistics (``values`` per subject of ``tracker``) into alerts."""
    names = tracker.names
    S = len(names)
    values = values[:S]
    ready = tracker._state[:S] == READY
    with np.errstate(invalid="ignore"):
        high = np.flatnonzero(ready & (values >= warn))
    candidates = set(high.tolist())
    for k, d, subject in gate.active():
        if k == kind and d == detector:
            i = tracker.index.get(subject)
            if i is not None and ready[i] and not math.isnan(values[i]):
                candidates.add(i)
    alerts: list[Alert] = []
    for i in sorted(candidates):
        value = float(values[i])
        level = 2 if value >= alert else 1 if value >= warn else 0
        decision = gate.offer((kind, detector, names[i]), level, clock)
        if decision == "alert":
            threshold = alert if level == 2 else warn
            alerts.append(Alert(kind, detector, names[i], value, threshold, describe(i, level, threshold)))
        elif decision == "recovered":
            alerts.append(
                Alert(RECOVERED, detector, names[i], value, warn, describe(i, 0, warn) + f" ({kind} recovered)")
            )
    return alerts


def concept_alerts(
    changes: list[ErrorChange],
    *,
    concept: ConceptTracker,
    gate: AlertGate,
    in_drift: dict[str, ErrorStream],
    settings: DriftSettings,
    clock: int,
    label_reset: Callable[[str], None],
) -> list[Alert]:
    """Alerts for ADWIN's changes: a ``concept_drift`` per increase the gate lets through.

    With ``reaction="reset"`` a label's alert is followed by a ``model_reset`` alert, after
    ``label_reset(label)``. A stream alerted is added to ``in_drift`` (watched by
    :func:`concept_recoveries`), remembering its error before the drift and its peak.
    """
    s = settings
    alerts: list[Alert] = []
    for change in changes:
        subject = change.subject
        stream = concept.get(subject)
        key = (CONCEPT_DRIFT, ADWIN, subject)
        what = "the example-level loss (Hamming)" if subject == EXAMPLE_LEVEL else f"label {subject!r}"
        sizes = f"{change.n_before} older events vs the last {change.n_after}"
        if change.increased:
            if gate.offer(key, 1, clock, event=True) != "alert":
                continue
            if stream.alert_before is None:
                stream.alert_before, stream.alert_peak = change.before, change.after
                in_drift[subject] = stream
            else:  # again, before recovering: keep the error from before the first alert
                stream.alert_peak = max(stream.alert_peak, change.after)
            message = concept_drift_message(what, change.before, change.after, s.adwin_delta, sizes)
            alerts.append(Alert(CONCEPT_DRIFT, ADWIN, subject, change.after, change.before, message))
            if s.reaction == "reset" and subject != EXAMPLE_LEVEL:
                label_reset(subject)
                gate.published[MODEL_RESET] = gate.published.get(MODEL_RESET, 0) + 1
                message = model_reset_message(subject, change.before, change.after, sizes)
                alerts.append(Alert(MODEL_RESET, ADWIN, subject, change.after, change.before, message))
    return alerts


def concept_recoveries(
    in_drift: dict[str, ErrorStream], gate: AlertGate, settings: DriftSettings, clock: int
) -> list[Alert]:
    """Recovered error streams, taken out of ``in_drift``: checked every ``window_size`` joined events.

    The error is ADWIN's estimate over its window. After the alert's detection ADWIN
    restarted, so its window holds only later events: it tracks the drifted error, then
    (once ADWIN has dropped the drifted part) the error after the learner adapted.
    """
    s = settings
    alerts: list[Alert] = []
    for subject, stream in list(in_drift.items()):
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
        gate.offer((CONCEPT_DRIFT, ADWIN, subject), 0, clock)
        what = "the example-level loss" if subject == EXAMPLE_LEVEL else f"label {subject!r}"
        message = recovered_message(what, error, width, target, before, peak)
        alerts.append(Alert(RECOVERED, ADWIN, subject, error, target, message))
        stream.alert_before = stream.alert_peak = None
        del in_drift[subject]
    return alerts
