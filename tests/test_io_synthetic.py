"""Seeded synthetic streams: determinism, shape, sparsity, drift, learnability."""

from __future__ import annotations

import numpy as np
import pytest

from stream_mlc.errors import ConfigError
from stream_mlc.io import open_dataset
from stream_mlc.io.synthetic import SyntheticConfig, make_concept, parse_spec


def matrices(records, n_features: int, n_labels: int):
    x = np.zeros((len(records), n_features))
    y = np.zeros((len(records), n_labels), dtype=bool)
    for i, r in enumerate(records):
        for name, value in r.features.items():
            x[i, int(name[1:])] = value
        for name in r.labels:
            y[i, int(name[1:])] = True
    return x, y


def test_deterministic_for_a_seed_and_different_across_seeds():
    spec = "synthetic:n=3000,features=8,labels=5,seed=11"
    first = list(open_dataset(spec))
    assert first == list(open_dataset(spec))
    ds = open_dataset(spec)
    assert list(ds) == list(ds) == first  # re-iterable
    other = list(open_dataset(spec.replace("seed=11", "seed=12")))
    assert [r.features for r in other] != [r.features for r in first]
    assert [r.id for r in first[:3]] == ["synthetic-0", "synthetic-1", "synthetic-2"]


def test_a_shorter_stream_is_a_prefix_of_a_longer_one():
    short = list(open_dataset("synthetic:n=1500,features=5,labels=3,seed=2,sparse=0.3"))
    long = list(open_dataset("synthetic:n=4000,features=5,labels=3,seed=2,sparse=0.3"))
    assert short == long[:1500]
    assert list(open_dataset("synthetic:n=4000,features=5,labels=3,seed=2,sparse=0.3", limit=1500)) == short


def test_shape_dense_and_sparse():
    ds = open_dataset("synthetic:n=2000,features=50,labels=14,seed=7,sparse=0")
    assert (ds.name, ds.n_rows, ds.n_features, len(ds.label_names)) == ("synthetic", 2000, 50, 14)
    dense = list(ds)
    assert len(dense) == 2000 and all(len(r.features) == 50 and r.observed is None for r in dense)
    assert all(isinstance(v, float) for v in dense[0].features.values())
    sparse = list(open_dataset("synthetic:n=2000,features=50,labels=14,seed=7,sparse=0.1"))
    nonzeros = [len(r.features) for r in sparse]
    assert abs(np.mean(nonzeros) / 50 - 0.1) < 0.01
    assert all(v != 0.0 for r in sparse for v in r.features.values())
    # label rates lie in the intended 5%-50% band, and rows carry several labels
    _, y = matrices(dense, 50, 14)
    assert 0.02 < y.mean(axis=0).min() and y.mean(axis=0).max() < 0.6
    assert 1.5 < y.sum(axis=1).mean() < 6


def test_labels_are_correlated_when_asked():
    def mean_abs_corr(corr: float) -> float:
        records = list(open_dataset(f"synthetic:n=4000,features=20,labels=8,seed=5,corr={corr}"))
        _, y = matrices(records, 20, 8)
        c = np.corrcoef(y.T.astype(float))
        return float(np.abs(c[np.triu_indices(8, 1)]).mean())

    assert mean_abs_corr(0.9) > 2 * mean_abs_corr(0.0)


def test_learnable_by_logistic_regression_and_drift_breaks_the_drifting_labels():
    linear_model = pytest.importorskip("sklearn.linear_model")
    from sklearn.metrics import roc_auc_score

    spec = "synthetic:n=6000,features=10,labels=6,seed=7,drift_at=4000,drift_labels=2"
    x, y = matrices(list(open_dataset(spec)), 10, 6)
    drifting = make_concept(parse_spec(spec)).drifting
    assert len(drifting) == 2
    for j in range(6):
        model = linear_model.LogisticRegression().fit(x[:3000], y[:3000, j])
        before = roc_auc_score(y[3000:4000, j], model.decision_function(x[3000:4000]))
        after = roc_auc_score(y[4000:, j], model.decision_function(x[4000:]))
        assert before > 0.85, (j, before)
        if j in drifting:
            assert after < before - 0.2, (j, before, after)
        else:
            assert abs(after - before) < 0.05, (j, before, after)


