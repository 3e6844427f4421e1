"""The one dispatch: input records in, what to send out, one error policy.

Every way of running the service goes through :class:`Dispatch`: the single-mode worker,
the scaled scorer and learner (:mod:`stream_mlc.core.roles`), the offline audit replay,
``evaluate`` and the benches. A record is decoded, handed to the
:class:`~stream_mlc.core.engine.Engine`, and what must go out (predictions, training
records, dead letters, alerts) is appended to an :class:`Outcome` as data, in order. The
shell sends it, checks every delivery, and commits nothing it has not delivered.

Errors are data at the edge. Each input record ends as exactly one of: scored, joined (or
waiting for its other half), counted as a duplicate, or dead-lettered with the reason. The
error policy (:data:`OnError`, after Quix Streams' ``on_processing_error``) decides, for an
exception raised while handling a record, whether the record is dead-lettered and the stream
goes on (the default, for bad input and bugs alike) or the worker stops without committing
(:class:`ProcessingError`). Nothing is ever skipped and committed past.

Nothing here does I/O or knows Kafka: records are plain tuples, sends are plain tuples.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson

from stream_mlc.core.alerts import CALIBRATION_RESET, LABEL_CHANGE, RULE_CORRECTION, THRESHOLD_MOVED
from stream_mlc.core.events import FeatureEvent, JoinedExample, LabelEvent, Prediction
from stream_mlc.errors import StreamMlcError
from stream_mlc.wire import (
    dead_letter,
    decode_features,
    decode_labels,
    encode_joined,
    encode_prediction,
)

log = logging.getLogger(__name__)

FEATURES, LABELS = 0, 1  # also the tie-break ranks in event time: at equal timestamps, score first
#: Alert kinds that record the service's own decisions: they go to the audit topic, not to alerts.
AUDIT_KINDS = frozenset({THRESHOLD_MOVED, CALIBRATION_RESET, RULE_CORRECTION, LABEL_CHANGE})
#: Keys of the label-registry topic that ask to forget an event id (``stream-mlc forget``).
FORGET_PREFIX = "forget/"


class Record(NamedTuple):
    """One input message, as the Kafka shell fetched it (``timestamp`` in seconds)."""

    topic: str
    partition: int
    offset: int
    timestamp: float
    key: bytes | None
    value: bytes | None


def offline_record(source: str, n: int, timestamp: float | None = None) -> Record:
    """The input record the ``n``-th event of an offline run (``evaluate``, a bench) stands for.

    No Kafka message is behind it, so a dead letter names ``source`` and ``n``; the event
    time is ``n`` (the event-count clock) unless given.

    >>> offline_record("evaluate", 7)
    Record(topic='evaluate', partition=0, offset=7, timestamp=7.0, key=None, value=None)
    """
    return Record(source, 0, n, float(n) if timestamp is None else timestamp, None, None)


class Send(NamedTuple):
    """One message to produce: ``sink`` is the output topic's short name (``predictions``...)."""

    sink: str
    key: bytes | None
    value: bytes


@dataclass
class Outcome:
    """What handling some records produced, as data, in the order it must be sent."""

    sends: list[Send] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    #: Event times of the events scored (the shell observes latency when it sends them).
    scored_at: list[float] = field(default_factory=list)
    #: Label delays (label event time minus feature event time) of the examples learned.
    label_delays: list[float] = field(default_factory=list)
    #: The alerts raised, as published (``Alert.to_wire``), for the shell's counters and log.
    alerts: list[dict] = field(default_factory=list)
    #: Event ids forgotten (``stream-mlc forget``): their requests are tombstoned once a
    #: checkpoint without them is written.
    forgotten: list[str] = field(default_factory=list)


class ProcessingError(StreamMlcError):
    """The error policy refused to absorb an error: stop the worker without committing."""


#: ``on_error(record, stage, error) -> bool``: True dead-letters the record and goes on,
#: False stops the worker (raises :class:`ProcessingError`) before anything is committed.
OnError = Callable[[Record, str, BaseException], bool]


