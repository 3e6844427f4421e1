"""Scaled mode: one learner, many scorers (README: Scaling).

Every worker of the app's consumer group runs two agents:

* **score** reads the features and labels partitions the group assigned to this worker.
  Feature events are scored in batches with the newest :class:`ModelSnapshot` and their
  predictions published; each scored event (with its prediction) and each label event is
  forwarded to the one-partition ``learn`` topic. A scorer keeps no state but the snapshot,
  so a partition can move to another worker at any time.
* **learn** reads the ``learn`` topic. The group gives its one partition to one worker,
  the learner: it restores the newest checkpoint, resumes from the offset that checkpoint
  reflects, and drives the same :class:`~stream_mlc.core.engine.Engine` as single mode
  (join, score the stored prediction against the truth, adapt thresholds, watch drift,
  learn). It logs every learned example on ``training``, checkpoints, and publishes model
  snapshots on ``models`` every ``snapshot_every`` examples or ``snapshot_interval_s``.

Every worker follows ``models`` and scores with the newest snapshot, so predictions are at
most one snapshot interval behind the learner; each carries the version it was scored with.

When a worker dies its partitions move to the others. The learner's successor replays the
``learn`` topic from the checkpoint, in the same order, so it learns exactly what was
learned before; a scorer's successor re-reads from the group's committed offsets, so some
events may be scored and forwarded twice: the join buffer recognises the second copy by id
and learns each labelled event once.
"""

from __future__ import annotations

import hashlib
import logging
import time

import orjson

from stream_mlc.core.checkpoint import CheckpointError, loads
from stream_mlc.core.events import FeatureEvent
from stream_mlc.core.snapshot import ModelSnapshot
from stream_mlc.core.snapshot import dumps as dump_snapshot
from stream_mlc.core.snapshot import loads as load_snapshot
from stream_mlc.errors import DecodeError, StreamMlcError
from stream_mlc.service.app import FEATURES, Service, make_app, sinks
from stream_mlc.service.checkpoints import read_checkpoint, write_checkpoint
from stream_mlc.service.reader import TopicReader
from stream_mlc.settings import Settings
from stream_mlc.wire import (
    dead_letter,
    decode_features,
    decode_labels,
    decode_learn,
    encode_labels,
    encode_prediction,
    encode_scored,
    pack_records,
    unpack_records,
)

log = logging.getLogger(__name__)
#: Records are packed into learn-topic messages of about this size: well under Kafka's
#: 1 MB message limit and the producer's batch size, and large enough (about 90 events of
#: 100 features) that per-message costs vanish.
LEARN_MESSAGE_BYTES = 128 * 1024


