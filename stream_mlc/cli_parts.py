"""The parts the ``stream-mlc`` command parsers are built from, shared by every command group.

An option that overrides a setting (its help names the ``STREAM_MLC_*`` variable and the
default), the options that reach the broker, argument types with one-line errors, the help
formatter, and the settings a command runs with.
"""

from __future__ import annotations

import argparse
import sys

from stream_mlc.errors import USAGE_EXIT_CODE
from stream_mlc.settings import Settings

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


def _usage(parser: argparse.ArgumentParser):
    """The run of a command given without its subcommand: its help, and the usage exit code."""

    def run(args) -> int:
        parser.print_help(sys.stderr)
        return USAGE_EXIT_CODE

    return run


def _settings(args) -> Settings:
    return Settings.from_env(**{name: getattr(args, name, None) for name in _SETTING_OPTIONS})


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stream-mlc")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"
