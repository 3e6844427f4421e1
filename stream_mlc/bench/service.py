"""Service benchmark: the worker end to end on the embedded broker, against two ceilings.

``stream-mlc bench service [--events N] [--labels 14 100] [--model SPEC] [--profile DIR] [--workers 1,2]``
starts an embedded Tansu broker and, for each label count, on topics of their own (a fresh
prefix per scenario), preloads N events (100 dense features, ~1.35 KB of JSON each) with
their labels 1,000 events late, and measures:

``(a) faust``
    a plain Faust pass-through agent in its own process (the worker's App settings): consume
    the features, ``orjson`` decode each event, ``await topic.send`` a prediction of the
    worker's shape and size. Events/s drained end to end.
``(b) aiokafka``
    a raw aiokafka loop in its own process: ``getmany``, decode, produce through the
    producer's accumulator (linger 5 ms). The ceiling of a Python service on this machine.
``(c) worker``
    the real worker (``stream-mlc worker`` process) with the default learner and with River's
    ``river-br-lr`` (on ``--river-events``, a third of the backlog by default): events/s from
    the first prediction to the last label learned.
``(d) latency``
    the same worker after its backlog: features (and labels 1,000 events late) paced at half
    of (c)'s rate, or at ``--latency-rate``; p50/p99 of the prediction's ``ts`` minus the
    feature's send time (its record timestamp), after a one-second warm-up.
``(e) start-up``
    worker process start to its first prediction (backlog waiting; imports, checkpoint
    restore and the consumer group join included).
``(f) peak RSS``
    the worker's VmHWM, read before it is stopped.

Rates come from the broker's record timestamps (CreateTime, set by the producing client),
not from a consumer competing for the two cores: (a) and (b) from their first to their last
output record, (c) from the first prediction to the last record of the training topic (one
per learned example, in learning order). While a scenario runs the bench only polls log-end
offsets; it also reads the CPU time of the process under test and of the broker from /proc,
per event drained: a figure that the other tenants of the machine disturb less than rates.

Tansu's ListOffsets answers the base offset of a partition's last record batch, not the log
end (a consumer that stops there misses the last batch): the probe takes log ends from
fetch responses' high watermarks instead.

Also: kafka-python's producer throughput on the same feature messages (what ``replay``
uses) with the C ``crc32c`` and with kafka-python's pure-Python CRC; with ``--profile DIR``
a py-spy profile (raw, 100 Hz, idle stacks and threads) of the default-model worker over
the backlog (``--profile-phase latency``: over the paced run), summarised by category and
frame; ``--worker-env NAME=VALUE`` runs the workers with extra environment (settings
experiments: ``STREAM_MLC_MAX_POLL_RECORDS=500``).

Scale-out: ``--workers 1,2`` runs (c) to (f) of the default learner once per worker count, each
on topics of its own, the workers of a run started at once in one consumer group (``--mode``:
single for one worker, scaled for more, unless given; ``--workers 1,2 --mode scaled`` compares
one scaled worker with two). It adds a table of the runs side by side (events/s to the last
example learned, scoring events/s to the last prediction, CPU per event summed over the
workers, latency, the largest worker's peak RSS) with each run's ratios to the first, and per
worker its role from the status topic (learner or scorer), its CPU, its start-up CPU (spent
before the run's first prediction, so not counted in the run's CPU per event) and its RSS;
``--profile`` profiles every worker of every run.

Noise: the machine's cores are shared; every figure is one run. Exit status 0 whatever the
figures: it is a report, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import orjson

from stream_mlc.service.admin import create_topics
from stream_mlc.service.broker import EmbeddedBroker, free_port
from stream_mlc.service.process import WorkerProcess
from stream_mlc.settings import Settings

DEFAULT_MODEL = "native-mlc"
RIVER_MODEL = "river-br-lr"
FEATURES = 100
LABEL_DELAY = 1000
SEED = 1
DECIMALS = 4
#: The paced producer's linger (ms): part of the measured latency, and it keeps the broker's load sane.
PACED_LINGER_MS = 2
#: Goals from the issue.
GOAL_OF_AIOKAFKA, GOAL_OF_FAUST, GOAL_OF_RIVER, GOAL_P99_S, GOAL_STARTUP_S = 0.4, 2.0, 5.0, 0.050, 10.0


# -- the workload -----------------------------------------------------------------------------
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
    from stream_mlc.io.datasets import open_dataset
    from stream_mlc.service.producer import feature_message, label_message

    data = open_dataset(f"synthetic:n={n},features={features},labels={labels},seed={SEED}")
    feats, labs = [], []
    for record in data:
        key = record.id.encode()
        # Four decimals: ~1.35 KB per event (full float precision would be ~2.6 KB).
        rounded = replace(record, features={k: round(v, DECIMALS) for k, v in record.features.items()})
        feats.append((key, feature_message(rounded)))
        labs.append((key, label_message(record)))
    return Workload(labels, feats, labs)


def interleaved(work: Workload, start: int, stop: int, delay: int = LABEL_DELAY, flush_labels: bool = True):
    """(is_label, index) in replay order: event i's features, then the labels of event i - delay."""
    for i in range(start, stop):
        yield False, i
        if i - delay >= start:
            yield True, i - delay
    if flush_labels:
        for i in range(max(start, stop - delay), stop):
            yield True, i


