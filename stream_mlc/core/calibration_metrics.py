"""Calibration metrics over a stream: expected calibration error and Brier score.

:class:`CalibrationMetrics` is fed one joined event at a time (the scores published for it,
the truth of its known labels) and reports, cumulatively and over the last ``window``
events, overall and per label:

``ece``
    expected calibration error with ``bins`` (15) equal-width bins of the score over
    ``[0, 1]``: ``sum_b |sum of scores in b - number of true in b| / N``. The overall ECE
    pools every (label, event) score of the joined events into the same bins; a label's
    ECE uses its own scores only.
``brier``
    the mean of ``(score - truth)**2``.

It also gives the reliability diagram (mean score, rate of true and count per bin). Labels
are indices (the caller maps names). An update only queues the event: the cumulative sums
take queued events 256 at a time in a few ``bincount`` calls, and the window's figures are
computed from its events when read (the worker reads them once a second), so no running
sum drifts. Pickle-able.
"""

from __future__ import annotations

from collections import deque

import numpy as np

__all__ = ["CalibrationMetrics", "expected_calibration_error"]

_COUNT, _SCORE, _TRUE = range(3)
_FLUSH = 256  # events queued before they are added to the cumulative sums


def expected_calibration_error(scores: np.ndarray, truth: np.ndarray, bins: int = 15) -> float:
    """The ECE of a set of scores with ``bins`` equal-width bins (the batch definition).

    >>> expected_calibration_error(np.array([0.2, 0.2, 0.9, 0.9]), np.array([0, 1, 1, 1]))
    0.2
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if not scores.size:
        return 0.0
    b = np.minimum((scores * bins).astype(np.int64), bins - 1)
    gap = np.bincount(b, weights=scores - np.asarray(truth, dtype=np.float64).ravel(), minlength=bins)
    return float(np.abs(gap).sum() / scores.size)


class _Sums:
    """Per label, per bin: count, sum of scores, number true; per label: the Brier sum."""

    __slots__ = ("bins", "brier")

    def __init__(self, n_bins: int):
        self.bins = np.zeros((0, 3, n_bins))
        self.brier = np.zeros(0)

    def add(self, events) -> None:
        """Add events ``(idx, scores, truth)`` at once: a few bincounts, whatever their number."""
        if not events:
            return
        idx, scores, truth = (np.concatenate(part) for part in zip(*events, strict=True))
        if not idx.size:
            return
        scores, truth = scores.astype(np.float64, copy=False), truth.astype(np.float64, copy=False)
        n_bins = self.bins.shape[2]
        b = np.minimum((scores * n_bins).astype(np.int64), n_bins - 1)
        size = max(int(idx.max()) + 1, self.brier.shape[0])
        if size > self.brier.shape[0]:
            bins = np.zeros((size, 3, n_bins))
            bins[: self.bins.shape[0]] = self.bins
            brier = np.zeros(size)
            brier[: self.brier.shape[0]] = self.brier
            self.bins, self.brier = bins, brier
        cell = idx * n_bins + b
        length = size * n_bins
        for part, weights in ((_COUNT, None), (_SCORE, scores), (_TRUE, truth)):
            self.bins[:, part, :] += np.bincount(cell, weights, minlength=length).reshape(size, n_bins)
        self.brier += np.bincount(idx, (scores - truth) ** 2, minlength=size)

    def summary(self) -> dict:
        pooled = self.bins.sum(axis=0)
        n = pooled[_COUNT].sum()
        if n <= 0:
            return {"ece": 0.0, "brier": 0.0, "n": 0}
        return {"ece": float(np.abs(pooled[_SCORE] - pooled[_TRUE]).sum() / n),
                "brier": float(self.brier.sum() / n), "n": int(round(n))}

    def per_label(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ECE, Brier and count of every label (0 where a label has no score)."""
        n = self.bins[:, _COUNT].sum(axis=1)
        safe = np.maximum(n, 1.0)
        ece = np.abs(self.bins[:, _SCORE] - self.bins[:, _TRUE]).sum(axis=1) / safe
        return ece, self.brier / safe, n


