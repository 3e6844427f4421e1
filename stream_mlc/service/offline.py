"""Process what is on the input topics offline, in exactly the order a worker processes it.

This is the audit path: it reads the features and labels topics, merges them with the
worker's :class:`~stream_mlc.core.align.EventTimeAligner` (everything already read, so
nothing is held back), and feeds a fresh engine through the same decoding and core calls
as the worker. A worker that ran uninterrupted, or was killed and restored any number of
times, must end with the same model.
"""

from __future__ import annotations

import asyncio

from stream_mlc.core.align import EventTimeAligner
from stream_mlc.core.engine import Engine
from stream_mlc.errors import StreamMlcError
from stream_mlc.service.reader import TopicReader
from stream_mlc.settings import Settings
from stream_mlc.wire import decode_features, decode_labels


async def read_inputs(settings: Settings) -> EventTimeAligner:
    """Every input message up to where the topics end now, queued per partition in offset order."""
    rank = {settings.topic("features"): 0, settings.topic("labels"): 1}
    aligner = EventTimeAligner(idle_s=0.0)
    async with TopicReader(settings, "features", "labels", decode=bytes) as reader:
        consumer = reader.consumer
        ends = await reader.ends()  # from fetch responses: Tansu's ListOffsets answers short
        remaining = {tp for tp, end in ends.items() if end > 0}
        while remaining:
            for tp, messages in (await consumer.getmany(*remaining, timeout_ms=1000)).items():
                for message in messages:
                    if message.offset < ends[tp]:
                        aligner.push((tp.topic, tp.partition), message.timestamp / 1000.0, message, 0.0, rank[tp.topic])
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    return aligner


def process_offline(settings: Settings, engine: Engine) -> Engine:
    """Feed ``engine`` every input message in the worker's order; return it."""
    aligner = asyncio.run(read_inputs(settings))
    features_topic = settings.topic("features")
    clock = float("-inf")
    for message in aligner.pop_all():
        ts = message.timestamp / 1000.0
        clock = max(clock, ts)
        limit = settings.max_message_bytes
        try:
            if message.topic == features_topic:
                _, joined = engine.score(decode_features(message.key, message.value, limit, ts), clock)
            else:
                joined = engine.join(decode_labels(message.key, message.value, limit, ts), clock)
        except StreamMlcError:
            continue  # the worker dead-letters it
        if joined is not None:
            engine.learn(joined)
    return engine
