"""Where a worker's time goes: a py-spy profile, summarised by part of the service and by frame.

``py-spy record -f raw`` writes one line per distinct stack, ``frame;frame;... count``, each
frame ``function (path:line)``, root first. A sample of the worker's main thread is put in
one category:

1. a stack inside the shell's periodic work (:data:`CONTEXTS`: checkpoints and snapshots,
   status and metrics export) counts for that work, whatever it calls: building a checkpoint
   walks the engine, which must not read as time spent learning;
2. otherwise the deepest frame that names a part (:data:`MARKERS`, tried from the leaf
   towards the root; for one frame, the first entry that matches) decides. A learner's
   helpers are named by the entry point above them (``learn_one``, ``predict_proba_one``...);
   one called from elsewhere (a drift reaction) counts for its caller;
3. otherwise the event loop, or other.

A sample whose leaf waits in ``select`` is idle.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

#: (category, substrings of a frame): the shell's periodic work, matched anywhere in the stack.
CONTEXTS: list[tuple[str, tuple[str, ...]]] = [
    ("checkpoints, model snapshots", (
        "Checkpointer.", "core/checkpoint.py", "service/checkpoints.py", "checkpoint (", "publish_snapshot (",
        "ScoringRole.load (", "ScoringRole.load_manifest (")),
    ("status, prometheus, housekeeping", (
        "StatusPublisher.", "refresh_metrics (", "service/prom.py", "prometheus_client/", "account (",
        "worker_status (", ".status (", "housekeeping (", "count_join_changes (")),
]

#: (category, substrings of a frame), tried from the leaf towards the root.
MARKERS: list[tuple[str, tuple[str, ...]]] = [
    ("wire decode (wire.py)", ("decode_features (", "decode_labels (", "decode_learn (", "unpack_records (")),
    ("wire encode (wire.py)", ("encode_prediction (", "encode_joined (", "encode_scored (", "encode_labels (",
                               "encode_alert (", "pack_records (", "dead_letter (")),
    ("learners: predict", ("predict_proba_one (", "predict_proba_batch (", "predict_proba_many (",
                           "predict_one (", "predict_many (")),
    ("learners: learn", ("learn_one (", "learn_batch (", "learn_many (", "test_then_train_batch (")),
    ("decide (core/snapshot.py, decision, calibration)", ("core/snapshot.py", "core/decision.py",
                                                          "core/calibration", "core/rules.py")),
    ("thresholds (core/thresholds.py)", ("core/thresholds.py",)),
    ("metrics (core/metrics.py)", ("core/metrics.py",)),
    ("drift (core/drift, alerts)", ("core/drift/", "core/alerts.py")),
    ("join buffer (core/join.py)", ("core/join.py",)),
    ("feature encoding (core/features.py)", ("core/features.py",)),
    ("engine other (core/engine.py)", ("core/engine.py",)),
    ("aligner (core/align.py)", ("core/align.py",)),
    ("dispatch (core/processor.py)", ("core/processor.py",)),
    ("roles (core/roles.py)", ("core/roles.py",)),
    ("aiokafka producer (send, accumulator, sender)", ("aiokafka/producer/", "aiokafka/record/", "aiokafka/conn.py",
                                                       "aiokafka/client.py", "Producer.send (")),
    ("outputs (service/shell.py: Outputs, records)", ("service/shell.py",)),
    ("Faust internals (consumer, stream, Event, agent, acks)", ("faust/",)),
    ("service other (app.py, scaled.py, batchfeed.py)", ("service/app.py", "service/scaled.py",
                                                         "service/batchfeed.py")),
]
IDLE = "idle (waiting in select)"
EVENT_LOOP = "event loop (asyncio, mode: scheduling, timers)"
MAIN = "main (agent, producer)"
IDLE_LEAVES = ("EpollSelector.select (", "_PollLikeSelector.select (", "PollSelector.select (", "select (")


def parse_raw(path: Path) -> list[tuple[list[str], int]]:
    """(frames root first, sample count) of each line of a py-spy raw profile."""
    samples = []
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples.append((stack.split(";"), int(count)))
    return samples


def categorize(frames: list[str]) -> str:
    """The category of one sample's stack (root first).

    >>> categorize(["run (app.py:1)", "Service.release (stream_mlc/service/app.py:9)",
    ...             "Dispatch.handle (stream_mlc/core/processor.py:3)", "decode_features (stream_mlc/wire.py:40)"])
    'wire decode (wire.py)'
    >>> categorize(["Checkpointer.maybe (stream_mlc/service/shell.py:1)",
    ...             "EventTimeProcessor.checkpoint (stream_mlc/core/roles.py:5)"])
    'checkpoints, model snapshots'
    >>> categorize(["Outputs.send (stream_mlc/service/shell.py:9)", "Producer.send (faust/transport/x.py:1)"])
    'aiokafka producer (send, accumulator, sender)'
    >>> categorize(["run_forever (asyncio/base_events.py:1)", "EpollSelector.select (selectors.py:2)"])
    'idle (waiting in select)'
    """
    if not frames:
        return "other"
    if frames[-1].startswith(IDLE_LEAVES):
        return IDLE
    for category, needles in CONTEXTS:
        if any(needle in frame for frame in frames for needle in needles):
            return category
    for frame in reversed(frames):
        for category, needles in MARKERS:
            if any(needle in frame for needle in needles):
                return category
    if any("asyncio/" in frame or "mode/" in frame for frame in frames):
        return EVENT_LOOP
    return "other"


def thread_role(frames: list[str]) -> str:
    text = ";".join(frames)
    if "serve_forever" in text:
        return "prometheus http"
    if "WorkerThread.run" in text or "ServiceThread" in text:
        return "consumer thread (faust's aiokafka)"
    if "run_worker (" in text or "execute_from_commandline" in text:
        return MAIN
    return "other threads"


def summarize_profile(path: Path, top: int = 30) -> dict:
    """Shares of the main thread's samples (idle included) by category and by frame; threads' busy shares."""
    categories: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    busy: Counter[str] = Counter()
    main = 0
    for frames, count in parse_raw(path):
        frames = [f for f in frames if not f.startswith(("thread (", "process "))]
        role = thread_role(frames)
        threads[role] += count
        category = categorize(frames)
        if category != IDLE:
            busy[role] += count
        if role != MAIN:
            continue
        main += count
        categories[category] += count
        for frame in set(short(f) for f in frames):
            inclusive[frame] += count
        if frames:
            own[short(frames[-1])] += count
    main = main or 1
    return {
        "samples": main,
        "categories": {k: v / main for k, v in categories.most_common()},
        "inclusive": {k: v / main for k, v in inclusive.most_common(top)},
        "self": {k: v / main for k, v in own.most_common(top)},
        "threads": {k: {"samples": v, "busy": busy[k] / v} for k, v in threads.items()},
    }


def short(frame: str) -> str:
    """A frame without its line and install prefix.

    >>> short("send (/x/lib/python3.11/site-packages/aiokafka/producer/producer.py:123)")
    'send (aiokafka/producer/producer.py)'
    """
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def py_spy(pid: int, out: Path, seconds: float, workdir: Path) -> subprocess.Popen:
    """py-spy record (raw, 100 Hz, idle stacks and thread ids included) of a process, in the background."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [binary, "record", "-f", "raw", "-r", "100", "--idle", "--threads", "-d", str(max(1, int(seconds))),
         "-o", str(out), "-p", str(pid)],
        stdout=subprocess.DEVNULL, stderr=open(workdir / "py-spy.log", "ab"), stdin=subprocess.DEVNULL,
    )


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
