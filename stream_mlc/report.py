"""``stream-mlc evaluate``: run models offline over a stream, print, save and plot the metrics."""

from __future__ import annotations

import math
import os
from pathlib import Path

import orjson
from tqdm import tqdm

from stream_mlc.core.engine import DEFAULT_MODEL
from stream_mlc.errors import ConfigError
from stream_mlc.evaluate import EvalResult, peak_rss_mb, prequential
from stream_mlc.io.datasets import open_dataset

#: The metrics the published results report, first; the rest follow in the module's order.
HEADLINE = ("subset_accuracy", "hamming_loss", "example_f1", "micro_f1", "macro_f1")


def run_evaluate(args) -> int:
    check_outputs(args)
    models = args.model or [DEFAULT_MODEL]
    data = open_dataset(args.dataset, xml=args.xml, limit=args.limit)
    curve_every = max(1, (data.n_rows or 10_000) // 200) if args.plot else 0
    results = []
    for model in models:
        with tqdm(total=data.n_rows, desc=model, unit="ev", disable=None, leave=False) as bar:
            results.append(
                prequential(data, model, label_delay=args.label_delay, window=args.window,
                            thresholds=args.thresholds, curve_every=curve_every, progress=bar.update,
                            text_features=_names(args.text_features))
            )
    print(format_table(data.name, results))
    if args.json_out:
        Path(args.json_out).write_bytes(orjson.dumps(to_json(data, args, results), option=orjson.OPT_INDENT_2))
        print(f"wrote {args.json_out}")
    if args.plot:
        plot(results, args.plot, title=f"{data.name}, label delay {args.label_delay}")
        print(f"wrote {args.plot}")
    return 0


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
                     "thresholds": args.thresholds},
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
