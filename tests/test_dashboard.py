"""Static checks of the Grafana provisioning and dashboard (no Docker, no network).

The dashboard's PromQL is checked against what the worker really exports: a fresh
:class:`ServiceMetrics` is refreshed from a real engine's status, every counter and
histogram is bumped once, and every ``stream_mlc_*`` name a panel queries must be among
the exposed sample names (so ``_total``/``_bucket`` suffixes and typos are caught).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
import yaml

from stream_mlc.core.drift.settings import DriftSettings
from stream_mlc.core.engine import Engine, EngineConfig
from stream_mlc.core.events import FeatureEvent, LabelEvent
from stream_mlc.service.prom import QUALITY, ServiceMetrics

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
GRAFANA = ROOT / "stream_mlc" / "deploy" / "grafana"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "stream-mlc.yml"
DASHBOARD = GRAFANA / "dashboards" / "stream-mlc.json"

DATASOURCE_UID = "prometheus"
# A metric identifier: the whole identifier, so that a typo anywhere in it is kept whole.
METRIC = re.compile(r"(?<![A-Za-z0-9_:])stream_mlc_[A-Za-z0-9_:]*")
BY = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
LEGEND = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Labels Prometheus adds to every scraped series, and histograms' bucket label.
SCRAPE_LABELS = {"instance", "job"}


# ------------------------------------------------------------------ helpers


def metric_names(expr: str) -> set[str]:
    return set(METRIC.findall(expr))


def unknown_metrics(exprs, exported: set[str]) -> dict[str, list[str]]:
    """Per expression, the stream_mlc names it uses that the worker does not expose."""
    found = {}
    for expr in exprs:
        missing = sorted(metric_names(expr) - exported)
        if missing:
            found[expr] = missing
    return found


def walk_panels(panels):
    for panel in panels:
        yield panel
        yield from walk_panels(panel.get("panels") or [])


def query_panels(dashboard) -> list[dict]:
    return [p for p in walk_panels(dashboard["panels"]) if p.get("type") != "row"]


def panel_exprs(dashboard) -> list[str]:
    return [t["expr"] for p in query_panels(dashboard) for t in p.get("targets", [])]


def variable_query(variable: dict) -> str:
    query = variable.get("query")
    return query.get("query", "") if isinstance(query, dict) else str(query or "")


def all_exprs(dashboard) -> list[str]:
    """PromQL of panels, annotations and template variables."""
    exprs = panel_exprs(dashboard)
    exprs += [a["expr"] for a in dashboard.get("annotations", {}).get("list", []) if a.get("expr")]
    exprs += [variable_query(v) for v in dashboard.get("templating", {}).get("list", []) if v.get("type") == "query"]
    return exprs


def grafana_mounts() -> dict[str, Path]:
    """Container path -> host path of the Grafana service's bind mounts."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    grafana = [s for s in services.values() if str(s.get("image", "")).startswith("grafana/grafana")]
    assert len(grafana) == 1
    mounts = {}
    for volume in grafana[0].get("volumes") or []:
        source, _, rest = volume.partition(":")
        if source.startswith((".", "/")):
            mounts[rest.split(":")[0]] = (ROOT / source).resolve()
    return mounts


def prometheus_service() -> str:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    names = [n for n, s in services.items() if str(s.get("image", "")).startswith("prom/prometheus")]
    assert len(names) == 1
    return names[0]


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def dashboard() -> dict:
    doc = json.loads(DASHBOARD.read_text())
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def exported() -> dict[str, set[str]]:
    """Sample name -> label names, as the worker exposes them once every metric has a value."""
    engine = Engine.from_config(
        EngineConfig(
            model="river-br-lr",
            labels=("a", "b"),
            # Small windows, so that feature PSI and drift figures exist after a few events.
            drift=DriftSettings(window_size=10, reference_size=20, prediction_warmup=20),
        )
    )
    rng = random.Random(7)
    for i in range(40):
        x = {"f1": rng.gauss(0, 1), "f2": rng.gauss(0, 1)}
        labels = {name for name, on in (("a", x["f1"] > 0), ("b", x["f2"] > 0)) if on}
        _prediction, joined = engine.score(FeatureEvent(str(i), x), float(i))
        assert joined is None
        joined = engine.join(LabelEvent(str(i), frozenset(labels)), float(i) + 1.0)
        assert joined is not None
        engine.learn(joined)
    status = engine.status()
    assert status["drift"]["feature_psi"], "the engine computed no feature PSI: the fixture must reach a window"

    metrics = ServiceMetrics()
    metrics.refresh(status)
    metrics.scored.inc()
    metrics.labels.inc()
    metrics.joined.inc()
    metrics.deadlettered.labels("features").inc()
    metrics.expired.labels("scored").inc()
    metrics.duplicates.labels("features").inc()
    metrics.checkpoints.inc()
    metrics.latency.observe(0.004)
    metrics.label_delay.observe(30.0)
    alerts = engine.drain_alerts()
    for alert, _version in alerts:
        metrics.alerts.labels(alert.kind, alert.detector).inc()
    if not alerts:
        metrics.alerts.labels("feature_drift", "psi").inc()

    samples: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels)
    return samples


