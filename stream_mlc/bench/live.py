"""``stream-mlc bench live``: does a live worker fed at full speed score as the offline run does?

A data set is posted to an embedded broker as fast as the producer goes (labels
``--label-delay`` events after their features), while one single-mode worker consumes it.
When it has learned every label, its prequential metrics are printed beside those of
``evaluate`` with the same label delay (the same core, no Kafka), and the difference. Issue
11's goal: within 0.01 micro-F1, on order-sensitive streams (scene's file order) too.

Run: ``stream-mlc bench live --dataset ../shared/datasets/scene/scene.arff --label-delay 200``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from stream_mlc.evaluate import prequential
from stream_mlc.io.datasets import open_dataset
from stream_mlc.service.admin import create_topics
from stream_mlc.service.broker import EmbeddedBroker, free_port
from stream_mlc.service.process import WorkerProcess
from stream_mlc.service.producer import replay
from stream_mlc.service.reader import wait_until
from stream_mlc.settings import Settings

METRICS = ("micro_f1", "macro_f1", "example_f1", "hamming_loss", "subset_accuracy")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="stream-mlc bench live", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", default="yeast", help="yeast, synthetic:..., or an ARFF / JSONL path")
    parser.add_argument("--label-delay", type=int, default=200, help="labels come this many events late")
    parser.add_argument("--model", default=None, help="model spec (default: the service's)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N events")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the worker")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = open_dataset(args.dataset, limit=args.limit)
    records = list(data)
    workdir = Path(tempfile.mkdtemp(prefix="stream-mlc-live-"))
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        settings = Settings.from_env(broker=broker.bootstrap, web_port=free_port(), metrics_port=0,
                                     model=args.model, labels=",".join(data.label_names))
        create_topics(settings)
        worker = WorkerProcess.start(settings, workdir / "worker.log")
        try:
            replay(records, settings, label_delay=args.label_delay)
            state = asyncio.run(wait_until(settings, lambda s: s["status"].get("learned", -1) >= len(records),
                                           timeout_s=args.timeout))
        finally:
            worker.stop()
    live = state["status"]["metrics"]["cumulative"]
    offline = prequential(data, settings.model, label_delay=args.label_delay).metrics
    print(f"{data.name}: {len(records)} events, labels {args.label_delay} events late, model {settings.model}")
    print(f"{'metric':<18}{'live':>10}{'offline':>10}{'difference':>12}")
    for name in METRICS:
        print(f"{name:<18}{live[name]:>10.4f}{offline[name]:>10.4f}{live[name] - offline[name]:>+12.4f}")
    gap = abs(live["micro_f1"] - offline["micro_f1"])
    print(f"micro-F1 gap {gap:.4f} ({'met' if gap <= 0.01 else 'NOT met'}: goal <= 0.01)")
    return 0 if gap <= 0.01 else 1
