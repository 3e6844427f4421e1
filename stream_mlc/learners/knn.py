"""Streaming multi-label kNN: an adaptive window, label-specific neighbourhoods, punished neighbours.

:class:`StreamingKNN` (registered as ``knn``), after AESAKNNS (Roseberry, Krawczyk, Djenouri,
Cano 2021) and ML-kNN (Zhang and Zhou 2007):

* **Window.** The last ``window`` examples (raw feature values and label vectors) in
  preallocated arrays: memory is bounded by ``window x (features + labels)``. Distances are
  Euclidean on inputs standardised online (running mean and variance of each feature, see
  :class:`~stream_mlc.learners.neural.RunningScaler`), computed for the whole window in one
  vectorised pass; the standardisation uses the current statistics, so old rows are never stale.
* **Label-specific neighbourhoods (ML-kNN).** For each candidate ``k`` in ``1, 3, 5, ...,
  k`` and each label, the number ``n`` of the k nearest neighbours having the label indexes a
  fading table of how often the label was then true: ``P(label | n of k)``, smoothed towards the
  vote ``(n + 0.5) / (k + 1)``. Each label uses the ``k`` whose probabilities had the lowest
  faded Brier score on its own past examples: a label-specific neighbourhood size.
* **Adaptive window size.** River's :class:`~river.drift.ADWIN` watches the per-example
  Hamming error; when it detects a change, the window is cut to ADWIN's current width (at
  least ``min_window``), forgetting the old concept at once.
* **Punishment.** Each stored example counts how often, as one of the ``k`` nearest
  neighbours, its labels disagreed with the truth (mean over the known labels). An example
  used at least 5 times whose disagreement exceeds ``punish`` times the window's running
  average is removed: noisy or outdated neighbours go first.

Labels unknown for a learned example are stored as the model's own prediction. Cost per
event: O(window x features) for the distances, O(labels x k) for the rest. Deterministic (no
randomness); pickles mid-stream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from river import base

from stream_mlc.core.models import register
from stream_mlc.learners.neural import RunningScaler, label_vector, proba_dict

__all__ = ["StreamingKNN"]

_MIN_USES = 5


class StreamingKNN(base.MultiLabelClassifier):
    """Streaming multi-label kNN (AESAKNNS-like, ML-kNN posteriors): see the module docstring.

    Parameters
    ----------
    k
        Largest neighbourhood size (the candidates are the odd sizes up to ``k``).
    window
        Most examples kept.
    min_window
        ADWIN never cuts the window below this many examples.
    fade
        Per-example decay of the ML-kNN tables and of the Brier scores choosing ``k``.
    smoothing
        Weight of the vote prior in the ML-kNN posterior.
    punish
        Remove a neighbour whose disagreement rate exceeds this many times the average.
    delta
        ADWIN's confidence.

    Examples
    --------
    >>> model = StreamingKNN(k=3, window=50)
    >>> for i in range(100):
    ...     a = i % 2 == 0
    ...     model.learn_one({"f": float(a) + 0.01 * (i % 7)}, {"x": a, "y": not a})
    >>> model.predict_one({"f": 1.0})
    {'x': True, 'y': False}
    >>> model.size
    50
    """

    def __init__(self, k: int = 11, window: int = 1000, min_window: int = 100, fade: float = 0.998,
                 smoothing: float = 2.0, punish: float = 2.0, delta: float = 0.002, max_features: int = 100_000):
        if k < 1 or window < 1 or not 0 < fade <= 1:
            raise ValueError("k and window must be >= 1 and fade in (0, 1]")
        self.k = k
        self.window = window
        self.min_window = min_window
        self.fade = fade
        self.smoothing = smoothing
        self.punish = punish
        self.delta = delta
        self.max_features = max_features
        self._ks = np.arange(1, k + 1, 2)
        self._scaler = RunningScaler(max_features)
        self._rows: dict = {}
        self._X = np.zeros((window, 0))
        self._Y = np.zeros((window, 0))
        self._stamp = np.zeros(window, dtype=np.int64)  # insertion time of each row
        self._uses = np.zeros(window)
        self._errors = np.zeros(window)
        self.size = 0  # rows 0..size-1 of the arrays are the window
        self._seen = 0
        self._unit = 1.0  # lazy fading: increments grow by 1 / fade instead of everything shrinking
        self._c1 = np.zeros((len(self._ks), 0, k + 1))  # option x label x count: weight of "label true"
        self._c0 = np.zeros((len(self._ks), 0, k + 1))
        self._brier = np.zeros((len(self._ks), 0))
        self._avg_disagreement = 0.0
        from river.drift import ADWIN  # on first use: importing river.drift is slow (concept.py)

        self._adwin = ADWIN(delta=delta)
        #: Number of neighbours removed by punishment, and of window cuts by ADWIN.
        self.punished = 0
        self.cuts = 0
        self._cache = None  # (key, (neighbours, posteriors, counts)) of the last x searched

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_cache": None}

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"k": 3, "window": 20, "min_window": 5}

    @property
    def labels(self) -> list:
        return list(self._rows)

    # -- growth ------------------------------------------------------------------------------
    def _admit(self, x: Mapping, y: Mapping) -> None:
        new_labels = [label for label in y if label not in self._rows]
        for label in new_labels:
            self._rows[label] = len(self._rows)
        if new_labels:
            k = len(new_labels)
            self._Y = np.concatenate([self._Y, np.zeros((self.window, k))], axis=1)
            self._c1 = np.concatenate([self._c1, np.zeros((len(self._ks), k, self.k + 1))], axis=1)
            self._c0 = np.concatenate([self._c0, np.zeros((len(self._ks), k, self.k + 1))], axis=1)
            self._brier = np.concatenate([self._brier, np.zeros((len(self._ks), k))], axis=1)
        self._scaler.admit(x)
        width = self._scaler.width
        if width > self._X.shape[1]:  # capacity doubles: a copy of the window per doubling, not per new name
            grown = np.zeros((self.window, max(width, 2 * self._X.shape[1])))
            grown[:, : self._X.shape[1]] = self._X
            self._X = grown

    # -- neighbours --------------------------------------------------------------------------
    def _neighbours(self, V: np.ndarray) -> np.ndarray:
        """Rows of the nearest neighbours (nearest first) of each raw vector in ``V`` (batch x k)."""
        width = V.shape[1]
        scale = self._scaler.scale()[:width]
        W = self._X[: self.size, :width] * scale
        Q = V * scale
        D = (W * W).sum(axis=1)[None, :] - 2.0 * Q @ W.T  # + |q|^2, the same for every row
        k = min(self.k, self.size)
        near = np.argpartition(D, k - 1, axis=1)[:, :k] if k < self.size else np.tile(np.arange(self.size),
                                                                                      (len(V), 1))
        order = np.argsort(np.take_along_axis(D, near, axis=1), axis=1, kind="stable")
        return np.take_along_axis(near, order, axis=1)

    def _option_proba(self, near: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per option, label and row: the posterior and the neighbour count (options x batch x labels)."""
        n_labels = len(self._rows)
        C = np.cumsum(self._Y[near, :n_labels], axis=1)  # batch x k x labels
        k_eff = near.shape[1]
        ks = np.minimum(self._ks, k_eff)
        N = C[:, ks - 1, :].transpose(1, 0, 2).astype(np.intp)  # options x batch x labels
        opt = np.arange(len(self._ks))[:, None, None]
        lab = np.arange(n_labels)[None, None, :]
        c1, c0 = self._c1[opt, lab, N] / self._unit, self._c0[opt, lab, N] / self._unit
        prior = (N + 0.5) / (ks[:, None, None] + 1.0)
        return (c1 + self.smoothing * prior) / (c1 + c0 + self.smoothing), N

    def _choose(self, P: np.ndarray) -> np.ndarray:
        """Each label's probability from its best option (batch x labels)."""
        best = self._brier.argmin(axis=0)  # per label
        return P[best, :, np.arange(P.shape[2])].T

    def predict_proba_batch(self, xs: Sequence[Mapping]) -> tuple[list, np.ndarray]:
        """``(labels, P)``, ``P`` of shape (len(xs), len(labels))."""
        labels = self.labels
        if not labels or not xs or self.size == 0:
            return labels, np.zeros((len(xs), len(labels)))
        if len(xs) == 1:
            near, P, _ = self._search(xs[0], self._scaler.encode(xs[0]))
            return labels, self._choose(P)
        V = np.stack([self._scaler.encode(x) for x in xs])
        P, _ = self._option_proba(self._neighbours(V))
        return labels, self._choose(P)

    def predict_proba_one(self, x: dict, **kwargs: Any) -> dict:
        labels, P = self.predict_proba_batch([x])
        return proba_dict(labels, P[0])

    def _search(self, x: Mapping, v: np.ndarray):
        """Neighbours, per-option posteriors and counts of ``x``; reused by the ``learn_one`` that follows
        a ``predict_proba_one`` of the same ``x`` (the engine's test-then-train)."""
        key = (tuple(x.items()), self._seen, self._scaler.width, len(self._rows))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        near = self._neighbours(v[None, :])
        found = (near, *self._option_proba(near))
        self._cache = (key, found)
        return found

    # -- learning ----------------------------------------------------------------------------
    def learn_one(self, x: dict, y: dict, **kwargs: Any) -> None:
        self._admit(x, y)
        v = self._scaler.encode(x)
        t, known = label_vector(y, self._rows, len(self._rows))
        stored = t
        if self.size:
            near, P, N = self._search(x, v)
            self._cache = None
            p = self._choose(P)[0]
            stored = np.where(known > 0, t, p > 0.5)
            self._learn_tables(P[:, 0, :], N[:, 0, :], t, known)
            self._punish(near[0], t, known, p)
        self._scaler.learn(x)
        self._insert(v, stored)
        self._seen += 1

    def _learn_tables(self, P: np.ndarray, N: np.ndarray, t: np.ndarray, known: np.ndarray) -> None:
        unit = self._unit
        opt = np.arange(len(self._ks))[:, None]
        lab = np.arange(len(t))[None, :]
        self._c1[opt, lab, N] += unit * known * t  # every (option, label) pair once: no repeated index
        self._c0[opt, lab, N] += unit * known * (1.0 - t)
        self._brier += unit * known * (P - t) ** 2
        self._unit = unit / self.fade
        if self._unit > 1e100:
            for table in (self._c1, self._c0, self._brier):
                table /= self._unit
            self._unit = 1.0

    def _punish(self, near: np.ndarray, t: np.ndarray, known: np.ndarray, p: np.ndarray) -> None:
        n_known = known.sum()
        if n_known == 0:
            return
        disagreement = (np.abs(self._Y[near, : len(t)] - t) * known).sum(axis=1) / n_known
        self._uses[near] += 1.0
        self._errors[near] += disagreement
        self._avg_disagreement += 0.01 * (disagreement.mean() - self._avg_disagreement)
        error = float(((p > 0.5) != (t > 0)) @ known / n_known)
        self._adwin.update(error)
        if self._adwin.drift_detected:
            self._cut(max(int(self._adwin.width), self.min_window))
        uses = self._uses[: self.size]
        bad = (uses >= _MIN_USES) & (self._errors[: self.size] > self.punish * self._avg_disagreement * uses)
        if bad.any() and self.size - int(bad.sum()) >= self.min_window:
            self.punished += int(bad.sum())
            self._keep(np.flatnonzero(~bad))

    def _cut(self, width: int) -> None:
        if width >= self.size:
            return
        self.cuts += 1
        newest = np.argsort(self._stamp[: self.size], kind="stable")[-width:]
        self._keep(np.sort(newest))

    def _keep(self, rows: np.ndarray) -> None:
        """Compact the window to ``rows`` (in that order)."""
        n = len(rows)
        for arr in (self._X, self._Y, self._stamp, self._uses, self._errors):
            arr[:n] = arr[rows]
        self.size = n

    def _insert(self, v: np.ndarray, y: np.ndarray) -> None:
        if self.size < self.window:
            row = self.size
            self.size += 1
        else:
            row = int(np.argmin(self._stamp[: self.size]))
        self._X[row, :] = 0.0
        self._X[row, : len(v)] = v
        self._Y[row, :] = 0.0
        self._Y[row, : len(y)] = y
        self._stamp[row] = self._seen
        self._uses[row] = self._errors[row] = 0.0

    def reset_label(self, label) -> bool:
        """Forget the label's ML-kNN tables and k choice (the window keeps its values)."""
        j = self._rows.get(label)
        if j is None:
            return False
        for table in (self._c1, self._c0, self._brier):
            table[:, j] = 0.0
        return True


@register("knn")
def knn(k: int = 11, window: int = 1000, min_window: int = 100, fade: float = 0.998, smoothing: float = 2.0,
        punish: float = 2.0, delta: float = 0.002, max_features: int = 100_000) -> StreamingKNN:
    """Streaming multi-label kNN with an adaptive window and label-specific neighbourhoods."""
    return StreamingKNN(k=k, window=window, min_window=min_window, fade=fade, smoothing=smoothing, punish=punish,
                        delta=delta, max_features=max_features)
