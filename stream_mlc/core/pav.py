"""Pool-adjacent-violators: the monotone fit of the isotonic calibrator's curves."""

from __future__ import annotations

import numpy as np


def pool_adjacent_violators(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The non-decreasing sequence closest to ``values`` in weighted least squares (each row).

    What pool-adjacent-violators computes, by its closed form: the fit at ``i`` is
    ``max over j <= i of min over k >= i`` of the weighted mean of ``values[j..k]``. For the
    few bins of a calibration curve this is a handful of numpy operations on a
    (rows, bins, bins) array, for all the labels refitted at once.

    >>> pool_adjacent_violators(np.array([0.1, 0.4, 0.2, 0.5]), np.ones(4)).round(2).tolist()
    [0.1, 0.3, 0.3, 0.5]
    """
    single = np.ndim(values) == 1
    values, weights = np.atleast_2d(values), np.atleast_2d(weights)
    n = values.shape[1]
    zero = np.zeros((values.shape[0], 1))
    total = np.concatenate([zero, np.cumsum(values * weights, axis=1)], axis=1)
    mass = np.concatenate([zero, np.cumsum(weights, axis=1)], axis=1)
    # mean[:, j, k]: the weighted mean of values[j..k] (j <= k; +inf elsewhere, ignored by min).
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (total[:, None, 1:] - total[:, :-1, None]) / (mass[:, None, 1:] - mass[:, :-1, None])
    upper = np.triu(np.ones((n, n), dtype=bool))
    mean = np.where(upper, mean, np.inf)
    # low[:, j, i] = min over k >= i of mean[:, j, k]; then the max over j <= i.
    low = np.minimum.accumulate(mean[:, :, ::-1], axis=2)[:, :, ::-1]
    fit = np.where(upper, low, -np.inf).max(axis=1)
    return fit[0] if single else fit
