"""Per-label thresholds learned online: :class:`AdaptiveThresholds`.

Each label keeps a fading histogram of its scores (true and false examples apart, in logit
space) and its threshold maximises an objective's utility over it
(:data:`~stream_mlc.core.threshold_objectives.OBJECTIVES`). Built from a spec by
:func:`stream_mlc.core.thresholds.make_thresholds` (``"adaptive[:param=value,...]"``), and
importable from there too; see that module for the interface the decision policy calls.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from stream_mlc.core.fading import concat, pair_weights
from stream_mlc.core.threshold_objectives import OBJECTIVES, _costs
from stream_mlc.errors import ConfigError

__all__ = ["AdaptiveThresholds"]

# Named after the module the class came from, so that log levels and captures set on
# "stream_mlc.core.thresholds" (tests/test_thresholds.py, deployments) still apply.
log = logging.getLogger("stream_mlc.core.thresholds")


class AdaptiveThresholds:
    """Per-label thresholds that maximise a utility over fading score histograms.

    For a candidate threshold of a label, let TP and FP be the (faded) numbers of its true and
    false examples scoring above it, as fractions of its examples. The threshold maximises,
    depending on ``objective``:

    ``"balanced"`` (default)
        the change it brings to ``w_micro * micro-F1 + w_macro * macro-F1 - w_hamming *
        Hamming loss``: the label's own F1 over the number of labels (its exact share of
        macro-F1), ``(TP - FP)`` over the number of labels (minus its share of the Hamming
        loss, up to a constant), and micro-F1 linearised at its current value ``F``:
        ``((1 - F/2) TP - (F/2) FP) * 2 / D`` with ``D`` the micro denominator
        ``2TP + FP + FN`` per example. Frequent labels get thresholds near the micro-F1 and
        Hamming optima; rare labels, whose own F1 weighs as much in macro-F1 as a frequent
        label's, get lower ones. The defaults (1, 1, 2) were chosen on the benchmark streams.
    ``"hybrid"``
        ``(1 - c) TP - c FP`` with ``c = beta / 2 + (1 - beta) F / 2``: ``beta = 0`` is the
        rule that maximises micro-F1 (predict when the probability exceeds F*/2, here applied
        to each label's empirical score distribution, which also corrects the model's
        calibration), ``beta = 1`` minimises the Hamming loss.
    ``"f1"`` (or ``"macro_f1"``)
        each label's own F1 (best macro-F1, at a high cost in false positives on rare labels).
    ``"micro_f1"``
        ``"hybrid"`` with ``beta = 0``: on calibrated scores, predict above F*/2.
    ``"subset_accuracy"``
        ``TP - FP``: each label's most probable value (on calibrated scores, above 0.5),
        which under independent labels is the most probable label set; pair it with
        ``min_labels=1`` where label sets are never empty.
    ``"cost"``
        minus the expected cost ``cost_fp * FP + cost_fn * FN``: ``cost_fn * TP - cost_fp *
        FP``; on calibrated scores the threshold tends to ``cost_fp / (cost_fp + cost_fn)``.
        ``costs`` maps a label to ``{"fp": c, "fn": c}`` where it differs from the defaults
        ``cost_fp``, ``cost_fn`` (see :func:`stream_mlc.rules_io.load_costs` for a file).

    Scores are binned by their logit over ``[-span, span]`` in ``bins`` equal bins (plus one
    bin below and one above); a threshold sits at a bin edge (or above every score), never
    below ``floor``: a label is never predicted for every event whatever its score. A label
    keeps ``default`` until its faded number of true examples reaches ``min_positives``. Each
    pair's weight fades by ``fade`` per later pair of the same label (0.999: about the last
    1000 examples count). The threshold is re-chosen every ``every`` updates of a label at
    first, then every ``seen / 32`` updates (``seen``: the label's updates so far), up to every
    ``8 * every``. An event's pairs are queued and counted together just before a threshold
    is re-chosen (:mod:`~stream_mlc.core.fading`): re-choosing reads the counts, nothing else
    does, so the thresholds are those of counting each pair as it comes, at a fraction of the
    cost. Every label's state is a row of numpy arrays: the object pickles.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(0)
    >>> t = AdaptiveThresholds(objective="hybrid", beta=1.0)
    >>> for _ in range(3000):  # true examples score about 0.3, false ones about 0.1
    ...     truth = rng.random() < 0.5
    ...     t.update("a", min(max(rng.gauss(0.3 if truth else 0.1, 0.05), 0.0), 1.0), truth)
    >>> 0.15 < t.get("a") < 0.25, t.get("b")
    (True, 0.5)
    """

    def __init__(
        self,
        objective: str = "balanced",
        w_micro: float = 1.0,
        w_macro: float = 1.0,
        w_hamming: float = 2.0,
        beta: float = 0.5,
        fade: float = 0.999,
        bins: int = 64,
        span: float = 8.0,
        min_positives: float = 5.0,
        every: int = 16,
        default: float = 0.5,
        cost_fp: float = 1.0,
        cost_fn: float = 1.0,
        costs: dict | None = None,
        floor: float = 0.01,
    ):
        if objective not in OBJECTIVES:
            raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
        if cost_fp < 0 or cost_fn < 0 or cost_fp + cost_fn <= 0:
            raise ConfigError(f"costs must be >= 0 and not both 0: cost_fp={cost_fp}, cost_fn={cost_fn}")
        if not 0.0 <= floor < 1.0:
            raise ConfigError(f"floor must be in [0, 1), not {floor}")
        if not 0.0 <= beta <= 1.0:
            raise ConfigError(f"beta must be in [0, 1], not {beta}")
        if not 0.0 < fade <= 1.0:
            raise ConfigError(f"fade must be in (0, 1], not {fade}")
        if bins < 2 or span <= 0 or every < 1:
            raise ConfigError("bins must be >= 2, span > 0 and every >= 1")
        self.beta = 0.0 if objective == "micro_f1" else beta
        self.objective = objective
        self._utility = OBJECTIVES[objective]
        self.cost_fp, self.cost_fn = float(cost_fp), float(cost_fn)
        self.costs = {label: _costs(label, c, cost_fp, cost_fn) for label, c in (costs or {}).items()}
        self.floor = floor
        self.fade = fade
        self.bins = bins
        self.span = span
        self.min_positives = min_positives
        self.every = every
        self.default = default
        self.w_micro, self.w_macro, self.w_hamming = w_micro, w_macro, w_hamming
        self._width = 2.0 * span / bins
        self._inv_width = 1.0 / self._width
        self._inv_fade = 1.0 / fade
        self._top = bins + 1
        self._every_cap = 256 * every
        # Threshold at the bottom of bin i (i = 0..bins+1), and "predict nothing" (bins+2).
        edges = -span + self._width * np.arange(bins + 1)
        self._thresholds = [0.0] + [1.0 / (1.0 + math.exp(-e)) for e in edges] + [1.0]
        self._default_index = self._index_of(default)
        self._tie_break = 1e-12 * np.abs(np.arange(bins + 3) - self._default_index)
        # Thresholds below the floor are never chosen.
        self._tie_break[np.asarray(self._thresholds) < floor] = np.inf
        self._rows: dict = {}  # label -> row of the arrays below
        self._names: list = []  # row -> label
        size = bins + 3  # bins + the two outer ones + "predict nothing"
        # Fading true / false counts per row and bin, as in the class docstring.
        self._pos = np.zeros((0, size))
        self._neg = np.zeros((0, size))
        self._positives = np.zeros(0)  # row sums of _pos
        self._total = np.zeros(0)  # row sums of _pos and _neg
        self._weight = np.zeros(0)  # the weight of a row's next pair
        self._since = np.zeros(0, dtype=np.int64)  # updates since the threshold was chosen
        self._seen = np.zeros(0, dtype=np.int64)  # updates in all
        self._index = np.zeros(0, dtype=np.int64)  # the bin the threshold sits at the bottom of
        self._threshold = np.zeros(0)
        self._active = np.zeros(0, dtype=bool)  # False: never updated, or reset since
        self._settled = np.zeros(0, dtype=bool)  # chosen from enough true examples once
        self._candidates = np.asarray(self._thresholds)
        self._queue: list = []  # (rows, scores, truth) of events not counted yet
        self._cache: tuple = (None, -1, None)  # the rows of the last labels list
        # Faded micro counts of the decisions the current thresholds make.
        self._tp = self._fp = self._fn = self._n = 0.0
        self._global_fade = fade
        self.changes = 0  # threshold changes so far
        #: Bumped whenever any label's threshold may have changed (callers cache by it).
        self.version = 0

    # -- the engine's interface ------------------------------------------------------------------
    def get(self, label) -> float:
        row = self._rows.get(label)
        return self.default if row is None or not self._active[row] else float(self._threshold[row])

    def update(self, label, score: float, truth: bool) -> None:
        """Learn from one joined pair: the score the model gave before learning, and the truth."""
        self.update_batch([label], np.array([[score]], dtype=np.float64), np.array([[truth]], dtype=bool))

    def update_batch(self, labels, scores: np.ndarray, truth: np.ndarray) -> None:
        """Learn from joined events (events x labels: each label's score before learning, and its
        truth); the thresholds due are re-chosen after the last one."""
        rows = self._rows_of(labels)
        truth = np.asarray(truth, dtype=bool)
        scores = np.asarray(scores, dtype=np.float64)
        self._queue.extend((rows, scores[r], truth[r]) for r in range(scores.shape[0]))
        since = self._since[rows] = self._since[rows] + scores.shape[0]
        seen = self._seen[rows] = self._seen[rows] + scores.shape[0]
        # Re-chosen every `every` updates at first, then less often (up to 8x), as the
        # histogram's window fills and the threshold settles; and on each true example until
        # the label has enough of them to leave the default.
        due = (since >= self.every) & (since * 32 >= np.minimum(seen, self._every_cap))
        self._choose_due(rows, due | (truth.any(axis=0) & ~self._settled[rows]), since)

    def _choose_due(self, rows: np.ndarray, due: np.ndarray, since: np.ndarray) -> None:
        if due.any():
            self._count_queued()
            # Labels past the first cadence are re-chosen with them: they fall in step, so
            # that the queue is counted once for all of them rather than once for each.
            self._choose(rows[due | (since >= self.every)])

    def snapshot(self, labels) -> dict:
        return {label: self.get(label) for label in labels}

    def reset(self, label) -> None:
        """Forget a label's history (after a drift): it goes back to the default threshold."""
        row = self._rows.get(label)
        if row is None or not self._active[row]:
            return
        self._count_queued()  # the queued pairs came before the reset: it forgets them too
        self._fresh(row)
        self._active[row] = False
        self.version += 1
        log.info("thresholds: reset label %r to %.3f", label, self.default)

    @property
    def n_labels(self) -> int:
        """Labels with a threshold of their own (updated, and not reset since)."""
        return int(self._active.sum())

    # -- internals -------------------------------------------------------------------------------
    def _rows_of(self, labels) -> np.ndarray:
        """The rows of ``labels``; labels new (or reset) start fresh, as the default threshold."""
        cached, size, rows = self._cache
        if cached is labels and size == len(labels) and self._active[rows].all():
            return rows
        get = self._rows.get
        if any(get(label) is None or not self._active[get(label)] for label in labels):
            self._count_queued()  # the global fade changes with the number of labels
            for label in labels:
                self._activate(label)
        rows = np.fromiter((self._rows[label] for label in labels), dtype=np.int64, count=len(labels))
        self._cache = (labels, len(labels), rows)
        return rows

    def _activate(self, label) -> None:
        row = self._rows.get(label)
        if row is None:
            row = self._rows[label] = len(self._names)
            self._names.append(label)
            self._grow(row + 1)
        elif self._active[row]:
            return
        self._fresh(row)
        self._active[row] = True
        self.version += 1
        self._global_fade = self.fade ** (1.0 / self.n_labels)

    def _grow(self, size: int) -> None:
        if size <= self._weight.shape[0]:
            return
        for name in ("_pos", "_neg", "_positives", "_total", "_weight", "_since", "_seen", "_index", "_threshold",
                     "_active", "_settled"):
            array = getattr(self, name)
            grown = np.zeros((max(size, 2 * array.shape[0]),) + array.shape[1:], dtype=array.dtype)
            grown[: array.shape[0]] = array
            setattr(self, name, grown)

    def _fresh(self, row: int) -> None:
        self._pos[row] = self._neg[row] = 0.0
        self._positives[row] = self._total[row] = 0.0
        self._weight[row] = 1.0
        self._since[row] = self._seen[row] = 0
        self._index[row], self._threshold[row] = self._default_index, self.default
        self._settled[row] = False

    def _count_queued(self) -> None:
        """Count every queued pair into the histograms and the micro counts, in one pass."""
        if not self._queue:
            return
        rows, scores, truth = concat(self._queue)
        self._queue = []
        b = self._bins_of(scores)
        w = pair_weights(rows, self._weight, self.fade)
        np.add.at(self._pos, (rows[truth], b[truth]), w[truth])
        np.add.at(self._neg, (rows[~truth], b[~truth]), w[~truth])
        self._positives += np.bincount(rows, w * truth, minlength=self._weight.shape[0])
        self._total += np.bincount(rows, w, minlength=self._weight.shape[0])
        big = np.flatnonzero(self._weight > 1e100)
        if big.size:  # rescale before the weights overflow
            scale = self._weight[big]
            self._pos[big] /= scale[:, None]
            self._neg[big] /= scale[:, None]
            self._positives[big] /= scale
            self._total[big] /= scale
            self._weight[big] = 1.0
        # Micro counts of the current decisions, each pair fading the earlier ones by g.
        predicted = b >= self._index[rows]
        g = self._global_fade
        m = rows.shape[0]
        later = g ** np.arange(m - 1, -1, -1, dtype=np.float64)
        old = g ** m
        self._tp = self._tp * old + float(later @ (truth & predicted))
        self._fp = self._fp * old + float(later @ (~truth & predicted))
        self._fn = self._fn * old + float(later @ (truth & ~predicted))
        self._n = self._n * old + float(later.sum())

    def _bins_of(self, scores: np.ndarray) -> np.ndarray:
        """The bin of each score's logit: 0 below -span, bins + 1 from +span up."""
        inner = (scores > 0.0) & (scores < 1.0)
        p = np.where(inner, scores, 0.5)
        u = (np.log(p / (1.0 - p)) + self.span) * self._inv_width
        b = np.where(u < 0.0, 0, np.where(u >= self.bins, self._top, u.astype(np.int64) + 1))
        return np.where(inner, b, np.where(scores <= 0.0, 0, self._top))

    def _index_of(self, threshold: float) -> int:
        """The bin whose bottom edge is the largest threshold not above ``threshold``."""
        for i in range(len(self._thresholds) - 1, -1, -1):
            if self._thresholds[i] <= threshold:
                return i
        return 0

    def micro_f1(self) -> float:
        """The faded micro-F1 of the current thresholds' decisions."""
        denominator = 2.0 * self._tp + self._fp + self._fn
        return 2.0 * self._tp / denominator if denominator > 0 else 0.0

    def _choose(self, rows: np.ndarray) -> None:
        """Re-choose the thresholds of ``rows`` from their (counted) histograms."""
        self._since[rows] = 0
        index = np.full(rows.shape[0], self._default_index)
        # Enough true examples yet? (counts are in units of the next pair's weight)
        enough = self._positives[rows] >= self.min_positives * self._weight[rows] * self.fade
        if enough.any():
            chosen = rows[enough]
            self._settled[chosen] = True
            total = self._total[chosen, None]
            # tp[:, i], fp[:, i]: true / false examples in bins >= i, as fractions of the
            # label's examples; the last entry (i = bins + 2) predicts nothing.
            tp = np.cumsum(self._pos[chosen, ::-1], axis=1)[:, ::-1] / total
            fp = np.cumsum(self._neg[chosen, ::-1], axis=1)[:, ::-1] / total
            utility = self._utility_of(chosen, tp, fp, self._positives[chosen, None] / total)
            # Exact ties go to the threshold nearest the default.
            index[enough] = np.argmax(utility - self._tie_break, axis=1)
        changed = index != self._index[rows]
        if changed.any():
            self.changes += int(changed.sum())
            self.version += 1
            if log.isEnabledFor(logging.DEBUG):
                for row in rows[changed].tolist():
                    log.debug("thresholds: label %r re-chosen", self._names[row])
        self._index[rows] = index
        self._threshold[rows] = self._candidates[index]

    def _utility_of(self, rows: np.ndarray, tp: np.ndarray, fp: np.ndarray, positives: np.ndarray) -> np.ndarray:
        """The objective's utility of every candidate threshold (tp, fp: fractions above it; a row per label)."""
        kind = self._utility
        if kind in ("hybrid", "micro_f1"):
            c = 0.5 * self.beta + 0.5 * (1.0 - self.beta) * self.micro_f1()
            return (1.0 - c) * tp - c * fp
        if kind == "subset_accuracy":
            return tp - fp
        if kind == "cost":
            costs = np.array([self.costs.get(self._names[row], (self.cost_fp, self.cost_fn)) for row in rows.tolist()])
            return costs[:, 1, None] * tp - costs[:, 0, None] * fp
        label_f1 = tp / (tp + fp + positives)  # F1 / 2
        if kind == "f1":
            return label_f1
        n_labels = self.n_labels
        f = self.micro_f1()
        # The micro-F1 denominator 2TP + FP + FN per example, summed over labels.
        d_micro = max(n_labels * (2.0 * self._tp + self._fp + self._fn) / max(self._n, 1e-300), 1e-12)
        micro = 2.0 * self.w_micro / d_micro
        hamming = self.w_hamming / n_labels
        return ((micro * (1.0 - 0.5 * f) + hamming) * tp - (micro * 0.5 * f + hamming) * fp
                + label_f1 * (2.0 * self.w_macro / n_labels))
