"""(c) to (f): the real worker processes over a preloaded backlog, then paced.

``run_worker`` starts ``stream-mlc worker`` processes (one consumer group) over a backlog of
features with their labels :data:`~stream_mlc.bench.service.workload.LABEL_DELAY` events
late and measures (c) events/s from the first prediction to the last record of the training
topic (one per learned example), (e) the start-up to the first prediction, (d) the latency at
half that rate and (f) each worker's peak RSS; roles and model versions from the status topic.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from stream_mlc.bench.service.children import stop
from stream_mlc.bench.service.probe import Drain, Probe, proc_status
from stream_mlc.bench.service.profile import finish_profiles, start_profiles
from stream_mlc.bench.service.workload import Scenarios, Workload, interleaved, preload, producer
from stream_mlc.service.broker import free_port
from stream_mlc.service.process import WorkerProcess
from stream_mlc.settings import Settings

#: The paced producer's linger (ms): part of the measured latency, and it keeps the broker's load sane.
PACED_LINGER_MS = 2


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


@dataclass(frozen=True)
class Profiling:
    """py-spy the workers of a run: over the backlog or over the paced run; raw output to ``path``."""

    path: Path | None = None
    seconds: float = 20.0
    phase: str = "backlog"  # or "latency"

    def during(self, phase: str) -> bool:
        return self.path is not None and self.phase == phase


def run_worker(sc: Scenarios, work: Workload, model: str, n: int, *, latency_s: float, timeout_s: float,
               profiling: Profiling = Profiling(), extra_env: dict | None = None, latency_rate: float = 0.0,
               workers: int = 1, mode: str = "single") -> WorkerResult:
    """(c) backlog throughput, (e) start-up, then (d) latency at half load, then (f) peak RSS.

    ``workers`` processes of ``mode``, in one consumer group, started at once: CPU summed over them;
    role, RSS, CPU and profile (numbered when several) of each.
    """
    tag = model.split(":")[0] + ("" if (workers, mode) == (1, "single") else f"-{workers}{mode}")
    s = sc.settings(tag, model=model, mode=mode)
    preload(s, work, n)
    run = WorkerRun(sc, s, WorkerResult(model, n, workers=workers, mode=mode), timeout_s)
    try:
        run.start(extra_env)
        run.backlog(profiling)
        if latency_s > 0:
            run.paced(work, latency_rate or 0.5 * run.result.rate, latency_s, profiling)
        measure_processes(run.result, run.probe, s)
    finally:
        run.stop()
    return run.result


class WorkerRun:
    """The worker processes of one run, and what is measured of them."""

    def __init__(self, sc: Scenarios, s: Settings, result: WorkerResult, timeout_s: float):
        self.sc, self.s, self.result, self.timeout_s = sc, s, result, timeout_s
        self.probe = Probe(s)
        self.configs = worker_settings(s, result.workers)
        self.procs: list[WorkerProcess] = []
        self.spies: list[subprocess.Popen] = []
        self.started = 0.0

    @property
    def pids(self) -> list[int]:
        return [p.process.pid for p in self.procs]

    def alive(self) -> bool:
        return all(p.process.poll() is None for p in self.procs)

    def start(self, extra_env: dict | None) -> None:
        self.started = time.time()
        self.procs = [WorkerProcess.start(w, self.sc.workdir / f"{w.worker_id}.log", extra_env=extra_env)
                      for w in self.configs]

    def backlog(self, profiling: Profiling) -> None:
        """(c) and (e): the backlog drained, from the first prediction to the last example learned."""
        s, n, result = self.s, self.result.events, self.result
        predictions, training = s.topic("predictions"), s.topic("training")
        drain = Drain(self.pids, self.sc.broker_pid)
        drain.first_output(self.probe, predictions, self.timeout_s, self.alive)
        self._profile_start(profiling, "backlog", profiling.seconds)
        self.probe.wait_total(training, n, self.timeout_s, self.alive)
        self.probe.wait_total(predictions, n, self.timeout_s, self.alive)
        *cpu, result.broker_cpu_ms = drain.cpu_ms_by_process(n)
        result.cpu_ms = sum(cpu)
        result.processes = [ProcessResult(w.worker_id, pid, cpu_ms=ms, startup_cpu_s=before)
                            for w, pid, ms, before in zip(self.configs, self.pids, cpu, drain.cpu[:-1], strict=True)]
        self._profile_finish(profiling, "backlog", profiling.seconds)
        first, last_pred = self.probe.first_timestamp(predictions), self.probe.last_timestamp(predictions)
        result.seconds = self.probe.last_timestamp(training) - first
        result.rate = n / result.seconds
        result.score_rate = n / max(last_pred - first, 1e-9)
        result.startup_s = first - self.started

    def paced(self, work: Workload, rate: float, seconds: float, profiling: Profiling) -> None:
        """(d): features (and their labels) at ``rate``; the latency of their predictions."""
        self._profile_start(profiling, "latency", seconds)
        self.result.latency = paced_latency(self.s, self.probe, work, self.result.events, rate, seconds,
                                            self.timeout_s, self.alive)
        self._profile_finish(profiling, "latency", seconds)

    def _profile_start(self, profiling: Profiling, phase: str, seconds: float) -> None:
        if profiling.during(phase):
            self.spies = start_profiles(self.pids, profiling.path, seconds, self.sc.workdir)

    def _profile_finish(self, profiling: Profiling, phase: str, seconds: float) -> None:
        if not (profiling.during(phase) and self.spies):
            return
        profiles = finish_profiles(self.spies, profiling.path, seconds + 30)
        for process, summary in zip(self.result.processes, profiles, strict=True):
            process.profile = summary
        self.result.profile = profiles[0]

    def stop(self) -> None:
        for spy in self.spies:
            if spy.poll() is None:
                stop(spy)
        for process in self.procs:
            process.stop()
        self.probe.close()


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
    """p50, p90, p99 and max of ``values`` (nearest rank); empty for no values.

    >>> percentiles([float(v) for v in range(1, 101)])
    {'p50': 51.0, 'p90': 91.0, 'p99': 100.0, 'max': 100.0}
    """
    if not values:
        return {}
    values = sorted(values)

    def at(q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))]

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": values[-1]}
