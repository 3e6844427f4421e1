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
import logging  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402

# The command groups' parsers and runs live beside this module: cli_parts (the parsers' shared
# parts), cli_service (the commands on Kafka), cli_tools (evaluate and bench).
from stream_mlc.cli_parts import _command, _Formatter, _Parser, _version  # noqa: E402
from stream_mlc.cli_service import TAIL_TOPICS as TAIL_TOPICS  # noqa: E402
from stream_mlc.cli_service import add_deadletter_parser, add_service_parsers  # noqa: E402
from stream_mlc.cli_tools import _benchmarks as _benchmarks  # noqa: E402
from stream_mlc.cli_tools import add_bench_parsers, add_evaluate_parser  # noqa: E402
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


def build_parser() -> argparse.ArgumentParser:
    parser = _main_parser()
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    # In the order --help lists them; `settings` (this command line's own configuration) is here.
    add_service_parsers(commands)  # demo, broker, topics, worker, replay, status, tail

    settings = _command(commands, "settings", "list every STREAM_MLC_* setting: type, default, meaning")
    settings.add_argument("--json", action="store_true", help="print them as JSON, with the current values")
    settings.set_defaults(run=_settings_command)

    add_evaluate_parser(commands)
    add_deadletter_parser(commands)
    add_bench_parsers(commands)
    add_label_parsers(commands)
    return parser


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


def _main_parser() -> argparse.ArgumentParser:
    codes = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in sorted(EXIT_CODES.items()))
    parser = _Parser(prog="stream-mlc", description=__doc__, formatter_class=_Formatter,
                                     epilog=f"exit codes:\n{codes}")
    parser.add_argument("--version", action="version", version=f"stream-mlc {_version()}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error")
    return parser

