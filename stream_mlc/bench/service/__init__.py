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

The report ends with issue 11's goals at each label count: worker / Faust pass-through
(>= 2x) and worker / raw aiokafka loop (>= 0.4x), first prediction under 5 s, p99 under 50 ms,
and for scaled runs at least 20,000 learned examples/s.

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
the backlog (``--profile-phase latency``: over the paced run), summarised by part (the
dispatch, roles, aligner, wire decode and encode, learners, thresholds, metrics, drift, join,
the shell's outputs, checkpoints and status, Faust, the aiokafka producer, the event loop)
and by frame; ``--worker-env NAME=VALUE`` runs the workers with extra environment (settings
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
import json
import os
import signal
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from stream_mlc.bench.service.children import child, run_child
from stream_mlc.bench.service.profile import categorize, numbered, summarize_profile
from stream_mlc.bench.service.report import RIVER_MODEL, report
from stream_mlc.bench.service.workers import (
    ProcessResult,
    Profiling,
    WorkerResult,
    partitions_text,
    run_worker,
)
from stream_mlc.bench.service.workload import LABEL_DELAY, Scenarios, Workload, crc_comparison, make_workload
from stream_mlc.settings import Settings

__all__ = ["main", "parse_args", "numbered", "partitions_text", "categorize", "summarize_profile",
           "ProcessResult", "WorkerResult", "Workload", "worker_counts"]

DEFAULT_MODEL = "native-mlc"


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


def worker_counts(text: str) -> list[int]:
    """``"1,2"`` -> ``[1, 2]``.

    >>> worker_counts("1,2")
    [1, 2]
    """
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected worker counts like 1,2") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: worker counts are at least 1")
    return counts


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
    began = time.monotonic()
    results, crc = run_all(args)
    report(results, crc, args)
    print(f"\n(the whole bench took {time.monotonic() - began:.0f} s)")
    if args.json:
        doc = {str(k): {name: as_json(v) for name, v in r.items()} for k, r in results.items()}
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "crc": crc,
                                         "results": doc}, indent=2))
    return 0


def run_all(args) -> tuple[dict, dict | None]:
    """Every label count's scenarios on one embedded broker, in a scratch working directory."""
    from stream_mlc.service.broker import EmbeddedBroker

    run = f"b{os.getpid()}-{int(time.time()) % 100000}"
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
                for labels in args.labels:
                    step = time.monotonic()
                    work = make_workload(args.events + extra_events(args), labels)
                    print(f"[{labels} labels] workload: {len(work.features)} events, "
                          f"{work.mean_feature_bytes:.0f} bytes per feature message "
                          f"({time.monotonic() - step:.1f} s)", flush=True)
                    if crc is None and "crc" not in args.skip:
                        crc = run_crc(sc, work, args)
                    results[labels] = run_labels(sc, work, labels, args)
                    print(f"  ({time.monotonic() - step:.0f} s)", flush=True)
        finally:
            os.chdir(cwd)
    return results, crc


def extra_events(args) -> int:
    """Events beyond the backlog: the paced run's, and the labels of the backlog's last events."""
    most = max(count for count, _ in args.runs)
    return int(max(args.latency_seconds, 0) * max(args.latency_rate, 2500 * most)) + LABEL_DELAY


def run_crc(sc: Scenarios, work: Workload, args) -> dict:
    crc = crc_comparison(sc.settings("crc"), work, min(args.events, 20_000))
    crc["bytes"] = work.mean_feature_bytes
    print(f"  kafka-python: {crc['c']['msg_s']:,.0f} msg/s (C crc32c), "
          f"{crc['python']['msg_s']:,.0f} msg/s (pure Python)", flush=True)
    return crc


def run_labels(sc: Scenarios, work: Workload, labels: int, args) -> dict:
    """(a) and (b), then (c) to (f) of each default-learner run and of River's, at one label count."""
    r: dict = {}
    for name, tag in (("faust", "a"), ("aiokafka", "b")):
        if name in args.skip:
            r[name] = {"events": 0, "rate": float("nan"), "startup_s": float("nan")}
            continue
        r[name] = run_child(sc, work, args.events, name, args.timeout)
        print(f"  ({tag}) {name}: {r[name]['rate']:,.0f} ev/s", flush=True)
    series = run_series(sc, work, labels, args)
    r["default"] = series[0]
    if args.series:
        r["series"] = series
    if "river" in args.skip:
        r["river"] = WorkerResult(RIVER_MODEL, 0, rate=float("nan"))
    else:
        r["river"] = run_worker(sc, work, RIVER_MODEL, args.river_events, latency_s=args.latency_seconds,
                                timeout_s=args.timeout, extra_env=worker_env(args), latency_rate=args.latency_rate)
        print(f"  (c) {RIVER_MODEL}: {r['river'].rate:,.0f} ev/s", flush=True)
    return r


def run_series(sc: Scenarios, work: Workload, labels: int, args) -> list[WorkerResult]:
    """(c) to (f) of the default learner for each (worker count, mode) of ``args.runs``."""
    series = []
    for count, mode in args.runs:
        profiling = Profiling(profile_path(args, labels, count, mode), args.profile_seconds, args.profile_phase)
        w = run_worker(sc, work, args.model, args.events, latency_s=args.latency_seconds, timeout_s=args.timeout,
                       profiling=profiling, extra_env=worker_env(args), latency_rate=args.latency_rate,
                       workers=count, mode=mode)
        print(f"  (c) {w.label}: {w.rate:,.0f} ev/s, first prediction after {w.startup_s:.1f} s", flush=True)
        series.append(w)
    return series


def worker_env(args) -> dict[str, str]:
    """``--worker-env NAME=VALUE`` options as a mapping.

    >>> worker_env(argparse.Namespace(worker_env=["A=1", "B=x=y"]))
    {'A': '1', 'B': 'x=y'}
    """
    return dict(item.split("=", 1) for item in args.worker_env)


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


def as_json(value):
    if isinstance(value, WorkerResult):
        return asdict(value)
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value
