"""Explanations: the features that contributed most to each predicted label, and a faithfulness check.

:func:`explain` gives, for each predicted label of one event, its ``k`` most contributing
features as ``[(feature, contribution), ...]`` (largest first, positive contributions only:
the features that pushed the label *in*):

* **exact** for linear models, which expose ``contributions(x, labels, top=k)`` (each
  feature's weight x value in the label's logit:
  :meth:`stream_mlc.learners.NativeMLC.contributions`); one matrix product over the event's
  features for all its predicted labels, no extra scoring;
* **occlusion** for the others: the event is scored once more with each feature removed,
  all in one ``predict_proba_batch`` call where the model has it (else one by one), and a
  feature's contribution is the drop in the label's logit without it. It costs one batch of
  ``n_features`` rows per event, so it is for models without a linear form only.

:func:`faithfulness` checks an explanation the way a user would: remove the top features
from the event and score it again; a faithful explanation lowers the label's score.
:func:`faithfulness_check` runs it over many events (what ``evaluate`` reports).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["explain", "explain_linear", "explain_occlusion", "faithfulness", "faithfulness_check", "top_k"]


def top_k(contributions: Mapping, k: int) -> list[tuple[str, float]]:
    """The ``k`` largest positive contributions, largest first (ties by name).

    >>> top_k({"a": 0.5, "b": -1.0, "c": 2.0, "d": 0.5}, 2)
    [('c', 2.0), ('a', 0.5)]
    """
    positive = [(name, value) for name, value in contributions.items() if value > 0]
    positive.sort(key=lambda item: (-item[1], str(item[0])))
    return [(name, float(value)) for name, value in positive[:k]]


def explain(model, features: Mapping, labels: Sequence, k: int) -> dict:
    """``{label: [(feature, contribution), ...]}`` for ``labels``: exact if the model is linear."""
    if k <= 0 or not labels:
        return {}
    if hasattr(model, "contributions"):
        return explain_linear(model, features, labels, k)
    return explain_occlusion(model, features, labels, k)


def explain_linear(model, features: Mapping, labels: Sequence, k: int) -> dict:
    """Exact logit contributions of a linear model (``model.contributions``).

    >>> from stream_mlc.learners import NativeLR
    >>> model = NativeLR()
    >>> for _ in range(30):
    ...     model.learn_one({"spam_word": 1.0, "length": 0.2}, {"spam": True})
    ...     model.learn_one({"length": 1.0}, {"spam": False})
    >>> explain_linear(model, {"spam_word": 1.0, "length": 0.2}, ["spam"], k=1)["spam"][0][0]
    'spam_word'
    """
    shares = model.contributions(features, list(labels), top=k)  # already the top k, largest first
    return {label: list(shares[label].items()) for label in labels}


def explain_occlusion(model, features: Mapping, labels: Sequence, k: int) -> dict:
    """Contributions as the drop in each label's logit when the feature is removed (one batch).

    >>> import random
    >>> from stream_mlc.core.models import make_model
    >>> rng = random.Random(0)
    >>> model = make_model("river-br-ht")  # Hoeffding trees: no linear form
    >>> for _ in range(300):
    ...     x = {"spam_word": float(rng.random() < 0.5), "length": rng.random()}
    ...     model.learn_one(x, {"spam": x["spam_word"] > 0})
    >>> [name for name, _ in explain_occlusion(model, {"spam_word": 1.0, "length": 0.5}, ["spam"], k=2)["spam"]]
    ['spam_word']
    """
    names = list(features)
    if not names:
        return {label: [] for label in labels}
    rows = [dict(features)] + [{f: v for f, v in features.items() if f != name} for name in names]
    scores = _logits(model, rows, labels)
    drop = scores[0][None, :] - scores[1:]  # (features, labels)
    return {label: top_k(dict(zip(names, drop[:, j].tolist(), strict=True)), k) for j, label in enumerate(labels)}


def faithfulness(model, features: Mapping, label, removed: Iterable) -> tuple[float, float]:
    """The label's probability for the event, and without the ``removed`` features."""
    removed = set(removed)
    rows = [dict(features), {f: v for f, v in features.items() if f not in removed}]
    before, after = _probabilities(model, rows, [label])[:, 0].tolist()
    return before, after


def faithfulness_check(model, events: Iterable[Mapping], labels_of, k: int = 3) -> dict:
    """How often removing each explained label's top-``k`` features lowers its score.

    ``labels_of(features)`` gives the labels to explain for an event (say its predicted
    labels). Returns ``{"checked", "lowered", "share_lowered", "mean_drop",
    "mean_logit_drop"}`` (drops in probability, and in logit: saturated probabilities hide
    them). A faithful method lowers the score for nearly every label.
    """
    checked = lowered = 0
    drops = logit_drops = 0.0
    for features in events:
        labels = list(labels_of(features))
        for label, top in explain(model, features, labels, k).items():
            if not top:
                continue
            before, after = faithfulness(model, features, label, [name for name, _ in top])
            checked += 1
            lowered += after < before
            drops += before - after
            logit_drops += _logit(before) - _logit(after)
    n = max(checked, 1)
    return {"checked": checked, "lowered": lowered, "share_lowered": lowered / n, "mean_drop": drops / n,
            "mean_logit_drop": logit_drops / n}


def _probabilities(model, rows: list[dict], labels: Sequence) -> np.ndarray:
    """Rows x labels probabilities: one ``predict_proba_batch`` call if the model has it."""
    batch = getattr(model, "predict_proba_batch", None)
    if batch is not None:
        model_labels, proba = batch(rows)
        column = {label: j for j, label in enumerate(model_labels)}
        out = np.zeros((len(rows), len(labels)))
        for j, label in enumerate(labels):
            if label in column:
                out[:, j] = proba[:, column[label]]
        return out
    return np.array([[(model.predict_proba_one(row).get(label) or {}).get(True, 0.0) for label in labels]
                     for row in rows])


def _logits(model, rows: list[dict], labels: Sequence) -> np.ndarray:
    p = np.clip(_probabilities(model, rows, labels), 1e-9, 1.0 - 1e-9)
    return np.log(p / (1.0 - p))


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1.0 - 1e-9)
    return math.log(p / (1.0 - p))
