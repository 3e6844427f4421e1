"""Set-size bounds on predicted label sets: :func:`bound_set`.

Step 3 of the decision policy (:mod:`stream_mlc.core.decision`, which re-exports it): keep at
most ``max_labels`` and at least ``min_labels`` labels per event, by calibrated score.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bound_set"]


def bound_set(mask: np.ndarray, scores: np.ndarray, max_labels: int = 0, min_labels: int = 0) -> np.ndarray:
    """``mask`` (one event, or events x labels) with at most ``max_labels`` and at least
    ``min_labels`` labels per event, by score (0: no bound).

    >>> bound_set(np.array([True, True, True]), np.array([0.9, 0.6, 0.7]), max_labels=2).tolist()
    [True, False, True]
    >>> bound_set(np.array([False, False]), np.array([0.2, 0.4]), min_labels=1).tolist()
    [False, True]
    """
    if not max_labels and not min_labels:
        return mask
    rows, row_scores = np.atleast_2d(mask).copy(), np.atleast_2d(scores)
    counts = rows.sum(axis=1)
    bad = np.flatnonzero((max_labels and counts > max_labels) | (counts < min_labels))
    for r in bad.tolist():
        order = np.argsort(-row_scores[r], kind="stable")
        if counts[r] < min_labels:
            rows[r, order[:min_labels]] = True
        else:
            chosen = order[rows[r, order]]
            rows[r, chosen[max_labels:]] = False
    return rows if mask.ndim == 2 else rows[0]
