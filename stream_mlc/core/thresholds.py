"""Per-label decision thresholds: a label is predicted when its probability exceeds its threshold.

The decision policy (:mod:`stream_mlc.core.decision`) asks ``get(label)`` when it decides,
feeds every joined ``(score, truth)`` pair back with ``update(label, score, truth)``, and
reports ``snapshot(labels)``. The scores are the *calibrated* ones when a calibrator is on,
so a threshold is a probability (and a cost objective's tends to its Bayes value).

:class:`FixedThresholds`
    one threshold for every label, never adapted (0.5: the models' own rule).
:class:`AdaptiveThresholds`
    one threshold per label, learned online from the joined pairs: each label keeps a
    fading histogram of its scores (separately for true and false examples, in logit space)
    and its threshold maximises a utility over it (see the class). It depends only on the
    scores the model gave *before* learning each example, so it is prequential: no peeking.

:func:`make_thresholds` builds either from a spec string, like models:
``"fixed"``, ``"fixed:threshold=0.4"``, ``"adaptive"`` (the default),
``"adaptive:objective=hybrid,beta=0.5,fade=0.9995"``, ``"adaptive:objective=cost,cost_fp=1,cost_fn=5"``.

Objectives by the metric they aim at (each one wins its own metric on yeast: README):
``micro_f1``, ``macro_f1``, ``subset_accuracy``, ``mix`` (the default: micro-F1 + macro-F1
- 2 Hamming) and ``cost`` (expected cost, per-label false-positive and false-negative
costs). The older names ``balanced`` (= ``mix``), ``hybrid`` and ``f1`` (= ``macro_f1``)
still work.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from stream_mlc.core.catalog import build
from stream_mlc.errors import ConfigError

__all__ = ["FixedThresholds", "AdaptiveThresholds", "make_thresholds", "DEFAULT_THRESHOLDS", "OBJECTIVES"]

log = logging.getLogger(__name__)

#: The spec the service uses unless told otherwise.
DEFAULT_THRESHOLDS = "adaptive"


class FixedThresholds:
    """The same threshold for every label, never adapted.

    >>> t = FixedThresholds(0.5)
    >>> t.get("x"), t.update("x", 0.7, False), t.get("x")
    (0.5, None, 0.5)
    """

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    def get(self, label: str) -> float:
        return self.threshold

    def update(self, label: str, score: float, truth: bool) -> None:
        """Learn from one joined (score, truth) pair of a label: nothing to learn here."""

    def snapshot(self, labels) -> dict[str, float]:
        return {label: self.threshold for label in labels}

    def reset(self, label: str) -> None:
        """Forget a label's history: nothing to forget here."""


class _Histogram:
    """The fading score histograms of one label (lazy fading: the increment grows instead).

    ``pos`` counts true examples, ``neg`` false ones, by bin (plain lists: cheap to bump);
    their last entry is always 0 (the "predict nothing" threshold above every bin).
    """

    __slots__ = ("pos", "neg", "positives", "total", "weight", "n", "seen", "threshold", "index")

    def __init__(self, size: int, index: int, threshold: float):
        self.pos = [0.0] * (size + 1)
        self.neg = [0.0] * (size + 1)
        self.positives = 0.0  # sum of pos
        self.total = 0.0  # sum of pos and neg
        self.weight = 1.0  # the weight of the next pair; older pairs weigh fade**age relative to it
        self.n = 0  # updates since the threshold was last chosen
        self.seen = 0  # updates in all
        self.threshold = threshold
        self.index = index  # the bin the threshold sits at the bottom of

    def __getstate__(self):
        return (self.pos, self.neg, self.positives, self.total, self.weight, self.n, self.seen, self.threshold,
                self.index)

    def __setstate__(self, state):
        (self.pos, self.neg, self.positives, self.total, self.weight, self.n, self.seen, self.threshold,
         self.index) = state


