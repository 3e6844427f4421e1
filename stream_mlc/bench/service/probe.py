"""Reading the bench's processes and broker cheaply: log ends, records, CPU time and RSS.

While a scenario runs the bench only polls log-end offsets (kafka-python, synchronous) and
reads ``/proc``: a consumer of its own would compete with the process under test for the
two cores.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from stream_mlc.settings import Settings


class Probe:
    """Log-end offsets and single records of the bench's topics.

    Tansu's ListOffsets (``end_offsets``) answers the base offset of a partition's last
    record batch, not the log end: a consumer that stops there misses the last batch. The
    probe seeks to that offset and takes the log end from the fetch response's high watermark.
    """

    def __init__(self, settings: Settings):
        from kafka import KafkaConsumer

        from stream_mlc.service.kafka_config import kafka_python_kwargs

        self.consumer = KafkaConsumer(**kafka_python_kwargs(settings), enable_auto_commit=False,
                                      auto_offset_reset="earliest", fetch_max_wait_ms=20)

    def close(self) -> None:
        self.consumer.close()

    def partitions(self, topic: str) -> list:
        from kafka import TopicPartition

        deadline = time.monotonic() + 15
        while True:
            found = self.consumer.partitions_for_topic(topic)
            if found:
                return [TopicPartition(topic, p) for p in sorted(found)]
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {topic} has no partitions")
            self.consumer.topics()  # refreshes the metadata
            time.sleep(0.1)

    def listed_offsets(self, topic: str) -> dict:
        """What ListOffsets says (on Tansu: the base offset of each partition's last batch)."""
        return self.consumer.end_offsets(self.partitions(topic))

    def end_offsets(self, topic: str) -> dict:
        """The log-end offset of each partition (the high watermark of a fetch)."""
        tps = self.partitions(topic)
        listed = self.consumer.end_offsets(tps)
        self.consumer.assign([])
        self.consumer.assign(tps)
        for tp in tps:
            self.consumer.seek(tp, listed[tp])
        ends: dict = {}
        deadline = time.monotonic() + 10
        while len(ends) < len(tps) and time.monotonic() < deadline:
            self.consumer.poll(timeout_ms=100, max_records=1000)
            for tp in tps:
                highwater = self.consumer.highwater(tp)
                if highwater is not None:
                    ends[tp] = highwater
        self.consumer.assign([])
        if len(ends) < len(tps):
            raise RuntimeError(f"no high watermark for {topic}")
        return ends

    def total(self, topic: str) -> int:
        return sum(self.end_offsets(topic).values())

    def records(self, topic: str, starts: dict | None = None, ends: dict | None = None) -> list:
        """Records of ``topic`` from ``starts`` (default 0) to ``ends`` (default its end), by partition."""
        ends = ends or self.end_offsets(topic)
        starts = starts or {}
        wanted = {tp: end for tp, end in ends.items() if end > starts.get(tp, 0)}
        if not wanted:
            return []
        self.consumer.assign(list(wanted))
        for tp in wanted:
            self.consumer.seek(tp, starts.get(tp, 0))
        out, done = [], set()
        deadline = time.monotonic() + 120
        while len(done) < len(wanted) and time.monotonic() < deadline:
            for tp, batch in self.consumer.poll(timeout_ms=500, max_records=5000).items():
                for record in batch:
                    if record.offset < wanted[tp]:
                        out.append(record)
                    if record.offset + 1 >= wanted[tp]:
                        done.add(tp)
        self.consumer.assign([])
        return out

    def first_timestamp(self, topic: str) -> float:
        """The earliest timestamp (s) among the first record of each partition."""
        ends = self.end_offsets(topic)
        firsts = []
        for tp, end in ends.items():
            if end > 0:
                firsts += self.records(topic, {tp: 0}, {tp: 1})
        return min(r.timestamp for r in firsts) / 1000.0

    def last_timestamp(self, topic: str) -> float:
        """The latest timestamp (s) among the last record of each partition."""
        ends = self.end_offsets(topic)
        lasts = []
        for tp, end in ends.items():
            if end > 0:
                lasts += self.records(topic, {tp: end - 1}, {tp: end})
        return max(r.timestamp for r in lasts) / 1000.0

    def wait_total(self, topic: str, count: int, timeout_s: float, alive=lambda: True, period_s: float = 0.25) -> float:
        """Wait until ``topic`` holds ``count`` records; returns the seconds waited."""
        start = time.monotonic()
        while self.total(topic) < count:
            if not alive():
                raise RuntimeError(f"the process producing {topic} died")
            if time.monotonic() - start > timeout_s:
                raise TimeoutError(f"{topic}: {self.total(topic)} of {count} records after {timeout_s:.0f} s")
            time.sleep(period_s)
        return time.monotonic() - start


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Drain:
    """Follows processes draining a backlog: their CPU from the first output to the last."""

    pids: list[int]
    broker_pid: int
    cpu: list[float] = field(default_factory=list)  # CPU seconds at the first output: the processes', the broker's

    def first_output(self, probe: Probe, topic: str, timeout_s: float, alive) -> None:
        probe.wait_total(topic, 1, timeout_s, alive, period_s=0.05)
        self.cpu = [cpu_seconds(pid) for pid in (*self.pids, self.broker_pid)]

    def cpu_ms_by_process(self, n: int) -> list[float]:
        """CPU milliseconds per event since :meth:`first_output` of each process, then of the broker."""
        pids = (*self.pids, self.broker_pid)
        return [(cpu_seconds(pid) - before) * 1000 / n for pid, before in zip(pids, self.cpu, strict=True)]

    def cpu_ms_per_event(self, n: int) -> tuple[float, float]:
        """(processes summed, broker) CPU milliseconds per event since :meth:`first_output`."""
        *processes, broker = self.cpu_ms_by_process(n)
        return sum(processes), broker


def proc_status(pid: int) -> dict[str, float]:
    """``{"VmHWM": peak RSS, "VmRSS": RSS}`` of a process in MB (empty once it is gone).

    >>> sorted(proc_status(os.getpid()))
    ['VmHWM', 'VmRSS']
    """
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                out[name] = int(value.split()[0]) / 1024.0  # kB -> MB
    except OSError:
        pass
    return out
