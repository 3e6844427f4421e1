"""The offline ``stream-mlc`` commands: ``evaluate`` and the ``bench`` benchmarks.

Their parsers (added to the main parser by :func:`stream_mlc.cli.build_parser`) and what
they run; neither needs a broker. ``bench`` finds the benchmarks by reading the sources of
stream_mlc/bench, without importing them.
"""

from __future__ import annotations

import re
from pathlib import Path

from stream_mlc.cli_parts import _command, _non_negative_int, _positive_int, _usage


def add_evaluate_parser(commands) -> None:
    """Add ``evaluate``."""
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


def add_bench_parsers(commands) -> None:
    """Add ``bench`` and one subcommand per benchmark, which passes its arguments through."""
    bench = _command(commands, "bench", "benchmarks that print figures (none is a test)")
    bench.set_defaults(run=_usage(bench))
    benches = bench.add_subparsers(title="benchmarks", metavar="BENCHMARK")
    for name, description in _benchmarks().items():
        # No -h of its own: `bench NAME --help` shows the benchmark's own options.
        one = benches.add_parser(name, help=description, description=description, add_help=False)
        one.set_defaults(run=_bench, which=name, passthrough=True)


def _evaluate(args) -> int:
    from stream_mlc.report import run_evaluate

    return run_evaluate(args)


def _bench(args) -> int:
    import importlib

    module = importlib.import_module(f"stream_mlc.bench.{args.which}")
    return module.main(args.extra)


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
