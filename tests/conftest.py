"""Shared fixtures: one real Tansu broker per test session, fresh topics per test."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from stream_mlc.service.admin import create_topics
from stream_mlc.service.broker import EmbeddedBroker, free_port
from stream_mlc.service.process import WorkerProcess
from stream_mlc.settings import Settings

_names = itertools.count()


@pytest.fixture(scope="session")
def broker(tmp_path_factory) -> EmbeddedBroker:
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log) as running:
        yield running


@pytest.fixture
def service_settings(broker, request) -> Settings:
    """Settings for one test: its own topics and consumer group on the session's broker."""
    n = next(_names)
    settings = Settings.from_env(
        environ={},
        broker=broker.bootstrap,
        topic_prefix=f"t{n}.",
        app_id=f"stream-mlc-test-{n}",
        web_port=free_port(),
        metrics_port=free_port(),
        status_interval_s=0.2,
    )
    create_topics(settings)
    return settings


@pytest.fixture
def start_worker(tmp_path: Path):
    """Start ``stream-mlc worker`` processes; every one is stopped at the end of the test."""
    started: list[WorkerProcess] = []

    def start(settings: Settings) -> WorkerProcess:
        worker = WorkerProcess.start(settings, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
