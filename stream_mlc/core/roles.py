"""The worker's roles, each composed of the one :class:`~stream_mlc.core.processor.Dispatch`.

:class:`EventTimeProcessor`
    single mode (and the offline audit replay): the features and labels partitions merged in
    event time, every record dispatched in that order, exactly; its state reflects "every
    record before offset *n* of each partition".
:class:`Scorer`
    scaled mode's scoring half: decode a fetched batch, score its feature events at once with
    the newest :class:`~stream_mlc.core.snapshot.ModelSnapshot`, publish the predictions and
    forward scored events and labels to the learn topic.
:class:`LearnTopicProcessor`
    scaled mode's learning half: the learn topic's records dispatched in offset order.

Each takes records and returns an :class:`~stream_mlc.core.processor.Outcome`; none does I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Hashable, Iterable

import orjson

from stream_mlc.core.align import EventTimeAligner
from stream_mlc.core.checkpoint import Checkpoint
from stream_mlc.core.events import FeatureEvent
from stream_mlc.core.processor import FEATURES, Dispatch, ErrorPolicy, Outcome, Record, Send
from stream_mlc.errors import DecodeError
from stream_mlc.wire import (
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

#: Learn-topic records are packed into messages of about this size: well under Kafka's 1 MB
#: message limit, and large enough (about 90 events of 100 features) that per-message costs vanish.
LEARN_MESSAGE_BYTES = 128 * 1024
#: A record larger than this cannot be forwarded (the producer's request limit is 1 MB).
MAX_RECORD_BYTES = 900 * 1024

Lane = tuple[str, int]


class EventTimeProcessor:
    """Single mode: align the inputs in event time, then dispatch every record in that order.

    Parameters
    ----------
    dispatch
        The dispatch, with the engine it drives.
    idle_s, hold_s
        The aligner's waits (:class:`~stream_mlc.core.align.EventTimeAligner`).
    processed
        Per lane, the next offset to process (a restored checkpoint's offsets).
    clock
        The event-time clock (a restored checkpoint's).

    Examples
    --------
    >>> from stream_mlc.bootstrap import build_engine
    >>> from stream_mlc.core.engine import EngineConfig
    >>> from stream_mlc.core.processor import LABELS
    >>> dispatch = Dispatch(build_engine(EngineConfig(model="native-lr")), {"f": FEATURES, "l": LABELS})
    >>> processor = EventTimeProcessor(dispatch, idle_s=0.0)
    >>> processor.accept([Record("l", 0, 0, 2.0, b"a", b'{"id": "a", "labels": ["x"]}'),
    ...                   Record("f", 0, 0, 1.0, b"a", b'{"id": "a", "features": {"v": 1}}')], now=0.0)
    >>> out = processor.release_all(wall_now=0.0)
    >>> [send.sink for send in out.sends], processor.processed
    (['predictions', 'training'], {('f', 0): 1, ('l', 0): 1})
    """

    def __init__(self, dispatch: Dispatch, *, idle_s: float = 0.05, hold_s: float | None = None,
                 processed: dict[Lane, int] | None = None, clock: float = float("-inf")):
        self.dispatch = dispatch
        self.aligner = EventTimeAligner(idle_s, hold_s)
        self.processed: dict[Lane, int] = dict(processed or {})
        #: Per lane, the offset after the last record queued in the aligner.
        self.fetched: dict[Lane, int] = {}
        self.clock = clock

    @property
    def engine(self):
        return self.dispatch.engine

    def accept(self, records: Iterable[Record], now: float) -> None:
        """Queue fetched records (``now``: a monotonic clock) unless the state already reflects them."""
        kinds = self.dispatch.kinds
        for record in records:
            lane = (record.topic, record.partition)
            if record.offset < self.processed.get(lane, 0) or record.offset < self.fetched.get(lane, 0):
                continue  # redelivered: the state reflects it, or it is queued already
            expected = self.fetched.get(lane, self.processed.get(lane))
            if expected is not None and record.offset > expected:
                # Compacted or deleted by retention (or a seek that did not land): say what was skipped.
                log.warning("%s[%d]: offsets %d to %d are gone; resuming at %d", *lane, expected,
                            record.offset - 1, record.offset)
            self.aligner.push(lane, record.timestamp, record, now, kinds[record.topic])
            self.fetched[lane] = record.offset + 1

    def release(self, now: float, behind: Collection[Hashable], wall_now: float) -> Outcome:
        """Dispatch every queued record no lane can still precede (``behind``: lanes not read to their end)."""
        return self._dispatch(self.aligner.pop_ready(now, behind), wall_now)

    def release_all(self, wall_now: float) -> Outcome:
        """Dispatch everything queued, ignoring what may still come (offline: the inputs are read whole)."""
        return self._dispatch(self.aligner.pop_all(), wall_now)

    def _dispatch(self, records: list[Record], wall_now: float) -> Outcome:
        out = Outcome()
        for record in records:
            self.clock = max(self.clock, record.timestamp)
            self.dispatch.handle(record, self.clock, wall_now, out)
            self.processed[(record.topic, record.partition)] = record.offset + 1
        if records:
            self.dispatch.alerts(wall_now, out)
        return out

    def resume_offset(self, lane: Lane) -> int:
        """Where to fetch a lane from: after what is queued, or after what the state reflects."""
        return self.fetched.get(lane, self.processed.get(lane, 0))

    def checkpoint(self) -> Checkpoint:
        offsets: dict[str, dict[int, int]] = {}
        for (topic, partition), offset in self.processed.items():
            offsets.setdefault(topic, {})[partition] = offset
        return Checkpoint(self.engine, offsets, clock=self.clock)


class Scorer:
    """Scaled mode: score fetched batches with the newest model snapshot and forward them to learn.

    What the learner needs goes to the learn topic packed many records to a message: one
    Kafka message per event cost the learner more than learning it.
    """

    def __init__(self, kinds: dict[str, int], policy: ErrorPolicy | None = None, snapshot=None):
        self.kinds = kinds
        self.policy = policy or ErrorPolicy()
        self.snapshot = snapshot

    def handle(self, records: Iterable[Record], wall_now: float) -> Outcome:
        out = Outcome()
        decoded = [(record, event) for record in records if (event := self._decode(record, out)) is not None]
        predictions = self._predictions(decoded, wall_now, out)
        forward: list[bytes] = []
        for record, event in decoded:
            origin = (record.topic, record.partition, record.offset)
            scored = isinstance(event, FeatureEvent)
            prediction = predictions.get(id(record)) if scored else None
            if scored and prediction is None:
                continue  # dead-lettered while scoring
            learn = encode_scored(event, prediction, record.timestamp, origin) if scored else \
                encode_labels(event, record.timestamp, origin)
            if len(learn) > MAX_RECORD_BYTES:  # before anything is published: the record ends dead-lettered
                self.policy.fail(record, "forward", DecodeError(
                    f"too large to forward to the learner ({len(learn)} bytes)"), out)
                continue
            if scored:
                out.sends.append(Send("predictions", record.key, encode_prediction(prediction, wall_now, origin)))
                out.counts["scored"] += 1
                out.scored_at.append(record.timestamp)
            else:
                out.counts["labels"] += 1
            forward.append(learn)
        out.sends += [Send("learn", None, value) for value in pack(forward)]
        return out

    def _decode(self, record: Record, out: Outcome):
        limit = self.policy.limits.max_message_bytes
        decode = decode_features if self.kinds[record.topic] == FEATURES else decode_labels
        try:
            return decode(record.key, record.value, limit, record.timestamp)
        except Exception as error:
            self.policy.fail(record, "decode", error, out)
            return None

    def _predictions(self, decoded, wall_now: float, out: Outcome) -> dict:
        """``{id(record): prediction}``: the batch at once, else one by one (dead-lettering failures)."""
        features = [(record, event) for record, event in decoded if isinstance(event, FeatureEvent)]
        try:
            scored = self.snapshot.predictions([event for _, event in features], wall_now)
            return {id(record): prediction for (record, _), prediction in zip(features, scored, strict=True)}
        except Exception:  # one bad event must not cost the others: score them one by one
            log.exception("batch scoring failed; scoring %d events one by one", len(features))
        predictions = {}
        for record, event in features:
            try:
                predictions[id(record)] = self.snapshot.prediction(event, wall_now)
            except Exception as error:
                self.policy.fail(record, "score", error, out)
        return predictions


class LearnTopicProcessor:
    """Scaled mode's learner: every record of the learn topic dispatched in offset order.

    The examples joined from one learn-topic message are learned together
    (:meth:`~stream_mlc.core.processor.Dispatch.batch`): the scorers predict with snapshots of
    the model anyway, and the messages are content, so the steps are the same after a restart.

    A record that fails is dead-lettered as the input message it stands for (its topic,
    partition, offset and value), so ``deadletter replay`` sends it back where it came from.
    """

    def __init__(self, dispatch: Dispatch, lane: Lane, processed: int = 0, clock: float = float("-inf")):
        self.dispatch = dispatch
        self.lane = lane
        self.processed = processed
        self.clock = clock

    @property
    def engine(self):
        return self.dispatch.engine

    def handle(self, records: Iterable[Record], wall_now: float) -> Outcome:
        out = Outcome()
        for record in records:
            if record.offset < self.processed:
                continue  # redelivered: the restored state already reflects it
            try:
                docs = unpack_records(record.value)
            except DecodeError as error:
                self.dispatch.fail(record, "unpack", error, out)
                docs = []
            with self.dispatch.batch(out):  # learned together: the message's contents set the batch
                for doc in docs:
                    self._one(record, doc, wall_now, out)
            self.processed = record.offset + 1
        self.dispatch.alerts(wall_now, out)
        return out

    def _one(self, record: Record, doc: dict, wall_now: float, out: Outcome) -> None:
        try:
            learn = decode_learn(doc)
        except DecodeError as error:
            self.dispatch.fail(record._replace(key=None, value=orjson.dumps(doc)), "unpack", error, out)
            return
        topic, partition, offset = learn.origin or (record.topic, record.partition, record.offset)
        origin = Record(topic, partition, offset, learn.t, learn.event.id.encode(), learn.message())
        self.clock = max(self.clock, learn.t)
        self.dispatch.keep(origin, learn.event, learn.prediction, self.clock, wall_now, out)

    def checkpoint(self) -> Checkpoint:
        topic, partition = self.lane
        return Checkpoint(self.engine, {topic: {partition: self.processed}}, clock=self.clock)


def pack(records: list[bytes], size: int = LEARN_MESSAGE_BYTES) -> list[bytes]:
    """Learn-topic messages of about ``size`` bytes each, holding ``records`` in order.

    >>> [len(message) for message in pack([b"{}"] * 3, size=5)]
    [19, 16]
    """
    messages, start, used = [], 0, 0
    for i, record in enumerate(records):
        if used + len(record) > size and i > start:
            messages.append(pack_records(records[start:i]))
            start, used = i, 0
        used += len(record) + 1
    if start < len(records):
        messages.append(pack_records(records[start:]))
    return messages

