"""The worker's Prometheus metrics, grouped in one object with an injectable registry.

Counters are bumped on the hot path (a dict lookup and an add); everything derived from
the engine (quality, per-label figures, drift) is refreshed from its status once a second,
so monitoring costs the stream nothing per event beyond the counters and two histograms.
Per-label series are bounded: only the ``max_labels`` labels with the most support (and
the ``top_k`` drifting features) are exported, so the number of series stays fixed.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

QUALITY = ("micro_f1", "macro_f1", "example_f1", "hamming_loss", "subset_accuracy")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
DELAY_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400)


class ServiceMetrics:
    """Every metric the worker exports; ``registry`` defaults to a fresh one (tests, several apps)."""

    def __init__(self, registry: CollectorRegistry | None = None, max_labels: int = 50):
        self.registry = registry if registry is not None else CollectorRegistry()
        self.max_labels = max_labels
        r = self.registry
        self.scored = Counter("stream_mlc_events_scored", "Feature events scored", registry=r)
        self.labels = Counter("stream_mlc_label_events", "Label events received (valid)", registry=r)
        self.joined = Counter("stream_mlc_labels_joined", "Label events joined with their scored event", registry=r)
        self.deadlettered = Counter("stream_mlc_deadlettered", "Messages sent to the dead-letter topic",
                                    ["topic"], registry=r)
        self.expired = Counter("stream_mlc_joins_expired", "Join entries expired unjoined", ["state"], registry=r)
        self.duplicates = Counter("stream_mlc_duplicates", "Redelivered events (not stored or learned again)",
                                  ["kind"], registry=r)
        self.alerts = Counter("stream_mlc_alerts", "Alerts published, by kind and detector",
                              ["kind", "detector"], registry=r)
        self.checkpoints = Counter("stream_mlc_checkpoints", "Checkpoints written", registry=r)
        self.latency = Histogram("stream_mlc_scoring_latency_seconds",
                                 "From the feature event's timestamp to its prediction being sent",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.label_delay = Histogram("stream_mlc_label_delay_seconds",
                                     "From a feature event to its labels (event timestamps)",
                                     buckets=DELAY_BUCKETS, registry=r)
        self.pending = Gauge("stream_mlc_pending_joins", "Entries waiting in the join buffer", registry=r)
        self.model_version = Gauge("stream_mlc_model_version", "Examples the model has learned", registry=r)
        self.quality = Gauge("stream_mlc_quality", "Prequential quality of the joined predictions",
                             ["metric", "scope"], registry=r)
        self.label_f1 = Gauge("stream_mlc_label_f1", "Per-label F1 (cumulative), top labels by support",
                              ["label"], registry=r)
        self.label_threshold = Gauge("stream_mlc_label_threshold", "Per-label decision threshold",
                                     ["label"], registry=r)
        self.label_error = Gauge("stream_mlc_label_error_rate", "ADWIN's estimate of a label's error rate",
                                 ["label"], registry=r)
        self.feature_psi = Gauge("stream_mlc_feature_psi", "PSI of the most drifting features at the last window",
                                 ["feature"], registry=r)
        self.active_alerts = Gauge("stream_mlc_active_alerts", "Drift alerts not recovered yet", registry=r)

    def serve(self, port: int, host: str = "127.0.0.1"):
        """Serve ``/metrics`` over HTTP; returns the server (``shutdown()`` stops it)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server

    def refresh(self, status: dict) -> None:
        """Update every gauge from :meth:`Engine.status` (once a second, off the hot path)."""
        self.pending.set(status["pending"])
        self.model_version.set(status["learned"])
        metrics = status["metrics"]
        for scope in ("cumulative", "window"):
            for name in QUALITY:
                self.quality.labels(name, scope).set(metrics[scope].get(name, 0.0))
        per_label = metrics["per_label"]
        top = sorted(per_label, key=lambda label: -per_label[label]["support"])[: self.max_labels]
        _replace(self.label_f1, {label: per_label[label]["f1"] for label in top})
        _replace(self.label_threshold, {label: status["thresholds"].get(label, 0.5) for label in top})
        drift = status.get("drift") or {}
        errors = drift.get("error_rate", {})
        _replace(self.label_error, {label: errors[label] for label in top if label in errors})
        _replace(self.feature_psi, drift.get("feature_psi", {}))
        self.active_alerts.set(drift.get("active", 0))


def _replace(gauge: Gauge, values: dict[str, float]) -> None:
    # Series of labels that left the top set disappear instead of going stale.
    gauge.clear()
    for key, value in values.items():
        gauge.labels(key).set(value)
