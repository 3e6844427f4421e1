"""Streaming online multi-label classification on Kafka.

Producers post feature events; a worker scores each one, joins the true labels when they
come, learns, and watches for drift. Try it with: stream-mlc demo

Settings come from STREAM_MLC_* environment variables (stream-mlc settings lists them);
command-line options override them. An expected failure is one line on stderr and a
distinct exit code (see below); --debug adds the traceback.
"""

from __future__ import annotations

import os

# One BLAS thread: the learners multiply small matrices, where threads only contend
# (measured 2-4x slower on 2 cores). Must be set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

from stream_mlc.errors import (  # noqa: E402
    EXIT_CODES,
    INTERNAL_EXIT_CODE,
    INTERRUPTED_EXIT_CODE,
    USAGE_EXIT_CODE,
    StreamMlcError,
)
from stream_mlc.labels_cli import add_parsers as add_label_parsers
from stream_mlc.settings import Settings  # noqa: E402

#: Loggers of the Kafka clients: their connection errors would add lines to the one-line error.
_CLIENT_LOGGERS = ("aiokafka", "kafka")
TAIL_TOPICS = ("predictions", "alerts", "audit", "deadletter", "training", "label-requests")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return USAGE_EXIT_CODE
    args.extra = extra
    if not args.debug:
        for name in _CLIENT_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        code = args.run(args) or 0
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # `stream-mlc status | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except StreamMlcError as error:
        return _fail(args, f"stream-mlc: error: {error}", error.exit_code)
    except KeyboardInterrupt:
        return INTERRUPTED_EXIT_CODE
    except Exception as error:  # a bug: still one line, unless --debug
        return _fail(args, f"stream-mlc: internal error: {type(error).__name__}: {error} "
                           "(rerun with --debug for the traceback)", INTERNAL_EXIT_CODE)


def _fail(args, message: str, code: int) -> int:
    if args.debug:
        traceback.print_exc()
    print(" ".join(message.split()), file=sys.stderr)  # one line, whatever the error's text holds
    return code


def _settings(args) -> Settings:
    return Settings.from_env(**{name: getattr(args, name, None) for name in _SETTING_OPTIONS})


def build_parser() -> argparse.ArgumentParser:
    parser = _main_parser()
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

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

    settings = _command(commands, "settings", "list every STREAM_MLC_* setting: type, default, meaning")
    settings.add_argument("--json", action="store_true", help="print them as JSON, with the current values")
    settings.set_defaults(run=_settings_command)

    evaluate = _command(commands, "evaluate", "prequential evaluation offline, with the worker's core")
    evaluate.add_argument("--dataset", default="yeast", help="yeast, synthetic:..., or an ARFF / JSONL path")
    evaluate.add_argument("--xml", help="MULAN label XML (default: beside the ARFF file)")
    evaluate.add_argument("--model", action="append", help="model spec; repeat to compare models "
                          "(default: the service's default)")
    evaluate.add_argument("--thresholds", default="adaptive",
                          help="per-label decision thresholds: adaptive[:param=v,...] or fixed[:threshold=t]")
    evaluate.add_argument("--label-delay", type=_non_negative_int, default=0,
                          help="labels arrive this many events after their features")
    evaluate.add_argument("--window", type=_positive_int, default=1000, help="events in the windowed metrics")
    evaluate.add_argument("--text-features", help="comma-separated feature fields of free text "
                          "(default: the data set's, e.g. an ARFF file's string attributes)")
    evaluate.add_argument("--calibration", default="isotonic",
                          help="score calibration before the thresholds: none, platt or isotonic[:param=v,...]")
    evaluate.add_argument("--rules", help="label rules JSON file (implies, exclusive, allowed; README: Decisions)")
    evaluate.add_argument("--explain", type=_non_negative_int, default=0,
                          help="explain each predicted label by its k top features and check their faithfulness")
    evaluate.add_argument("--annotators", default="",
                          help="simulate N annotators per label event, each flipping labels with probability "
                               "noise: N:noise[:majority|weighted]; prints their agreement (Fleiss' kappa)")
    evaluate.add_argument("--group-by", default="",
                          help="keep quality per value of this feature, and print the gaps between groups")
    evaluate.add_argument("--label-budget", action="append",
                          help="simulate label requests: only requested events' labels are learned; F "
                               "(uncertainty) or F:random; repeat to compare (prints the learning curves)")
    evaluate.add_argument("--limit", type=_positive_int, help="evaluate at most this many events (default: all)")
    evaluate.add_argument("--json", dest="json_out", help="write the results as JSON to this file")
    evaluate.add_argument("--plot", help="draw micro-F1, macro-F1 and Hamming loss over the stream to this PNG")
    evaluate.set_defaults(run=_evaluate)

    deadletter = _command(commands, "deadletter", "work with dead-lettered messages")
    deadletter.set_defaults(run=_usage(deadletter))
    deadletter_commands = deadletter.add_subparsers(title="dead-letter commands", metavar="COMMAND")
    dl_replay = _command(deadletter_commands, "replay",
                                 "send dead-lettered messages back to their topic (after fixing what broke them)")
    _broker_options(dl_replay)
    dl_replay.add_argument("--topic", help="only messages that came from this topic (default: all)")
    dl_replay.add_argument("--dry-run", action="store_true", help="count, send nothing")
    dl_replay.set_defaults(run=_deadletter_replay)

    bench = _command(commands, "bench", "benchmarks that print figures (none is a test)")
    bench.set_defaults(run=_usage(bench))
    benches = bench.add_subparsers(title="benchmarks", metavar="BENCHMARK")
    for name, description in _benchmarks().items():
        # No -h of its own: `bench NAME --help` shows the benchmark's own options.
        one = benches.add_parser(name, help=description, description=description, add_help=False)
        one.set_defaults(run=_bench, which=name, passthrough=True)
    add_label_parsers(commands)
    return parser