# -- kafka-python producer --------------------------------------------------------------------
def producer(settings: Settings, linger_ms: int | None = None):
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


# -- reading the broker (kafka-python, synchronous, cheap) -------------------------------------
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


# -- scenarios ---------------------------------------------------------------------------------
class Scenarios:
    def __init__(self, base: Settings, workdir: Path, run: str, broker_pid: int = 0):
        self.base = base
        self.broker_pid = broker_pid
        self.workdir = workdir
        self.run = run
        self.n = 0

    def settings(self, tag: str, **changes) -> Settings:
        self.n += 1
        name = f"{self.run}-{self.n}-{tag}"
        settings = self.base.replace(topic_prefix=f"{name}.", app_id=f"bench-{name}", worker_id=f"bench-{name}",
                                     web_port=free_port(), metrics_port=free_port(), **changes)
        create_topics(settings)
        return settings


def child_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "stream_mlc.bench.service", *args]


def stop(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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


def run_child(sc: Scenarios, work: Workload, n: int, kind: str, timeout_s: float) -> dict:
    """(a) ``kind="faust"``: a plain Faust pass-through agent; (b) ``"aiokafka"``: a raw aiokafka loop.

    Each runs in its own process over a preloaded backlog of n feature events.
    """
    s = sc.settings(kind)
    preload(s, work, n, with_labels=False)
    out_topic = s.topic("predictions")
    if kind == "faust":
        args = (s.app_id, s.topic("features"), out_topic, str(work.labels_count), str(s.producer_linger_ms),
                str(s.max_poll_records))
    else:
        args = (s.topic("features"), out_topic, str(n), str(work.labels_count), str(s.producer_linger_ms))
    log = open(sc.workdir / f"{s.app_id}.log", "ab")
    started = time.time()
    process = subprocess.Popen(child_command("--child", kind, s.bootstrap, *args), stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=sc.workdir)
    probe = Probe(s)
    alive = lambda: process.poll() is None  # noqa: E731
    drain = Drain([process.pid], sc.broker_pid)
    try:
        drain.first_output(probe, out_topic, timeout_s, alive)
        probe.wait_total(out_topic, n, timeout_s, alive)
        cpu, broker_cpu = drain.cpu_ms_per_event(n)
        first, last = probe.first_timestamp(out_topic), probe.last_timestamp(out_topic)
    finally:
        stop(process)
        probe.close()
        log.close()
    return {"events": n, "rate": n / (last - first), "seconds": last - first, "startup_s": first - started,
            "cpu_ms": cpu, "broker_cpu_ms": broker_cpu}


@dataclass
class ProcessResult:
    """One worker process of a run."""

    worker_id: str
    pid: int
    role: str = "-"  # from its status records ("learner", "scorer", "single"; "a->b" when it changed)
    model_version: int = 0  # in its last status record: the version it scores with
    learned: int = 0  # in its last status record (a scorer: its model's version)
    status_age_s: float = float("nan")  # of its last status record, when the run's figures were taken
    assigned: str = ""  # its partitions in its last status record (scaled mode)
    cpu_ms: float = 0.0  # its CPU per event of the run while draining the backlog
    startup_cpu_s: float = 0.0  # its CPU before the run's first prediction
    rss_peak_mb: float = 0.0
    rss_mb: float = 0.0
    profile: dict = field(default_factory=dict)


@dataclass
class WorkerResult:
    model: str
    events: int
    rate: float = 0.0  # first prediction to last example learned
    score_rate: float = 0.0  # first to last prediction
    seconds: float = 0.0
    startup_s: float = 0.0
    cpu_ms: float = 0.0  # worker CPU per event (features + labels) while draining the backlog, all workers
    broker_cpu_ms: float = 0.0
    latency: dict = field(default_factory=dict)
    rss_peak_mb: float = 0.0  # the largest worker's
    rss_mb: float = 0.0
    profile: dict = field(default_factory=dict)  # the first worker's
    checkpoints: int = 0
    workers: int = 1
    mode: str = "single"
    processes: list[ProcessResult] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.workers == 1 and self.mode == "single":
            return self.model
        return f"{self.model} x{self.workers} {self.mode}"


def proc_status(pid: int) -> dict[str, float]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                out[name] = int(value.split()[0]) / 1024.0  # kB -> MB
    except OSError:
        pass
    return out


def distinct_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def worker_settings(s: Settings, count: int) -> list[Settings]:
    """One worker: ``s``. More: the same app (consumer group) and topics, each its own id and ports."""
    if count == 1:
        return [s]
    ports = distinct_ports(2 * count)
    return [s.replace(worker_id=f"{s.worker_id}-{k + 1}", web_port=ports[2 * k], metrics_port=ports[2 * k + 1])
            for k in range(count)]


def numbered(path: Path, k: int, count: int) -> Path:
    """``worker.raw.txt`` -> ``worker-2.raw.txt`` (unchanged for a single worker)."""
    if count == 1:
        return path
    stem, dot, ext = path.name.partition(".")
    return path.with_name(f"{stem}-{k + 1}{dot}{ext}")


def start_profiles(pids: list[int], profile: Path, seconds: float, workdir: Path) -> list[subprocess.Popen]:
    return [py_spy(pid, numbered(profile, k, len(pids)), seconds, workdir) for k, pid in enumerate(pids)]


def finish_profiles(spies: list[subprocess.Popen], profile: Path, timeout_s: float) -> list[dict]:
    for spy in spies:
        spy.wait(timeout_s)
    return [summarize_profile(numbered(profile, k, len(spies))) for k in range(len(spies))]


def roles(probe: Probe, s: Settings) -> dict[str, dict]:
    """Each worker's roles (in the order seen), last model version and partitions, from the status topic."""
    out: dict[str, dict] = {}
    for record in probe.records(s.topic("status")):
        doc = orjson.loads(record.value)
        seen = out.setdefault(doc.get("worker", ""), {"roles": []})
        role = doc.get("role", doc.get("mode", "single"))
        if not seen["roles"] or seen["roles"][-1] != role:
            seen["roles"].append(role)
        seen["learned"] = doc.get("learned", 0)
        seen["model_version"] = doc.get("model_version", seen["learned"])
        seen["age_s"] = time.time() - doc.get("ts", float("nan"))
        seen["assigned"] = partitions_text(doc.get("assigned", []), s.topic_prefix)
    return out


def partitions_text(assigned: list[str], prefix: str) -> str:
    """``["p.features:0", "p.features:1", "p.learn:0"]``, ``"p."`` -> ``"features 0,1 learn 0"``.

    Topics outside the prefix (Faust's own) are left out.
    """
    by_topic: dict[str, list[str]] = {}
    for item in assigned:
        topic, _, partition = item.rpartition(":")
        if topic.startswith(prefix):
            by_topic.setdefault(topic[len(prefix):], []).append(partition)
    return " ".join(f"{topic} {','.join(parts)}" for topic, parts in sorted(by_topic.items()))


def run_worker(sc: Scenarios, work: Workload, model: str, n: int, *, latency_s: float, timeout_s: float,
               profile: Path | None = None, profile_s: float = 20.0, extra_env: dict | None = None,
               profile_phase: str = "backlog", latency_rate: float = 0.0, workers: int = 1,
               mode: str = "single") -> WorkerResult:
    """(c) backlog throughput, (e) start-up, then (d) latency at half load, then (f) peak RSS.

    ``workers`` processes of ``mode``, in one consumer group, started at once: CPU summed over them;
    role, RSS, CPU and profile (``profile`` numbered when several) of each.
    """
    tag = model.split(":")[0] + ("" if (workers, mode) == (1, "single") else f"-{workers}{mode}")
    s = sc.settings(tag, model=model, mode=mode)
    preload(s, work, n)
    result = WorkerResult(model, n, workers=workers, mode=mode)
    probe = Probe(s)
    started = time.time()
    configs = worker_settings(s, workers)
    procs = [WorkerProcess.start(w, sc.workdir / f"{w.worker_id}.log", extra_env=extra_env) for w in configs]
    pids = [p.process.pid for p in procs]
    spies: list[subprocess.Popen] = []
    alive = lambda: all(p.process.poll() is None for p in procs)  # noqa: E731
    drain = Drain(pids, sc.broker_pid)
    try:
        predictions, training = s.topic("predictions"), s.topic("training")
        drain.first_output(probe, predictions, timeout_s, alive)
        if profile is not None and profile_phase == "backlog":
            spies = start_profiles(pids, profile, profile_s, sc.workdir)
        probe.wait_total(training, n, timeout_s, alive)
        probe.wait_total(predictions, n, timeout_s, alive)
        *cpu, result.broker_cpu_ms = drain.cpu_ms_by_process(n)
        result.cpu_ms = sum(cpu)
        result.processes = [ProcessResult(w.worker_id, pid, cpu_ms=ms, startup_cpu_s=before)
                            for w, pid, ms, before in zip(configs, pids, cpu, drain.cpu[:-1], strict=True)]
        if spies:
            profiles = finish_profiles(spies, profile, profile_s + 30)
        first, last_pred = probe.first_timestamp(predictions), probe.last_timestamp(predictions)
        last_learned = probe.last_timestamp(training)
        result.seconds = last_learned - first
        result.rate = n / result.seconds
        result.score_rate = n / max(last_pred - first, 1e-9)
        result.startup_s = first - started
        if latency_s > 0:
            if profile is not None and profile_phase == "latency":
                spies = start_profiles(pids, profile, latency_s, sc.workdir)
            rate = latency_rate or 0.5 * result.rate
            result.latency = paced_latency(s, probe, work, n, rate, latency_s, timeout_s, alive)
            if spies and profile_phase == "latency":
                profiles = finish_profiles(spies, profile, latency_s + 30)
        if spies:
            for process, summary in zip(result.processes, profiles, strict=True):
                process.profile = summary
            result.profile = profiles[0]
        measure_processes(result, probe, s)
    finally:
        for spy in spies:
            if spy.poll() is None:
                stop(spy)
        for process in procs:
            process.stop()
        probe.close()
    return result


def measure_processes(result: WorkerResult, probe: Probe, s: Settings) -> None:
    """(f) RSS of each worker; roles from the status topic; checkpoint records."""
    seen = roles(probe, s)
    for process in result.processes:
        status = proc_status(process.pid)
        process.rss_peak_mb, process.rss_mb = status.get("VmHWM", 0.0), status.get("VmRSS", 0.0)
        mine = seen.get(process.worker_id, {})
        process.role = "->".join(mine.get("roles", [])) or "-"
        process.model_version, process.learned = mine.get("model_version", 0), mine.get("learned", 0)
        process.status_age_s = mine.get("age_s", float("nan"))
        process.assigned = mine.get("assigned", "")
    result.rss_peak_mb = max(p.rss_peak_mb for p in result.processes)
    result.rss_mb = max(p.rss_mb for p in result.processes)
    result.checkpoints = probe.total(s.topic("checkpoints"))


def py_spy(pid: int, out: Path, seconds: float, workdir: Path) -> subprocess.Popen:
    """py-spy record (raw, 100 Hz, idle stacks and thread ids included) of a process, in the background."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [binary, "record", "-f", "raw", "-r", "100", "--idle", "--threads", "-d", str(max(1, int(seconds))),
         "-o", str(out), "-p", str(pid)],
        stdout=subprocess.DEVNULL, stderr=open(workdir / "py-spy.log", "ab"), stdin=subprocess.DEVNULL,
    )


def paced_latency(s: Settings, probe: Probe, work: Workload, start: int, rate: float, seconds: float,
                  timeout_s: float, alive, warmup_s: float = 1.0) -> dict:
    """(d) features (and labels LABEL_DELAY events late) at ``rate``/s; latency of their predictions."""
    count = min(int(rate * seconds), len(work.features) - start)
    if count <= 0:
        return {}
    predictions = s.topic("predictions")
    before = probe.end_offsets(predictions)
    prod = producer(s, linger_ms=PACED_LINGER_MS)
    ftopic, ltopic = s.topic("features"), s.topic("labels")
    sent_at: dict[bytes, float] = {}
    t0 = time.time()
    # Labels of the backlog's last LABEL_DELAY events were all sent with the backlog: pace from
    # `start`, labels of the paced events only.
    for is_label, i in interleaved(work, start, start + count, flush_labels=False):
        if not is_label:
            due = t0 + (i - start) / rate
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            key, value = work.features[i]
            ts_ms = int(time.time() * 1000)
            sent_at[key] = ts_ms / 1000.0
            prod.send(ftopic, key=key, value=value, timestamp_ms=ts_ms)
        else:
            key, value = work.labels[i]
            prod.send(ltopic, key=key, value=value)
    prod.flush()
    prod.close()
    achieved = count / (time.time() - t0)
    probe.wait_total(predictions, start + count, timeout_s, alive)
    records = probe.records(predictions, before)
    by_ts, by_broker = [], []
    for record in records:
        sent = sent_at.get(record.key)
        if sent is None or sent < t0 + warmup_s:
            continue
        by_ts.append(orjson.loads(record.value)["ts"] - sent)
        by_broker.append(record.timestamp / 1000.0 - sent)
    return {"rate": rate, "achieved": achieved, "events": count, "measured": len(by_ts),
            **{f"ts_{k}": v for k, v in percentiles(by_ts).items()},
            **{f"broker_{k}": v for k, v in percentiles(by_broker).items()}}


def percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    values = sorted(values)

    def at(q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))]

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": values[-1]}


# -- the py-spy profile ------------------------------------------------------------------------
#: (category, substrings of a "function (file:line)" frame), tried from the leaf towards the root:
#: the first frame that matches decides the sample's category (for one frame, the first entry wins).
MARKERS: list[tuple[str, tuple[str, ...]]] = [
    ("checkpoint", ("save_checkpoint (", "maybe_checkpoint (", "core/checkpoint.py", "service/checkpoints.py")),
    ("status/refresh", ("publish_status (", "refresh_metrics (", "maybe_publish_status (", "service/prom.py")),
    ("prometheus", ("prometheus_client/",)),
    ("decode (wire)", ("decode_features (", "decode_labels (")),
    ("encode (wire)", ("encode_prediction (", "encode_joined (", "encode_alert (")),
    ("send calls (Topic.send -> accumulator)", ("Topic.send (", "Channel._send_now (", "Topic.publish_message (",
                                                "Service.dead_letter (")),
    ("model predict", ("predict_proba_one (", "predict_proba_batch (", "Engine.predict (")),
    ("model learn", ("learn_one (", "learn_batch (")),
    ("metrics (prequential)", ("core/metrics.py",)),
    ("thresholds", ("core/thresholds.py",)),
    ("drift monitor", ("core/drift/", "core/alerts.py")),
    ("join buffer", ("core/join.py",)),
    ("aligner", ("core/align.py", "Service._behind (", "Service.enqueue (")),
    ("engine other", ("core/engine.py",)),
    ("producer sender (batches -> socket)", ("aiokafka/producer/", "aiokafka/conn.py", "aiokafka/client.py",
                                            "aiokafka/record/")),
    ("faust consumer/stream (main-thread side)", ("faust/transport/", "faust/streams.py", "faust/channels.py",
                                                  "faust/events.py", "faust/types/tuples.py", "faust/agents/")),
    ("service other (app.py)", ("stream_mlc/service/app.py",)),
]
IDLE_LEAVES = ("EpollSelector.select (", "_PollLikeSelector.select (", "PollSelector.select (", "select (")


def parse_raw(path: Path) -> list[tuple[list[str], int]]:
    samples = []
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples.append((stack.split(";"), int(count)))
    return samples


def categorize(frames: list[str]) -> str:
    if not frames:
        return "other"
    if frames[-1].startswith(IDLE_LEAVES):
        return "idle (waiting in select)"
    for frame in reversed(frames):
        for category, needles in MARKERS:
            if any(needle in frame for needle in needles):
                return category
    if any("asyncio/" in frame or "mode/" in frame for frame in frames):
        return "event loop / mode (scheduling, timers)"
    return "other"


def thread_role(frames: list[str]) -> str:
    text = ";".join(frames)
    if "serve_forever" in text:
        return "prometheus http"
    if "WorkerThread.run" in text or "ServiceThread" in text:
        return "consumer thread (faust's aiokafka)"
    if "run_worker (" in text or "execute_from_commandline" in text:
        return "main (agent, producer)"
    return "other threads"


def summarize_profile(path: Path, top: int = 30) -> dict:
    """Shares of the main thread's samples (idle included) by category and by frame; threads' busy shares."""
    samples = parse_raw(path)
    categories: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    busy: Counter[str] = Counter()
    main = 0
    for frames, count in samples:
        frames = [f for f in frames if not f.startswith(("thread (", "process "))]
        role = thread_role(frames)
        threads[role] += count
        category = categorize(frames)
        if not category.startswith("idle"):  # noqa: SIM102
            busy[role] += count
        if role != "main (agent, producer)":
            continue
        main += count
        categories[category] += count
        for frame in set(_short(f) for f in frames):
            inclusive[frame] += count
        if frames:
            own[_short(frames[-1])] += count
    main = main or 1
    return {
        "samples": main,
        "categories": {k: v / main for k, v in categories.most_common()},
        "inclusive": {k: v / main for k, v in inclusive.most_common(top)},
        "self": {k: v / main for k, v in own.most_common(top)},
        "threads": {k: {"samples": v, "busy": busy[k] / v} for k, v in threads.items()},
    }


def _short(frame: str) -> str:
    # "function (path/to/site-packages/pkg/mod.py:123)" -> "function (pkg/mod.py)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


# -- the report --------------------------------------------------------------------------------
def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(results: dict, crc: dict | None, args) -> None:
    nan = float("nan")
    print()
    print(f"stream-mlc bench service: {args.events} events/scenario ({args.river_events} for {RIVER_MODEL}), "
          f"{FEATURES} features, labels {LABEL_DELAY} events late, one run each; machine: {os.cpu_count()} cores "
          f"(shared: load average {os.getloadavg()[0]:.2f} at the end)")
    print("events/s from broker record timestamps (first output to last; (c): to the last example learned); "
          "cpu ms/ev: the process's and the broker's CPU per event while draining (robust to noise); "
          "(d) latency: prediction ts minus the feature's send time")
    if args.worker_env:
        print(f"worker environment: {' '.join(args.worker_env)}")
    if crc:
        c, p = crc["c"], crc["python"]
        print(f"kafka-python producer, {crc['bytes']:.0f}-byte feature messages, acks=1 linger 5 ms batch 256 KB: "
              f"{c['msg_s']:,.0f} msg/s ({c['mb_s']:.1f} MB/s) with C crc32c ({crc['c_impl']}); "
              f"{p['msg_s']:,.0f} msg/s ({p['mb_s']:.1f} MB/s) with the pure-Python CRC")
    for labels, r in results.items():
        a, b, c, river = r["faust"], r["aiokafka"], r["default"], r["river"]
        print()
        print(f"== {labels} labels ==")
        print(f"{'scenario':<34}{'events':>7}{'ev/s':>8}{'cpu ms/ev':>10}{'broker':>7}{'start s':>8}"
              f"{'p50 ms':>8}{'p99 ms':>8}{'at ev/s':>8}{'RSS MB':>7}")
        print(f"{'(a) Faust pass-through':<34}{a['events']:>7}{a['rate']:>8,.0f}{a.get('cpu_ms', nan):>10.3f}"
              f"{a.get('broker_cpu_ms', nan):>7.3f}{a['startup_s']:>8.1f}")
        print(f"{'(b) raw aiokafka loop':<34}{b['events']:>7}{b['rate']:>8,.0f}{b.get('cpu_ms', nan):>10.3f}"
              f"{b.get('broker_cpu_ms', nan):>7.3f}")
        for w in (c, river):
            print(f"{'(c) worker ' + w.label:<34}{w.events:>7}{w.rate:>8,.0f}{w.cpu_ms:>10.3f}{w.broker_cpu_ms:>7.3f}"
                  f"{w.startup_s:>8.1f}{latency_cells(w.latency)}{w.rss_peak_mb:>7.0f}")
        for w in (c, river):
            lat = w.latency
            if w.events:
                print(f"    {w.label}: {ratio(1000.0, w.cpu_ms):,.0f} ev/s per core of worker CPU; scoring alone "
                      f"{w.score_rate:,.0f} ev/s; {w.checkpoints} checkpoint records; RSS now {w.rss_mb:.0f} MB")
            if lat:
                print(f"    {w.label}: latency at {lat['achieved']:,.0f} ev/s "
                      f"({lat['measured']} events): ts-field p50/p90/p99/max "
                      f"{lat['ts_p50'] * 1e3:.1f}/{lat['ts_p90'] * 1e3:.1f}/{lat['ts_p99'] * 1e3:.1f}/"
                      f"{lat['ts_max'] * 1e3:.1f} ms, record-timestamp p50/p99 {lat['broker_p50'] * 1e3:.1f}/"
                      f"{lat['broker_p99'] * 1e3:.1f} ms")
        print("ratios and goals (by events/s; in brackets by CPU per event, which the shared cores disturb less):")
        rows = [
            ("(c)/(b)  worker / aiokafka", c.rate, b["rate"], c.cpu_ms, b.get("cpu_ms", nan), GOAL_OF_AIOKAFKA),
            ("(c)/(a)  worker / Faust", c.rate, a["rate"], c.cpu_ms, a.get("cpu_ms", nan), GOAL_OF_FAUST),
            ("(c default)/(c river)", c.rate, river.rate, c.cpu_ms, river.cpu_ms, GOAL_OF_RIVER),
            ("(c river)/(b)", river.rate, b["rate"], river.cpu_ms, b.get("cpu_ms", nan), None),
        ]
        for name, rate, other, cpu, other_cpu, goal in rows:
            value = ratio(rate, other)
            goal_text = "" if goal is None else f">= {goal}"
            ok = "" if goal is None or value != value else verdict(value >= goal)  # value != value: skipped
            print(f"  {name:<30}{value:>8.2f} [{ratio(other_cpu, cpu):5.2f}]  {goal_text:<8}{ok}")
        if c.latency:
            p99 = c.latency["ts_p99"]
            what = f"p99 at {c.latency['achieved']:,.0f} ev/s"
            print(f"  {what:<30}{p99 * 1e3:>8.1f} ms       {'< 50 ms':<8}{verdict(p99 < GOAL_P99_S)}")
        print(f"  {'first prediction (default)':<30}{c.startup_s:>8.1f} s        {'< 10 s':<8}"
              f"{verdict(c.startup_s < GOAL_STARTUP_S)}")
    if args.series:
        report_series(results)
    for labels, r in results.items():
        for w in r.get("series", [r["default"]]):
            for process in w.processes:
                if not process.profile:
                    continue
                whose = "" if w.workers == 1 else f" {process.worker_id} ({process.role})"
                print_profile(f"{w.label} worker{whose}, {labels} labels, {args.profile_phase} phase", process.profile,
                              inclusive_top=30 if w.workers == 1 else 15, self_top=15 if w.workers == 1 else 10)


def print_profile(title: str, prof: dict, inclusive_top: int = 30, self_top: int = 15) -> None:
    print()
    print(f"== py-spy profile of the {title} ({prof['samples']} samples at 100 Hz, idle included) ==")
    for role, info in prof["threads"].items():
        print(f"  thread {role}: {info['samples']} samples, busy (not in select) {info['busy'] * 100:.0f}%")
    print("main thread by category (share of its samples; the deepest marker frame decides):")
    for name, share in prof["categories"].items():
        print(f"  {share * 100:6.1f}%  {name}")
    print("main thread, top frames by inclusive share:")
    for name, share in list(prof["inclusive"].items())[:inclusive_top]:
        print(f"  {share * 100:6.1f}%  {name}")
    print("main thread, top frames by self share:")
    for name, share in list(prof["self"].items())[:self_top]:
        print(f"  {share * 100:6.1f}%  {name}")


def latency_cells(lat: dict) -> str:
    """p50, p99 (ms) and the achieved rate of a paced run, 8 characters each."""
    if not lat:
        return f"{'-':>8}" * 3
    return f"{lat['ts_p50'] * 1000:>8.1f}{lat['ts_p99'] * 1000:>8.1f}{lat['achieved']:>8,.0f}"


def report_series(results: dict) -> None:
    """The worker counts side by side; speed-ups and CPU per event against the first run."""
    for labels, r in results.items():
        series = r["series"]
        base = series[0]
        print()
        print(f"== scale-out, {base.model}, {labels} labels: against the first row (x: this / first; "
              f"cpu x above 1 is more CPU per event) ==")
        print(f"{'workers':<16}{'ev/s':>8}{'score ev/s':>11}{'cpu ms/ev':>10}{'broker':>7}{'start s':>8}"
              f"{'p50 ms':>8}{'p99 ms':>8}{'at ev/s':>8}{'RSS MB':>7}{'ev/s x':>8}{'score x':>8}{'cpu x':>7}")
        for w in series:
            print(f"{f'{w.workers} {w.mode}':<16}{w.rate:>8,.0f}{w.score_rate:>11,.0f}{w.cpu_ms:>10.3f}"
                  f"{w.broker_cpu_ms:>7.3f}{w.startup_s:>8.1f}{latency_cells(w.latency)}{w.rss_peak_mb:>7.0f}"
                  f"{ratio(w.rate, base.rate):>8.2f}{ratio(w.score_rate, base.score_rate):>8.2f}"
                  f"{ratio(w.cpu_ms, base.cpu_ms):>7.2f}")
        print_processes(series)


def print_processes(series: list[WorkerResult]) -> None:
    """Each worker of each run: what its last status record says, its CPU and RSS."""
    print("  per worker: role, model version/learned, the status's age (from the last status record), CPU ms/event "
          "while draining, CPU s before the first prediction, RSS peak/now MB, partitions (last status)")
    width = max(len(p.worker_id) for w in series for p in w.processes) + 2
    for w in series:
        for p in w.processes:
            version = f"v{p.model_version}/{p.learned}"
            print(f"    {f'{w.workers} {w.mode}':<10}{p.worker_id:<{width}}{p.role:<16}{version:<14}"
                  f"{p.status_age_s:>5.1f} s{p.cpu_ms:>7.3f} ms/ev{p.startup_cpu_s:>6.1f} s"
                  f"{p.rss_peak_mb:>6.0f}/{p.rss_mb:.0f} MB  {p.assigned}")


def run_series(sc: Scenarios, work: Workload, labels: int, args, extra_env: dict) -> list[WorkerResult]:
    """(c) to (f) of the default learner for each (worker count, mode) of ``args.runs``."""
    series = []
    for count, mode in args.runs:
        w = run_worker(sc, work, args.model, args.events, latency_s=args.latency_seconds, timeout_s=args.timeout,
                       profile=profile_path(args, labels, count, mode), profile_s=args.profile_seconds,
                       extra_env=extra_env, profile_phase=args.profile_phase, latency_rate=args.latency_rate,
                       workers=count, mode=mode)
        print(f"  (c) {w.label}: {w.rate:,.0f} ev/s, first prediction after {w.startup_s:.1f} s", flush=True)
        series.append(w)
    return series


def profile_path(args, labels: int, count: int, mode: str) -> Path | None:
    """Where py-spy writes the profile of a run (of the first label count only); None: no profile."""
    if args.profile is None or labels != args.labels[0]:
        return None
    args.profile.mkdir(parents=True, exist_ok=True)
    suffix = f"-{count}{mode}" if args.series else ""
    return args.profile / f"worker-{labels}labels{suffix}.raw.txt"


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)


def default_model() -> str:
    from stream_mlc.core.models import available

    return DEFAULT_MODEL if DEFAULT_MODEL in available() else Settings.from_env(environ={}).model


def worker_counts(text: str) -> list[int]:
    """``"1,2"`` -> ``[1, 2]``."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected worker counts like 1,2") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: worker counts are at least 1")
    return counts


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options; ``runs``: (worker count, mode) of each default-model run; ``series``: compare them."""
    parser = argparse.ArgumentParser(prog="stream-mlc bench service", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=30_000, help="backlog events per scenario")
    parser.add_argument("--river-events", type=int, help=f"backlog events for {RIVER_MODEL} (default: events / 3)")
    parser.add_argument("--labels", type=int, nargs="+", default=[14, 100])
    parser.add_argument("--model", default=None, help="the default learner's spec (default: native-mlc)")
    parser.add_argument("--workers", type=worker_counts, metavar="N[,N...]",
                        help="run the default learner with each of these numbers of worker processes (one consumer "
                             "group) and compare them to the first, e.g. 1,2 (default: one worker, no comparison)")
    parser.add_argument("--mode", choices=["single", "scaled"],
                        help="the workers' STREAM_MLC_MODE (default: single for one worker, scaled for more)")
    parser.add_argument("--latency-seconds", type=float, default=8.0, help="paced run after each backlog (0: skip)")
    parser.add_argument("--latency-rate", type=float, default=0.0,
                        help="paced rate in events/s (default: half of the backlog rate measured just before)")
    parser.add_argument("--timeout", type=float, default=300.0, help="per-scenario timeout, seconds")
    parser.add_argument("--profile", type=Path, help="py-spy the default-model worker's backlog; raw output here")
    parser.add_argument("--profile-seconds", type=float, default=20.0)
    parser.add_argument("--profile-phase", choices=["backlog", "latency"], default="backlog",
                        help="profile the backlog drain (default) or the paced latency run")
    parser.add_argument("--skip", nargs="*", default=[], choices=["faust", "aiokafka", "river", "crc"])
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    parser.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment of the worker processes (e.g. STREAM_MLC_MAX_POLL_RECORDS=500)")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    counts = args.workers or [1]
    if args.mode == "single" and max(counts) > 1:
        parser.error("--mode single runs one worker; more need --mode scaled")
    args.runs = [(count, args.mode or ("single" if count == 1 else "scaled")) for count in counts]
    args.series = args.workers is not None or args.mode is not None
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args.child)
    # Stop cleanly (workers, children, broker) on SIGTERM, and on SIGINT even when started in the
    # background (a non-interactive shell starts background jobs with SIGINT ignored).
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args.model = args.model or default_model()
    args.river_events = args.river_events or max(1000, args.events // 3)
    extra_env = dict(item.split("=", 1) for item in args.worker_env)
    run = f"b{os.getpid()}-{int(time.time()) % 100000}"
    began = time.monotonic()
    results: dict = {}
    crc = None
    with tempfile.TemporaryDirectory(prefix="stream-mlc-bench-") as tmp:
        workdir = Path(tmp)
        cwd = os.getcwd()
        os.chdir(workdir)  # Faust apps make their data directories in the working directory
        try:
            with EmbeddedBroker(log_path=workdir / "tansu.log") as broker:
                base = Settings.from_env(environ={}, broker=broker.bootstrap)
                sc = Scenarios(base, workdir, run, broker.process.pid)
                most = max(count for count, _ in args.runs)
                extra = int(max(args.latency_seconds, 0) * max(args.latency_rate, 2500 * most)) + LABEL_DELAY
                for labels in args.labels:
                    step = time.monotonic()
                    work = make_workload(args.events + extra, labels)
                    print(f"[{labels} labels] workload: {len(work.features)} events, "
                          f"{work.mean_feature_bytes:.0f} bytes per feature message "
                          f"({time.monotonic() - step:.1f} s)", flush=True)
                    if crc is None and "crc" not in args.skip:
                        s = sc.settings("crc")
                        crc = crc_comparison(s, work, min(args.events, 20_000))
                        crc["bytes"] = work.mean_feature_bytes
                        print(f"  kafka-python: {crc['c']['msg_s']:,.0f} msg/s (C crc32c), "
                              f"{crc['python']['msg_s']:,.0f} msg/s (pure Python)", flush=True)
                    r: dict = {}
                    if "faust" not in args.skip:
                        r["faust"] = run_child(sc, work, args.events, "faust", args.timeout)
                        print(f"  (a) faust: {r['faust']['rate']:,.0f} ev/s", flush=True)
                    else:
                        r["faust"] = {"events": 0, "rate": float("nan"), "startup_s": float("nan")}
                    if "aiokafka" not in args.skip:
                        r["aiokafka"] = run_child(sc, work, args.events, "aiokafka", args.timeout)
                        print(f"  (b) aiokafka: {r['aiokafka']['rate']:,.0f} ev/s", flush=True)
                    else:
                        r["aiokafka"] = {"events": 0, "rate": float("nan")}
                    series = run_series(sc, work, labels, args, extra_env)
                    r["default"] = series[0]
                    if args.series:
                        r["series"] = series
                    if "river" not in args.skip:
                        r["river"] = run_worker(sc, work, RIVER_MODEL, args.river_events,
                                                latency_s=args.latency_seconds, timeout_s=args.timeout,
                                                extra_env=extra_env, latency_rate=args.latency_rate)
                        print(f"  (c) {RIVER_MODEL}: {r['river'].rate:,.0f} ev/s", flush=True)
                    else:
                        r["river"] = WorkerResult(RIVER_MODEL, 0, rate=float("nan"))
                    results[labels] = r
                    print(f"  ({time.monotonic() - step:.0f} s)", flush=True)
        finally:
            os.chdir(cwd)
    report(results, crc, args)
    print(f"\n(the whole bench took {time.monotonic() - began:.0f} s)")
    if args.json:
        doc = {str(k): {name: as_json(v) for name, v in r.items()} for k, r in results.items()}
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "crc": crc,
                                         "results": doc}, indent=2))
    return 0


def as_json(value):
    if isinstance(value, WorkerResult):
        return asdict(value)
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value


# -- child processes ----------------------------------------------------------------------------
def child(argv: list[str]) -> int:
    kind, rest = argv[0], argv[1:]
    if kind == "faust":
        return faust_passthrough(*rest)
    if kind == "aiokafka":
        return asyncio.run(aiokafka_loop(*rest))
    raise SystemExit(f"unknown child {kind!r}")


def small_prediction(doc: dict, scores: dict) -> bytes:
    """A prediction of the worker's shape and size, computed from nothing."""
    return orjson.dumps({"id": doc["id"], "labels": [], "scores": scores, "thresholds": scores,
                         "model_version": 0, "ts": time.time()})


