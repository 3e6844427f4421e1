"""Shared by the tests/test_metrics_*.py files: random multi-label streams and the reference metrics.

``make_stream`` builds a seeded stream (its dense matrices and the events fed to
``MultiLabelMetrics.update``); ``sklearn_full`` / ``sklearn_masked`` compute every metric with
scikit-learn, ``river_metrics`` / ``river_dicts`` / ``mlhat_hamming`` with River as MLHAT2024 does.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from river import metrics as rm
from sklearn.metrics import (
    accuracy_score,
    coverage_error,
    f1_score,
    hamming_loss,
    jaccard_score,
    label_ranking_average_precision_score,
    label_ranking_loss,
    precision_score,
    recall_score,
)

from stream_mlc.core.metrics import METRIC_NAMES, MultiLabelMetrics

TOL = 1e-9


# --------------------------------------------------------------------------- data


class Stream:
    """A random multi-label stream and its dense matrices.

    ``Y`` / ``P`` are the raw true / predicted indicator matrices, ``S`` the scores (0.0 where a
    label is missing from the event's scores), ``M`` the entries counted (label known at the
    event and observed). ``events`` are the keyword arguments of ``MultiLabelMetrics.update``.
    """

    def __init__(self, names, Y, P, S, M, events):
        self.names, self.Y, self.P, self.S, self.M, self.events = names, Y, P, S, M, events

    def __len__(self):
        return len(self.events)

    def feed(self, metric, start=0, stop=None):
        for event in self.events[start:stop]:
            metric.update(**event)
        return metric


def make_stream(
    seed,
    n,
    n_labels,
    density=0.3,
    p_empty=0.1,
    grow=False,
    partial=0.0,
    patterns=None,
    truth_outside_observed=True,
    decimals=1,
    p_missing_score=0.15,
    thresholded=0.5,
):
    """Random stream; seeded.

    grow: labels 2.. appear at random times (labels 0 and 1 are known from the start).
    partial: probability that an event gives ``observed`` (a random subset of the known labels
    of size >= 2, or one of ``patterns`` (lists of label indices) when given).
    decimals: scores are rounded, which makes ties.
    thresholded: probability that the prediction is ``score >= 0.5`` (else independent noise).
    """
    rng = np.random.default_rng(seed)
    L = n_labels
    names = [f"lab{j:03d}" for j in range(L)]
    dens = rng.uniform(0.2, 1.8, size=L) * density
    Y = rng.random((n, L)) < dens
    Y[rng.random(n) < p_empty] = False
    S = np.round(rng.random((n, L)), decimals)
    S[rng.random((n, L)) < p_missing_score] = 0.0  # dropped from the scores dict below
    P = np.where(rng.random(n)[:, None] < thresholded, S >= 0.5, rng.random((n, L)) < density)
    P[rng.random(n) < p_empty] = False
    if grow:
        appear = np.sort(rng.integers(0, max(n // 2, 1), size=L))
        appear[:2] = 0
    else:
        appear = np.zeros(L, dtype=int)
    M = np.zeros((n, L), dtype=bool)
    events = []
    for t in range(n):
        known = [j for j in range(L) if appear[j] <= t]
        Y[t, [j for j in range(L) if j not in known]] = False
        P[t, [j for j in range(L) if j not in known]] = False
        observed = None
        counted = known
        if partial and rng.random() < partial:
            if patterns is not None:
                counted = [j for j in patterns[rng.integers(len(patterns))] if j in known]
            else:
                size = int(rng.integers(2, len(known) + 1))
                counted = sorted(rng.choice(known, size=size, replace=False).tolist())
            if len(counted) < 2:  # sklearn needs two labels per sub-matrix: count them all
                counted = known
        if counted is not known:
            observed = {names[j] for j in counted}
            if not truth_outside_observed:
                Y[t, [j for j in known if j not in counted]] = False
        M[t, counted] = True
        scores = {names[j]: float(S[t, j]) for j in known if S[t, j] != 0.0 or rng.random() < 0.5}
        events.append(
            {
                "truth": {names[j] for j in known if Y[t, j]},
                "predicted": [names[j] for j in known if P[t, j]],
                "scores": scores,
                "labels": [names[j] for j in known],
                "observed": observed,
            }
        )
    return Stream(names, Y, P, S, M, events)


# --------------------------------------------------------------------------- references


def one_error(Y, S):
    """One-error computed directly: the best true label is not strictly above every false one."""
    errors = []
    for y, s in zip(Y, S, strict=True):
        if not y.any() or y.all():
            errors.append(0.0)
        else:
            errors.append(float(s[~y].max() >= s[y].max()))
    return float(np.mean(errors))


def sklearn_full(Y, P, S):
    """Every metric from scikit-learn (one-error directly) on full indicator matrices."""
    Yi, Pi = Y.astype(int), P.astype(int)
    z = {"zero_division": 0}
    return {
        "micro_precision": precision_score(Yi, Pi, average="micro", **z),
        "micro_recall": recall_score(Yi, Pi, average="micro", **z),
        "micro_f1": f1_score(Yi, Pi, average="micro", **z),
        "macro_precision": precision_score(Yi, Pi, average="macro", **z),
        "macro_recall": recall_score(Yi, Pi, average="macro", **z),
        "macro_f1": f1_score(Yi, Pi, average="macro", **z),
        "weighted_f1": f1_score(Yi, Pi, average="weighted", **z),
        "example_precision": precision_score(Yi, Pi, average="samples", **z),
        "example_recall": recall_score(Yi, Pi, average="samples", **z),
        "example_f1": f1_score(Yi, Pi, average="samples", **z),
        "jaccard": jaccard_score(Yi, Pi, average="samples", **z),
        "subset_accuracy": accuracy_score(Yi, Pi),
        "hamming_loss": hamming_loss(Yi, Pi),
        "one_error": one_error(Y, S),
        "coverage_error": coverage_error(Yi, S),
        "ranking_loss": label_ranking_loss(Yi, S),
        "lrap": label_ranking_average_precision_score(Yi, S),
        "cardinality_true": float(Yi.sum(axis=1).mean()),
        "cardinality_pred": float(Pi.sum(axis=1).mean()),
    }


LABEL_BASED = {
    "micro_precision",
    "micro_recall",
    "micro_f1",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "weighted_f1",
}


def sklearn_masked(Y, P, S, M):
    """scikit-learn on the counted entries only (growing label set, partial labels).

    Label-based metrics: each label on the events that count it (binary sklearn metrics per
    column; micro on the concatenation of the counted entries). Example-based and ranking
    metrics: sklearn on the sub-matrix of each group of events counting the same labels,
    averaged with the group sizes as weights.
    """
    n = len(Y)
    z = {"zero_division": 0}
    out = {}
    yt, yp = Y[M].astype(int), P[M].astype(int)
    out["micro_precision"] = precision_score(yt, yp, **z)
    out["micro_recall"] = recall_score(yt, yp, **z)
    out["micro_f1"] = f1_score(yt, yp, **z)
    per = []
    for j in range(Y.shape[1]):
        rows = M[:, j]
        if rows.any():
            a, b = Y[rows, j].astype(int), P[rows, j].astype(int)
            per.append((precision_score(a, b, **z), recall_score(a, b, **z), f1_score(a, b, **z), a.sum()))
    per = np.array(per)
    out["macro_precision"] = per[:, 0].mean()
    out["macro_recall"] = per[:, 1].mean()
    out["macro_f1"] = per[:, 2].mean()
    out["weighted_f1"] = (per[:, 2] * per[:, 3]).sum() / per[:, 3].sum() if per[:, 3].sum() else 0.0
    groups = defaultdict(list)
    for t in range(n):
        groups[tuple(np.flatnonzero(M[t]))].append(t)
    acc = defaultdict(float)
    for cols, rows in groups.items():
        assert len(cols) >= 2, "sklearn needs at least two labels per sub-matrix"
        sub = np.ix_(rows, cols)
        values = sklearn_full(Y[sub], P[sub], S[sub])
        for name, value in values.items():
            if name not in LABEL_BASED:
                acc[name] += value * len(rows)
    for name, total in acc.items():
        out[name] = total / n
    return out


def assert_metrics_close(got, expected, tol=TOL, names=METRIC_NAMES):
    bad = {
        name: (got[name], expected[name])
        for name in names
        if not math.isclose(got[name], expected[name], rel_tol=0.0, abs_tol=tol)
    }
    assert not bad, f"metric mismatches (got, expected): {bad}"


RIVER_NAMES = [
    "micro_precision",
    "micro_recall",
    "micro_f1",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "example_precision",
    "example_recall",
    "example_f1",
    "jaccard",
    "subset_accuracy",
]


def river_metrics():
    """River's multioutput metrics, as used by the MLHAT2024 protocol."""
    return {
        "micro_precision": rm.multioutput.MicroAverage(rm.Precision()),
        "micro_recall": rm.multioutput.MicroAverage(rm.Recall()),
        "micro_f1": rm.multioutput.MicroAverage(rm.F1()),
        "macro_precision": rm.multioutput.MacroAverage(rm.Precision()),
        "macro_recall": rm.multioutput.MacroAverage(rm.Recall()),
        "macro_f1": rm.multioutput.MacroAverage(rm.F1()),
        "example_precision": rm.multioutput.SampleAverage(rm.Precision()),
        "example_recall": rm.multioutput.SampleAverage(rm.Recall()),
        "example_f1": rm.multioutput.SampleAverage(rm.F1()),
        "jaccard": rm.multioutput.SampleAverage(rm.Jaccard()),
        "subset_accuracy": rm.multioutput.ExactMatch(),
    }


def river_dicts(event):
    """River's y_true / y_pred: one boolean per label counted for the event."""
    counted = event["observed"] if event["observed"] is not None else event["labels"]
    truth, predicted = set(event["truth"]), set(event["predicted"])
    return {k: k in truth for k in counted}, {k: k in predicted for k in counted}


def mlhat_hamming(y_true, y_pred):
    """Hamming loss of one event as in the MLHAT2024 code: wrong labels / labels in y_true."""
    return sum(y_pred[k] != v for k, v in y_true.items()) / len(y_true)


def report_of(*events, window=1000):
    metric = MultiLabelMetrics(window=window)
    for event in events:
        metric.update(*event)
    return metric.report()
