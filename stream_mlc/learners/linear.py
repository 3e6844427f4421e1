"""Native multi-label linear learners in numpy, with River's multi-label interface.

:class:`NativeMLC` (registered as ``native-mlc``, the service's default model) and its plain
binary-relevance special case :class:`NativeLR` (``native-lr``) learn one logistic regression
per label over sparse named features:

* **Sparse and growing.** Feature names get a column the first time they are learned from
  (up to ``max_features``; later new names are ignored and counted), labels get a row the
  first time they appear in ``y``. An event costs O(labels x its non-zero features): only
  the columns of the features present in the event are read and written, never a dense
  pass over all features.
* **Factored AdaGrad.** Each weight's step is ``lr * g / sqrt(G)`` where the accumulated
  squared gradient ``G[label, feature]`` is approximated by the product of a per-label and
  a per-feature accumulator divided by their total (as in Adafactor): rare features and rare
  labels keep large steps, frequent ones anneal, with O(labels + features) optimiser state
  instead of O(labels x features) and fewer operations per update than full AdaGrad. No
  feature scaling is needed (the steps adapt to each feature's scale). The bias is a
  constant feature.
* **A softmax head** (``softmax`` > 0): a second linear layer trained with the cross-entropy
  of a softmax over the labels against ``y / |y|``; its probabilities, times the mean number
  of labels per example, are mixed into the binary ones with weight ``softmax``. Where label
  sets are small (one label per example is common in text streams) it learns the
  competition between labels that independent binary models ignore.
* **Non-empty correction** (``nonempty``): the model tracks the rate ``e`` of examples with
  no positive label; while it is small (under 2%: label sets are non-empty by nature) and the
  probabilities imply ``P(some label) = q < 1 - e``, they are scaled by ``(1 - e) / q`` (the
  label marginals conditioned on the label set being non-empty, under independence).

Deterministic: no randomness at all, results depend only on the stream. A model pickled
mid-stream and unpickled predicts and learns exactly (bit for bit) as the original.

Fast paths, besides River's ``predict_proba_one`` / ``learn_one``:

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

import logging
import math
from collections.abc import Mapping, Sequence
from itertools import chain, repeat
from typing import Any

import numpy as np
from river import base

from stream_mlc.core.catalog import register

__all__ = ["NativeMLC", "NativeLR"]

log = logging.getLogger(__name__)

_BIAS = (1.0,)
_MAX_EMPTY = 0.02  # the non-empty correction applies while examples with no label are rarer
_CLIP = 30.0  # logits are clipped to +-_CLIP before exp: no overflow, probabilities 1e-13 from 0/1


class NativeMLC(base.MultiLabelClassifier):
    """Multi-label logistic regression (binary relevance + softmax head), numpy, sparse.

    Parameters
    ----------
    lr
        Learning rate of the factored AdaGrad steps.
    softmax
        Weight of the softmax head's probabilities in the output, in [0, 1]; 0 disables the
        head (and halves the cost).
    nonempty
        Correct the probabilities for the learned rate of examples with no label (see the
        module documentation).
    g0
        Initial value of the AdaGrad accumulators: damps the first steps.
    max_features
        At most this many feature names get weights; later new names are ignored (and
        counted in ``dropped_features``).

    Examples
    --------
    >>> model = NativeMLC()
    >>> for _ in range(20):
    ...     model.learn_one({"a": 1.0}, {"x": True, "y": False})
    ...     model.learn_one({"b": 1.0}, {"x": False, "y": True})
    >>> p = model.predict_proba_one({"a": 1.0})
    >>> round(p["x"][True], 2), round(p["y"][True], 2)
    (0.96, 0.16)
    >>> model.predict_one({"b": 1.0})
    {'x': False, 'y': True}
    """

    def __init__(
        self,
        lr: float = 0.3,
        softmax: float = 0.5,
        nonempty: bool = True,
        g0: float = 1.0,
        max_features: int = 1_000_000,
    ):
        if not 0.0 <= softmax <= 1.0:
            raise ValueError(f"softmax must be in [0, 1], not {softmax}")
        if lr <= 0 or g0 <= 0:
            raise ValueError("lr and g0 must be positive")
        if max_features < 1:
            raise ValueError("max_features must be at least 1")
        self.lr = lr
        self.softmax = softmax
        self.nonempty = nonempty
        self.g0 = g0
        self.max_features = max_features
        self._heads = 2 if softmax > 0 else 1
        self._labels: list = []
        self._label_row: dict = {}
        self._features: dict = {}  # name -> column; column 0 is the bias
        #: Feature values ignored because ``max_features`` names already had columns.
        self.dropped_features = 0
        # Row heads * l + h is head h (0: binary, 1: softmax) of label l.
        self._W = np.zeros((self._heads * 4, 16))
        self._R = np.full(self._heads * 4, g0)  # factored accumulators: per row...
        self._C = np.full(16, g0)  # ... per column ...
        self._S = g0  # ... and their total
        # Label-set statistics (full examples only): the non-empty correction and the card.
        self._n_full = 0
        self._n_empty = 0
        self._n_positive = 0.0
        #: Number of learned examples.
        self.n_learned = 0
        self._version = 0  # bumped whenever the parameters change
        self._clear_caches()

    # -- River plumbing ---------------------------------------------------------------------
    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"softmax": 0.0, "nonempty": False}
        yield {"lr": 0.1, "g0": 0.5}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for key in ("_key_cache", "_label_cache", "_pred_cache"):
            state[key] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def _clear_caches(self) -> None:
        # (keys tuple, idx, values-mask or None, dense-prefix flag, n features when built)
        self._key_cache = None
        # (labels tuple as in y, or None if y's order is not the rows', n labels when built)
        self._label_cache = None
        # (x snapshot, version, idx, values, prefix, complete, z, binary p, softmax p)
        self._pred_cache = None

    @property
    def labels(self) -> list:
        """The labels the model knows, in the order of their rows."""
        return list(self._labels)

    @property
    def n_features(self) -> int:
        """The number of feature names with weights."""
        return len(self._features)

    # -- encoding ------------------------------------------------------------------------------
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

    # -- maths ---------------------------------------------------------------------------------
    def _forward(self, idx: np.ndarray, vals: np.ndarray, prefix: bool) -> np.ndarray:
        rows = self._heads * len(self._labels)
        if prefix:
            return self._W[:rows, : vals.shape[0]] @ vals
        return self._W[:rows, idx] @ vals

    def _heads_proba(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Binary and softmax probabilities from pre-activations (rows, or rows x batch)."""
        e = np.exp(np.clip(z, -_CLIP, _CLIP))
        if self._heads == 1:
            return e / (e + 1.0), None
        eb = e[0::2]
        es = e[1::2]
        return eb / (eb + 1.0), es / es.sum(axis=0)

    def _output(self, pb: np.ndarray, ps: np.ndarray | None) -> np.ndarray:
        """The model's probabilities from its heads' (one event, or labels x batch)."""
        if ps is None:
            p = pb
        else:
            # The softmax spreads one unit over the labels: times the mean number of labels
            # per example (empty examples included) it estimates each label's marginal.
            card = (self._n_positive + 1.0) / (self._n_full + 1.0)
            p = pb + self.softmax * (np.minimum(ps * card, 1.0) - pb)
        empty = (self._n_empty + 0.5) / (self._n_full + 1.0)
        if self.nonempty and self._n_full >= 10 and empty < _MAX_EMPTY:
            keep = 1.0 - empty
            f = keep / np.maximum(1.0 - np.prod(1.0 - p, axis=0), 1e-12)
            if p.ndim == 1:
                if f > 1.0:
                    p = np.minimum(p * f, 1.0)
            else:
                p = np.minimum(p * np.maximum(f, 1.0), 1.0)
        return p

    def _gradient(self, pb, ps, t, known) -> np.ndarray:
        """Gradient of the losses w.r.t. the pre-activations of one event's rows."""
        gb = pb - t
        if known is not None:
            gb *= known
        if ps is None:
            return gb
        g = np.empty(2 * t.shape[0])
        g[0::2] = gb
        positives = t.sum() if known is None else 0.0
        if positives > 0:  # the softmax head learns from full examples with some label
            g[1::2] = ps - t / positives
        else:
            g[1::2] = 0.0
        return g

    def _count(self, t: np.ndarray, known) -> None:
        if known is None:
            self._n_full += 1
            positives = float(t.sum())
            self._n_positive += positives
            self._n_empty += positives == 0.0

    def _update(self, idx, vals, prefix, g) -> None:
        """One factored-AdaGrad step for an event (columns ``idx``, values ``vals``)."""
        g2 = g * g
        sg2 = float(g2.sum())
        if sg2 == 0.0:
            return
        rows = g.shape[0]
        x2 = vals * vals
        sx2 = float(x2.sum())
        R = self._R[:rows]
        R += g2 * sx2
        self._S += sg2 * sx2
        a = g / np.sqrt(R)
        a *= self.lr * math.sqrt(self._S)
        if prefix:
            n = vals.shape[0]
            C = self._C[:n]
            C += x2 * sg2
            self._W[:rows, :n] -= np.outer(a, vals / np.sqrt(C))
        else:
            C = self._C[idx] + x2 * sg2
            self._C[idx] = C
            self._W[:rows, idx] -= np.outer(a, vals / np.sqrt(C))
        self._version += 1

    # -- River's interface -------------------------------------------------------------------------
    def predict_proba_one(self, x: dict, **kwargs: Any) -> dict:
        """``{label: {False: 1 - p, True: p}}`` for every known label."""
        if not self._labels:
            return {}
        labels, p = self.predict_vector(x)
        return {label: {False: 1.0 - q, True: q} for label, q in zip(labels, p.tolist(), strict=False)}

    def predict_vector(self, x: dict) -> tuple[list, np.ndarray]:
        """``(labels, p)``: the known labels (the model's own list: read it, do not change it) and
        each one's probability (no dicts: the engine's fast path)."""
        if not self._labels:
            return self._labels, np.zeros(0)
        idx, vals, prefix, complete = self._encode(x)
        pb, ps = self._heads_proba(self._forward(idx, vals, prefix))
        self._pred_cache = (dict(x), self._version, idx, vals, prefix, complete, pb, ps)
        return self._labels, self._output(pb, ps)

    def predict_one(self, x: dict, **kwargs: Any) -> dict:
        """``{label: p > 0.5}`` for every known label."""
        return {label: p[True] > 0.5 for label, p in self.predict_proba_one(x).items()}

    def learn_one(self, x: dict, y: dict, **kwargs: Any) -> None:
        """Learn one example; ``y`` holds the labels whose value is known, others are left alone."""
        self._admit_labels(y)
        cache = self._pred_cache
        if cache is not None and cache[1] == self._version and cache[0] == x:
            _, _, idx, vals, prefix, complete, pb, ps = cache
        else:
            idx, vals, prefix, complete = self._encode(x)
            pb, ps = self._heads_proba(self._forward(idx, vals, prefix))
        self._pred_cache = None
        t, known = self._targets(y)
        self._count(t, known)
        if not complete:
            # New features join with zero weights: the probabilities above stand.
            self._admit_features(x)
            idx, vals, prefix, _ = self._encode(x)
        self._update(idx, vals, prefix, self._gradient(pb, ps, t, known))
        self.n_learned += 1

    # -- explanations ----------------------------------------------------------------------------------
    def contributions(self, x: Mapping, label, head: str = "both", top: int | None = None) -> dict:
        """Each feature's additive share of ``label``'s logit for the event ``x``: weight x value.

        ``head`` picks the logit: ``"binary"`` (the label's logistic regression; with the bias
        its shares sum to that logit exactly), ``"softmax"`` (the softmax head's logit of the
        label), or ``"both"`` (their sum, the default; either logit raises the label's
        probability). Features without weights (unseen, or beyond ``max_features``) share
        nothing and are left out; an unknown label gives ``{}``. ``top=k`` keeps only the
        ``k`` largest positive shares, largest first (what explanations need). ``label`` may
        be a list of labels: then ``{label: shares}`` for each, in one matrix product.

        >>> model = NativeLR()
        >>> for _ in range(20):
        ...     model.learn_one({"a": 1.0, "b": 1.0}, {"x": True})
        ...     model.learn_one({"b": 1.0}, {"x": False})
        >>> shares = model.contributions({"a": 1.0, "b": 1.0}, "x")
        >>> shares["a"] > 0 > shares["b"]
        True
        >>> model.contributions({"a": 1.0, "b": 1.0}, ["x", "unknown"], top=1)
        {'x': {'a': 1.4...}, 'unknown': {}}
        """
        many = isinstance(label, list)
        wanted = label if many else [label]
        rows = [self._label_row.get(name) for name in wanted]
        known = [r for r in rows if r is not None]
        out = {name: {} for name in wanted}
        if known:
            cache = self._pred_cache  # the event just scored (the usual case) is encoded already
            if cache is not None and cache[1] == self._version and cache[0] == x:
                idx, vals, prefix, complete = cache[2:6]
            else:
                idx, vals, prefix, complete = self._encode(x)
            h = self._heads
            first = np.asarray(known) * h
            n = vals.shape[0]

            def rows_of(rows: np.ndarray) -> np.ndarray:
                # Column 0 is the bias; a dense prefix is a slice, anything else a gather.
                return self._W[rows, 1:n] if prefix else self._W[rows[:, None], idx[1:]]

            if head == "binary" or h == 1:
                weights = rows_of(first)
            elif head == "softmax":
                weights = rows_of(first + 1)
            elif head == "both":
                weights = rows_of(first) + rows_of(first + 1)
            else:
                raise ValueError(f"head must be 'binary', 'softmax' or 'both', not {head!r}")
            shares = weights * vals[1:]
            # Feature names in column order: those of x that have columns, in x's order.
            names = list(x) if complete else [name for name in x if name in self._features]
            if len(names) != shares.shape[1]:  # x had values the encoder rewrites (non-numeric)
                names = [name for name in _numeric(x) if name in self._features]
            order = _top_columns(shares, top)
            named = [name for name, r in zip(wanted, rows, strict=True) if r is not None]
            for i, name in enumerate(named):
                keep = order[i] if top is not None else range(shares.shape[1])
                row = shares[i]
                out[name] = {names[j]: float(row[j]) for j in keep if top is None or row[j] > 0}
        return out if many else out[label]

    # -- drift -----------------------------------------------------------------------------------------
    def reset_label(self, label) -> bool:
        """Forget what was learned about ``label`` (after a drift): its weights and step sizes.

        The label keeps its row and its bias (its base rate) and learns again with fresh,
        large steps. Returns False if the label is unknown.
        """
        row = self._label_row.get(label)
        if row is None:
            return False
        h = self._heads
        rows = slice(h * row, h * row + h)
        self._W[rows, 1:] = 0.0
        self._R[rows] = self.g0
        self._version += 1
        self._pred_cache = None
        log.info("%s: reset label %r", type(self).__name__, label)
        return True

    def copy_label(self, source, target) -> bool:
        """Start ``target`` as a copy of what was learned for ``source`` (a label-registry merge).

        The target gets the source's weights and step sizes, so it predicts as the source did
        and learns on from there. Returns False if the source is unknown.
        """
        src = self._label_row.get(source)
        if src is None:
            return False
        self._admit_labels({target: True})
        dst = self._label_row[target]
        h = self._heads
        from_rows, to_rows = slice(h * src, h * src + h), slice(h * dst, h * dst + h)
        self._S += float(self._R[from_rows].sum() - self._R[to_rows].sum())  # the total of the row accumulators
        self._W[to_rows] = self._W[from_rows]
        self._R[to_rows] = self._R[from_rows]
        self._version += 1
        self._pred_cache = None
        return True

    # -- batches ---------------------------------------------------------------------------------------
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


