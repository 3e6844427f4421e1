"""Reading the decision policy's files: label rules and per-label costs (I/O stays out of the core).

``STREAM_MLC_RULES=rules.json`` names a rules file (see :mod:`stream_mlc.core.rules` for its
form); ``STREAM_MLC_THRESHOLDS=adaptive:objective=cost,costs=costs.json`` names a costs file
``{"label": {"fp": 1, "fn": 5}, ...}``. The worker's bootstrap and ``evaluate`` call
:func:`decision_policy_from_settings`, which reads them and builds the policy.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from stream_mlc.core.decision import DecisionPolicy, make_decision_policy
from stream_mlc.core.models import parse_spec
from stream_mlc.core.rules import LabelRules
from stream_mlc.errors import ConfigError

__all__ = ["load_rules", "load_costs", "costs_path", "decision_policy_from_settings"]


def _read_json(path: str | Path, what: str):
    try:
        return orjson.loads(Path(path).read_bytes())
    except OSError as error:
        raise ConfigError(f"cannot read the {what} file {str(path)!r}: {error}") from error
    except orjson.JSONDecodeError as error:
        raise ConfigError(f"the {what} file {str(path)!r} is not JSON: {error}") from error


def load_rules(path: str | Path) -> LabelRules:
    """The label rules in a JSON file."""
    return LabelRules.from_dict(_read_json(path, "rules"))


def load_costs(path: str | Path) -> dict:
    """Per-label costs from a JSON file ``{label: {"fp": c, "fn": c}}`` (checked here)."""
    costs = _read_json(path, "costs")
    if not isinstance(costs, dict) or not all(isinstance(v, dict) for v in costs.values()):
        raise ConfigError(f"the costs file {str(path)!r} must map each label to {{'fp': c, 'fn': c}}")
    return costs


def costs_path(thresholds_spec: str) -> str | None:
    """The costs file a thresholds spec names (``costs=path.json``), if any.

    >>> costs_path("adaptive:objective=cost,costs=costs.json"), costs_path("adaptive")
    ('costs.json', None)
    """
    _, params = parse_spec(thresholds_spec)
    value = params.get("costs")
    return value if isinstance(value, str) else None


def decision_policy_from_settings(thresholds: str, calibration: str, rules: str = "", explain: int = 0,
                                  audit_step: float = 0.1, window: int = 1000) -> DecisionPolicy:
    """The decision policy of the settings' strings, with its files read (``rules``: a path or "")."""
    path = costs_path(thresholds)
    return make_decision_policy(thresholds, calibration, rules=load_rules(rules) if rules else None,
                                explain=explain, costs=load_costs(path) if path else None, audit_step=audit_step,
                                window=window)
