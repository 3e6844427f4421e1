"""Rate drift: a label's rate in each tumbling window against its reference rate.

Used twice: the rate at which each label is *predicted* positive (prediction drift) and the
rate at which each label is *true* among the joined events (label drift).

The test is the pooled two-proportion z-test with Yates' continuity correction::

    p = (x_w + x_r) / (n_w + n_r),   h = 1/n_w + 1/n_r
    z = max(|x_w/n_w - x_r/n_r| - h/2, 0) / sqrt(p (1 - p) h)

Why this test and not PSI over {0, 1}: most labels of a multi-label stream are rare, and
PSI over {0, 1} is blind to their changes (a label whose rate doubles from 1% to 2% has a
PSI of 0.007, far under any usable threshold) while being noisy for frequent labels at
small windows; PSI has no notion of sample size. The z statistic is scaled by the sampling
noise of *both* the window and the reference, so one threshold means the same false-alarm
rate for a 1% label and a 40% label and for any window or reference size. The continuity
correction keeps the normal approximation conservative for small counts, and a minimum
count (``min_count`` events observed in the window and in the reference) keeps it out of
the range where it is meaningless. Thresholds are high (``|z| >= 5`` warns by default,
two-sided p < 1e-6) because every label is tested in every window.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat

import numpy as np

from stream_mlc.core.drift.subjects import COLLECT, READY, WARMUP, Subjects


def two_proportion_z(x_window, n_window, x_reference, n_reference) -> np.ndarray:
    """``|z|`` of the pooled two-proportion test with continuity correction (0 when undefined).

    Examples
    --------
    >>> float(two_proportion_z(50, 500, 500, 5000))
    0.0
    >>> round(float(two_proportion_z(100, 500, 500, 5000)), 3)
    6.764
    """
    xw, nw = np.asarray(x_window, float), np.asarray(n_window, float)
    xr, nr = np.asarray(x_reference, float), np.asarray(n_reference, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (xw + xr) / (nw + nr)
        h = 1.0 / nw + 1.0 / nr
        se = np.sqrt(p * (1.0 - p) * h)
        diff = np.maximum(np.abs(xw / nw - xr / nr) - h / 2.0, 0.0)
        z = np.where(se > 0, diff / se, 0.0)
    return np.nan_to_num(z, nan=0.0, posinf=0.0)


class RateTracker(Subjects):
    """Per-label rates over tumbling windows, tested against a reference rate.

    Parameters
    ----------
    window_size, reference_size, warmup_size
        As in :class:`~stream_mlc.core.drift.psi.PsiTracker`, in events of the stream.
    max_subjects
        Labels beyond this many are ignored.
    late
        ``"zero"``: a label first seen after the initial reference had a reference rate of 0
        (it was never positive); ``"collect"``: it collects its own reference.
    min_count
        Minimum observations of a label in the window and in its reference for a test.
    rolling
        False: a label's reference is fixed once collected (label drift). True: it is the
        ``reference_size`` events just before the window (rates of positive predictions,
        which move as the model learns; see :mod:`stream_mlc.core.drift.scores`).
    """

    _per_subject = (
        ("_state", 0, 0),
        ("_wait", 0, 0),
        ("_collected", 0, 0),
        ("_acc_x", 0, 0),
        ("_acc_n", 0, 0),
        ("ref_x", 0, 0),
        ("ref_n", 0, 0),
        ("last_x", 0, 0),
        ("last_n", 0, 0),
        ("z", np.nan, 0),
        ("_ring", 0, 1),  # rolling only
    )

    def __init__(
        self,
        *,
        window_size: int = 500,
        reference_size: int = 5000,
        warmup_size: int = 0,
        max_subjects: int = 1000,
        late: str = "zero",
        min_count: int = 50,
        rolling: bool = False,
    ) -> None:
        if late not in ("zero", "collect"):
            raise ValueError(f"late must be 'zero' or 'collect', got {late!r}")
        self._init_subjects(max_subjects)
        self.window_size = window_size
        self.reference_size = reference_size
        self.warmup_size = warmup_size
        self.late = late
        self.min_count = min_count
        self.rolling = rolling
        self._span = reference_size // window_size
        self._warmup_windows = -(-warmup_size // window_size)
        self._pos = 0
        self.ignored_values = 0
        self.n = 0
        self._positives: list[str] = []
        self._observed: list[str] = []
        self._full = 0
        self._phase_left = warmup_size + reference_size
        self._phase_full = 0
        cap = self._capacity
        self._state = np.zeros(cap, np.int8)
        self._wait = np.zeros(cap, np.int64)
        self._collected = np.zeros(cap, np.int64)
        self._acc_x = np.zeros(cap, np.int64)
        self._acc_n = np.zeros(cap, np.int64)
        self.ref_x = np.zeros(cap, np.int64)
        self.ref_n = np.zeros(cap, np.int64)
        #: Per subject, at the last window close: positives, observations, ``|z|`` (NaN when untested).
        self.last_x = np.zeros(cap, np.int64)
        self.last_n = np.zeros(cap, np.int64)
        self.z = np.full(cap, np.nan)
        if rolling:  # per window (x, n), the last reference_size events
            self._ring = np.zeros((self._span, cap, 2), np.int64)

    def add(self, positives: Iterable[str], observed: Iterable[str] | None = None) -> bool:
        """Add one event; True when the window is full (call :meth:`close`).

        ``observed`` None means every label is observed (those not in ``positives`` are
        negative); otherwise only the labels in ``observed`` are.
        """
        self._positives.extend(positives)
        if observed is None:
            self._full += 1
        else:
            self._observed.extend(observed)
        self.n += 1
        return self.n >= self.window_size

    def _begin(self, i: int) -> None:
        # A late label is READY at a rate of 0 only when the reference phase saw enough
        # fully observed events to test it against.
        if self.late == "zero" and self._phase_left <= 0 and self._phase_full >= self.min_count:
            self._state[i] = READY
            self.ref_x[i], self.ref_n[i] = 0, self._phase_full
        else:
            self._start(i)

    def _restart_phase(self) -> None:
        self._phase_left = self.warmup_size + self.reference_size
        self._phase_full = 0

    def _start(self, i: int) -> None:
        self._enter_warmup(i)
        self._acc_x[i] = self._acc_n[i] = 0
        self.z[i] = np.nan
        if self.rolling:
            self._ring[:, i] = 0
            self.ref_x[i] = self.ref_n[i] = 0

    def rate(self, i: int) -> float:
        """The label's rate in the last window."""
        return float(self.last_x[i] / self.last_n[i]) if self.last_n[i] else float("nan")

    def reference_rate(self, i: int) -> float:
        return float(self.ref_x[i] / self.ref_n[i]) if self.ref_n[i] else float("nan")

    def _indices(self, names: list[str]) -> list[int]:
        idx = list(map(self.index.get, names, repeat(-1)))
        if -1 in idx:  # new names (or names beyond max_subjects)
            idx = [self.register(name) for name in names]
        return idx

    def close(self) -> np.ndarray:
        """Count the window, test it, advance the states; returns the indices tested."""
        n = self.n
        pos = self._indices(self._positives)
        obs = self._indices(self._observed)
        S = len(self.names)
        pos_arr = np.asarray(pos, dtype=np.intp)
        obs_arr = np.asarray(obs, dtype=np.intp)
        self.ignored_values += int(np.count_nonzero(pos_arr < 0) + np.count_nonzero(obs_arr < 0))
        x = np.bincount(pos_arr[pos_arr >= 0], minlength=S)[:S]
        m = self._full + np.bincount(obs_arr[obs_arr >= 0], minlength=S)[:S]
        self.last_x[:S], self.last_n[:S] = x, m
        state = self._state[:S]

        ready = np.flatnonzero(state == READY)
        if len(ready):
            z = two_proportion_z(x[ready], m[ready], self.ref_x[ready], self.ref_n[ready])
            enough = (m[ready] >= self.min_count) & (self.ref_n[ready] >= self.min_count)
            self.z[ready] = np.where(enough, z, np.nan)
            ready = ready[enough]

        if self.rolling:
            self._roll(x, m, state)
        else:
            self._collect(x, m, state, n)
        self._positives.clear()
        self._observed.clear()
        self._full = 0
        self.n = 0
        self.windows += 1
        return ready

    def _roll(self, x: np.ndarray, m: np.ndarray, state: np.ndarray) -> None:
        """The window joins the references of subjects past their warm-up; the oldest leaves."""
        S = len(x)
        counting = (state != WARMUP)[:, None]
        window = np.where(counting, np.stack([x, m], axis=1), 0)
        old = self._ring[self._pos, :S]
        self.ref_x[:S] += window[:, 0] - old[:, 0]
        self.ref_n[:S] += window[:, 1] - old[:, 1]
        self._ring[self._pos, :S] = window
        self._pos = (self._pos + 1) % self._span
        self._collected[:S] += counting[:, 0]  # counted in windows here, in events when fixed
        self._state[:S] = np.where(state == WARMUP, state, np.where(self._collected[:S] >= self._span, READY, COLLECT))
        self._end_warmup(state, self.n)

    def _collect(self, x: np.ndarray, m: np.ndarray, state: np.ndarray, n: int) -> None:
        collecting = np.flatnonzero(state == COLLECT)
        if len(collecting):
            self._acc_x[collecting] += x[collecting]
            self._acc_n[collecting] += m[collecting]
            self._collected[collecting] += n
            done = collecting[self._collected[collecting] >= self.reference_size]
            self.ref_x[done], self.ref_n[done] = self._acc_x[done], self._acc_n[done]
            self._state[done] = READY
        self._end_warmup(state, n)

        if self._phase_left > 0:
            if self._phase_left <= self.reference_size:
                self._phase_full += self._full
            self._phase_left -= n
