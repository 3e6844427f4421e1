"""The one place model scores become a prediction: calibration, thresholds, set-size bounds, rules.

:class:`DecisionPolicy` turns a model's raw scores for the known labels into

1. **calibrated scores**, per label (:mod:`stream_mlc.core.calibration`): what is published;
2. a **label set**: the labels whose calibrated score is strictly above their threshold
   (:mod:`stream_mlc.core.thresholds`, with a stated objective);
3. within **set-size bounds**: at most ``max_labels`` (the highest-scoring), and at least
   ``min_labels`` (the top labels when too few pass; :mod:`stream_mlc.core.set_bounds`);
4. made consistent with the **label rules** (:mod:`stream_mlc.core.rules`), last: consistency
   wins over the bounds (an added parent may take a set past ``max_labels``).

With the subset-accuracy objective the thresholded set is first decoded into the most likely
label set seen in the truth (:class:`~stream_mlc.core.rules.SeenLabelSets`).

It learns from every joined example (:meth:`DecisionPolicy.update`, with the raw scores
stored at scoring time): the thresholds from the calibrated scores that were published
(or, if not kept, those the current calibrator gives), then the calibrator itself; both
prequential. It measures the ECE and Brier
score of the raw and of the calibrated scores in the same run
(:mod:`stream_mlc.core.calibration_metrics`), and queues audit events (threshold moves
beyond ``audit_step``, calibrator resets, rule corrections) for :meth:`drain_events`.

A scorer that only predicts takes :meth:`DecisionPolicy.frozen`: the calibrator, the
thresholds as they are, the bounds and the rules, without the learning state.
Labels are names; arrays are aligned with the ``labels`` sequence passed in. Pickle-able.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from stream_mlc.core.calibration import DEFAULT_CALIBRATION, make_calibrator
from stream_mlc.core.calibration_metrics import CalibrationMetrics
from stream_mlc.core.rules import LabelRules, SeenLabelSets
from stream_mlc.core.set_bounds import bound_set
from stream_mlc.core.thresholds import DEFAULT_THRESHOLDS, build_thresholds
from stream_mlc.errors import ConfigError

__all__ = ["DecisionPolicy", "FrozenDecision", "make_decision_policy", "bound_set"]

#: Audit event kinds (published on the alerts topic beside the drift alerts).
THRESHOLD_MOVED = "threshold_moved"
CALIBRATION_RESET = "calibration_reset"
RULE_CORRECTION = "rule_correction"
_MAX_EVENTS = 1000  # undrained audit events kept; older ones are dropped (and counted)


class _Decider:
    """What a policy and its frozen copy share: scores in, calibrated scores and label sets out."""

    def __init__(self, calibrator, rules: LabelRules | None, max_labels: int, min_labels: int, explain: int,
                 label_sets: SeenLabelSets | None = None):
        self.calibrator = calibrator
        self.rules = rules
        self.label_sets = label_sets
        self.max_labels, self.min_labels = max_labels, min_labels
        self.explain = explain
        self._names: list = []
        self._index: dict = {}
        self._cache: tuple = (None, -1, None)

    def _idx(self, labels: Sequence) -> np.ndarray:
        """The label indices of ``labels`` (new names get the next indices)."""
        cached, size, idx = self._cache
        if cached is labels and size == len(labels):  # the engine's label list only grows
            return idx
        index = self._index
        for label in labels:
            if label not in index:
                index[label] = len(self._names)
                self._names.append(label)
        idx = np.fromiter((index[label] for label in labels), dtype=np.intp, count=len(labels))
        self._cache = (labels, len(labels), idx)
        return idx

    def thresholds_of(self, labels: Sequence) -> np.ndarray:
        raise NotImplementedError

    def decide(self, labels: Sequence, raw) -> tuple[np.ndarray, np.ndarray, list[dict]]:
        """One event: ``(calibrated scores, predicted mask, rule corrections)``."""
        calibrated, masks, corrections = self.decide_batch(labels, np.asarray(raw, dtype=np.float64)[None, :])
        return calibrated[0], masks[0], corrections[0]

    def decide_batch(self, labels: Sequence, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[list[dict]]]:
        """Events x labels: calibrated scores, predicted masks, and each event's corrections."""
        raw = np.asarray(raw, dtype=np.float64)
        if not len(labels):
            return raw, np.zeros(raw.shape, dtype=bool), [[] for _ in range(raw.shape[0])]
        calibrated = self.calibrator.calibrate(self._idx(labels), raw)
        masks = calibrated > self.thresholds_of(labels)
        if self.label_sets is not None:
            for r in range(raw.shape[0]):
                masks[r] = self.label_sets.decode(labels, masks[r], calibrated[r])
        masks = bound_set(masks, calibrated, self.max_labels, self.min_labels)
        corrections: list[list[dict]] = [[] for _ in range(raw.shape[0])]
        if self.rules is not None:
            for r in range(raw.shape[0]):
                fixed, corrections[r] = self.rules.apply(labels, masks[r], calibrated[r])
                if corrections[r]:
                    masks[r] = fixed
        return calibrated, masks, corrections


