"""Scaled mode's scoring role without a broker: which model snapshot it scores with."""

from __future__ import annotations

import hashlib
from collections import Counter

import orjson
import pytest

from stream_mlc import bootstrap
from stream_mlc.core.snapshot import dumps
from stream_mlc.service.prom import ServiceMetrics
from stream_mlc.service.scaled import ScoringRole
from stream_mlc.settings import Settings


@pytest.fixture
def role() -> ScoringRole:
    settings = Settings.from_env(environ={}, mode="scaled", labels="a,b")
    return ScoringRole(settings, outputs=None, metrics=ServiceMetrics(), counts=Counter())


def test_a_broken_snapshot_is_logged_and_the_current_model_kept(role, caplog):
    before = role.snapshot
    role.load_manifest(b'{"slot": 0, "chunks": 1, "sha256": "00", "learned": 9, "created": 0}', {})
    assert role.snapshot is before
    assert "cannot be loaded" in caplog.text


def test_the_newest_snapshot_is_loaded_even_with_a_lower_version(role):
    engine = bootstrap.new_engine(Settings.from_env(environ={}, labels="a,b"))
    engine.learned = 50
    role.load_manifest(*published(dumps(engine.snapshot()), slot=1))
    assert role.snapshot.version == 50
    engine.learned = 20  # a new learner, resumed from an older checkpoint, published this
    role.load_manifest(*published(dumps(engine.snapshot()), slot=0))
    assert role.snapshot.version == 20


def published(data: bytes, slot: int) -> tuple[bytes, dict[bytes, bytes]]:
    manifest = {"slot": slot, "chunks": 1, "sha256": hashlib.sha256(data).hexdigest(), "learned": 0, "created": 0}
    return orjson.dumps(manifest), {f"stream-mlc/model/{slot}/0".encode(): data}
