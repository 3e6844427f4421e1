"""Static checks of the image: its Dockerfile, its build context, and the services that run it."""

from __future__ import annotations

import re
import tomllib

import pytest
from compose_stack import (
    DOCKERFILE,
    DOCKERIGNORE,
    ROOT,
    built_image_name,
    command_of,
    copied_sources,
    dockerfile_exec_form,
    dockerfile_instructions,
    dockerfile_stages,
    load_services,
    services_running,
    worker_name,
)

from stream_mlc.cli import build_parser as _parser
from stream_mlc.settings import Settings


@pytest.fixture(scope="module")
def services() -> dict:
    return load_services()


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
