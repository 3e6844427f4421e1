"""Static checks of the monitoring in docker-compose.yml: Prometheus scrapes every worker, Grafana is provisioned."""

from __future__ import annotations

import pytest
import yaml
from compose_stack import ROOT, host_mounts, load_services, worker_name, worker_settings


@pytest.fixture(scope="module")
def services() -> dict:
    return load_services()


def test_prometheus_config_exists_and_scrapes_the_worker_metrics_port(services):
    prometheus = [svc for svc in services.values() if str(svc.get("image", "")).startswith("prom/prometheus")]
    assert len(prometheus) == 1
    mounts = host_mounts(prometheus[0])
    config_files = [host for host, target in mounts if target == "/etc/prometheus/prometheus.yml"]
    assert len(config_files) == 1, mounts
    assert config_files[0].is_file(), f"{config_files[0]} does not exist"
    config = yaml.safe_load(config_files[0].read_text())
    targets = set()
    for job in config.get("scrape_configs") or []:
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                host, _, port = target.rpartition(":")
                targets.add((host, int(port)))
        for dns in job.get("dns_sd_configs") or []:
            for host in dns.get("names") or []:
                targets.add((host, int(dns["port"])))
    name = worker_name(services)
    settings = worker_settings(services)
    assert hasattr(settings, "metrics_port"), (
        "the compose file sets STREAM_MLC_METRICS_PORT but Settings has no metrics_port: "
        "the worker serves no metrics on the port Prometheus scrapes"
    )
    assert (name, int(settings.metrics_port)) in targets


def prometheus_config(services) -> dict:
    prometheus = next(svc for svc in services.values() if str(svc.get("image", "")).startswith("prom/prometheus"))
    path = next(host for host, target in host_mounts(prometheus) if target == "/etc/prometheus/prometheus.yml")
    return yaml.safe_load(path.read_text())


def test_prometheus_discovers_every_worker_replica_through_dns(services):
    # Compose's embedded DNS answers a service name with the IP of every replica; an A-record
    # DNS service discovery of that name makes each replica its own scrape target. A static
    # target would scrape one replica per scrape (round robin); `tasks.<name>` is swarm-only.
    name = worker_name(services)
    port = int(worker_settings(services).metrics_port)
    jobs = prometheus_config(services).get("scrape_configs") or []
    discovered = [
        dns
        for job in jobs
        for dns in job.get("dns_sd_configs") or []
        if name in (dns.get("names") or [])
    ]
    assert discovered, f"no dns_sd_configs job discovers the {name!r} service"
    for dns in discovered:
        assert dns.get("type", "SRV") == "A", "compose's DNS serves A records, not SRV"
        assert int(dns["port"]) == port
    static_hosts = {
        target.rpartition(":")[0]
        for job in jobs
        for static in job.get("static_configs") or []
        for target in static.get("targets") or []
    }
    assert name not in static_hosts, "a static target reaches one replica per scrape, not all"
    names = {host for job in jobs for dns in job.get("dns_sd_configs") or [] for host in dns.get("names") or []}
    assert not any(host.startswith("tasks.") for host in names), "tasks.<service> resolves only in swarm"


def test_grafana_is_provisioned_from_files_in_the_repository(services):
    grafana = [svc for svc in services.values() if str(svc.get("image", "")).startswith("grafana/grafana")]
    assert len(grafana) == 1
    mounts = dict((target, host) for host, target in host_mounts(grafana[0]))
    provisioning = mounts.get("/etc/grafana/provisioning")
    assert provisioning is not None, "grafana mounts no provisioning folder"
    assert provisioning.is_dir(), f"{provisioning.relative_to(ROOT)} does not exist"
    datasources = [p for p in (provisioning / "datasources").glob("*.y*ml")]
    assert datasources, "no datasource provisioning file"
    urls = [
        source.get("url", "")
        for path in datasources
        for source in (yaml.safe_load(path.read_text()) or {}).get("datasources", [])
    ]
    prometheus = next(n for n, s in services.items() if str(s.get("image", "")).startswith("prom/prometheus"))
    assert any(f"//{prometheus}:9090" in url for url in urls), urls
    providers = [
        provider
        for path in (provisioning / "dashboards").glob("*.y*ml")
        for provider in (yaml.safe_load(path.read_text()) or {}).get("providers", [])
    ]
    assert providers, "no dashboard provider"
    for provider in providers:
        folder = provider["options"]["path"]
        assert folder in mounts, f"dashboard provider reads {folder}, which is not mounted"
        assert list(mounts[folder].glob("*.json")), f"no dashboard in {mounts[folder].relative_to(ROOT)}"


def test_every_mounted_repository_file_exists(services):
    missing = [
        f"{name}: {host.relative_to(ROOT) if host.is_relative_to(ROOT) else host}"
        for name, svc in services.items()
        for host, _ in host_mounts(svc)
        if not host.exists()
    ]
    assert missing == []
