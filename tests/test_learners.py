"""The native learners: River's conventions, batch paths, pickling, growth, sparsity, drift resets."""

from __future__ import annotations

import copy
import pickle
import random

import numpy as np
import pytest
import river.checks
from river import datasets

from stream_mlc.core.models import available, make_model
from stream_mlc.learners import ClassifierChains, NativeLR, NativeMLC, OnlineMLP, Portfolio, PrunedSets, StreamingKNN

CLASSES = [NativeMLC, NativeLR]


def _local_datasets(model, scale: int = 1):
    # River's checks stream its Music data set, which it downloads; Yeast ships with River.
    yield datasets.Yeast().take(50 * scale)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_river_check_estimator(cls, monkeypatch):
    monkeypatch.setattr(river.checks, "_yield_datasets", _local_datasets)
    for params in cls._unit_test_params():
        river.checks.check_estimator(cls(**params))


def _stream(n: int, seed: int = 0, n_features: int = 30, n_labels: int = 5, density: float = 1.0,
            new_label_at: int | None = None, new_features_at: int | None = None):
    """A seeded multi-label stream of (x, y): linear concepts, sparse if density < 1."""
    rng = np.random.default_rng(seed)
    total_labels = n_labels + (1 if new_label_at is not None else 0)
    total_features = n_features + (10 if new_features_at is not None else 0)
    W = rng.normal(size=(total_labels, total_features))
    rows = []
    for i in range(n):
        width = total_features if new_features_at is not None and i >= new_features_at else n_features
        v = rng.normal(size=width)
        keep = rng.random(width) < density
        x = {f"f{j}": float(v[j]) for j in range(width) if keep[j]}
        z = W[:, :width] @ (v * keep)
        labels = total_labels if new_label_at is not None and i >= new_label_at else n_labels
        y = {f"l{k}": bool(z[k] > 0.5) for k in range(labels)}
        rows.append((x, y))
    return rows


def _assert_same_state(a, b):
    """Equal parameters and statistics, bit for bit."""
    sa, sb = a.__getstate__(), b.__getstate__()
    assert sa.keys() == sb.keys()
    for key, value in sa.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, sb[key], err_msg=key)
        else:
            assert value == sb[key], key


def _proba_vector(model, x):
    p = model.predict_proba_one(x)
    return np.array([p[label][True] for label in model.labels])


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


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_pickling_mid_stream_gives_identical_predictions(cls):
    rows = _stream(400, seed=7, density=0.4, new_label_at=250, new_features_at=300)
    model = cls()
    for x, y in rows[:200]:
        model.predict_proba_one(x)
        model.learn_one(x, y)
    # Pickled between the prediction of an event and the learning of it, too.
    model.predict_proba_one(rows[200][0])
    copy_ = pickle.loads(pickle.dumps(model))
    for x, y in rows[200:]:
        assert model.predict_proba_one(x) == copy_.predict_proba_one(x)
        model.learn_one(x, y)
        copy_.learn_one(x, y)
    _assert_same_state(model, copy_)


def test_deterministic_given_the_stream():
    rows = _stream(300, seed=8, density=0.3)
    a, b = make_model("native-mlc"), make_model("native-mlc")
    for x, y in rows:
        assert a.predict_proba_one(x) == b.predict_proba_one(x)
        a.learn_one(x, y)
        b.learn_one(x, y)


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


def test_registered_specs():
    assert {"native-mlc", "native-lr"} <= set(available())
    model = make_model("native-mlc:lr=0.1,softmax=0.25")
    assert isinstance(model, NativeMLC) and model.lr == 0.1 and model.softmax == 0.25
    assert isinstance(make_model("native-lr"), NativeLR)
    assert make_model("native-lr").softmax == 0.0


def test_inputs_are_not_mutated_or_aliased():
    model = NativeMLC()
    x, y = {"a": 1.0, "b": 2.0}, {"l": True}
    xx, yy = copy.deepcopy(x), copy.deepcopy(y)
    model.predict_proba_one(x)
    model.learn_one(x, y)
    model.learn_batch([x, x], [y, y])
    assert x == xx and y == yy
    state = pickle.dumps(model)
    x["a"] = 1e9
    assert pickle.dumps(model) == state


# -- The contract every native learner keeps (the model families and the portfolio) ---------------

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
