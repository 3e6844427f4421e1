"""Where each label sits in the engine's label list, and dicts or sets of labels as arrays in that order.

The decision policy, calibration and thresholds take one array per joined example, aligned
with the engine's labels; building them label by label from dicts costs more than the
numpy work they feed at 100 labels. :class:`LabelIndex` keeps the positions and does it with
one C-level call (``operator.itemgetter``) where it can.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import itemgetter

import numpy as np


class LabelIndex:
    """Positions of labels in a list that only grows (the engine's ``labels``).

    >>> index = LabelIndex()
    >>> labels = []
    >>> for name in ("a", "b", "c"):
    ...     index.add(name, len(labels)); labels.append(name)
    >>> index.values(labels, {"c": 0.3, "a": 0.1, "b": 0.2}).tolist()
    [0.1, 0.2, 0.3]
    >>> index.values(labels, {"b": 0.2}).tolist()  # labels it lacks: 0.0
    [0.0, 0.2, 0.0]
    >>> index.mask(labels, {"c"}).tolist()
    [False, False, True]
    """

    __slots__ = ("position", "_getter")

    def __init__(self) -> None:
        self.position: dict[str, int] = {}
        self._getter: tuple = (0, None)  # (len(labels), itemgetter of them), rebuilt as the list grows

    def add(self, name: str, at: int) -> None:
        self.position[name] = at

    def values(self, labels: Sequence[str], scores: dict) -> np.ndarray:
        """``scores`` in the order of ``labels``, 0.0 for labels it lacks (new since it was made)."""
        n = len(labels)
        if n > 1 and len(scores) >= n:
            if self._getter[0] != n:
                self._getter = (n, itemgetter(*labels))
            try:
                return np.array(self._getter[1](scores), dtype=np.float64)
            except KeyError:
                pass
        return np.fromiter((scores.get(label, 0.0) for label in labels), dtype=np.float64, count=n)

    def mask(self, labels: Sequence[str], names: Iterable[str]) -> np.ndarray:
        """Which of ``labels`` are in ``names``."""
        mask = np.zeros(len(labels), dtype=bool)
        position = self.position
        mask[[position[name] for name in names if name in position]] = True
        return mask
