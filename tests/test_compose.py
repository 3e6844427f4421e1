"""Static checks of the production-like stack: docker-compose.yml and the image's Dockerfile (no Docker needed)."""

from __future__ import annotations

import ast
import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from stream_mlc.cli import build_parser as _parser
from stream_mlc.service.admin import planned_topics
from stream_mlc.settings import ENV_PREFIX, Settings
from stream_mlc.topics import load_specs

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


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


def _tokens(value) -> list[str]:
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(token) for token in value]


def uses_built_image(service: dict) -> bool:
    return "build" in service or service.get("image") == built_image_name()


def process_argv(service: dict) -> list[str]:
    """What the container runs: its entrypoint (the service's, else the built image's) and command."""
    if "entrypoint" in service:
        entrypoint = _tokens(service["entrypoint"])
    else:
        entrypoint = dockerfile_exec_form("ENTRYPOINT") if uses_built_image(service) else []
    return entrypoint + _tokens(service.get("command"))


def command_of(service: dict) -> str:
    return " ".join(process_argv(service))


def stream_mlc_argv(service: dict) -> list[str]:
    """The arguments given to `stream-mlc` in a service's command (inside `sh -c` or not)."""
    tokens = process_argv(service)
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


# ------------------------------------------------------------------ the image


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    instructions, parts = [], []
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts.append(stripped.removesuffix("\\").strip())
        if not stripped.endswith("\\"):
            keyword, _, rest = " ".join(parts).partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
            parts = []
    return instructions


def copied_sources() -> set[str]:
    """The top-level build-context paths the Dockerfile copies (COPY without --from)."""
    sources = set()
    for keyword, rest in dockerfile_instructions():
        if keyword == "COPY" and "--from" not in rest:
            for source in shlex.split(rest)[:-1]:
                if not source.startswith("--"):
                    sources.add(source.strip("./").split("/")[0])
    return sources


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, in order (a stage starts at its FROM)."""
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    return stages


def dockerfile_exec_form(keyword: str) -> list[str]:
    """The JSON (exec) form of the final stage's last ENTRYPOINT, CMD or HEALTHCHECK CMD."""
    values = [rest for key, rest in dockerfile_stages()[-1] if key == keyword]
    assert values, f"the final stage has no {keyword}"
    text = values[-1]
    if keyword == "HEALTHCHECK":
        text = text[text.index("CMD ") + 4:]
    return json.loads(text)


def built_image_name() -> str | None:
    doc = yaml.safe_load(COMPOSE.read_text())
    built = [svc.get("image") for svc in doc["services"].values() if "build" in svc]
    return built[0] if len(built) == 1 else None


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
    # The topics service runs the image built from this checkout, whose wheel carries topics/
    # as stream_mlc/_topics, so what it creates is exactly what the folder describes.
    force_include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]
    assert force_include["wheel"]["force-include"].get("topics") == "stream_mlc/_topics"
    name = services_running(services, "topics create")[0]
    service = services[name]
    assert uses_built_image(service)
    assert "topics" in copied_sources(), "the image's build does not copy topics/"
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


# ------------------------------------------------------------------ the image


def _final_stage() -> list[tuple[str, str]]:
    return dockerfile_stages()[-1]


def _arg_default(name: str) -> str | None:
    for keyword, rest in dockerfile_instructions():
        if keyword == "ARG" and rest.startswith(name + "="):
            return rest.split("=", 1)[1]
    return None


def _base_image(stage: list[tuple[str, str]]) -> str:
    image = stage[0][1].split()[0]
    match = re.fullmatch(r"\$\{?(\w+)\}?", image)
    return _arg_default(match.group(1)) if match else image


