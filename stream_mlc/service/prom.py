"""The worker's Prometheus metrics, grouped in one object with an injectable registry.

Counters are bumped on the hot path (a dict lookup and an add); everything derived from
the engine (quality, per-label figures, drift) is refreshed from its status once a second,
so monitoring costs the stream nothing per event beyond the counters and two histograms.
Per-label series are bounded: only the ``max_labels`` labels with the most support (and
the ``top_k`` drifting features) are exported, so the number of series stays fixed.

Each refresh also appends one point to the live page's bounded history
(:class:`~stream_mlc.service.page.PageHistory`): quality, throughput and latency over time,
derived from the same counters and histogram that ``/metrics`` exports.
"""

from __future__ import annotations

import math
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from stream_mlc import __version__
from stream_mlc.service.page import PageHistory, serve_page

QUALITY = ("micro_f1", "macro_f1", "example_f1", "hamming_loss", "subset_accuracy")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
DELAY_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400)
#: The quality figures the live page plots, cumulative and over the window.
PAGE_QUALITY = ("micro_f1", "macro_f1", "hamming_loss")


class ServiceMetrics:
    """Every metric the worker exports; ``registry`` defaults to a fresh one (tests, several apps).

    ``history_points`` and ``alerts_kept`` bound the live page's history; ``info`` is what
    the page's header says about the worker beyond its status (e.g. ``model``, ``mode``,
    ``worker``), with the package's version as ``worker_version``.
    """

    def __init__(self, registry: CollectorRegistry | None = None, max_labels: int = 50,
                 history_points: int = 600, alerts_kept: int = 20, info: dict | None = None):
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
        self.pending = Gauge("stream_mlc_pending_joins", "Events waiting for their labels, and labels waiting "
                             "for their event (joined events are not counted)", registry=r)
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
        self.ece = Gauge("stream_mlc_ece", "Expected calibration error (15 bins) of the published scores",
                         ["scope"], registry=r)
        self.brier = Gauge("stream_mlc_brier", "Brier score of the published scores", ["scope"], registry=r)
        self.label_ece = Gauge("stream_mlc_label_ece", "Per-label ECE over the metrics window, top labels by support",
                               ["label"], registry=r)
        self.rule_violations = Gauge("stream_mlc_rule_violations", "Raw predictions that broke a label rule, by rule",
                                     ["rule"], registry=r)
        self.label_requests = Gauge("stream_mlc_label_requests", "Label requests made (and events offered)",
                                    ["count"], registry=r)
        self.agreement = Gauge("stream_mlc_annotator_agreement", "Fleiss' kappa of the annotators, overall",
                               registry=r)
        self.member_quality = Gauge("stream_mlc_member_quality", "Prequential quality of each model of a portfolio "
                                    "(the champion and its challengers, scored in shadow)",
                                    ["member", "metric", "scope"], registry=r)
        self.champion = Gauge("stream_mlc_champion", "1 for the portfolio member whose predictions are published",
                              ["member"], registry=r)
        self.group_gap = Gauge("stream_mlc_group_gap", "The largest gap between groups, by metric", ["metric"],
                               registry=r)
        self.feature_cache = Gauge("stream_mlc_feature_cache", "The feature encoder's text cache: hits, misses, "
                                   "entries and hit rate", ["stat"], registry=r)
        self.history = PageHistory(max_points=history_points, max_alerts=alerts_kept)
        self.info = {"worker_version": __version__, **(info or {})}
        self._previous = self._counts(time.monotonic())

    def serve(self, port: int, host: str = "127.0.0.1"):
        """Serve the live page at ``/``, ``/status.json`` and ``/metrics`` over HTTP.

        Returns the server (``shutdown()`` stops it and frees the port; ``port`` is the
        bound port, useful with ``port=0``). A port in use raises an error naming it.
        """
        return serve_page(self.registry, self.history, port, host)

    def refresh(self, status: dict, now: float | None = None) -> None:
        """Update every gauge from :meth:`Engine.status` (once a second, off the hot path).

        A status without metrics (a scaled-mode scorer's) updates the counts-based figures
        only. ``now`` is the wall-clock time of the history point (default: now).
        """
        self.pending.set(status.get("pending", 0))
        self.model_version.set(status["learned"])
        metrics = status.get("metrics") or {}
        per_label = metrics.get("per_label", {})
        top = sorted(per_label, key=lambda label: -per_label[label]["support"])[: self.max_labels]
        if "cumulative" in metrics:
            for scope in ("cumulative", "window"):
                for name in QUALITY:
                    self.quality.labels(name, scope).set(metrics[scope].get(name, 0.0))
            _replace(self.label_f1, {label: per_label[label]["f1"] for label in top})
            _replace(self.label_threshold, {label: status["thresholds"].get(label, 0.5) for label in top})
        drift = status.get("drift") or {}
        errors = drift.get("error_rate", {})
        _replace(self.label_error, {label: errors[label] for label in top if label in errors})
        _replace(self.feature_psi, drift.get("feature_psi", {}))
        self.active_alerts.set(drift.get("active", 0))
        self._refresh_governance(status, top)
        cache = (status.get("features") or {}).get("cache")
        for stat in ("hits", "misses", "size", "hit_rate") if cache else ():
            self.feature_cache.labels(stat).set(cache[stat])
        self._record(status, top, time.time() if now is None else now)

    def _refresh_governance(self, status: dict, top: list[str]) -> None:
        """Calibration, label rules, label requests, agreement and group gaps, when the status has them."""
        decisions = status.get("decisions") or {}
        if decisions:
            ece = decisions["ece"]["calibrated"]
            for scope in ("cumulative", "window"):
                self.ece.labels(scope).set(ece[scope]["ece"])
                self.brier.labels(scope).set(ece[scope]["brier"])
            per = ece.get("per_label", {})
            _replace(self.label_ece, {label: per[label]["window_ece"] for label in top if label in per})
            counts = (decisions.get("rules") or {}).get("counts")
            if counts:
                _replace(self.rule_violations, {k: counts[k] for k in ("implies", "exclusive", "allowed")})
        _replace(self.label_requests, status.get("label_requests") or {})
        kappa = (status.get("agreement") or {}).get("kappa")
        if isinstance(kappa, int | float):
            self.agreement.set(kappa)
        models = status.get("models") or {}
        if models.get("members"):
            self.member_quality.clear()
            for member, figures in models["members"].items():
                for scope in ("cumulative", "window"):
                    for metric, value in figures.get(scope, {}).items():
                        self.member_quality.labels(member, metric, scope).set(value)
            _replace(self.champion, {member: float(member == models.get("champion")) for member in models["members"]})
        gaps = (status.get("groups") or {}).get("gaps") or {}
        _replace(self.group_gap, {name: value for name, value in gaps.items() if isinstance(value, int | float)})

    def record_alert(self, kind: str, subject: str, message: str, model_version: int, ts: float) -> None:
        """Keep an alert for the live page (the latest ``alerts_kept``); called where alerts are published."""
        self.history.add_alert(
            {"kind": kind, "subject": subject, "message": message, "model_version": model_version, "ts": ts}
        )

    # -- the live page's history ---------------------------------------------------------------
    def _record(self, status: dict, top: list[str], wall: float) -> None:
        current = self._counts(time.monotonic())
        previous, self._previous = self._previous, current
        elapsed = current["clock"] - previous["clock"]
        metrics = status.get("metrics") or {}
        point = {
            "t": wall,
            "learned": status["learned"],
            "scored": current["scored"],
            "joined": current["joined"],
            "scored_per_s": _rate(current["scored"] - previous["scored"], elapsed),
            "joined_per_s": _rate(current["joined"] - previous["joined"], elapsed),
            "latency_p50_s": bucket_quantile(0.5, _delta(current["latency"], previous["latency"])),
            "latency_p99_s": bucket_quantile(0.99, _delta(current["latency"], previous["latency"])),
        }
        for scope, prefix, size in (("cumulative", "", "n"), ("window", "window_", "window_n")):
            values = metrics.get(scope, {}) if metrics.get(size) else {}  # nothing scored yet: no value
            for name in PAGE_QUALITY:
                point[prefix + name] = values.get(name)
        self.history.add_point(point, self._label_rows(status, top), _model_info(status, self.info))

    def _label_rows(self, status: dict, top: list[str]) -> list[dict]:
        per_label = (status.get("metrics") or {}).get("per_label", {})
        errors = (status.get("drift") or {}).get("error_rate", {})
        thresholds = status.get("thresholds", {})
        return [
            {"label": label, "support": per_label[label]["support"], "f1": per_label[label]["f1"],
             "precision": per_label[label]["precision"], "recall": per_label[label]["recall"],
             "threshold": thresholds.get(label), "error_rate": errors.get(label)}
            for label in top
        ]

    def _counts(self, clock: float) -> dict:
        buckets = [
            (float(sample.labels["le"]), sample.value)
            for family in self.latency.collect()
            for sample in family.samples
            if sample.name.endswith("_bucket")
        ]
        value = self.registry.get_sample_value
        return {"clock": clock, "scored": value("stream_mlc_events_scored_total") or 0.0,
                "joined": value("stream_mlc_labels_joined_total") or 0.0, "latency": buckets}


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of a histogram's cumulative buckets, as Prometheus's ``histogram_quantile``.

    Linear interpolation inside the bucket the rank falls in; the highest finite bound when
    it falls in ``+Inf``; None without observations.

    >>> round(bucket_quantile(0.5, [(0.01, 0.0), (0.1, 10.0), (1.0, 10.0), (float("inf"), 10.0)]), 6)
    0.055
    >>> bucket_quantile(0.99, [(0.01, 0.0), (0.1, 0.0), (float("inf"), 4.0)])
    0.1
    >>> bucket_quantile(0.5, [(0.01, 0.0), (float("inf"), 0.0)]) is None
    True
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank and count > below:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def _delta(current: list[tuple[float, float]], previous: list[tuple[float, float]]) -> list[tuple[float, float]]:
    # The observations since the last refresh: the page shows recent latency, not the lifetime's.
    before = dict(previous)
    return [(bound, count - before.get(bound, 0.0)) for bound, count in current]


def _rate(count: float, seconds: float) -> float | None:
    return count / seconds if seconds > 0 else None


def _model_info(status: dict, known: dict) -> dict:
    """What the page's header says about the model: what the worker told, and what the status carries."""
    info = {**known, "version": status.get("model_version", status["learned"]), "learned": status["learned"],
            "labels": len(status.get("labels", ())), "pending": status.get("pending")}
    if "model" in (status.get("config") or {}):  # a worker's status record names its model here
        info["model"] = status["config"]["model"]
    for key in ("model", "mode", "role", "worker", "version"):
        if key in status:
            info["worker_version" if key == "version" else key] = status[key]
    return info


def _replace(gauge: Gauge, values: dict[str, float]) -> None:
    # Series of labels that left the top set disappear instead of going stale.
    gauge.clear()
    for key, value in values.items():
        gauge.labels(key).set(value)
