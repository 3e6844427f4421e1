"""How long a clean restart takes, and that it loses nothing, for a large model.

``stream-mlc bench restart [--labels 100] [--features 1000] [--model SPEC]`` starts the
embedded broker and a worker, streams enough events for the model to know every label
and feature, stops the worker with SIGTERM (it writes a checkpoint on the way out),
starts it again, and measures: the stop, the checkpoint's size, and the time from the new
process's start to its first prediction of a fresh event, and whether every example
learned before the stop is still learned after it.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from stream_mlc.io.datasets import open_dataset
from stream_mlc.service.admin import create_topics
from stream_mlc.service.broker import EmbeddedBroker, free_port
from stream_mlc.service.checkpoints import read_checkpoint
from stream_mlc.service.process import WorkerProcess
from stream_mlc.service.producer import replay
from stream_mlc.service.reader import wait_until
from stream_mlc.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stream-mlc bench restart", description=__doc__)
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--features", type=int, default=1000)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--model", default=None, help="model spec (default: the service's default)")
    args = parser.parse_args(argv)
    spec = f"synthetic:n={args.events + 1},features={args.features},labels={args.labels},seed=3"
    records = list(open_dataset(spec))
    first, fresh = records[:-1], records[-1:]
    workdir = Path(tempfile.mkdtemp(prefix="stream-mlc-restart-"))
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        settings = Settings.from_env(broker=broker.bootstrap, web_port=free_port(), metrics_port=free_port(),
                                     model=args.model, checkpoint_interval_s=3600, checkpoint_every=10**9)
        create_topics(settings)
        worker = WorkerProcess.start(settings, workdir / "worker-1.log")
        replay(first, settings, label_delay=0)
        state = asyncio.run(wait_until(settings, lambda s: s["status"].get("learned", 0) >= len(first),
                                       timeout_s=600))
        learned_before = state["status"]["learned"]
        stop_s = worker.stop()
        checkpoint_bytes = len(asyncio.run(read_checkpoint(settings))[0])
        start = time.monotonic()
        worker = WorkerProcess.start(settings, workdir / "worker-2.log")
        replay(fresh, settings, label_delay=0)
        state = asyncio.run(wait_until(
            settings, lambda s: s["predictions"] >= len(records) and s["status"].get("learned", 0) > learned_before,
            timeout_s=600))
        restart_s = time.monotonic() - start
        learned_after = state["status"]["learned"]
        worker.stop()
    print(f"model {settings.model}: {args.labels} labels x {args.features} features, {len(first)} events learned")
    print(f"SIGTERM stop             {stop_s:8.2f} s")
    print(f"checkpoint               {checkpoint_bytes / 1e6:8.2f} MB")
    print(f"restart to a prediction  {restart_s:8.2f} s   (goal < 10 s)")
    print(f"learned before / after   {learned_before} / {learned_after} (the fresh event adds 1; goal: nothing lost)")
    return 0 if learned_after == learned_before + 1 else 1
