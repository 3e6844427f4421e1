"""The worker's shell, common to both modes: the Faust app, its outputs, checkpoints and status.

The core (:mod:`stream_mlc.core.processor`) turns input records into an
:class:`~stream_mlc.core.processor.Outcome`; the shell moves records from Kafka into it and
the outcome's sends back out:

* :class:`Outputs` produces every send and checks every delivery. A delivery that fails
  (after the producer's retries) ends the worker at once with :data:`EXIT_UNDELIVERED`,
  before any offset past it can be committed or checkpointed: its successor produces it
  again from the last checkpoint. Checkpoints wait for every earlier delivery.
* :class:`Checkpointer` writes the state with the input offsets it reflects, every so many
  learned examples or seconds, to a :class:`~stream_mlc.service.checkpoints.CheckpointStore`.
* :class:`StatusPublisher` publishes the worker's status record.
* :func:`account` moves an outcome's counts into the Prometheus metrics.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NamedTuple

import faust
import orjson
from aiokafka.errors import IllegalStateError

from stream_mlc.core.checkpoint import Checkpoint, dumps
from stream_mlc.core.processor import AUDIT_KINDS, Outcome, Record
from stream_mlc.errors import STOPPED_UNCOMMITTED_EXIT_CODE
from stream_mlc.service.checkpoints import CheckpointStore
from stream_mlc.service.kafka_config import faust_broker_kwargs
from stream_mlc.service.prom import ServiceMetrics
from stream_mlc.service.registry import acknowledge_forget
from stream_mlc.settings import Settings
from stream_mlc.topics import load_specs

log = logging.getLogger(__name__)

#: A send was not delivered, or the error policy stopped the worker: nothing past it is
#: committed; a restart resumes from the last checkpoint.
EXIT_UNDELIVERED = STOPPED_UNCOMMITTED_EXIT_CODE
#: This process, in every status record it publishes: tells two workers of one app id apart.
INSTANCE = uuid.uuid4().hex
STARTED = time.time()


class Outputs:
    """Every output topic of the service, produced to through the app's producer.

    ``Topic.send`` wraps every message in Faust machinery (a FutureMessage, sensors, a
    done-callback) the worker never uses: sending directly cut the worker's CPU per event
    by a third (measured with ``stream-mlc bench service``).
    """

    def __init__(self, app: faust.App, settings: Settings):
        self.app = app
        self.topics = {name: settings.topic(name) for name in load_specs()}
        self.pending: set[asyncio.Future] = set()

    async def send(self, sink: str, key: bytes | None, value: bytes) -> asyncio.Future:
        delivery = await self.app.producer.send(self.topics[sink], key, value, None, None, None)
        self.pending.add(delivery)
        delivery.add_done_callback(self._delivered)
        return delivery

    async def publish(self, outcome: Outcome) -> asyncio.Future:
        """Produce an outcome's sends, in order; the returned future is done once all are delivered."""
        deliveries = [await self.send(sink, key, value) for sink, key, value in outcome.sends]
        return asyncio.gather(*deliveries)

    async def delivered(self) -> None:
        """Wait until everything sent so far is delivered (a failure has ended the worker)."""
        if self.pending:
            await asyncio.wait(list(self.pending))

    def sender(self, sink: str) -> Callable[[bytes, bytes], Awaitable[None]]:
        """``send(key, value)`` to one topic that returns once the record is delivered."""
        async def send(key: bytes, value: bytes) -> None:
            await (await self.send(sink, key, value))
        return send

    def _delivered(self, delivery: asyncio.Future) -> None:
        self.pending.discard(delivery)
        if delivery.cancelled() or delivery.exception() is not None:
            stop_now(f"a message was not delivered ({None if delivery.cancelled() else delivery.exception()!r})")


def producing(app: faust.App) -> bool:
    """Whether the app's producer has started (a worker stopped during its start has none)."""
    return bool(getattr(app.producer, "started", False))


def stop_now(reason: str) -> None:
    """End the worker at once, committing nothing: its successor resumes from the last checkpoint."""
    log.critical("%s; stopping the worker (exit code %d) before anything past it is committed",
                 reason, EXIT_UNDELIVERED)
    logging.shutdown()
    os._exit(EXIT_UNDELIVERED)


async def keep_following(what: str, follow: Callable[[], Awaitable[None]]) -> None:
    """Run ``follow()`` for as long as the worker runs: a broken record or a lost connection must not stop it."""
    while True:
        try:
            await follow()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("following %s failed; starting again", what)
            await asyncio.sleep(1.0)


def account(metrics: ServiceMetrics, outcome: Outcome, wall_now: float) -> None:
    """Move an outcome's counts into the Prometheus metrics (and log its alerts)."""
    counts = outcome.counts
    metrics.scored.inc(counts["scored"])
    metrics.labels.inc(counts["labels"])
    metrics.joined.inc(counts["joined"])
    for name, n in counts.items():
        if name.startswith("deadlettered:"):
            metrics.deadlettered.labels(name.partition(":")[2]).inc(n)
    for event_time in outcome.scored_at:
        metrics.latency.observe(max(0.0, wall_now - event_time))
    for delay in outcome.label_delays:
        metrics.label_delay.observe(max(0.0, delay))
    for alert in outcome.alerts:
        metrics.alerts.labels(alert["kind"], alert["detector"]).inc()
        record = getattr(metrics, "record_alert", None)
        if record is not None:
            record(alert["kind"], alert["subject"], alert["message"], alert["model_version"], alert["ts"])
        # The service's own decisions (threshold moves...) are frequent: they are on the audit topic.
        log.log(logging.INFO if alert["kind"] in AUDIT_KINDS else logging.WARNING, "%s: %s", alert["kind"],
                alert["message"])


