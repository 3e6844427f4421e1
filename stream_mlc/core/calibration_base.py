"""What the calibrators share: the clipped :func:`logit`, the sigmoid, and :class:`_PerLabel`.

:class:`_PerLabel` holds the growable per-label state arrays every calibrator keeps; ``_extend``
and ``_take`` grow and gather such arrays. :mod:`stream_mlc.core.calibration` (identity,
isotonic, the spec) and :mod:`stream_mlc.core.platt` (Platt scaling) both build on them, so
they live here: ``platt`` gets them without importing ``calibration``, which imports ``platt``
to re-export :class:`~stream_mlc.core.platt.PlattCalibrator` (no import cycle).
"""

from __future__ import annotations

import numpy as np

__all__ = ["logit"]

_EPS = 1e-6  # raw scores are clipped to [_EPS, 1 - _EPS] before the logit: 0 and 1 stay finite


def logit(p: np.ndarray) -> np.ndarray:
    """The log-odds of ``p``, clipped so that 0 and 1 map to about -+13.8.

    >>> logit(np.array([0.5, 0.0])).round(2).tolist()
    [0.0, -13.82]
    """
    p = clamp(p, _EPS, 1.0 - _EPS)
    return np.log(p / (1.0 - p))


def clamp(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """``np.clip(x, low, high)``, at half its cost on a few labels' scores (two ufuncs, no dispatch).

    >>> clamp(np.array([-1.0, 0.5, 2.0]), 0.0, 1.0).tolist()
    [0.0, 0.5, 1.0]
    """
    return np.minimum(np.maximum(x, low), high)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-clamp(z, -30.0, 30.0)))


class _PerLabel:
    """Growable per-label state arrays (rows are label indices)."""

    kind = "none"

    def __init__(self):
        self.n_labels = 0
        self.seen = np.zeros(0)  # joined examples per label

    def _grow(self, size: int) -> None:
        if size > self.n_labels:
            self.seen = _extend(self.seen, size, 0.0)
            self._grow_state(size)
            self.n_labels = size

    def _grow_state(self, size: int) -> None:
        """Extend the subclass's arrays to ``size`` labels."""

    def reset(self, i: int) -> None:
        """Forget label ``i``: it is calibrated as a fresh label again."""
        if i < self.n_labels:
            self.seen[i] = 0.0
            self._reset_state(i)

    def _reset_state(self, i: int) -> None:
        """Reset the subclass's state of label ``i``."""

    def update(self, idx: np.ndarray, raw: np.ndarray, truth: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def update_batch(self, idx: np.ndarray, raw: np.ndarray, truth: np.ndarray) -> None:
        """Joined events together (events x labels ``idx``); by default one at a time."""
        for r in range(raw.shape[0]):
            self.update(idx, raw[r], truth[r])

    def _fresh_as_raw(self, idx: np.ndarray, raw: np.ndarray, calibrated: np.ndarray) -> np.ndarray:
        """``calibrated``, except the raw score for labels not learned yet (exactly the identity)."""
        if idx.size and int(idx.max()) < self.n_labels and self.seen[idx].all():
            return calibrated
        return np.where(_take(self.seen, idx, 0.0) > 0, calibrated, raw)

    def describe(self, i: int) -> dict:
        """A JSON-able summary of label ``i``'s calibration."""
        return {"seen": float(self.seen[i]) if i < self.n_labels else 0.0}


def _extend(array: np.ndarray, size: int, fill) -> np.ndarray:
    """``array`` with rows up to ``size``, new rows set to ``fill`` (capacity doubles)."""
    if array.shape[0] >= size:
        return array
    grown = np.empty((max(size, 2 * array.shape[0]),) + array.shape[1:], dtype=array.dtype)
    grown[: array.shape[0]] = array
    grown[array.shape[0]:] = fill
    return grown


def _take(array: np.ndarray, idx: np.ndarray, fill) -> np.ndarray:
    """Rows ``idx`` of ``array``; ``fill`` for labels it has no row for yet."""
    if idx.size and int(idx.max()) < array.shape[0]:
        return array[idx]
    out = np.empty((idx.shape[0],) + array.shape[1:])
    out[:] = fill
    known = idx < array.shape[0]
    out[known] = array[idx[known]]
    return out
