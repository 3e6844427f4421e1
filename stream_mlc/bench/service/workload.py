"""The service bench's workload: pre-encoded feature and label messages, and their preload.

Events come from a seeded synthetic stream (100 dense features), encoded once in the wire
format a client would produce; every scenario sends the same messages.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from stream_mlc.settings import Settings

FEATURES = 100
#: Labels arrive this many events after their features.
LABEL_DELAY = 1000
SEED = 1
#: Feature values are rounded to this many decimals: ~1.35 KB per event (full precision: ~2.6 KB).
DECIMALS = 4


@dataclass
class Workload:
    """Pre-encoded messages: ``features[i]``, ``labels[i]`` are event i's (key, value)."""

    labels_count: int
    features: list[tuple[bytes, bytes]]
    labels: list[tuple[bytes, bytes]]

    @property
    def mean_feature_bytes(self) -> float:
        return statistics.fmean(len(v) for _, v in self.features[:1000])


def make_workload(n: int, labels: int, features: int = FEATURES) -> Workload:
    """``n`` events of the seeded synthetic stream with ``features`` features and ``labels`` labels."""
    from stream_mlc.io.datasets import open_dataset
    from stream_mlc.service.producer import feature_message, label_message

    data = open_dataset(f"synthetic:n={n},features={features},labels={labels},seed={SEED}")
    feats, labs = [], []
    for record in data:
        key = record.id.encode()
        rounded = replace(record, features={k: round(v, DECIMALS) for k, v in record.features.items()})
        feats.append((key, feature_message(rounded)))
        labs.append((key, label_message(record)))
    return Workload(labels, feats, labs)


def interleaved(work: Workload, start: int, stop: int, delay: int = LABEL_DELAY,
                flush_labels: bool = True) -> Iterator[tuple[bool, int]]:
    """(is_label, index) in replay order: event i's features, then the labels of event i - delay.

    >>> list(interleaved(None, 0, 3, delay=1))
    [(False, 0), (False, 1), (True, 0), (False, 2), (True, 1), (True, 2)]
    """
    for i in range(start, stop):
        yield False, i
        if i - delay >= start:
            yield True, i - delay
    if flush_labels:
        for i in range(max(start, stop - delay), stop):
            yield True, i


def producer(settings: Settings, linger_ms: int | None = None):
    """kafka-python's producer, as ``replay`` makes it (optionally with another linger)."""
    from stream_mlc.service.producer import make_producer

    if linger_ms is None:
        return make_producer(settings)
    return make_producer(settings.replace(producer_linger_ms=linger_ms))


def preload(settings: Settings, work: Workload, n: int, with_labels: bool = True) -> dict:
    """Send the first ``n`` events (and their labels); returns the kafka-python producer's rate."""
    prod = producer(settings)
    ftopic, ltopic = settings.topic("features"), settings.topic("labels")
    sent = size = 0
    start = time.perf_counter()
    order = interleaved(work, 0, n) if with_labels else ((False, i) for i in range(n))
    for is_label, i in order:
        key, value = work.labels[i] if is_label else work.features[i]
        prod.send(ltopic if is_label else ftopic, key=key, value=value)
        sent += 1
        size += len(value)
    prod.flush()
    seconds = time.perf_counter() - start
    prod.close()
    return {"messages": sent, "seconds": seconds, "msg_s": sent / seconds, "mb_s": size / seconds / 1e6}


def crc_comparison(settings: Settings, work: Workload, n: int) -> dict:
    """kafka-python's producer on n feature messages: with the C crc32c, then pure Python."""
    import kafka.record.default_records as default_records
    import kafka.record.util as util
    from kafka.record._crc32c import crc as crc32c_py

    out = {"c_impl": getattr(util._crc32c, "__module__", "?") + "." + getattr(util._crc32c, "__name__", "?")}
    out["c"] = preload(settings, work, n, with_labels=False)
    original = default_records.calc_crc32c
    default_records.calc_crc32c = lambda memview: crc32c_py(memview)
    try:
        out["python"] = preload(settings, work, n, with_labels=False)
    finally:
        default_records.calc_crc32c = original
    return out


class Scenarios:
    """Settings of each scenario: topics of its own (a fresh prefix), a group and ports of its own."""

    def __init__(self, base: Settings, workdir: Path, run: str, broker_pid: int = 0):
        self.base = base
        self.broker_pid = broker_pid
        self.workdir = workdir
        self.run = run
        self.n = 0

    def settings(self, tag: str, **changes) -> Settings:
        """A new scenario's settings; its topics are created."""
        from stream_mlc.service.admin import create_topics
        from stream_mlc.service.broker import free_port

        self.n += 1
        name = f"{self.run}-{self.n}-{tag}"
        settings = self.base.replace(topic_prefix=f"{name}.", app_id=f"bench-{name}", worker_id=f"bench-{name}",
                                     web_port=free_port(), metrics_port=free_port(), **changes)
        create_topics(settings)
        return settings
