"""Online per-label calibration: map a model's raw score to a probability that means what it says.

A calibrator sits between the model and the thresholds (see
:mod:`stream_mlc.core.decision`). It works on label *indices* (the decision policy owns the
name -> index map) and on numpy arrays, so a whole event, or a batch of events, is
calibrated in a few vectorised operations:

``calibrate(idx, raw)``
    ``raw`` of shape ``(n,)`` or ``(m, n)``: the scores of labels ``idx`` (one event, or
    ``m`` events); returns the calibrated scores, same shape.
``update(idx, raw, truth)``
    one joined event: the raw scores the model gave *before* learning it and the truth of
    the labels ``idx`` known for it. Prequential: nothing here looks at an event before it
    has been scored.
``reset(i)``
    forget label ``i`` (its model was reset after a drift).

:class:`IdentityCalibrator` (``"none"``)
    returns the raw scores.
:class:`~stream_mlc.core.platt.PlattCalibrator` (``"platt"``; in its own module, re-exported here)
    ``sigmoid(a * logit(raw) + b)`` per label, fitted by online Newton steps on the log
    loss with a fading Hessian (about the last ``1 / (1 - fade)`` examples count).
:class:`IsotonicCalibrator` (``"isotonic"``)
    a monotone step curve per label over ``bins`` logit bins: fading counts of true and all
    examples per bin, shrunk towards the identity, made monotone by pool-adjacent-violators
    and interpolated linearly between bin centres. Fading lets it follow drift.

All are plain numpy and pickle. :func:`make_calibrator` builds one from a spec string:
``"none"``, ``"platt:fade=0.999"``, ``"isotonic:bins=24,fade=0.998,shrink_to=pooled"``.
"""

from __future__ import annotations

import numpy as np

from stream_mlc.core.calibration_base import _extend, _PerLabel, _sigmoid, _take, clamp, logit
from stream_mlc.core.fading import concat, pair_weights
from stream_mlc.core.pav import pool_adjacent_violators
from stream_mlc.core.platt import PlattCalibrator
from stream_mlc.errors import ConfigError

__all__ = ["IdentityCalibrator", "PlattCalibrator", "IsotonicCalibrator", "make_calibrator",
           "DEFAULT_CALIBRATION", "logit"]

#: The calibration the service uses unless told otherwise (chosen by measurement: README).
DEFAULT_CALIBRATION = "isotonic"


class IdentityCalibrator(_PerLabel):
    """No calibration: the raw scores are the probabilities.

    >>> IdentityCalibrator().calibrate(np.array([0]), np.array([0.3])).tolist()
    [0.3]
    """

    def calibrate(self, idx: np.ndarray, raw: np.ndarray) -> np.ndarray:
        return np.asarray(raw, dtype=np.float64)

    def update(self, idx: np.ndarray, raw: np.ndarray, truth: np.ndarray) -> None:
        self._grow(int(idx.max()) + 1 if idx.size else 0)
        self.seen[idx] += 1.0


