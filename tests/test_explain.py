"""Explanations: exact for linear models, occlusion for the others, and faithful."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stream_mlc.core.explain import explain, explain_occlusion, faithfulness, faithfulness_check, top_k
from stream_mlc.core.models import make_model
from stream_mlc.io.datasets import open_dataset

STREAM = "synthetic:n=800,features=12,labels=4,seed=5"


def _trained(spec: str, n: int = 600):
    records = list(open_dataset(STREAM))
    model = make_model(spec)
    labels = sorted({label for record in records for label in record.labels})
    for record in records[:n]:
        model.learn_one(record.features, {label: label in record.labels for label in labels})
    return model, labels, [record.features for record in records[n:]]


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def test_linear_contributions_add_up_to_the_logit():
    model, labels, events = _trained("native-lr")
    for features in events[:20]:
        proba = model.predict_proba_one(features)
        for label in labels:
            shares = model.contributions(features, label)
            bias = model._W[model._label_row[label], 0]
            assert sum(shares.values()) + bias == pytest.approx(_logit(proba[label][True]), abs=1e-9)
            assert set(shares) == set(features)


def test_top_contributions_are_the_largest_positive_ones():
    model, labels, events = _trained("native-mlc")
    features = events[0]
    full = model.contributions(features, labels[0])
    top = model.contributions(features, labels[0], top=3)
    assert list(top.items()) == top_k(full, 3)
    assert all(value > 0 for value in top.values())
    assert model.contributions(features, [labels[0], "nope"], top=3) == {labels[0]: top, "nope": {}}


def test_occlusion_equals_the_exact_contributions_of_a_linear_model():
    # Removing a feature from a plain logistic regression lowers its logit by exactly its share.
    model, labels, events = _trained("native-lr")
    for features in events[:10]:
        exact = explain(model, features, labels, k=4)
        occluded = explain_occlusion(model, features, labels, k=4)
        for label in labels:
            assert [name for name, _ in exact[label]] == [name for name, _ in occluded[label]]
            assert np.allclose([v for _, v in exact[label]], [v for _, v in occluded[label]], atol=1e-6)


@pytest.mark.parametrize("spec", ["native-mlc", "river-br-ht"])
def test_removing_the_top_features_lowers_the_label_score(spec):
    model, labels, events = _trained(spec)

    def predicted(features):
        return [label for label, p in model.predict_proba_one(features).items() if p[True] > 0.5]

    check = faithfulness_check(model, events[:60], predicted, k=3)
    assert check["checked"] >= 30
    assert check["share_lowered"] >= (0.99 if spec == "native-mlc" else 0.9)
    assert check["mean_logit_drop"] > 0


def test_faithfulness_of_one_label_and_empty_cases():
    model, labels, events = _trained("native-mlc")
    top = [name for name, _ in explain(model, events[0], [labels[0]], k=2)[labels[0]]]
    before, after = faithfulness(model, events[0], labels[0], top)
    assert before == pytest.approx(model.predict_proba_one(events[0])[labels[0]][True], abs=1e-12)
    assert after < before
    assert explain(model, events[0], [], k=3) == {} and explain(model, events[0], labels, k=0) == {}
    assert explain_occlusion(model, {}, labels[:1], k=3) == {labels[0]: []}
