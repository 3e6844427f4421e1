"""Shared by the tests/test_learners_*.py files: seeded multi-label streams and checks of the native learners."""

from __future__ import annotations

import numpy as np
from river import datasets

from stream_mlc.learners import NativeLR, NativeMLC

CLASSES = [NativeMLC, NativeLR]


def _local_datasets(model, scale: int = 1):
    # River's checks stream its Music data set, which it downloads; Yeast ships with River.
    yield datasets.Yeast().take(50 * scale)


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
