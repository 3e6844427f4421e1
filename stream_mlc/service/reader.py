"""Read the service's output topics (aiokafka, manual assignment: no group join to wait for)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from stream_mlc.service.kafka_config import aiokafka_kwargs, missing_topics, unreachable
from stream_mlc.settings import Settings

FETCH_MAX_WAIT_MS = 50


class TopicReader:
    """All partitions of some topics from the beginning, as decoded records."""

    def __init__(self, settings: Settings, *short_names: str, decode: Callable[[bytes], object] = orjson.loads):
        self.settings = settings
        self.decode = decode
        self.topics = [settings.topic(name) for name in short_names]
        self.consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> TopicReader:
        """Connect and assign every partition of the topics, at their beginning.

        Raises :class:`~stream_mlc.errors.BrokerUnreachable` if no broker answers within
        ``connect_timeout_s``, :class:`~stream_mlc.errors.TopicsMissing` if a topic does not exist.
        """
        # A short fetch wait: Tansu holds every fetch that long, even an empty topic's first
        # one, which the reader waits for to learn where the topic ends (aiokafka's default: 500 ms).
        self.consumer = AIOKafkaConsumer(
            **aiokafka_kwargs(self.settings), enable_auto_commit=False, auto_offset_reset="earliest",
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )
        try:
            await asyncio.wait_for(self.consumer.start(), self.settings.connect_timeout_s)
            partitions = await self._partitions()
        except (TimeoutError, KafkaError, OSError) as error:
            await self.consumer.stop()
            raise unreachable(self.settings, error) from error
        except BaseException:
            await self.consumer.stop()
            raise
        self.consumer.assign(partitions)
        await self.consumer.seek_to_beginning(*partitions)
        return self

    async def _partitions(self) -> list[TopicPartition]:
        partitions, missing = [], []
        for topic in self.topics:
            found = await _partitions_for(self.consumer, topic, min(self.settings.connect_timeout_s, 5.0))
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
            if not found:
                missing.append(topic)
        if missing:
            raise missing_topics(self.settings, missing)
        return partitions

    async def __aexit__(self, *exc) -> None:
        await self.consumer.stop()

    async def poll(self, timeout_s: float = 0.2) -> list[tuple[str, bytes | None, dict]]:
        """The next records: ``(topic, key, value)`` with the value decoded (from JSON by default)."""
        batches = await self.consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=10_000)
        return [
            (tp.topic, message.key, self.decode(message.value))
            for tp, messages in batches.items()
            for message in messages
        ]

    async def ends(self, timeout_s: float = 30.0) -> dict[TopicPartition, int]:
        """Where each partition ends now, from the high watermark of the first fetch response.

        Tansu answers ListOffsets(latest) with the base offset of the last record batch + 1,
        short of the end when that batch holds several records; its fetch responses are
        right. The larger of the two is taken; the fetch position is not moved.
        """
        assigned = list(self.consumer.assignment())
        listed = await self.consumer.end_offsets(assigned)
        ends: dict[TopicPartition, int] = {}
        deadline = time.monotonic() + timeout_s
        while True:
            for tp in assigned:
                highwater = self.consumer.highwater(tp)
                if tp not in ends and highwater is not None:
                    ends[tp] = max(highwater, listed[tp])
            if len(ends) == len(assigned) or time.monotonic() > deadline:
                return {tp: ends.get(tp, listed[tp]) for tp in assigned}
            await asyncio.sleep(0.05)

    async def read_to_end(self, timeout_s: float = 60.0) -> list[tuple[str, bytes | None, object]]:
        """Every record up to where the topics end now, however slow the broker is to answer."""
        ends = await self.ends()
        remaining = {tp for tp, end in ends.items() if end > 0}
        records: list = []
        deadline = time.monotonic() + timeout_s
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {len(records)} records; still short of the end of {sorted(remaining)}")
            batches = await self.consumer.getmany(*remaining, timeout_ms=500, max_records=10_000)
            for tp, messages in batches.items():
                records += [(tp.topic, m.key, self.decode(m.value)) for m in messages if m.offset < ends[tp]]
            for tp in list(remaining):
                if await self.consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return records

    async def drain(self, idle_s: float = 1.0) -> list[tuple[str, bytes | None, dict]]:
        """Everything there is, until nothing arrives for ``idle_s``."""
        records: list = []
        while True:
            batch = await self.poll(idle_s)
            if not batch:
                return records
            records += batch


async def _partitions_for(consumer: AIOKafkaConsumer, topic: str, timeout_s: float) -> set[int]:
    """The topic's partitions; empty if it still does not exist after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = consumer.partitions_for_topic(topic)
        if found is None:
            await consumer._client.force_metadata_update()  # no public API: a cold cache lacks the topic
            found = consumer.partitions_for_topic(topic)
        if found or time.monotonic() > deadline:
            return found or set()
        await asyncio.sleep(0.1)


