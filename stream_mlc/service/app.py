"""The Faust app: decode, call the core, send. Nothing here decides anything about learning.

One agent reads the features and labels topics (co-partitioned: same keys, same partition
counts) and hands their events, merged in event-time order, to one
:class:`~stream_mlc.core.engine.Engine`:

* a feature event is scored, the prediction published, and the event kept in the join
  table (changelog-backed) until its labels come;
* a label event is joined with its stored event; the stored prediction is scored against
  the truth and the model learns it at once. Every learned example is also logged on the
  training topic, whose order is the learning order (model_version counts it).

Bad input is data, not a crash: every message that breaks the wire contract goes to the
dead-letter topic with the reason, and is counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

import faust
import orjson

from stream_mlc.core.align import EventTimeAligner
from stream_mlc.core.engine import Engine, EngineConfig
from stream_mlc.core.join import JoinLimits
from stream_mlc.errors import DecodeError, StreamMlcError
from stream_mlc.service.kafka_config import faust_broker_kwargs
from stream_mlc.settings import Settings
from stream_mlc.topics import load_specs
from stream_mlc.wire import dead_letter, decode_features, decode_labels, encode_joined, encode_prediction

log = logging.getLogger(__name__)


class Service:
    """The worker's state: settings, engine, counters; :meth:`build` makes the Faust app."""

    def __init__(self, settings: Settings, engine: Engine | None = None):
        self.settings = settings
        self.engine = engine
        self.counts: Counter[str] = Counter()
        self._status_sent_at = 0.0
        self._status_learned = -1
        self.app = self.build()

    def build(self) -> faust.App:
        s = self.settings
        specs = load_specs()
        app = faust.App(
            s.app_id,
            broker=f"kafka://{s.bootstrap}",
            **faust_broker_kwargs(s),
            key_serializer="raw",
            value_serializer="raw",
            store="memory://",
            processing_guarantee="at_least_once",
            # Tansu's first group join takes ~32 s with Faust's defaults, ~5 s with these.
            broker_session_timeout=5.0,
            broker_heartbeat_interval=1.0,
            broker_rebalance_timeout=5.0,
            broker_commit_interval=1.0,
            consumer_auto_offset_reset="earliest",
            producer_linger=s.producer_linger_ms / 1000.0,
            topic_partitions=specs["features"].partitions,
            web_enabled=False,
            web_port=s.web_port,
            web_host="127.0.0.1",
        )
        topic = {name: app.topic(s.topic(name), internal=False) for name in specs}
        self.topics = topic
        table = app.Table(
            "joins",
            partitions=specs["features"].partitions,
            schema=faust.Schema(key_serializer="raw", value_serializer="json"),
            # Batched agents have no single current event: route changelog writes by key,
            # which is how the producers partitioned the features and labels.
            use_partitioner=True,
        )
        if self.engine is None:
            self.engine = Engine.from_config(
                EngineConfig(
                    model=s.model,
                    metrics_window=s.metrics_window,
                    max_labels=s.max_labels,
                    labels=s.label_names,
                    join=JoinLimits(s.join_max_age_s, s.join_max_entries),
                ),
                store=_StrKeys(table),
            )

        self.aligner = EventTimeAligner(s.align_idle_s)
        self._processing = asyncio.Lock()
        self._next_offset: dict = {}
        self._source = {self.settings.topic("features"): "features", self.settings.topic("labels"): "labels"}

        @app.agent(app.topic(s.topic("features"), s.topic("labels")), name="process")
        async def process(stream):
            async for events in stream.take_events(s.batch_size, within=s.batch_within_s):
                now = time.monotonic()
                for event in events:
                    message = event.message
                    rank = 0 if self._source[message.topic] == "features" else 1
                    self.aligner.push(message.tp, message.timestamp or 0.0, event, now, rank)
                    self._next_offset[message.tp] = message.offset + 1
                await self.release()

        @app.timer(interval=s.align_idle_s)
        async def release_idle():
            # Process in a task of its own: a timer that overruns its interval logs warnings.
            if not self._processing.locked():
                asyncio.ensure_future(self.release())

        @app.timer(interval=1.0)
        async def housekeeping():
            self.counts["expired"] += self.engine.expire(time.time())
            await self.maybe_publish_status(idle=True)

        return app

    # -- handlers: decode, call the core, send -------------------------------------------------
    async def release(self) -> None:
        """Process the events the aligner lets go, one batch at a time, in event-time order."""
        async with self._processing:
            ready = self.aligner.pop_ready(time.monotonic(), self._behind())
            if not ready:
                return
            now = time.time()
            for event in ready:
                if self._source[event.message.topic] == "features":
                    await self.on_features(event, now)
                else:
                    await self.on_labels(event, now)
            await self.maybe_publish_status()

    def _behind(self) -> list:
        """The input partitions the consumer has not read to their end yet."""
        consumer = self.app.consumer
        behind = []
        for tp in consumer.assignment():
            if tp.topic in self._source:
                highwater = consumer.highwater(tp)
                if highwater is None or self._next_offset.get(tp, 0) < highwater:
                    behind.append(tp)
        return behind

    async def on_features(self, event, now: float) -> None:
        try:
            feature_event = decode_features(event.key, event.value, self.settings.max_message_bytes)
        except DecodeError as error:
            await self.dead_letter(event, error)
            return
        prediction, joined = self.engine.score(feature_event, now)
        self.counts["scored"] += 1
        await self.topics["predictions"].send(key=event.key, value=encode_prediction(prediction))
        if joined is not None:
            await self.learn(joined)

    async def on_labels(self, event, now: float) -> None:
        try:
            joined = self.engine.join(decode_labels(event.key, event.value, self.settings.max_message_bytes), now)
        except StreamMlcError as error:
            await self.dead_letter(event, error)
            return
        self.counts["labels"] += 1
        if joined is not None:
            await self.learn(joined)

    async def learn(self, joined) -> None:
        """Learn now, and log the example on the training topic: its order is the learning order."""
        self.engine.learn(joined)
        await self.topics["training"].send(key=joined.id.encode(), value=encode_joined(joined))

    async def dead_letter(self, event, error: Exception) -> None:
        message = event.message
        self.counts["deadlettered"] += 1
        self.counts[f"deadlettered_{message.topic}"] += 1
        value = dead_letter(message.topic, message.partition, message.offset, str(error), event.value)
        await self.topics["deadletter"].send(key=event.key, value=value)

    # -- status ----------------------------------------------------------------------------------
    def status(self) -> dict:
        status = self.engine.status()
        counts = {**self.counts, **{f"join_{k}": v for k, v in status.pop("join").items()}}
        return {"worker": self.settings.worker_id, "ts": time.time(), "counts": counts, **status}

    async def maybe_publish_status(self, idle: bool = False) -> None:
        learned = self.engine.learned
        due_by_count = learned - self._status_learned >= self.settings.status_every
        due_by_time = time.monotonic() - self._status_sent_at >= self.settings.status_interval_s
        if not (due_by_count or (due_by_time and (idle or learned != self._status_learned))):
            return
        self._status_learned, self._status_sent_at = learned, time.monotonic()
        await self.topics["status"].send(key=self.settings.worker_id.encode(), value=orjson.dumps(self.status()))


class _StrKeys:
    """The join table seen as a mapping of ``str`` ids: Faust's raw key codec gives bytes back."""

    def __init__(self, table):
        self.table = table

    def get(self, key: str, default=None):
        return self.table.get(key.encode(), default)

    def __getitem__(self, key: str):
        return self.table[key.encode()]

    def __setitem__(self, key: str, value) -> None:
        self.table[key.encode()] = value

    def pop(self, key: str, default=None):
        return self.table.pop(key.encode(), default)

    def items(self):
        return ((k.decode() if isinstance(k, bytes) else k, v) for k, v in self.table.items())

    def values(self):
        return self.table.values()

    def __len__(self) -> int:
        return len(self.table)
