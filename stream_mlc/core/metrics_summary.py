"""The metrics of :data:`METRIC_NAMES`, from summed event values and per-label counts.

:func:`_summary` turns the sums of :mod:`stream_mlc.core.metrics_event`'s vectors and the
per-label true positive, false positive and false negative counts of a stream (or of its
window) into the report of :meth:`~stream_mlc.core.metrics.MultiLabelMetrics.report`, by the
conventions of :mod:`stream_mlc.core.metrics`. Pure standard library.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

from stream_mlc.core.metrics_event import (
    _COV,
    _EX_F1,
    _EX_P,
    _EX_R,
    _HAM,
    _JAC,
    _LRAP,
    _NP,
    _NT,
    _ONE_ERR,
    _RL,
    _SUBSET,
    _TP,
)

METRIC_NAMES: tuple[str, ...] = (
    "micro_precision",
    "micro_recall",
    "micro_f1",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "weighted_f1",
    "example_precision",
    "example_recall",
    "example_f1",
    "jaccard",
    "subset_accuracy",
    "hamming_loss",
    "one_error",
    "coverage_error",
    "ranking_loss",
    "lrap",
    "cardinality_true",
    "cardinality_pred",
)


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 of one label; 0.0 on every zero division (River, sklearn)."""
    if not tp:
        return 0.0, 0.0, 0.0
    return tp / (tp + fp), tp / (tp + fn), 2 * tp / (2 * tp + fp + fn)


def _summary(
    sums: Sequence[Any],
    n: int,
    ctp: Mapping[Hashable, int],
    cfp: Mapping[Hashable, int],
    cfn: Mapping[Hashable, int],
    included: Iterable[Hashable],
) -> dict[str, float]:
    if n == 0:
        return dict.fromkeys(METRIC_NAMES, 0.0)
    tp, nT, nP = sums[_TP], sums[_NT], sums[_NP]
    sp = sr = sf = wf = 0.0
    support = n_inc = 0
    for i in included:
        n_inc += 1
        t = ctp[i]
        if t:
            fp, fn = cfp[i], cfn[i]
            f1 = 2 * t / (2 * t + fp + fn)
            sp += t / (t + fp)
            sr += t / (t + fn)
            sf += f1
            wf += (t + fn) * f1
            support += t + fn
        else:
            support += cfn[i]
    return {
        "micro_precision": tp / nP if tp else 0.0,
        "micro_recall": tp / nT if tp else 0.0,
        "micro_f1": 2 * tp / (nT + nP) if tp else 0.0,
        "macro_precision": sp / n_inc if n_inc else 0.0,
        "macro_recall": sr / n_inc if n_inc else 0.0,
        "macro_f1": sf / n_inc if n_inc else 0.0,
        "weighted_f1": wf / support if support else 0.0,
        "example_precision": sums[_EX_P] / n,
        "example_recall": sums[_EX_R] / n,
        "example_f1": sums[_EX_F1] / n,
        "jaccard": sums[_JAC] / n,
        "subset_accuracy": sums[_SUBSET] / n,
        "hamming_loss": sums[_HAM] / n,
        "one_error": sums[_ONE_ERR] / n,
        "coverage_error": sums[_COV] / n,
        "ranking_loss": sums[_RL] / n,
        "lrap": sums[_LRAP] / n,
        "cardinality_true": nT / n,
        "cardinality_pred": nP / n,
    }
