"""The catalog of models by name: a leaf module every learner registers into.

Learners import only this module (``@register("name")``); :mod:`stream_mlc.core.models`
builds models from it and imports the built-in learners lazily, so the two never import
each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Factory = Callable[..., Any]
#: ``{name: factory}``, filled by the ``@register`` decorators as their modules are imported.
REGISTRY: dict[str, Factory] = {}


def register(name: str) -> Callable[[Factory], Factory]:
    """Class or function decorator: make ``name`` selectable with :func:`~stream_mlc.core.models.make_model`."""

    def add(factory: Factory) -> Factory:
        REGISTRY[name] = factory
        return factory

    return add