def _usage(parser: argparse.ArgumentParser):
    """The run of a command given without its subcommand: its help, and the usage exit code."""

    def run(args) -> int:
        parser.print_help(sys.stderr)
        return USAGE_EXIT_CODE

    return run


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


def _settings_command(args) -> int:
    from stream_mlc.settings import describe_settings

    current = Settings.from_env().safe_dict()
    rows = describe_settings()
    if args.json:
        import orjson

        print(orjson.dumps([{"variable": v, "type": t, "default": d, "meaning": m,
                             "current": current[v.removeprefix("STREAM_MLC_").lower()]} for v, t, d, m in rows],
                           option=orjson.OPT_INDENT_2).decode())
        return 0
    width = [max(max(len(row[i]), 2) for row in rows) for i in range(3)]
    for variable, kind, default, meaning in rows:
        value = current[variable.removeprefix("STREAM_MLC_").lower()]
        now = f" [set: {value}]" if str(value) != default else ""
        shown = default or '""'
        print(f"{variable:<{width[0]}}  {kind:<{width[1]}}  {shown:<{width[2]}}  {meaning}{now}")
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
    return module.main(args.extra)


# -- the parser's parts ------------------------------------------------------------------------
#: Options that override a setting of the same name (None: the environment's value stands).
_SETTING_OPTIONS = ("broker", "topic_prefix", "model", "mode", "app_id", "worker_id", "metrics_port", "web_port",
                    "partitions")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each option's default, except where there is none to show (None, a flag's False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or "(default:" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse's parser, with its errors in one line on stderr like every other error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _main_parser() -> argparse.ArgumentParser:
    codes = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in sorted(EXIT_CODES.items()))
    parser = _Parser(prog="stream-mlc", description=__doc__, formatter_class=_Formatter,
                                     epilog=f"exit codes:\n{codes}")
    parser.add_argument("--version", action="version", version=f"stream-mlc {_version()}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error")
    return parser


def _command(commands, name: str, help: str) -> argparse.ArgumentParser:
    sub = commands.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".",
                              formatter_class=_Formatter)
    # Accepted after the command too (stream-mlc worker --debug); the main parser's value is the default.
    sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="print the traceback of an error")
    return sub


def _setting_option(parser: argparse.ArgumentParser, flag: str, help: str, **kwargs) -> None:
    """An option overriding the setting of the same name; its help names the variable and the default."""
    name = flag.removeprefix("--").replace("-", "_")
    default = Settings.__dataclass_fields__[name].default
    parser.add_argument(flag, dest=name, help=f"{help} (default: $STREAM_MLC_{name.upper()}, else {default!r})",
                        **kwargs)


def _broker_options(parser: argparse.ArgumentParser) -> None:
    _setting_option(parser, "--broker", "Kafka bootstrap servers, host:port or kafka://host:port")
    _setting_option(parser, "--topic-prefix", "prefix of every topic name")


def _int_at_least(minimum: int, maximum: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and <= {maximum}" if maximum is not None else ""
            raise argparse.ArgumentTypeError(f"must be >= {minimum}{upper}, got {value}")
        return value

    return parse


_non_negative_int = _int_at_least(0)
_positive_int = _int_at_least(1)
_port = _int_at_least(0, 65535)
_listen_port = _int_at_least(1, 65535)


def _benchmarks() -> dict[str, str]:
    """``{name: one-line description}`` of the modules (or packages) in stream_mlc/bench with a ``main``.

    Read from their source, not imported: importing every benchmark would slow every command.
    """
    found = {}
    bench = Path(__file__).parent / "bench"
    for path in sorted([*bench.glob("*.py"), *bench.glob("*/__init__.py")]):
        name = path.parent.name if path.name == "__init__.py" else path.stem
        source = path.read_text(encoding="utf-8")
        if name != "__init__" and "\ndef main(" in source:
            first = re.match(r'\s*(?:[rRuU]?""")\s*(.*)', source)
            found[name] = _plain(first.group(1) if first else name, name)
    return dict(sorted(found.items()))


def _plain(line: str, name: str) -> str:
    """A docstring's first line without reStructuredText markup or a leading command name.

    >>> _plain("``stream-mlc bench drift``: detection rate of :class:`~x.Drift`.", "drift")
    'detection rate of Drift'
    """
    line = re.sub(r":\w+:`~?(?:[\w.]*\.)?([^`]*)`", r"\1", line)
    line = re.sub(r"``([^`]*)``", r"\1", line).removesuffix('"""').strip().rstrip(".")
    line = line.removeprefix(f"stream-mlc bench {name}:").strip()
    return line[:1].lower() + line[1:] if line[1:2].islower() else line


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stream-mlc")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"
