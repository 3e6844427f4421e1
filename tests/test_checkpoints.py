"""Checkpoints in chunks behind a manifest: the slot the manifest names, or the other if it is broken."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from stream_mlc.core.checkpoint import Checkpoint, CheckpointError, dumps, loads
from stream_mlc.core.engine import Engine, EngineConfig
from stream_mlc.service import checkpoints
from stream_mlc.service.checkpoints import stored_from, write_checkpoint


def written(monkeypatch, *writes: tuple[bytes, int]) -> tuple[dict[bytes, bytes], dict]:
    """The newest record of each key after ``writes`` of (data, slot), 3-byte chunks; and the last manifest."""
    monkeypatch.setattr(checkpoints, "CHUNK_BYTES", 3)
    latest: dict[bytes, bytes] = {}

    async def send(key: bytes, value: bytes) -> None:
        latest[key] = value

    for data, slot in writes:
        asyncio.run(write_checkpoint(send, "app", data, slot, learned=len(data)))
    return latest, orjson.loads(latest[b"app/manifest"])


def sealed(learned: int) -> bytes:
    engine = Engine.from_config(EngineConfig())
    engine.learned = learned
    return dumps(Checkpoint(engine, {"t": {0: learned}}))


def test_the_manifest_names_the_newest_slot(monkeypatch):
    first, second = sealed(1), sealed(2)
    latest, manifest = written(monkeypatch, (first, 0), (second, 1))
    stored = stored_from(latest, "app", manifest)
    assert (stored.data, stored.slot) == (second, 1)


def test_a_slot_overwritten_half_way_falls_back_to_the_other_slot(monkeypatch):
    first, second = sealed(1), sealed(2)
    latest, manifest = written(monkeypatch, (first, 0), (second, 1))
    # A writer that did not know the manifest named slot 1 began writing there, and died.
    latest[b"app/1/0"] = b"xyz"
    stored = stored_from(latest, "app", manifest)
    assert stored.slot == 0 and loads(stored.data).learned == 1


def test_both_slots_broken_is_refused(monkeypatch):
    latest, manifest = written(monkeypatch, (sealed(1), 0), (sealed(2), 1))
    latest[b"app/0/1"] = latest[b"app/1/1"] = b"xyz"
    with pytest.raises(CheckpointError, match="refusing to load it"):
        stored_from(latest, "app", manifest)


def test_the_event_clock_travels_with_the_checkpoint():
    checkpoint = loads(dumps(Checkpoint(Engine.from_config(EngineConfig()), {}, clock=123.5)))
    assert checkpoint.clock == 123.5
