"""Checkpoints on a compacted Kafka topic, in chunks, behind a manifest.

A checkpoint can be larger than a Kafka message may be, so it is written as chunks under
``<app id>/<slot>/<i>`` and then a manifest under ``<app id>/manifest`` naming the slot,
the chunk count and the SHA-256 of the whole. Slots alternate between two checkpoints, so
a worker killed while writing one leaves the previous one, still named by the manifest,
intact. Compaction keeps only the newest record of each key.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from stream_mlc.core.checkpoint import CheckpointError, LocalCheckpointStore, intact
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


async def newest_checkpoint(settings: Settings) -> Stored | None:
    """The newest of the Kafka checkpoint and the local one (if a directory is configured).

    The slot is always the Kafka manifest's (the local store has none), so that the next
    write to the topic spares the checkpoint the manifest names.
    """
    kafka = await read_stored(settings, "checkpoints", settings.app_id)
    local = _local(settings)
    if local is not None and (kafka is None or local[1] > kafka.created):
        return Stored(local[0], local[1], kafka.slot if kafka is not None else 1)
    return kafka


def _local(settings: Settings) -> tuple[bytes, float] | None:
    if not settings.checkpoint_dir:
        return None
    store = LocalCheckpointStore(settings.checkpoint_dir)
    data = store.load()
    return None if data is None else (data, store.modified())
