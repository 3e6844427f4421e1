"""The objectives adaptive thresholds maximise, and the per-label costs of the ``cost`` one.

Shared by :mod:`stream_mlc.core.adaptive_thresholds` (which uses them) and
:mod:`stream_mlc.core.thresholds` (which re-exports :data:`OBJECTIVES`): kept apart so that
neither of the two imports the other's module to get them.
"""

from __future__ import annotations

from stream_mlc.errors import ConfigError

__all__ = ["OBJECTIVES"]

#: Objective names and the utility each one maximises (see AdaptiveThresholds).
OBJECTIVES = {
    "mix": "balanced",
    "balanced": "balanced",
    "micro_f1": "micro_f1",
    "macro_f1": "f1",
    "f1": "f1",
    "subset_accuracy": "subset_accuracy",
    "hybrid": "hybrid",
    "cost": "cost",
}


def _costs(label, value, cost_fp: float, cost_fn: float) -> tuple[float, float]:
    """A label's (fp, fn) costs from ``{"fp": c, "fn": c}`` (missing keys: the defaults)."""
    if not isinstance(value, dict) or not set(value) <= {"fp", "fn"}:
        raise ConfigError(f"costs of label {label!r} must be {{'fp': c, 'fn': c}}, not {value!r}")
    fp, fn = float(value.get("fp", cost_fp)), float(value.get("fn", cost_fn))
    if fp < 0 or fn < 0:
        raise ConfigError(f"costs of label {label!r} must be >= 0")
    return fp, fn
