"""Champion and challengers: several models learn the same stream; the best one's predictions are served.

:class:`Portfolio` (registered as ``portfolio``, and as ``auto`` with a chosen line-up) wraps
member models given by their specs, e.g.
``portfolio:members=native-mlc|chains|powerset:br=0.3;decode=0.5,metric=micro_f1,window=500``
(members are separated by ``|``; inside a member's spec, ``;`` stands for ``,``).

* **Shadow learning.** Every member learns every example. Just before it does, its
  prediction for the example (test-then-train at label time) is scored against the truth:
  each member has its own per-label adaptive thresholds
  (:class:`~stream_mlc.core.thresholds.AdaptiveThresholds`, as the engine would give it) and
  its own prequential :class:`~stream_mlc.core.metrics.MultiLabelMetrics`, cumulative and over
  the last ``window`` examples.
* **Serving.** ``predict_proba_one`` / ``predict_proba_batch`` return the champion's
  probabilities (the first member at the start). With ``per_label=True`` each label's
  probability comes from the member with the best faded F1 on that label. With ``align``
  (default), each probability ``p`` is mapped monotonically, piecewise linearly, so that the
  serving member's own threshold ``t`` for the label lands on 0.5 (``p/(2t)`` below it,
  ``1/2 + (p - t)/(2 (1 - t))`` above): the engine's thresholds, learned on the served scores,
  stay right when the champion changes (members' score scales differ widely: the label-set
  member's are 0 or 1). The ranking of each label's scores is the champion's.
* **Ensemble** (``ensemble=True``): one more, virtual, member, ``mean``: the mean of the
  members' probabilities. It costs no learning and often beats every member (stacking by
  averaging); ``start`` picks the first champion (its index; ``len(members)`` is ``mean``).
* **Promotion.** Every ``window // 10`` examples, once ``window // 4`` examples have been
  learned since the last promotion (a wide gap shows early; the test guards against noise),
  each challenger is compared with the champion over the last ``window`` examples: it
  is promoted when its windowed ``metric`` beats the champion's by more than ``margin`` and a
  one-sided paired t-test over per-example scores rejects "no better" at ``confidence``.
  Per-example scores: exact match (``subset_accuracy``), minus the fraction of wrong labels
  (``hamming_loss``), the example's F1 / Jaccard (``example_f1`` / ``jaccard``), and for
  ``micro_f1`` its linearisation ``2 tp - F (2 tp + fp + fn)`` at the champion's windowed
  micro-F1 ``F`` (the mean difference of these has the sign of the micro-F1 difference, to
  first order). A promotion is kept as an event for :meth:`drain_events` (``kind
  "model_promoted"``, with the evidence) and in :meth:`report`.

Everything, the champion included, is pickled with the portfolio: a restored worker serves
the same champion. Cost: the sum of the members', plus O(labels) per member per example.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from river import base

from stream_mlc.core.metrics import MultiLabelMetrics
from stream_mlc.core.models import make_model, register
from stream_mlc.core.models import reset_label as reset_member
from stream_mlc.core.thresholds import make_thresholds
from stream_mlc.errors import ConfigError
from stream_mlc.learners.neural import proba_dict

# Reading, aligning and averaging members' probabilities, and the promotion test (still
# importable from this module, as before the split).
from stream_mlc.learners.portfolio_scores import _aligned, _batch, _mean, _positive
from stream_mlc.learners.portfolio_scores import _paired_t as _paired_t

__all__ = ["Portfolio"]

#: Metrics a challenger can be promoted on, and whether higher is better.
METRICS = {"micro_f1": True, "example_f1": True, "subset_accuracy": True, "jaccard": True, "hamming_loss": False}
_KEPT_PROMOTIONS = 100
_REPORTED = ("subset_accuracy", "hamming_loss", "example_f1", "micro_f1", "macro_f1")


class Portfolio(base.MultiLabelClassifier):
    """Champion/challenger portfolio of multi-label models: see the module docstring.

    Parameters
    ----------
    members
        Member specs separated by ``|`` (``;`` for ``,`` inside a spec).
    metric
        The metric promotions are decided on (see ``METRICS``).
    window
        Examples the comparison runs over; a quarter of it is the least number between two
        promotions.
    margin
        A challenger must beat the champion's windowed metric by more than this.
    confidence
        Confidence of the paired test.
    per_label
        Serve each label from the member with the best faded F1 on it.
    thresholds
        Threshold spec the members are scored with (as the engine's).
    ensemble
        Add the virtual member ``mean`` (the mean of the members' probabilities).
    start
        Index of the first champion.
    align
        Serve scores mapped so that the serving member's own threshold is at 0.5 (see below).

    Examples
    --------
    >>> model = Portfolio(members="native-lr|native-mlc", window=50)
    >>> for i in range(120):
    ...     model.learn_one({"f": float(i % 2)}, {"a": i % 2 == 0, "b": i % 2 == 1})
    >>> sorted(model.report()["members"])
    ['native-lr', 'native-mlc']
    >>> model.report()["champion"]
    'native-lr'
    """

    def __init__(self, members: str = "native-mlc|chains|powerset", metric: str = "micro_f1", window: int = 500,
                 margin: float = 0.01, confidence: float = 0.95, per_label: bool = False,
                 thresholds: str = "adaptive", ensemble: bool = False, start: int = 0, align: bool = True):
        if metric not in METRICS:
            raise ConfigError(f"portfolio metric {metric!r} is not one of {sorted(METRICS)}")
        if window < 10 or not 0.5 <= confidence < 1 or margin < 0:
            raise ConfigError("portfolio needs window >= 10, confidence in [0.5, 1) and margin >= 0")
        specs = [spec.strip().replace(";", ",") for spec in str(members).split("|") if spec.strip()]
        if not specs:
            raise ConfigError("portfolio needs at least one member")
        self.members = members
        self.metric = metric
        self.window = window
        self.margin = margin
        self.confidence = confidence
        self.per_label = per_label
        self.thresholds = thresholds
        self.ensemble = ensemble
        self.start = start
        self.align = align
        self._models = [make_model(spec) for spec in specs]
        # With `ensemble`, one more (virtual) member: the mean of the members' probabilities.
        self._names = _unique(specs) + (["mean"] if ensemble else [])
        n = len(self._names)
        if not 0 <= start < n:
            raise ConfigError(f"portfolio start={start} is not a member index (0..{n - 1})")
        self._thresholds = [make_thresholds(thresholds) for _ in range(n)]
        self._metrics = [MultiLabelMetrics(window=window) for _ in range(n)]
        # Per member, per example in the window: (tp, fp, fn, known labels, true labels).
        self._counts = [deque(maxlen=window) for _ in range(n)]
        self._labels: list = []
        self._index: dict = {}
        self._f1 = np.zeros((n, 3, 0))  # member x (tp, fp, fn) x label, faded
        self.champion = start
        self.learned = 0
        self._since = 0
        self._events: list[dict] = []
        self.promotions: list[dict] = []

    @classmethod
    def _unit_test_params(cls):
        yield {"members": "native-lr|native-mlc", "window": 20}
        yield {"members": "native-mlc|knn:k=3;window=20", "window": 20, "per_label": True}

    @property
    def champion_name(self) -> str:
        return self._names[self.champion]

    @property
    def labels(self) -> list:
        return list(self._labels)

    # -- serving -----------------------------------------------------------------------------
    def predict_proba_batch(self, xs: Sequence[Mapping]) -> tuple[list, np.ndarray]:
        """The champion's ``(labels, P)`` (per label, each label's best member's), aligned (see ``align``)."""
        if not self.per_label:
            labels, P = self._member_batch(self.champion, xs)
            return labels, self._aligned_scores(P, labels, [self.champion] * len(labels))
        labels = self.labels
        P = np.zeros((len(xs), len(labels)))
        best = self._best_per_label()
        for m in np.unique(best):
            member_labels, Pm = self._member_batch(int(m), xs)
            column = {label: j for j, label in enumerate(member_labels)}
            for j in np.flatnonzero(best == m):
                if labels[j] in column:
                    P[:, j] = Pm[:, column[labels[j]]]
        return labels, self._aligned_scores(P, labels, best.tolist())

    def _member_batch(self, m: int, xs) -> tuple[list, np.ndarray]:
        if m < len(self._models):
            return _batch(self._models[m], xs)
        labels = self.labels
        P = np.zeros((len(xs), len(labels)))
        for model in self._models:
            P += _aligned(_batch(model, xs), labels)
        return labels, P / len(self._models)

    def _aligned_scores(self, P: np.ndarray, labels: list, members: list) -> np.ndarray:
        """Map each label's probability monotonically so that its member's own threshold falls on 0.5.

        The engine's thresholds learned on one champion's scores would misplace another's after a
        promotion; aligned scores put every member's decision at the same place.
        """
        if not self.align or not labels:
            return P
        t = np.array([self._thresholds[m].get(label) for m, label in zip(members, labels, strict=True)])
        t = np.clip(t, 1e-6, 1.0 - 1e-6)
        return np.where(P <= t, 0.5 * P / t, 0.5 + 0.5 * (P - t) / (1.0 - t))

    def predict_proba_one(self, x: dict, **kwargs: Any) -> dict:
        labels, P = self.predict_proba_batch([x])
        return proba_dict(labels, P[0])

    def _best_per_label(self) -> np.ndarray:
        tp, fp, fn = self._f1[:, 0], self._f1[:, 1], self._f1[:, 2]
        f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1e-12)
        f1[self.champion] += 1e-9  # ties go to the champion
        return f1.argmax(axis=0)

    # -- learning ----------------------------------------------------------------------------
    def learn_one(self, x: dict, y: dict, **kwargs: Any) -> None:
        for label in y:
            if label not in self._index:
                self._index[label] = len(self._labels)
                self._labels.append(label)
        if self._f1.shape[2] < len(self._labels):
            grow = len(self._labels) - self._f1.shape[2]
            self._f1 = np.concatenate([self._f1, np.zeros((len(self._names), 3, grow))], axis=2)
        truth = {label for label, value in y.items() if value}
        observed = set(y) if len(y) < len(self._labels) else None
        probas = [model.predict_proba_one(x) for model in self._models]
        if self.ensemble:
            probas.append(_mean(probas, self._labels))
        for m, proba in enumerate(probas):
            self._score(m, proba, y, truth, observed)
        for model in self._models:
            model.learn_one(x, y)
        self._f1 *= 1.0 - 1.0 / self.window
        self.learned += 1
        self._since += 1
        # A quarter of the window is enough evidence when the gap is wide (the paired test decides).
        if self._since >= self.window // 4 and self.learned % max(self.window // 10, 1) == 0:
            self._consider_promotion()

    def _score(self, m: int, proba: Mapping, y: Mapping, truth: set, observed) -> None:
        thresholds = self._thresholds[m]
        scores = {label: _positive(proba.get(label)) for label in self._labels}
        predicted = {label for label in y if scores[label] > thresholds.get(label)}
        self._metrics[m].update(truth, predicted, scores, self._labels, observed)
        for label in y:
            thresholds.update(label, scores[label], label in truth)
        tp, fp, fn = len(predicted & truth), len(predicted - truth), len(truth - predicted)
        self._counts[m].append((tp, fp, fn, len(y), len(truth)))
        if self.per_label:
            rows = [self._index[label] for label in y]
            hit = np.array([label in predicted for label in y], dtype=float)
            true = np.array([label in truth for label in y], dtype=float)
            self._f1[m, 0, rows] += hit * true
            self._f1[m, 1, rows] += hit * (1 - true)
            self._f1[m, 2, rows] += (1 - hit) * true

    # -- promotion ---------------------------------------------------------------------------
    def _per_example(self, m: int, champion_f1: float) -> np.ndarray:
        c = np.array(self._counts[m], dtype=float).reshape(-1, 5)
        tp, fp, fn, known, true = c.T
        if self.metric == "subset_accuracy":
            return ((fp + fn) == 0).astype(float)
        if self.metric == "hamming_loss":
            return -(fp + fn) / np.maximum(known, 1)
        if self.metric == "example_f1":
            return 2 * tp / np.maximum(2 * tp + fp + fn, 1)
        if self.metric == "jaccard":
            return tp / np.maximum(tp + fp + fn, 1)
        return 2 * tp - champion_f1 * (2 * tp + fp + fn)  # micro_f1, linearised

    def _consider_promotion(self) -> None:
        sign = 1.0 if METRICS[self.metric] else -1.0
        windows = [metrics.report()["window"][self.metric] * sign for metrics in self._metrics]
        champ = self.champion
        base_scores = self._per_example(champ, windows[champ] if self.metric == "micro_f1" else 0.0)
        best = None
        for m in range(len(self._names)):
            gain = windows[m] - windows[champ]
            if m == champ or gain <= self.margin:
                continue
            d = self._per_example(m, windows[champ] if self.metric == "micro_f1" else 0.0) - base_scores
            t, p = _paired_t(d)
            if p < 1.0 - self.confidence and (best is None or gain > best[1]):
                best = (m, gain, t, p)
        if best is not None:
            self._promote(*best, windows)

    def _promote(self, m: int, gain: float, t: float, p: float, windows: list) -> None:
        old, new = self._names[self.champion], self._names[m]
        sign = 1.0 if METRICS[self.metric] else -1.0
        evidence = {
            "previous": old, "metric": self.metric, "window": len(self._counts[m]),
            "challenger_value": windows[m] * sign, "champion_value": windows[self.champion] * sign,
            "difference": gain, "margin": self.margin, "t": t, "p_value": p, "confidence": self.confidence,
            "learned": self.learned,
        }
        message = (f"{new} replaces {old} as champion: {self.metric} over the last {evidence['window']} examples "
                   f"{evidence['challenger_value']:.4f} vs {evidence['champion_value']:.4f} "
                   f"(better by {gain:.4f} > margin {self.margin}), paired t-test p = {p:.2g}")
        event = {"kind": "model_promoted", "subject": new, "message": message, "evidence": evidence}
        self.champion = m
        self._since = 0
        self._events.append(event)
        self.promotions.append({"learned": self.learned, "from": old, "to": new, "difference": gain, "p_value": p})
        del self.promotions[:-_KEPT_PROMOTIONS]  # bounded memory: the most recent only

    # -- hooks for the engine --------------------------------------------------------------------
    def drain_events(self) -> list[dict]:
        """The promotion events since the last call (JSON-able dicts), oldest first."""
        events, self._events = self._events, []
        return events

    def report(self) -> dict:
        """JSON-able: the champion, the promotions, and each member's metrics (cumulative and windowed)."""
        members = {}
        for name, metrics in zip(self._names, self._metrics, strict=True):
            r = metrics.report()
            members[name] = {"n": r["n"], "window_n": r["window_n"],
                             "cumulative": {k: r["cumulative"][k] for k in _REPORTED},
                             "window": {k: r["window"][k] for k in _REPORTED}}
        out = {"champion": self.champion_name, "metric": self.metric, "learned": self.learned,
               "promotions": list(self.promotions[-20:]), "members": members}
        if self.per_label and self._labels:
            best = self._best_per_label()
            out["per_label"] = {label: self._names[int(best[j])] for j, label in enumerate(self._labels)}
        return out

    def reset_label(self, label) -> bool:
        """Reset ``label`` in every member that can (and its thresholds)."""
        done = False
        for model in self._models:
            # Ours say whether they knew the label; River's binary relevance goes through the registry's helper.
            own = getattr(model, "reset_label", None)
            done |= bool(own(label)) if own is not None else reset_member(model, label)
        for thresholds in self._thresholds:
            thresholds.reset(label)
        return done


def _unique(specs: list[str]) -> list[str]:
    names, seen = [], {}
    for spec in specs:
        seen[spec] = seen.get(spec, 0) + 1
        names.append(spec if seen[spec] == 1 else f"{spec}#{seen[spec]}")
    return names


@register("portfolio")
def portfolio(members: str = "native-mlc|chains|powerset", metric: str = "micro_f1", window: int = 500,
              margin: float = 0.01, confidence: float = 0.95, per_label: bool = False,
              thresholds: str = "adaptive", ensemble: bool = False, start: int = 0, align: bool = True) -> Portfolio:
    """Champion and challengers over member specs (``|``-separated, ``;`` for ``,``)."""
    return Portfolio(members=members, metric=metric, window=window, margin=margin, confidence=confidence,
                     per_label=per_label, thresholds=thresholds, ensemble=ensemble, start=start, align=align)


#: The line-up of ``auto`` (see :func:`auto`): binary relevance (fast, best on sparse text),
#: the neural model (standardised inputs: dense streams whatever their scales), pruned sets
#: with joint decoding (label-set metrics), and their mean.
AUTO_MEMBERS = "native-mlc|neural|powerset:lr=0.03;decode=1.0;joint=1.0"


@register("auto")
def auto(metric: str = "hamming_loss", window: int = 200, margin: float = 0.01, confidence: float = 0.95) -> Portfolio:
    """The portfolio chosen for quality per unit of CPU (README: Models): :data:`AUTO_MEMBERS` and
    their mean, ``native-mlc`` first, promotions on the Hamming loss over 200 examples.

    Chosen by measuring each family on the benchmark streams (``stream-mlc bench models --only
    ablation``): kNN was left out (as good as the neural model on dense streams, 10 to 80 times
    slower on sparse text), and so were chains (no better than ``native-mlc`` at 2 to 8 times its
    cost). The Hamming loss decides: every family competes on it, unlike subset accuracy (label
    sets only) or macro-F1 (rare labels only).
    """
    return Portfolio(members=AUTO_MEMBERS, metric=metric, window=window, margin=margin, confidence=confidence,
                     ensemble=True)