class DecisionPolicy(_Decider):
    """Calibration, thresholds, set-size bounds and rules, learned online; see the module.

    Parameters
    ----------
    thresholds
        A thresholds object (``get``, ``update``, ``snapshot``, ``reset``).
    calibrator
        A calibrator from :func:`~stream_mlc.core.calibration.make_calibrator`.
    rules
        Label rules, or None.
    max_labels, min_labels
        Bounds on the size of a predicted label set (0: none).
    explain
        How many contributing features each predicted label carries (0: no explanations);
        kept here for the caller (see :mod:`stream_mlc.core.explain`).
    audit_step
        A threshold that moves at least this far from the value last reported is an audit event.
    window
        Events in the windowed ECE and Brier score.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> policy = make_decision_policy("adaptive", "platt")
    >>> labels = ["a", "b"]
    >>> for _ in range(2000):  # over-confident raw scores: truth ~ sigmoid(logit / 3)
    ...     z = rng.normal(0, 4, size=2)
    ...     truth = rng.random(2) < 1 / (1 + np.exp(-z / 3))
    ...     policy.update(labels, 1 / (1 + np.exp(-z)), truth)
    >>> report = policy.report(labels)
    >>> report["ece"]["calibrated"]["cumulative"]["ece"] < report["ece"]["raw"]["cumulative"]["ece"]
    True
    >>> calibrated, mask, corrections = policy.decide(labels, np.array([0.999, 0.01]))
    >>> mask.tolist(), corrections
    ([True, False], [])
    """

    def __init__(self, thresholds, calibrator, *, rules: LabelRules | None = None, max_labels: int = 0,
                 min_labels: int = 0, explain: int = 0, audit_step: float = 0.1, window: int = 1000,
                 label_sets: SeenLabelSets | None = None):
        if max_labels < 0 or min_labels < 0 or (max_labels and min_labels > max_labels):
            raise ConfigError(f"label-set bounds: need 0 <= min_labels <= max_labels, got {min_labels}, {max_labels}")
        if explain < 0:
            raise ConfigError(f"explain must be >= 0, not {explain}")
        super().__init__(calibrator, rules, max_labels, min_labels, explain, label_sets)
        self.thresholds = thresholds
        self.audit_step = audit_step
        self.raw_metrics = CalibrationMetrics(window)
        self.calibrated_metrics = CalibrationMetrics(window)
        self._reported: dict = {}  # label -> threshold last reported in an audit event
        self._events: list[dict] = []
        self.events_dropped = 0
        self._rule_counts_drained = 0
        self._thresholds_cache: tuple | None = None

    # -- learning ------------------------------------------------------------------------------
    def update(self, labels: Sequence, raw, truth, observed=None, published=None) -> None:
        """Learn from one joined event.

        ``raw``: the model's scores at scoring time, ``truth``: which labels are true,
        ``observed``: which are known (None: all), ``published``: the calibrated scores that
        were published for it, if kept (the ECE is measured on them and the thresholds learn
        from them; else from the current calibration's), all aligned with ``labels``.
        """
        idx = self._idx(labels)
        raw = np.asarray(raw, dtype=np.float64)
        truth = np.asarray(truth, dtype=bool)
        names = labels
        if observed is not None:
            keep = np.asarray(observed, dtype=bool)
            idx, raw, truth = idx[keep], raw[keep], truth[keep]
            names = [label for label, k in zip(labels, keep.tolist(), strict=True) if k]
            published = None if published is None else np.asarray(published, dtype=np.float64)[keep]
        # The thresholds learn from the scores that were thresholded: the published ones if
        # kept, else what the current calibration gives (the same at label delay 0).
        calibrated = self.calibrator.calibrate(idx, raw) if published is None else published
        self._learn(names, idx, raw[None, :], truth[None, :], np.asarray(calibrated)[None, :], observed is None)

    def update_batch(self, labels: Sequence, events: list[tuple]) -> None:
        """Learn from joined events together: ``events`` of ``(raw, truth, observed, published)``
        as :meth:`update` takes them; thresholds and curves are re-chosen at the end.

        Events with partial labels (``observed``) are learned one by one.
        """
        if any(event[2] is not None for event in events):
            for raw, truth, observed, published in events:
                self.update(labels, raw, truth, observed, published)
            return
        idx = self._idx(labels)
        raw = np.stack([event[0] for event in events])
        truth = np.stack([event[1] for event in events])
        calibrated = np.stack([raw[r] if event[3] is None else event[3] for r, event in enumerate(events)])
        unpublished = [r for r, event in enumerate(events) if event[3] is None]
        if unpublished:
            calibrated[unpublished] = self.calibrator.calibrate(idx, raw[unpublished])
        self._learn(labels, idx, raw, truth, calibrated, True)

    def _learn(self, names: Sequence, idx: np.ndarray, raw: np.ndarray, truth: np.ndarray, calibrated: np.ndarray,
               full: bool) -> None:
        """Learn from events (rows) of labels ``names`` (``idx``): the calibration metrics, the
        thresholds, the calibrator, and the label sets seen when every label is known (``full``)."""
        for r in range(raw.shape[0]):
            self.raw_metrics.update(idx, raw[r], truth[r])
            self.calibrated_metrics.update(idx, calibrated[r], truth[r])
        changes = getattr(self.thresholds, "changes", None)
        update_batch = getattr(self.thresholds, "update_batch", None)
        if update_batch is not None:
            update_batch(names, calibrated, truth)
        else:  # a thresholds object of one pair at a time
            for row_scores, row_truth in zip(calibrated.tolist(), truth.tolist(), strict=True):
                for label, score, positive in zip(names, row_scores, row_truth, strict=True):
                    self.thresholds.update(label, score, positive)
        # Thresholds that count their changes are audited only when one changed.
        if changes is None or self.thresholds.changes != changes:
            self._audit_thresholds(names)
        self.calibrator.update_batch(idx, raw, truth)
        if self.label_sets is not None and full:
            for row in truth.tolist():
                self.label_sets.learn(frozenset(label for label, t in zip(names, row, strict=True) if t))

    def _audit_thresholds(self, names) -> None:
        """An event for each threshold that moved ``audit_step`` or more since it was last reported."""
        get, step = self.thresholds.get, self.audit_step
        start = getattr(self.thresholds, "default", None)  # where a new label's threshold starts
        for label in names:
            now = get(label)
            before = self._reported.setdefault(label, now if start is None else start)
            if abs(now - before) >= step:
                self._reported[label] = now
                self._event(THRESHOLD_MOVED, "thresholds", label, now, before,
                            f"threshold of {label!r} moved {before:.3f} -> {now:.3f}")

    def reset(self, label) -> None:
        """Forget a label's thresholds and calibration (its model was reset after a drift)."""
        self.thresholds.reset(label)
        self._reported.pop(label, None)
        i = self._index.get(label)
        if i is not None:
            self.calibrator.reset(i)
        self._event(CALIBRATION_RESET, "calibration", label, 0.0, 0.0, f"calibration and threshold of {label!r} reset")

    # -- what scorers and reports need -----------------------------------------------------------
    def thresholds_of(self, labels: Sequence) -> np.ndarray:
        return self._current(labels)[0]

    def snapshot(self, labels: Sequence) -> dict:
        """Each label's current threshold (on calibrated scores); shared by the predictions
        made until one changes, so read-only."""
        return self._current(labels)[1]

    def _current(self, labels: Sequence) -> tuple[np.ndarray, dict]:
        """The thresholds of ``labels`` as an array and a dict, cached while none changes.

        The cache holds ``labels`` itself, so an identity test cannot match a new list that
        reuses a freed one's id; the engine's label list only grows (hence its length).
        """
        version = getattr(self.thresholds, "version", None)
        cached = self._thresholds_cache
        if version is not None and cached is not None and cached[0] is labels and cached[1] == len(labels) \
                and cached[2] == version:
            return cached[3], cached[4]
        get = self.thresholds.get
        values = np.fromiter((get(label) for label in labels), dtype=np.float64, count=len(labels))
        snapshot = dict(zip(labels, values.tolist(), strict=True))
        self._thresholds_cache = (labels, len(labels), version, values, snapshot)
        return values, snapshot

    def frozen(self, labels: Sequence) -> FrozenDecision:
        """A copy that decides as this policy does now, without its learning state (for scorers)."""
        return FrozenDecision(copy.deepcopy(self.calibrator), self.snapshot(labels), copy.deepcopy(self.rules),
                              self.max_labels, self.min_labels, self.explain, dict(self._index), list(self._names),
                              copy.deepcopy(self.label_sets))

    def window_ece(self) -> float:
        """The calibrated scores' ECE over the window (a Prometheus gauge)."""
        return self.calibrated_metrics.window_ece()

    def report(self, labels: Sequence | None = None, per_label: bool = True) -> dict:
        """Calibration, ECE and Brier (raw and calibrated), thresholds and their objective, rules."""
        labels = self._names if labels is None else labels
        return {
            "calibration": getattr(self.calibrator, "kind", type(self.calibrator).__name__),
            "ece": {"raw": self.raw_metrics.report(self._names, per_label),
                    "calibrated": self.calibrated_metrics.report(self._names, per_label)},
            "reliability": self.calibrated_metrics.reliability(),
            "reliability_raw": self.raw_metrics.reliability(),
            "thresholds": {"objective": getattr(self.thresholds, "objective", "fixed"),
                           "values": self.snapshot(labels)},
            "bounds": {"max_labels": self.max_labels, "min_labels": self.min_labels},
            "rules": None if self.rules is None else self.rules.report(),
            "explain": self.explain,
            "audit_events_dropped": self.events_dropped,
        }

    # -- audit -------------------------------------------------------------------------------------
    def drain_events(self) -> list[dict]:
        """The audit events since the last call, in the alerts topic's form less ``ts`` and
        ``model_version``: ``{"kind", "detector", "subject", "value", "threshold", "message"}``
        (``threshold_moved``: value = the new threshold, threshold = the one last reported;
        ``rule_correction``: value = predictions corrected since the last drain, subject ``*``)."""
        if self.rules is not None:
            made = self.rules.counts["corrected_predictions"]
            if made > self._rule_counts_drained:
                count = made - self._rule_counts_drained
                self._event(RULE_CORRECTION, "rules", "*", float(count), 0.0,
                            f"{count} predictions corrected by the label rules",
                            violations={k: self.rules.counts[k] for k in ("implies", "exclusive", "allowed")})
                self._rule_counts_drained = made
        events, self._events = self._events, []
        return events

    def _event(self, kind: str, detector: str, subject, value: float, threshold: float, message: str,
               **extra) -> None:
        if len(self._events) >= _MAX_EVENTS:
            self._events.pop(0)
            self.events_dropped += 1
        self._events.append({"kind": kind, "detector": detector, "subject": str(subject), "value": float(value),
                             "threshold": float(threshold), "message": message, **extra})


