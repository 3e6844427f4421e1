"""The catalog of models by name: a leaf module every learner registers into.

Learners import only this module (``@register("name")``); :mod:`stream_mlc.core.models`
builds models from it and imports the built-in learners lazily, so the two never import
each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from stream_mlc.errors import ConfigError

Factory = Callable[..., Any]
#: ``{name: factory}``, filled by the ``@register`` decorators as their modules are imported.
REGISTRY: dict[str, Factory] = {}


def register(name: str) -> Callable[[Factory], Factory]:
    """Class or function decorator: make ``name`` selectable with :func:`~stream_mlc.core.models.make_model`."""

    def add(factory: Factory) -> Factory:
        REGISTRY[name] = factory
        return factory

    return add


def build(what: str, name: str, factories: Mapping[str, Factory], params: dict, choices: Iterable[str] | None = None):
    """``factories[name](**params)``, or a :class:`ConfigError` naming what was wrong and the choices.

    The one place a spec's name and parameters become an object: models, calibrators, thresholds.

    >>> build("calibration", "magic", {"none": dict}, {})
    Traceback (most recent call last):
    ...
    stream_mlc.errors.ConfigError: unknown calibration 'magic'; choose one of: none
    """
    if name not in factories:
        names = factories if choices is None else choices
        raise ConfigError(f"unknown {what} {name!r}; choose one of: {', '.join(names)}")
    try:
        return factories[name](**params)
    except TypeError as error:
        raise ConfigError(f"bad parameters for {what} {name!r}: {error}") from error