def faust_passthrough(bootstrap: str, app_id: str, in_topic: str, out_topic: str, labels: str, linger_ms: str,
                      max_poll: str) -> int:
    """(a): the worker's App settings, an agent that decodes each event and sends a prediction."""
    import faust

    from stream_mlc.service.worker import _worker_class

    app = faust.App(
        app_id, broker=f"kafka://{bootstrap}", key_serializer="raw", value_serializer="raw",
        processing_guarantee="at_least_once", broker_session_timeout=5.0, broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=5.0, broker_commit_interval=1.0, broker_max_poll_records=int(max_poll),
        consumer_auto_offset_reset="earliest", producer_linger=int(linger_ms) / 1000.0, topic_partitions=4,
        web_enabled=False,
    )
    source, sink = app.topic(in_topic), app.topic(out_topic)
    scores = {f"y{j}": 0.5 for j in range(int(labels))}

    @app.agent(source, name="passthrough")
    async def passthrough(stream):
        async for key, value in stream.items():
            await sink.send(key=key, value=small_prediction(orjson.loads(value), scores))

    worker = _worker_class()(app, loglevel="WARNING", quiet=True)
    worker.execute_from_commandline()
    return 0


async def aiokafka_loop(bootstrap: str, in_topic: str, out_topic: str, n: str, labels: str, linger_ms: str) -> int:
    """(b): getmany, decode, send through the accumulator; stops after n events."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    total = int(n)
    scores = {f"y{j}": 0.5 for j in range(int(labels))}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=int(linger_ms), acks=1,
                                enable_idempotence=False, max_batch_size=256 * 1024)
    await consumer.start()
    await producer.start()
    try:
        partitions = None
        while not partitions:
            partitions = consumer.partitions_for_topic(in_topic)
            if not partitions:
                await consumer._client.force_metadata_update()
                await asyncio.sleep(0.05)
        tps = [TopicPartition(in_topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        count = 0
        while count < total:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            for messages in batches.values():
                for message in messages:
                    await producer.send(out_topic, small_prediction(orjson.loads(message.value), scores),
                                        key=message.key)
                    count += 1
        await producer.flush()
    finally:
        await producer.stop()
        await consumer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