def dead_letter_and_go_on(record: Record, stage: str, error: BaseException) -> bool:
    """The default policy: every failing record is dead-lettered with the reason.

    Bad input (a :class:`~stream_mlc.errors.StreamMlcError`) is expected and says why in its
    text; anything else is a bug, logged with its traceback, and must not stop the stream.
    """
    if not isinstance(error, StreamMlcError):
        log.error("internal error in %s on %s[%d]@%d", stage, record.topic, record.partition, record.offset,
                  exc_info=error)
    return True


@dataclass(frozen=True)
class Limits:
    """Sizes the dispatch enforces: input messages it parses, dead letters it produces."""

    max_message_bytes: int = 1_000_000
    #: A dead letter larger than this has its payload cut (size and SHA-256 kept): it must fit
    #: under the broker's message limit, or it would be lost.
    max_dead_letter_bytes: int = 900_000


class ErrorPolicy:
    """Applies the error policy to a failing record: dead-letter it with the reason, or stop.

    >>> policy = ErrorPolicy(Limits(), dead_letter_and_go_on)
    >>> out = Outcome()
    >>> policy.fail(Record("mlc.labels", 2, 9, 0.0, b"k", b"{"), "decode", ValueError("bad"), out)
    >>> out.sends[0].sink, dict(out.counts)
    ('deadletter', {'deadlettered': 1, 'deadlettered:mlc.labels': 1})
    """

    def __init__(self, limits: Limits | None = None, on_error: OnError = dead_letter_and_go_on):
        self.limits = limits or Limits()
        self.on_error = on_error

    def fail(self, record: Record, stage: str, error: BaseException, out: Outcome) -> None:
        """Dead-letter ``record`` (its topic, partition, offset, key and value) with the reason, or stop."""
        if not self.on_error(record, stage, error):
            raise ProcessingError(f"{stage} failed on {record.topic}[{record.partition}]@{record.offset}: "
                                  f"{type(error).__name__}: {error}") from error
        reason = str(error) if isinstance(error, StreamMlcError) else \
            f"internal error in {stage}: {type(error).__name__}: {error}"
        value = dead_letter(record.topic, record.partition, record.offset, reason, record.value,
                            self.limits.max_dead_letter_bytes)
        out.sends.append(Send("deadletter", record.key, value))
        out.counts["deadlettered"] += 1
        out.counts[f"deadlettered:{record.topic}"] += 1


