"""What an :class:`~stream_mlc.core.engine.Engine` is built from, and the errors it refuses input with.

:class:`EngineConfig` (read by :meth:`Engine.from_config <stream_mlc.core.engine.Engine.from_config>`),
:data:`DEFAULT_MODEL`, and :class:`LabelLimitError`, :class:`FeatureLimitError`,
:class:`LabelRuleError`. All are re-exported by :mod:`stream_mlc.core.engine`, where they
used to be defined: import them from either.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stream_mlc.core.calibration import DEFAULT_CALIBRATION
from stream_mlc.core.drift import DriftSettings
from stream_mlc.core.features import EncoderConfig
from stream_mlc.core.governance import GovernanceConfig
from stream_mlc.core.join import JoinLimits
from stream_mlc.core.rules import LabelRules
from stream_mlc.core.thresholds import DEFAULT_THRESHOLDS
from stream_mlc.errors import StreamMlcError

__all__ = ["EngineConfig", "DEFAULT_MODEL", "LabelLimitError", "FeatureLimitError", "LabelRuleError"]


class LabelLimitError(StreamMlcError):
    """A label event names more distinct labels than the service accepts."""


class FeatureLimitError(StreamMlcError):
    """A feature event names more distinct features than the service accepts."""


class LabelRuleError(StreamMlcError):
    """A label event breaks the label rules and the rules say to dead-letter it."""


#: The service's default learner and thresholds: the best of ours on the benchmark streams
#: (``stream-mlc bench models``); River's models stay available by name.
DEFAULT_MODEL = "native-mlc"


@dataclass
class EngineConfig:
    model: str = DEFAULT_MODEL
    thresholds: str = DEFAULT_THRESHOLDS
    calibration: str = DEFAULT_CALIBRATION
    #: Label rules (read from STREAM_MLC_RULES by the bootstrap: stream_mlc.rules_io), per-label
    #: costs (a thresholds spec's costs=file, read the same way), explanations per label (0: off),
    #: and the threshold move that makes an audit event.
    rules: LabelRules | None = None
    costs: dict | None = None
    explain: int = 0
    audit_step: float = 0.1
    metrics_window: int = 1000
    max_labels: int = 10_000
    max_features: int = 100_000
    #: Labels known from the start (an ARFF header, a declared label set); others join as they appear.
    labels: tuple[str, ...] = ()
    join: JoinLimits = field(default_factory=JoinLimits)
    #: Drift monitoring (None: off).
    drift: DriftSettings | None = field(default_factory=DriftSettings)
    #: How raw feature values (categories, tags, text) become numbers.
    features: EncoderConfig = field(default_factory=EncoderConfig)
    #: Label requests, annotators, the label registry, group quality (all off by default).
    governance: GovernanceConfig = field(default_factory=GovernanceConfig)
