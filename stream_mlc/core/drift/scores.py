"""Prediction drift of scores: PSI of each label's score distribution against a rolling reference.

Scores live on [0, 1], so the bins are fixed: ``bins`` equal bins (a score goes to bin
``i`` = the number of edges ``k / bins`` strictly below it). No quantiles are needed, so a
reference is just a sum of window histograms.

Why a *rolling* reference (the ``reference_size`` events just before the window) rather
than a fixed one: the model learns from every joined event, so its scores move all the time
by design; against a fixed reference the PSI of a healthy, still-improving model keeps
growing and eventually alarms (it did in the drift benchmark: about 70 false alarms per
100,000 events). Against the recent past, an abrupt change of the scores (inputs that moved,
a broken model, a reset) stands out, while the learner's own slow evolution does not; slow
input drift is the feature monitor's job, which keeps a fixed reference. A subject is
compared once it has a full reference: ``warmup_size`` events after it first appears (or
after :meth:`ScorePsiTracker.rebaseline`, e.g. when its learner was reset), plus
``reference_size``.
"""

from __future__ import annotations

import numpy as np

from stream_mlc.core.drift.subjects import COLLECT, READY, WARMUP, Subjects
from stream_mlc.core.drift.window import DictWindow


class ScorePsiTracker(Subjects, DictWindow):
    """PSI per label of ``{label: score}`` events, fixed bins on [0, 1], rolling reference.

    Parameters
    ----------
    bins
        Equal-width bins on [0, 1].
    epsilon
        Floor of a bin's share in the PSI.
    window_size, reference_size, warmup_size
        In events; ``reference_size`` and ``warmup_size`` are multiples of ``window_size``.
    max_subjects
        Labels beyond this many are ignored.
    max_schemas
        Size of the cache of name tuples.

    Examples
    --------
    >>> tracker = ScorePsiTracker(window_size=2, reference_size=4)
    >>> for score in [0.1, 0.1, 0.12, 0.14, 0.11, 0.13, 0.9, 0.8]:
    ...     if tracker.observe({"a": score}):
    ...         _ = tracker.close()
    >>> round(float(tracker.psi[0]), 3)   # all mass moved from (0.1, 0.2] to (0.7, 0.9]
    17.725
    """

    _per_subject = (("_age", 0, 0), ("_ring", 0, 1), ("_ref", 0, 0), ("psi", np.nan, 0))

    def __init__(
        self,
        *,
        bins: int = 10,
        epsilon: float = 1e-4,
        window_size: int = 500,
        reference_size: int = 5000,
        warmup_size: int = 0,
        max_subjects: int = 1000,
        max_schemas: int = 1024,
    ) -> None:
        self._init_window(window_size, max_schemas)
        self._init_subjects(max_subjects)
        self.bins = bins
        self.slots = bins
        self.edges = np.arange(1, bins) / bins
        self.epsilon = epsilon
        self.reference_size = reference_size
        self.warmup_size = warmup_size
        self._span = reference_size // window_size  # windows in a reference
        self._warmup_windows = -(-warmup_size // window_size)
        self._pos = 0
        cap = self._capacity
        # Windows collected since the subject's (re)start; negative while warming up.
        self._age = np.zeros(cap, np.int64)
        self._ring = np.zeros((self._span, cap, self.slots), np.int64)
        self._ref = np.zeros((cap, self.slots), np.int64)
        #: PSI of each label at the last window close (NaN when it had no full reference).
        self.psi = np.full(cap, np.nan)
        self.last_counts: np.ndarray | None = None

    @property
    def _state(self) -> np.ndarray:
        """WARMUP / COLLECT / READY per subject (the interface of the other trackers)."""
        age = self._age
        return np.where(age < 0, WARMUP, np.where(age < self._span, COLLECT, READY)).astype(np.int8)

    def _start(self, i: int) -> None:
        self._age[i] = -self._warmup_windows
        self._ring[:, i] = 0
        self._ref[i] = 0
        self.psi[i] = np.nan

    def close(self) -> np.ndarray:
        """Bin the window, compare it with each reference, roll the references; indices compared."""
        n = self.n
        blocks, cols, vals = self._drain()
        S = len(self.names)
        slots = self.slots
        counts = np.zeros(S * slots, np.int64)
        present = np.zeros(S, np.int64)
        for block_cols, matrix in blocks:
            bins = np.searchsorted(self.edges, matrix, side="left")
            counts += np.bincount((bins + block_cols * slots).ravel(), minlength=S * slots)
            present[block_cols] += len(matrix)
        if len(cols):
            counts += np.bincount(cols * slots + np.searchsorted(self.edges, vals, side="left"), minlength=S * slots)
            present += np.bincount(cols, minlength=S)
        counts = counts.reshape(S, slots)
        counts[:, 0] += n - present  # an absent score is 0
        self.last_counts = counts

        age = self._age[:S]
        ready = np.flatnonzero(age >= self._span)
        if len(ready):
            p = np.maximum(self._ref[ready] / (self._span * self.window_size), self.epsilon)
            q = np.maximum(counts[ready] / n, self.epsilon)
            self.psi[ready] = np.sum((q - p) * np.log(q / p), axis=1)
        # Roll: the window joins the references of the subjects collecting or ready, the
        # oldest window leaves.
        contribution = np.where((age >= 0)[:, None], counts, 0)
        self._ref[:S] += contribution - self._ring[self._pos, :S]
        self._ring[self._pos, :S] = contribution
        self._pos = (self._pos + 1) % self._span
        self._age[:S] += 1
        self.n = 0
        self.windows += 1
        return ready