class Dispatch:
    """Decode a record, call the engine, collect what to send: the service's one dispatch.

    Parameters
    ----------
    engine
        The :class:`~stream_mlc.core.engine.Engine` that scores, joins and learns.
    kinds
        ``{topic name: FEATURES | LABELS}`` for the input topics.
    policy
        The error policy and the sizes it enforces (:class:`ErrorPolicy`).
    emit
        Whether predictions and training records are encoded for sending (``evaluate``
        only counts them).

    Examples
    --------
    >>> from stream_mlc.bootstrap import build_engine
    >>> from stream_mlc.core.engine import EngineConfig
    >>> dispatch = Dispatch(build_engine(EngineConfig(model="native-lr")), {"f": FEATURES, "l": LABELS})
    >>> out = Outcome()
    >>> dispatch.handle(Record("f", 0, 0, 1.0, b"e1", b'{"id": "e1", "features": {"x": 1}}'), 1.0, 2.0, out)
    >>> dispatch.handle(Record("l", 0, 0, 1.5, b"e1", b'{"id": "e1", "labels": ["a"]}'), 1.5, 2.0, out)
    >>> dispatch.handle(Record("l", 0, 1, 1.6, b"e2", b'not json'), 1.6, 2.0, out)
    >>> [send.sink for send in out.sends]
    ['predictions', 'training', 'deadletter']
    >>> dict(out.counts)
    {'scored': 1, 'labels': 1, 'joined': 1, 'deadlettered': 1, 'deadlettered:l': 1}
    """

    def __init__(self, engine, kinds: dict[str, int], policy: ErrorPolicy | None = None, emit: bool = True):
        self.engine = engine
        self.kinds = kinds
        self.policy = policy or ErrorPolicy()
        self.fail = self.policy.fail
        #: False: count, but encode no predictions or training records (offline evaluation).
        self.emit = emit
        self._batch: list | None = None  # examples waiting for the end of a batch (see batch())

    def handle(self, record: Record, clock: float, wall_now: float, out: Outcome) -> None:
        """Handle one input record at event time ``clock``; ``wall_now`` stamps its outputs."""
        limit = self.policy.limits.max_message_bytes
        features = self.kinds[record.topic] == FEATURES
        try:
            decode = decode_features if features else decode_labels
            event = decode(record.key, record.value, limit, record.timestamp)
        except Exception as error:
            self.fail(record, "decode", error, out)
            return
        # Ids whose annotation deadline passed by this event's time are learned before it.
        for joined in self.engine.resolve_due(clock):
            self.learn(joined, record, out)
        if features:
            self.score(record, event, clock, wall_now, out)
        else:
            self.join(record, event, clock, out)

    def score(self, record: Record, event: FeatureEvent, clock: float, wall_now: float,
              out: Outcome) -> Prediction | None:
        """Score a decoded feature event, keep it for its labels, learn it if they came first."""
        try:
            prediction, joined = self.engine.score(event, clock)
        except Exception as error:
            self.fail(record, "score", error, out)
            return None
        out.counts["scored"] += 1
        out.scored_at.append(record.timestamp)
        if self.emit:
            source = (record.topic, record.partition, record.offset)
            out.sends.append(Send("predictions", record.key, encode_prediction(prediction, wall_now, source)))
        self.requests(wall_now, out)
        if joined is not None:
            self.learn(joined, record, out)
        return prediction

    def join(self, record: Record, event: LabelEvent, clock: float, out: Outcome) -> None:
        """Join a decoded label event with its scored event, and learn it; or keep it until then."""
        try:
            joined = self.engine.join(event, clock)
        except Exception as error:
            self.fail(record, "join", error, out)
            return
        out.counts["labels"] += 1
        if joined is not None:
            self.learn(joined, record, out)

    def keep(self, record: Record, event: FeatureEvent | LabelEvent, prediction: Prediction | None,
             clock: float, wall_now: float, out: Outcome) -> None:
        """The learner's half of scaled mode: keep an event a scorer scored, or join labels.

        ``record`` is the input message the scorer forwarded (its topic, partition, offset and
        value), so a dead letter replays to where the event came from.
        """
        for due in self.engine.resolve_due(clock):  # annotation deadlines passed by this record's time
            self.learn(due, record, out)
        try:
            if prediction is None:
                joined = self.engine.join(event, clock)
            else:
                joined = self.engine.record(event, prediction, clock)
        except Exception as error:
            self.fail(record, "join", error, out)
            return
        out.counts["kept_labels" if prediction is None else "kept_scored"] += 1
        self.requests(wall_now, out)
        if joined is not None:
            self.learn(joined, record, out)

    def learn(self, joined: JoinedExample, record: Record, out: Outcome) -> None:
        """Learn the example now and log it on the training topic (its order is the learning order).

        Inside :meth:`batch`, the example waits to be learned with the others of the batch.
        """
        if self._batch is not None:
            self._batch.append((joined, record))
            return
        try:
            self.engine.learn(joined)
        except Exception as error:
            self.fail(self._labels_of(joined, record), "learn", error, out)
            return
        self._logged(joined, self.engine.learned, out)

    @contextmanager
    def batch(self, out: Outcome):
        """Learn the examples joined inside the block together, at its end (``Engine.learn_batch``).

        The scaled learner batches each learn-topic message: the topic's contents set the
        boundaries, so a restarted learner does the same. An example the model refuses is
        dead-lettered (as its label event); the others are learned. An unexpected error in the
        batch's bookkeeping dead-letters the whole batch through the error policy (its ids stay
        joined, so a replay counts duplicates, not new examples).
        """
        self._batch = []
        try:
            yield
        finally:
            pending, self._batch = self._batch, None
        if not pending:
            return
        version, examples = self.engine.learned, [joined for joined, _ in pending]
        try:
            refused = {id(joined): error for joined, error in self.engine.learn_batch(examples)}
        except Exception as error:  # not the model's refusal: a bug in the bookkeeping, the whole batch's
            refused = {id(joined): error for joined, _ in pending}
        for joined, record in pending:
            error = refused.get(id(joined))
            if error is not None:
                self.fail(self._labels_of(joined, record), "learn", error, out)
                continue
            version += 1
            self._logged(joined, version, out)

    def _logged(self, joined: JoinedExample, version: int, out: Outcome) -> None:
        """Count a learned example and log it on the training topic (learned as the ``version``-th)."""
        out.counts["joined"] += 1
        if self.emit:
            out.sends.append(Send("training", joined.id.encode(), encode_joined(joined, version)))
        if joined.feature_ts is not None and joined.label_ts is not None:
            out.label_delays.append(joined.label_ts - joined.feature_ts)

    def _labels_of(self, joined: JoinedExample, record: Record) -> Record:
        """The label event an example was learned from, as a record to dead-letter.

        It is ``record`` when a label event made the join; when the labels came first, the
        feature event that completed the join was scored (it ends there) and the labels, which
        came earlier, are what could not be learned (co-partitioned: same partition).
        """
        if self.kinds.get(record.topic) != FEATURES:
            return record
        topic = next((name for name, kind in self.kinds.items() if kind != FEATURES), record.topic)
        value = orjson.dumps({"id": joined.id, "labels": sorted(joined.labels), "ts": joined.label_ts,
                              "observed": None if joined.observed is None else sorted(joined.observed)})
        return Record(topic, record.partition, -1, joined.label_ts or record.timestamp, joined.id.encode(), value)

    def requests(self, wall_now: float, out: Outcome) -> None:
        """Move the engine's label requests into the outcome (``mlc.label-requests``)."""
        for request in self.engine.drain_requests():
            out.counts["label_requests"] += 1
            if self.emit:
                out.sends.append(Send("label-requests", request.id.encode(), orjson.dumps(request.to_wire(wall_now))))

    def govern(self, record: Record, wall_now: float, out: Outcome) -> None:
        """A record of the label-registry topic: a label's new record, or a request to forget an id.

        Registry records are control records: applied as they come, not in event time. A
        change the registry's policy refuses (unsigned, wrong principal) is dead-lettered.
        """
        key = (record.key or b"").decode("utf-8", "replace")
        try:
            if key.startswith(FORGET_PREFIX):
                if record.value is not None:
                    event_id = key.removeprefix(FORGET_PREFIX)
                    found = self.engine.forget(event_id)
                    out.counts["forgotten" if found else "forget_unknown"] += 1
                    out.forgotten.append(event_id)
                return
            if record.value is None:
                return  # a tombstone: nothing to undo
            impact = self.engine.follow_registry(orjson.loads(record.value))
        except Exception as error:
            self.fail(record, "registry", error, out)
            return
        out.counts["registry_changes"] += 1
        change = impact["change"]
        alert = {"kind": "label_change", "detector": "registry", "subject": impact["labels"][0], "value": 0.0,
                 "threshold": 0.0, "ts": wall_now, "model_version": self.engine.learned,
                 "message": f"{change.get('op')} {change.get('label')}", "impact": impact}
        out.alerts.append(alert)
        out.sends.append(Send("audit", alert["subject"].encode(), orjson.dumps(alert)))

    def alerts(self, wall_now: float, out: Outcome) -> None:
        """Move the engine's pending alerts into the outcome."""
        for alert, model_version in self.engine.drain_alerts():
            record = alert.to_wire(wall_now, model_version)
            out.alerts.append(record)
            sink = "audit" if alert.kind in AUDIT_KINDS else "alerts"
            out.sends.append(Send(sink, alert.subject.encode(), orjson.dumps(record)))
