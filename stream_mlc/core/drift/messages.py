"""The text of the drift alerts: what moved, by how much, against what, over which events.

One function per kind of finding, used by :mod:`stream_mlc.core.drift.findings` and
:class:`~stream_mlc.core.drift.monitor.DriftMonitor`. A message is one line; a level above 0
prefixes it with ``warning:`` or ``alert:``, level 0 (recovered) with nothing.
"""

from __future__ import annotations

from stream_mlc.core.drift.rates import RateTracker

__all__ = ["concept_drift_message", "model_reset_message", "psi_message", "rate_message", "recovered_message"]


def psi_message(what: str, reference: str, tracker, i: int, level: int, threshold: float, sampled: str = "") -> str:
    """Subject ``i`` of a PSI tracker: its PSI at the last window against ``threshold``."""
    value = float(tracker.psi[i])
    op = ">=" if level else "<"
    head = "" if not level else ("warning: " if level == 1 else "alert: ")
    return (
        f"{head}{what} PSI {value:.4f} {op} {threshold:g} between {reference} "
        f"and the last window ({tracker.window_size} events{sampled})"
    )


def rate_message(what: str, events: str, rates: RateTracker, i: int, level: int, threshold: float) -> str:
    """Subject ``i`` of a rate tracker: its rate now and before, and the test's ``|z|``."""
    value = float(rates.z[i])
    op = ">=" if level else "<"
    head = "" if not level else ("warning: " if level == 1 else "alert: ")
    return (
        f"{head}{what} in {100 * rates.rate(i):.2f}% of the last {int(rates.last_n[i])} {events} events "
        f"against {100 * rates.reference_rate(i):.2f}% of {int(rates.ref_n[i])} "
        f"{'before' if rates.rolling else 'in its reference'}: "
        f"|z| {value:.2f} {op} {threshold:g}"
    )


def concept_drift_message(what: str, before: float, after: float, delta: float, sizes: str) -> str:
    """ADWIN found the error of ``what`` rose.

    >>> print(concept_drift_message("label 'a'", 0.05, 0.5, 0.002, "3000 older events vs the last 40"))
    ... # doctest: +NORMALIZE_WHITESPACE
    concept drift on label 'a': error rate rose from 0.0500 to 0.5000
    (ADWIN, delta=0.002, 3000 older events vs the last 40)
    """
    return (
        f"concept drift on {what}: error rate rose from {before:.4f} to "
        f"{after:.4f} (ADWIN, delta={delta}, {sizes})"
    )


def model_reset_message(subject: str, before: float, after: float, sizes: str) -> str:
    """The learner of label ``subject`` was reset after its concept drift."""
    return (
        f"reset the learner of label {subject!r} after concept drift: error rate "
        f"{before:.4f} -> {after:.4f} ({sizes})"
    )


def recovered_message(what: str, error: float, width: int, target: float, before: float, peak: float) -> str:
    """The error of ``what`` came back down after its concept drift alert.

    >>> print(recovered_message("label 'a'", 0.06, 500, 0.095, 0.05, 0.5))  # doctest: +NORMALIZE_WHITESPACE
    label 'a' recovered from concept drift: error rate 0.0600 over the last 500 events <= 0.0950
    (it was 0.0500 before the drift and peaked at 0.5000)
    """
    return (
        f"{what} recovered from concept drift: error rate {error:.4f} over the last "
        f"{width} events <= {target:.4f} (it was {before:.4f} before the drift and "
        f"peaked at {peak:.4f})"
    )
