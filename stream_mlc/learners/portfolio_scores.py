"""The arithmetic the :class:`~stream_mlc.learners.portfolio.Portfolio` scores its members with.

Reading a member's probabilities for a batch of events as ``(labels, P)`` (through its own
``predict_proba_batch`` when it has one, else row by row), putting ``P``'s columns in the
order of another label list, the mean of the members' probabilities (the virtual member
``mean``), the probability of ``True`` in a River probability dict, and the one-sided paired
t-test that decides promotions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist

import numpy as np


def _paired_t(d: np.ndarray) -> tuple[float, float]:
    """One-sided paired t statistic of ``mean(d) > 0`` and its p-value (normal approximation)."""
    n = len(d)
    if n < 2:
        return 0.0, 1.0
    sd = float(d.std(ddof=1))
    mean = float(d.mean())
    if sd == 0.0:
        return (math.inf, 0.0) if mean > 0 else (0.0, 1.0)
    t = mean / (sd / math.sqrt(n))
    return t, 1.0 - NormalDist().cdf(t)


def _batch(model, xs) -> tuple[list, np.ndarray]:
    batch = getattr(model, "predict_proba_batch", None)
    if batch is not None:
        return batch(xs)
    rows = [model.predict_proba_one(x) for x in xs]
    labels = sorted({label for row in rows for label in row}, key=str)
    return labels, np.array([[_positive(row.get(label)) for label in labels] for row in rows]).reshape(len(xs), -1)


def _aligned(batch: tuple[list, np.ndarray], labels: list) -> np.ndarray:
    """A member's ``P`` with its columns in the order of ``labels`` (0 for labels it does not know)."""
    member_labels, P = batch
    if member_labels == labels:
        return P
    out = np.zeros((P.shape[0], len(labels)))
    column = {label: j for j, label in enumerate(member_labels)}
    for j, label in enumerate(labels):
        if label in column:
            out[:, j] = P[:, column[label]]
    return out


def _mean(probas: list[Mapping], labels: list) -> dict:
    n = len(probas)
    return {label: {True: sum(_positive(p.get(label)) for p in probas) / n} for label in labels}


def _positive(proba) -> float:
    return float(proba.get(True, 0.0)) if proba else 0.0
