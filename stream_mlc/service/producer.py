"""Post a data set to the service's input topics, with labels a fixed number of events late.

Event times are the Kafka timestamps, stamped here in replay order and at least one
millisecond apart: a label event carries the timestamp of the feature event sent just before
it, and the worker orders features before labels at equal times. The worker then processes
the replay exactly in the order of ``stream-mlc evaluate`` with the same label delay, however
fast it is posted. (With the producer's own clock, the events of one millisecond would tie,
and every label of that millisecond would be learned after all its feature events.)
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaError

from stream_mlc.errors import ConfigError
from stream_mlc.service.kafka_config import kafka_python_kwargs, timeout_ms, unreachable
from stream_mlc.settings import Settings


def make_producer(settings: Settings) -> KafkaProducer:
    """A connected producer; :class:`~stream_mlc.errors.BrokerUnreachable` if no broker answers in time."""
    # Tansu refuses InitProducerId: no idempotent producer, so retries could duplicate;
    # the service dedupes by event id. A send waits at most the connect timeout for metadata.
    try:
        return KafkaProducer(
            **kafka_python_kwargs(settings),
            acks=1,
            linger_ms=settings.producer_linger_ms,
            batch_size=256 * 1024,
            enable_idempotence=False,
            max_block_ms=timeout_ms(settings),
        )
    except (KafkaError, OSError) as error:
        raise unreachable(settings, error) from error


def feature_message(record) -> bytes:
    doc = {"id": record.id, "features": record.features}
    if record.ts is not None:
        doc["ts"] = record.ts
    return orjson.dumps(doc)


def label_message(record) -> bytes:
    doc = {"id": record.id, "labels": sorted(record.labels)}
    if record.observed is not None:
        doc["observed"] = sorted(record.observed)
    if record.ts is not None:
        doc["ts"] = record.ts
    return orjson.dumps(doc)


def replay(
    records: Iterable,
    settings: Settings,
    *,
    label_delay: int = 0,
    producer: KafkaProducer | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Send every record's features, and its labels after ``label_delay`` more events.

    Returns ``(features sent, labels sent)``; every send is flushed before returning.
    A broker that stops answering raises :class:`~stream_mlc.errors.BrokerUnreachable`.
    """
    if label_delay < 0:
        raise ConfigError(f"the label delay must be >= 0 events, got {label_delay}")
    own = producer is None
    producer = producer or make_producer(settings)
    features_topic, labels_topic = settings.topic("features"), settings.topic("labels")
    waiting: deque = deque()
    sent_features = sent_labels = 0
    clock = EventClock()
    try:
        for record in records:
            now = clock.tick()
            producer.send(features_topic, key=record.id.encode(), value=feature_message(record), timestamp_ms=now)
            sent_features += 1
            waiting.append(record)
            while len(waiting) > label_delay:
                late = waiting.popleft()
                producer.send(labels_topic, key=late.id.encode(), value=label_message(late), timestamp_ms=now)
                sent_labels += 1
            if progress is not None:
                progress(1)
        for late in waiting:
            producer.send(labels_topic, key=late.id.encode(), value=label_message(late), timestamp_ms=clock.tick())
            sent_labels += 1
        producer.flush()
    except KafkaError as error:
        raise unreachable(settings, error) from error
    finally:
        if own:
            producer.close(timeout=settings.connect_timeout_s)
    return sent_features, sent_labels


class EventClock:
    """Millisecond timestamps from the wall clock, strictly increasing (ahead of it when posting fast).

    >>> clock = EventClock()
    >>> first, second = clock.tick(), clock.tick()
    >>> second > first
    True
    """

    def __init__(self):
        self.last = 0

    def tick(self) -> int:
        self.last = max(int(time.time() * 1000), self.last + 1)
        return self.last