# ------------------------------------------------------------------ provisioning


def test_the_provisioning_files_are_where_compose_mounts_them():
    mounts = grafana_mounts()
    provisioning = mounts["/etc/grafana/provisioning"]
    assert DATASOURCES.parent == provisioning / "datasources"
    assert PROVIDERS.parent == provisioning / "dashboards"
    assert mounts["/var/lib/grafana/dashboards"] == DASHBOARD.parent


def test_the_datasource_is_the_compose_prometheus():
    doc = yaml.safe_load(DATASOURCES.read_text())
    assert doc["apiVersion"] == 1
    sources = doc["datasources"]
    assert len(sources) == 1
    source = sources[0]
    assert source["type"] == "prometheus"
    assert source["uid"] == DATASOURCE_UID
    assert source["url"] == f"http://{prometheus_service()}:9090"
    assert source["isDefault"] is True
    assert source.get("access", "proxy") == "proxy"  # the browser cannot resolve `prometheus`


def test_the_dashboard_provider_loads_the_mounted_folder():
    doc = yaml.safe_load(PROVIDERS.read_text())
    assert doc["apiVersion"] == 1
    providers = doc["providers"]
    assert len(providers) == 1
    provider = providers[0]
    assert provider.get("type", "file") == "file"
    folder = provider["options"]["path"]
    assert folder == "/var/lib/grafana/dashboards"
    host = grafana_mounts()[folder]
    assert sorted(p.name for p in host.glob("*.json")) == [DASHBOARD.name]


# ------------------------------------------------------------------ dashboard structure


def test_the_dashboard_has_a_uid_and_panels_with_targets(dashboard):
    assert dashboard["uid"] == "stream-mlc"
    assert dashboard["title"]
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard.get("id") is None  # provisioned dashboards get their id from Grafana
    panels = query_panels(dashboard)
    assert len(panels) >= 10
    rows = [p for p in walk_panels(dashboard["panels"]) if p.get("type") == "row"]
    assert rows, "panels are grouped with rows"
    for panel in panels:
        assert panel.get("title"), panel
        targets = panel.get("targets") or []
        assert targets, f"panel {panel['title']!r} has no target"
        for target in targets:
            assert target.get("expr", "").strip(), (panel["title"], target)
        ref_ids = [t["refId"] for t in targets]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_panel_ids_are_unique_and_the_grid_fits(dashboard):
    everything = list(walk_panels(dashboard["panels"]))
    ids = [p["id"] for p in everything]
    assert len(ids) == len(set(ids))
    for panel in everything:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        assert grid["h"] > 0 and grid["y"] >= 0, panel["title"]


