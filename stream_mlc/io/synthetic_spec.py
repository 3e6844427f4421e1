"""The spec of a synthetic stream (``"synthetic:k=v,..."``) and the random streams of its seed.

The keys, their defaults and the model behind them are described in
:mod:`stream_mlc.io.synthetic`; both generators (that module's linear stream and
:mod:`stream_mlc.io.synthetic_text`) read their keys from a :class:`SyntheticConfig` and
draw from independent child streams of its seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from stream_mlc.errors import ConfigError

__all__ = ["SyntheticConfig", "parse_spec"]


@dataclass(frozen=True)
class SyntheticConfig:
    """The keys of a ``synthetic:`` spec (see :mod:`stream_mlc.io.synthetic`)."""

    n: int = 1000
    features: int = 20
    labels: int = 5
    seed: int = 0
    sparse: float = 0.0
    drift_at: int | None = None
    drift_labels: int | None = None
    corr: float = 0.5
    signal: float = 3.0
    noise: float = 0.0

    def __post_init__(self) -> None:
        def fail(reason: str) -> None:
            raise ConfigError(f"synthetic: {reason}")

        if self.n < 0:
            fail(f"n must be >= 0, got {self.n}")
        if self.features < 1 or self.labels < 1:
            fail(f"features and labels must be >= 1, got {self.features} and {self.labels}")
        if self.seed < 0:
            fail(f"seed must be >= 0, got {self.seed}")
        if not 0.0 <= self.sparse <= 1.0:
            fail(f"sparse must be 0 (dense) or a density in (0, 1], got {self.sparse}")
        if self.drift_at is not None and self.drift_at < 0:
            fail(f"drift_at must be >= 0, got {self.drift_at}")
        if self.drift_labels is not None and not 0 <= self.drift_labels <= self.labels:
            fail(f"drift_labels must be in 0..labels={self.labels}, got {self.drift_labels}")
        if not 0.0 <= self.corr <= 1.0:
            fail(f"corr must be in [0, 1], got {self.corr}")
        if not (self.signal >= 0.0 and math.isfinite(self.signal)):
            fail(f"signal must be a finite number >= 0, got {self.signal}")
        if not 0.0 <= self.noise <= 0.5:
            fail(f"noise must be in [0, 0.5], got {self.noise}")

    @property
    def n_drifting(self) -> int:
        """How many labels change at ``drift_at`` (0 without drift)."""
        if self.drift_at is None:
            return 0
        return self.drift_labels if self.drift_labels is not None else (self.labels + 1) // 2


_INT_KEYS = {"n", "features", "labels", "seed", "drift_at", "drift_labels"}
_KEYS = {f.name for f in fields(SyntheticConfig)}


def parse_spec(spec: str) -> SyntheticConfig:
    """Parse ``"synthetic[:k=v,...]"`` into a :class:`SyntheticConfig`.

    Parameters
    ----------
    spec
        The spec string; keys and defaults are listed in the docstring of
        :mod:`stream_mlc.io.synthetic`.

    Returns
    -------
    SyntheticConfig

    Raises
    ------
    ConfigError
        Not a synthetic spec, an unknown key, or a bad value.

    Examples
    --------
    >>> config = parse_spec("synthetic:n=5000,features=50,labels=14,seed=7,sparse=0,drift_at=2500")
    >>> config.n, config.features, config.labels, config.seed, config.sparse, config.drift_at, config.n_drifting
    (5000, 50, 14, 7, 0.0, 2500, 7)
    """
    head, _, tail = spec.strip().partition(":")
    if head.strip().lower() != "synthetic":
        raise ConfigError(f"not a synthetic spec: {spec!r} (expected 'synthetic[:k=v,...]')")
    values: dict[str, int | float] = {}
    for item in tail.split(","):
        if not item.strip():
            continue
        key, sep, raw = item.partition("=")
        key, raw = key.strip().lower(), raw.strip()
        if not sep or not raw:
            raise ConfigError(f"synthetic: {item.strip()!r} is not key=value")
        if key not in _KEYS:
            raise ConfigError(f"synthetic: unknown key {key!r} (known: {', '.join(sorted(_KEYS))})")
        try:
            number = float(raw)
        except ValueError:
            raise ConfigError(f"synthetic: {key}={raw!r} is not a number") from None
        if key in _INT_KEYS:
            if not number.is_integer():
                raise ConfigError(f"synthetic: {key} must be an integer, got {raw!r}")
            values[key] = int(number)
        else:
            values[key] = number
    return SyntheticConfig(**values)  # type: ignore[arg-type]


def _child(seed: int, stream: int) -> np.random.SeedSequence:
    """Independent random streams of one seed: 0 weights, 1 features, 2 mask, 3 labels, 4 drift."""
    return np.random.SeedSequence([seed, stream])
