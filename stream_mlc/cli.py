"""The ``stream-mlc`` command line."""

from __future__ import annotations

import os

# One BLAS thread: the learners multiply small matrices, where threads only contend
# (measured 2-4x slower on 2 cores). Must be set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import asyncio
import sys
import time

from stream_mlc.errors import StreamMlcError
from stream_mlc.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except StreamMlcError as error:
        print(f"stream-mlc: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _settings(args) -> Settings:
    return Settings.from_env(
        broker=getattr(args, "broker", None),
        model=getattr(args, "model", None),
        worker_id=getattr(args, "worker_id", None),
        web_port=getattr(args, "web_port", None),
        topic_prefix=getattr(args, "topic_prefix", None),
        partitions=getattr(args, "partitions", None),
    )


def _add_broker(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", help="host:port or kafka://host:port (default: $STREAM_MLC_BROKER)")
    parser.add_argument("--topic-prefix", help="topic name prefix (default: $STREAM_MLC_TOPIC_PREFIX or 'mlc.')")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stream-mlc", description=__doc__)
    commands = parser.add_subparsers(title="commands")

    demo = commands.add_parser("demo", help="run the whole service on an embedded broker with River's Yeast")
    demo.add_argument("--dataset", default="yeast")
    demo.add_argument("--label-delay", type=int, default=200)
    demo.add_argument("--model", help="model spec (default: the service's default)")
    demo.set_defaults(run=_demo)

    broker = commands.add_parser("broker", help="run the embedded Kafka-compatible broker (Tansu) on loopback")
    broker.add_argument("--port", type=int, default=9092)
    broker.set_defaults(run=_broker)

    topics = commands.add_parser("topics", help="manage the service's topics")
    topic_commands = topics.add_subparsers(title="topic commands")
    create = topic_commands.add_parser("create", help="create the topics described in topics/")
    _add_broker(create)
    create.add_argument("--partitions", type=int, help="override the partition count of partitioned topics")
    create.set_defaults(run=_topics_create)

    worker = commands.add_parser("worker", help="run a worker: score, join labels, learn")
    _add_broker(worker)
    worker.add_argument("--model", help="model spec, e.g. river-br-lr or name:param=value,...")
    worker.add_argument("--worker-id")
    worker.add_argument("--web-port", type=int, help="Faust's web port (the web server stays off)")
    worker.set_defaults(run=_worker)

    replay = commands.add_parser("replay", help="post a data set to the features and labels topics")
    _add_broker(replay)
    replay.add_argument("--dataset", default="yeast", help="yeast, synthetic:..., or an ARFF / JSONL path")
    replay.add_argument("--xml", help="MULAN label XML (default: beside the ARFF file)")
    replay.add_argument("--label-delay", type=int, default=0, help="send each event's labels N events later")
    replay.add_argument("--limit", type=int)
    replay.set_defaults(run=_replay)

    status = commands.add_parser("status", help="print the learner's counts and live metrics")
    _add_broker(status)
    status.add_argument("--json", action="store_true", help="print the raw status record")
    status.set_defaults(run=_status)

    evaluate = commands.add_parser("evaluate", help="prequential evaluation offline, with the worker's core")
    evaluate.add_argument("--dataset", default="yeast")
    evaluate.add_argument("--xml")
    evaluate.add_argument("--model", action="append", help="model spec; repeat to compare models")
    evaluate.add_argument("--thresholds", default="adaptive",
                          help="per-label decision thresholds: adaptive[:param=v,...] or fixed[:threshold=t]")
    evaluate.add_argument("--label-delay", type=int, default=0)
    evaluate.add_argument("--window", type=int, default=1000)
    evaluate.add_argument("--limit", type=int)
    evaluate.add_argument("--json", dest="json_out", help="write the results as JSON here")
    evaluate.add_argument("--plot", help="draw micro-F1, macro-F1 and Hamming loss over the stream to this PNG")
    evaluate.set_defaults(run=_evaluate)

    deadletter = commands.add_parser("deadletter", help="work with dead-lettered messages")
    deadletter_commands = deadletter.add_subparsers(title="dead-letter commands")
    dl_replay = deadletter_commands.add_parser(
        "replay", help="send dead-lettered messages back to their topic (after fixing what broke them)"
    )
    _add_broker(dl_replay)
    dl_replay.add_argument("--topic", help="only messages that came from this topic")
    dl_replay.add_argument("--dry-run", action="store_true", help="count, send nothing")
    dl_replay.set_defaults(run=_deadletter_replay)

    bench = commands.add_parser("bench", help="benchmarks that print figures")
    bench.add_argument("which", choices=["models", "drift", "parity", "service", "memory", "reset", "restart"])
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(run=_bench)
    return parser


def _demo(args) -> int:
    from stream_mlc.demo import run_demo

    return run_demo(args.dataset, args.label_delay, args.model)


def _broker(args) -> int:
    from stream_mlc.service.broker import EmbeddedBroker

    with EmbeddedBroker(port=args.port) as broker:
        print(f"Tansu broker on {broker.bootstrap} (memory storage); Ctrl-C stops it", flush=True)
        try:
            broker.process.wait()
        except KeyboardInterrupt:
            pass
    return 0


def _topics_create(args) -> int:
    from stream_mlc.service.admin import create_topics

    for name, what in create_topics(_settings(args)).items():
        print(f"{name}: {what}")
    return 0


def _worker(args) -> int:
    from stream_mlc.service.worker import run_worker

    return run_worker(_settings(args))


def _replay(args) -> int:
    from tqdm import tqdm

    from stream_mlc.io.datasets import open_dataset
    from stream_mlc.service.producer import replay

    data = open_dataset(args.dataset, xml=args.xml, limit=args.limit)
    with tqdm(total=data.n_rows, desc="sent", unit="ev", disable=None) as bar:
        features, labels = replay(data, _settings(args), label_delay=args.label_delay, progress=bar.update)
    print(f"sent {features} feature events and {labels} label events")
    return 0


def _status(args) -> int:
    import orjson

    from stream_mlc.service.reader import latest_status

    statuses = asyncio.run(latest_status(_settings(args)))
    if not statuses:
        print("no status published yet")
        return 1
    for worker, status in sorted(statuses.items()):
        if args.json:
            print(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode())
            continue
        # The topic is compacted: a worker that stopped keeps its last status; its age tells.
        age = f"updated {time.time() - status['ts']:.0f} s ago"
        role = status.get("role")
        if role == "scorer":
            print(f"{worker}: scorer, model version {status['model_version']}, "
                  f"partitions {', '.join(status['assigned']) or 'none'}, counts {status['counts']}, {age}")
            continue
        print(f"{worker}: {'learner, ' if role else ''}learned {status['learned']}, labels {len(status['labels'])}, "
              f"counts {status['counts']}, {age}")
        for name, value in status["metrics"]["cumulative"].items():
            window = status["metrics"]["window"].get(name, float("nan"))
            print(f"  {name:<20} {value:8.4f}  (window {window:.4f})")
    return 0


def _evaluate(args) -> int:
    from stream_mlc.report import run_evaluate

    return run_evaluate(args)


def _deadletter_replay(args) -> int:
    from stream_mlc.service.deadletter import replay_deadletters

    counts = replay_deadletters(_settings(args), topic_filter=args.topic, dry_run=args.dry_run)
    verb = "would send" if args.dry_run else "sent"
    for topic, n in sorted(counts.items()):
        print(f"{verb} {n} messages back to {topic}")
    return 0


def _bench(args) -> int:
    import importlib

    module = importlib.import_module(f"stream_mlc.bench.{args.which}")
    return module.main(args.rest)
