"""What each model family does beyond the shared contract (tests/test_learners_contract.py)."""

from __future__ import annotations

import numpy as np
import pytest

from stream_mlc.learners import ClassifierChains, OnlineMLP, PrunedSets, StreamingKNN
from stream_mlc.learners.chains import _logit, _sigmoid
from stream_mlc.learners.neural import RunningScaler


def _correlated(n: int, seed: int):
    """Labels driven by two latent bits: a = f(x), b = not a, c = a and d (d a noisy feature)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        v = rng.normal(size=4)
        a, d = v[0] + 0.3 * v[1] > 0, v[2] > 0
        rows.append(({f"f{j}": float(v[j]) for j in range(4)}, {"a": bool(a), "b": bool(not a), "c": bool(a and d)}))
    return rows


# -- chains ---------------------------------------------------------------------------------
def _reference_chain_pass(model: ClassifierChains, p0: np.ndarray) -> np.ndarray:
    """The textbook probabilistic forward pass: each chain, label by label in its order."""
    n = len(p0)
    out = np.zeros((model.chains, n))
    for c in range(model.chains):
        p = p0.copy()
        for j in np.argsort(model._keys[c]):
            earlier = model._keys[c] < model._keys[c, j]
            p[j] = _sigmoid(_logit(p0[j]) + model._b[c, j] + model._V[c, j, earlier] @ p[earlier])
        out[c] = p
    return out.mean(axis=0)


def test_the_vectorised_chain_pass_is_the_label_by_label_pass():
    exact, approx = ClassifierChains(chains=3, sweeps=0, seed=4), ClassifierChains(chains=3, sweeps=2, seed=4)
    for x, y in _correlated(400, seed=1):
        exact.learn_one(x, y)
        approx.learn_one(x, y)
    assert np.abs(exact._V).max() > 0.05  # the chained weights did learn something
    for x, _ in _correlated(20, seed=2):
        labels, p0 = exact._base.predict_proba_batch([x])
        reference = _reference_chain_pass(exact, p0[0])
        np.testing.assert_allclose(exact.predict_proba_batch([x])[1][0], reference, rtol=1e-10)
        assert np.abs(approx.predict_proba_batch([x])[1][0] - reference).max() < 0.05


def test_chained_weights_only_read_earlier_labels():
    model = ClassifierChains(chains=4, seed=5)
    for x, y in _correlated(200, seed=3):
        model.learn_one(x, y)
    later_or_self = model._keys[:, None, :] >= model._keys[:, :, None]  # [c, j, i]: i not before j
    assert (model._V[later_or_self] == 0).all()
    orders = {tuple(np.argsort(k)) for k in model._keys}
    assert len(orders) > 1  # random orders differ between chains


# -- pruned sets ----------------------------------------------------------------------------
def test_frequent_label_sets_are_the_classes_and_follow_drift():
    model = PrunedSets(max_classes=4, min_support=3.0, fade=0.99, every=10, br=0.0)
    rng = np.random.default_rng(6)
    for i in range(600):
        first = i < 300
        choice = rng.integers(3)
        labelset = [{"a"}, {"b"}, {"a", "b"}][choice] if first else [{"c"}, {"c", "d"}, {"d"}][choice]
        x = {"f": float(choice) + rng.normal(0, 0.1), "phase": float(first)}
        model.learn_one(x, {label: label in labelset for label in "abcd"})
        if i == 299:
            assert set(model.classes) == {frozenset("a"), frozenset("b"), frozenset("ab")}
    assert set(model.classes) == {frozenset("c"), frozenset("d"), frozenset("cd")}
    assert len(model._counts) <= 4 * model.max_classes


def test_a_rare_set_is_pruned_to_its_largest_frequent_subsets():
    model = PrunedSets(max_classes=8, min_support=5.0, subsets=2, every=5)
    for _ in range(30):
        for labelset in ({"a"}, {"b"}, {"c"}, {"a", "b"}):
            model.learn_one({"f": 1.0}, {label: label in labelset for label in "abc"})
    rows = model._rows
    target = model._targets(frozenset(rows[label] for label in "abc"))  # {a, b, c} is no class
    slots = {model._slots[i]: w for i, w in enumerate(target) if w > 0}
    # The largest subset first, then the next: {a, b} and {c}, equal weights ({a} and {b} are inside {a, b}).
    assert slots == {frozenset({rows["a"], rows["b"]}): 0.5, frozenset({rows["c"]}): 0.5}
    target = model._targets(frozenset({rows["b"], rows["c"]}))
    assert {model._slots[i] for i, w in enumerate(target) if w > 0} == {frozenset({rows["b"]}), frozenset({rows["c"]})}


def test_joint_decoding_predicts_a_known_label_set():
    model = PrunedSets(decode=1.0, joint=1.0, every=10, min_support=2.0)
    for x, y in _correlated(500, seed=7):
        model.learn_one(x, y)
    sets = set(model.classes)
    hits = 0
    for x, y in _correlated(200, seed=8):
        predicted = frozenset(label for label, p in model.predict_proba_one(x).items() if p[True] > 0.5)
        assert predicted in sets
        hits += predicted == frozenset(label for label, v in y.items() if v)
    assert hits / 200 > 0.75


# -- kNN ------------------------------------------------------------------------------------
def test_knn_window_is_bounded_and_cut_after_a_change():
    model = StreamingKNN(k=5, window=300, min_window=40)
    rng = np.random.default_rng(9)
    for i in range(1200):
        v = rng.uniform(-1, 1, size=2)
        flip = i >= 600
        model.learn_one({"a": float(v[0]), "b": float(v[1])}, {"x": bool((v[0] > 0) != flip)})
        assert model.size <= 300
    assert model.cuts >= 1


def _wrong_rows_left(punish: float) -> tuple[float, int]:
    model = StreamingKNN(k=5, window=400, min_window=20, punish=punish)
    rng = np.random.default_rng(10)
    for i in range(800):
        v = rng.uniform(-1, 1, size=2)
        label = bool(v[0] > 0) != (i % 10 == 0)  # one example in ten has its label flipped
        model.learn_one({"a": float(v[0]), "b": float(v[1])}, {"x": label})
    stored = model._Y[: model.size, 0] > 0.5
    return float((stored != (model._X[: model.size, 0] > 0)).mean()), model.punished


def test_knn_punishes_neighbours_with_wrong_labels():
    kept, punished = _wrong_rows_left(punish=1.5)
    kept_without, punished_without = _wrong_rows_left(punish=1e9)
    assert punished > 0 and punished_without == 0
    assert kept_without > 0.08  # about the 10% flipped
    assert kept < 0.8 * kept_without


def test_knn_chooses_a_neighbourhood_size_per_label():
    model = StreamingKNN(k=15, window=600)
    rng = np.random.default_rng(11)
    for _ in range(1500):
        v = rng.uniform(-1, 1, size=2)
        noisy = bool(v[0] > 0) if rng.random() > 0.3 else bool(rng.random() > 0.5)
        sharp = bool(np.sin(8 * v[0]) > 0)
        model.learn_one({"a": float(v[0]), "b": float(v[1])}, {"noisy": noisy, "sharp": sharp})
    best = model._ks[model._brier.argmin(axis=0)]
    k_noisy, k_sharp = best[model._rows["noisy"]], best[model._rows["sharp"]]
    assert k_noisy > k_sharp


# -- neural and its scaler ------------------------------------------------------------------
def test_running_scaler_matches_numpy():
    rng = np.random.default_rng(12)
    scaler = RunningScaler()
    X = rng.normal(3.0, 2.0, size=(500, 3))
    for row in X:
        scaler.learn({"a": row[0], "b": row[1], "c": row[2]})
    np.testing.assert_allclose(scaler.mean, X.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(1 / scaler.scale(), X.std(axis=0), rtol=1e-10)


def test_rare_label_weighting_raises_the_recall_of_a_rare_label():
    rng = np.random.default_rng(13)
    rows = []
    for _ in range(3000):
        v = rng.normal(size=5)
        rows.append(({f"f{j}": float(v[j]) for j in range(5)}, {"rare": bool(v[0] + 0.5 * v[1] > 1.9)}))
    recall = {}
    for weight in (0.0, 0.5):
        model, tp, positives = OnlineMLP(hidden=16, rare_weight=weight, seed=1), 0, 0
        for i, (x, y) in enumerate(rows):
            if i >= 1500 and y["rare"]:
                positives += 1
                tp += model.predict_proba_one(x)["rare"][True] > 0.5
            model.learn_one(x, y)
        recall[weight] = tp / positives
    assert recall[0.5] > recall[0.0] + 0.05


def test_feature_order_does_not_change_the_neural_model():
    a, b = OnlineMLP(hidden=8, seed=2), OnlineMLP(hidden=8, seed=2)
    a.learn_one({"x": 1.0, "y": 2.0}, {"l": True})
    b.learn_one({"y": 2.0, "x": 1.0}, {"l": True})
    probe = {"x": 0.5, "y": -1.0}
    assert a.predict_proba_one(probe)["l"][True] == pytest.approx(b.predict_proba_one(probe)["l"][True], rel=1e-12)
    assert OnlineMLP(hidden=8, seed=3)._init_column("x").tolist() != a._init_column("x").tolist()
