"""Single mode: one worker scores, joins and learns, in exact event-time order.

One agent reads the features and labels topics (co-partitioned: same keys, same partition
counts) and hands every fetched batch to the core's
:class:`~stream_mlc.core.roles.EventTimeProcessor`, which merges them in event time and
dispatches each record: a feature event is scored (its prediction published) and kept in
the join buffer; a label event is joined with its stored event, whose prediction is scored
against the truth, and the model learns it at once. Every learned example is logged on the
training topic, whose order is the learning order (``model_version`` counts it).

The engine, join buffer included, is checkpointed with the input offsets it reflects; a
restarted worker resumes every input partition from its checkpointed offset, so it learns
exactly what an uninterrupted worker would have (see :mod:`stream_mlc.core.checkpoint`).
Nothing here decides anything about learning: this module only moves records.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from stream_mlc import bootstrap
from stream_mlc.core.checkpoint import Checkpoint
from stream_mlc.core.processor import Outcome, ProcessingError, Record
from stream_mlc.service.admin import input_partitions
from stream_mlc.service.batchfeed import batch_agent
from stream_mlc.service.checkpoints import checkpoint_store
from stream_mlc.service.guard import SingleWorkerGuard
from stream_mlc.service.prom import ServiceMetrics
from stream_mlc.service.registry import RegistryFollower
from stream_mlc.service.shell import (
    Checkpointer,
    Outputs,
    StatusPublisher,
    account,
    after_seek_to_committed,
    keep_following,
    make_app,
    producing,
    seek_if_assigned,
    stop_now,
    worker_status,
)
from stream_mlc.settings import Settings

log = logging.getLogger(__name__)


class Service:
    """The single-mode worker: the processor, and the Faust app that feeds it."""

    def __init__(self, settings: Settings, checkpoint: Checkpoint | None = None, slot: int = 1):
        self.settings = settings
        self.processor = bootstrap.single_processor(settings, checkpoint)
        self.counts: Counter[str] = Counter()
        self.metrics = ServiceMetrics(max_labels=settings.metrics_max_labels,
                                      info={"model": settings.model, "mode": "single", "worker": settings.worker_id})
        self.app = make_app(settings)
        self.outputs = Outputs(self.app, settings)
        store = checkpoint_store(settings, self.outputs.sender("checkpoints"))
        store_slot(store, slot)
        self.checkpointer = Checkpointer(settings, store, self.outputs, self.processor.checkpoint,
                                         settings.learning_config(), self.metrics)
        self.status_publisher = StatusPublisher(settings, self.outputs, self.status)
        self._processing = asyncio.Lock()
        #: Set once the whole label registry is applied: no event is processed before.
        self.registry_ready = asyncio.Event()
        self.guard = SingleWorkerGuard(settings)
        self._partial = False
        self.partitions = input_partitions(settings)
        self._join_counts_seen: Counter[str] = Counter(self.engine.buffer.counts)
        self._wire()

    @property
    def engine(self):
        return self.processor.engine

    def describe(self) -> dict:
        """What the worker runs: for its ready line and its status."""
        return {"model": self.settings.model, "version": self.engine.learned, "mode": "single"}

    def _wire(self) -> None:
        s, app = self.settings, self.app

        # Whole fetched batches, not one Faust Event per message (service/batchfeed.py).
        batch_agent(app, [s.topic("features"), s.topic("labels")], self.on_batch, name="process")

        @app.timer(interval=s.align_idle_s)
        async def release_idle():
            # Process in a task of its own: a timer that overruns its interval logs warnings.
            if not self._processing.locked():
                asyncio.ensure_future(self.release())

        @app.timer(interval=1.0)
        async def housekeeping():
            async with self._processing:
                self.engine.expire(self.processor.clock)
                self.refresh_metrics()
                await self.status_publisher.maybe(self.engine.learned, idle=True)
                await self.checkpointer.maybe()

        @app.task
        async def follow_registry():
            await keep_following("the label registry", lambda: self.follow_registry())

        app.on_partitions_assigned.connect(self._on_assigned)
        app.on_before_shutdown.connect(self._on_shutdown)

    async def on_batch(self, batch: list[Record]) -> None:
        """Queue a fetched batch in the aligner and process what it lets go (acked when this returns)."""
        await self.registry_ready.wait()
        self.processor.accept(batch, time.monotonic())
        await self.release()

    async def follow_registry(self) -> None:
        """Apply the whole label registry before any event, then each change as it comes (within a second)."""
        topic = self.settings.topic("label-registry")
        async with RegistryFollower(self.settings) as follower:
            backlog, applied = await follower.backlog(), Outcome()
            async with self._processing:
                for key, value in backlog:  # applied silently: their audit records went out when they came
                    self.processor.dispatch.govern(Record(topic, 0, -1, 0.0, key, value), time.time(), applied)
            self.checkpointer.forgotten += applied.forgotten  # not tombstoned yet if the last worker died first
            self.registry_ready.set()
            while True:
                for key, value in await follower.poll(0.2):
                    async with self._processing:
                        out = Outcome()
                        self.processor.dispatch.govern(Record(topic, 0, -1, time.time(), key, value), time.time(), out)
                        await self.publish(out)
                        # The change is state: checkpoint it now, so that a restart replays the
                        # inputs after it with it, and a forgotten id leaves the checkpoint.
                        await self.checkpointer.write()

    async def release(self) -> None:
        """Process what the aligner lets go, in event-time order, one caller at a time."""
        if self._partial or not self.guard.clear.is_set():
            # Another member holds some inputs: processing only ours would learn them out of
            # event-time order. Wait until that is settled and the group gives all of them back.
            return
        async with self._processing:
            try:
                outcome = self.processor.release(time.monotonic(), self._behind(), time.time())
            except ProcessingError as error:
                stop_now(str(error))
            await self.publish(outcome)
            if outcome.sends:
                await self.status_publisher.maybe(self.engine.learned)
                await self.checkpointer.maybe()

    async def publish(self, outcome: Outcome) -> None:
        self.checkpointer.forgotten += outcome.forgotten
        await self.outputs.publish(outcome)
        self.counts.update(outcome.counts)
        account(self.metrics, outcome, time.time())

    def _behind(self) -> list[tuple[str, int]]:
        """The input partitions the consumer has not read to their end yet."""
        consumer = self.app.consumer
        behind = []
        for tp in consumer.assignment():
            lane = (tp.topic, tp.partition)
            if tp.topic in self.processor.dispatch.kinds:
                highwater = consumer.highwater(tp)
                if highwater is None or self.processor.resume_offset(lane) < highwater:
                    behind.append(lane)
        return behind

    async def _on_assigned(self, app, assigned, **_) -> None:
        """Make every later seek-to-committed land where the engine's state says to resume.

        Faust seeks to the group's committed offsets after a rebalance, and its commits
        follow events as they are fetched, not as they are processed: the aligner may still
        hold them. The processor knows which records its state reflects; resume from there.
        """
        async def resume(consumer) -> None:
            for tp in consumer.assignment():
                if tp.topic in self.processor.dispatch.kinds:
                    await seek_if_assigned(consumer, tp, self.processor.resume_offset((tp.topic, tp.partition)))

        after_seek_to_committed(app.consumer, resume)
        self._partial = self._holds_part_of_the_inputs()
        if self._partial:
            self.guard.check()

    def _holds_part_of_the_inputs(self) -> bool:
        """Whether the group gave this worker only some input partitions: another member joined."""
        assigned = Counter(tp.topic for tp in self.app.consumer.assignment())
        return any(assigned[topic] < self.partitions for topic in self.processor.dispatch.kinds)

    async def _on_shutdown(self, app, **_) -> None:
        if not producing(app):
            return
        async with self._processing:
            await self.checkpointer.maybe(force=True)
            await self.status_publisher.publish(self.engine.learned, stopped=True)
            await app.producer.flush()

    def refresh_metrics(self) -> None:
        status = self.engine.status()
        self.metrics.refresh(status)
        count_join_changes(self.metrics, status["join"], self._join_counts_seen)

    def status(self) -> dict:
        status = self.engine.status()
        counts = {**self.counts, "checkpoints": self.checkpointer.written,
                  **{f"join_{k}": v for k, v in status.pop("join").items()}}
        return {**worker_status(self.settings, counts, "single"), **status}


def count_join_changes(metrics: ServiceMetrics, join_counts: dict, seen: Counter) -> None:
    """The join buffer counts cumulatively; Prometheus counters take the increase since last time."""
    for name, count in join_counts.items():
        delta = count - seen[name]
        if delta > 0:
            seen[name] = count
            if name.startswith("expired_"):
                metrics.expired.labels(name.removeprefix("expired_")).inc(delta)
            elif name.startswith("duplicate_"):
                metrics.duplicates.labels(name.removeprefix("duplicate_")).inc(delta)


def store_slot(store, slot: int) -> None:
    """Tell the topic store which slot the restored checkpoint came from (the next write spares it)."""
    for each in getattr(store, "stores", (store,)):
        if hasattr(each, "slot"):
            each.slot = slot
