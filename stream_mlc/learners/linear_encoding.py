"""The sparse, growing encoding of :class:`~stream_mlc.learners.linear.NativeMLC`'s events.

Feature names get a column the first time they are learned from (up to ``max_features``;
later new names are ignored and counted; column 0 is the bias), labels get rows (one per
head) the first time they appear in ``y``. An event is encoded as the columns and values of
its known features, a label set as its targets in the order of the rows. Values that are not
numbers are rewritten by :func:`_numeric`: booleans as 0/1, anything else one-hot as
``"name=value"``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from itertools import chain, repeat

import numpy as np

# The learner's logger, under the name it had before the encoding left linear.py.
log = logging.getLogger("stream_mlc.learners.linear")

_BIAS = (1.0,)


class _SparseEncoding:
    """The encoding half of :class:`~stream_mlc.learners.linear.NativeMLC`, a base class.

    It holds no state of its own (``__slots__ = ()``): it works on the model's columns and
    rows (``_features``, ``_labels``, ``_label_row``, ``_W``, ``_R``, ``_C``) and its caches
    (``_key_cache``, ``_label_cache``, ``_pred_cache``), which pickle exactly as they did
    without the base class.
    """

    __slots__ = ()

    def _encode(self, x: Mapping) -> tuple[np.ndarray, np.ndarray, bool, bool]:
        """Columns and values of the bias and the known features of ``x``.

        Returns ``(idx, vals, prefix, complete)``: ``prefix`` when the columns are exactly
        ``0..n`` in order (a dense stream: slices replace gathers), ``complete`` when every
        feature of ``x`` has a column.
        """
        try:
            keys = tuple(x)
            n = len(keys)
            cache = self._key_cache
            if cache is not None and cache[4] == len(self._features) and cache[0] == keys:
                idx, mask, prefix = cache[1], cache[2], cache[3]
            else:
                idx = np.fromiter(chain((0,), map(self._features.get, keys, repeat(-1))), dtype=np.intp, count=n + 1)
                mask = None
                if n and idx.min() < 0:
                    mask = idx >= 0
                    idx = idx[mask]
                prefix = mask is None and n == len(self._features) and bool((idx == np.arange(n + 1)).all())
                self._key_cache = (keys, idx, mask, prefix, len(self._features))
            vals = np.fromiter(chain(_BIAS, x.values()), dtype=np.float64, count=n + 1)
        except (TypeError, ValueError):
            return self._encode(_numeric(x))
        if mask is not None:
            vals = vals[mask]
        return idx, vals, prefix, mask is None

    def _admit_features(self, x: Mapping) -> None:
        """Give a column to the new feature names of ``x`` (up to ``max_features``)."""
        features = self._features
        if not all(isinstance(v, (int, float, np.number)) for v in x.values()):
            x = _numeric(x)
        new = [k for k in x if k not in features]
        if not new:
            return
        room = self.max_features - len(features)
        if len(new) > room:
            if self.dropped_features == 0:
                log.warning("max_features=%d reached: new feature names are ignored from now on", self.max_features)
            self.dropped_features += len(new) - room
            new = new[:room]
            if not new:
                return
        need = 1 + len(features) + len(new)
        if need > self._W.shape[1]:
            cap = max(need, 2 * self._W.shape[1])
            W = np.zeros((self._W.shape[0], cap))
            W[:, : self._W.shape[1]] = self._W
            C = np.full(cap, self.g0)
            C[: self._C.shape[0]] = self._C
            self._W, self._C = W, C
        for k in new:
            features[k] = len(features) + 1
        self._key_cache = None

    def _admit_labels(self, y: Mapping) -> None:
        new = [label for label in y if label not in self._label_row]
        if not new:
            return
        h = self._heads
        need = h * (len(self._labels) + len(new))
        if need > self._W.shape[0]:
            cap = max(need, 2 * self._W.shape[0])
            grow = cap - self._W.shape[0]
            self._W = np.vstack([self._W, np.zeros((grow, self._W.shape[1]))])
            self._R = np.concatenate([self._R, np.full(grow, self.g0)])
        for label in new:
            row = len(self._labels)
            self._label_row[label] = row
            self._labels.append(label)
            # A label first seen after n examples starts from the rate 1 / (n + 2).
            self._W[h * row, 0] = -math.log(self.n_learned + 1.0)
        self._label_cache = None
        self._pred_cache = None

    def _targets(self, y: Mapping) -> tuple[np.ndarray, np.ndarray | None]:
        """Targets in row order, and the mask of the labels known in ``y`` (None: all)."""
        n_labels = len(self._labels)
        keys = tuple(y)
        cache = self._label_cache
        if cache is None or cache[1] != n_labels or (cache[0] is not None and cache[0] != keys):
            aligned = len(keys) == n_labels and all(a == b for a, b in zip(keys, self._labels, strict=False))
            self._label_cache = cache = (keys if aligned else None, n_labels)
        if cache[0] is not None and cache[0] == keys:
            return np.fromiter(y.values(), dtype=np.float64, count=n_labels), None
        t = np.zeros(n_labels)
        known = np.zeros(n_labels, dtype=bool)
        row = self._label_row
        for label, value in y.items():
            r = row[label]
            known[r] = True
            t[r] = 1.0 if value else 0.0
        return t, (None if known.all() else known)


def _numeric(x: Mapping) -> dict:
    """Numbers as they are; booleans as 0/1; anything else one-hot as ``"name=value"``."""
    out: dict = {}
    for k, v in x.items():
        if isinstance(v, (bool, np.bool_)):
            out[k] = float(v)
        elif isinstance(v, (int, float, np.number)):
            out[k] = float(v)
        elif v is not None:
            out[f"{k}={v}"] = 1.0
    return out
