"""Static checks that the stack's topics are exactly those of topics/, named only through the prefix."""

from __future__ import annotations

import ast
import json
import re
import tomllib

import pytest
from compose_stack import (
    COMPOSE,
    ROOT,
    copied_sources,
    env_of,
    load_services,
    services_running,
    stream_mlc_argv,
    uses_built_image,
    worker_settings,
)

from stream_mlc.cli import build_parser as _parser
from stream_mlc.service.admin import planned_topics
from stream_mlc.settings import ENV_PREFIX, Settings
from stream_mlc.topics import load_specs


@pytest.fixture(scope="module")
def services() -> dict:
    return load_services()


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
