"""The ``stream-mlc`` commands that run the service or talk to it through Kafka.

``demo``, ``broker``, ``topics create``, ``worker``, ``replay``, ``status``, ``tail`` and
``deadletter replay``: their parsers (added to the main parser by
:func:`stream_mlc.cli.build_parser`, in the order ``--help`` lists them) and what they run.
Each imports what it needs when it runs, so that a command starts without loading the others.
"""

from __future__ import annotations

import asyncio

from stream_mlc.cli_parts import (
    _broker_options,
    _command,
    _listen_port,
    _non_negative_int,
    _port,
    _positive_int,
    _setting_option,
    _settings,
    _usage,
)
from stream_mlc.errors import StreamMlcError

TAIL_TOPICS = ("predictions", "alerts", "audit", "deadletter", "training", "label-requests")


def add_service_parsers(commands) -> None:
    """Add ``demo``, ``broker``, ``topics``, ``worker``, ``replay``, ``status`` and ``tail``."""
    demo = _command(commands, "demo", "run the whole service on an embedded broker with River's Yeast")
    demo.add_argument("--dataset", default="yeast", help="yeast, synthetic:..., or an ARFF / JSONL path")
    demo.add_argument("--label-delay", type=_non_negative_int, default=200,
                      help="labels arrive this many events after their features")
    _setting_option(demo, "--model", "model spec, e.g. river-br-lr or name:param=value,...")
    demo.add_argument("--metrics-port", type=_port, help="port of /metrics and the live page "
                      "(default: $STREAM_MLC_METRICS_PORT, else a free port)")
    demo.set_defaults(run=_demo)

    broker = _command(commands, "broker", "run the embedded Kafka-compatible broker (Tansu) on loopback")
    broker.add_argument("--port", type=_listen_port, default=9092, help="port to listen on, on 127.0.0.1")
    broker.set_defaults(run=_broker)

    topics = _command(commands, "topics", "manage the service's topics")
    topics.set_defaults(run=_usage(topics))
    topic_commands = topics.add_subparsers(title="topic commands", metavar="COMMAND")
    create = _command(topic_commands, "create", "create the topics described in topics/ (idempotent)")
    _broker_options(create)
    _setting_option(create, "--partitions", "partition count of the partitioned topics (0: as in topics/)",
                            type=_non_negative_int)
    create.set_defaults(run=_topics_create)

    worker = _command(commands, "worker", "run a worker: score, join labels, learn")
    _broker_options(worker)
    _setting_option(worker, "--model", "model spec, e.g. river-br-lr or name:param=value,...")
    _setting_option(worker, "--mode", "single or scaled (README: Scaling)", choices=("single", "scaled"))
    _setting_option(worker, "--app-id", "the consumer group, and the key of the checkpoints")
    _setting_option(worker, "--worker-id", "this worker's name in the status topic")
    _setting_option(worker, "--metrics-port", "port of /metrics and the live page (0: off)",
                            type=_port)
    _setting_option(worker, "--web-port", "Faust's web port (its web server stays off)", type=_port)
    worker.add_argument("--fresh", action="store_true",
                        help="do not restore the checkpoint: a new model, reading the inputs from their start")
    worker.set_defaults(run=_worker)

    replay = _command(commands, "replay", "post a data set to the features and labels topics")
    _broker_options(replay)
    replay.add_argument("--dataset", default="yeast", help="yeast, synthetic:..., or an ARFF / JSONL path")
    replay.add_argument("--xml", help="MULAN label XML (default: beside the ARFF file)")
    replay.add_argument("--label-delay", type=_non_negative_int, default=0,
                        help="send each event's labels this many events later")
    replay.add_argument("--limit", type=_positive_int, help="send at most this many events (default: all)")
    replay.add_argument("--text-features", help="comma-separated free-text fields of the data set, for the hint "
                        "it prints (default: the data set's); the worker's STREAM_MLC_TEXT_FEATURES decides")
    replay.set_defaults(run=_replay)

    status = _command(commands, "status", "print each worker's model, settings, counts and live metrics")
    _broker_options(status)
    status.add_argument("--json", action="store_true", help="print the raw status records")
    status.set_defaults(run=_status)

    tail = _command(commands, "tail", "print what the service writes to a topic, one JSON line per message")
    tail.add_argument("topic", choices=TAIL_TOPICS, metavar="TOPIC", help=f"one of {', '.join(TAIL_TOPICS)}")
    _broker_options(tail)
    tail.add_argument("--from-beginning", action="store_true",
                      help="start at the beginning of the topic (default: at its end, following it)")
    tail.add_argument("--follow", action="store_true", help="keep printing new messages until Ctrl-C "
                      "(without it, stop at the end of the topic; implied without --from-beginning)")
    tail.add_argument("--max", type=_positive_int, dest="max_messages", help="stop after this many messages")
    tail.add_argument("--id", dest="event_id", help="only messages about this event id (key or id field)")
    tail.set_defaults(run=_tail)


