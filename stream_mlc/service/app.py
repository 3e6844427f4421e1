"""The Faust app: decode, call the core, send. Nothing here decides anything about learning.

One agent reads the features and labels topics (co-partitioned: same keys, same partition
counts) and hands their events, merged in event-time order, to one
:class:`~stream_mlc.core.engine.Engine`:

* a feature event is scored, the prediction published, and the event kept in the join
  buffer until its labels come;
* a label event is joined with its stored event; the stored prediction is scored against
  the truth and the model learns it at once. Every learned example is also logged on the
  training topic, whose order is the learning order (``model_version`` counts it).

The engine, join buffer included, is checkpointed with the input offsets it reflects; a
restarted worker resumes every input partition from its checkpointed offset, so it learns
exactly what an uninterrupted worker would have (see :mod:`stream_mlc.core.checkpoint`).

Bad input is data, not a crash: every message that breaks the wire contract goes to the
dead-letter topic with the reason, and is counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import NamedTuple

import faust
import orjson

from stream_mlc.core.align import EventTimeAligner
from stream_mlc.core.checkpoint import Checkpoint, LocalCheckpointStore, dumps
from stream_mlc.core.drift import DriftSettings
from stream_mlc.core.engine import Engine, EngineConfig
from stream_mlc.core.join import JoinLimits
from stream_mlc.core.models import parse_spec
from stream_mlc.errors import ConfigError, DecodeError, StreamMlcError
from stream_mlc.service.checkpoints import write_checkpoint
from stream_mlc.service.kafka_config import faust_broker_kwargs
from stream_mlc.service.prom import ServiceMetrics
from stream_mlc.settings import Settings
from stream_mlc.topics import load_specs
from stream_mlc.wire import (
    dead_letter,
    decode_features,
    decode_labels,
    encode_alert,
    encode_joined,
    encode_prediction,
)

log = logging.getLogger(__name__)
FEATURES, LABELS = 0, 1  # tie-break ranks: at equal timestamps, score before learning


class Service:
    """The worker: settings, engine, counters, and the Faust app that feeds them."""

    def __init__(self, settings: Settings, checkpoint: Checkpoint | None = None, slot: int = 1):
        self.settings = settings
        self.engine = checkpoint.engine if checkpoint else new_engine(settings)
        #: Per (topic, partition): the next offset to process. Starts at the checkpoint's.
        self.processed: dict[tuple[str, int], int] = {
            (topic, partition): offset
            for topic, partitions in (checkpoint.offsets if checkpoint else {}).items()
            for partition, offset in partitions.items()
        }
        self.counts: Counter[str] = Counter()
        self.metrics = ServiceMetrics(max_labels=settings.metrics_max_labels)
        self._join_counts_seen: Counter[str] = Counter()
        # Old checkpoints have no clock.
        self.event_clock = getattr(checkpoint, "clock", float("-inf"))
        self._fetched: dict[tuple[str, int], int] = {}
        self._rank = {settings.topic("features"): FEATURES, settings.topic("labels"): LABELS}
        self._status_sent_at = 0.0
        self._status_learned = -1
        self._checkpoint_at = self._progress()
        #: The checkpoint slot last written (or named by the manifest restored from): the
        #: next write goes to the other, so the checkpoint the manifest names stays intact.
        self._slot = slot
        self._processing = asyncio.Lock()
        self.aligner = EventTimeAligner(settings.align_idle_s)
        self.app = self.build()

    def build(self) -> faust.App:
        s = self.settings
        app = make_app(s)
        self.topics = sinks(app, s)

        @app.agent(app.topic(s.topic("features"), s.topic("labels")), name="process")
        async def process(stream):
            async for events in stream.take_events(s.batch_size, within=s.batch_within_s):
                self.enqueue(events)
                await self.release()

        @app.timer(interval=s.align_idle_s)
        async def release_idle():
            # Process in a task of its own: a timer that overruns its interval logs warnings.
            if not self._processing.locked():
                asyncio.ensure_future(self.release())

        @app.timer(interval=1.0)
        async def housekeeping():
            async with self._processing:
                self.engine.expire(self.event_clock)
                self.refresh_metrics()
                await self.maybe_publish_status(idle=True)
                await self.maybe_checkpoint()

        app.on_partitions_assigned.connect(self._on_assigned)
        app.on_before_shutdown.connect(self._on_shutdown)
        return app

    # -- input: align, then process in event-time order ------------------------------------------
    def enqueue(self, events) -> None:
        now = time.monotonic()
        for event in events:
            message = event.message
            lane = (message.topic, message.partition)
            if message.offset < self.processed.get(lane, 0):
                continue  # Faust re-delivered what the restored state already reflects
            self.aligner.push(lane, message.timestamp or 0.0, event, now, self._rank[message.topic])
            self._fetched[lane] = message.offset + 1

    async def release(self) -> None:
        """Process the events the aligner lets go, in event-time order, one caller at a time."""
        async with self._processing:
            ready = self.aligner.pop_ready(time.monotonic(), self._behind())
            for event in ready:
                message = event.message
                self.event_clock = max(self.event_clock, message.timestamp or 0.0)
                if self._rank[message.topic] == FEATURES:
                    await self.on_features(event)
                else:
                    await self.on_labels(event)
                self.processed[(message.topic, message.partition)] = message.offset + 1
            if ready:
                await self.publish_alerts()
                await self.maybe_publish_status()
                await self.maybe_checkpoint()

    def _behind(self) -> list[tuple[str, int]]:
        """The input partitions the consumer has not read to their end yet."""
        consumer = self.app.consumer
        behind = []
        for tp in consumer.assignment():
            if tp.topic in self._rank:
                lane = (tp.topic, tp.partition)
                highwater = consumer.highwater(tp)
                if highwater is None or self._resume_offset(lane) < highwater:
                    behind.append(lane)
        return behind

    # -- handlers: decode, call the core, send -------------------------------------------------
    async def on_features(self, event) -> None:
        message = event.message
        try:
            feature_event = decode_features(event.key, event.value, self.settings.max_message_bytes, message.timestamp)
            prediction, joined = self.engine.score(feature_event, self.event_clock)
        except StreamMlcError as error:
            await self.dead_letter(event, error)
            return
        except Exception as error:  # a bug must not stop the stream: the message is kept, with the reason
            log.exception("scoring failed on %s[%d]@%d", message.topic, message.partition, message.offset)
            await self.dead_letter(event, DecodeError(f"internal error: {type(error).__name__}: {error}"))
            return
        self.counts["scored"] += 1
        self.metrics.scored.inc()
        now = time.time()
        await self.topics["predictions"].send(key=event.key, value=encode_prediction(prediction, now))
        self.metrics.latency.observe(max(0.0, now - message.timestamp))
        if joined is not None:
            await self.learn_example(joined)

    async def on_labels(self, event) -> None:
        limit = self.settings.max_message_bytes
        try:
            label_event = decode_labels(event.key, event.value, limit, event.message.timestamp)
            joined = self.engine.join(label_event, self.event_clock)
        except StreamMlcError as error:
            await self.dead_letter(event, error)
            return
        except Exception as error:  # a bug must not stop the stream: the message is kept, with the reason
            log.exception("joining failed on %s[%d]@%d", event.message.topic, event.message.partition,
                          event.message.offset)
            await self.dead_letter(event, DecodeError(f"internal error: {type(error).__name__}: {error}"))
            return
        self.counts["labels"] += 1
        self.metrics.labels.inc()
        if joined is not None:
            await self.learn_example(joined)

    async def learn_example(self, joined) -> None:
        """Learn now, and log the example on the training topic: its order is the learning order."""
        self.engine.learn(joined)
        self.metrics.joined.inc()
        if joined.feature_ts is not None and joined.label_ts is not None:
            self.metrics.label_delay.observe(max(0.0, joined.label_ts - joined.feature_ts))
        await self.topics["training"].send(key=joined.id.encode(), value=encode_joined(joined, self.engine.learned))

    async def dead_letter(self, event, error: Exception) -> None:
        message = event.message
        self._count_dead_letter(message.topic)
        value = dead_letter(message.topic, message.partition, message.offset, str(error), event.value)
        await self.topics["deadletter"].send(key=event.key, value=value)

    def _count_dead_letter(self, topic: str) -> None:
        self.counts["deadlettered"] += 1
        self.counts[f"deadlettered_{topic}"] += 1
        self.metrics.deadlettered.labels(topic).inc()

    # -- checkpoints -------------------------------------------------------------------------------
    def checkpoint_now(self) -> Checkpoint:
        offsets: dict[str, dict[int, int]] = {}
        for (topic, partition), offset in self.processed.items():
            offsets.setdefault(topic, {})[partition] = offset
        return Checkpoint(self.engine, offsets, clock=self.event_clock)

    async def maybe_checkpoint(self, force: bool = False) -> None:
        now = self._progress()
        # Offsets count too: events still waiting for labels are state the inputs' retention could take away.
        changed = (now.learned, now.position) != (self._checkpoint_at.learned, self._checkpoint_at.position)
        due = (now.learned - self._checkpoint_at.learned >= self.settings.checkpoint_every
               or now.at - self._checkpoint_at.at >= self.settings.checkpoint_interval_s)
        if changed and (due or force):
            await self.save_checkpoint()

    def _progress(self) -> _Progress:
        return _Progress(time.monotonic(), self.engine.learned, sum(self.processed.values()))

    async def save_checkpoint(self) -> None:
        data = dumps(self.checkpoint_now())
        self._slot = 1 - self._slot
        await write_checkpoint(self.topics["checkpoints"].send, self.settings.app_id, data, self._slot,
                               self.engine.learned)
        if self.settings.checkpoint_dir:
            LocalCheckpointStore(self.settings.checkpoint_dir).save(data)
        self._checkpoint_at = self._progress()
        self.counts["checkpoints"] += 1
        self.metrics.checkpoints.inc()

    # -- alerts and metrics ---------------------------------------------------------------------
    async def publish_alerts(self) -> None:
        for alert, model_version in self.engine.drain_alerts():
            self.metrics.alerts.labels(alert.kind, alert.detector).inc()
            log.warning("%s: %s", alert.kind, alert.message)
            value = encode_alert(alert, time.time(), model_version)
            await self.topics["alerts"].send(key=alert.subject.encode(), value=value)

    def refresh_metrics(self) -> None:
        status = self.engine.status()
        self.metrics.refresh(status)
        # The join buffer counts cumulatively; counters take the increase since last time.
        for name, count in status["join"].items():
            delta = count - self._join_counts_seen[name]
            if delta > 0:
                self._join_counts_seen[name] = count
                if name.startswith("expired_"):
                    self.metrics.expired.labels(name.removeprefix("expired_")).inc(delta)
                elif name.startswith("duplicate_"):
                    self.metrics.duplicates.labels(name.removeprefix("duplicate_")).inc(delta)

    async def _on_assigned(self, app, assigned, **_) -> None:
        """Make every later seek-to-committed land where the engine's state says to resume.

        Faust seeks to the group's committed offsets after a rebalance, and its commits
        follow events as they are fetched, not as they are processed: the aligner may still
        hold them. The engine knows which events it reflects; resume from there.
        """
        async def resume(consumer) -> None:
            for tp in consumer.assignment():
                if tp.topic in self._rank:
                    await consumer.seek(tp, self._resume_offset((tp.topic, tp.partition)))

        after_seek_to_committed(app.consumer, resume)

    def _resume_offset(self, lane: tuple[str, int]) -> int:
        # Events already in the aligner stay there: resume after them, or after what the
        # state reflects; a partition the state has never seen is read from its start.
        return self._fetched.get(lane, self.processed.get(lane, 0))

    async def _on_shutdown(self, app, **_) -> None:
        async with self._processing:
            await self.maybe_checkpoint(force=True)
            await self.publish_status()
            await app.producer.flush()

    # -- status ----------------------------------------------------------------------------------
    def status(self) -> dict:
        status = self.engine.status()
        counts = {**self.counts, **{f"join_{k}": v for k, v in status.pop("join").items()}}
        return {"worker": self.settings.worker_id, "ts": time.time(), "counts": counts, **status}

    async def maybe_publish_status(self, idle: bool = False) -> None:
        learned = self.engine.learned
        due_by_count = learned - self._status_learned >= self.settings.status_every
        due_by_time = time.monotonic() - self._status_sent_at >= self.settings.status_interval_s
        if due_by_count or (due_by_time and (idle or learned != self._status_learned)):
            await self.publish_status()

    async def publish_status(self) -> None:
        self._status_learned, self._status_sent_at = self.engine.learned, time.monotonic()
        await self.topics["status"].send(key=self.settings.worker_id.encode(), value=orjson.dumps(self.status()))


class _Sink:
    """One output topic, sent to through the app's producer.

    ``Topic.send`` wraps every message in Faust machinery (a FutureMessage, sensors, a
    done-callback) the worker never uses: sending directly cut the worker's CPU per event
    by a third (measured with ``stream-mlc bench service``).
    """

    __slots__ = ("app", "name")

    def __init__(self, app: faust.App, name: str):
        self.app = app
        self.name = name

    async def send(self, key: bytes | None = None, value: bytes | None = None):
        return await self.app.producer.send(self.name, key, value, None, None, None)


class _Progress(NamedTuple):
    at: float  # time.monotonic()
    learned: int
    position: int  # the sum of the input offsets processed


def after_seek_to_committed(consumer, resume: Callable[[object], Awaitable[None]]) -> None:
    """Call ``resume(consumer)`` each time Faust has sought the partitions to their committed offsets.

    The hook is installed once per consumer (the first assignment installs it; Faust seeks
    after the assignment signals have run).
    """
    if getattr(consumer, "_stream_mlc_seek", False):
        return
    original = consumer.perform_seek

    async def perform_seek() -> None:
        await original()
        await resume(consumer)

    consumer.perform_seek = perform_seek
    consumer._stream_mlc_seek = True


def _patch_fetch_wait() -> None:
    """Let the worker's consumer use ``fetch_max_wait_ms`` (Faust hardcodes 1500 ms).

    Tansu holds a fetch that long even when data has arrived: p50 latency 391 ms at 1500 ms
    against 8 ms at 20 ms (a plain aiokafka consumer at 300 msg/s). Apache Kafka answers as
    soon as data arrives, so the short wait costs nothing there. This sets a private
    aiokafka attribute; if Faust's or aiokafka's internals change, it quietly does nothing.
    """
    from faust.transport.drivers import aiokafka as faust_aiokafka

    thread = getattr(faust_aiokafka, "AIOKafkaConsumerThread", None)
    create = getattr(thread, "_create_worker_consumer", None)
    if create is None or getattr(create, "_stream_mlc", False):
        return

    def create_worker_consumer(self, transport):
        consumer = create(self, transport)
        wait_ms = getattr(self.app, "stream_mlc_fetch_max_wait_ms", None)
        if wait_ms is not None and hasattr(consumer, "_fetch_max_wait_ms"):
            consumer._fetch_max_wait_ms = wait_ms
        return consumer

    create_worker_consumer._stream_mlc = True
    thread._create_worker_consumer = create_worker_consumer


_patch_fetch_wait()


def make_app(s: Settings) -> faust.App:
    """The worker's Faust app, tuned for this service (the figures are from ``bench service``)."""
    app = faust.App(
        s.app_id,
        broker=f"kafka://{s.bootstrap}",
        **faust_broker_kwargs(s),
        key_serializer="raw",
        value_serializer="raw",
        processing_guarantee="at_least_once",
        # Tansu's first group join takes ~32 s with Faust's defaults, ~5 s with these.
        broker_session_timeout=5.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=5.0,
        broker_commit_interval=1.0,
        # Smaller polls interleave partitions: aiokafka drains one partition's prefetched
        # records before the next, which starves the partitions the merge waits for.
        broker_max_poll_records=s.max_poll_records,
        consumer_auto_offset_reset="earliest",
        producer_linger=s.producer_linger_ms / 1000.0,
        producer_max_batch_size=s.producer_batch_bytes,
        topic_partitions=load_specs()["features"].partitions,
        web_enabled=False,
        web_port=s.web_port,
        web_host="127.0.0.1",
    )
    app.stream_mlc_fetch_max_wait_ms = s.fetch_max_wait_ms
    return app


def sinks(app: faust.App, s: Settings) -> dict[str, _Sink]:
    """Every output topic of the service, by short name."""
    return {name: _Sink(app, s.topic(name)) for name in load_specs()}


def drift_settings(settings: Settings) -> DriftSettings | None:
    if not settings.drift_monitor:
        return None
    _, options = parse_spec(f"drift:{settings.drift_options}")
    try:
        return DriftSettings(**options)
    except TypeError as error:
        raise ConfigError(f"bad STREAM_MLC_DRIFT_OPTIONS {settings.drift_options!r}: {error}") from error


def new_engine(settings: Settings) -> Engine:
    config = EngineConfig(
        drift=drift_settings(settings),
        thresholds=settings.thresholds,
        model=settings.model,
        metrics_window=settings.metrics_window,
        max_labels=settings.max_labels,
        max_features=settings.max_features,
        labels=settings.label_names,
        join=JoinLimits(settings.join_max_age_s, settings.join_max_entries),
    )
    return Engine.from_config(config)
