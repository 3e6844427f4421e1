"""Explanations of :class:`~stream_mlc.learners.linear.NativeMLC`'s probabilities: each feature's share.

A label's logit is linear in the event's features, so weight x value is each feature's
additive share of it (:meth:`_Explanations.contributions`); ``top=k`` keeps the largest
positive shares, the ones that raise the label's probability (what
:mod:`stream_mlc.core.explain` shows).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from stream_mlc.learners.linear_encoding import _numeric


class _Explanations:
    """The explanation half of :class:`~stream_mlc.learners.linear.NativeMLC`, a base class.

    It holds no state of its own (``__slots__ = ()``): it reads the model's weights, columns
    and rows (``_W``, ``_features``, ``_label_row``, ``_heads``) and its last scored event
    (``_pred_cache``).
    """

    __slots__ = ()

    def contributions(self, x: Mapping, label, head: str = "both", top: int | None = None) -> dict:
        """Each feature's additive share of ``label``'s logit for the event ``x``: weight x value.

        ``head`` picks the logit: ``"binary"`` (the label's logistic regression; with the bias
        its shares sum to that logit exactly), ``"softmax"`` (the softmax head's logit of the
        label), or ``"both"`` (their sum, the default; either logit raises the label's
        probability). Features without weights (unseen, or beyond ``max_features``) share
        nothing and are left out; an unknown label gives ``{}``. ``top=k`` keeps only the
        ``k`` largest positive shares, largest first (what explanations need). ``label`` may
        be a list of labels: then ``{label: shares}`` for each, in one matrix product.

        >>> from stream_mlc.learners.linear import NativeLR
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


def _top_columns(shares: np.ndarray, top: int | None) -> list | None:
    """Per row of ``shares``, the columns of its ``top`` largest values, largest first."""
    if top is None:
        return None
    return np.argsort(-shares, axis=1, kind="stable")[:, : max(top, 0)].tolist()