def add_deadletter_parser(commands) -> None:
    """Add ``deadletter`` and its ``replay``."""
    deadletter = _command(commands, "deadletter", "work with dead-lettered messages")
    deadletter.set_defaults(run=_usage(deadletter))
    deadletter_commands = deadletter.add_subparsers(title="dead-letter commands", metavar="COMMAND")
    dl_replay = _command(deadletter_commands, "replay",
                                 "send dead-lettered messages back to their topic (after fixing what broke them)")
    _broker_options(dl_replay)
    dl_replay.add_argument("--topic", help="only messages that came from this topic (default: all)")
    dl_replay.add_argument("--dry-run", action="store_true", help="count, send nothing")
    dl_replay.set_defaults(run=_deadletter_replay)


def _demo(args) -> int:
    from stream_mlc.demo import run_demo

    return run_demo(args.dataset, args.label_delay, args.model, metrics_port=args.metrics_port)


def _broker(args) -> int:
    import signal

    from stream_mlc.service.broker import EmbeddedBroker

    def stop(signum, _frame):
        for ignored in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(ignored, signal.SIG_IGN)  # one stop at a time: a second signal must not cut it short
        raise _Stopped(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    try:
        # The broker is stopped by its PID when this block is left: on SIGTERM, SIGHUP, Ctrl-C or an error.
        with EmbeddedBroker(port=args.port, die_with_parent=True) as broker:
            print(f"Tansu broker on {broker.bootstrap} (memory storage); Ctrl-C or SIGTERM stops it", flush=True)
            code = broker.process.wait()
    except (KeyboardInterrupt, _Stopped):
        return 0
    raise StreamMlcError(f"the broker exited by itself with code {code}")


class _Stopped(BaseException):
    """SIGTERM or SIGHUP reached a command that stops cleanly on them (not an error: like Ctrl-C)."""


def _topics_create(args) -> int:
    from stream_mlc.service.admin import create_topics

    for name, what in create_topics(_settings(args)).items():
        print(f"{name}: {what}")
    return 0


def _worker(args) -> int:
    from stream_mlc.service.worker import run_worker

    return run_worker(_settings(args), fresh=args.fresh)


def _replay(args) -> int:
    from tqdm import tqdm

    from stream_mlc.io.datasets import open_dataset
    from stream_mlc.service.admin import require_topics
    from stream_mlc.service.producer import replay

    settings = _settings(args)
    require_topics(settings, ["features", "labels"])
    data = open_dataset(args.dataset, xml=args.xml, limit=args.limit)
    with tqdm(total=data.n_rows, desc="sent", unit="ev", disable=None) as bar:
        features, labels = replay(data, settings, label_delay=args.label_delay, progress=bar.update)
    print(f"sent {features} feature events and {labels} label events")
    text = args.text_features if args.text_features is not None else ",".join(data.text_features)
    if text:  # the worker decides what is text: say what it needs for this data set
        print(f"free-text fields {text}: run the worker with STREAM_MLC_TEXT_FEATURES={text}")
    return 0


def _status(args) -> int:
    import orjson

    from stream_mlc.service.reader import format_status, latest_status

    settings = _settings(args)
    statuses = asyncio.run(latest_status(settings))
    if not statuses:
        raise StreamMlcError(f"no worker has published a status on {settings.topic('status')} yet; "
                             "start one with `stream-mlc worker`")
    for worker, status in sorted(statuses.items()):
        if args.json:
            print(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode())
        else:
            print("\n".join(format_status(worker, status)))
    return 0


def _tail(args) -> int:
    from stream_mlc.service.tail import tail

    printed = asyncio.run(tail(_settings(args), args.topic, from_beginning=args.from_beginning,
                               follow=args.follow or not args.from_beginning, max_messages=args.max_messages,
                               event_id=args.event_id))
    return 0 if printed or not args.event_id else 1


def _deadletter_replay(args) -> int:
    from stream_mlc.service.deadletter import replay_deadletters

    counts = replay_deadletters(_settings(args), topic_filter=args.topic, dry_run=args.dry_run)
    verb = "would send" if args.dry_run else "sent"
    for topic, n in sorted(counts.items()):
        print(f"{verb} {n} messages back to {topic}")
    return 0

