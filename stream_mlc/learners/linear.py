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

Fast paths, besides River's ``predict_proba_one`` / ``learn_one``: ``predict_proba_batch``,
``learn_batch`` (one mini-batch step), ``test_then_train_batch`` and River's ``learn_many`` /
``predict_proba_many`` / ``predict_many``; see :mod:`stream_mlc.learners.linear_batch`.

The model in modules, one concept each (the classes and factories stay here, where checkpoints
pickle them by name; the others are base classes without state of their own):

* this module: the model's state, its maths for one event (forward pass, heads, output with
  the non-empty correction, gradients, factored-AdaGrad step), River's one-event interface,
  the drift hooks (``reset_label``, ``copy_label``) and the registered factories;
* :mod:`stream_mlc.learners.linear_encoding`: feature columns and label rows, how an event
  and a label set are encoded;
* :mod:`stream_mlc.learners.linear_batch`: the batch paths;
* :mod:`stream_mlc.learners.linear_explain`: explanations, each feature's share of a label's
  logit (``contributions``).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from river import base

from stream_mlc.core.catalog import register

# The model's base classes, and the helpers that moved out with them (``name as name``: still
# importable from this module, as before the split).
from stream_mlc.learners.linear_batch import _BatchPaths
from stream_mlc.learners.linear_batch import _label_rows as _label_rows
from stream_mlc.learners.linear_batch import _rows as _rows
from stream_mlc.learners.linear_encoding import _BIAS as _BIAS
from stream_mlc.learners.linear_encoding import _numeric as _numeric
from stream_mlc.learners.linear_encoding import _SparseEncoding
from stream_mlc.learners.linear_explain import _Explanations
from stream_mlc.learners.linear_explain import _top_columns as _top_columns

__all__ = ["NativeMLC", "NativeLR"]

log = logging.getLogger(__name__)

_MAX_EMPTY = 0.02  # the non-empty correction applies while examples with no label are rarer
_CLIP = 30.0  # logits are clipped to +-_CLIP before exp: no overflow, probabilities 1e-13 from 0/1


class NativeMLC(_SparseEncoding, _BatchPaths, _Explanations, base.MultiLabelClassifier):
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

    # -- maths ---------------------------------------------------------------------------------
    def _forward(self, idx: np.ndarray, vals: np.ndarray, prefix: bool) -> np.ndarray:
        rows = self._heads * len(self._labels)
        if prefix:
            return self._W[:rows, : vals.shape[0]] @ vals
        return self._W[:rows, idx] @ vals

    def _heads_proba(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Binary and softmax probabilities from pre-activations (rows, or rows x batch)."""
        e = np.exp(np.minimum(np.maximum(z, -_CLIP), _CLIP))  # np.clip, at half the cost on small rows
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


@register("native-mlc")
def native_mlc(lr: float = 0.3, softmax: float = 0.5, nonempty: bool = True, g0: float = 1.0,
               max_features: int = 1_000_000) -> NativeMLC:
    """The default learner: binary relevance + softmax head + non-empty correction."""
    return NativeMLC(lr=lr, softmax=softmax, nonempty=nonempty, g0=g0, max_features=max_features)


@register("native-lr")
def native_lr(lr: float = 0.3, g0: float = 1.0, max_features: int = 1_000_000) -> NativeLR:
    """Plain binary relevance logistic regression with factored AdaGrad."""
    return NativeLR(lr=lr, g0=g0, max_features=max_features)
