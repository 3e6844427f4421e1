"""Static checks of docker-compose.yml's services: Kafka, the topics step, the scalable worker."""

from __future__ import annotations

import re

import pytest
from compose_stack import (
    COMPOSE,
    command_of,
    env_of,
    fixed_host_ports,
    host_mounts,
    load_services,
    services_running,
    stream_mlc_argv,
    worker_name,
    worker_settings,
)

from stream_mlc.cli import build_parser as _parser
from stream_mlc.settings import ENV_PREFIX, Settings


@pytest.fixture(scope="module")
def services() -> dict:
    return load_services()


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


def test_a_worker_that_exits_is_restarted(services):
    # A scaled-mode worker exits (code 70) rather than commit offsets of records it could not forward.
    assert services[worker_name(services)].get("restart") in {"unless-stopped", "always", "on-failure"}



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
