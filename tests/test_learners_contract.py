"""The contract every native learner keeps: the model families and the portfolio, on River's checks and ours."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import river.checks
from learner_streams import _local_datasets, _stream

from stream_mlc.core.models import available, make_model
from stream_mlc.learners import ClassifierChains, OnlineMLP, Portfolio, PrunedSets, StreamingKNN

FAMILIES = {
    "chains": lambda: ClassifierChains(seed=3),
    "powerset": lambda: PrunedSets(every=10, min_support=2.0),
    "powerset-joint": lambda: PrunedSets(every=10, min_support=2.0, decode=1.0, joint=1.0),
    "knn": lambda: StreamingKNN(k=5, window=150, min_window=30),
    "neural": lambda: OnlineMLP(hidden=16, seed=3),
    "portfolio": lambda: Portfolio(members="native-mlc|knn:k=5;window=150|powerset", window=40, margin=0.0,
                                   confidence=0.6),
    "portfolio-per-label": lambda: Portfolio(members="native-lr|neural:hidden=8", window=40, per_label=True,
                                             ensemble=True),
}
FAMILY_CLASSES = [ClassifierChains, PrunedSets, StreamingKNN, OnlineMLP, Portfolio]


@pytest.mark.parametrize("cls", FAMILY_CLASSES, ids=lambda c: c.__name__)
def test_families_pass_river_check_estimator(cls, monkeypatch):
    monkeypatch.setattr(river.checks, "_yield_datasets", _local_datasets)
    for params in cls._unit_test_params():
        river.checks.check_estimator(cls(**params))


def _p(model, x):
    proba = model.predict_proba_one(x)
    return np.array([proba[label][True] for label in sorted(proba)])


@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("density", [1.0, 0.3])
def test_families_batch_predictions_equal_per_event_predictions(name, density):
    model = FAMILIES[name]()
    rows = _stream(260, seed=21, density=density)
    for x, y in rows[:200]:
        model.learn_one(x, y)
    batch = [x for x, _ in rows[200:]] + [{"unknown": 1.0}, {}]
    labels, P = model.predict_proba_batch(batch)
    assert sorted(labels) == sorted(model.predict_proba_one(batch[0]))
    order = np.argsort(labels)
    expected = np.array([_p(model, x) for x in batch])
    np.testing.assert_allclose(P[:, order], expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_families_pickle_mid_stream_and_behave_identically(name):
    rows = _stream(300, seed=22, density=0.5, new_label_at=150, new_features_at=200)
    model = FAMILIES[name]()
    for x, y in rows[:120]:
        model.predict_proba_one(x)
        model.learn_one(x, y)
    model.predict_proba_one(rows[120][0])  # pickled between scoring an event and learning it
    twin = pickle.loads(pickle.dumps(model))
    for x, y in rows[120:]:
        assert model.predict_proba_one(x) == twin.predict_proba_one(x)
        model.learn_one(x, y)
        twin.learn_one(x, y)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_families_are_deterministic_and_grow_with_labels_and_features(name):
    rows = _stream(300, seed=23, new_label_at=120, new_features_at=180)
    a, b = FAMILIES[name](), FAMILIES[name]()
    for i, (x, y) in enumerate(rows):
        pa = a.predict_proba_one(x)
        assert pa == b.predict_proba_one(x)
        if i == 0:
            assert pa == {}
        elif 5 < i <= 120:
            assert set(pa) == {f"l{k}" for k in range(5)}
        elif i > 121:
            assert set(pa) == {f"l{k}" for k in range(6)}
        a.learn_one(x, y)
        b.learn_one(x, y)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_families_learn_a_linear_concept(name):
    rows = _stream(1200, seed=24, n_features=8)  # few dimensions: the kNN needs no more than its window
    model, hits = FAMILIES[name](), 0
    for i, (x, y) in enumerate(rows):
        if i >= 800:
            p = model.predict_proba_one(x)
            hits += sum((p[label][True] > 0.5) == truth for label, truth in y.items())
        model.learn_one(x, y)
    assert hits / (400 * 5) > 0.8


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_families_accept_partial_labels_reset_labels_and_leave_inputs_alone(name):
    model = FAMILIES[name]()
    for x, y in _stream(150, seed=25):
        model.learn_one(x, y)
    x, y = {"f0": 1.0, "f1": -2.0}, {"l0": True, "l3": False}
    xx, yy = copy.deepcopy(x), copy.deepcopy(y)
    model.predict_proba_one(x)
    model.learn_one(x, y)  # only two labels known for this example
    assert x == xx and y == yy
    assert set(model.predict_proba_one(x)) == {f"l{k}" for k in range(5)}
    assert model.reset_label("l1") is True
    assert model.reset_label("never-seen") is False
    p = model.predict_proba_one(x)
    assert all(0.0 <= q[True] <= 1.0 for q in p.values())


def test_family_specs_are_registered():
    assert {"chains", "powerset", "knn", "neural", "portfolio", "auto"} <= set(available())
    assert make_model("chains:chains=2,sweeps=0").chains == 2
    assert make_model("powerset:decode=1.0,joint=1.0").joint == 1.0
    assert make_model("knn:k=7").k == 7
    assert make_model("neural:hidden=8").hidden == 8
    portfolio = make_model("portfolio:members=native-mlc|chains:chains=2;sweeps=1,metric=example_f1")
    assert portfolio.report()["members"].keys() == {"native-mlc", "chains:chains=2,sweeps=1"}
    assert isinstance(make_model("auto"), Portfolio)
