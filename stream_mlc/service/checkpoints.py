"""Checkpoint stores: a compacted Kafka topic and a local directory, behind one interface.

A :class:`CheckpointStore` saves sealed bytes and loads the newest intact ones
(:class:`Stored`). :class:`TopicStore` keeps them on a compacted topic (checkpoints, and the
scaled learner's model snapshots); :class:`DirectoryStore` in a directory; :class:`Newest`
saves to several and loads the newest of them.

On a topic, a checkpoint can be larger than a Kafka message may be, so it is written as chunks under
``<app id>/<slot>/<i>`` and then a manifest under ``<app id>/manifest`` naming the slot,
the chunk count and the SHA-256 of the whole. Slots alternate between two checkpoints, so
a worker killed while writing one leaves the previous one, still named by the manifest,
intact. Compaction keeps only the newest record of each key.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson

from stream_mlc.core.checkpoint import CheckpointError, intact
from stream_mlc.service.reader import TopicReader
from stream_mlc.settings import Settings

log = logging.getLogger(__name__)
CHUNK_BYTES = 512 * 1024
Send = Callable[[bytes, bytes], Awaitable[None]]


async def write_checkpoint(send: Send, app_id: str, data: bytes, slot: int, learned: int) -> None:
    """Send the chunks, then the manifest that makes them the current checkpoint."""
    chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
    for i, chunk in enumerate(chunks):
        await send(f"{app_id}/{slot}/{i}".encode(), chunk)
    manifest = {"slot": slot, "chunks": len(chunks), "sha256": hashlib.sha256(data).hexdigest(),
                "learned": learned, "created": time.time()}
    await send(f"{app_id}/manifest".encode(), orjson.dumps(manifest))


@dataclass(frozen=True)
class Stored:
    """A complete, checksummed checkpoint (or model snapshot) read back from its topic."""

    data: bytes
    created: float
    #: The slot it is in: the next write goes to the other one, so that it stays intact.
    slot: int


async def read_checkpoint(settings: Settings) -> tuple[bytes, float] | None:
    """The newest complete checkpoint of this app and when it was made, or None."""
    stored = await read_stored(settings, "checkpoints", settings.app_id)
    return None if stored is None else (stored.data, stored.created)


async def read_stored(settings: Settings, topic: str, prefix: str) -> Stored | None:
    """The newest complete checkpoint under ``prefix`` on ``topic``, or None if there is none.

    If the manifest's slot is incomplete or corrupt (a writer died half-way through the
    slot the manifest still names: two writers at once, or a slot chosen wrongly), the
    other slot's checkpoint is used if its sealed checksum holds; otherwise this raises
    :class:`CheckpointError`.
    """
    async with TopicReader(settings, topic, decode=bytes) as reader:
        # To the end, not "until quiet": a slow first fetch must not look like no checkpoint.
        latest = {key: value for _, key, value in await reader.read_to_end()}
    manifest_raw = latest.get(f"{prefix}/manifest".encode())
    if manifest_raw is None:
        return None
    return stored_from(latest, prefix, orjson.loads(manifest_raw))


def stored_from(latest: dict[bytes, bytes], prefix: str, manifest: dict) -> Stored:
    """The checkpoint a manifest names, from the newest record of each key (see :func:`read_stored`)."""
    slot = manifest["slot"]
    parts = [latest.get(f"{prefix}/{slot}/{i}".encode()) for i in range(manifest["chunks"])]
    if all(part is not None for part in parts):
        data = b"".join(parts)
        if hashlib.sha256(data).hexdigest() == manifest["sha256"]:
            return Stored(data, manifest["created"], slot)
    other = _sealed_in_slot(latest, prefix, 1 - slot)
    if other is not None:
        log.error("checkpoint %s/manifest names a broken slot %d; using slot %d", prefix, slot, 1 - slot)
        return Stored(other, 0.0, 1 - slot)
    raise CheckpointError(f"checkpoint of {prefix} is incomplete or does not match its manifest, "
                          "and the other slot holds no intact one; refusing to load it")


def _sealed_in_slot(latest: dict[bytes, bytes], prefix: str, slot: int) -> bytes | None:
    """The longest run of a slot's chunks whose sealed checksum holds (chunk counts vary)."""
    chunks = []
    while (chunk := latest.get(f"{prefix}/{slot}/{len(chunks)}".encode())) is not None:
        chunks.append(chunk)
    for count in range(len(chunks), 0, -1):
        data = b"".join(chunks[:count])
        if intact(data):
            return data
    return None


class CheckpointStore(Protocol):
    """Where sealed checkpoints (or snapshots) are kept: save the newest, load the newest intact one."""

    async def save(self, data: bytes, learned: int) -> None: ...

    async def load(self) -> Stored | None: ...


class TopicStore:
    """Chunks behind a manifest on a compacted topic, alternating between two slots.

    ``send(key, value)`` produces to the topic and returns once the record is delivered.
    """

    def __init__(self, settings: Settings, topic: str, prefix: str, send: Send | None = None):
        self.settings, self.topic, self.prefix, self.send = settings, topic, prefix, send
        #: The slot last written or loaded: the next write goes to the other one.
        self.slot = 1

    async def save(self, data: bytes, learned: int) -> None:
        self.slot = 1 - self.slot
        await write_checkpoint(self.send, self.prefix, data, self.slot, learned)

    async def load(self) -> Stored | None:
        stored = await read_stored(self.settings, self.topic, self.prefix)
        if stored is not None:
            self.slot = stored.slot
        return stored


class DirectoryStore:
    """The newest checkpoint in a directory, written atomically (temp file, fsync, rename)."""

    NAME = "checkpoint.bin"

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    async def save(self, data: bytes, learned: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{self.NAME}.{os.getpid()}.tmp"
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.directory / self.NAME)

    async def load(self) -> Stored | None:
        path = self.directory / self.NAME
        if not path.exists():
            return None
        return Stored(path.read_bytes(), path.stat().st_mtime, 1)


class Newest:
    """Saves to every store; loads the newest of what they hold."""

    def __init__(self, *stores: CheckpointStore):
        self.stores = stores

    async def save(self, data: bytes, learned: int) -> None:
        for store in self.stores:
            await store.save(data, learned)

    async def load(self) -> Stored | None:
        found = [stored for store in self.stores if (stored := await store.load()) is not None]
        return max(found, key=lambda stored: stored.created, default=None)


def checkpoint_store(settings: Settings, send: Send | None = None) -> CheckpointStore:
    """The worker's checkpoints: the app's key on the checkpoints topic, and the directory if configured."""
    topic = TopicStore(settings, "checkpoints", settings.app_id, send)
    return Newest(topic, DirectoryStore(settings.checkpoint_dir)) if settings.checkpoint_dir else topic


async def newest_checkpoint(settings: Settings) -> Stored | None:
    """The newest checkpoint this app has (on its topic, or in its directory), or None."""
    return await checkpoint_store(settings).load()
