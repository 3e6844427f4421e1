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
and learns each labelled event once. A record that cannot reach ``learn`` ends the worker
(exit code 70) before its input offsets can be committed, so its successor forwards it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time

import orjson

from stream_mlc.core.checkpoint import loads
from stream_mlc.core.events import FeatureEvent
from stream_mlc.core.snapshot import dumps as dump_snapshot
from stream_mlc.core.snapshot import loads as load_snapshot
from stream_mlc.errors import DecodeError, StreamMlcError
from stream_mlc.service.app import FEATURES, Service, after_seek_to_committed, make_app, new_engine, sinks
from stream_mlc.service.checkpoints import read_stored, stored_from, write_checkpoint
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
#: A record larger than this cannot be sent (the producer's request limit is 1 MB): it is
#: dead-lettered instead of forwarded.
MAX_RECORD_BYTES = 900 * 1024
#: Learn-topic messages the learner takes at once: a batch must finish quickly when the
#: group rebalances (Faust waits for it before revoking; the rebalance timeout is 5 s).
LEARN_TAKE = 4
EXIT_CANNOT_FORWARD = 70


class ScaledService(Service):
    """A worker of the scaled mode: a scorer always, the learner while it holds ``learn``."""

    def __init__(self, settings: Settings):
        # Set before Service.__init__, which calls build(), whose closures read them.
        self.learning = False
        self.learn_lane = (settings.topic("learn"), 0)
        self.snapshot_key = f"{settings.app_id}/model"
        self._assigned: set = set()
        self._published = (time.monotonic(), -1)  # (when, version) of the last snapshot published
        self._snapshot_slot = 1
        self._model_sha = ""
        self._models_ready = asyncio.Event()
        super().__init__(settings)
        # A copy: this engine may go on to learn in place if this worker becomes the first learner.
        self.model = load_snapshot(dump_snapshot(self.engine.snapshot()))

    def build(self):
        s = self.settings
        app = make_app(s)
        self.topics = sinks(app, s)

        @app.agent(app.topic(s.topic("features"), s.topic("labels")), name="score")
        async def score(stream):
            # Scoring with the untrained model while the newest snapshot is on its way would
            # publish poor predictions, and feed them to the learner's metrics.
            await self._models_ready.wait()
            async for events in stream.take_events(s.batch_size, within=s.batch_within_s):
                await self.score_batch(events)

        @app.agent(app.topic(s.topic("learn")), name="learn")
        async def learn(stream):
            async for events in stream.take_events(LEARN_TAKE, within=s.batch_within_s):
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
        now = time.time()
        predictions = iter(await self._predictions(events, decoded, now))
        records: list[bytes] = []
        for event, item in zip(events, decoded, strict=True):
            if item is None:
                continue
            t = event.message.timestamp or 0.0
            if isinstance(item, FeatureEvent):
                prediction = next(predictions)
                if prediction is None:
                    continue
                await self.topics["predictions"].send(key=event.key, value=encode_prediction(prediction, now))
                record = encode_scored(item, prediction, t)
                self.counts["scored"] += 1
                self.metrics.scored.inc()
                self.metrics.latency.observe(max(0.0, now - t))
            else:
                record = encode_labels(item, t)
                self.counts["labels"] += 1
                self.metrics.labels.inc()
            if len(record) > MAX_RECORD_BYTES:
                await self.dead_letter(event, DecodeError(f"too large to forward to the learner ({len(record)} bytes)"))
                continue
            records.append(record)
        await self._forward(records)

    async def _predictions(self, events, decoded, now: float) -> list:
        """One prediction (or None, dead-lettered) per feature event, scored as one batch if it can be."""
        features = [item for item in decoded if isinstance(item, FeatureEvent)]
        try:
            return self.model.predictions(features, now)
        except Exception:  # one bad event must not cost the others: score them one by one
            log.exception("batch scoring failed; scoring %d events one by one", len(features))
        predictions = []
        for event, item in zip(events, decoded, strict=True):
            if isinstance(item, FeatureEvent):
                try:
                    predictions.append(self.model.prediction(item, now))
                except Exception as error:
                    await self.dead_letter(event, DecodeError(f"internal error: {type(error).__name__}: {error}"))
                    predictions.append(None)
        return predictions

    async def _forward(self, records: list[bytes]) -> None:
        """Send records to ``learn`` in order, in messages of about LEARN_MESSAGE_BYTES."""
        start, size = 0, 0
        for i, record in enumerate(records):
            if size + len(record) > LEARN_MESSAGE_BYTES and i > start:
                await self._send_learn(pack_records(records[start:i]))
                start, size = i, 0
            size += len(record) + 1
        if start < len(records):
            await self._send_learn(pack_records(records[start:]))

    async def _send_learn(self, value: bytes) -> None:
        delivery = await self.topics["learn"].send(value=value)
        delivery.add_done_callback(_exit_if_undelivered)

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
            try:
                for event in events:
                    if not self.learning:  # revoked: what is left is the next learner's
                        return
                    offset = event.message.offset
                    if offset < self.processed.get(self.learn_lane, 0):
                        continue  # re-delivered: the restored state already reflects it
                    await self.learn_message(event)
                    self.processed[self.learn_lane] = offset + 1
                await self.publish_alerts()
                await self.maybe_publish_snapshot()
                await self.maybe_publish_status()
                await self.maybe_checkpoint()
            except Exception:
                # Faust would ack the rest of the batch and carry on past it, and the next
                # checkpoint would skip it: end the worker; the next learner replays from the
                # last checkpoint.
                log.exception("the learner failed part-way through learn@%d; stopping the worker",
                              self.processed.get(self.learn_lane, 0))
                os._exit(EXIT_CANNOT_FORWARD)

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
        if joined is not None:
            await self.learn_example(joined)

    async def _dead_letter_record(self, message, record, error: Exception) -> None:
        self._count_dead_letter(message.topic)
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
        data = dump_snapshot(self.engine.snapshot())
        self._snapshot_slot = 1 - self._snapshot_slot
        await write_checkpoint(self.topics["models"].send, self.snapshot_key, data, self._snapshot_slot,
                               self.engine.learned)
        self._published = (time.monotonic(), self.engine.learned)
        self.counts["snapshots"] += 1
        # Load it now, not when it comes back from the topic (the sha tells the follower it has it).
        self._load(data, hashlib.sha256(data).hexdigest())

    async def follow_models(self) -> None:
        """Load every snapshot the learner publishes, for as long as the worker runs."""
        while True:
            try:
                await self._follow_models()
            except asyncio.CancelledError:
                raise
            except Exception:  # a broken record or a lost connection must not stop the worker
                log.exception("following %s failed; starting again", self.settings.topic("models"))
                await asyncio.sleep(1.0)

    async def _follow_models(self) -> None:
        parts: dict[bytes, bytes] = {}
        manifest_key = f"{self.snapshot_key}/manifest".encode()
        async with TopicReader(self.settings, "models", decode=bytes) as reader:
            # Catch up with what is there before scoring anything; load only the newest.
            for _, key, value in await reader.read_to_end():
                parts[key] = value
            self._load_manifest(parts.get(manifest_key), parts)
            self._models_ready.set()
            while True:
                newest = None
                for _, key, value in await reader.poll(0.5):
                    parts[key] = value
                    newest = value if key == manifest_key else newest
                self._load_manifest(newest, parts)

    def _load_manifest(self, manifest_raw: bytes | None, parts: dict[bytes, bytes]) -> None:
        if manifest_raw is None:
            return
        try:
            manifest = orjson.loads(manifest_raw)
            if manifest["sha256"] != self._model_sha:
                self._load(stored_from(parts, self.snapshot_key, manifest).data, manifest["sha256"])
            self._snapshot_slot = manifest["slot"]
        except Exception:
            log.exception("model snapshot %r cannot be loaded: kept version %d", manifest_raw[:200],
                          self.model.version)

    def _load(self, data: bytes, sha: str) -> None:
        # The newest snapshot, even if its version is lower than ours: after a failover the
        # new learner replays from its checkpoint, and its versions are the true ones.
        self.model = load_snapshot(data)
        self._model_sha = sha
        self.metrics.model_version.set(self.model.version)

    # -- becoming (and ceasing to be) the learner ------------------------------------------------
    async def _on_assigned(self, app, assigned, **_) -> None:
        self._assigned = set(assigned)
        after_seek_to_committed(app.consumer, self._resume_learning)

    async def _resume_learning(self, consumer) -> None:
        # Faust seeks to the committed offsets, which run ahead of the learner's checkpoint;
        # the learner resumes from what its restored state reflects. Faust also seeks while
        # a rebalance is under way: only the partitions of the current assignment count.
        for tp in consumer.assignment():
            if (tp.topic, tp.partition) == self.learn_lane and tp in self._assigned:
                await self._become_learner()
                await consumer.seek(tp, self.processed.get(self.learn_lane, 0))

    async def _become_learner(self) -> None:
        async with self._processing:
            if self.learning:
                return
            await self._restore()
            self._checkpoint_at = self._progress()
            self._join_counts_seen.clear()
            self._join_counts_seen.update(self.engine.buffer.counts)
            self.learning = True
            log.warning("learning from %s[%d]@%d: %d examples learned so far", *self.learn_lane,
                        self.processed.get(self.learn_lane, 0), self.engine.learned)
            await self.publish_snapshot()
            await self.publish_status()

    async def _restore(self) -> None:
        """The newest checkpoint's state; a fresh one if there is none or it cannot be read."""
        self.engine, self.processed, self.event_clock = new_engine(self.settings), {}, float("-inf")
        try:
            stored = await read_stored(self.settings, "checkpoints", self.settings.app_id)
            if stored is None:
                return
            checkpoint = loads(stored.data)
        except Exception:
            log.exception("the newest checkpoint cannot be loaded: learning from scratch")
            return
        self._slot = stored.slot
        self.engine, self.event_clock = checkpoint.engine, checkpoint.clock
        self.processed = {self.learn_lane: checkpoint.offsets.get(self.learn_lane[0], {}).get(0, 0)}

    async def _on_revoked(self, app, revoked, **_) -> None:
        self._assigned -= set(revoked)
        if not any((tp.topic, tp.partition) == self.learn_lane for tp in revoked):
            return
        async with self._processing:
            if self.learning:
                self.learning = False
                await self.maybe_checkpoint(force=True)
                await app.producer.flush()

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
                "assigned": sorted(f"{tp.topic}:{tp.partition}" for tp in self._assigned
                                   if tp.topic in self._rank or (tp.topic, tp.partition) == self.learn_lane)}
        if self.learning:
            return {**super().status(), **role}
        # A scorer learns nothing: its "learned" is that of the model it scores with.
        return {"worker": self.settings.worker_id, "ts": time.time(), "counts": dict(self.counts),
                "learned": self.model.version, "metrics": {}, **role}

    async def maybe_publish_status(self, idle: bool = False) -> None:
        if not self.learning:  # a scorer's status has no learned count to follow: by time only
            if time.monotonic() - self._status_sent_at >= self.settings.status_interval_s:
                await self.publish_status()
            return
        await super().maybe_publish_status(idle)


def _exit_if_undelivered(delivery: asyncio.Future) -> None:
    """End the worker if a learn-topic message was not delivered (after the producer's retries).

    Its input offsets may be committed at the next commit (Faust flushes the producer
    first, but a failed delivery does not fail the flush): ending the worker now leaves
    them uncommitted, so the partitions' next owner forwards the records again.
    """
    if delivery.cancelled() or delivery.exception() is not None:
        log.critical("a learn-topic message was not delivered (%r); stopping the worker",
                     None if delivery.cancelled() else delivery.exception())
        os._exit(EXIT_CANNOT_FORWARD)
