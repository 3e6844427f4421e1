"""Scaled mode: one learner, many scorers (README: Scaling).

Every worker of the app's consumer group plays two roles, composed, not inherited:

* :class:`ScoringRole` reads the features and labels partitions the group assigned to this
  worker and hands each fetched batch to the core's :class:`~stream_mlc.core.roles.Scorer`:
  feature events are scored at once with the newest model snapshot and their predictions
  published; scored events and label events are forwarded to the one-partition ``learn``
  topic. A scorer keeps no state but the snapshot, so a partition can move at any time.
* :class:`LearningRole` is active on the worker the group gives ``learn`` to. It restores
  the newest checkpoint and hands the learn topic's records to the core's
  :class:`~stream_mlc.core.roles.LearnTopicProcessor`, which drives the same engine as
  single mode. It checkpoints, and publishes model snapshots on ``models`` every
  ``snapshot_every`` examples or ``snapshot_interval_s``.

Every worker follows ``models`` and scores with the newest snapshot, so predictions are at
most one snapshot interval behind the learner; each carries the version it was scored with.

When a worker dies its partitions move to the others. The learner's successor replays the
``learn`` topic from the checkpoint, in the same order, so it learns exactly what was
learned before; a scorer's successor re-reads from the group's committed offsets, so some
events may be scored and forwarded twice: the join buffer recognises the second copy by id.
A send that is not delivered ends the worker before its input offsets can be committed;
a learner that cannot read an existing checkpoint stops (:data:`EXIT_CHECKPOINT_UNREADABLE`)
rather than start from scratch over it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections import Counter

import orjson

from stream_mlc import bootstrap
from stream_mlc.core.checkpoint import loads
from stream_mlc.core.processor import Outcome, ProcessingError, Record
from stream_mlc.core.roles import LearnTopicProcessor
from stream_mlc.core.snapshot import dumps as dump_snapshot
from stream_mlc.core.snapshot import loads as load_snapshot
from stream_mlc.errors import CHECKPOINT_UNREADABLE_EXIT_CODE, CheckpointMismatch
from stream_mlc.service.app import count_join_changes
from stream_mlc.service.batchfeed import batch_agent
from stream_mlc.service.checkpoints import TopicStore, checkpoint_store, stored_from
from stream_mlc.service.prom import ServiceMetrics
from stream_mlc.service.reader import TopicReader
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
    records,
    seek_if_assigned,
    stop_now,
    worker_status,
)
from stream_mlc.service.worker import check_checkpoint_config
from stream_mlc.settings import Settings

log = logging.getLogger(__name__)
#: Learn-topic messages the learner takes at once: a batch must finish quickly when the
#: group rebalances (Faust waits for it before revoking; the rebalance timeout is 5 s).
LEARN_TAKE = 4
#: The newest checkpoint exists but cannot be read: starting from scratch would overwrite it.
EXIT_CHECKPOINT_UNREADABLE = CHECKPOINT_UNREADABLE_EXIT_CODE


class ScoringRole:
    """Score fetched batches with the newest snapshot; follow the snapshots the learner publishes."""

    def __init__(self, settings: Settings, outputs: Outputs, metrics: ServiceMetrics, counts: Counter):
        self.settings, self.outputs, self.metrics, self.counts = settings, outputs, metrics, counts
        # Until the learner's first snapshot: the untrained model, version 0.
        self.scorer = bootstrap.scorer(settings, bootstrap.new_engine(settings).snapshot())
        self.snapshot_key = f"{settings.app_id}/model"
        self.sha = ""
        self.ready = asyncio.Event()

    @property
    def snapshot(self):
        return self.scorer.snapshot

    async def handle(self, batch: list[Record]) -> asyncio.Future:
        """Score a fetched batch; the batch is acked (and committed) only once its sends are delivered.

        A scorer has no checkpoint: the group's committed offsets are what its successor
        resumes from, so they must never pass a prediction or a learn record not delivered.
        """
        # Scoring with the untrained model while the newest snapshot is on its way would
        # publish poor predictions, and feed them to the learner's metrics.
        await self.ready.wait()
        outcome = self.scorer.handle(batch, time.time())
        delivered = await self.outputs.publish(outcome)
        self.counts.update(outcome.counts)
        account(self.metrics, outcome, time.time())
        return delivered

    def load(self, data: bytes, sha: str) -> None:
        # The newest snapshot, even if its version is lower than ours: after a failover the
        # new learner replays from its checkpoint, and its versions are the true ones.
        self.scorer.snapshot = load_snapshot(data)
        self.sha = sha
        self.metrics.model_version.set(self.snapshot.version)

    async def follow(self) -> None:
        """Load every snapshot the learner publishes (the newest first, before scoring anything)."""
        parts: dict[bytes, bytes] = {}
        manifest_key = f"{self.snapshot_key}/manifest".encode()
        async with TopicReader(self.settings, "models", decode=bytes) as reader:
            # Catch up with what is there before scoring anything; load only the newest.
            for _, key, value in await reader.read_to_end():
                parts[key] = value
            self.load_manifest(parts.get(manifest_key), parts)
            self.ready.set()
            while True:
                newest = None
                for _, key, value in await reader.poll(0.5):
                    parts[key] = value
                    newest = value if key == manifest_key else newest
                self.load_manifest(newest, parts)

    def load_manifest(self, manifest_raw: bytes | None, parts: dict[bytes, bytes]) -> None:
        if manifest_raw is None:
            return
        try:
            manifest = orjson.loads(manifest_raw)
            if manifest["sha256"] != self.sha:
                self.load(stored_from(parts, self.snapshot_key, manifest).data, manifest["sha256"])
        except Exception:
            log.exception("model snapshot %r cannot be loaded: kept version %d", manifest_raw[:200],
                          self.snapshot.version)


class LearningRole:
    """The learner, while this worker holds the learn topic: restore, learn, checkpoint, publish snapshots."""

    def __init__(self, settings: Settings, outputs: Outputs, metrics: ServiceMetrics, counts: Counter,
                 scoring: ScoringRole):
        self.settings, self.outputs, self.metrics, self.counts = settings, outputs, metrics, counts
        self.scoring = scoring
        self.lane = (settings.topic("learn"), 0)
        self.processor: LearnTopicProcessor | None = None
        self.checkpoints = checkpoint_store(settings, outputs.sender("checkpoints"))
        self.snapshots = TopicStore(settings, "models", scoring.snapshot_key, outputs.sender("models"))
        self.checkpointer: Checkpointer | None = None
        self.lock = asyncio.Lock()
        self.published = (time.monotonic(), -1)  # (when, version) of the last snapshot published
        #: Every label-registry record read so far, in order: a new learner applies them all, and
        #: ``_applied`` of them are applied to the current learner's engine.
        self.registry: list[tuple[bytes, bytes | None]] = []
        self._applied = 0
        #: Set once the registry's backlog is read: the learner learns nothing before.
        self.registry_ready = asyncio.Event()
        self._join_counts_seen: Counter[str] = Counter()

    @property
    def active(self) -> bool:
        return self.processor is not None

    async def become(self) -> None:
        async with self.lock:
            if self.active:
                return
            processor = bootstrap.learner(self.settings, await self._restore())
            self.checkpointer = Checkpointer(self.settings, self.checkpoints, self.outputs, processor.checkpoint,
                                             self.settings.learning_config(), self.metrics)
            self._join_counts_seen = Counter(processor.engine.buffer.counts)
            self.processor = processor
            self._applied = 0
            self._catch_up(publish=False)
            log.warning("learning from %s[%d]@%d: %d examples learned so far", *self.lane, processor.processed,
                        processor.engine.learned)
            await self.publish_snapshot()

    async def _restore(self):
        """The newest checkpoint, or None on a first start; a checkpoint that cannot be read stops the worker."""
        try:
            stored = await self.checkpoints.load()
            checkpoint = None if stored is None else loads(stored.data)
        except Exception as error:
            log.critical("the newest checkpoint of %s cannot be loaded (%s: %s); the worker refuses to learn "
                         "from scratch over it: restore it, or start a new group under another --app-id",
                         self.settings.app_id, type(error).__name__, error)
            logging.shutdown()
            os._exit(EXIT_CHECKPOINT_UNREADABLE)
        if checkpoint is not None:
            try:  # the worker checked at its start; the settings may differ from a newer learner's
                check_checkpoint_config(self.settings, checkpoint.config)
            except CheckpointMismatch as error:
                log.critical("%s", error)
                logging.shutdown()
                os._exit(CheckpointMismatch.exit_code)
        return checkpoint

    async def handle(self, events) -> None:
        await self.registry_ready.wait()
        async with self.lock:
            if not self.active:  # revoked: what is left is the next learner's
                return
            try:
                outcome = self.processor.handle(records(events), time.time())
            except ProcessingError as error:
                stop_now(str(error))
            await self.outputs.publish(outcome)
            self.counts.update(outcome.counts)
            account(self.metrics, outcome, time.time())
            await self.maybe_publish_snapshot()
            await self.checkpointer.maybe()

    async def follow_registry(self) -> None:
        """Keep every label-registry record; the learner applies each as it comes (within a second)."""
        async with RegistryFollower(self.settings) as follower:
            backlog = await follower.backlog()
            async with self.lock:
                # After a restart of this task the backlog holds what was read before: applying
                # a label record again changes nothing.
                self.registry, self._applied = backlog, 0
                self._catch_up(publish=False)  # their audit records went out when they came
            self.registry_ready.set()
            while True:
                records = await follower.poll(0.2)
                if records:
                    async with self.lock:
                        self.registry += records
                        await self.outputs.publish(self._catch_up(publish=True))
                        if self.active:  # the change is state: checkpoint it with the offset it applies from
                            await self.checkpointer.write()

    def _catch_up(self, publish: bool) -> Outcome:
        """Apply the registry records the learner's engine has not seen (under the lock)."""
        out = Outcome()
        if self.processor is None:
            return out
        for key, value in self.registry[self._applied:]:
            self.processor.dispatch.govern(self._registry_record(key, value), time.time(), out)
        self._applied = len(self.registry)
        self.checkpointer.forgotten += out.forgotten
        return out if publish else Outcome()

    def _registry_record(self, key: bytes, value: bytes | None) -> Record:
        return Record(self.settings.topic("label-registry"), 0, -1, time.time(), key, value)

    async def housekeeping(self) -> None:
        async with self.lock:
            if not self.active:
                return
            engine = self.processor.engine
            engine.expire(self.processor.clock)
            status = engine.status()
            self.metrics.refresh(status)
            count_join_changes(self.metrics, status["join"], self._join_counts_seen)
            await self.maybe_publish_snapshot()
            await self.checkpointer.maybe()

    async def maybe_publish_snapshot(self) -> None:
        since, version = self.published
        learned = self.processor.engine.learned
        due = learned - version >= self.settings.snapshot_every or (
            time.monotonic() - since >= self.settings.snapshot_interval_s and learned != version)
        if due:
            await self.publish_snapshot()

    async def publish_snapshot(self) -> None:
        engine = self.processor.engine
        data = dump_snapshot(engine.snapshot())
        await self.snapshots.save(data, engine.learned)
        self.published = (time.monotonic(), engine.learned)
        self.counts["snapshots"] += 1
        # Load it now, not when it comes back from the topic (the sha tells the follower it has it).
        self.scoring.load(data, hashlib.sha256(data).hexdigest())

    async def stop(self, producer) -> None:
        """Revoked or shutting down: checkpoint what was learned, and stop learning."""
        async with self.lock:
            if self.active:
                await self.checkpointer.maybe(force=True)
                await producer.flush()
                self.processor = None


