"""The batch paths of :class:`~stream_mlc.learners.linear.NativeMLC`, besides River's one-event ones.

``predict_proba_batch(xs) -> (labels, P)``
    ``P[i, j]`` is the probability of ``labels[j]`` for ``xs[i]``, every row scored by the
    current model: equal, up to float rounding, to ``predict_proba_one`` on each row.
``learn_batch(xs, ys, exact=False)``
    one mini-batch step: the gradients of all rows at the current weights, summed; the
    AdaGrad accumulators grow by the rows' squared gradients, as ``len(xs)`` calls of
    ``learn_one`` would make them grow, so a batch moves the weights about as far as its
    rows would one by one. A batch of one row is ``learn_one`` (up to float rounding).
    Deterministic for a given split of the stream into batches; with ``exact=True`` the rows
    are learned one by one, the same model bit for bit as a loop of ``learn_one``.
``test_then_train_batch(xs, ys) -> (labels, P)``
    ``predict_proba_batch(xs)`` then ``learn_batch(xs, ys)`` in one pass (encodes the rows
    and computes their pre-activations once): the offline evaluator's and benchmark's path.
``learn_many(X, Y)`` / ``predict_proba_many(X)`` / ``predict_many(X)``
    River's mini-batch names on pandas DataFrames (``Y``: one boolean column per label,
    NaN for unknown values, or a Series of ``{label: bool}`` dicts); lists of dicts work
    too. ``learn_many`` learns row by row (``exact=True``).

The service's worker may score a batch of events with ``predict_proba_batch`` and learn the
batch of their joined examples with ``learn_batch``: test-then-train at batch granularity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import chain

import numpy as np

from stream_mlc.learners.linear_encoding import _BIAS


class _BatchPaths:
    """The batch half of :class:`~stream_mlc.learners.linear.NativeMLC`, a base class.

    It holds no state of its own (``__slots__ = ()``): it works on the model's weights,
    accumulators, label-set statistics and caches, and calls the model's one-event methods
    (``_encode``, ``_admit_*``, ``_targets``, ``_heads_proba``, ``_output``, ``_count``,
    ``learn_one``), so the model pickles exactly as it did without the base class.
    """

    __slots__ = ()

    def _encode_batch(self, xs: Sequence[Mapping]):
        """The encoded rows of a batch, or one matrix (batch x columns) if they all share one dense prefix."""
        cache = self._key_cache
        if cache is not None and cache[3] and cache[4] == len(self._features):
            keys = cache[0]
            n = len(keys)
            try:
                if all(len(x) == n and tuple(x) == keys for x in xs):
                    values = chain.from_iterable(chain(_BIAS, x.values()) for x in xs)
                    return np.fromiter(values, dtype=np.float64, count=len(xs) * (n + 1)).reshape(len(xs), n + 1)
            except (TypeError, ValueError):
                pass
        return [self._encode(x) for x in xs]

    def _forward_batch(self, encoded) -> np.ndarray:
        """Pre-activations of a batch of encoded rows: (rows, batch)."""
        rows = self._heads * len(self._labels)
        if isinstance(encoded, np.ndarray):
            return self._W[:rows, : encoded.shape[1]] @ encoded.T
        n_rows = len(encoded)
        width = encoded[0][1].shape[0] if encoded else 0
        if all(e[2] and e[1].shape[0] == width for e in encoded):  # a dense stream: one product
            return self._W[:rows, :width] @ np.stack([e[1] for e in encoded], axis=1)
        counts = np.fromiter((e[0].shape[0] for e in encoded), dtype=np.intp, count=n_rows)
        idx = np.concatenate([e[0] for e in encoded])
        vals = np.concatenate([e[1] for e in encoded])
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])  # every row has the bias: no empty row
        return np.add.reduceat(self._W[:rows, idx] * vals, starts, axis=1)

    def predict_proba_batch(self, xs: Sequence[Mapping]) -> tuple[list, np.ndarray]:
        """Score a batch with the current model: ``(labels, P)``, ``P`` of shape (len(xs), len(labels))."""
        n_rows, n_labels = len(xs), len(self._labels)
        if n_labels == 0 or n_rows == 0:
            return list(self._labels), np.zeros((n_rows, n_labels))
        pb, ps = self._heads_proba(self._forward_batch(self._encode_batch(xs)))
        return list(self._labels), np.ascontiguousarray(self._output(pb, ps).T)

    def learn_batch(self, xs: Sequence[Mapping], ys: Sequence[Mapping], exact: bool = False) -> None:
        """Learn a batch: one mini-batch step, or (``exact``) row by row as ``learn_one`` does.

        See the module documentation for what a mini-batch step is.
        """
        if len(xs) != len(ys):
            raise ValueError(f"{len(xs)} rows of features but {len(ys)} of labels")
        if exact or len(xs) <= 1:
            for x, y in zip(xs, ys, strict=True):
                self.learn_one(x, y)
            return
        self._batch(xs, ys, predict=False)

    def test_then_train_batch(self, xs: Sequence[Mapping], ys: Sequence[Mapping]) -> tuple[list, np.ndarray]:
        """``predict_proba_batch(xs)``, then ``learn_batch(xs, ys)``, sharing their work.

        Returns ``(labels, P)`` as :meth:`predict_proba_batch` would have before learning
        (``labels`` also includes labels first seen in ``ys``, with their prior).
        """
        if len(xs) != len(ys):
            raise ValueError(f"{len(xs)} rows of features but {len(ys)} of labels")
        if not xs:
            return list(self._labels), np.zeros((0, len(self._labels)))
        return self._batch(xs, ys, predict=True)

    def _batch(self, xs, ys, predict: bool):
        self._pred_cache = None
        aligned = self._label_cache[0] if self._label_cache is not None else None
        if aligned is None or self._label_cache[1] != len(self._labels) or not all(tuple(y) == aligned for y in ys):
            for y in ys:
                self._admit_labels(y)
        encoded = self._encode_batch(xs)
        if not isinstance(encoded, np.ndarray):
            stale = False
            for j, x in enumerate(xs):
                if not encoded[j][3]:  # new features: columns first (zero weights, z unchanged)
                    self._admit_features(x)
                    stale = True
            if stale:
                encoded = self._encode_batch(xs)
        pb, ps = self._heads_proba(self._forward_batch(encoded))
        out = (list(self._labels), np.ascontiguousarray(self._output(pb, ps).T)) if predict else None
        T, known = self._targets_batch(ys)
        self._step_batch(encoded, self._gradient_batch(pb, ps, T, known))
        self.n_learned += len(xs)
        return out

    def _targets_batch(self, ys: Sequence[Mapping]) -> tuple[np.ndarray, np.ndarray | None]:
        """Targets (labels x batch) and the known-values mask (None: every value known)."""
        n_labels, n_rows = len(self._labels), len(ys)
        self._targets(ys[0])  # refreshes the alignment cache
        aligned = self._label_cache[0]
        if aligned is not None and all(tuple(y) == aligned for y in ys):
            T = np.fromiter(chain.from_iterable(y.values() for y in ys), dtype=bool, count=n_rows * n_labels)
            T = T.reshape(n_rows, n_labels).T.astype(np.float64)
            positives = T.sum(axis=0)
            self._n_full += n_rows
            self._n_positive += float(positives.sum())
            self._n_empty += int((positives == 0).sum())
            return T, None
        T = np.zeros((n_labels, n_rows))
        K = np.ones((n_labels, n_rows), dtype=bool)
        for j, y in enumerate(ys):
            t, known = self._targets(y)
            self._count(t, known)
            T[:, j] = t
            if known is not None:
                K[:, j] = known
        return T, (None if K.all() else K)

    def _gradient_batch(self, pb, ps, T, K) -> np.ndarray:
        """Gradients (rows x batch) of a batch: as :meth:`_gradient` on each column."""
        GB = pb - T
        if K is not None:
            GB *= K
        if ps is None:
            return GB
        G = np.empty((2 * T.shape[0], T.shape[1]))
        G[0::2] = GB
        positives = T.sum(axis=0)
        if K is not None:
            positives = np.where(K.all(axis=0), positives, 0.0)
        learn = positives > 0  # the softmax head learns from full examples with some label
        G[1::2] = np.where(learn, ps - T / np.where(learn, positives, 1.0), 0.0)
        return G

    def _step_batch(self, encoded: list, G: np.ndarray) -> None:
        G2 = G * G
        sg2 = G2.sum(axis=0)  # per row of the batch
        if not sg2.any():
            return
        rows = G.shape[0]
        dense = isinstance(encoded, np.ndarray)
        if not dense:
            width = encoded[0][1].shape[0]
            if all(e[2] and e[1].shape[0] == width for e in encoded):
                encoded, dense = np.stack([e[1] for e in encoded]), True
        if dense:
            X = encoded  # batch x columns
            X2 = X * X
            sx2 = X2.sum(axis=1)
        else:
            sx2 = np.fromiter((float(e[1] @ e[1]) for e in encoded), dtype=np.float64, count=len(encoded))
        R = self._R[:rows]
        R += G2 @ sx2
        self._S += float(sg2 @ sx2)
        A = G / np.sqrt(R)[:, None]
        A *= self.lr * math.sqrt(self._S)
        if dense:
            width = X.shape[1]
            C = self._C[:width]
            C += sg2 @ X2
            self._W[:rows, :width] -= A @ (X / np.sqrt(C))
        else:
            idx = np.concatenate([e[0] for e in encoded])
            vals = np.concatenate([e[1] for e in encoded])
            batch_row = np.repeat(np.arange(len(encoded)), [e[0].shape[0] for e in encoded])
            cols, pos = np.unique(idx, return_inverse=True)
            X = np.zeros((len(encoded), cols.shape[0]))
            X[batch_row, pos] = vals
            C = self._C[cols] + sg2 @ (X * X)
            self._C[cols] = C
            self._W[:rows, cols] -= A @ (X / np.sqrt(C))
        self._version += 1

    def learn_many(self, X, Y) -> None:
        """River's mini-batch learning, row by row: ``X`` a DataFrame (or dicts), ``Y`` see module doc."""
        self.learn_batch(_rows(X), _label_rows(Y), exact=True)

    def predict_proba_many(self, X):
        """A DataFrame with one column per label: the probability that it is true."""
        import pandas as pd

        labels, P = self.predict_proba_batch(_rows(X))
        return pd.DataFrame(P, columns=labels, index=getattr(X, "index", None))

    def predict_many(self, X):
        """A DataFrame with one boolean column per label (probability above 0.5)."""
        return self.predict_proba_many(X) > 0.5


def _rows(X) -> list[dict]:
    """The events of ``X`` as dicts: a DataFrame's rows without their NaN values, or ``X`` itself."""
    if hasattr(X, "to_dict"):  # a pandas DataFrame: NaN means missing
        return [{k: v for k, v in row.items() if v == v} for row in X.to_dict(orient="records")]
    return list(X)


def _label_rows(Y) -> list[dict]:
    """The label sets of ``Y`` as ``{label: bool}`` dicts (see the module documentation)."""
    if hasattr(Y, "to_dict") and hasattr(Y, "columns"):  # DataFrame of label columns, NaN = unknown
        return [{k: bool(v) for k, v in row.items() if v == v} for row in Y.to_dict(orient="records")]
    if hasattr(Y, "tolist"):  # a Series of dicts
        return list(Y.tolist())
    return list(Y)