#: Objective names and the utility each one maximises (see AdaptiveThresholds).
OBJECTIVES = {
    "mix": "balanced",
    "balanced": "balanced",
    "micro_f1": "micro_f1",
    "macro_f1": "f1",
    "f1": "f1",
    "subset_accuracy": "subset_accuracy",
    "hybrid": "hybrid",
    "cost": "cost",
}


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
    ``8 * every``.
    Everything is plain Python and numpy: the object pickles.

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
        self._labels: dict = {}
        # Faded micro counts of the decisions the current thresholds make.
        self._tp = self._fp = self._fn = self._n = 0.0
        self._global_fade = fade
        self.changes = 0  # threshold changes so far

    # -- the engine's interface ------------------------------------------------------------------
    def get(self, label) -> float:
        hist = self._labels.get(label)
        return self.default if hist is None else hist.threshold

    def update(self, label, score: float, truth: bool) -> None:
        """Learn from one joined pair: the score the model gave before learning, and the truth."""
        hist = self._labels.get(label)
        if hist is None:
            hist = self._labels[label] = _Histogram(self.bins + 2, self._default_index, self.default)
            self._global_fade = self.fade ** (1.0 / len(self._labels))
        # The bin of the score's logit: 0 below -span, bins + 1 from +span up.
        if 0.0 < score < 1.0:
            u = (math.log(score / (1.0 - score)) + self.span) * self._inv_width
            b = 0 if u < 0.0 else (self._top if u >= self.bins else int(u) + 1)
        else:
            b = 0 if score <= 0.0 else self._top
        w = hist.weight
        hist.total += w
        predicted = b >= hist.index
        g = self._global_fade
        # Micro counts of the current decisions (the pair as the current threshold classifies it).
        if truth:
            hist.pos[b] += w
            hist.positives += w
            if predicted:
                self._tp = self._tp * g + 1.0
                self._fp *= g
                self._fn *= g
            else:
                self._tp *= g
                self._fp *= g
                self._fn = self._fn * g + 1.0
        else:
            hist.neg[b] += w
            self._tp *= g
            self._fp = self._fp * g + 1.0 if predicted else self._fp * g
            self._fn *= g
        self._n = self._n * g + 1.0
        hist.weight = w = w * self._inv_fade
        if w > 1e100:
            hist.pos = [v / w for v in hist.pos]
            hist.neg = [v / w for v in hist.neg]
            hist.positives /= w
            hist.total /= w
            hist.weight = 1.0
        n = hist.n = hist.n + 1
        seen = hist.seen = hist.seen + 1
        # Re-chosen every `every` updates at first, then less often (up to 8x), as the
        # histogram's window fills and the threshold settles.
        if (n >= self.every and n * 32 >= min(seen, self._every_cap)) or (
            truth and hist.index == self._default_index and hist.threshold == self.default
        ):
            self._choose(label, hist)

    def snapshot(self, labels) -> dict:
        return {label: self.get(label) for label in labels}

    def reset(self, label) -> None:
        """Forget a label's history (after a drift): it goes back to the default threshold."""
        if self._labels.pop(label, None) is not None:
            log.info("thresholds: reset label %r to %.3f", label, self.default)

    # -- internals -------------------------------------------------------------------------------
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

    def _choose(self, label, hist: _Histogram) -> None:
        hist.n = 0
        if hist.positives < self.min_positives * hist.weight * self.fade:
            # Not enough true examples yet (counts are in units of the next pair's weight).
            index, threshold = self._default_index, self.default
        else:
            # tp[i], fp[i]: true / false examples in bins >= i, as fractions of the label's
            # examples; the last entry (i = bins + 2) predicts nothing.
            cum = np.cumsum(np.array((hist.pos, hist.neg))[:, ::-1], axis=1)[:, ::-1]
            cum *= 1.0 / hist.total
            tp, fp = cum[0], cum[1]
            utility = self._utility_of(label, tp, fp, hist.positives / hist.total)
            # Exact ties go to the threshold nearest the default.
            index = int(np.argmax(utility - self._tie_break))
            threshold = self._thresholds[index]
        if index != hist.index:
            if abs(threshold - hist.threshold) >= 0.05 and log.isEnabledFor(logging.DEBUG):
                log.debug("thresholds: label %r %.3f -> %.3f", label, hist.threshold, threshold)
            self.changes += 1
        hist.index, hist.threshold = index, threshold

    def _utility_of(self, label, tp: np.ndarray, fp: np.ndarray, positives: float) -> np.ndarray:
        """The objective's utility of every candidate threshold (tp, fp: fractions above it)."""
        kind = self._utility
        if kind in ("hybrid", "micro_f1"):
            c = 0.5 * self.beta + 0.5 * (1.0 - self.beta) * self.micro_f1()
            return (1.0 - c) * tp - c * fp
        if kind == "subset_accuracy":
            return tp - fp
        if kind == "cost":
            cost_fp, cost_fn = self.costs.get(label, (self.cost_fp, self.cost_fn))
            return cost_fn * tp - cost_fp * fp
        label_f1 = tp / (tp + fp + positives)  # F1 / 2
        if kind == "f1":
            return label_f1
        n_labels = len(self._labels)
        f = self.micro_f1()
        # The micro-F1 denominator 2TP + FP + FN per example, summed over labels.
        d_micro = max(n_labels * (2.0 * self._tp + self._fp + self._fn) / max(self._n, 1e-300), 1e-12)
        micro = 2.0 * self.w_micro / d_micro
        hamming = self.w_hamming / n_labels
        return ((micro * (1.0 - 0.5 * f) + hamming) * tp - (micro * 0.5 * f + hamming) * fp
                + label_f1 * (2.0 * self.w_macro / n_labels))


def _costs(label, value, cost_fp: float, cost_fn: float) -> tuple[float, float]:
    """A label's (fp, fn) costs from ``{"fp": c, "fn": c}`` (missing keys: the defaults)."""
    if not isinstance(value, dict) or not set(value) <= {"fp", "fn"}:
        raise ConfigError(f"costs of label {label!r} must be {{'fp': c, 'fn': c}}, not {value!r}")
    fp, fn = float(value.get("fp", cost_fp)), float(value.get("fn", cost_fn))
    if fp < 0 or fn < 0:
        raise ConfigError(f"costs of label {label!r} must be >= 0")
    return fp, fn


def make_thresholds(spec: str = DEFAULT_THRESHOLDS):
    """Thresholds from a spec: ``"fixed[:threshold=t]"`` or ``"adaptive[:param=value,...]"``.

    >>> make_thresholds("fixed:threshold=0.4").get("x")
    0.4
    >>> make_thresholds("adaptive:objective='hybrid',beta=0").beta
    0
    """
    from stream_mlc.core.models import parse_spec

    name, params = parse_spec(spec)
    if isinstance(params.get("costs"), str):
        raise ConfigError(f"costs={params['costs']!r} names a file: load it with stream_mlc.rules_io.load_costs "
                          "and pass the dict to make_decision_policy")
    return build_thresholds(name, params)


def build_thresholds(name: str, params: dict):
    """Thresholds of kind ``name`` (``fixed`` or ``adaptive``) with keyword ``params``."""
    return build("thresholds", name, {"fixed": FixedThresholds, "adaptive": AdaptiveThresholds}, params)