class ScaledService:
    """A worker of the scaled mode: a scorer always, the learner while it holds ``learn``."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.counts: Counter[str] = Counter()
        self.metrics = ServiceMetrics(max_labels=settings.metrics_max_labels,
                                      info={"model": settings.model, "mode": "scaled", "worker": settings.worker_id})
        self.app = make_app(settings)
        self.outputs = Outputs(self.app, settings)
        self.scoring = ScoringRole(settings, self.outputs, self.metrics, self.counts)
        self.learning = LearningRole(settings, self.outputs, self.metrics, self.counts, self.scoring)
        self.status_publisher = StatusPublisher(settings, self.outputs, self.status)
        self._inputs = set(bootstrap.input_kinds(settings))
        self._assigned: set = set()
        self._wire()

    def describe(self) -> dict:
        return {"model": self.settings.model, "version": self.scoring.snapshot.version, "mode": "scaled"}

    def _wire(self) -> None:
        s, app = self.settings, self.app

        # Whole fetched batches of the inputs (service/batchfeed.py); the learn topic, a few large
        # messages, keeps Faust's per-message path, so that a batch ends quickly in a rebalance.
        batch_agent(app, sorted(self._inputs), self.scoring.handle, name="score")

        @app.agent(app.topic(s.topic("learn")), name="learn")
        async def learn(stream):
            async for events in stream.take_events(LEARN_TAKE, within=s.batch_within_s):
                await self.learning.handle(events)
                await self.status_publisher.maybe(self.learned)

        @app.task
        async def follow_models():
            await keep_following(self.settings.topic("models"), self.scoring.follow)

        @app.task
        async def follow_registry():
            await keep_following("the label registry", lambda: self.learning.follow_registry())

        @app.timer(interval=1.0)
        async def housekeeping():
            await self.learning.housekeeping()
            if not self.learning.active:  # a scorer: its live page follows its counts and model version
                self.metrics.refresh(self.status())
            if time.monotonic() - self.status_publisher.sent_at >= s.status_interval_s:
                await self.status_publisher.publish(self.learned)

        app.on_partitions_assigned.connect(self._on_assigned)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_before_shutdown.connect(self._on_shutdown)

    @property
    def learned(self) -> int:
        processor = self.learning.processor
        return processor.engine.learned if processor is not None else self.scoring.snapshot.version

    async def _on_assigned(self, app, assigned, **_) -> None:
        self._assigned = set(assigned)
        after_seek_to_committed(app.consumer, self._resume_learning)

    async def _resume_learning(self, consumer) -> None:
        # Faust seeks to the committed offsets, which run ahead of the learner's checkpoint;
        # the learner resumes from what its restored state reflects. Faust also seeks while
        # a rebalance is under way: only the partitions of the current assignment count.
        for tp in consumer.assignment():
            if (tp.topic, tp.partition) == self.learning.lane and tp in self._assigned:
                await self.learning.become()
                await self.status_publisher.publish(self.learned)
                await seek_if_assigned(consumer, tp, self.learning.processor.processed)

    async def _on_revoked(self, app, revoked, **_) -> None:
        self._assigned -= set(revoked)
        if any((tp.topic, tp.partition) == self.learning.lane for tp in revoked):
            await self.learning.stop(app.producer)

    async def _on_shutdown(self, app, **_) -> None:
        if not producing(app):
            return
        await self.learning.stop(app.producer)
        await self.status_publisher.publish(self.learned, stopped=True)
        await app.producer.flush()

    def status(self) -> dict:
        processor = self.learning.processor
        role = {"role": "learner" if processor is not None else "scorer",
                "model_version": self.scoring.snapshot.version,
                "assigned": sorted(f"{tp.topic}:{tp.partition}" for tp in self._assigned
                                   if tp.topic in self._inputs or (tp.topic, tp.partition) == self.learning.lane)}
        counts = dict(self.counts)
        if processor is None:
            # A scorer learns nothing: its "learned" is that of the model it scores with.
            return {**worker_status(self.settings, counts, "scaled"), "learned": self.scoring.snapshot.version,
                    "metrics": {}, **role}
        status = processor.engine.status()
        counts.update({f"join_{k}": v for k, v in status.pop("join").items()})
        return {**worker_status(self.settings, counts, "scaled"), **status, **role}