class NativeLR(NativeMLC):
    """Binary relevance logistic regression: :class:`NativeMLC` without softmax head or correction.

    Parameters
    ----------
    lr
        Learning rate of the factored AdaGrad steps.
    softmax
        Weight of the softmax head (0: none).
    nonempty
        Correct for the rate of examples with no label.
    g0
        Initial value of the AdaGrad accumulators.
    max_features
        At most this many feature names get weights.
    """

    def __init__(
        self,
        lr: float = 0.3,
        softmax: float = 0.0,
        nonempty: bool = False,
        g0: float = 1.0,
        max_features: int = 1_000_000,
    ):
        super().__init__(lr=lr, softmax=softmax, nonempty=nonempty, g0=g0, max_features=max_features)


def _top_columns(shares: np.ndarray, top: int | None) -> list | None:
    """Per row of ``shares``, the columns of its ``top`` largest values, largest first."""
    if top is None:
        return None
    return np.argsort(-shares, axis=1, kind="stable")[:, : max(top, 0)].tolist()


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


def _rows(X) -> list[dict]:
    if hasattr(X, "to_dict"):  # a pandas DataFrame: NaN means missing
        return [{k: v for k, v in row.items() if v == v} for row in X.to_dict(orient="records")]
    return list(X)


def _label_rows(Y) -> list[dict]:
    if hasattr(Y, "to_dict") and hasattr(Y, "columns"):  # DataFrame of label columns, NaN = unknown
        return [{k: bool(v) for k, v in row.items() if v == v} for row in Y.to_dict(orient="records")]
    if hasattr(Y, "tolist"):  # a Series of dicts
        return list(Y.tolist())
    return list(Y)


@register("native-mlc")
def native_mlc(lr: float = 0.3, softmax: float = 0.5, nonempty: bool = True, g0: float = 1.0,
               max_features: int = 1_000_000) -> NativeMLC:
    """The default learner: binary relevance + softmax head + non-empty correction."""
    return NativeMLC(lr=lr, softmax=softmax, nonempty=nonempty, g0=g0, max_features=max_features)


@register("native-lr")
def native_lr(lr: float = 0.3, g0: float = 1.0, max_features: int = 1_000_000) -> NativeLR:
    """Plain binary relevance logistic regression with factored AdaGrad."""
    return NativeLR(lr=lr, g0=g0, max_features=max_features)
