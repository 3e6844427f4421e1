"""The synthetic streams of ``stream-mlc bench drift``: seeded generators with known changes.

:func:`generate` draws one stream with numpy from a seed: 100 features (80 dense normal, 20
sparse: present in 20% of events, exponential values, absent meaning 0) and 14 labels
``y_l = [w_l . x + b_l + noise > 0]`` with ``w_l`` a unit vector over 5 of the first 60
features and ``b_l`` giving a prior between 10% and 40%, and the change of one of the
:data:`SCENARIOS` (or none: ``"stationary"``) from a given event. :func:`events` turns a
stream into what the drift monitor observes, through a cheap online model
(:class:`OnlineLogReg`) that scores each event and then learns it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

N_FEATURES, N_DENSE, N_RELEVANT, N_LABELS = 100, 80, 60, 14
FEATURES = [f"f{i:02d}" for i in range(N_FEATURES)]
LABELS = [f"label{i:02d}" for i in range(N_LABELS)]
SHIFTED_FEATURE = 70  # dense, used by no label


@dataclass
class Scenario:
    name: str
    kind: str  # the alert kind that detects it ("" for stationary)
    n_changed: int = 0


SCENARIOS = [
    Scenario("abrupt concept", "concept_drift", 3),
    Scenario("gradual concept", "concept_drift", 3),
    Scenario("feature shift", "feature_drift", 1),
    Scenario("label prior", "label_drift", 1),
]


@dataclass
class Stream:
    """One generated stream: dense features, labels, and the changed subjects."""

    X: np.ndarray
    present: np.ndarray
    Y: np.ndarray
    changed: list[str] = field(default_factory=list)


def _concept(rng: np.random.Generator) -> np.ndarray:
    w = np.zeros(N_FEATURES)
    idx = rng.choice(N_RELEVANT, 5, replace=False)
    w[idx] = rng.normal(size=5)
    return w / np.linalg.norm(w)


def generate(scenario: str, seed: int, n: int, change_at: int, gradual_width: int) -> Stream:
    """Generate one stream of ``n`` events; the change (if any) starts at ``change_at``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES))
    present = np.ones((n, N_FEATURES), dtype=bool)
    present[:, N_DENSE:] = rng.random((n, N_FEATURES - N_DENSE)) < 0.2
    X[:, N_DENSE:] = np.where(present[:, N_DENSE:], rng.exponential(size=(n, N_FEATURES - N_DENSE)), 0.0)
    W = np.stack([_concept(rng) for _ in range(N_LABELS)])
    priors = rng.uniform(0.1, 0.4, N_LABELS)
    noise = rng.normal(scale=0.3, size=(n, N_LABELS))
    # The bias giving each label its prior (w.x ~ N(0, 1), noise N(0, 0.3^2)).
    scale = np.sqrt(1 + 0.3**2)

    b = np.array([scale * NormalDist().inv_cdf(p) for p in priors])
    changed: list[str] = []
    if scenario == "feature shift":
        X[change_at:, SHIFTED_FEATURE] += 1.0
        changed = [FEATURES[SHIFTED_FEATURE]]
    Z = X @ W.T + b + noise
    if scenario in ("abrupt concept", "gradual concept"):
        labels = rng.choice(N_LABELS, 3, replace=False)
        W2 = W.copy()
        for j in labels:
            W2[j] = _concept(rng)
        Z2 = X @ W2.T + b + noise
        t = np.arange(n)
        if scenario == "abrupt concept":
            new = t >= change_at
        else:
            ramp = np.clip((t - change_at) / gradual_width, 0.0, 1.0)
            new = rng.random(n) < ramp
        Z = np.where(new[:, None], Z2, Z)
        changed = [LABELS[j] for j in labels]
    elif scenario == "label prior":
        j = int(rng.integers(N_LABELS))
        target = min(0.95, 2.5 * priors[j])
        Z[change_at:, j] += scale * (NormalDist().inv_cdf(target) - NormalDist().inv_cdf(priors[j]))
        changed = [LABELS[j]]
    return Stream(X, present, Z > 0, changed)


class OnlineLogReg:
    """One logistic regression per label, plain SGD on dense numpy vectors."""

    def __init__(self, lr: float = 0.02) -> None:
        self.W = np.zeros((N_LABELS, N_FEATURES))
        self.b = np.zeros(N_LABELS)
        self.lr = lr

    def predict(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.W @ x + self.b)))

    def learn(self, x: np.ndarray, p: np.ndarray, y: np.ndarray) -> None:
        g = self.lr * (y - p)
        self.W += np.outer(g, x)
        self.b += g


def events(stream: Stream):
    """The monitor's inputs per event: (features, scores, predicted, truth)."""
    model = OnlineLogReg()
    names = np.array(FEATURES, dtype=object)
    labels = np.array(LABELS, dtype=object)
    for x, present, y in zip(stream.X, stream.present, stream.Y, strict=False):
        features = dict(zip(names[present].tolist(), x[present].tolist(), strict=False))
        p = model.predict(x)
        scores = dict(zip(LABELS, p.tolist(), strict=False))
        predicted = labels[p >= 0.5].tolist()
        truth = frozenset(labels[y].tolist())
        yield features, scores, predicted, truth
        model.learn(x, p, y)
