"""Online label powerset with pruned sets: frequent label sets are the classes of a softmax.

:class:`PrunedSets` (registered as ``powerset``):

* **Label-set counts.** Every fully labelled example counts its label set (a frozenset)
  in a fading table: a set's weight decays by ``fade`` per example, so the table follows
  drift. The table is bounded: beyond ``4 * max_classes`` sets the lightest are dropped.
* **Classes.** Every ``every`` examples, the (at most ``max_classes``) heaviest sets whose
  weight is at least ``min_support`` become the classes; a set that stops being frequent
  frees its slot, a new one takes a free slot with fresh weights and a low bias.
* **Pruning.** An example whose set is not a class learns, as targets, the largest class
  sets contained in it (up to ``subsets`` of them, equal weights): Read's pruned sets.
* **Multinomial logistic regression** over the classes, on standardised inputs
  (:class:`~stream_mlc.learners.neural.RunningScaler`), AdaGrad steps.
* **Outputs.** Each label's probability is its marginal over the class probabilities
  (the sum of the probabilities of the classes containing it), mixed with weight ``br`` with
  a binary relevance :class:`~stream_mlc.learners.linear.NativeMLC` (labels in no class still
  get a probability). With ``decode > 0`` the most probable class's labels are pushed up and
  the others down: ``p <- (1 - decode) p + decode [label in the argmax set]``; at
  ``decode=0.5`` thresholds at 0.5 return exactly the argmax set where the two disagree,
  which is what wins on subset accuracy.

Partially labelled examples (``y`` without every known label) train only the BR part.
Cost per event: O(classes x features + labels). Deterministic; pickles mid-stream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from river import base

from stream_mlc.core.models import register
from stream_mlc.learners.linear import NativeMLC
from stream_mlc.learners.neural import RunningScaler, proba_dict

__all__ = ["PrunedSets"]


class PrunedSets(base.MultiLabelClassifier):
    """Online pruned sets (label powerset over frequent sets) + BR: see the module docstring.

    Parameters
    ----------
    max_classes
        At most this many label sets are classes.
    min_support
        Faded weight a set needs to be a class.
    subsets
        A pruned example learns at most this many of its largest class subsets.
    fade
        Per-example decay of the set weights.
    lr
        AdaGrad step of the softmax.
    br
        Weight of the binary relevance probabilities in the output.
    decode
        Weight of the argmax set's indicator in the output.
    every
        The classes are re-chosen every this many examples.

    Examples
    --------
    >>> model = PrunedSets(every=10, min_support=2)
    >>> for i in range(300):
    ...     a = i % 2 == 0
    ...     model.learn_one({"f": float(a)}, {"x": a, "y": a, "z": not a})
    >>> model.predict_one({"f": 1.0})
    {'x': True, 'y': True, 'z': False}
    >>> sorted(sorted(s) for s in model.classes)
    [['x', 'y'], ['z']]
    """

    def __init__(self, max_classes: int = 64, min_support: float = 5.0, subsets: int = 2, fade: float = 0.999,
                 lr: float = 0.1, br: float = 0.5, decode: float = 0.0, every: int = 50, joint: float = 0.0):
        if max_classes < 1 or not 0 < fade <= 1 or lr <= 0 or not 0 <= br <= 1 or not 0 <= decode <= 1:
            raise ValueError("bad PrunedSets parameters")
        self.max_classes = max_classes
        self.min_support = min_support
        self.subsets = subsets
        self.fade = fade
        self.lr = lr
        self.br = br
        self.decode = decode
        self.every = every
        self.joint = joint
        self._br = NativeMLC()
        self._scaler = RunningScaler()
        self._rows: dict = {}
        self._counts: dict = {}  # frozenset of label rows -> weight (scaled by _unit, lazy fading)
        self._unit = 1.0
        self._slots: list = [None] * max_classes  # slot -> frozenset of label rows, or None (free)
        self._slot_of: dict = {}
        self._member = np.zeros((max_classes, 0))  # slot x label: 1 if the slot's set holds the label
        self._W = np.zeros((max_classes, 1))  # column 0: bias
        self._G = np.full((max_classes, 1), 1e-2)
        self._n = 0

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"br": 0.0, "decode": 0.5, "every": 5, "min_support": 1.0}

    @property
    def labels(self) -> list:
        return list(self._rows)

    @property
    def classes(self) -> list:
        """The label sets that are classes now."""
        names = list(self._rows)
        return [frozenset(names[i] for i in s) for s in self._slots if s is not None]

    # -- label sets --------------------------------------------------------------------------
    def _count(self, labelset: frozenset) -> None:
        self._unit /= self.fade
        self._counts[labelset] = self._counts.get(labelset, 0.0) + self._unit
        if self._unit > 1e100:  # rescale before overflow
            self._counts = {s: w / self._unit for s, w in self._counts.items()}
            self._unit = 1.0
        if len(self._counts) > 4 * self.max_classes:
            keep = sorted(self._counts.items(), key=lambda kv: -kv[1])[: 2 * self.max_classes]
            self._counts = dict(keep)

    def _choose_classes(self) -> None:
        threshold = self.min_support * self._unit
        frequent = [s for s, w in sorted(self._counts.items(), key=lambda kv: (-kv[1], sorted(kv[0])))
                    if w >= threshold][: self.max_classes]
        wanted = set(frequent)
        for slot, s in enumerate(self._slots):
            if s is not None and s not in wanted:  # no longer frequent: free the slot
                self._slots[slot] = None
                del self._slot_of[s]
                self._member[slot] = 0.0
        active_bias = [self._W[i, 0] for i, s in enumerate(self._slots) if s is not None]
        low = min(active_bias, default=0.0)
        for s in frequent:
            if s in self._slot_of:
                continue
            slot = self._slots.index(None)
            self._slots[slot], self._slot_of[s] = s, slot
            self._W[slot] = 0.0
            self._W[slot, 0] = low  # a newcomer starts as unlikely as the least likely class
            self._G[slot] = 1e-2
            self._member[slot] = 0.0
            self._member[slot, list(s)] = 1.0

    def _targets(self, labelset: frozenset) -> np.ndarray | None:
        """Target distribution over the slots: the set itself, or its largest class subsets."""
        slot = self._slot_of.get(labelset)
        target = np.zeros(self.max_classes)
        if slot is not None:
            target[slot] = 1.0
            return target
        inside = [(len(s), -self._counts.get(s, 0.0), i) for i, s in enumerate(self._slots)
                  if s is not None and s <= labelset]
        if not inside:
            return None
        # The largest subsets first, the heavier of equal size first.
        for _, _, i in sorted(inside, key=lambda t: (-t[0], t[1]))[: self.subsets]:
            target[i] = 1.0
        return target / target.sum()

    # -- model -------------------------------------------------------------------------------
    def _class_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (batch x slots); free slots get 0."""
        Z = X @ self._W[:, 1 : X.shape[1] + 1].T + self._W[:, 0]
        active = np.array([s is not None for s in self._slots])
        Z = np.where(active, Z, -np.inf)
        if not active.any():
            return np.zeros_like(Z)
        Z -= Z.max(axis=1, keepdims=True)
        E = np.exp(Z)
        return E / E.sum(axis=1, keepdims=True)

    def _combine(self, Q: np.ndarray, B: np.ndarray) -> np.ndarray:
        n = len(self._rows)
        member = self._member[:, :n]
        if not Q.any():
            return B
        P = Q @ member
        P = (1.0 - self.br) * P + self.br * B if self.br else P
        if self.decode:
            P = (1.0 - self.decode) * P + self.decode * member[self._decoded(Q, B, member)]
        return np.clip(P, 0.0, 1.0)

    def _decoded(self, Q: np.ndarray, B: np.ndarray, member: np.ndarray) -> np.ndarray:
        """The slot of each row's decoded set: argmax of log q(set) + joint * log BR-likelihood(set)."""
        with np.errstate(divide="ignore"):
            score = np.log(Q)
        if self.joint:
            Bc = np.clip(B, 1e-6, 1 - 1e-6)
            score = score + self.joint * (np.log(Bc) @ member.T + np.log1p(-Bc) @ (1.0 - member).T)
        return score.argmax(axis=1)

    def predict_proba_batch(self, xs: Sequence[Mapping]) -> tuple[list, np.ndarray]:
        """``(labels, P)`` for a batch, ``P`` of shape (len(xs), len(labels))."""
        labels = self.labels
        if not labels or not xs:
            return labels, np.zeros((len(xs), len(labels)))
        X = self._scaler.transform(np.stack([self._scaler.encode(x) for x in xs]))
        B = self._br_batch(xs, labels)
        return labels, self._combine(self._class_proba(X), B)

    def _br_batch(self, xs, labels) -> np.ndarray:
        br_labels, B = self._br.predict_proba_batch(xs)
        if br_labels == labels:
            return B
        out = np.zeros((len(xs), len(labels)))
        col = {label: j for j, label in enumerate(br_labels)}
        for j, label in enumerate(labels):
            if label in col:
                out[:, j] = B[:, col[label]]
        return out

    def predict_proba_one(self, x: dict, **kwargs: Any) -> dict:
        labels, P = self.predict_proba_batch([x])
        return proba_dict(labels, P[0])

    def learn_one(self, x: dict, y: dict, **kwargs: Any) -> None:
        self._br.learn_one(x, y)
        for label in y:
            if label not in self._rows:
                self._rows[label] = len(self._rows)
        if self._member.shape[1] < len(self._rows):
            grow = len(self._rows) - self._member.shape[1]
            self._member = np.concatenate([self._member, np.zeros((self.max_classes, grow))], axis=1)
        self._scaler.admit(x)
        width = self._scaler.width + 1
        if self._W.shape[1] < width:
            grow = width - self._W.shape[1]
            self._W = np.concatenate([self._W, np.zeros((self.max_classes, grow))], axis=1)
            self._G = np.concatenate([self._G, np.full((self.max_classes, grow), 1e-2)], axis=1)
        xs = self._scaler.transform(self._scaler.learn(x))
        if len(y) < len(self._rows):  # partially labelled: the label set is unknown
            return
        labelset = frozenset(self._rows[label] for label, value in y.items() if value)
        self._count(labelset)
        self._n += 1
        if self._n % self.every == 0 or self._n == 1:
            self._choose_classes()
        target = self._targets(labelset)
        if target is None:
            return
        g = self._class_proba(xs[None, :])[0] - target  # softmax cross-entropy gradient, per slot
        xb = np.concatenate([[1.0], xs])
        grad = np.outer(g, xb)
        self._G += grad * grad
        self._W -= self.lr * grad / np.sqrt(self._G)

    def reset_label(self, label) -> bool:
        """Reset the label in the BR part and drop the classes holding it (they re-form)."""
        row = self._rows.get(label)
        if row is None:
            return False
        self._br.reset_label(label)
        self._counts = {s: w for s, w in self._counts.items() if row not in s}
        self._choose_classes()
        return True


@register("powerset")
def powerset(max_classes: int = 64, min_support: float = 5.0, subsets: int = 2, fade: float = 0.999,
             lr: float = 0.1, br: float = 0.5, decode: float = 0.0, every: int = 50, joint: float = 0.0) -> PrunedSets:
    """Online pruned sets: a softmax over the frequent label sets, mixed with BR."""
    return PrunedSets(max_classes=max_classes, min_support=min_support, subsets=subsets, fade=fade, lr=lr, br=br,
                      decode=decode, every=every, joint=joint)
