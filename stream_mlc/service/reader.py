"""Read the service's output topics (aiokafka, manual assignment: no group join to wait for)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from stream_mlc.service.kafka_config import aiokafka_kwargs
from stream_mlc.settings import Settings

FETCH_MAX_WAIT_MS = 50


class TopicReader:
    """All partitions of some topics from the beginning, as decoded records."""

    def __init__(self, settings: Settings, *short_names: str, decode: Callable[[bytes], object] = orjson.loads):
        self.settings = settings
        self.decode = decode
        self.topics = [settings.topic(name) for name in short_names]
        self.consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> TopicReader:
        # A short fetch wait: Tansu holds every fetch that long, even an empty topic's first
        # one, which the reader waits for to learn where the topic ends (aiokafka's default: 500 ms).
        self.consumer = AIOKafkaConsumer(
            **aiokafka_kwargs(self.settings), enable_auto_commit=False, auto_offset_reset="earliest",
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )
        await self.consumer.start()
        partitions = []
        for topic in self.topics:
            found = await _partitions_for(self.consumer, topic)
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_beginning(*partitions)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.consumer.stop()

    async def poll(self, timeout_s: float = 0.2) -> list[tuple[str, bytes | None, dict]]:
        """The next records: ``(topic, key, value)`` with the value decoded (from JSON by default)."""
        batches = await self.consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=10_000)
        return [
            (tp.topic, message.key, self.decode(message.value))
            for tp, messages in batches.items()
            for message in messages
        ]

    async def ends(self, timeout_s: float = 30.0) -> dict[TopicPartition, int]:
        """Where each partition ends now, from the high watermark of the first fetch response.

        Tansu answers ListOffsets(latest) with the base offset of the last record batch + 1,
        short of the end when that batch holds several records; its fetch responses are
        right. The larger of the two is taken; the fetch position is not moved.
        """
        assigned = list(self.consumer.assignment())
        listed = await self.consumer.end_offsets(assigned)
        ends: dict[TopicPartition, int] = {}
        deadline = time.monotonic() + timeout_s
        while True:
            for tp in assigned:
                highwater = self.consumer.highwater(tp)
                if tp not in ends and highwater is not None:
                    ends[tp] = max(highwater, listed[tp])
            if len(ends) == len(assigned) or time.monotonic() > deadline:
                return {tp: ends.get(tp, listed[tp]) for tp in assigned}
            await asyncio.sleep(0.05)

    async def read_to_end(self, timeout_s: float = 60.0) -> list[tuple[str, bytes | None, object]]:
        """Every record up to where the topics end now, however slow the broker is to answer."""
        ends = await self.ends()
        remaining = {tp for tp, end in ends.items() if end > 0}
        records: list = []
        deadline = time.monotonic() + timeout_s
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {len(records)} records; still short of the end of {sorted(remaining)}")
            batches = await self.consumer.getmany(*remaining, timeout_ms=500, max_records=10_000)
            for tp, messages in batches.items():
                records += [(tp.topic, m.key, self.decode(m.value)) for m in messages if m.offset < ends[tp]]
            for tp in list(remaining):
                if await self.consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return records

    async def drain(self, idle_s: float = 1.0) -> list[tuple[str, bytes | None, dict]]:
        """Everything there is, until nothing arrives for ``idle_s``."""
        records: list = []
        while True:
            batch = await self.poll(idle_s)
            if not batch:
                return records
            records += batch


async def _partitions_for(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    deadline = time.monotonic() + 10
    while True:
        found = consumer.partitions_for_topic(topic)
        if found is None:
            await consumer._client.force_metadata_update()  # no public API: a cold cache lacks the topic
            found = consumer.partitions_for_topic(topic)
        if found or time.monotonic() > deadline:
            return found or set()
        await asyncio.sleep(0.1)


async def latest_status(settings: Settings) -> dict[str, dict]:
    """The newest status record of each worker."""
    async with TopicReader(settings, "status") as reader:
        return {record["worker"]: record for _, _, record in await reader.read_to_end()}


async def wait_until(
    settings: Settings,
    done: Callable[[dict], bool],
    *,
    timeout_s: float,
    on_record: Callable[[str, dict], None] | None = None,
) -> dict:
    """Follow predictions and status until ``done(state)``; state = {"predictions": n, "status": {...}}."""
    state: dict = {"predictions": 0, "status": {}, "ids": set()}
    deadline = time.monotonic() + timeout_s
    async with TopicReader(settings, "predictions", "status") as reader:
        while not done(state):
            if time.monotonic() > deadline:
                raise TimeoutError(f"gave up after {timeout_s:.0f} s; last state: predictions={state['predictions']}, "
                                   f"learned={state['status'].get('learned')}")
            for topic, _, record in await reader.poll():
                if topic.endswith("predictions"):
                    state["predictions"] += 1
                    state["ids"].add(record["id"])
                else:
                    state["status"] = record
                if on_record is not None:
                    on_record(topic, record)
    return state
