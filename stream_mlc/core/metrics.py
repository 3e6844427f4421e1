"""Incremental multi-label metrics: cumulative over the stream and over a sliding window.

:class:`MultiLabelMetrics` is updated once per joined event (a stored prediction joined with
its delayed truth) by the live service, and once per replayed event by ``stream-mlc evaluate``.
Each update costs O(L) (O(L log L) for the ranking metrics, which sort the scores of the
event), where L is the number of labels counted for that event; the sliding window subtracts
the compact contribution of the event leaving it. Pure standard library; pickle-able.

Metrics
-------
Label-based (from per-label true/false positive and false negative counts):
``micro_precision``, ``micro_recall``, ``micro_f1`` (counts pooled over labels),
``macro_precision``, ``macro_recall``, ``macro_f1`` (unweighted mean of the per-label
values: macro F1 is the mean of per-label F1, not the F1 of macro precision and recall),
``weighted_f1`` (per-label F1 weighted by support, the number of events a label is true in).

Example-based (computed on each event, then averaged over events): ``example_precision``,
``example_recall``, ``example_f1``, ``jaccard`` (|T & P| / |T | P|, the example-based
accuracy), ``subset_accuracy`` (exact match), ``hamming_loss``, ``cardinality_true`` and
``cardinality_pred`` (mean number of true / predicted labels per event), and the ranking
metrics, computed from ``scores``: ``one_error``, ``coverage_error``, ``ranking_loss``,
``lrap`` (label ranking average precision).

Conventions
-----------
They reproduce River's ``metrics.multioutput`` wrappers (``MicroAverage``, ``MacroAverage``,
``SampleAverage`` of ``Precision``/``Recall``/``F1``/``Jaccard``, and ``ExactMatch``), which
the MLHAT2024 prequential results were computed with, and scikit-learn's metrics called with
``zero_division=0``. River catches every ``ZeroDivisionError`` and returns 0.0; so:

1. **Zero division gives 0.0.** A precision with no predicted positive, a recall with no true
   positive, an F1 or Jaccard with no true and no predicted positive are all 0.0, at every
   level (per label, micro, per event). sklearn: ``zero_division=0``.
2. **An event with no true and no predicted label** scores 0.0 on ``example_precision``,
   ``example_recall``, ``example_f1`` and ``jaccard`` (River's ``SampleAverage(F1())`` gives
   0 for it, and so does sklearn's ``average="samples"`` with ``zero_division=0``), but 1.0 on
   ``subset_accuracy`` (the two empty sets match: River's ``ExactMatch``, sklearn's
   ``accuracy_score``) and 0.0 on ``hamming_loss``.
3. **Macro averages run over every label counted so far**, including a label that was never
   true nor predicted: it contributes 0.0 to macro precision, recall and F1 (River's
   ``MacroAverage`` keeps one metric per label that ever appeared in ``y_true``; sklearn's
   ``average="macro"`` averages over all columns, with ``zero_division=0``). Early in a
   stream this keeps macro scores low: it is what the published numbers do.
4. **weighted_f1** weights each label's F1 by its support; it is 0.0 when no label has any
   support yet (sklearn ``average="weighted"``, ``zero_division=0``).
5. **Growing label set.** A label's counts start with the first event that counts it (the
   first event whose ``labels``, or ``observed``, includes it); earlier events are not
   counted as negatives for it. ``hamming_loss`` of an event is its number of wrong labels
   divided by the number of labels counted *for that event*, then averaged over events (the
   MLHAT ``HammingLoss``; with a fixed label set it equals sklearn's ``hamming_loss``).
6. **Partial labels.** When ``observed`` is given only the labels in it are counted for that
   event, by every metric (per-label counts, micro, macro inclusion, the example-based and
   ranking metrics, the cardinalities, the Hamming denominator). True or predicted labels
   outside ``observed`` are ignored for that event. An event with nothing counted (an empty
   ``observed``) still counts as an event, as one with no true and no predicted label: see
   2 and 7; its Hamming loss is 0.0.
7. **Ranking metrics follow scikit-learn** (``coverage_error``, ``label_ranking_loss``,
   ``label_ranking_average_precision_score``), including its treatment of ties and of
   degenerate events. A label missing from ``scores`` scores 0.0. Ties count against the
   ranking: a label's rank is the number of labels scoring at least as much;
   ``coverage_error`` is the rank of the lowest-scored true label (so it lies in 1..L, not
   0..L-1); ``ranking_loss`` is the fraction of (true, false) label pairs with the false
   label scoring at least as high. An event with **no true label** has coverage 0,
   ranking loss 0 and lrap 1, as in sklearn (the ranking is taken to be perfect, there is
   nothing to rank); an event whose labels are **all true** has ranking loss 0, lrap 1 and
   coverage L. ``one_error`` (not in sklearn) is 1 when the top-scored label is not true;
   for consistency with the above it is 1 when some false label scores at least as high as
   the best true label (ties count against), and 0 for an event with no true label.
8. **Empty metrics.** Before any event (and for an empty window), every metric is 0.0
   (River's ``get()`` on a fresh metric gives 0.0 too, except ``MacroAverage``, which
   raises ``statistics.StatisticsError``).
9. The window over the last ``window`` events equals the cumulative metrics of a fresh
   object fed only those events (its macro averages run over the labels counted in the
   window). Its floating-point sums are re-added from scratch every ``window`` evictions, so
   rounding errors do not accumulate over a long-running stream.

Per-label F1 is computed as 2 tp / (2 tp + fp + fn) (sklearn's form); River's 2 p r / (p + r)
is the same number up to rounding. Scores must not be NaN. Labels may be any hashable value
(strings in the service); repeated labels in an argument count once.

Reproducing the MLHAT2024 numbers: its evaluation loop (a modified River
``progressive_val_score``) skips the metric update for an event whose prediction is an empty
dict or None (a model that has not learned anything yet); a caller reproducing it must skip
the same events rather than pass an empty ``predicted``. Its Hamming loss is its own
``HammingLoss`` (River 0.26 has none): wrong labels over labels in ``y_true``, averaged over
events, as here.

Modules: :mod:`stream_mlc.core.metrics_event` computes what one event adds to the sums,
:mod:`stream_mlc.core.metrics_window` takes the oldest event out of the window, and
:mod:`stream_mlc.core.metrics_summary` turns sums and counts into the metrics; this module
keeps the state that checkpoints pickle, in the class they name.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from operator import add
from typing import Any

from stream_mlc.core.metrics_event import _NP, _NT, _TP, _ZERO_SUMS, _event_values
from stream_mlc.core.metrics_summary import METRIC_NAMES, _prf, _summary
from stream_mlc.core.metrics_window import _SlidingWindow

__all__ = ["MultiLabelMetrics", "METRIC_NAMES"]

_STATE_VERSION = 1


class MultiLabelMetrics(_SlidingWindow):
    """Multi-label metrics over a stream, cumulative and over the last ``window`` events.

    See the module docstring for the metrics and the edge-case conventions (they match River's
    ``metrics.multioutput`` and scikit-learn with ``zero_division=0``).

    Parameters
    ----------
    window
        Number of most recent events the windowed metrics are computed over (at least 1).

    Examples
    --------
    >>> import random
    >>> from stream_mlc.core.metrics import MultiLabelMetrics
    >>> rng = random.Random(7)
    >>> labels = ["news", "sport", "tech"]
    >>> metrics = MultiLabelMetrics(window=50)
    >>> for _ in range(200):
    ...     truth = {label for label in labels if rng.random() < 0.4}
    ...     scores = {label: round(rng.random(), 2) for label in labels}
    ...     predicted = {label for label, s in scores.items() if s >= 0.5}
    ...     metrics.update(truth, predicted, scores, labels)
    >>> metrics.n
    200
    >>> report = metrics.report()
    >>> report["window_n"]
    50
    >>> sorted(report["per_label"])
    ['news', 'sport', 'tech']
    >>> 0.0 <= report["cumulative"]["micro_f1"] <= 1.0
    True

    An event with no true and no predicted label (River's and sklearn's conventions):

    >>> empty = MultiLabelMetrics()
    >>> empty.update(set(), set(), {}, ["a", "b"])
    >>> c = empty.report()["cumulative"]
    >>> c["example_f1"], c["subset_accuracy"], c["hamming_loss"], c["lrap"]
    (0.0, 1.0, 0.0, 1.0)
    """

    __slots__ = (
        "_window",
        "_n",
        "_index",
        "_names",
        "_ctp",
        "_cfp",
        "_cfn",
        "_wtp",
        "_wfp",
        "_wfn",
        "_csum",
        "_wsum",
        "_events",
        "_wk",
        "_wexpl",
        "_evictions",
    )

    def __init__(self, window: int = 1000) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be a positive integer, got {window!r}")
        self._window = window
        self._n = 0
        self._index: dict[Hashable, int] = {}  # label -> index, in order of first count
        self._names: list[Hashable] = []  # index -> label
        self._ctp: dict[Hashable, int] = {}  # cumulative per-label counts
        self._cfp: dict[Hashable, int] = {}
        self._cfn: dict[Hashable, int] = {}
        self._wtp: dict[Hashable, int] = {}  # windowed per-label counts
        self._wfp: dict[Hashable, int] = {}
        self._wfn: dict[Hashable, int] = {}
        self._csum: list[Any] = list(_ZERO_SUMS)
        self._wsum: list[Any] = list(_ZERO_SUMS)
        # One record per event in the window: (sums, true positives, false positives, false
        # negatives, counted), where `counted` is an int k when the event counted exactly the
        # first k labels (the usual case: every label known so far), else the tuple of the
        # labels it counted.
        self._events: deque[tuple] = deque()
        self._wk: dict[int, int] = {}  # k -> number of window events that counted labels [0, k)
        self._wexpl: dict[Hashable, int] = {}  # label -> window events counting it explicitly
        self._evictions = 0

    # ------------------------------------------------------------------ properties

    @property
    def n(self) -> int:
        """Number of events counted since the start (cumulative)."""
        return self._n

    @property
    def window(self) -> int:
        """Size of the sliding window, in events."""
        return self._window

    # ------------------------------------------------------------------ update

    def update(
        self,
        truth: Collection[Hashable],
        predicted: Collection[Hashable],
        scores: Mapping[Hashable, float],
        labels: Iterable[Hashable],
        observed: Collection[Hashable] | None = None,
    ) -> None:
        """Count one event.

        Parameters
        ----------
        truth
            The positive true labels of the event.
        predicted
            The labels predicted positive.
        scores
            Label -> score (probability); a missing label scores 0.0. Used by the ranking
            metrics only.
        labels
            Every label known at this event (the label universe). A true or predicted label
            missing from it is added to it for this event.
        observed
            None: every label in ``labels`` is known, those not in ``truth`` are negative.
            Otherwise only the labels in ``observed`` are counted for this event (partial
            labels); true and predicted labels outside it are ignored.
        """
        T = truth if type(truth) is set or type(truth) is frozenset else set(truth)
        P = predicted if type(predicted) is set or type(predicted) is frozenset else set(predicted)
        if observed is None:
            E = labels if type(labels) is set or type(labels) is frozenset else set(labels)
            if not (T <= E and P <= E):
                E = E | T | P  # lenient: never mutate the caller's set
        else:
            E = observed if type(observed) is set or type(observed) is frozenset else set(observed)
            if not T <= E:
                T = T & E
            if not P <= E:
                P = P & E
        index = self._index
        m = len(E)
        if m > len(index) or not E <= index.keys():
            self._register(E, labels)

        TP = T & P
        vals = _event_values(T, P, TP, E, scores)
        tp, nT, nP = vals[_TP], vals[_NT], vals[_NP]
        self._csum = list(map(add, self._csum, vals))
        self._wsum = list(map(add, self._wsum, vals))
        self._n += 1

        # ---- per-label counts
        if tp:
            tps = tuple(TP)
            ctp, wtp = self._ctp, self._wtp
            for label in tps:
                ctp[label] += 1
                wtp[label] += 1
        else:
            tps = ()
        if nP > tp:
            fps = tuple(P - TP) if tp else tuple(P)
            cfp, wfp = self._cfp, self._wfp
            for label in fps:
                cfp[label] += 1
                wfp[label] += 1
        else:
            fps = ()
        if nT > tp:
            fns = tuple(T - TP) if tp else tuple(T)
            cfn, wfn = self._cfn, self._wfn
            for label in fns:
                cfn[label] += 1
                wfn[label] += 1
        else:
            fns = ()

        # ---- which labels this event counted (for the window's macro averages)
        if m == len(index):  # E is a subset of the registered labels of the same size
            counted: int | tuple[Hashable, ...] = m
            wk = self._wk
            wk[m] = wk.get(m, 0) + 1
        else:
            counted = tuple(E)
            wexpl = self._wexpl
            for label in counted:
                wexpl[label] = wexpl.get(label, 0) + 1

        events = self._events
        events.append((vals, tps, fps, fns, counted))
        if len(events) > self._window:
            self._evict(events.popleft())

    def _register(self, E: Collection[Hashable], labels: Iterable[Hashable]) -> None:
        """Give an index to every label of ``E`` not seen yet, in a deterministic order."""
        index, names = self._index, self._names
        new = [label for label in E if label not in index]
        order = {}
        if isinstance(labels, Sequence):
            for i, label in enumerate(labels):
                order.setdefault(label, i)
        big = len(order)
        new.sort(key=lambda label: (order.get(label, big), str(label)))
        for label in new:
            index[label] = len(names)
            names.append(label)
            for counts in (self._ctp, self._cfp, self._cfn, self._wtp, self._wfp, self._wfn):
                counts[label] = 0

    # ------------------------------------------------------------------ report

    def report(self) -> dict:
        """The metrics, cumulative and over the window, and per label (cumulative).

        Returns
        -------
        dict
            ``{"n": int, "window_n": int, "cumulative": {name: float}, "window": {name:
            float}, "per_label": {label: {"precision": float, "recall": float, "f1": float,
            "support": int}}}``, with the metric names of :data:`METRIC_NAMES`, in that order.
        """
        names = self._names
        cumulative = _summary(self._csum, self._n, self._ctp, self._cfp, self._cfn, names)
        kmax = max(self._wk, default=0)
        included = names[:kmax]
        if self._wexpl:
            index = self._index
            extra = sorted(index[label] for label in self._wexpl if index[label] >= kmax)
            included.extend(names[i] for i in extra)
        window = _summary(self._wsum, len(self._events), self._wtp, self._wfp, self._wfn, included)
        per_label = {}
        ctp, cfp, cfn = self._ctp, self._cfp, self._cfn
        for label in names:
            tp, fp, fn = ctp[label], cfp[label], cfn[label]
            p, r, f1 = _prf(tp, fp, fn)
            per_label[label] = {"precision": p, "recall": r, "f1": f1, "support": tp + fn}
        return {
            "n": self._n,
            "window_n": len(self._events),
            "cumulative": cumulative,
            "window": window,
            "per_label": per_label,
        }

    # ------------------------------------------------------------------ pickling

    def __getstate__(self) -> dict:
        state = {name: getattr(self, name) for name in self.__slots__}
        state["_version"] = _STATE_VERSION
        return state

    def __setstate__(self, state: dict) -> None:
        version = state.get("_version")
        if version != _STATE_VERSION:
            raise ValueError(f"unsupported MultiLabelMetrics state version {version!r}")
        for name in self.__slots__:
            setattr(self, name, state[name])

    def __repr__(self) -> str:
        return (
            f"MultiLabelMetrics(window={self._window}, n={self._n}, "
            f"window_n={len(self._events)}, labels={len(self._names)})"
        )