class Progress(NamedTuple):
    at: float  # time.monotonic()
    learned: int
    position: int  # the sum of the input offsets the state reflects


class Checkpointer:
    """Checkpoints the state every ``checkpoint_every`` learned or ``checkpoint_interval_s`` seconds.

    Offsets count too: events still waiting for their labels are state the inputs'
    retention could take away.
    """

    def __init__(self, settings: Settings, store: CheckpointStore, outputs: Outputs,
                 state: Callable[[], Checkpoint], config: dict, metrics: ServiceMetrics | None = None):
        self.settings, self.store, self.outputs, self.state, self.config = settings, store, outputs, state, config
        self.metrics = metrics
        #: Forgotten ids whose requests can be tombstoned once a checkpoint without them is written.
        self.forgotten: list[str] = []
        self.written = 0
        self.last = self.progress()

    def progress(self) -> Progress:
        checkpoint = self.state()
        position = sum(offset for partitions in checkpoint.offsets.values() for offset in partitions.values())
        return Progress(time.monotonic(), checkpoint.learned, position)

    async def maybe(self, force: bool = False) -> bool:
        now, last = self.progress(), self.last
        if (now.learned, now.position) == (last.learned, last.position):
            return False
        due = (now.learned - last.learned >= self.settings.checkpoint_every
               or now.at - last.at >= self.settings.checkpoint_interval_s)
        if due or force:
            await self.write()
        return due or force

    async def write(self) -> None:
        # A checkpoint must never reflect an output that was not delivered.
        await self.outputs.delivered()
        checkpoint = self.state()
        checkpoint.config = self.config
        self.last = self.progress()
        await self.store.save(dumps(checkpoint), checkpoint.learned)
        self.written += 1
        if self.metrics is not None:
            self.metrics.checkpoints.inc()
        if self.forgotten:
            ids, self.forgotten = self.forgotten, []
            await asyncio.to_thread(acknowledge_forget, self.settings, ids)


class StatusPublisher:
    """Publishes ``status()`` after ``status_every`` learned examples, or every ``status_interval_s``."""

    def __init__(self, settings: Settings, outputs: Outputs, status: Callable[[], dict]):
        self.settings, self.outputs, self.status = settings, outputs, status
        self.sent_at, self.learned = 0.0, -1

    async def maybe(self, learned: int, idle: bool = False) -> None:
        due_by_count = learned - self.learned >= self.settings.status_every
        due_by_time = time.monotonic() - self.sent_at >= self.settings.status_interval_s
        if due_by_count or (due_by_time and (idle or learned != self.learned)):
            await self.publish(learned)

    async def publish(self, learned: int, stopped: bool = False) -> None:
        """Publish now; ``stopped`` marks the last record of a worker that stops cleanly."""
        self.sent_at, self.learned = time.monotonic(), learned
        status = {**self.status(), "stopped": stopped}
        await self.outputs.send("status", str(status["worker"]).encode(), orjson.dumps(status))


def worker_status(settings: Settings, counts: dict, mode: str) -> dict:
    """The part of a status record every worker has."""
    from stream_mlc import __version__

    return {"worker": settings.worker_id, "ts": time.time(), "mode": mode, "version": __version__,
            "instance": INSTANCE, "pid": os.getpid(), "started": STARTED, "config": settings.learning_config(),
            "counts": counts}


def records(events) -> list[Record]:
    """Faust events as the core's input records (timestamps in seconds)."""
    return [Record(event.message.topic, event.message.partition, event.message.offset,
                   event.message.timestamp or 0.0, event.key, event.value) for event in events]


async def seek_if_assigned(consumer, tp, offset: int) -> None:
    """Seek ``tp`` unless a rebalance took it away meanwhile (its new owner resumes it from its own state)."""
    try:
        await consumer.seek(tp, offset)
    except (IllegalStateError, AssertionError) as error:
        log.info("not seeking %s: %s", tp, error)


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


def _patch_table_manager_pause() -> None:
    """Start Faust's table manager without its fixed one-second pause when the app has no tables.

    ``TableManager.on_start`` sleeps 1 s before starting recovery, to let tables register;
    the worker keeps no Faust table (its state is checkpointed with the engine), so that
    second only delays the first prediction. With tables it behaves as Faust's.
    """
    from faust.tables.manager import TableManager

    start = TableManager.on_start
    if getattr(start, "_stream_mlc", False):
        return

    async def on_start(self) -> None:
        if len(self):  # tables registered: Faust's own start, pause included
            return await start(self)
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()

    on_start._stream_mlc = True
    TableManager.on_start = on_start


_patch_fetch_wait()
_patch_table_manager_pause()


def data_dir(settings: Settings) -> Path:
    """Faust's data directory: under the system's temp directory, never the current one."""
    return Path(tempfile.gettempdir()) / "stream-mlc" / settings.app_id


def make_app(s: Settings) -> faust.App:
    """The worker's Faust app, tuned for this service (the figures are from ``bench service``)."""
    data_dir(s).parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    app = faust.App(
        s.app_id,
        broker=f"kafka://{s.bootstrap}",
        **faust_broker_kwargs(s),
        datadir=str(data_dir(s)),
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
