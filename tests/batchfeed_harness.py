"""Shared by the tests/test_batchfeed_*.py files: a recording batch handler and the broker-side helpers.

``Recorder`` keeps the batches it is given (and can fail on a chosen record); ``produce`` writes
records valued by their offsets; ``committed`` reads the group's commits; ``batch_app`` makes a
Faust app configured like the worker's, with the batch agent.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import defaultdict

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from stream_mlc.service.batchfeed import RawRecord, batch_agent

PARTITIONS = 4  # of the features and labels topics (topics/*.json)


class Recorder:
    """A batch handler that keeps every batch it was given, and can fail on a chosen record.

    It fails by raising (``fail_in="handler"``) or by returning a failed delivery
    (``"delivery"``); with ``deliveries`` set, it returns that future as every batch's delivery.
    """

    def __init__(self, fail_at: tuple[str, int, int] | None = None, fail_in: str = "handler", pause_s: float = 0.0,
                 deliveries: asyncio.Future | None = None):
        self.batches: list[list[RawRecord]] = []
        self.fail_at = fail_at
        self.fail_in = fail_in
        self.failed_batch: list[RawRecord] | None = None
        self.pause_s = pause_s
        self.deliveries = deliveries

    async def __call__(self, records: list[RawRecord]):
        if self.fail_at and any((r.topic, r.partition, r.offset) == self.fail_at for r in records):
            self.failed_batch = records
            if self.fail_in == "handler":
                raise RuntimeError("injected handler failure")
            failed = asyncio.get_running_loop().create_future()
            failed.set_exception(RuntimeError("injected delivery failure"))
            return failed
        if self.pause_s:
            await asyncio.sleep(self.pause_s)  # a slow handler: keeps the group mid-stream
        self.batches.append(records)
        return self.deliveries

    def offsets(self) -> dict[tuple[str, int], list[int]]:
        lanes = defaultdict(list)
        for batch in self.batches:
            for r in batch:
                lanes[(r.topic, r.partition)].append(r.offset)
        return lanes

    def count(self) -> int:
        return sum(len(b) for b in self.batches)


def inputs(settings) -> list[str]:
    return [settings.topic("features"), settings.topic("labels")]


async def produce(settings, per_partition: int, start: int = 0) -> None:
    """Records ``start`` to ``per_partition - 1`` on every input partition (valued by their offsets)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=5)
    await producer.start()
    try:
        for topic in inputs(settings):
            for partition in range(PARTITIONS):
                for i in range(start, per_partition):
                    value = f"{topic}/{partition}/{i}".encode()
                    await producer.send(topic, value, key=str(i).encode(), partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


async def committed(settings) -> dict[tuple[str, int], int]:
    """The consumer group's committed offsets of the input partitions (read without joining it)."""
    reader = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=settings.app_id,
                              enable_auto_commit=False)
    await reader.start()
    try:
        lanes = [TopicPartition(topic, p) for topic in inputs(settings) for p in range(PARTITIONS)]
        offsets = {(tp.topic, tp.partition): await reader.committed(tp) for tp in lanes}
    finally:
        await reader.stop()
    return {lane: offset for lane, offset in offsets.items() if offset is not None}


async def wait_until(condition, timeout_s: float = 20.0) -> None:
    """Poll ``condition()`` (a bool, or an awaitable of one) until it holds; fail saying which did not."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                result = condition()
                if await result if inspect.isawaitable(result) else result:
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        what = condition.description if hasattr(condition, "description") else inspect.getsource(condition).strip()
        pytest.fail(f"not within {timeout_s} s: {what}")


#: service/app.py's make_app settings for the consumer (faust.App keyword arguments).
WORKER_LIKE = dict(key_serializer="raw", value_serializer="raw", processing_guarantee="at_least_once",
                   broker_session_timeout=5.0, broker_heartbeat_interval=1.0, broker_rebalance_timeout=5.0,
                   broker_commit_interval=1.0, consumer_auto_offset_reset="earliest", topic_partitions=PARTITIONS,
                   web_enabled=False)


def make_app(settings, max_poll_records: int = 100) -> faust.App:
    return faust.App(settings.app_id, broker=f"kafka://{settings.bootstrap}", broker_max_poll_records=max_poll_records,
                     **WORKER_LIKE)


def batch_app(settings, handle, max_poll_records: int = 100) -> faust.App:
    app = make_app(settings, max_poll_records)
    batch_agent(app, inputs(settings), handle, name="feed")
    return app


class CommittedToTheEnd:
    """A condition: the group has committed offset ``n`` on every input partition."""

    def __init__(self, settings, n: int):
        self.settings, self.n, self.last = settings, n, None

    async def __call__(self) -> bool:
        self.last = await committed(self.settings)
        return self.last == {lane: self.n for lane in every_lane(self.settings, self.n)}

    @property
    def description(self) -> str:
        return f"offset {self.n} committed on every input partition; last seen: {self.last}"


def every_lane(settings, n: int) -> dict[tuple[str, int], list[int]]:
    return {(topic, p): list(range(n)) for topic in inputs(settings) for p in range(PARTITIONS)}
