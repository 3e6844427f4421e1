"""The drift monitor's settings: every threshold, window, cooldown and the reaction."""

from __future__ import annotations

from dataclasses import dataclass, fields

from stream_mlc.errors import ConfigError

REACTIONS = ("alert", "reset")


@dataclass(frozen=True)
class DriftSettings:
    """Thresholds, windows, cooldowns and reaction of :class:`~stream_mlc.core.drift.DriftMonitor`.

    Windows and cooldowns are counted in events, so an offline replay makes the same
    decisions as the service. "Scored" events feed :meth:`observe_features` and
    :meth:`observe_prediction`; "joined" events feed :meth:`observe_truth`; each stream has
    its own count.

    Parameters
    ----------
    window_size
        Events per tumbling window: every ``window_size`` events the window's histograms and
        rates are compared with the reference (PSI and rate tests are computed then, not per
        event).
    reference_size
        Events in a reference: the first ``reference_size`` events of a subject (feature,
        label), or those after :meth:`DriftMonitor.reset_reference`. A multiple of
        ``window_size``.
    prediction_warmup
        Scored events skipped before a label's prediction references (score distribution,
        positive rate) start, and again after its learner is reset: an online learner's
        scores move fast while it is young. Prediction references are rolling (the
        ``reference_size`` events before each window), because the model keeps learning.
        A multiple of ``window_size``.
    psi_bins
        Bins per histogram. Features: cut at the reference's quantiles (a point mass at the
        reference minimum gets its own bin and values below it another). Scores: equal
        bins on [0, 1].
    psi_epsilon
        Floor of a bin's share in the PSI formula (empty bins).
    feature_psi_warn, feature_psi_alert
        PSI thresholds of feature drift (``detector="psi"``).
    score_psi_warn, score_psi_alert
        PSI thresholds of a label's score distribution (prediction drift, ``"score_psi"``).
    positive_rate_z_warn, positive_rate_z_alert
        ``|z|`` thresholds of the two-proportion test on the rate at which a label is
        predicted positive (prediction drift, ``"positive_rate"``).
    label_rate_z_warn, label_rate_z_alert
        ``|z|`` thresholds of the two-proportion test on a label's rate among the joined
        truths (label drift, ``"label_rate"``).
    rate_min_count
        A rate is tested only when the window and the reference both have at least this many
        events in which the label is observed.
    adwin_delta, adwin_clock, adwin_grace_period
        ``river.drift.ADWIN`` parameters for the per-label error streams and the
        example-level loss.
    concept_recovery, concept_recovery_min_window
        A label in concept drift is ``recovered`` when its error (ADWIN's estimate over its
        window, checked every ``window_size`` joined events once that window holds at least
        ``concept_recovery_min_window`` events) has come back down by this fraction of the
        way from the highest error seen since the alert to the error before it.
    monitor_example_loss
        Run ADWIN on the per-event Hamming loss too (subject ``"*"``).
    reaction
        ``"alert"``: report only. ``"reset"``: after a label's concept drift alert, also
        return a ``model_reset`` alert: the caller resets that label's learner
        (``reset_label``) and publishes the alert; the monitor re-collects that label's
        prediction references after ``prediction_warmup``.
    cooldown_events
        At most one alert per (kind, detector, subject) within this many events of its
        stream.
    cooldown_seconds
        Optional extra wall-clock cooldown (``None``: events only, deterministic).
    feature_sample_every
        Feed the feature histograms with one scored event in this many (1: all). The
        feature monitor is the largest per-event cost (proportional to the values present);
        sampling divides it, at the price of windows and references spanning that many
        times more events (so a feature shift is found that much later). Windows and
        ``reference_size`` count sampled events.
    max_features, max_labels
        Subjects monitored; names seen beyond these counts are ignored (and counted).
    max_schemas
        Distinct feature-name tuples cached per window pass (a cache, not a limit).
    snapshot_top_k
        Features with the highest PSI listed by :meth:`DriftMonitor.snapshot`.
    """

    window_size: int = 500
    reference_size: int = 5000
    prediction_warmup: int = 5000
    psi_bins: int = 10
    psi_epsilon: float = 1e-4
    feature_psi_warn: float = 0.1
    feature_psi_alert: float = 0.25
    score_psi_warn: float = 0.1
    score_psi_alert: float = 0.25
    positive_rate_z_warn: float = 5.0
    positive_rate_z_alert: float = 7.0
    label_rate_z_warn: float = 5.0
    label_rate_z_alert: float = 7.0
    rate_min_count: int = 50
    adwin_delta: float = 0.002
    adwin_clock: int = 32
    adwin_grace_period: int = 10
    concept_recovery: float = 0.5
    concept_recovery_min_window: int = 200
    monitor_example_loss: bool = True
    reaction: str = "alert"
    cooldown_events: int = 10_000
    cooldown_seconds: float | None = None
    feature_sample_every: int = 1
    max_features: int = 1000
    max_labels: int = 1000
    max_schemas: int = 1024
    snapshot_top_k: int = 10

    def __post_init__(self) -> None:
        positive = ("window_size", "reference_size", "psi_bins", "adwin_clock", "max_schemas", "feature_sample_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"drift setting {name} must be >= 1, got {getattr(self, name)}")
        for name in (
            "prediction_warmup",
            "rate_min_count",
            "adwin_grace_period",
            "cooldown_events",
            "max_features",
            "max_labels",
            "snapshot_top_k",
            "concept_recovery_min_window",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"drift setting {name} must be >= 0, got {getattr(self, name)}")
        if not 2 <= self.psi_bins <= 200:
            raise ConfigError(f"drift setting psi_bins must be in [2, 200], got {self.psi_bins}")
        for name in ("reference_size", "prediction_warmup"):
            if getattr(self, name) % self.window_size:
                raise ConfigError(
                    f"drift setting {name}={getattr(self, name)} must be a multiple of window_size={self.window_size}"
                )
        for prefix in ("feature_psi", "score_psi", "positive_rate_z", "label_rate_z"):
            warn, alert = getattr(self, prefix + "_warn"), getattr(self, prefix + "_alert")
            if not 0 < warn <= alert:
                raise ConfigError(f"drift settings need 0 < {prefix}_warn <= {prefix}_alert, got {warn}, {alert}")
        if not 0 < self.psi_epsilon < 1:
            raise ConfigError(f"drift setting psi_epsilon must be in (0, 1), got {self.psi_epsilon}")
        if not 0 < self.adwin_delta < 1:
            raise ConfigError(f"drift setting adwin_delta must be in (0, 1), got {self.adwin_delta}")
        if not 0 < self.concept_recovery <= 1:
            raise ConfigError(f"drift setting concept_recovery must be in (0, 1], got {self.concept_recovery}")
        if self.reaction not in REACTIONS:
            raise ConfigError(f"drift setting reaction must be one of {REACTIONS}, got {self.reaction!r}")
        if self.cooldown_seconds is not None and self.cooldown_seconds < 0:
            raise ConfigError(f"drift setting cooldown_seconds must be >= 0, got {self.cooldown_seconds}")

    @classmethod
    def names(cls) -> list[str]:
        """The setting names, in declaration order."""
        return [f.name for f in fields(cls)]
