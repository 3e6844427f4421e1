"""Replay the dead-letter topic: send each dead-lettered message back to the topic it came from.

``stream-mlc deadletter replay [--topic T] [--dry-run]`` calls :func:`replay_deadletters`.

Every entry of ``mlc.deadletter`` (see :func:`stream_mlc.wire.dead_letter`) keeps the
original topic, partition, key and payload (UTF-8 text, or base64 when the payload was not
UTF-8). Replaying decodes the payload back to its exact original bytes and produces it again,
with the original key, to the original topic and partition.

Read this before replaying:

- **Replaying sends the messages again.** The worker processes them as new input. Fix the
  producer or the contract first (or fix the data: a replay of a message that still breaks
  the contract only dead-letters it again, with a new entry, and counts it again in the
  worker's ``deadlettered``). Use ``dry_run=True`` to see what would be sent.
- The dead-letter topic is not emptied (its retention is time-based): replaying twice sends
  everything twice. Narrow a replay with ``topic_filter``.
- A replay reads the dead-letter topic up to its end *when the replay starts*: entries that
  the worker writes meanwhile (the replayed messages failing again) are not replayed in the
  same run, so a replay always ends.
- What the dead-letter entry does not keep is not restored: headers are lost; the Kafka
  timestamp is the time of the replay (an event's own ``ts`` field still wins); a message
  that had no value (``None``) is sent back with an empty value.
- The original partition is kept (when the topic still has it), rather than re-deriving it
  from the key: a producer with another partitioner (librdkafka's default is not kafka-python's)
  would otherwise see its replayed features land away from their labels, and the join is
  local to a partition.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections import Counter

import orjson

from stream_mlc.service.producer import make_producer
from stream_mlc.service.reader import TopicReader
from stream_mlc.settings import Settings

log = logging.getLogger(__name__)


class BadEntry(ValueError):
    """A dead-letter record this module cannot replay (not written by the service)."""


def decode_entry(value: bytes | None) -> tuple[str, int | None, bytes]:
    """``(topic, partition, payload bytes)`` of one dead-letter value.

    >>> from stream_mlc.wire import dead_letter
    >>> decode_entry(dead_letter("mlc.labels", 2, 7, "not JSON", b"\\xff\\xfe"))
    ('mlc.labels', 2, b'\\xff\\xfe')
    >>> decode_entry(dead_letter("mlc.features", 0, 1, "not JSON", b"nope"))
    ('mlc.features', 0, b'nope')
    """
    try:
        doc = orjson.loads(value or b"")
    except orjson.JSONDecodeError as error:
        raise BadEntry(f"not JSON: {error}") from None
    if not isinstance(doc, dict):
        raise BadEntry("not a JSON object")
    topic, payload = doc.get("topic"), doc.get("payload")
    if not isinstance(topic, str) or not topic:
        raise BadEntry("no 'topic'")
    if not isinstance(payload, str):
        raise BadEntry("no 'payload' string")
    if doc.get("payload_truncated"):
        raise BadEntry(f"its payload was cut to fit the broker (the original had {doc.get('payload_bytes')} bytes, "
                       f"SHA-256 {doc.get('payload_sha256')}); it cannot be replayed")
    encoding = doc.get("payload_encoding", "utf-8")
    if encoding == "base64":
        try:
            raw = base64.b64decode(payload.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as error:
            raise BadEntry(f"payload is not base64: {error}") from None
    elif encoding == "utf-8":
        # The service wrote it from bytes that decoded as UTF-8, so this restores them exactly.
        raw = payload.encode("utf-8", "surrogatepass")
    else:
        raise BadEntry(f"unknown payload_encoding {encoding!r}")
    partition = doc.get("partition")
    if isinstance(partition, bool) or not isinstance(partition, int) or partition < 0:
        partition = None
    return topic, partition, raw


def replay_deadletters(
    settings: Settings, *, topic_filter: str | None = None, dry_run: bool = False
) -> dict[str, int]:
    """Produce every dead-lettered message back to its original topic; return counts per topic.

    ``topic_filter`` keeps only the entries of one topic, given by its full name
    (``mlc.features``) or its name under the settings' prefix (``features``). With
    ``dry_run`` nothing is sent: the counts say what would be. Entries that are not valid
    dead-letter records are skipped with a warning and counted under ``"<invalid>"``.

    See the module docstring: replaying sends the messages again, so fix the producer or
    the contract first; a message that still breaks the contract is dead-lettered again.
    """
    wanted = None
    if topic_filter:
        wanted = {topic_filter, settings.topic(topic_filter)}
    return asyncio.run(_replay(settings, wanted, dry_run))


async def _replay(settings: Settings, wanted: set[str] | None, dry_run: bool) -> dict[str, int]:
    counts: Counter[str] = Counter()
    producer = None if dry_run else make_producer(settings)
    partitions_of: dict[str, set[int]] = {}
    seen: set[tuple] = set()  # a message dead-lettered again after a crash is replayed once
    try:
        async with TopicReader(settings, "deadletter", decode=lambda value: value) as reader:
            # Up to where the topic ends now: what the worker dead-letters again during the
            # replay is left for the next one, so a replay always ends.
            for _, key, value in await reader.read_to_end():
                _one(key, value, wanted, counts, producer, partitions_of, seen)
        if producer is not None:
            producer.flush()
    finally:
        if producer is not None:
            producer.close()
    return dict(counts)


def _one(key, value, wanted, counts: Counter, producer, partitions_of: dict[str, set[int]], seen: set) -> None:
    try:
        topic, partition, payload = decode_entry(value)
    except BadEntry as error:
        log.warning("dead-letter record skipped: %s", error)
        counts["<invalid>"] += 1
        return
    origin = _origin(value)
    if origin in seen:
        counts["<duplicate>"] += 1
        return
    if origin is not None:
        seen.add(origin)
    if wanted is not None and topic not in wanted:
        return
    counts[topic] += 1
    if producer is None:
        return
    if topic not in partitions_of:
        partitions_of[topic] = producer.partitions_for(topic) or set()
    if partition not in partitions_of[topic]:
        partition = None  # the topic shrank or the entry has none: let the key decide
    producer.send(topic, key=key, value=payload, partition=partition)


def _origin(value: bytes) -> tuple[str, int, int] | None:
    """The input message a dead letter names: ``(topic, partition, offset)``, if it names one."""
    doc = orjson.loads(value)
    origin = (doc.get("topic"), doc.get("partition"), doc.get("offset"))
    return origin if all(isinstance(part, str | int) and not isinstance(part, bool) for part in origin) else None


__all__ = ["BadEntry", "decode_entry", "replay_deadletters"]