class CalibrationMetrics:
    """ECE and Brier score of a stream of scores, cumulative and over the last ``window`` events.

    Parameters
    ----------
    window
        Number of most recent events the windowed figures cover.
    bins
        Equal-width score bins of the ECE (15, the usual choice).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> m = CalibrationMetrics(window=500)
    >>> idx = np.arange(3)
    >>> for _ in range(2000):  # calibrated scores: truth ~ Bernoulli(score)
    ...     scores = rng.random(3)
    ...     m.update(idx, scores, rng.random(3) < scores)
    >>> report = m.report(["a", "b", "c"])
    >>> report["cumulative"]["ece"] < 0.03, report["window"]["n"]
    (True, 1500)
    >>> abs(report["cumulative"]["brier"] - 1 / 6) < 0.01  # E[s (1 - s)] for s uniform
    True
    """

    def __init__(self, window: int = 1000, bins: int = 15):
        if window < 1 or bins < 1:
            raise ValueError("window and bins must be at least 1")
        self.window, self.n_bins = window, bins
        self.cumulative = _Sums(bins)
        self._pending: list = []  # events not added to the cumulative sums yet
        self._events: deque = deque(maxlen=window)  # the window's events

    def update(self, idx: np.ndarray, scores: np.ndarray, truth: np.ndarray) -> None:
        """Count one event: the scores of labels ``idx`` and their truth (0/1).

        The event is only queued: the sums are brought up to date ``_FLUSH`` events at a time
        (and before any figure is read), which costs a few numpy calls per batch instead of
        per event.
        """
        event = (idx, scores, truth)  # binned when added: per batch, not per event
        self._events.append(event)
        self._pending.append(event)
        if len(self._pending) >= _FLUSH:
            self._flush()

    def _flush(self) -> None:
        self.cumulative.add(self._pending)
        self._pending = []

    def _window(self) -> _Sums:
        """The window's sums, from its events (read once a second at most: no running sums to drift)."""
        sums = _Sums(self.n_bins)
        sums.add(list(self._events))
        return sums

    def window_ece(self) -> float:
        """The ECE over the window (what the worker exports to Prometheus)."""
        return self._window().summary()["ece"]

    def report(self, names, per_label: bool = True) -> dict:
        """Figures, JSON-able: cumulative, window, per label (``names[i]`` is label ``i``)."""
        self._flush()
        window = self._window()
        out = {"cumulative": self.cumulative.summary(), "window": window.summary()}
        if per_label:
            ece, brier, n = self.cumulative.per_label()
            w_ece, _, w_n = window.per_label()
            out["per_label"] = {name: _label_figures(i, ece, brier, n, w_ece, w_n) for i, name in enumerate(names)}
        return out

    def reliability(self) -> dict:
        """The cumulative reliability diagram: per bin, mean score, rate of true and count."""
        self._flush()
        pooled = self.cumulative.bins.sum(axis=0)
        count = pooled[_COUNT]
        safe = np.maximum(count, 1e-12)
        return {"edges": np.linspace(0.0, 1.0, self.n_bins + 1).tolist(),
                "mean_score": (pooled[_SCORE] / safe).tolist(), "rate": (pooled[_TRUE] / safe).tolist(),
                "count": count.round().astype(int).tolist()}


def _label_figures(i: int, ece, brier, n, w_ece, w_n) -> dict:
    """Label ``i``'s figures (zeros for a label no score was counted for yet)."""
    if i >= n.shape[0]:
        return {"ece": 0.0, "brier": 0.0, "n": 0, "window_ece": 0.0, "window_n": 0}
    return {"ece": float(ece[i]), "brier": float(brier[i]), "n": int(n[i]), "window_ece": float(w_ece[i]),
            "window_n": int(w_n[i])}