class IsotonicCalibrator(_PerLabel):
    """Per-label monotone binned calibration with fading counts (isotonic regression on bins).

    Raw scores are binned by their logit over ``[-span, span]`` (``bins`` equal bins; the
    outer ones take everything beyond). Each label keeps fading counts of its examples and
    of its true examples per bin (older pairs weigh ``fade**age``). Every ``every`` updates
    of a label at first, then every ``seen / 32`` (up to ``8 * every``), its curve is
    refitted: each bin's rate, shrunk by ``prior`` pseudo-examples towards a prior curve,
    made non-decreasing by pool-adjacent-violators weighted by the counts; scores are mapped
    by linear interpolation between the bin centres (and clipped to ``[floor, 1 - floor]``).
    A label not learned yet keeps its raw scores.

    The prior curve (``shrink_to``) is the identity (``"identity"``: a sparse bin trusts the
    raw score), or the curve of every label's pairs pooled (``"pooled"``, itself shrunk to
    the identity): labels learn from each other's bins, which pays where the model's raw
    scores are far off for all labels alike (emotions: README), and costs a little where
    they are not. ``"auto"`` (the default) takes the pooled curve only while the raw scores'
    pooled calibration gap exceeds ``auto_gap`` beyond its sampling noise, else the identity.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> cal = IsotonicCalibrator(shrink_to="identity")
    >>> idx = np.array([0])
    >>> for _ in range(4000):  # the model says 0.9 where the truth is 0.6
    ...     raw = rng.choice([0.1, 0.9])
    ...     cal.update(idx, np.array([raw]), np.array([rng.random() < (0.6 if raw > 0.5 else 0.05)]))
    >>> cal.calibrate(idx, np.array([0.9])).round(1).tolist()
    [0.6]
    """

    kind = "isotonic"

    def __init__(self, bins: int = 24, span: float = 6.0, fade: float = 0.999, prior: float = 2.0,
                 every: int = 8, floor: float = 1e-3, shrink_to: str = "auto", auto_gap: float = 0.05):
        super().__init__()
        if bins < 2 or span <= 0 or every < 1 or prior <= 0:
            raise ConfigError("isotonic: bins must be >= 2, span > 0, every >= 1, prior > 0")
        if shrink_to not in ("pooled", "identity", "auto"):
            raise ConfigError(f"isotonic: shrink_to must be 'identity', 'pooled' or 'auto', not {shrink_to!r}")
        self.shrink_to, self.auto_gap = shrink_to, auto_gap
        if not 0.0 < fade <= 1.0:
            raise ConfigError(f"isotonic: fade must be in (0, 1], not {fade}")
        self.bins, self.span, self.fade, self.prior, self.every, self.floor = bins, span, fade, prior, every, floor
        self._width = 2.0 * span / bins
        self.centres = -span + self._width * (np.arange(bins) + 0.5)
        self._identity = _sigmoid(self.centres)
        self.positives = np.zeros((0, bins))
        self.counts = np.zeros((0, bins))
        self.pooled_positives = np.zeros(bins)  # every label's pairs together
        self.pooled_counts = np.zeros(bins)
        # Fading is lazy: a label's next pair weighs `weight` (it grows by 1 / fade per pair),
        # so an update adds instead of scaling the label's whole row.
        self.weight = np.zeros(0)
        self.pooled_weight = 1.0
        self.curve = np.zeros((0, bins))  # calibrated value at each bin centre
        self.pending = np.zeros(0, dtype=np.int64)  # updates since the curve was refitted
        self._queue: list = []  # joined events not counted yet: (idx, raw, truth)

    def _grow_state(self, size: int) -> None:
        self.positives = _extend(self.positives, size, 0.0)
        self.counts = _extend(self.counts, size, 0.0)
        self.curve = _extend(self.curve, size, self._identity)
        self.pending = _extend(self.pending, size, 0)
        self.weight = _extend(self.weight, size, 1.0)

    def _reset_state(self, i: int) -> None:
        self.positives[i] = 0.0
        self.counts[i] = 0.0
        self.curve[i] = self._identity
        self.pending[i] = 0
        self.weight[i] = 1.0

    def calibrate(self, idx: np.ndarray, raw: np.ndarray) -> np.ndarray:
        # Position between bin centres: u in [0, bins - 1].
        u = clamp((logit(raw) + self.span) / self._width - 0.5, 0.0, self.bins - 1.0)
        lo = np.minimum(u.astype(np.int64), self.bins - 2)
        frac = u - lo
        if idx.size and int(idx.max()) < self.n_labels:
            rows, curve = idx, self.curve
        else:  # some labels have no row yet: gather (identity rows for them) first
            rows, curve = np.arange(idx.shape[0]), _take(self.curve, idx, self._identity)
        left = curve[rows, lo]
        right = curve[rows, lo + 1]
        return self._fresh_as_raw(idx, raw, clamp(left + frac * (right - left), self.floor, 1.0 - self.floor))

    def update(self, idx: np.ndarray, raw: np.ndarray, truth: np.ndarray) -> None:
        """Queue one joined event; the counts take it when a label's curve is next refitted.

        Counts are only read by a refit, so queuing changes no curve (:mod:`~stream_mlc.core.fading`).
        """
        self.update_batch(idx, np.asarray(raw, dtype=np.float64)[None, :], np.asarray(truth)[None, :])

    def update_batch(self, idx: np.ndarray, raw: np.ndarray, truth: np.ndarray) -> None:
        """Queue joined events (events x labels ``idx``); curves due are refitted at the end."""
        if not idx.size:
            return
        self._grow(int(idx.max()) + 1)
        truth = np.asarray(truth, dtype=np.float64)
        self._queue.extend((idx, raw[r], truth[r]) for r in range(raw.shape[0]))
        self.seen[idx] += raw.shape[0]
        self.pending[idx] += raw.shape[0]
        # Every `every` updates at first, then less often (up to every 8 * `every`) as the
        # label's counts fill their fading window and the curve settles.
        pending = self.pending[idx]
        ready = pending >= self.every
        due = ready & (pending * 32 >= np.minimum(self.seen[idx], 256 * self.every))
        if due.any():
            self._count_queued()
            # Labels past the first cadence are refitted with them: they fall in step (labels
            # first seen at different times would otherwise each cost a pass of their own).
            self._refit(idx[ready], self._prior_curve())

    def _count_queued(self) -> None:
        """Add every queued pair to the fading counts, per label and pooled, in one pass."""
        if not self._queue:
            return
        sizes = [len(event[0]) for event in self._queue]
        idx, raw, truth = concat(self._queue)
        self._queue = []
        b = np.clip(((logit(raw) + self.span) / self._width).astype(np.int64), 0, self.bins - 1)
        w = pair_weights(idx, self.weight, self.fade)
        np.add.at(self.counts, (idx, b), w)
        np.add.at(self.positives, (idx, b), w * truth)
        big = np.flatnonzero(self.weight > 1e100)
        if big.size:  # rescale before the weights overflow
            self.counts[big] /= self.weight[big, None]
            self.positives[big] /= self.weight[big, None]
            self.weight[big] = 1.0
        # The pooled counts fade once per event (its pairs weigh alike).
        events = len(sizes)
        pw = np.repeat(self.pooled_weight / self.fade ** np.arange(events), sizes)
        self.pooled_counts += np.bincount(b, pw, minlength=self.bins)
        self.pooled_positives += np.bincount(b, pw * truth, minlength=self.bins)
        self.pooled_weight /= self.fade ** events
        if self.pooled_weight > 1e100:
            self.pooled_counts /= self.pooled_weight
            self.pooled_positives /= self.pooled_weight
            self.pooled_weight = 1.0

    def reset(self, i: int) -> None:
        self._count_queued()  # the queued pairs came before the reset: it forgets them too
        super().reset(i)

    def _prior_curve(self) -> np.ndarray:
        """The curve sparse bins are shrunk towards (see ``shrink_to``)."""
        if self.shrink_to == "identity":
            return self._identity
        # The counts in units of the newest pair (which weighs pooled_weight * fade).
        norm = self.fade / self.pooled_weight
        counts, positives = self.pooled_counts * norm, self.pooled_positives * norm
        n = counts.sum()
        if self.shrink_to == "auto":
            # The raw scores' pooled calibration gap (bins at their centres), less what sampling
            # noise alone gives (about sqrt(bins / n) / 2): trust the raw scores under auto_gap.
            gap = np.abs(counts * self._identity - positives).sum() / max(n, 1e-12)
            if gap - 0.5 * np.sqrt(self.bins / max(n, 1e-12)) <= self.auto_gap:
                return self._identity
        weight_all = counts + self.prior
        return pool_adjacent_violators((positives + self.prior * self._identity) / weight_all, weight_all)

    def _refit(self, due: np.ndarray, prior: np.ndarray) -> None:
        """Refit the curves of labels ``due`` (an index array) at once."""
        self.pending[due] = 0
        norm = (self.fade / self.weight[due])[:, None]  # counts in units of the newest pair
        weight = self.counts[due] * norm + self.prior
        rate = (self.positives[due] * norm + self.prior * prior) / weight
        self.curve[due] = pool_adjacent_violators(rate, weight)

    def describe(self, i: int) -> dict:
        curve = self.curve[i] if i < self.n_labels else self._identity
        return {**super().describe(i), "centres": _sigmoid(self.centres).round(4).tolist(),
                "curve": np.round(curve, 4).tolist()}


_KINDS = {"none": IdentityCalibrator, "platt": PlattCalibrator, "isotonic": IsotonicCalibrator}


def make_calibrator(spec: str = DEFAULT_CALIBRATION):
    """A calibrator from its spec: ``"none"``, ``"platt[:param=v,...]"``, ``"isotonic[:...]"``.

    >>> make_calibrator("platt:fade=0.99").fade
    0.99
    >>> make_calibrator("magic")
    Traceback (most recent call last):
    ...
    stream_mlc.errors.ConfigError: unknown calibration 'magic'; choose one of: none, platt, isotonic
    """
    from stream_mlc.core.catalog import build
    from stream_mlc.core.models import parse_spec

    name, params = parse_spec(spec)
    return build("calibration", name, _KINDS, params)