async def latest_status(settings: Settings) -> dict[str, dict]:
    """The newest status record of each worker."""
    async with TopicReader(settings, "status") as reader:
        return {record["worker"]: record for _, _, record in await reader.read_to_end()}


async def wait_until(
    settings: Settings,
    done: Callable[[dict], bool],
    *,
    timeout_s: float,
    on_record: Callable[[str, dict], None] | None = None,
) -> dict:
    """Follow predictions and status until ``done(state)``; state = {"predictions": n, "status": {...}}."""
    state: dict = {"predictions": 0, "status": {}, "ids": set()}
    deadline = time.monotonic() + timeout_s
    async with TopicReader(settings, "predictions", "status") as reader:
        while not done(state):
            if time.monotonic() > deadline:
                raise TimeoutError(f"gave up after {timeout_s:.0f} s; last state: predictions={state['predictions']}, "
                                   f"learned={state['status'].get('learned')}")
            for topic, _, record in await reader.poll():
                if topic.endswith("predictions"):
                    state["predictions"] += 1
                    state["ids"].add(record["id"])
                else:
                    state["status"] = record
                if on_record is not None:
                    on_record(topic, record)
    return state


#: The quality metrics ``stream-mlc status`` shows first; the others follow.
HEADLINE_METRICS = ("micro_f1", "macro_f1", "example_f1", "hamming_loss", "subset_accuracy")


def format_status(worker: str, status: dict, now: float | None = None) -> list[str]:
    """A worker's status record as readable lines (``stream-mlc status``).

    Shows the model, thresholds and drift settings and the worker's version when the
    record has them, the counts, and the live metrics (cumulative and windowed).

    >>> lines = format_status("w1", {"ts": 90.0, "learned": 12, "labels": ["a", "b"], "counts": {"scored": 15},
    ...                              "config": {"model": "native-mlc", "thresholds": "adaptive", "drift_options": ""},
    ...                              "metrics": {"cumulative": {"micro_f1": 0.5}, "window": {"micro_f1": 0.25}}},
    ...                      now=100.0)
    >>> print("\\n".join(lines))
    w1: single, updated 10 s ago
      model            native-mlc, model version 12
      thresholds       adaptive
      drift            default settings
      learned          12 examples, 2 labels
      counts           scored 15
      metric           cumulative  window
      micro_f1             0.5000  0.2500
    """
    now = time.time() if now is None else now
    role = ", ".join(str(part) for part in (status.get("mode", "single"), status.get("role")) if part)
    age = max(0.0, now - status.get("ts", now))
    lines = [f"{worker}: {role}, updated {age:.0f} s ago"]
    config = status.get("config") or {}
    version = status.get("model_version", status.get("learned", 0))
    rows = [("model", f"{config.get('model', 'not reported')}, model version {version}")]
    if config:
        rows += [("thresholds", config.get("thresholds", "")),
                 ("drift", config.get("drift_options") or "default settings")]
    if "version" in status:
        rows.append(("worker version", str(status["version"])))
    if "assigned" in status:
        rows.append(("partitions", ", ".join(status["assigned"]) or "none"))
    if "labels" in status:
        rows.append(("learned", f"{status.get('learned', 0)} examples, {len(status['labels'])} labels"))
    counts = status.get("counts") or {}
    rows.append(("counts", ", ".join(f"{name} {value}" for name, value in sorted(counts.items())) or "none"))
    lines += [f"  {name:<15}  {value}" for name, value in rows]
    metrics = status.get("metrics") or {}
    cumulative, window = metrics.get("cumulative") or {}, metrics.get("window") or {}
    if cumulative:
        names = [m for m in HEADLINE_METRICS if m in cumulative] + [m for m in cumulative if m not in HEADLINE_METRICS]
        lines.append(f"  {'metric':<15}  cumulative  window")
        lines += [f"  {name:<15}  {cumulative[name]:10.4f}  {window.get(name, float('nan')):.4f}" for name in names]
    return lines
