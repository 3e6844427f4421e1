"""The native learners (NativeMLC, NativeLR): River's conventions, pickling, determinism, registration, inputs."""

from __future__ import annotations

import copy
import pickle

import pytest
import river.checks
from learner_streams import CLASSES, _assert_same_state, _local_datasets, _stream

from stream_mlc.core.models import available, make_model
from stream_mlc.learners import NativeLR, NativeMLC


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_river_check_estimator(cls, monkeypatch):
    monkeypatch.setattr(river.checks, "_yield_datasets", _local_datasets)
    for params in cls._unit_test_params():
        river.checks.check_estimator(cls(**params))


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
