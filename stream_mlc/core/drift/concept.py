"""Concept drift: River's ADWIN on each label's 0/1 error stream and on the per-event loss.

For every joined event and every observed label, the error is 1 when the label was
predicted differently from the truth, else 0; the example-level stream is the event's
Hamming loss (errors / observed labels). Each stream has its own ``river.drift.ADWIN``.

When ADWIN detects a change it drops the older part of its window and keeps the recent
part. River exposes the width and sum of the window *kept* (``width``, ``total``) but not
of the part dropped, so each stream also counts its updates and errors since its ADWIN was
last reset (River resets the detector at the update after a detection): the part dropped is
that count minus the window kept. :class:`ErrorChange` carries both means and sizes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from stream_mlc.core.alerts import EXAMPLE_LEVEL


@dataclass(frozen=True, slots=True)
class ErrorChange:
    """A change ADWIN detected on one error stream.

    ``before`` is the mean error of the part of the window dropped (``n_before`` updates),
    ``after`` the mean of the part kept (``n_after`` updates, the most recent).
    """

    subject: str
    before: float
    after: float
    n_before: int
    n_after: int

    @property
    def increased(self) -> bool:
        return self.after > self.before


class ErrorStream:
    """One ADWIN with the counts needed to describe its detections.

    Per update it calls the ADWIN's engine (River's Rust ``AdaptiveWindowing``, the
    ``_helper`` that ``ADWIN.update`` wraps) directly, and resets the ADWIN right after a
    detection instead of at the next update as ``ADWIN.update`` does: the same sequence of
    operations, without two Python calls per update (the per-label loop is the monitor's
    largest per-event cost). If a River version lacks ``_helper``, ``ADWIN.update`` is
    used. The tests check the detections against ``ADWIN.update`` on the same stream.
    """

    __slots__ = ("adwin", "engine", "n", "total", "alert_before", "alert_peak")

    def __init__(self, delta: float, clock: int, grace_period: int) -> None:
        # Imported here: ``river.drift`` takes 0.2 s to import (0.8 s when scikit-learn is
        # installed: it loads River's datasets), which a worker's first prediction need not wait for.
        from river.drift import ADWIN

        self.adwin = ADWIN(delta=delta, clock=clock, grace_period=grace_period)
        self.engine = getattr(self.adwin, "_helper", None)
        #: Updates and sum of errors since the ADWIN was last reset.
        self.n = 0
        self.total = 0.0
        #: While a concept drift alert is outstanding: the error before it, and the highest
        #: error seen since (None otherwise).
        self.alert_before: float | None = None
        self.alert_peak: float | None = None

    def update(self, x: float) -> bool:
        """Add one value; True when ADWIN detects a change (then call :meth:`detected`)."""
        self.n += 1
        self.total += x
        engine = self.engine
        return engine.update(x) if engine is not None else self.update_slow(x)

    def update_slow(self, x: float) -> bool:
        """``ADWIN.update`` through River's public API (counts updated by the caller)."""
        self.adwin.update(x)
        return self.adwin.drift_detected

    def detected(self, subject: str) -> ErrorChange:
        """Describe the detection ADWIN just made, then reset it and the counts."""
        kept_n = int(self.adwin.width)
        kept_total = float(self.adwin.total)
        dropped_n = self.n - kept_n
        dropped_total = self.total - kept_total
        self.n, self.total = 0, 0.0
        if self.engine is not None:
            self.adwin._reset()
            self.engine = self.adwin._helper
        before = dropped_total / dropped_n if dropped_n > 0 else float("nan")
        after = kept_total / kept_n if kept_n > 0 else float("nan")
        return ErrorChange(subject, before, after, dropped_n, kept_n)

    @property
    def error_rate(self) -> float:
        """ADWIN's estimate: the mean error over its current window."""
        return float(self.adwin.estimation)


class ConceptTracker:
    """ADWIN per label error stream, plus one on the example-level loss.

    Parameters
    ----------
    delta, clock, grace_period
        ``river.drift.ADWIN`` parameters.
    max_labels
        Labels beyond this many are not monitored.
    example_level
        Also monitor the per-event Hamming loss (subject ``"*"``).
    """

    def __init__(
        self,
        *,
        delta: float = 0.002,
        clock: int = 32,
        grace_period: int = 10,
        max_labels: int = 1000,
        example_level: bool = True,
    ) -> None:
        self.delta = delta
        self.clock = clock
        self.grace_period = grace_period
        self.max_labels = max_labels
        self.streams: dict[str, ErrorStream] = {}
        self.example_level = example_level
        #: The example-level stream, made at its first update (as the label streams are).
        self.example: ErrorStream | None = None
        #: Label names ignored because ``max_labels`` were monitored already (count of updates).
        self.ignored_updates = 0
        #: Detections, by direction.
        self.increases = 0
        self.decreases = 0

    def _new(self) -> ErrorStream:
        return ErrorStream(self.delta, self.clock, self.grace_period)

    def stream(self, label: str) -> ErrorStream | None:
        """The stream of ``label``, created if there is room; None when ignored."""
        st = self.streams.get(label)
        if st is None and len(self.streams) < self.max_labels:
            st = self.streams[label] = self._new()
        return st

    def update(
        self,
        truth: Collection[str],
        predicted: Collection[str],
        labels: Iterable[str],
        observed: Collection[str] | None = None,
    ) -> list[ErrorChange] | None:
        """Feed one joined event; the changes detected (None when there are none).

        The error of a label is ``(label in truth) != (label in predicted)``, for every
        label of ``labels`` that is observed (all of them when ``observed`` is None).
        """
        if not isinstance(truth, (set, frozenset)):
            truth = frozenset(truth)
        wrong = truth.symmetric_difference(predicted)
        streams = self.streams
        changes = None
        n_obs = 0
        n_err = 0
        for label in labels:
            if observed is not None and label not in observed:
                continue
            n_obs += 1
            st = streams.get(label)
            if st is None:
                st = self.stream(label)
                if st is None:
                    self.ignored_updates += 1
                    n_err += label in wrong
                    continue
            # ErrorStream.update, inlined: this loop runs for every label of every event.
            st.n += 1
            if label in wrong:
                n_err += 1
                st.total += 1
                x = 1
            else:
                x = 0
            engine = st.engine
            if engine.update(x) if engine is not None else st.update_slow(x):
                if changes is None:
                    changes = []
                changes.append(st.detected(label))
        if self.example_level and n_obs:
            ex = self.example = self.example or self._new()
            if ex.update(n_err / n_obs):
                if changes is None:
                    changes = []
                changes.append(ex.detected(EXAMPLE_LEVEL))
        if changes:
            for change in changes:
                if change.increased:
                    self.increases += 1
                else:
                    self.decreases += 1
        return changes

    def get(self, subject: str) -> ErrorStream | None:
        """The stream of a label, or the example-level one for ``"*"``."""
        return self.example if subject == EXAMPLE_LEVEL else self.streams.get(subject)

    def error_rates(self) -> dict[str, float]:
        """ADWIN's current error estimate per label (and ``"*"``)."""
        rates = {label: st.error_rate for label, st in self.streams.items()}
        if self.example is not None:
            rates[EXAMPLE_LEVEL] = self.example.error_rate
        return rates
