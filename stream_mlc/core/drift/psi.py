"""Population stability index (PSI) of sparse, dict-valued events, per tumbling window.

:class:`PsiTracker` follows the distribution of every *subject* (a feature name) of a
stream of ``{name: value}`` events against a fixed reference. A name missing from an event
has the value 0, and 0 is a value like any other: it is counted in the histograms. The cost
per event is proportional to the names *present* in the event; zeros are counted by
subtraction from the window's event count when the window closes.

Per event, :meth:`PsiTracker.observe` only appends the event's values to the window's
buffers (:class:`~stream_mlc.core.drift.window.DictWindow`). Every ``window_size`` events
:meth:`PsiTracker.close` bins the whole window at once with numpy and compares each
subject's window histogram with its reference histogram:

    PSI = sum_i (q_i - p_i) * ln(q_i / p_i),   p_i = max(ref_i / n_ref, eps),  q_i = max(cur_i / n, eps)

The bins of a subject are cut at its reference's deciles (``bins`` quantiles, duplicates
removed); a value goes to bin ``i`` = the number of edges strictly below it. When the
reference has a point mass at its minimum (10% or more of zeros, say), an extra edge just
below it gives values under the reference minimum a bin of their own.

Subjects go through three states: ``WARMUP`` (skip ``warmup_size`` events), ``COLLECT``
(keep the raw values of ``reference_size`` events), ``READY`` (compare each window).
A subject first seen after the initial reference phase either collects its own reference
(``late="collect"``) or is READY at once against a reference of zeros (``late="zero"``):
a feature never seen before was absent, i.e. 0, in every reference event.
"""

from __future__ import annotations

import numpy as np

from stream_mlc.core.drift.subjects import COLLECT, READY, WARMUP, Subjects
from stream_mlc.core.drift.window import DictWindow, group

__all__ = ["COLLECT", "READY", "WARMUP", "PsiTracker", "bin_counts", "psi", "reference_edges"]


def psi(reference_counts, current_counts, epsilon: float = 1e-4) -> float:
    """PSI of two histograms over the same bins, with shares floored at ``epsilon``.

    Examples
    --------
    >>> round(psi([50, 50], [50, 50]), 6)
    0.0
    >>> round(psi([50, 50], [90, 10]), 4)
    0.8789
    """
    p = np.asarray(reference_counts, dtype=float)
    q = np.asarray(current_counts, dtype=float)
    p = np.maximum(p / p.sum(), epsilon)
    q = np.maximum(q / q.sum(), epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def reference_edges(values: np.ndarray, n_events: int, bins: int) -> np.ndarray:
    """Bin edges of a reference: ``values`` present in ``n_events`` events, the rest zeros.

    Examples
    --------
    >>> reference_edges(np.arange(1.0, 11.0), 10, 5)
    array([2.8, 4.6, 6.4, 8.2])
    >>> reference_edges(np.array([1.0, 2.0]), 5, 4).tolist()   # 60% zeros: a bin under 0
    [-5e-324, 0.0, 1.0]
    """
    sample = _with_zeros(values, n_events)
    edges = np.unique(np.quantile(sample, np.arange(1, bins) / bins))
    low = sample.min()
    if edges[0] <= low:
        edges = np.concatenate(([np.nextafter(low, -np.inf)], edges))
    return edges


def bin_counts(values: np.ndarray, n_events: int, edges: np.ndarray, slots: int) -> np.ndarray:
    """Histogram of ``values`` plus ``n_events - len(values)`` zeros over ``edges``."""
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=slots)[:slots]
    counts[np.searchsorted(edges, 0.0, side="left")] += n_events - len(values)
    return counts


def _with_zeros(values: np.ndarray, n_events: int) -> np.ndarray:
    zeros = n_events - len(values)
    return np.concatenate((values, np.zeros(zeros))) if zeros > 0 else np.asarray(values, dtype=float)


