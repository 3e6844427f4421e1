"""The native learners' batch paths: batch prediction and (exact or mini-batch) learning against per-event ones."""

from __future__ import annotations

import numpy as np
import pytest
from learner_streams import CLASSES, _assert_same_state, _proba_vector, _stream

from stream_mlc.learners import NativeMLC


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("density", [1.0, 0.2])
def test_batch_predictions_equal_per_event_predictions(cls, density):
    model = cls()
    rows = _stream(300, seed=1, density=density)
    for x, y in rows[:200]:
        model.learn_one(x, y)
    batch = [x for x, _ in rows[200:]] + [{"unknown": 1.0}, {}, {"f0": 2.0, "unknown": 3.0}]
    labels, P = model.predict_proba_batch(batch)
    assert labels == model.labels
    expected = np.array([_proba_vector(model, x) for x in batch])
    np.testing.assert_allclose(P, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("density", [1.0, 0.2])
def test_exact_batch_learning_is_a_loop_of_learn_one(cls, density):
    rows = _stream(240, seed=2, density=density, new_label_at=100, new_features_at=150)
    one, many, river_many = cls(), cls(), cls()
    for x, y in rows:
        one.learn_one(x, y)
    for i in range(0, len(rows), 16):
        chunk = rows[i : i + 16]
        many.learn_batch([x for x, _ in chunk], [y for _, y in chunk], exact=True)
        river_many.learn_many([x for x, _ in chunk], [y for _, y in chunk])
    _assert_same_state(one, many)
    _assert_same_state(one, river_many)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_mini_batch_of_one_row_is_learn_one(cls):
    rows = _stream(60, seed=3, density=0.5)
    one, many = cls(), cls()
    for x, y in rows:
        one.learn_one(x, y)
        many.test_then_train_batch([x], [y]) if len(many.labels) else many.learn_batch([x], [y])
    probe = [x for x, _ in _stream(20, seed=4, density=0.5)]
    np.testing.assert_allclose(one.predict_proba_batch(probe)[1], many.predict_proba_batch(probe)[1], rtol=1e-9)


@pytest.mark.parametrize("density", [1.0, 0.3])
def test_test_then_train_batch_predicts_before_learning_and_learns_as_learn_batch(density):
    rows = _stream(400, seed=5, density=density)
    a, b = NativeMLC(), NativeMLC()
    for i in range(0, 320, 32):
        xs, ys = [x for x, _ in rows[i : i + 32]], [y for _, y in rows[i : i + 32]]
        before = b.predict_proba_batch(xs)[1] if b.labels else None
        labels, P = a.test_then_train_batch(xs, ys)
        b.learn_batch(xs, ys)
        if before is not None:
            np.testing.assert_allclose(P, before, rtol=1e-12)
        assert labels == b.labels
    _assert_same_state(a, b)


def test_mini_batch_learning_learns_about_as_well_as_per_event_learning():
    rows = _stream(3000, seed=6)
    scores = {}
    for mode in ("event", "batch"):
        model, hits = NativeMLC(), 0
        for i in range(0, len(rows), 32):
            xs, ys = [x for x, _ in rows[i : i + 32]], [y for _, y in rows[i : i + 32]]
            if mode == "event":
                P = np.array([_proba_vector(model, x) if model.labels else np.zeros(5) for x in xs])
                for x, y in zip(xs, ys, strict=True):
                    model.learn_one(x, y)
            else:
                P = model.test_then_train_batch(xs, ys)[1]
            if i >= 1000:
                truth = np.array([[y[f"l{k}"] for k in range(5)] for y in ys])
                hits += int(((P > 0.5) == truth).sum())
        scores[mode] = hits / (2000 * 5)
    assert scores["event"] > 0.85
    assert scores["batch"] > scores["event"] - 0.03
