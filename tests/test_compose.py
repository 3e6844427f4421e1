"""Static checks of the production-like stack in docker-compose.yml (no Docker needed)."""

from __future__ import annotations

import ast
import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from stream_mlc.cli import _parser
from stream_mlc.service.admin import planned_topics
from stream_mlc.settings import ENV_PREFIX, Settings
from stream_mlc.topics import load_specs

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict)
    return doc


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def command_of(service: dict) -> str:
    command = service.get("command") or ""
    return " ".join(command) if isinstance(command, list) else str(command)


def stream_mlc_argv(service: dict) -> list[str]:
    """The arguments given to `stream-mlc` in a service's command (inside `sh -c` or not)."""
    command = service.get("command") or []
    tokens = shlex.split(command) if isinstance(command, str) else list(command)
    if tokens[:2] == ["sh", "-c"]:
        tokens = shlex.split(tokens[2].replace("$$", "$"))
    start = tokens.index("stream-mlc") + 1
    argv = []
    for token in tokens[start:]:
        if token in {"&&", "||", ";", "|"}:
            break
        argv.append(token)
    return argv


def services_running(services: dict, words: str) -> list[str]:
    return [name for name, svc in services.items() if words in " ".join(stream_mlc_argv_or_empty(svc))]


def stream_mlc_argv_or_empty(service: dict) -> list[str]:
    return stream_mlc_argv(service) if "stream-mlc" in command_of(service) else []


