"""Fading counts added lazily: a batch of pairs counted at once, as if one by one.

The adaptive thresholds and the isotonic calibrator keep per-label histograms whose older
pairs weigh ``fade ** age``. Their counts are only *read* when a label's threshold or curve
is re-chosen (every few updates), so each joined event's pairs are queued and counted in one
vectorised pass just before a read: the decisions are those of counting each pair as it
comes (to rounding), at a fraction of the per-event cost. When the pass runs depends only on
the pairs (how many each label has had), never on timing, so a restarted worker repeats it.

Fading is lazy, as in the histograms themselves: a label's next pair weighs ``weight``,
which grows by ``1 / fade`` per pair, instead of every count shrinking by ``fade``.
"""

from __future__ import annotations

import numpy as np


def occurrence_rank(rows: np.ndarray) -> np.ndarray:
    """For each entry of ``rows``, how many earlier entries have the same value.

    >>> occurrence_rank(np.array([3, 1, 3, 3, 1])).tolist()
    [0, 0, 1, 2, 1]
    """
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, ordered.shape[0]])
    rank = np.empty(rows.shape[0], dtype=np.int64)
    rank[order] = np.arange(rows.shape[0]) - np.repeat(starts, sizes)
    return rank


def pair_weights(rows: np.ndarray, weight: np.ndarray, fade: float) -> np.ndarray:
    """The weight of each queued pair, and ``weight`` (per row) advanced past them, in place.

    A row's ``k``-th queued pair weighs ``weight[row] / fade ** k``, as if its pairs had been
    counted one at a time; afterwards ``weight[row]`` is the weight of its next pair.

    >>> weight = np.ones(2)
    >>> pair_weights(np.array([0, 1, 0]), weight, 0.5).tolist(), weight.tolist()
    ([1.0, 1.0, 2.0], [4.0, 2.0])
    """
    w = weight[rows] * (1.0 / fade) ** occurrence_rank(rows)
    weight *= (1.0 / fade) ** np.bincount(rows, minlength=weight.shape[0])
    return w


def concat(queue: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """The queued events' arrays joined, field by field, in queue order."""
    return tuple(np.concatenate(field) for field in zip(*queue, strict=True))
