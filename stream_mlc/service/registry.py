"""Read and write the compacted ``mlc.label-registry`` topic (``stream-mlc labels``, ``forget``).

Keys are label names (the value: the label's record with its history, see
:class:`~stream_mlc.core.registry.LabelRecord`) or ``forget/<event id>`` (a forget request
the worker acts on). A change is applied to the registry read to the end of the topic, and
every record it changes is published, keyed by its label; a merge changes two.
"""

from __future__ import annotations

import asyncio
import time

import orjson

from stream_mlc.core.registry import LabelChange, LabelRegistry, sign
from stream_mlc.service.producer import make_producer
from stream_mlc.service.reader import TopicReader
from stream_mlc.settings import Settings
from stream_mlc.topics import load_specs

TOPIC = "label-registry"
FORGET_PREFIX = "forget/"


async def registry_records(settings: Settings) -> list[tuple[bytes, bytes | None]]:
    """Every ``(key, value)`` of the registry topic up to its end now, raw (a starting worker
    applies them all before it processes any event: the topic is the registry's only store)."""
    async with TopicReader(settings, TOPIC, decode=lambda value: value) as reader:
        return [(key or b"", value) for _, key, value in await reader.read_to_end()]


class RegistryFollower:
    """Follows the registry topic for a worker: first every record up to its end, then each new one.

    The backlog is returned once, then :meth:`poll` returns the records that come after it,
    none lost and none repeated across the boundary (the fetch position is set to where the
    backlog ended). Values are raw bytes (None for a tombstone); keys as stored.
    """

    def __init__(self, settings: Settings):
        self.reader = TopicReader(settings, TOPIC, decode=lambda value: value)

    async def __aenter__(self) -> RegistryFollower:
        await self.reader.__aenter__()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.reader.__aexit__(*exc)

    async def backlog(self, timeout_s: float = 60.0) -> list[tuple[bytes, bytes | None]]:
        consumer = self.reader.consumer
        ends = await self.reader.ends()
        records = await self.reader.read_to_end(timeout_s)
        for tp, end in ends.items():  # read_to_end drops what it fetched past the end: fetch it again
            consumer.seek(tp, end)
        return [(key or b"", value) for _, key, value in records]

    async def poll(self, timeout_s: float = 0.2) -> list[tuple[bytes, bytes | None]]:
        return [(key or b"", value) for _, key, value in await self.reader.poll(timeout_s)]


async def read_registry_async(settings: Settings) -> tuple[LabelRegistry, list[str]]:
    """The registry as the topic holds it now, and the ids with a pending forget request."""
    registry, forgets = LabelRegistry(), {}
    for key, value in await registry_records(settings):
        name = key.decode()
        if name.startswith(FORGET_PREFIX):
            forgets[name.removeprefix(FORGET_PREFIX)] = value is not None
        elif value is not None:
            registry = registry.follow(orjson.loads(value))
    return registry, sorted(key for key, pending in forgets.items() if pending)


def read_registry(settings: Settings) -> tuple[LabelRegistry, list[str]]:
    return asyncio.run(read_registry_async(settings))


def publish_change(settings: Settings, change: LabelChange, key: bytes = b"") -> tuple[LabelRegistry, dict]:
    """Apply ``change`` to the topic's registry and publish the records it changed.

    Returns the new registry and the change's impact skeleton (the worker fills and
    publishes the figures). With ``key``, the change is signed (HMAC-SHA256).
    """
    if not change.ts:
        change = LabelChange(**{**change.to_wire(), "ts": time.time()})
    if key:
        change = sign(change, key)
    registry, _ = read_registry(settings)
    updated, impact = registry.apply(change)
    _send(settings, [(name.encode(), orjson.dumps(updated[name].to_wire())) for name in impact["labels"]])
    return updated, impact


def publish_forget(settings: Settings, ids: list[str], principal: str = "") -> list[str]:
    """Ask the worker to forget ``ids``; tombstone them on compacted topics keyed by event id.

    Returns the topics tombstones were written to (none in ``topics/`` today: the id-keyed
    topics are deleted by retention; the worker tombstones its own state when it forgets).
    """
    now = time.time()
    records = [(f"{FORGET_PREFIX}{event_id}".encode(),
                orjson.dumps({"kind": "forget", "id": event_id, "principal": principal, "ts": now}))
               for event_id in ids]
    tombstoned = compacted_id_topics()
    _send(settings, records, tombstones={settings.topic(name): ids for name in tombstoned})
    return [settings.topic(name) for name in tombstoned]


def acknowledge_forget(settings: Settings, ids: list[str]) -> None:
    """Tombstone the forget requests of ``ids`` (the worker, once a checkpoint without them is written)."""
    _send(settings, [(f"{FORGET_PREFIX}{event_id}".encode(), None) for event_id in ids])


def compacted_id_topics() -> list[str]:
    """Short names of the compacted topics whose key is the event id."""
    return sorted(name for name, spec in load_specs().items()
                  if "compact" in spec.config.get("cleanup.policy", "") and spec.key.startswith("event id"))


def _send(settings: Settings, records: list[tuple[bytes, bytes | None]],
          tombstones: dict[str, list[str]] | None = None) -> None:
    producer = make_producer(settings)
    try:
        for key, value in records:
            producer.send(settings.topic(TOPIC), key=key, value=value)
        for topic, ids in (tombstones or {}).items():
            for event_id in ids:
                producer.send(topic, key=event_id.encode(), value=None)
        producer.flush()
    finally:
        producer.close()