class FrozenDecision(_Decider):
    """A :class:`DecisionPolicy` as it was when frozen: what a scorer pickles and uses."""

    def __init__(self, calibrator, thresholds: dict, rules, max_labels: int, min_labels: int, explain: int,
                 index: dict, names: list, label_sets: SeenLabelSets | None = None):
        super().__init__(calibrator, rules, max_labels, min_labels, explain, label_sets)
        self.thresholds = thresholds
        self._index, self._names = index, names

    def thresholds_of(self, labels: Sequence) -> np.ndarray:
        get = self.thresholds.get
        return np.fromiter((get(label, 0.5) for label in labels), dtype=np.float64, count=len(labels))

    def snapshot(self, labels: Sequence) -> dict:
        return {label: self.thresholds.get(label, 0.5) for label in labels}


def make_decision_policy(thresholds_spec: str = DEFAULT_THRESHOLDS, calibration_spec: str = DEFAULT_CALIBRATION,
                         rules=None, explain: int = 0, costs: dict | None = None, audit_step: float = 0.1,
                         window: int = 1000) -> DecisionPolicy:
    """A policy from the thresholds and calibration specs (the settings' strings).

    The thresholds spec also takes the set-size bounds ``max_labels=k`` and
    ``min_labels=m``, and ``seen_sets=0|1`` (decode into seen label sets: on by default
    with ``objective=subset_accuracy``); ``costs=<file>`` in it must come loaded as ``costs`` (a dict label ->
    ``{"fp": c, "fn": c}``: :func:`stream_mlc.rules_io.load_costs`). ``rules`` is a
    :class:`~stream_mlc.core.rules.LabelRules` or its dict.

    >>> policy = make_decision_policy("adaptive:objective=cost,cost_fn=5,min_labels=1", "none")
    >>> policy.thresholds.cost_fn, policy.min_labels
    (5.0, 1)
    >>> make_decision_policy("fixed:threshold=0.4", "none").decide(["a"], np.array([0.45]))[1].tolist()
    [True]
    """
    from stream_mlc.core.models import parse_spec

    name, params = parse_spec(thresholds_spec)
    max_labels = int(params.pop("max_labels", 0))
    min_labels = int(params.pop("min_labels", 0))
    seen_sets = bool(params.pop("seen_sets", params.get("objective") == "subset_accuracy"))
    if isinstance(params.get("costs"), str):
        if costs is None:
            raise ConfigError(f"thresholds {thresholds_spec!r}: the costs file must be loaded first "
                              "(stream_mlc.rules_io.load_costs)")
        params["costs"] = costs
    elif costs is not None:
        params["costs"] = costs
    if isinstance(rules, dict):
        rules = LabelRules.from_dict(rules)
    return DecisionPolicy(build_thresholds(name, params), make_calibrator(calibration_spec), rules=rules,
                          max_labels=max_labels, min_labels=min_labels, explain=explain, audit_step=audit_step,
                          window=window, label_sets=SeenLabelSets() if seen_sets else None)
