"""Multi-label models by name: ``make_model("river-br-lr")`` or ``make_model("name:param=value,...")``.

A model is any River-style multi-label classifier: ``learn_one(x, y)`` with ``y`` a dict
``{label: bool}`` holding only the labels known for the example, and ``predict_proba_one(x)``
returning ``{label: {False: p0, True: p1}}`` for the labels it has seen. River's models and
ours (:mod:`stream_mlc.learners`) both register here, so that the worker and ``evaluate``
select them the same way.
"""

from __future__ import annotations

import ast
from typing import Any

from stream_mlc.core.catalog import REGISTRY as _REGISTRY
from stream_mlc.core.catalog import build, register
from stream_mlc.errors import ConfigError

__all__ = ["available", "make_model", "parse_spec", "register", "reset_label"]


def available() -> list[str]:
    """The names :func:`make_model` accepts."""
    _load_builtin()
    return sorted(_REGISTRY)


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split ``"name:a=1,b=x"`` into ``("name", {"a": 1, "b": "x"})``.

    >>> parse_spec("river-br-lr:lr=0.05,l2=0")
    ('river-br-lr', {'lr': 0.05, 'l2': 0})
    """
    name, _, rest = spec.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"model parameter {item!r} in {spec!r} is not key=value")
        params[key.strip()] = _literal(raw.strip())
    return name.strip(), params


def make_model(spec: str):
    """A fresh, untrained model from its spec.

    >>> make_model("river-br-lr").predict_proba_one({"a": 1.0})
    {}
    """
    _load_builtin()
    name, params = parse_spec(spec)
    return build("model", name, _REGISTRY, params, choices=available())


def reset_label(model, label: str) -> bool:
    """Forget what ``model`` learned for ``label`` (a drift reaction); False if it cannot.

    Our learners implement ``reset_label``; for River's binary relevance (a
    PerOutputClassifier, possibly the last step of a pipeline) the label's classifier is
    dropped and a fresh clone takes its place when the label is next learned.
    """
    if hasattr(model, "reset_label"):
        model.reset_label(label)
        return True
    from river import multioutput  # only River's models get here (importing it is slow: river_models)

    final = list(model.steps.values())[-1] if hasattr(model, "steps") else model
    if isinstance(final, multioutput.PerOutputClassifier):
        final.pop(label, None)
        return True
    return False


def _literal(raw: str) -> Any:
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw


def _load_builtin() -> None:
    # Importing the modules runs their @register decorators (into the leaf catalog module,
    # which is all the learners import: no import cycle).
    import stream_mlc.learners  # noqa: F401
    from stream_mlc.core import river_models  # noqa: F401
