"""``stream-mlc tail``: what the service writes to a topic, one JSON line per message, for ``jq``.

It reads every partition of the topic by manual assignment (no consumer group, so it
commits nothing and disturbs no worker). From the beginning or from the end; it stops at
the end the topic had when it started, or follows it until stopped.
"""

from __future__ import annotations

import base64
import sys
import time
from typing import TextIO

import orjson

from stream_mlc.service.kafka_config import unreachable
from stream_mlc.service.reader import TopicReader
from stream_mlc.settings import Settings


def to_line(key: bytes | None, value: bytes | None) -> str:
    """One message as one line of JSON: its value when that is JSON, else the raw bytes in base64.

    >>> to_line(b"e1", b'{"id": "e1",\\n "labels": ["a"]}')
    '{"id":"e1","labels":["a"]}'
    >>> to_line(b"k", b"\\xff")
    '{"key":"k","value_base64":"/w=="}'
    """
    try:
        return orjson.dumps(orjson.loads(value)).decode()
    except (orjson.JSONDecodeError, TypeError):
        raw = base64.b64encode(value or b"").decode()
        return orjson.dumps({"key": (key or b"").decode("utf-8", "replace"), "value_base64": raw}).decode()


def about(key: bytes | None, value: bytes | None, event_id: str) -> bool:
    """Whether a message is about ``event_id``: its key, or its value's ``id``, is that id.

    >>> about(b"e1", b"{}", "e1"), about(None, b'{"id": "e1"}', "e1"), about(b"e2", b'{"id": "e2"}', "e1")
    (True, True, False)
    """
    if key is not None and key.decode("utf-8", "replace") == event_id:
        return True
    try:
        record = orjson.loads(value)
    except (orjson.JSONDecodeError, TypeError):
        return False
    return isinstance(record, dict) and record.get("id") == event_id


async def tail(
    settings: Settings,
    short_name: str,
    *,
    from_beginning: bool = False,
    follow: bool = False,
    max_messages: int | None = None,
    event_id: str | None = None,
    out: TextIO | None = None,
) -> int:
    """Print the topic's messages as JSON lines to ``out`` (stdout); return how many were printed.

    Without ``from_beginning`` it starts at the end; without ``follow`` it stops at the end
    the topic had when it started. A missing topic raises
    :class:`~stream_mlc.errors.TopicsMissing`, an unreachable broker
    :class:`~stream_mlc.errors.BrokerUnreachable`.
    """
    out = sys.stdout if out is None else out
    printed = 0
    async with TopicReader(settings, short_name, decode=bytes) as reader:
        consumer = reader.consumer
        ends = await reader.ends(timeout_s=settings.connect_timeout_s)
        if not from_beginning:
            for tp, end in ends.items():
                consumer.seek(tp, end)
        remaining = {tp for tp, end in ends.items() if end > 0} if from_beginning else set()
        stalled_since = time.monotonic()
        while follow or remaining:
            batches = await consumer.getmany(timeout_ms=500, max_records=1000)
            for tp, messages in batches.items():
                for message in messages:
                    if not follow and message.offset >= ends[tp]:
                        continue
                    if event_id is not None and not about(message.key, message.value, event_id):
                        continue
                    out.write(to_line(message.key, message.value) + "\n")
                    printed += 1
                    if max_messages is not None and printed >= max_messages:
                        out.flush()
                        return printed
            if batches:
                stalled_since = time.monotonic()
                if follow:
                    out.flush()  # a pipe into jq sees each message as it comes
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            if remaining and time.monotonic() - stalled_since > settings.connect_timeout_s:
                raise unreachable(settings, TimeoutError(f"no data from {sorted(str(tp) for tp in remaining)}"))
    out.flush()
    return printed