def host_mounts(service: dict) -> list[tuple[Path, str]]:
    """(host path, container path) of the bind mounts from the repository."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts.append((ROOT / volume["source"], volume["target"]))
            continue
        source, _, rest = volume.partition(":")
        if source.startswith((".", "/")):
            mounts.append(((ROOT / source).resolve(), rest.split(":")[0]))
    return mounts


def fixed_host_ports(service: dict) -> list[str]:
    """The published ports of a service that bind one fixed host port.

    Several replicas cannot bind the same host port, so `--scale` fails on these. A
    container-only entry ("9464": Docker picks a free host port) or a host port range
    ("9464-9470:9464") can be shared by replicas; `expose` publishes nothing.
    """
    fixed = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            published = str(entry.get("published") or "")
            if published and "-" not in published:
                fixed.append(str(entry))
            continue
        text = str(entry).split("/")[0]
        # [host_ip:][host_port:]container_port; IPv6 host ips are bracketed.
        text = re.sub(r"^\[[^\]]*\]:", "", text)
        parts = text.split(":")
        host_port = parts[-2] if len(parts) >= 2 else ""
        if host_port and "-" not in host_port:
            fixed.append(str(entry))
    return fixed


def worker_name(services) -> str:
    names = services_running(services, "worker")
    assert len(names) == 1, f"expected one worker service, found {names}"
    return names[0]


def worker_settings(services) -> Settings:
    return Settings.from_env(environ=env_of(services[worker_name(services)]))


# ------------------------------------------------------------------ services


def test_kafka_runs_apache_kafka_in_kraft_mode(services):
    kafka = [svc for svc in services.values() if str(svc.get("image", "")).startswith("apache/kafka")]
    assert len(kafka) == 1
    env = env_of(kafka[0])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env.get("KAFKA_NODE_ID") and env.get("KAFKA_CONTROLLER_QUORUM_VOTERS")
    assert not any("ZOOKEEPER" in key for key in env)
    # Only topics/ makes topics: the broker must not invent any.
    assert env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "false"


def test_a_service_creates_the_topics_with_the_cli(services):
    names = services_running(services, "topics create")
    assert len(names) == 1
    argv = stream_mlc_argv(services[names[0]])
    assert hasattr(_parser().parse_args(argv), "run")  # a real command of the CLI
    assert "kafka" in str(services[names[0]].get("depends_on", ""))


def test_the_worker_service_can_be_scaled(services):
    name = worker_name(services)
    worker = services[name]
    argv = stream_mlc_argv(worker)
    args = _parser().parse_args(argv)
    assert args.run.__name__ == "_worker"
    assert "container_name" not in worker  # `--scale worker=N` needs generated names
    assert fixed_host_ports(worker) == [], "a fixed host port cannot be bound by several replicas"
    # Each replica gets its own worker id: its container's hostname, expanded by the shell in
    # the container (a compose-level value would be the same for every replica), so the
    # service must not fix the hostname either.
    assert args.worker_id is not None and "$HOSTNAME" in args.worker_id, args.worker_id
    assert "hostname" not in worker, "a fixed hostname gives every replica the same worker id"
    assert ENV_PREFIX + "WORKER_ID" not in env_of(worker)
    topics_service = services_running(services, "topics create")[0]
    assert topics_service in str(worker.get("depends_on", ""))


@pytest.mark.parametrize(
    ("ports", "fixed"),
    [
        (["127.0.0.1:9464:9464"], True),
        (["9464:9464"], True),
        (["9464:9464/tcp"], True),
        (["[::1]:9464:9464"], True),
        ([{"target": 9464, "published": "9464"}], True),
        (["9464"], False),
        (["127.0.0.1::9464"], False),
        (["9464-9470:9464"], False),
        ([{"target": 9464}], False),
        ([], False),
    ],
)
def test_fixed_host_ports_tells_a_fixed_host_port(ports, fixed):
    assert bool(fixed_host_ports({"ports": ports})) is fixed


def test_the_worker_service_runs_in_scaled_mode(services):
    # Scaled mode is what lets `--scale worker=N` share the work: in single mode every replica
    # would run its own model on the partitions it happens to be assigned.
    worker = services[worker_name(services)]
    settings = worker_settings(services)
    assert settings.mode == "scaled"
    assert env_of(worker)[ENV_PREFIX + "MODE"] == "scaled"
    # The replicas form one consumer group only if they share the app id (nothing per replica).
    assert "$" not in settings.app_id


def test_only_the_worker_service_runs_in_scaled_mode(services):
    # The topics step and the other services do not take part in the consumer group.
    name = worker_name(services)
    others = {n: env_of(svc).get(ENV_PREFIX + "MODE") for n, svc in services.items() if n != name}
    assert {n: mode for n, mode in others.items() if mode == "scaled"} == {}


def test_the_python_services_point_at_the_kafka_service(services):
    kafka = next(name for name, svc in services.items() if str(svc.get("image", "")).startswith("apache/kafka"))
    for name in services_running(services, "worker") + services_running(services, "topics create"):
        bootstrap = Settings.from_env(environ=env_of(services[name])).bootstrap
        assert bootstrap.split(":")[0] == kafka, name


def test_every_stream_mlc_variable_in_the_compose_file_is_a_setting(services):
    fields = {ENV_PREFIX + name.upper() for name in Settings.__dataclass_fields__}
    for name, svc in services.items():
        unknown = sorted(key for key in env_of(svc) if key.startswith(ENV_PREFIX) and key not in fields)
        assert unknown == [], f"service {name!r} sets variables no setting reads: {unknown}"


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


# ------------------------------------------------------------------ topics


def test_the_compose_file_names_topics_only_through_the_prefix(services):
    text = COMPOSE.read_text()
    specs = load_specs()
    prefixes = {env_of(svc).get(ENV_PREFIX + "TOPIC_PREFIX") for svc in services.values()} - {None}
    assert len(prefixes) == 1, f"the python services must share one topic prefix, got {prefixes}"
    prefix = prefixes.pop()
    assert prefix
    for name in specs:
        assert f"{prefix}{name}" not in text, f"topic {prefix}{name} hard-coded"
    assert not re.search(r"--topic\b", text), "topic names are passed only through the prefix"
    for service in services.values():
        env = env_of(service)
        for key, value in env.items():
            if key != ENV_PREFIX + "TOPIC_PREFIX":
                assert value not in specs and not any(value.endswith(f".{n}") for n in specs), (key, value)


def test_the_topics_step_creates_every_topic_in_topics(services):
    # The topics service installs the mounted checkout; the wheel carries topics/ as
    # stream_mlc/_topics, so what it creates is exactly what the folder describes.
    force_include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]
    assert force_include["wheel"]["force-include"].get("topics") == "stream_mlc/_topics"
    name = services_running(services, "topics create")[0]
    service = services[name]
    assert any(target == "/app" and host == ROOT for host, target in host_mounts(service))
    args = _parser().parse_args(stream_mlc_argv(service))
    settings = Settings.from_env(
        environ=env_of(service),
        partitions=getattr(args, "partitions", None),
        topic_prefix=getattr(args, "topic_prefix", None),
    )
    files = {json.loads(path.read_text())["name"]: path for path in sorted((ROOT / "topics").glob("*.json"))}
    assert {"learn", "models"} <= set(files), "scaled mode's topics are missing from topics/"
    planned = {topic.name: topic for topic in planned_topics(settings)}
    assert set(planned) == {settings.topic_prefix + short for short in files}
    # The workers use the topics the step created.
    assert worker_settings(services).topic_prefix == settings.topic_prefix
    # Scaled mode needs exactly one learner: the learn topic keeps one partition whatever the
    # partition override; features and labels stay co-partitioned.
    assert planned[settings.topic_prefix + "learn"].num_partitions == 1
    assert planned[settings.topic_prefix + "models"].num_partitions == 1
    features, labels = (planned[settings.topic_prefix + short].num_partitions for short in ("features", "labels"))
    assert features == labels
    assert json.loads(files["models"].read_text())["config"]["cleanup.policy"] == "compact"


def _topic_references() -> dict[str, set[str]]:
    """Short topic names the code refers to: settings.topic("x"), topics["x"], TopicReader(s, "x")."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "stream_mlc").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Call):
                func = node.func
                attr = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if attr == "topic":
                    names = node.args[:1]
                elif attr == "TopicReader":
                    names = node.args[1:]
            elif isinstance(node, ast.Subscript):
                value = node.value
                target = value.attr if isinstance(value, ast.Attribute) else getattr(value, "id", "")
                if target == "topics":
                    names = [node.slice]
            for arg in names:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.setdefault(arg.value, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_topic_the_code_refers_to_comes_from_topics():
    references = _topic_references()
    # The scan sees the service's own topics, so it would see a stray one.
    assert {"features", "labels", "predictions", "training", "deadletter", "status"} <= set(references)
    unknown = {name: sorted(where) for name, where in references.items() if name not in load_specs()}
    assert unknown == {}


def test_a_worker_that_exits_is_restarted(services):
    # A scaled-mode worker exits (code 70) rather than commit offsets of records it could not forward.
    assert services[worker_name(services)].get("restart") in {"unless-stopped", "always", "on-failure"}
