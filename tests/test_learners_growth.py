"""The native learners as a stream grows: new labels and features, bounds, sparsity, partial labels, resets."""

from __future__ import annotations

import random

import numpy as np
import pytest
from learner_streams import CLASSES, _proba_vector, _stream

from stream_mlc.learners import NativeLR, NativeMLC


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_new_labels_and_features_mid_stream(cls):
    rows = _stream(600, seed=9, new_label_at=200, new_features_at=300)
    model = cls()
    for i, (x, y) in enumerate(rows):
        proba = model.predict_proba_one(x)
        if i == 0:
            assert proba == {}
        elif i <= 200:
            assert set(proba) == {f"l{k}" for k in range(5)}
        else:
            assert set(proba) == {f"l{k}" for k in range(6)}
        model.learn_one(x, y)
    assert model.labels == [f"l{k}" for k in range(6)]
    assert model.n_features == 40
    # The label and the features that came late are learned.
    late = [(x, y) for x, y in _stream(1000, seed=9, new_label_at=0, new_features_at=0)[800:]]
    hits = sum((_proba_vector(model, x)[5] > 0.5) == y["l5"] for x, y in late)
    assert hits / len(late) > 0.75


def test_max_features_bounds_growth():
    model = NativeMLC(max_features=25)
    for x, y in _stream(100, seed=10, n_features=30):
        model.learn_one(x, y)
    assert model.n_features == 25
    assert model.dropped_features > 0
    model.learn_one({"brand-new": 1.0}, {"l0": True})
    assert model.n_features == 25


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_sparse_events_touch_only_their_columns(cls):
    """Work is proportional to the non-zeros: only the columns of the event's features change."""
    model = cls()
    for x, y in _stream(300, seed=11, n_features=2000, density=0.01):
        model.learn_one(x, y)
    assert model.n_features > 1500
    W, C = model._W.copy(), model._C.copy()
    x = {"f3": 1.5, "f77": -2.0, "f1999": 0.5}
    model.predict_proba_one(x)
    model.learn_one(x, {"l0": True, "l1": False})
    touched = {0} | {model._features[name] for name in x}  # column 0 is the bias
    changed_w = set(np.flatnonzero((model._W != W).any(axis=0)).tolist())
    changed_c = set(np.flatnonzero(model._C != C).tolist())
    assert changed_w <= touched and changed_c <= touched
    assert changed_w == touched
    # Prediction reads only those columns: poisoning every other column changes nothing.
    p = _proba_vector(model, x)
    other = np.ones(model._W.shape[1], dtype=bool)
    other[list(touched)] = False
    model._W[:, other] = np.nan
    np.testing.assert_array_equal(_proba_vector(model, x), p)


def test_partial_labels_leave_unknown_labels_alone():
    model = NativeMLC()
    for x, y in _stream(200, seed=12):
        model.learn_one(x, y)
    W = model._W.copy()
    model.learn_one({"f0": 1.0, "f1": -1.0}, {"l0": True, "l3": False})
    changed_rows = set(np.flatnonzero((model._W != W).any(axis=1)).tolist())
    # Binary rows of l0 and l3 (2 heads: rows 0 and 6); the softmax head learns from full examples only.
    assert changed_rows == {0, 6}


def test_reset_label_forgets_one_label():
    model = NativeMLC()
    rows = _stream(500, seed=13)
    for x, y in rows:
        model.learn_one(x, y)
    row = 2 * model.labels.index("l1")
    before = model._W.copy()
    assert model.reset_label("l1") is True
    assert model.reset_label("nope") is False
    np.testing.assert_array_equal(model._W[row : row + 2, 1:], 0.0)
    np.testing.assert_array_equal(model._W[row : row + 2, 0], before[row : row + 2, 0])  # bias kept
    others = np.ones(model._W.shape[0], dtype=bool)
    others[row : row + 2] = False
    np.testing.assert_array_equal(model._W[others], before[others])
    # Fresh steps: the label is learned again quickly, here as its opposite.
    for x, y in rows[:150]:
        model.learn_one(x, {**y, "l1": not y["l1"]})
    hits = sum((_proba_vector(model, x)[1] > 0.5) != y["l1"] for x, y in rows[300:])
    assert hits / 200 > 0.75


def test_the_model_learns_and_the_softmax_head_helps_single_label_streams():
    rng = random.Random(14)
    centres = {f"c{k}": {f"w{rng.randrange(200)}": 1.0 for _ in range(8)} for k in range(10)}
    rows = []
    for _ in range(1500):
        label = rng.choice(sorted(centres))
        words = dict(rng.sample(sorted(centres[label].items()), 4))
        words.update({f"w{rng.randrange(200)}": 1.0 for _ in range(4)})
        rows.append((words, {c: c == label for c in sorted(centres)}))
    accuracy = {}
    for name, model in (("mlc", NativeMLC()), ("lr", NativeLR())):
        hits = 0
        for i, (x, y) in enumerate(rows):
            if i >= 500:
                p = model.predict_proba_one(x)
                hits += max(p, key=lambda label: p[label][True]) == next(k for k, v in y.items() if v)
            model.learn_one(x, y)
        accuracy[name] = hits / 1000
    assert accuracy["mlc"] > 0.9
    assert accuracy["mlc"] >= accuracy["lr"] - 0.01


def test_non_numeric_values_are_one_hot():
    model = NativeMLC()
    for _ in range(30):
        model.learn_one({"colour": "red", "n": 1}, {"warm": True})
        model.learn_one({"colour": "blue", "n": 1}, {"warm": False})
    red = model.predict_proba_one({"colour": "red", "n": 1})["warm"][True]
    blue = model.predict_proba_one({"colour": "blue", "n": 1})["warm"][True]
    assert red > 0.6 > 0.4 > blue
    assert {"colour=red", "colour=blue", "n"} <= set(model._features)
