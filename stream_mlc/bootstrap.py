"""Wiring in one place: settings to engine to processor (cosmicpython's bootstrap).

The worker, the offline audit replay, ``evaluate`` and the benches build their cores here,
so they run the same code with the same defaults; tests call these functions with their
own settings. Nothing here talks to Kafka.
"""

from __future__ import annotations

from stream_mlc.core.active import parse_budget_option
from stream_mlc.core.checkpoint import Checkpoint
from stream_mlc.core.drift import DriftSettings
from stream_mlc.core.engine import Engine, EngineConfig
from stream_mlc.core.features import EncoderConfig
from stream_mlc.core.governance import GovernanceConfig
from stream_mlc.core.join import JoinLimits
from stream_mlc.core.models import parse_spec
from stream_mlc.core.processor import FEATURES, LABELS, Dispatch, ErrorPolicy, Limits, OnError, dead_letter_and_go_on
from stream_mlc.core.roles import EventTimeProcessor, LearnTopicProcessor, Scorer
from stream_mlc.errors import ConfigError
from stream_mlc.rules_io import costs_path, load_costs, load_rules
from stream_mlc.settings import Settings


def build_engine(config: EngineConfig) -> Engine:
    """A fresh engine: model, thresholds, join buffer, metrics and drift monitor from ``config``."""
    return Engine.from_config(config)


def engine_config(settings: Settings) -> EngineConfig:
    return EngineConfig(
        drift=drift_settings(settings),
        thresholds=settings.thresholds,
        model=model_spec(settings),
        metrics_window=settings.metrics_window,
        max_labels=settings.max_labels,
        max_features=settings.max_features,
        labels=settings.label_names,
        join=JoinLimits(settings.join_max_age_s, settings.join_max_entries),
        features=encoder_config(settings),
        calibration=settings.calibration,
        rules=load_rules(settings.rules) if settings.rules else None,
        costs=load_costs(costs) if (costs := costs_path(settings.thresholds)) else None,
        explain=settings.explain,
        audit_step=settings.audit_step,
        governance=governance_config(settings),
    )


def model_spec(settings: Settings) -> str:
    """The model, or with challengers a portfolio of it and them (the model serves until one wins).

    >>> model_spec(Settings(model="native-mlc", challengers="neural|chains"))
    'portfolio:members=native-mlc|neural|chains'
    """
    if not settings.challengers.strip():
        return settings.model
    return f"portfolio:members={settings.model}|{settings.challengers.strip()}"


def governance_config(settings: Settings) -> GovernanceConfig:
    # Parsed here so that a bad budget is a one-line ConfigError at the start.
    _, strategy = parse_budget_option(settings.label_budget) if settings.label_budget else (None, "uncertainty")
    return GovernanceConfig(
        label_budget=settings.label_budget.partition(":")[0],
        label_strategy=strategy,
        annotation_rule=settings.annotation_rule,
        annotation_wait_for=settings.annotation_wait_for,
        annotation_deadline_s=settings.annotation_deadline_s,
        registered_labels_only=settings.registered_labels_only,
        registry_principals=tuple(p.strip() for p in settings.registry_principals.split(",") if p.strip()),
        registry_key=settings.registry_key,
        group_by=settings.group_by,
        group_gap_alert=settings.group_gap_alert,
        group_max=settings.group_max,
    )


def encoder_config(settings: Settings) -> EncoderConfig:
    """The feature encoder's config (raises ConfigError on a bad hash width or mode)."""
    return EncoderConfig.from_text(settings.text_features, hash_bits=settings.hash_bits,
                                   max_exact=settings.max_exact_values, standardize=settings.standardize,
                                   cache_size=settings.feature_cache_size, max_names=settings.max_features)


def new_engine(settings: Settings) -> Engine:
    return build_engine(engine_config(settings))


def drift_settings(settings: Settings) -> DriftSettings | None:
    if not settings.drift_monitor:
        return None
    _, options = parse_spec(f"drift:{settings.drift_options}")
    try:
        return DriftSettings(**options)
    except TypeError as error:
        raise ConfigError(f"bad STREAM_MLC_DRIFT_OPTIONS {settings.drift_options!r}: {error}") from error


def input_kinds(settings: Settings) -> dict[str, int]:
    """``{topic: FEATURES | LABELS}`` of the input topics."""
    return {settings.topic("features"): FEATURES, settings.topic("labels"): LABELS}


def error_policy(settings: Settings, on_error: OnError = dead_letter_and_go_on) -> ErrorPolicy:
    return ErrorPolicy(Limits(max_message_bytes=settings.max_message_bytes), on_error)


def dispatch(settings: Settings, engine: Engine, on_error: OnError = dead_letter_and_go_on) -> Dispatch:
    return Dispatch(engine, input_kinds(settings), error_policy(settings, on_error))


def single_processor(settings: Settings, checkpoint: Checkpoint | None = None,
                     on_error: OnError = dead_letter_and_go_on) -> EventTimeProcessor:
    """Single mode's processor: a restored checkpoint's engine, offsets and clock, or a fresh engine."""
    engine = checkpoint.engine if checkpoint is not None else new_engine(settings)
    processed = {} if checkpoint is None else {
        (topic, partition): offset
        for topic, partitions in checkpoint.offsets.items()
        for partition, offset in partitions.items()
    }
    clock = float("-inf") if checkpoint is None else checkpoint.clock
    return EventTimeProcessor(dispatch(settings, engine, on_error), idle_s=settings.align_idle_s,
                              hold_s=settings.align_hold_labels_s, processed=processed, clock=clock)


def scorer(settings: Settings, snapshot=None, on_error: OnError = dead_letter_and_go_on) -> Scorer:
    return Scorer(input_kinds(settings), error_policy(settings, on_error), snapshot)


def learner(settings: Settings, checkpoint: Checkpoint | None = None,
            on_error: OnError = dead_letter_and_go_on) -> LearnTopicProcessor:
    """Scaled mode's learner: from a restored checkpoint (its learn-topic offset and clock), or fresh."""
    lane = (settings.topic("learn"), 0)
    if checkpoint is None:
        return LearnTopicProcessor(dispatch(settings, new_engine(settings), on_error), lane)
    offset = checkpoint.offsets.get(lane[0], {}).get(0, 0)
    return LearnTopicProcessor(dispatch(settings, checkpoint.engine, on_error), lane, offset, checkpoint.clock)
