"""Process what is on the input topics offline, in exactly the order a worker processes it.

This is the audit path: it reads the features and labels topics to where they end now and
hands every record to the single-mode :class:`~stream_mlc.core.roles.EventTimeProcessor`
(everything already read, so nothing is held back): the same core code as the worker. A
worker that ran uninterrupted, or was killed and restored any number of times, must end
with the same model.
"""

from __future__ import annotations

import asyncio

from stream_mlc import bootstrap
from stream_mlc.core.engine import Engine
from stream_mlc.core.processor import Outcome, Record
from stream_mlc.core.roles import EventTimeProcessor
from stream_mlc.service.reader import TopicReader
from stream_mlc.service.registry import registry_records
from stream_mlc.settings import Settings


async def read_inputs(settings: Settings) -> list[Record]:
    """Every input message up to where the topics end now (timestamps in seconds)."""
    async with TopicReader(settings, "features", "labels", decode=bytes) as reader:
        consumer = reader.consumer
        ends = await reader.ends()  # from fetch responses: Tansu's ListOffsets answers short
        remaining = {tp for tp, end in ends.items() if end > 0}
        found: list[Record] = []
        while remaining:
            for tp, messages in (await consumer.getmany(*remaining, timeout_ms=1000)).items():
                found += [Record(tp.topic, tp.partition, m.offset, m.timestamp / 1000.0, m.key, m.value)
                          for m in messages if m.offset < ends[tp]]
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    return found


def process_offline(settings: Settings, engine: Engine | None = None) -> Engine:
    """Feed ``engine`` (a fresh one by default) every input message in the worker's order; return it."""
    engine = engine if engine is not None else bootstrap.new_engine(settings)
    processor = EventTimeProcessor(bootstrap.dispatch(settings, engine), idle_s=0.0)
    registry = settings.topic("label-registry")
    for key, value in asyncio.run(registry_records(settings)):  # as a starting worker applies it
        processor.dispatch.govern(Record(registry, 0, -1, 0.0, key, value), 0.0, Outcome())
    processor.accept(asyncio.run(read_inputs(settings)), now=0.0)
    processor.release_all(wall_now=0.0)
    return engine