def test_the_dockerfile_is_multi_stage_on_python_slim():
    stages = dockerfile_stages()
    assert len(stages) >= 2, "a builder stage and a runtime stage"
    names = [stage[0][1].split()[-1] for stage in stages[:-1]]
    assert all(" AS " in stage[0][1].upper() for stage in stages[:-1]), "earlier stages are named"
    assert _base_image(stages[-1]) == "python:3.11-slim"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"
    # The builder makes wheels of the project and all its dependencies...
    builder = " ".join(rest for key, rest in stages[0] if key == "RUN")
    assert re.search(r"pip wheel .*--wheel-dir /wheels \.(\s|$)", builder), builder
    # ...and the runtime installs only those, from the builder, without reaching an index.
    runtime = " ".join(rest for key, rest in _final_stage() if key == "RUN")
    assert f"from={names[0]}" in runtime and "--no-index" in runtime
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    assert re.search(rf"pip install .*--find-links /wheels {re.escape(project)}(\s|$)", runtime), runtime
    # No source tree in the runtime image: it runs the installed package.
    assert not [rest for key, rest in _final_stage() if key in {"COPY", "ADD"} and "--from" not in rest]


def test_the_image_runs_as_a_non_root_user():
    users = [rest for key, rest in _final_stage() if key == "USER"]
    assert users, "the runtime stage sets no USER: it would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    keywords = [key for key, _ in _final_stage()]
    # Installing needs root; everything after the last USER (the process) does not.
    assert max(i for i, key in enumerate(keywords) if key == "RUN") < keywords.index("USER")
    created = " ".join(rest for key, rest in _final_stage() if key == "RUN")
    assert re.search(rf"useradd .*\b{re.escape(users[-1])}\b", created), "the USER is created"


def test_the_image_runs_stream_mlc_and_checks_the_metrics_port():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert dockerfile_exec_form("ENTRYPOINT") == ["stream-mlc"] and "stream-mlc" in scripts
    assert hasattr(_parser().parse_args(dockerfile_exec_form("CMD")), "run")
    healthcheck = " ".join(dockerfile_exec_form("HEALTHCHECK"))
    assert "/metrics" in healthcheck and "STREAM_MLC_METRICS_PORT" in healthcheck
    env = " ".join(rest for key, rest in _final_stage() if key == "ENV")
    port = re.search(r"STREAM_MLC_METRICS_PORT=(\d+)", env)
    assert port and int(port.group(1)) == Settings.from_env(environ={}).metrics_port
    # Other containers (Prometheus) reach the worker only if it listens beyond loopback.
    assert "STREAM_MLC_METRICS_HOST=0.0.0.0" in env
    assert int(port.group(1)) in {int(p) for key, rest in _final_stage() if key == "EXPOSE" for p in rest.split()}


def test_the_build_context_holds_what_the_dockerfile_copies():
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "**", "the context is an allow-list: nothing else (.venv, .git, data) is sent"
    allowed = {rule.removeprefix("!").rstrip("/") for rule in rules if rule.startswith("!")}
    assert copied_sources() <= allowed
    # The wheel's build needs the readme pyproject names.
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"] in allowed
    assert {"pyproject.toml", "stream_mlc", "topics"} <= copied_sources()


def test_compose_builds_the_image_once_and_every_stream_mlc_service_runs_it(services):
    built = [name for name, svc in services.items() if "build" in svc]
    assert len(built) == 1, f"one service builds the image, not {built}"
    image = built_image_name()
    assert image, "the built image has a name the other services can run"
    build = services[built[0]]["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    assert (ROOT / context).resolve() == ROOT
    assert (ROOT / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")) == DOCKERFILE
    runners = [name for name, svc in services.items() if "stream-mlc" in command_of(svc)]
    assert set(runners) >= {worker_name(services), services_running(services, "topics create")[0]}
    for name in runners:
        service = services[name]
        assert service.get("image") == image, name
        # The image is local: a replica must not try to pull it from a registry.
        assert "build" in service or service.get("pull_policy") == "never", name


def test_no_service_installs_anything_when_it_starts(services):
    for name, service in services.items():
        command = command_of(service)
        assert not re.search(r"\bpip3?\b|\bapt(-get)?\b|\buv\b", command), (name, command)
        assert not any(target == "/app" for _, target in host_mounts(service)), f"{name} mounts the checkout"
    assert "pip install" not in COMPOSE.read_text()


def test_the_one_shot_topics_step_has_no_health_check(services):
    topics = services[services_running(services, "topics create")[0]]
    assert topics.get("healthcheck", {}).get("disable") is True
    assert "healthcheck" not in services[worker_name(services)], "the worker keeps the image's check"
