"""Per-label decision thresholds: a label is predicted when its probability exceeds its threshold.

The decision policy (:mod:`stream_mlc.core.decision`) asks ``get(label)`` when it decides,
feeds every joined ``(score, truth)`` pair back with ``update(label, score, truth)``, and
reports ``snapshot(labels)``. The scores are the *calibrated* ones when a calibrator is on,
so a threshold is a probability (and a cost objective's tends to its Bayes value).

:class:`FixedThresholds`
    one threshold for every label, never adapted (0.5: the models' own rule).
:class:`~stream_mlc.core.adaptive_thresholds.AdaptiveThresholds` (in its own module, re-exported here)
    one threshold per label, learned online from the joined pairs: each label keeps a
    fading histogram of its scores (separately for true and false examples, in logit space)
    and its threshold maximises a utility over it (see the class). It depends only on the
    scores the model gave *before* learning each example, so it is prequential: no peeking.

:func:`make_thresholds` builds either from a spec string, like models:
``"fixed"``, ``"fixed:threshold=0.4"``, ``"adaptive"`` (the default),
``"adaptive:objective=hybrid,beta=0.5,fade=0.9995"``, ``"adaptive:objective=cost,cost_fp=1,cost_fn=5"``.

Objectives by the metric they aim at (each one wins its own metric on yeast: README):
``micro_f1``, ``macro_f1``, ``subset_accuracy``, ``mix`` (the default: micro-F1 + macro-F1
- 2 Hamming) and ``cost`` (expected cost, per-label false-positive and false-negative
costs). The older names ``balanced`` (= ``mix``), ``hybrid`` and ``f1`` (= ``macro_f1``)
still work (:mod:`stream_mlc.core.threshold_objectives`).
"""

from __future__ import annotations

from stream_mlc.core.adaptive_thresholds import AdaptiveThresholds
from stream_mlc.core.catalog import build

# OBJECTIVES and _costs live beside AdaptiveThresholds' module; imported here so the names
# stay importable from this module, where they used to be defined.
from stream_mlc.core.threshold_objectives import OBJECTIVES, _costs  # noqa: F401
from stream_mlc.errors import ConfigError

__all__ = ["FixedThresholds", "AdaptiveThresholds", "make_thresholds", "DEFAULT_THRESHOLDS", "OBJECTIVES"]

#: The spec the service uses unless told otherwise.
DEFAULT_THRESHOLDS = "adaptive"


class FixedThresholds:
    """The same threshold for every label, never adapted.

    >>> t = FixedThresholds(0.5)
    >>> t.get("x"), t.update("x", 0.7, False), t.get("x")
    (0.5, None, 0.5)
    """

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    #: Never changes (callers cache thresholds by it).
    version = 0

    def get(self, label: str) -> float:
        return self.threshold

    def update(self, label: str, score: float, truth: bool) -> None:
        """Learn from one joined (score, truth) pair of a label: nothing to learn here."""

    def update_batch(self, labels, scores, truth) -> None:
        """Learn from joined events' pairs: nothing to learn here."""

    def snapshot(self, labels) -> dict[str, float]:
        return {label: self.threshold for label in labels}

    def reset(self, label: str) -> None:
        """Forget a label's history: nothing to forget here."""


def make_thresholds(spec: str = DEFAULT_THRESHOLDS):
    """Thresholds from a spec: ``"fixed[:threshold=t]"`` or ``"adaptive[:param=value,...]"``.

    >>> make_thresholds("fixed:threshold=0.4").get("x")
    0.4
    >>> make_thresholds("adaptive:objective='hybrid',beta=0").beta
    0
    """
    from stream_mlc.core.models import parse_spec

    name, params = parse_spec(spec)
    if isinstance(params.get("costs"), str):
        raise ConfigError(f"costs={params['costs']!r} names a file: load it with stream_mlc.rules_io.load_costs "
                          "and pass the dict to make_decision_policy")
    return build_thresholds(name, params)


def build_thresholds(name: str, params: dict):
    """Thresholds of kind ``name`` (``fixed`` or ``adaptive``) with keyword ``params``."""
    return build("thresholds", name, {"fixed": FixedThresholds, "adaptive": AdaptiveThresholds}, params)
