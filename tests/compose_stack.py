"""What the static checks of the production-like stack read: docker-compose.yml and the Dockerfile.

Shared by the tests/test_compose_*.py files (no Docker needed): the compose file's services,
what each runs (its argv, the `stream-mlc` arguments in it), its mounts and published ports,
and the Dockerfile's instructions and stages.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

from stream_mlc.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


def load_services() -> dict:
    """The services of docker-compose.yml (each test module's ``services`` fixture)."""
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict)
    return doc["services"]


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