class PsiTracker(Subjects, DictWindow):
    """PSI per subject of a stream of ``{name: value}`` events; see the module.

    Parameters
    ----------
    bins
        Quantile bins per reference (at most ``bins + 1`` slots with the bin under the
        minimum).
    epsilon
        Floor of a bin's share.
    window_size
        Events per tumbling window.
    reference_size
        Events in a subject's reference.
    warmup_size
        Events a subject skips before collecting its reference (and after :meth:`rebaseline`).
    max_subjects
        Names beyond this many are ignored.
    late
        ``"zero"`` or ``"collect"``: the reference of a name first seen after the first
        ``reference_size`` events (see the module).
    max_schemas
        Size of the cache of name tuples; cleared between windows when exceeded.
    """

    _per_subject = (
        ("_state", 0, 0),
        ("_wait", 0, 0),
        ("_collected", 0, 0),
        ("_edges", np.inf, 0),
        ("_n_valid", 0, 0),
        ("_zero_bin", 0, 0),
        ("_ref_n", 0, 0),
        ("_ref_counts", 0, 0),
        ("_ref_p", 1.0, 0),
        ("_ref_logp", 0.0, 0),
        ("psi", np.nan, 0),
    )

    def __init__(
        self,
        *,
        bins: int = 10,
        epsilon: float = 1e-4,
        window_size: int = 500,
        reference_size: int = 5000,
        warmup_size: int = 0,
        max_subjects: int = 1000,
        late: str = "zero",
        max_schemas: int = 1024,
    ) -> None:
        if late not in ("zero", "collect"):
            raise ValueError(f"late must be 'zero' or 'collect', got {late!r}")
        self._init_window(window_size, max_schemas)
        self._init_subjects(max_subjects)
        self.bins = bins
        self.epsilon = epsilon
        self.reference_size = reference_size
        self.warmup_size = warmup_size
        self.late = late
        self.n_edges = bins  # bins - 1 quantiles, plus the edge under a point mass at the minimum
        self.slots = bins + 1
        self._phase_left = warmup_size + reference_size
        self._pending: dict[int, list[np.ndarray]] = {}
        cap = self._capacity
        self._state = np.zeros(cap, np.int8)
        self._wait = np.zeros(cap, np.int64)
        self._collected = np.zeros(cap, np.int64)
        self._edges = np.full((cap, self.n_edges), np.inf)
        self._n_valid = np.zeros(cap, np.intp)
        self._zero_bin = np.zeros(cap, np.intp)
        self._ref_n = np.zeros(cap, np.int64)
        self._ref_counts = np.zeros((cap, self.slots), np.int64)
        self._ref_p = np.ones((cap, self.slots))
        self._ref_logp = np.zeros((cap, self.slots))
        #: PSI of each subject at the last window close (NaN when it had no reference).
        self.psi = np.full(cap, np.nan)
        #: The last window's histograms, one row per subject (None before the first close).
        self.last_counts: np.ndarray | None = None

    # -- subjects --------------------------------------------------------------------

    def _begin(self, i: int) -> None:
        if self.late == "zero" and self._phase_left <= 0:
            self._set_reference(i, np.empty(0), self.reference_size)
        else:
            self._start(i)

    def _restart_phase(self) -> None:
        self._phase_left = self.warmup_size + self.reference_size

    def _start(self, i: int) -> None:
        self._enter_warmup(i)
        self._edges[i] = np.inf
        self._n_valid[i] = 0
        self._zero_bin[i] = 0
        self.psi[i] = np.nan
        self._pending.pop(i, None)

    def _set_reference(self, i: int, values: np.ndarray, n_events: int) -> None:
        edges = reference_edges(values, n_events, self.bins)
        self._edges[i] = np.inf
        self._edges[i, : len(edges)] = edges
        self._n_valid[i] = len(edges)
        self._zero_bin[i] = np.searchsorted(edges, 0.0, side="left")
        counts = bin_counts(values, n_events, edges, self.slots)
        self._ref_n[i] = n_events
        self._ref_counts[i] = counts
        p = np.maximum(counts / n_events, self.epsilon)
        self._ref_p[i] = p
        self._ref_logp[i] = np.log(p)
        self._state[i] = READY
        self._pending.pop(i, None)

    def reference(self, name: str) -> tuple[np.ndarray, np.ndarray, int]:
        """``(edges, counts, n_events)`` of ``name``'s reference (READY subjects)."""
        i = self.index[name]
        return self._edges[i, : self._n_valid[i]].copy(), self._ref_counts[i].copy(), int(self._ref_n[i])

    # -- per window ------------------------------------------------------------------

    def close(self) -> np.ndarray:
        """Bin the window, compare it with the references, advance the subjects' states.

        Returns
        -------
        numpy.ndarray
            The indices of the subjects compared (READY before this window); their PSI is in
            :attr:`psi`, their window histogram in :attr:`last_counts`.
        """
        n = self.n
        blocks, flat_cols, flat_vals = self._drain()
        S = len(self.names)
        slots = self.slots
        state = self._state[:S]
        collecting = state == COLLECT
        need_raw = bool(collecting.any())
        raw: dict[int, list[np.ndarray]] = {}
        counts = np.zeros(S * slots, np.int64)
        present = np.zeros(S, np.int64)
        for cols, matrix in blocks:
            # Dense block: one pass per edge over the whole matrix.
            edges = self._edges[cols]
            bins = np.zeros(matrix.shape, np.uint8)  # psi_bins <= 200: a bin index fits
            for j in range(int(self._n_valid[cols].max())):
                bins += matrix > edges[:, j]
            counts += np.bincount((bins + cols * slots).ravel(), minlength=S * slots)
            present[cols] += len(matrix)
            if need_raw:
                for j in np.flatnonzero(collecting[cols]):
                    raw.setdefault(int(cols[j]), []).append(matrix[:, j].copy())
        if len(flat_cols):
            # Sparse pairs: grouped by subject (radix sort), one searchsorted per subject.
            cols, vals, bounds = group(flat_cols, flat_vals, S)
            bins = np.empty(len(cols), np.intp)
            limits = bounds.tolist()
            edges = self._edges
            for s in np.flatnonzero(np.diff(bounds)).tolist():
                lo, hi = limits[s], limits[s + 1]
                bins[lo:hi] = edges[s].searchsorted(vals[lo:hi], side="left")
                if need_raw and collecting[s]:
                    raw.setdefault(s, []).append(vals[lo:hi])
            counts += np.bincount(cols * slots + bins, minlength=S * slots)
            present += np.diff(bounds)
        counts = counts.reshape(S, slots)
        counts[np.arange(S), self._zero_bin[:S]] += n - present
        self.last_counts = counts

        ready = np.flatnonzero(state == READY)
        if len(ready) and n:
            q = np.maximum(counts[ready] / n, self.epsilon)
            self.psi[ready] = np.sum((q - self._ref_p[ready]) * (np.log(q) - self._ref_logp[ready]), axis=1)

        for i in np.flatnonzero(collecting):
            i = int(i)
            parts = self._pending.setdefault(i, [])
            parts.extend(raw.get(i, ()))
            self._collected[i] += n
            if self._collected[i] >= self.reference_size:
                values = np.concatenate(parts) if parts else np.empty(0)
                self._set_reference(i, values, int(self._collected[i]))
        self._end_warmup(state, n)

        self._phase_left -= n
        self.n = 0
        self.windows += 1
        return ready
