"""The sliding window of :class:`~stream_mlc.core.metrics.MultiLabelMetrics`: an event leaving it.

When the window is full, each new event pushes out the oldest one: its vector of
:mod:`stream_mlc.core.metrics_event` is subtracted from the window's sums, its labels from
the window's per-label counts and from the labels the window counts (for its macro
averages). Every ``window`` evictions the floating-point sums are re-added from scratch, so
rounding errors do not build up over a long-running stream. Pure standard library.
"""

from __future__ import annotations

import math
from operator import sub

from stream_mlc.core.metrics_event import _N_FLOAT


class _SlidingWindow:
    """The eviction half of :class:`~stream_mlc.core.metrics.MultiLabelMetrics`, a base class.

    It holds no state of its own (``__slots__ = ()``): it works on the window's slots of the
    metrics object (``_window``, ``_wsum``, ``_wtp``, ``_wfp``, ``_wfn``, ``_events``, ``_wk``,
    ``_wexpl``, ``_evictions``), which pickles exactly as it did without the base class.
    """

    __slots__ = ()

    def _evict(self, record: tuple) -> None:
        """Take an event's record (as ``update`` appended it) out of the window's sums and counts."""
        vals, tps, fps, fns, counted = record
        self._wsum = list(map(sub, self._wsum, vals))
        if tps:
            wtp = self._wtp
            for label in tps:
                wtp[label] -= 1
        if fps:
            wfp = self._wfp
            for label in fps:
                wfp[label] -= 1
        if fns:
            wfn = self._wfn
            for label in fns:
                wfn[label] -= 1
        if type(counted) is int:
            wk = self._wk
            left = wk[counted] - 1
            if left:
                wk[counted] = left
            else:
                del wk[counted]
        else:
            wexpl = self._wexpl
            for label in counted:
                left = wexpl[label] - 1
                if left:
                    wexpl[label] = left
                else:
                    del wexpl[label]
        self._evictions += 1
        if self._evictions >= self._window:
            self._resync()

    def _resync(self) -> None:
        """Re-add the window's floating-point sums from scratch (bounds rounding drift)."""
        self._evictions = 0
        events = self._events
        wsum = self._wsum
        for j in range(_N_FLOAT):
            wsum[j] = math.fsum(record[0][j] for record in events)