def test_every_panel_and_target_uses_the_provisioned_datasource(dashboard):
    for panel in query_panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, panel["title"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == DATASOURCE_UID
    for annotation in dashboard["annotations"]["list"]:
        if annotation.get("expr"):
            assert annotation["datasource"]["uid"] == DATASOURCE_UID


def test_queries_filter_on_the_instance_variable(dashboard):
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    instance = variables["instance"]
    assert variable_query(instance) == "label_values(stream_mlc_model_version, instance)"
    assert instance.get("includeAll") and instance.get("allValue") == ".*"
    for expr in panel_exprs(dashboard):
        for selector in re.findall(r"stream_mlc_[A-Za-z0-9_:]*(\{[^}]*\})?", expr):
            assert 'instance=~"$instance"' in selector, expr


# ------------------------------------------------------------------ metric names


def test_the_fixture_exposes_every_metric_of_the_worker(exported):
    # Guards the check below: a metric without samples would make its panels look wrong.
    families = {
        "stream_mlc_events_scored_total", "stream_mlc_label_events_total", "stream_mlc_labels_joined_total",
        "stream_mlc_deadlettered_total", "stream_mlc_joins_expired_total", "stream_mlc_duplicates_total",
        "stream_mlc_alerts_total", "stream_mlc_checkpoints_total",
        "stream_mlc_scoring_latency_seconds_bucket", "stream_mlc_label_delay_seconds_bucket",
        "stream_mlc_pending_joins", "stream_mlc_model_version", "stream_mlc_quality", "stream_mlc_label_f1",
        "stream_mlc_label_threshold", "stream_mlc_label_error_rate", "stream_mlc_feature_psi",
        "stream_mlc_active_alerts",
    }
    assert families <= set(exported)


def test_every_metric_in_the_dashboard_is_exported(dashboard, exported):
    exprs = all_exprs(dashboard)
    assert exprs
    assert unknown_metrics(exprs, set(exported)) == {}


def test_every_panel_queries_a_stream_mlc_metric(dashboard):
    for panel in query_panels(dashboard):
        names = set().union(*(metric_names(t["expr"]) for t in panel["targets"]))
        assert names, f"panel {panel['title']!r} queries no stream_mlc metric"


def test_the_check_catches_misspelled_metrics(dashboard, exported):
    names = set(exported)
    good = 'sum(rate(stream_mlc_events_scored_total{instance=~"$instance"}[$__rate_interval]))'
    assert unknown_metrics([good], names) == {}
    doctored = [
        good.replace("stream_mlc_events_scored_total", "stream_mlc_events_scored"),  # no _total
        good.replace("stream_mlc_events_scored_total", "stream_mlc_event_scored_total"),  # typo
        "histogram_quantile(0.99, sum by (le) (rate(stream_mlc_scoring_latency_seconds[5m])))",  # no _bucket
        'stream_mlc_Quality{scope="window"}',  # case
    ]
    found = unknown_metrics(doctored, names)
    assert set(found) == set(doctored)
    assert found[doctored[0]] == ["stream_mlc_events_scored"]
    # And on the real dashboard: break one name and the check reports it.
    exprs = all_exprs(dashboard)
    broken = [e.replace("stream_mlc_quality", "stream_mlc_qualty") for e in exprs]
    assert any("stream_mlc_qualty" in missing for missing in unknown_metrics(broken, names).values())


def test_grouping_and_legend_labels_exist(dashboard, exported):
    for panel in query_panels(dashboard):
        for target in panel["targets"]:
            expr = target["expr"]
            available = set(SCRAPE_LABELS)
            for name in metric_names(expr):
                available |= exported.get(name, set())
            grouped = {label.strip() for clause in BY.findall(expr) for label in clause.split(",") if label.strip()}
            assert grouped <= available, (panel["title"], expr, grouped - available)
            legend = set(LEGEND.findall(target.get("legendFormat", "")))
            assert legend <= available, (panel["title"], expr, legend - available)


def test_counters_and_histograms_are_queried_through_rate(dashboard):
    cumulative = re.compile(r"stream_mlc_[A-Za-z0-9_]*(?:_total|_bucket|_sum|_count)\b")
    for expr in all_exprs(dashboard):
        for match in cumulative.finditer(expr):
            before = expr[: match.start()]
            assert re.search(r"\b(?:rate|irate|increase)\(\s*$", before), (expr, match.group())


def test_quantiles_aggregate_buckets_by_le(dashboard):
    quantiles = [e for e in all_exprs(dashboard) if "histogram_quantile" in e]
    assert {"stream_mlc_scoring_latency_seconds_bucket", "stream_mlc_label_delay_seconds_bucket"} <= set().union(
        *(metric_names(e) for e in quantiles)
    )
    for expr in quantiles:
        assert re.search(r"\bby\s*\(\s*le\s*\)", expr), expr
        assert all(name.endswith("_bucket") for name in metric_names(expr)), expr


def test_the_dashboard_covers_what_the_issue_asks_for(dashboard):
    used = set().union(*(metric_names(e) for e in panel_exprs(dashboard)))
    expected = {
        "stream_mlc_events_scored_total", "stream_mlc_label_events_total", "stream_mlc_labels_joined_total",
        "stream_mlc_deadlettered_total", "stream_mlc_scoring_latency_seconds_bucket",
        "stream_mlc_label_delay_seconds_bucket", "stream_mlc_quality", "stream_mlc_label_f1",
        "stream_mlc_label_threshold", "stream_mlc_label_error_rate", "stream_mlc_feature_psi",
        "stream_mlc_alerts_total", "stream_mlc_active_alerts", "stream_mlc_pending_joins",
        "stream_mlc_joins_expired_total", "stream_mlc_duplicates_total", "stream_mlc_checkpoints_total",
        "stream_mlc_model_version",
    }
    assert expected <= used, expected - used
    exprs = " ".join(panel_exprs(dashboard))
    for quantile in ("0.5", "0.99"):
        assert f"histogram_quantile({quantile}," in exprs
    for scope in ("cumulative", "window"):
        assert f'scope="{scope}"' in exprs
    for metric in ("micro_f1", "macro_f1", "hamming_loss", "subset_accuracy"):
        assert metric in QUALITY and metric in exprs
