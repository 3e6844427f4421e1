"""An ensemble of classifier chains in random orders, vectorised over labels and chains.

:class:`ClassifierChains` (registered as ``chains``) stacks a chained label layer on the
binary relevance model :class:`~stream_mlc.learners.linear.NativeMLC`:

* the base reads the features and gives every label's logit ``a`` (one sparse pass);
* chain ``c`` orders the labels by seeded random keys; label ``j``'s logit in chain ``c`` is
  ``a_j + b_cj + sum_i V_cji y_i`` over the labels ``i`` before ``j`` in that order (a
  strictly "lower-triangular" ``V_c`` once the labels are sorted by key). This is a classifier
  chain whose per-label models share the base's feature weights and add one weight per
  earlier label;
* training (classic CC, teacher forcing): the chained weights learn from the *true* values of
  the earlier labels (their predicted values where a label is unknown for the example), by
  AdaGrad on the logistic loss of each label; the base learns as binary relevance;
* prediction (the chain's forward pass, vectorised): instead of a Python loop over the labels
  in each chain's order, every chain and every label is updated at once, ``sweeps`` times:
  ``P <- sigmoid(a + b + (V * mask) P)`` (one batched matrix product per sweep, starting from
  the base's probabilities). With strictly ordered dependencies, sweep ``s`` makes the first
  ``s`` labels of every chain exact (probabilistic propagation: earlier labels enter with
  their probabilities, as in the mean-field approximation of probabilistic CC); ``sweeps=0``
  means ``len(labels)`` sweeps (exact for every label). The default, 4, costs 4 products per
  event whatever the number of labels, and differs from the exact pass by little because the
  chained weights are small next to the base's logits (measured on yeast: see the README);
* the ensemble's probability is the mean of the chains'.

A new label enters every chain at a random position. Memory is O(chains x labels^2) for the
chained weights and their AdaGrad accumulators (46 MB at 983 labels and 3 chains), plus the
base's. Deterministic for a given ``seed``; pickles mid-stream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from river import base

from stream_mlc.core.models import register
from stream_mlc.learners.linear import NativeMLC
from stream_mlc.learners.neural import label_vector, proba_dict

__all__ = ["ClassifierChains"]

_EPS = 1e-6


class ClassifierChains(base.MultiLabelClassifier):
    """Ensemble of classifier chains over a binary-relevance base: see the module docstring.

    Parameters
    ----------
    chains
        Number of chains (random orders).
    sweeps
        Vectorised forward sweeps at prediction (0: one per label, exact).
    lr
        AdaGrad step of the chained weights.
    base_lr
        Learning rate of the base :class:`NativeMLC`.
    softmax
        Weight of the base's softmax head.
    seed
        Seed of the chain orders.

    Examples
    --------
    >>> model = ClassifierChains(seed=1)
    >>> for i in range(200):
    ...     a = i % 2 == 0
    ...     model.learn_one({"f": float(a), "g": float(i % 3 == 0)}, {"x": a, "y": a, "z": not a})
    >>> model.predict_one({"f": 1.0, "g": 0.0})
    {'x': True, 'y': True, 'z': False}
    """

    def __init__(self, chains: int = 3, sweeps: int = 4, lr: float = 0.1, base_lr: float = 0.3,
                 softmax: float = 0.5, seed: int = 0):
        if chains < 1 or sweeps < 0 or lr <= 0:
            raise ValueError("chains must be >= 1, sweeps >= 0 and lr > 0")
        self.chains = chains
        self.sweeps = sweeps
        self.lr = lr
        self.base_lr = base_lr
        self.softmax = softmax
        self.seed = seed
        self._base = NativeMLC(lr=base_lr, softmax=softmax)
        self._rng = np.random.default_rng(seed)
        self._rows: dict = {}
        self._keys = np.zeros((chains, 0))  # chain order: label i precedes j in chain c iff key[c,i] < key[c,j]
        self._V = np.zeros((chains, 0, 0))  # V[c, j, i]: weight of label i's value in label j's logit
        self._G = np.zeros((chains, 0, 0))  # AdaGrad accumulators of V
        self._b = np.zeros((chains, 0))
        self._Gb = np.zeros((chains, 0))

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"chains": 2, "sweeps": 0}

    @property
    def labels(self) -> list:
        return self._base.labels

    def _mask(self) -> np.ndarray:
        return (self._keys[:, None, :] < self._keys[:, :, None]).astype(np.float64)

    def _sync_labels(self) -> None:
        """Give the labels the base learned since the last call a random place in every chain."""
        labels = self._base.labels
        k = len(labels) - len(self._rows)
        if k <= 0:
            return
        for label in labels[len(self._rows):]:
            self._rows[label] = len(self._rows)
        n = len(labels)
        self._keys = np.concatenate([self._keys, self._rng.random((self.chains, k))], axis=1)
        for name in ("_V", "_G"):
            grown = np.zeros((self.chains, n, n))
            old = getattr(self, name)
            grown[:, : n - k, : n - k] = old
            setattr(self, name, grown)
        self._b = np.concatenate([self._b, np.zeros((self.chains, k))], axis=1)
        self._Gb = np.concatenate([self._Gb, np.zeros((self.chains, k))], axis=1)

    # -- prediction ------------------------------------------------------------------------
    def _chain_proba(self, P0: np.ndarray) -> np.ndarray:
        """Ensemble probabilities (batch x labels) from the base's (batch x labels)."""
        n = P0.shape[1]
        if n == 0 or n > self._V.shape[1]:
            return P0
        A = _logit(P0)[:, None, :] + self._b[None]  # batch x chains x labels
        VM = self._V * self._mask()
        P = np.repeat(P0[:, None, :], self.chains, axis=1)
        for _ in range(self.sweeps or n):
            P = _sigmoid(A + np.einsum("cji,bci->bcj", VM, P))
        return P.mean(axis=1)

    def predict_proba_batch(self, xs: Sequence[Mapping]) -> tuple[list, np.ndarray]:
        """``(labels, P)``, ``P`` of shape (len(xs), len(labels)): the chains' forward pass."""
        labels, P0 = self._base.predict_proba_batch(xs)
        return labels, self._chain_proba(P0)

    def predict_proba_one(self, x: dict, **kwargs: Any) -> dict:
        labels, P = self.predict_proba_batch([x])
        return proba_dict(labels, P[0]) if labels else {}

    # -- learning --------------------------------------------------------------------------
    def learn_one(self, x: dict, y: dict, **kwargs: Any) -> None:
        labels, P0 = self._base.test_then_train_batch([x], [y])
        self._sync_labels()
        n = len(labels)
        p0 = np.zeros(n)
        p0[: P0.shape[1]] = P0[0]  # labels first seen in y enter with probability 0 (logit clipped)
        t, known = label_vector(y, self._rows, n)
        parents = known * t + (1 - known) * p0  # teacher forcing where the truth is known
        M = self._mask()
        Z = _logit(p0)[None, :] + self._b + np.einsum("cji,i->cj", self._V * M, parents)
        g = (_sigmoid(Z) - t[None, :]) * known[None, :]  # chains x labels
        gV = g[:, :, None] * parents[None, None, :] * M
        self._G += gV * gV
        self._V -= self.lr * gV / np.sqrt(self._G + 1e-12)
        self._Gb += g * g
        self._b -= self.lr * g / np.sqrt(self._Gb + 1e-12)

    def reset_label(self, label) -> bool:
        """Forget ``label`` in the base and its chained weights (in and out)."""
        j = self._rows.get(label)
        if j is None or not self._base.reset_label(label):
            return False
        for arr in (self._V, self._G):
            arr[:, j, :] = 0.0
            arr[:, :, j] = 0.0
        self._b[:, j] = 0.0
        self._Gb[:, j] = 0.0
        return True


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(p / (1.0 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


@register("chains")
def chains(chains: int = 3, sweeps: int = 4, lr: float = 0.1, base_lr: float = 0.3, softmax: float = 0.5,
           seed: int = 0) -> ClassifierChains:
    """An ensemble of classifier chains in seeded random orders over NativeMLC."""
    return ClassifierChains(chains=chains, sweeps=sweeps, lr=lr, base_lr=base_lr, softmax=softmax, seed=seed)
