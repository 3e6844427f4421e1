"""``stream-mlc evaluate``: run models offline over a stream, print, save and plot the metrics."""

from __future__ import annotations

import math
import os
from pathlib import Path

import orjson
from tqdm import tqdm

from stream_mlc.bench.decisions import plot_reliability
from stream_mlc.core.active import format_curves, parse_budget_option, simulate_budget
from stream_mlc.core.agreement import format_agreement
from stream_mlc.core.engine import DEFAULT_MODEL
from stream_mlc.core.fairness import format_groups
from stream_mlc.errors import ConfigError
from stream_mlc.evaluate import EvalResult, peak_rss_mb, prequential
from stream_mlc.io.datasets import open_dataset
from stream_mlc.rules_io import costs_path, load_costs, load_rules

#: The metrics the published results report, first; the rest follow in the module's order.
HEADLINE = ("subset_accuracy", "hamming_loss", "example_f1", "micro_f1", "macro_f1")


def run_evaluate(args) -> int:
    check_outputs(args)
    models = args.model or [DEFAULT_MODEL]
    data = open_dataset(args.dataset, xml=args.xml, limit=args.limit)
    curve_every = max(1, (data.n_rows or 10_000) // 200) if args.plot else 0
    if args.label_budget:
        return run_budgets(data, models[0], args)
    costs = costs_path(args.thresholds)
    results = []
    for model in models:
        with tqdm(total=data.n_rows, desc=model, unit="ev", disable=None, leave=False) as bar:
            results.append(
                prequential(data, model, label_delay=args.label_delay, window=args.window,
                            thresholds=args.thresholds, calibration=args.calibration,
                            rules=load_rules(args.rules) if args.rules else None,
                            costs=load_costs(costs) if costs else None, explain=args.explain, group_by=args.group_by,
                            annotators=args.annotators,
                            curve_every=curve_every, progress=bar.update, text_features=_names(args.text_features))
            )
    print(format_table(data.name, results))
    for result in results:
        if result.status.get("models"):
            print(format_members(result))
        if result.status["counts"].get("deadlettered"):
            print(f"{result.model}: {result.status['counts']['deadlettered']} events dead-lettered (not evaluated)")
        if result.status.get("agreement"):
            print(f"{result.model}, annotators {args.annotators}:\n{format_agreement(result.status['agreement'])}")
        if result.status.get("groups"):
            print(f"{result.model}, per {args.group_by}:\n{format_groups(result.status['groups'])}")
        if result.status.get("faithfulness"):
            f = result.status["faithfulness"]
            print(f"{result.model}: explanations faithful for {f['share_lowered']:.3f} of {f['checked']} explained "
                  f"labels (removing the top {args.explain} features lowered the score)")
    if args.json_out:
        Path(args.json_out).write_bytes(orjson.dumps(to_json(data, args, results), option=orjson.OPT_INDENT_2))
        print(f"wrote {args.json_out}")
    if args.plot:
        plot(results, args.plot, title=f"{data.name}, label delay {args.label_delay}")
        diagrams = str(Path(args.plot).with_suffix("")) + "-reliability.png"
        plot_reliability({r.model: _reliability(r) for r in results}, diagrams, calibrated_name=args.calibration)
        print(f"wrote {args.plot} and {diagrams}")
    return 0


def run_budgets(data, model: str, args) -> int:
    """``--label-budget``: learn only the labels each budget requests; print the learning curves side by side."""
    records = list(data)
    curve_every = max(1, len(records) // 10)
    runs = []
    for option in args.label_budget:
        budget, strategy = parse_budget_option(option)
        runs.append(simulate_budget(records, model, budget, strategy=strategy, label_delay=args.label_delay,
                                    labels=tuple(data.label_names), thresholds=args.thresholds,
                                    window=args.window, curve_every=curve_every))
    print(f"{data.name}: {len(records)} events, label delay {args.label_delay}, model {model}; "
          "micro-F1 of every event's prediction, labels learned only where requested")
    print(format_curves(runs))
    return 0


def _reliability(result: EvalResult) -> tuple:
    decisions = result.status["decisions"]
    ece = decisions["ece"]
    return (decisions["reliability_raw"], decisions["reliability"], ece["raw"]["cumulative"]["ece"],
            ece["calibrated"]["cumulative"]["ece"])


def format_members(result: EvalResult) -> str:
    """A portfolio's members side by side: each one's prequential micro-F1, the champion marked."""
    report = result.status["models"]
    lines = [f"{result.model}: champion {report.get('champion')}"]
    for name, member in (report.get("members") or {}).items():
        cumulative = member.get("cumulative", {})
        window = member.get("window", {})
        lines.append(f"  {name:<40} micro-F1 {cumulative.get('micro_f1', float('nan')):.4f} "
                     f"(window {window.get('micro_f1', float('nan')):.4f})")
    return "\n".join(lines)


def check_outputs(args) -> None:
    """Refuse, before the run, a ``--json`` or ``--plot`` file that could not be written after it."""
    for option, path in (("--json", args.json_out), ("--plot", args.plot)):
        if not path:
            continue
        directory = Path(path).resolve().parent
        if not directory.is_dir():
            raise ConfigError(f"{option} {path}: directory {directory} does not exist; create it or choose another")
        if Path(path).is_dir():
            raise ConfigError(f"{option} {path} is a directory; give a file name")
        if not os.access(directory, os.W_OK):
            raise ConfigError(f"{option} {path}: directory {directory} is not writable")


def _names(text: str | None) -> tuple[str, ...] | None:
    """Comma-separated names, or None (the data set's default) when not given."""
    return None if text is None else tuple(name.strip() for name in text.split(",") if name.strip())


def format_table(name: str, results: list[EvalResult]) -> str:
    names = list(HEADLINE) + [m for m in results[0].metrics if m not in HEADLINE]
    width = max(len(n) for n in names + ["events/s"]) + 2
    col = max(12, *(len(r.model) + 2 for r in results))
    lines = [f"{name}: {results[0].events} events, label delay {results[0].label_delay}",
             " " * width + "".join(f"{r.model:>{col}}" for r in results)]
    for metric in names:
        lines.append(f"{metric:<{width}}" + "".join(f"{r.metrics[metric]:>{col}.4f}" for r in results))
    lines.append(f"{'events/s':<{width}}" + "".join(f"{r.events_per_s:>{col},.0f}" for r in results))
    lines.append(f"{'seconds':<{width}}" + "".join(f"{r.seconds:>{col}.2f}" for r in results))
    lines.append(f"peak memory: {peak_rss_mb():.0f} MiB (whole process)")
    return "\n".join(lines)


def to_json(data, args, results: list[EvalResult]) -> dict:
    return {
        "dataset": data.name,
        "settings": {"label_delay": args.label_delay, "window": args.window, "limit": args.limit,
                     "thresholds": args.thresholds, "calibration": args.calibration},
        "peak_rss_mb": peak_rss_mb(),
        "results": [
            {
                "model": r.model,
                "events": r.events,
                "seconds": r.seconds,
                "events_per_s": r.events_per_s,
                "metrics": r.metrics,
                "window": r.status["metrics"]["window"],
                "per_label": r.status["metrics"]["per_label"],
                "calibration": r.status["decisions"]["ece"],
                "faithfulness": r.status.get("faithfulness"),
                "models": r.status.get("models") or None,
                "curve": r.curve,
            }
            for r in results
        ],
    }


def plot(results: list[EvalResult], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (("micro_f1", "micro-F1"), ("macro_f1", "macro-F1"), ("hamming_loss", "Hamming loss"))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), sharex=True)
    for ax, (metric, label) in zip(axes, panels, strict=True):
        for i, result in enumerate(results):
            color = f"C{i}"
            xs = [point["n"] for point in result.curve]
            ax.plot(xs, [point["cumulative"][metric] for point in result.curve], color=color,
                    label=f"{result.model} (cumulative)")
            ax.plot(xs, [point["window"][metric] for point in result.curve], color=color, alpha=0.45,
                    linestyle="--", label=f"{result.model} (window)")
        ax.set_title(label)
        ax.set_xlabel("joined events")
        ax.grid(alpha=0.3)
        finite = [v for line in ax.get_lines() for v in line.get_ydata() if not math.isnan(v)]
        if finite:
            ax.set_ylim(0, max(1.0, max(finite)) if metric != "hamming_loss" else max(finite) * 1.1)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