@pytest.mark.parametrize("sparse", ["", ",sparse=0.3"])
def test_drift_changes_only_the_drifting_labels_after_drift_at(sparse):
    base = "synthetic:n=3000,features=6,labels=6,seed=9" + sparse
    plain = list(open_dataset(base))
    drifted = list(open_dataset(base + ",drift_at=1000"))
    drifting = {f"y{j}" for j in make_concept(parse_spec(base + ",drift_at=1000")).drifting}
    assert len(drifting) == 3  # half the labels by default
    assert plain[:1000] == drifted[:1000]
    assert [r.features for r in plain] == [r.features for r in drifted]
    keep = [(r.labels - drifting) for r in plain[1000:]]
    assert keep == [(r.labels - drifting) for r in drifted[1000:]]
    assert [r.labels & drifting for r in plain[1000:]] != [r.labels & drifting for r in drifted[1000:]]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("synthetic:n=abc", "is not a number"),
        ("synthetic:n=1.5", "must be an integer"),
        ("synthetic:foo=1", "unknown key 'foo'"),
        ("synthetic:n", "is not key=value"),
        ("synthetic:sparse=1.5", "sparse must be"),
        ("synthetic:labels=0", "must be >= 1"),
        ("synthetic:labels=3,drift_labels=4", "drift_labels must be in"),
        ("synthetic:n=-1", "n must be >= 0"),
    ],
)
def test_bad_specs(spec, message):
    with pytest.raises(ConfigError, match=message):
        open_dataset(spec)


def test_defaults_and_numbers_in_specs():
    assert parse_spec("synthetic") == SyntheticConfig()
    assert parse_spec("synthetic: n = 1e4 , Seed=3 ,") == SyntheticConfig(n=10_000, seed=3)
    assert open_dataset("synthetic").n_rows == 1000
    assert len(list(open_dataset("synthetic:n=0"))) == 0


# --- synthetic-text: numbers, categories, tags and text ---------------------------------------


def test_text_stream_is_seeded_typed_and_a_prefix_of_longer_streams():
    ds = open_dataset("synthetic-text:n=300,seed=2")
    records = list(ds)
    assert (ds.name, ds.n_rows, ds.text_features, ds.label_names) == (
        "synthetic-text", 300, ("text",), ("y0", "y1", "y2", "y3", "y4", "y5"))
    assert records == list(ds) == list(open_dataset("synthetic-text:n=600,seed=2"))[:300]
    assert records != list(open_dataset("synthetic-text:n=300,seed=3"))
    first = records[0]
    assert [type(first.features[k]) for k in ("amount", "country", "device", "tags", "text")] == [
        float, str, str, list, str]
    assert len({r.features["country"] for r in records}) == 12
    assert all(len(r.features["text"].split()) >= 9 for r in records)
    assert 0.1 < sum(len(r.labels) for r in records) / (300 * 6) < 0.5


def test_text_stream_labels_depend_on_every_kind_of_feature():
    records = list(open_dataset("synthetic-text:n=4000,seed=1,noise=0"))
    y = np.array([[f"y{j}" in r.labels for j in range(6)] for r in records], dtype=float)

    def spread(groups: dict) -> float:
        """The largest difference of a label's rate between two groups of events (of 100 or more)."""
        rates = np.array([y[idx].mean(axis=0) for idx in groups.values() if len(idx) >= 100])
        return float((rates.max(axis=0) - rates.min(axis=0)).max())

    def by(key) -> dict:
        groups: dict = {}
        for i, r in enumerate(records):
            for value in key(r):
                groups.setdefault(value, []).append(i)
        return groups

    amount = np.array([r.features["amount"] for r in records])
    assert spread({"low": np.flatnonzero(amount < -0.5), "high": np.flatnonzero(amount > 0.5)}) > 0.2
    assert spread(by(lambda r: [r.features["country"]])) > 0.3
    assert spread(by(lambda r: r.features["tags"])) > 0.3
    topics = by(lambda r: {w[:2] for w in r.features["text"].split() if w[0] == "t" and w[1].isdigit()})
    assert len(topics) == 8 and spread(topics) > 0.3  # the words of a topic: "t3..."


def test_text_stream_is_learned_through_the_encoder_to_micro_f1_085():
    from stream_mlc.core.engine import Engine, EngineConfig
    from stream_mlc.core.events import FeatureEvent
    from stream_mlc.core.features import EncoderConfig, FeatureEncoder
    from stream_mlc.core.join import JoinLimits

    ds = open_dataset("synthetic-text")  # the default stream: 5000 events, 6 labels
    encoder = FeatureEncoder(EncoderConfig(text_features=ds.text_features))
    engine = Engine.from_config(EngineConfig(labels=ds.label_names, join=JoinLimits(None, None), drift=None))
    for n, record in enumerate(ds):
        engine.score(FeatureEvent(record.id, encoder.encode_one(record.features)), now=float(n))
        engine.learn(engine.join(record.label_event(), now=float(n)))
    assert engine.metrics.report()["cumulative"]["micro_f1"] >= 0.85


@pytest.mark.parametrize(
    "spec, message",
    [("synthetic-text:features=3", "do not apply"), ("synthetic-text:noise=0.7", "noise must be in"),
     ("synthetic-text:n=x", "is not a number")],
)
def test_bad_text_specs(spec, message):
    with pytest.raises(ConfigError, match=message):
        open_dataset(spec)