class ScaledService(Service):
    """A worker of the scaled mode: a scorer always, the learner while it holds ``learn``."""

    def __init__(self, settings: Settings):
        self.learning = False
        self.learn_lane = (settings.topic("learn"), 0)
        self.snapshot_key = f"{settings.app_id}/model"
        self._published = (time.monotonic(), -1)
        self._snapshot_slot = 0
        super().__init__(settings)
        # A copy: this engine may go on to learn in place if this worker becomes the first learner.
        self.model = load_snapshot(dump_snapshot(self.engine.snapshot()))

    def build(self):
        s = self.settings
        app = make_app(s)
        self.topics = sinks(app, s)

        @app.agent(app.topic(s.topic("features"), s.topic("labels")), name="score")
        async def score(stream):
            async for events in stream.take_events(s.batch_size, within=s.batch_within_s):
                await self.score_batch(events)

        @app.agent(app.topic(s.topic("learn")), name="learn")
        async def learn(stream):
            async for events in stream.take_events(s.batch_size, within=s.batch_within_s):
                await self.learn_batch(events)

        @app.task
        async def follow_models():
            await self.follow_models()

        @app.timer(interval=1.0)
        async def housekeeping():
            async with self._processing:
                if self.learning:
                    self.engine.expire(self.event_clock)
                    self.refresh_metrics()
                    await self.maybe_publish_snapshot()
                    await self.maybe_checkpoint()
                await self.maybe_publish_status(idle=True)

        app.on_partitions_assigned.connect(self._on_assigned)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_before_shutdown.connect(self._on_shutdown)
        return app

    # -- scoring -------------------------------------------------------------------------------
    async def score_batch(self, events) -> None:
        """Decode, score the feature events at once with the current snapshot, send in input order.

        What the learner needs goes to ``learn`` packed many records to a message: one Kafka
        message per event, through Faust, cost the learner more than learning it.
        """
        decoded = [await self._decode(event) for event in events]
        model = self.model
        now = time.time()
        predictions = iter(model.predictions([item for item in decoded if isinstance(item, FeatureEvent)], now))
        records: list[bytes] = []
        for event, item in zip(events, decoded, strict=True):
            if item is None:
                continue
            t = event.message.timestamp or 0.0
            if isinstance(item, FeatureEvent):
                prediction = next(predictions)
                await self.topics["predictions"].send(key=event.key, value=encode_prediction(prediction, now))
                records.append(encode_scored(item, prediction, t))
                self.counts["scored"] += 1
                self.metrics.scored.inc()
                self.metrics.latency.observe(max(0.0, now - t))
            else:
                records.append(encode_labels(item, t))
                self.counts["labels"] += 1
                self.metrics.labels.inc()
        await self._forward(records)

    async def _forward(self, records: list[bytes]) -> None:
        """Send records to ``learn`` in order, in messages of at most LEARN_MESSAGE_BYTES (or one record)."""
        start, size = 0, 0
        for i, record in enumerate(records):
            if size + len(record) > LEARN_MESSAGE_BYTES and i > start:
                await self.topics["learn"].send(value=pack_records(records[start:i]))
                start, size = i, 0
            size += len(record) + 1
        if start < len(records):
            await self.topics["learn"].send(value=pack_records(records[start:]))

    async def _decode(self, event):
        """The decoded event, or None after dead-lettering it."""
        message, limit = event.message, self.settings.max_message_bytes
        decode = decode_features if self._rank[message.topic] == FEATURES else decode_labels
        try:
            return decode(event.key, event.value, limit, message.timestamp)
        except StreamMlcError as error:
            await self.dead_letter(event, error)
            return None

    # -- learning ------------------------------------------------------------------------------
    async def learn_batch(self, events) -> None:
        async with self._processing:
            if not self.learning:  # a batch fetched before the partition was revoked
                return
            topic, partition = self.learn_lane
            for event in events:
                offset = event.message.offset
                if offset < self.processed.get(self.learn_lane, 0):
                    continue  # re-delivered: the restored state already reflects it
                await self.learn_message(event)
                self.processed[self.learn_lane] = offset + 1
            await self.publish_alerts()
            await self.maybe_publish_snapshot()
            await self.maybe_publish_status()
            await self.maybe_checkpoint()

    async def learn_message(self, event) -> None:
        try:
            records = unpack_records(event.value)
        except DecodeError as error:
            await self.dead_letter(event, error)
            return
        for record in records:
            await self.learn_record(event.message, record)

    async def learn_record(self, message, record: dict) -> None:
        try:
            t, item, prediction = decode_learn(record)
            self.event_clock = max(self.event_clock, t)
            if prediction is None:
                joined = self.engine.join(item, self.event_clock)
            else:
                joined = self.engine.record(item, prediction, self.event_clock)
        except StreamMlcError as error:
            await self._dead_letter_record(message, record, error)
            return
        except Exception as error:  # a bug must not stop learning: the record is kept, with the reason
            log.exception("learning failed on learn@%d", message.offset)
            error = DecodeError(f"internal error: {type(error).__name__}: {error}")
            await self._dead_letter_record(message, record, error)
            return
        if joined is not None:
            await self.learn(joined)

    async def _dead_letter_record(self, message, record, error: Exception) -> None:
        self.counts["deadlettered"] += 1
        self.counts[f"deadlettered_{message.topic}"] += 1
        self.metrics.deadlettered.labels(message.topic).inc()
        value = dead_letter(message.topic, message.partition, message.offset, str(error), orjson.dumps(record))
        await self.topics["deadletter"].send(key=None, value=value)

    # -- snapshots -----------------------------------------------------------------------------
    async def maybe_publish_snapshot(self) -> None:
        since, version = self._published
        learned = self.engine.learned
        due = learned - version >= self.settings.snapshot_every or (
            time.monotonic() - since >= self.settings.snapshot_interval_s and learned != version)
        if due:
            await self.publish_snapshot()

    async def publish_snapshot(self) -> None:
        data = dump_snapshot(self.engine.snapshot(created=time.time()))
        self._snapshot_slot = 1 - self._snapshot_slot
        sink = self.topics["models"]

        async def send(key: bytes, value: bytes) -> None:
            await sink.send(key=key, value=value)

        await write_checkpoint(send, self.snapshot_key, data, self._snapshot_slot, self.engine.learned)
        self._published = (time.monotonic(), self.engine.learned)
        self.counts["snapshots"] += 1
        self._load(data)  # the learner's own scorer need not wait for the round trip

    async def follow_models(self) -> None:
        """Load every snapshot the learner publishes, for as long as the worker runs."""
        parts: dict[bytes, bytes] = {}
        manifest_key = f"{self.snapshot_key}/manifest".encode()
        async with TopicReader(self.settings, "models", decode=bytes) as reader:
            while True:
                for _, key, value in await reader.poll(0.5):
                    parts[key] = value
                    if key == manifest_key:
                        self._load_manifest(orjson.loads(value), parts)

    def _load_manifest(self, manifest: dict, parts: dict[bytes, bytes]) -> None:
        if manifest["learned"] <= self.model.version:
            return
        keys = [f"{self.snapshot_key}/{manifest['slot']}/{i}".encode() for i in range(manifest["chunks"])]
        data = b"".join(parts.get(key, b"") for key in keys)
        if hashlib.sha256(data).hexdigest() != manifest["sha256"]:
            log.warning("model snapshot %d is incomplete or corrupt: kept version %d",
                        manifest["learned"], self.model.version)
            return
        self._load(data)

    def _load(self, data: bytes) -> None:
        snapshot: ModelSnapshot = load_snapshot(data)
        if snapshot.version > self.model.version:
            self.model = snapshot

    # -- becoming (and ceasing to be) the learner ------------------------------------------------
    async def _on_assigned(self, app, assigned, **_) -> None:
        consumer = app.consumer
        if getattr(consumer, "_stream_mlc_seek", False):
            return
        original = consumer.perform_seek

        async def perform_seek() -> None:
            # Faust seeks to the committed offsets, which run ahead of the learner's
            # checkpoint; the learner resumes from what its restored state reflects.
            await original()
            for tp in consumer.assignment():
                if (tp.topic, tp.partition) == self.learn_lane:
                    await self._become_learner()
                    await consumer.seek(tp, self.processed.get(self.learn_lane, 0))

        consumer.perform_seek = perform_seek
        consumer._stream_mlc_seek = True

    async def _become_learner(self) -> None:
        async with self._processing:
            if self.learning:
                return
            found = await read_checkpoint(self.settings)
            if found is not None:
                try:
                    checkpoint = loads(found[0])
                except CheckpointError:
                    log.exception("the newest checkpoint cannot be loaded: learning from scratch")
                else:
                    self.engine = checkpoint.engine
                    offset = checkpoint.offsets.get(self.learn_lane[0], {}).get(0, 0)
                    self.processed = {self.learn_lane: offset}
            self._checkpoint_at = (time.monotonic(), self.engine.learned)
            self.learning = True
            log.warning("learning from %s[%d]@%d: %d examples learned so far", *self.learn_lane,
                        self.processed.get(self.learn_lane, 0), self.engine.learned)
            await self.publish_snapshot()
            await self.publish_status()

    async def _on_revoked(self, app, revoked, **_) -> None:
        if not any((tp.topic, tp.partition) == self.learn_lane for tp in revoked):
            return
        async with self._processing:
            if self.learning:
                await self.maybe_checkpoint(force=True)
                await app.producer.flush()
                self.learning = False

    async def _on_shutdown(self, app, **_) -> None:
        async with self._processing:
            if self.learning:
                await self.maybe_checkpoint(force=True)
            await self.publish_status()
            await app.producer.flush()

    # -- status --------------------------------------------------------------------------------
    def status(self) -> dict:
        role = {"mode": "scaled", "role": "learner" if self.learning else "scorer",
                "model_version": self.model.version,
                "assigned": sorted(f"{tp.topic}:{tp.partition}" for tp in self._assignment())}
        if self.learning:
            return {**super().status(), **role}
        return {"worker": self.settings.worker_id, "ts": time.time(), "counts": dict(self.counts),
                "learned": self.model.version, "metrics": {}, **role}

    def _assignment(self):
        try:
            return self.app.consumer.assignment()
        except Exception:  # before the consumer exists
            return set()

    async def maybe_publish_status(self, idle: bool = False) -> None:
        if not self.learning:  # a scorer's status has no learned count to follow: by time only
            if time.monotonic() - self._status_sent_at >= self.settings.status_interval_s:
                await self.publish_status()
            return
        await super().maybe_publish_status(idle)
