"""An online neural multi-label model in numpy: one shared hidden layer, one sigmoid per label.

:class:`OnlineMLP` (registered as ``neural``) is the seed's multi-head pipeline, trained one
example at a time:

* **Normalised inputs.** :class:`RunningScaler` keeps each feature's running mean and
  variance (Welford, vectorised over the event) and standardises the input; values are
  clipped to +-``clip`` standard deviations so that a burst of outliers cannot saturate the
  hidden layer. A feature absent from an event counts as 0 (sparse streams).
* **One shared hidden layer** of ``hidden`` tanh units, then one logit per label, trained
  with the binary cross-entropy of each label's sigmoid (labels unknown for an example
  contribute no gradient).
* **Rare-label weighting** (``rare_weight`` > 0): a label's positive examples weigh
  ``((1 - r) / r) ** rare_weight`` (capped at ``max_weight``), with ``r`` the label's running
  positive rate: ``rare_weight=0.5`` is the usual square-root re-balancing.
* **Adam** on every parameter, with bias correction.
* **Growth.** A new feature gets a column of the first layer initialised from a seed derived
  from the model's seed and the feature's name (so the order in which features first appear
  does not matter); a new label gets an output row of zeros and a bias at its prior.

Deterministic for a given ``seed``; pickles mid-stream (the scaler's caches are dropped).
Cost per event: O(hidden x (features + labels)).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Any

import numpy as np
from river import base

from stream_mlc.core.models import register

__all__ = ["OnlineMLP", "RunningScaler", "label_vector", "proba_dict"]

_CLIP = 30.0


class RunningScaler:
    """Feature columns for named features, with their running mean and variance.

    Parameters
    ----------
    max_features
        At most this many names get a column; later new names are ignored.
    clip
        Standardised values are clipped to +-``clip``.

    Examples
    --------
    >>> scaler = RunningScaler()
    >>> for v in (1.0, 2.0, 3.0):
    ...     _ = scaler.learn({"a": v})
    >>> scaler.transform(scaler.encode({"a": 3.0})).round(3).tolist()
    [1.225]
    """

    def __init__(self, max_features: int = 100_000, clip: float = 5.0):
        self.max_features = max_features
        self.clip = clip
        self.features: dict = {}
        self.n = np.zeros(0)
        self.mean = np.zeros(0)
        self.m2 = np.zeros(0)
        self._keys: tuple | None = None  # encoding cache: keys of the last event and their columns
        self._cols: np.ndarray | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_keys": None, "_cols": None}

    @property
    def width(self) -> int:
        return len(self.features)

    def admit(self, x: Mapping) -> list:
        """Give columns to the new names of ``x``; returns the names that got one."""
        new = [k for k in x if k not in self.features][: max(self.max_features - len(self.features), 0)]
        for name in new:
            self.features[name] = len(self.features)
        if new:
            pad = np.zeros(len(new))
            self.n, self.mean, self.m2 = (np.concatenate([a, pad]) for a in (self.n, self.mean, self.m2))
            self._keys = None
        return new

    def encode(self, x: Mapping) -> np.ndarray:
        """The raw values of ``x`` as a dense vector over the known columns (absent: 0)."""
        v = np.zeros(len(self.features))
        keys = tuple(x)
        if keys != self._keys or self._cols is None:
            self._cols = np.fromiter(map(self.features.get, keys, repeat(-1)), dtype=np.intp, count=len(keys))
            self._keys = keys
        cols = self._cols
        try:
            values = np.fromiter(x.values(), dtype=np.float64, count=len(keys))
        except (TypeError, ValueError):  # a value that is not a number: read as 0
            values = np.fromiter((_number(value) for value in x.values()), dtype=np.float64, count=len(keys))
        known = cols >= 0
        if known.all():
            v[cols] = values
        else:
            v[cols[known]] = values[known]
        return v

    def learn(self, x: Mapping) -> np.ndarray:
        """Admit new names, update the statistics with ``x`` and return its raw vector."""
        self.admit(x)
        v = self.encode(x)
        self.n += 1.0
        delta = v - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (v - self.mean)
        return v

    def scale(self) -> np.ndarray:
        """1 / standard deviation of every column (1 where the variance is unknown or 0)."""
        var = np.divide(self.m2, self.n, out=np.zeros_like(self.m2), where=self.n > 1)
        return np.where(var > 1e-12, 1.0 / np.sqrt(np.maximum(var, 1e-12)), 1.0)

    def transform(self, V: np.ndarray) -> np.ndarray:
        """Standardise raw vectors (one row each, or one vector), clipped to +-``clip``."""
        width = V.shape[-1]
        out = (V - self.mean[:width]) * self.scale()[:width]
        return np.clip(out, -self.clip, self.clip, out=out)


class OnlineMLP(base.MultiLabelClassifier):
    """Shared hidden layer, one sigmoid output per label, BCE, Adam: see the module docstring.

    Parameters
    ----------
    hidden
        Number of hidden (tanh) units.
    lr
        Adam's step size.
    rare_weight
        Exponent of the positive-class weight ``(1 - r) / r`` of each label (0: no weighting).
    max_weight
        Cap of that weight.
    l2
        L2 penalty on the weights (not the biases).
    seed
        Seed of the weight initialisation.
    max_features
        At most this many feature names get inputs.

    Examples
    --------
    >>> model = OnlineMLP(seed=1)
    >>> for _ in range(100):
    ...     model.learn_one({"a": 1.0, "b": 0.0}, {"x": True, "y": False})
    ...     model.learn_one({"a": 0.0, "b": 1.0}, {"x": False, "y": True})
    >>> model.predict_one({"a": 1.0, "b": 0.0})
    {'x': True, 'y': False}
    """

    def __init__(self, hidden: int = 64, lr: float = 0.005, rare_weight: float = 0.0, max_weight: float = 10.0,
                 l2: float = 0.0, seed: int = 0, max_features: int = 100_000):
        if hidden < 1 or lr <= 0:
            raise ValueError("hidden must be >= 1 and lr > 0")
        self.hidden = hidden
        self.lr = lr
        self.rare_weight = rare_weight
        self.max_weight = max_weight
        self.l2 = l2
        self.seed = seed
        self.max_features = max_features
        self._scaler = RunningScaler(max_features)
        self._labels: list = []
        self._rows: dict = {}
        self._rate = np.zeros(0)  # running positive rate per label (counts below)
        self._seen = np.zeros(0)
        self._params = {"W1": np.zeros((hidden, 0)), "b1": np.zeros(hidden),
                        "W2": np.zeros((0, hidden)), "b2": np.zeros(0)}
        self._m = {k: np.zeros_like(v) for k, v in self._params.items()}
        self._v = {k: np.zeros_like(v) for k, v in self._params.items()}
        self._t = 0

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"hidden": 8, "rare_weight": 0.5}

    @property
    def labels(self) -> list:
        return list(self._labels)

    # -- growth ------------------------------------------------------------------------------
    def _admit_features(self, x: Mapping) -> None:
        new = self._scaler.admit(x)
        if not new:
            return
        cols = np.stack([self._init_column(name) for name in new], axis=1)
        self._grow("W1", cols, axis=1)

    def _init_column(self, name) -> np.ndarray:
        # Seeded by the name: the order in which features first appear does not matter.
        rng = np.random.default_rng([self.seed, zlib.crc32(repr(name).encode())])
        return rng.normal(0.0, 1.0 / math.sqrt(max(self.hidden, 1)), size=self.hidden) * 0.5

    def _admit_labels(self, y: Mapping) -> None:
        new = [label for label in y if label not in self._rows]
        for label in new:
            self._rows[label] = len(self._labels)
            self._labels.append(label)
        if new:
            k = len(new)
            self._grow("W2", np.zeros((k, self.hidden)), axis=0)
            self._grow("b2", np.zeros(k), axis=0)
            self._rate = np.concatenate([self._rate, np.zeros(k)])
            self._seen = np.concatenate([self._seen, np.zeros(k)])

    def _grow(self, key: str, block: np.ndarray, axis: int) -> None:
        self._params[key] = np.concatenate([self._params[key], block], axis=axis)
        for state in (self._m, self._v):
            state[key] = np.concatenate([state[key], np.zeros_like(block)], axis=axis)

    # -- forward / backward ------------------------------------------------------------------
    def _forward(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hidden activations and label probabilities of standardised rows ``X`` (batch x features)."""
        p = self._params
        H = np.tanh(X @ p["W1"][:, : X.shape[1]].T + p["b1"])
        Z = np.clip(H @ p["W2"].T + p["b2"], -_CLIP, _CLIP)
        return H, 1.0 / (1.0 + np.exp(-Z))

    def predict_proba_batch(self, xs: Sequence[Mapping]) -> tuple[list, np.ndarray]:
        """``(labels, P)`` for a batch, ``P`` of shape (len(xs), len(labels))."""
        if not self._labels or not xs:
            return list(self._labels), np.zeros((len(xs), len(self._labels)))
        X = self._scaler.transform(np.stack([self._scaler.encode(x) for x in xs]))
        return list(self._labels), self._forward(X)[1]

    def predict_proba_one(self, x: dict, **kwargs: Any) -> dict:
        labels, P = self.predict_proba_batch([x])
        return proba_dict(labels, P[0])

    def learn_one(self, x: dict, y: dict, **kwargs: Any) -> None:
        self._admit_labels(y)
        self._admit_features(x)
        xs = self._scaler.transform(self._scaler.learn(x))[None, :]
        t, known = label_vector(y, self._rows, len(self._labels))
        self._seen += known
        self._rate += known * (t - self._rate) / np.maximum(self._seen, 1.0)
        H, P = self._forward(xs)
        gz = (P[0] - t) * known * self._weights(t)
        self._step(xs[0], H[0], gz)

    def _weights(self, t: np.ndarray) -> np.ndarray:
        if self.rare_weight <= 0:
            return np.ones_like(t)
        r = np.clip(self._rate, 1e-3, 1.0)
        w = np.minimum(((1.0 - r) / r) ** self.rare_weight, self.max_weight)
        return np.where(t > 0, np.maximum(w, 1.0), 1.0)

    def _step(self, x: np.ndarray, h: np.ndarray, gz: np.ndarray) -> None:
        p = self._params
        gh = (p["W2"].T @ gz) * (1.0 - h * h)
        grads = {"W2": np.outer(gz, h), "b2": gz, "W1": np.outer(gh, x), "b1": gh}
        if self.l2:
            grads["W2"] += self.l2 * p["W2"]
            grads["W1"] += self.l2 * p["W1"]
        self._t += 1
        b1, b2 = 0.9, 0.999
        correction = self.lr * math.sqrt(1.0 - b2**self._t) / (1.0 - b1**self._t)
        for key, g in grads.items():
            m, v = self._m[key], self._v[key]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p[key] -= correction * m / (np.sqrt(v) + 1e-8)

    def reset_label(self, label) -> bool:
        """Forget a label's output weights (its bias, the base rate, stays)."""
        row = self._rows.get(label)
        if row is None:
            return False
        for state in (self._params, self._m, self._v):
            state["W2"][row] = 0.0
        return True


def label_vector(y: Mapping, rows: Mapping, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets and known-mask (both float, length ``n``) of a label dict, in ``rows``' order."""
    t, known = np.zeros(n), np.zeros(n)
    for label, value in y.items():
        j = rows.get(label)
        if j is not None:
            known[j] = 1.0
            t[j] = 1.0 if value else 0.0
    return t, known


def proba_dict(labels: Sequence, p: np.ndarray) -> dict:
    """River's ``{label: {False: 1 - p, True: p}}``."""
    return {label: {False: 1.0 - q, True: q} for label, q in zip(labels, p.tolist(), strict=True)}


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


@register("neural")
def neural(hidden: int = 64, lr: float = 0.005, rare_weight: float = 0.0, max_weight: float = 10.0,
           l2: float = 0.0, seed: int = 0, max_features: int = 100_000) -> OnlineMLP:
    """An online MLP (shared tanh layer, sigmoid heads, BCE, Adam) on standardised inputs."""
    return OnlineMLP(hidden=hidden, lr=lr, rare_weight=rare_weight, max_weight=max_weight, l2=l2, seed=seed,
                     max_features=max_features)
