"""The topic specs in ``topics/``: the single source of truth for names, settings and schemas."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import orjson

from stream_mlc.errors import ConfigError

# Installed wheels carry topics/ inside the package; a source checkout reads the top-level folder.
_CANDIDATES = (Path(__file__).parent / "_topics", Path(__file__).parent.parent / "topics")


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]
    schema: dict
    key: str
    description: str = ""

    def full_name(self, prefix: str) -> str:
        return f"{prefix}{self.name}"


def topics_dir() -> Path:
    for candidate in _CANDIDATES:
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"topic specs not found in any of {[str(c) for c in _CANDIDATES]}")


@cache
def load_specs() -> dict[str, TopicSpec]:
    """All topic specs, by short name (``features``, ``labels``, ...)."""
    specs = {}
    for path in sorted(topics_dir().glob("*.json")):
        raw = orjson.loads(path.read_bytes())
        try:
            spec = TopicSpec(
                name=raw["name"],
                partitions=int(raw["partitions"]),
                replication_factor=int(raw.get("replication_factor", 1)),
                config={k: str(v) for k, v in raw.get("config", {}).items()},
                schema=raw["schema"],
                key=raw.get("key", ""),
                description=raw.get("description", ""),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError(f"bad topic spec {path}: {error}") from error
        specs[spec.name] = spec
    if specs["features"].partitions != specs["labels"].partitions:
        raise ConfigError("features and labels must have the same partition count (co-partitioned join)")
    return specs
