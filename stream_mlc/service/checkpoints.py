"""Checkpoints on a compacted Kafka topic, in chunks, behind a manifest.

A checkpoint can be larger than a Kafka message may be, so it is written as chunks under
``<app id>/<slot>/<i>`` and then a manifest under ``<app id>/manifest`` naming the slot,
the chunk count and the SHA-256 of the whole. Slots alternate between two checkpoints, so
a worker killed while writing one leaves the previous one, still named by the manifest,
intact. Compaction keeps only the newest record of each key.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable

import orjson

from stream_mlc.core.checkpoint import CheckpointError, LocalCheckpointStore
from stream_mlc.service.reader import TopicReader
from stream_mlc.settings import Settings

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


async def read_checkpoint(settings: Settings) -> tuple[bytes, float] | None:
    """The newest complete checkpoint of this app and when it was made, or None."""
    async with TopicReader(settings, "checkpoints", decode=bytes) as reader:
        # To the end, not "until quiet": a slow first fetch must not look like no checkpoint.
        latest = {key: value for _, key, value in await reader.read_to_end()}
    prefix = settings.app_id
    manifest_raw = latest.get(f"{prefix}/manifest".encode())
    if manifest_raw is None:
        return None
    manifest = orjson.loads(manifest_raw)
    parts = [latest.get(f"{prefix}/{manifest['slot']}/{i}".encode()) for i in range(manifest["chunks"])]
    if any(part is None for part in parts):
        raise CheckpointError(f"checkpoint of {prefix} is missing chunks; refusing to load it")
    data = b"".join(parts)
    if hashlib.sha256(data).hexdigest() != manifest["sha256"]:
        raise CheckpointError(f"checkpoint of {prefix} does not match its manifest's checksum")
    return data, manifest["created"]


async def newest_checkpoint(settings: Settings) -> bytes | None:
    """The newest of the Kafka checkpoint and the local one (if a directory is configured)."""
    candidates = [found for found in (await read_checkpoint(settings), _local(settings)) if found is not None]
    if not candidates:
        return None
    return max(candidates, key=lambda found: found[1])[0]


def _local(settings: Settings) -> tuple[bytes, float] | None:
    if not settings.checkpoint_dir:
        return None
    store = LocalCheckpointStore(settings.checkpoint_dir)
    data = store.load()
    return None if data is None else (data, store.modified())
