"""Engine speed offline: the default learner against River's BR-LR through ``evaluate``'s prequential run.

``stream-mlc bench evaluate [--events N] [--river-events N] [--labels 14 100] [--model SPEC]``
runs :func:`stream_mlc.evaluate.prequential` (the worker's dispatch and engine, every part
included: the model, the worker's default thresholds, the prequential metrics, the join
buffer and the drift monitor) test-then-train on seeded synthetic streams of 100 dense
features, once with the default learner and once with ``river-br-lr``, at each label count,
and prints events/s and their ratio against issue 11's goals: at least 30x River at 14
labels and 100x at 100 labels.

River is slow, so it runs on fewer events (``--river-events``; by default 1,000 at 14 labels,
scaled down as the label count grows): the ratios are of events/s. Both are timed by the
wall clock (what ``evaluate`` prints) and by this process's CPU time, which the other tenants
of a shared machine disturb less. The streams are generated before the clock starts. The
micro-F1 of each run is printed to show that both runs learned.

One run each; the machine's cores are shared. Exit status 0 whatever the figures: it is a
report, not a test.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import dataclass

from stream_mlc.bootstrap import drift_settings
from stream_mlc.evaluate import prequential
from stream_mlc.settings import Settings

DEFAULT_MODEL = "native-mlc"
BASELINE = "river-br-lr"
FEATURES = 100
SEED = 1
#: Issue 11: the default learner's events/s over River BR-LR's, offline, by label count.
GOALS = {14: 30.0, 100: 100.0}
#: River's events at 14 labels; fewer at more labels (its cost grows with them).
RIVER_EVENTS_AT_14 = 1000
RIVER_EVENTS_MIN = 300


@dataclass
class Timed:
    """One prequential run: its events, wall and CPU seconds, and its micro-F1."""

    model: str
    events: int
    seconds: float
    cpu_seconds: float
    micro_f1: float

    @property
    def per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("nan")

    @property
    def cpu_per_s(self) -> float:
        return self.events / self.cpu_seconds if self.cpu_seconds > 0 else float("nan")


def river_events(labels: int, given: int | None) -> int:
    """River's events at ``labels`` labels: ``given``, else 1,000 at 14 labels, fewer in proportion beyond.

    At least :data:`RIVER_EVENTS_MIN`: the first events of a stream are not typical of it.

    >>> river_events(14, None), river_events(100, None), river_events(100, 500)
    (1000, 300, 500)
    """
    if given is not None:
        return given
    return max(RIVER_EVENTS_MIN, min(RIVER_EVENTS_AT_14, round(RIVER_EVENTS_AT_14 * 14 / labels)))


def stream(n: int, labels: int, features: int = FEATURES, seed: int = SEED):
    """The first ``n`` records of the seeded synthetic stream, generated now, and its label names."""
    from stream_mlc.io.datasets import open_dataset

    data = open_dataset(f"synthetic:n={n},features={features},labels={labels},seed={seed}")
    return list(data), tuple(data.label_names)


def timed(records: list, label_names: tuple[str, ...], model: str, label_delay: int = 0) -> Timed:
    """``prequential`` over ``records`` with the worker's default engine settings, timed."""
    settings = Settings.from_env(environ={})
    # The drift monitor imports River's detectors at its first joined example: import them
    # before the clocks start, as a worker does while it joins its consumer group.
    import river.drift  # noqa: F401

    cpu = time.process_time()
    result = prequential(records, model, label_delay=label_delay, labels=label_names,
                         thresholds=settings.thresholds, drift=drift_settings(settings),
                         window=settings.metrics_window)
    cpu = time.process_time() - cpu
    return Timed(model, result.events, result.seconds, cpu, result.metrics.get("micro_f1", float("nan")))


def ratio(a: float, b: float) -> float:
    """``a / b``; nan when ``b`` is 0 or not a number.

    >>> ratio(6.0, 2.0), math.isnan(ratio(1.0, 0.0))
    (3.0, True)
    """
    return a / b if b and not math.isnan(b) else float("nan")


def verdict(value: float, goal: float | None) -> str:
    """``met`` / ``NOT met``; blank without a goal.

    >>> verdict(31.0, 30.0), verdict(2.7, 30.0), verdict(5.0, None)
    ('met', 'NOT met', '')
    """
    if goal is None or math.isnan(value):
        return ""
    return "met" if value >= goal else "NOT met"


def run_labels(labels: int, args) -> tuple[Timed, Timed]:
    """The default learner and the baseline at one label count."""
    n_baseline = river_events(labels, args.river_events)
    records, names = stream(max(args.events, n_baseline), labels, args.features, args.seed)
    ours = timed(records[:args.events], names, args.model, args.label_delay)
    print(f"  {labels} labels, {args.model}: {ours.per_s:,.0f} ev/s", flush=True)
    theirs = timed(records[:n_baseline], names, args.baseline, args.label_delay)
    print(f"  {labels} labels, {args.baseline}: {theirs.per_s:,.0f} ev/s", flush=True)
    return ours, theirs


def report(results: dict[int, tuple[Timed, Timed]], args) -> None:
    print()
    print(f"stream-mlc bench evaluate: prequential runs (test-then-train, label delay {args.label_delay}) through the "
          f"worker's dispatch and engine (default thresholds, metrics, join, drift monitor), synthetic streams of "
          f"{args.features} dense features, seed {args.seed}; one run each; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'labels':>6}  {'model':<16}{'events':>7}{'seconds':>9}{'ev/s':>9}{'cpu ev/s':>10}{'micro-F1':>10}")
    for labels, runs in results.items():
        for run in runs:
            print(f"{labels:>6}  {run.model:<16}{run.events:>7}{run.seconds:>9.2f}{run.per_s:>9,.0f}"
                  f"{run.cpu_per_s:>10,.0f}{run.micro_f1:>10.4f}")
    print()
    print(f"== goals (issue 11): {args.model} / {args.baseline} in events/s, by wall clock [by CPU time] ==")
    for labels, (ours, theirs) in results.items():
        goal = GOALS.get(labels)
        value = ratio(ours.per_s, theirs.per_s)
        goal_text = f">= {goal:.0f}x" if goal is not None else "(no goal)"
        print(f"{labels:>6} labels  {value:>7.1f}x [{ratio(ours.cpu_per_s, theirs.cpu_per_s):6.1f}x]  "
              f"{goal_text:<10}{verdict(value, goal)}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="stream-mlc bench evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=_positive, default=4000, help="events for the default learner")
    parser.add_argument("--river-events", type=_positive,
                        help=f"events for the baseline (default: {RIVER_EVENTS_AT_14} at 14 labels, "
                             "fewer in proportion at more)")
    parser.add_argument("--labels", type=_positive, nargs="+", default=[14, 100])
    parser.add_argument("--features", type=_positive, default=FEATURES)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the learner measured")
    parser.add_argument("--baseline", default=BASELINE, help="the learner it is compared with")
    parser.add_argument("--label-delay", type=int, default=0, help="labels this many events late")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    if args.label_delay < 0:
        parser.error("--label-delay must be >= 0")
    return args


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    results = {labels: run_labels(labels, args) for labels in args.labels}
    report(results, args)
    print(f"\n(the whole bench took {time.monotonic() - began:.0f} s)")
    return 0
