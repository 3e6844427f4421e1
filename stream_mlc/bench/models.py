"""Model benchmark: the native default learner against the published best and River's BR-LR.

``stream-mlc bench models [--datasets DIR] [--model SPEC] [--thresholds SPEC] [--only PARTS]
[--models SPEC ...] [--limit N]`` prints, in one run:

``quality``
    MLHAT2024's protocol (label delay 0, file order, final cumulative values) on emotions, yeast,
    scene, medical, enron, 20ng and tmc2007-500: per data set and metric, ours (``--model`` with
    ``--thresholds``), the best published value (ANCHORS.md) and ``river-br-lr`` (its own
    0.5 rule), marked ``best`` / ``river`` where ours is better. Goal: better than the best in
    >= 3 of the 5 metrics and than River in all 5. (No drift monitor: MLHAT's protocol.)
``speed``
    model only, test-then-train, on dense synthetic streams with 50 features and 14 / 100
    labels, against River's StandardScaler + BR LogisticRegression in the same run (River on a
    few thousand events only), timed in alternating chunks so that the machine's load hits
    all alike: ours per event (``predict_proba_one`` then ``learn_one``, River's interface)
    and ours in batches of 64 (``test_then_train_batch``: the batch scored, then learned in
    one mini-batch step), with the micro-F1 at 0.5 of each run's predictions to show what
    the batches cost. BLAS is pinned to one thread (threadpoolctl, if installed): the
    matrices are small. Goal: >= 30x at 14 labels, >= 100x at 100 labels.
``imdb``
    the whole imdb stream (121k events, 1001 sparse features, 28 labels) through the engine,
    reading included. Goal: under 60 s.
``delay``
    yeast with label delay 200 against delay 0. Goal: micro-F1 loss under 0.02. Also printed:
    the part of the loss no model can avoid (the first 200 events are scored before any label
    is known, so nothing is predicted), and the loss on the events after them.

``ablation`` (only when asked for: ``--only ablation``)
    the model families side by side (``--models``; default: BR ``native-lr`` and ``native-mlc``,
    CC ``chains``, LP ``powerset`` with joint decoding, ``knn``, ``neural`` and the ``auto``
    portfolio) on the same data sets, the first ``--limit`` events of each: the five metrics,
    how many beat the best published, and events per second.

Needs ``../shared/datasets`` (``--datasets``) for everything but ``speed``. Exit status 0
whatever the figures: it is a report, not a test.
"""

from __future__ import annotations

import argparse
import time
from collections import deque
from pathlib import Path

from stream_mlc.bench.anchors import METRICS, beats, default_datasets_dir, mlhat_table
from stream_mlc.core.engine import Engine
from stream_mlc.core.join import JoinBuffer, JoinLimits
from stream_mlc.core.metrics import MultiLabelMetrics
from stream_mlc.core.models import make_model
from stream_mlc.core.processor import Dispatch, Outcome, offline_record
from stream_mlc.core.thresholds import make_thresholds

#: The service's default model and thresholds (what the figures are about).
DEFAULT_MODEL = "native-mlc"
DEFAULT_THRESHOLDS = "adaptive"  # balanced objective (see core.thresholds)
BASELINE = "river-br-lr"

QUALITY = {
    "emotions": "emotions/emotions.arff",
    "yeast": "yeast/yeast.arff",
    "scene": "scene/scene.arff.bz2",
    "medical": "medical/medical.arff",
    "enron": "enron/enron.arff",
    "20ng": "20ng/20ng.arff",
    "tmc2007-500": "tmc2007-500/tmc2007-500.arff",
}
IMDB = "imdb/imdb.arff.bz2"
SHORT = {"subset_accuracy": "SubAcc", "hamming_loss": "HamLoss", "example_f1": "exF1",
         "micro_f1": "miF1", "macro_f1": "maF1"}
PARTS = ("quality", "speed", "imdb", "delay", "ablation")
#: What ``--only`` runs by default (the ablation is long: ask for it).
DEFAULT_PARTS = ("quality", "speed", "imdb", "delay")
#: The model families compared by the ablation: binary relevance, classifier chains, label
#: powerset, and the others (``--models`` to change).
ABLATION = ("native-lr", "native-mlc", "chains", "powerset:lr=0.03,decode=1.0,joint=1.0", "knn", "neural", "auto")


def run_engine(records, model: str, thresholds: str = "fixed", *, label_delay: int = 0, labels=None,
               skip: int = 0) -> dict:
    """Prequential run through the engine (as ``evaluate.prequential``), with chosen thresholds.

    Returns the final cumulative metrics plus ``seconds`` and ``events``; with ``skip`` > 0
    also ``after``: the cumulative metrics of the events from number ``skip`` on.
    """
    from stream_mlc import evaluate

    if labels is None:
        labels = tuple(getattr(records, "label_names", ()))
    if not skip:
        result = evaluate.prequential(records, model, label_delay=label_delay, labels=labels,
                                      thresholds=thresholds)
        return {**result.metrics, "seconds": result.seconds, "events": result.events}
    engine = Engine(make_model(model), thresholds=make_thresholds(thresholds),
                    join=JoinBuffer(JoinLimits(max_age_s=None, max_entries=None)),
                    metrics=MultiLabelMetrics(), labels=tuple(labels))
    after = MultiLabelMetrics()
    position: dict = {}
    learn = engine.learn

    def learn_and_count(joined) -> None:  # the metrics of the examples after the first `skip` too
        if position.pop(joined.id, 0) >= skip:
            after.update(joined.labels, joined.predicted, joined.scores, engine.labels, joined.observed)
        learn(joined)

    engine.learn = learn_and_count
    dispatch, out = Dispatch(engine, {}, emit=False), Outcome()  # the worker's dispatch
    waiting: deque = deque()
    start = time.perf_counter()
    scored = 0
    for record in records:
        position[record.id] = scored
        dispatch.score(offline_record("bench", scored), record.feature_event(), float(scored), 0.0, out)
        scored += 1
        waiting.append(record)
        while len(waiting) > label_delay:
            dispatch.join(offline_record("bench", scored), waiting.popleft().label_event(), float(scored), out)
    while waiting:
        dispatch.join(offline_record("bench", scored), waiting.popleft().label_event(), float(scored), out)
    seconds = time.perf_counter() - start
    return {**engine.metrics.report()["cumulative"], "seconds": seconds, "events": scored,
            "after": after.report()["cumulative"]}



class _Materialised:
    """A data set read once into memory, re-iterable, keeping its label names."""

    def __init__(self, dataset):
        self.label_names = tuple(dataset.label_names)
        self.records = list(dataset)

    def __iter__(self):
        return iter(self.records)


def quality(datasets: Path, model: str, thresholds: str, names=None) -> bool:
    from stream_mlc.io.datasets import open_dataset

    published = mlhat_table(datasets / "ANCHORS.md")
    print(f"== quality: MLHAT2024 protocol (delay 0, file order, cumulative); ours = {model} + thresholds {thresholds}")
    print(f"{'data set':<12}{'metric':<8}{'ours':>8}{'best published':>24}{BASELINE:>13}   ours better than")
    all_ok = True
    for name, path in QUALITY.items():
        if names and name not in names:
            continue
        data = _Materialised(open_dataset(str(datasets / path)))
        ours = run_engine(data, model, thresholds)
        river = run_engine(data, BASELINE, "fixed")
        wins = beat_river = 0
        for metric in METRICS.values():
            best = published[name]["best"][metric]
            method = published[name]["best_method"][metric]
            w, r = beats(metric, ours[metric], best), beats(metric, ours[metric], river[metric])
            wins += w
            beat_river += r
            marks = ("best " if w else "     ") + ("river" if r else "")
            row = f"{name:<12}{SHORT[metric]:<8}{ours[metric]:>8.3f}{method:>17} {best:>6.3f}"
            print(f"{row}{river[metric]:>13.3f}   {marks}")
        ok = wins >= 3 and beat_river == 5
        all_ok &= ok
        print(f"{name:<12}better than best in {wins}/5, than {BASELINE} in {beat_river}/5: "
              f"{'MET' if ok else 'NOT met'}; {ours['events']} events, ours {ours['seconds']:.1f} s, "
              f"river {river['seconds']:.1f} s")
    return all_ok


def _stream(n_labels: int, n: int, seed: int = 1):
    from stream_mlc.io.synthetic import synthetic_dataset

    data = synthetic_dataset(f"synthetic:n={n},features=50,labels={n_labels},seed={seed}")
    names = data.label_names
    xs, ys = [], []
    for record in data:
        xs.append(record.features)
        ys.append({label: label in record.labels for label in names})
    return xs, ys


class _Timed:
    """A test-then-train loop run in chunks, timed, with the micro-F1 of its predictions at 0.5."""

    def __init__(self, model, batch: int = 0):
        self.model, self.batch = model, batch
        self.seconds = 0.0
        self.events = 0
        self.tp = self.fp = self.fn = 0

    def run(self, xs, ys) -> None:
        model, batch = self.model, self.batch
        start = time.perf_counter()
        if batch:
            scored = []
            for i in range(0, len(xs), batch):
                scored.append(model.test_then_train_batch(xs[i : i + batch], ys[i : i + batch]))
        else:
            scored = []
            for x, y in zip(xs, ys, strict=True):
                scored.append(model.predict_proba_one(x))
                model.learn_one(x, y)
        self.seconds += time.perf_counter() - start
        self.events += len(xs)
        if batch:
            rows = [dict(zip(labels, row.tolist(), strict=True)) for labels, P in scored for row in P]
        else:
            rows = [{label: p[True] for label, p in proba.items()} for proba in scored]
        for proba, y in zip(rows, ys, strict=True):
            for label, truth in y.items():
                predicted = proba.get(label, 0.0) > 0.5
                self.tp += predicted and truth
                self.fp += predicted and not truth
                self.fn += truth and not predicted

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def micro_f1(self) -> float:
        return 2 * self.tp / max(2 * self.tp + self.fp + self.fn, 1)


def _one_blas_thread():
    """Pin BLAS to one thread if threadpoolctl is there: the matrices are small, threads only cost."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def speed(model: str, river_events: int, batch: int = 64, events: tuple[int, int] = (16_000, 8_000)) -> bool:
    print(f"== speed: model only, test-then-train, dense synthetic (50 features); ours = {model}")
    print("   timed in alternating chunks (River, ours per event, ours in batches of "
          f"{batch}) so that load on the machine hits all alike; micro-F1 of the predictions at 0.5")
    print(f"{'labels':>6}{BASELINE + ' ev/s':>18}{'ours/event':>12}{'ratio':>7}{'goal':>6}"
          f"{'ours/batch':>12}{'ratio':>7}   micro-F1 river / event / batch")
    all_ok = True
    chunks = 8
    with _one_blas_thread():
        for n_labels, goal in ((14, 30), (100, 100)):
            n_river = river_events if n_labels == 14 else max(river_events // 3, 400)
            n_ours = events[0] if n_labels == 14 else events[1]
            xs, ys = _stream(n_labels, n_ours)
            river = _Timed(make_model(BASELINE))
            one = _Timed(make_model(model))
            # Models without a batch path (the families, the portfolio) are timed per event only.
            batched = hasattr(one.model, "test_then_train_batch")
            many = _Timed(make_model(model), batch) if batched else one
            r_step, o_step = n_river // chunks, n_ours // chunks
            for c in range(chunks):
                river.run(xs[c * r_step : (c + 1) * r_step], ys[c * r_step : (c + 1) * r_step])
                one.run(xs[c * o_step : (c + 1) * o_step], ys[c * o_step : (c + 1) * o_step])
                if batched:
                    many.run(xs[c * o_step : (c + 1) * o_step], ys[c * o_step : (c + 1) * o_step])
            per_event, per_batch = one.rate / river.rate, many.rate / river.rate
            ok_event, ok_batch = per_event >= goal, per_batch >= goal
            all_ok &= ok_batch
            print(f"{n_labels:>6}{river.rate:>18,.0f}{one.rate:>12,.0f}{per_event:>6.1f}x{goal:>5}x"
                  f"{many.rate:>12,.0f}{per_batch:>6.1f}x   {river.micro_f1:.3f} / {one.micro_f1:.3f} / "
                  f"{many.micro_f1:.3f}   per event {'MET' if ok_event else 'NOT met'}, "
                  f"batch {'MET' if ok_batch else 'NOT met'}")
    return all_ok


def imdb(datasets: Path, model: str, thresholds: str) -> bool:
    from stream_mlc.io.datasets import open_dataset

    print(f"== imdb: whole stream through the engine, reading included; ours = {model}")
    start = time.perf_counter()
    result = run_engine(open_dataset(str(datasets / IMDB)), model, thresholds)
    seconds = time.perf_counter() - start
    ok = seconds < 60
    print(f"imdb: {result['events']} events in {seconds:.1f} s ({result['events'] / seconds:,.0f} ev/s); "
          + ", ".join(f"{SHORT[m]} {result[m]:.3f}" for m in METRICS.values())
          + f"; goal < 60 s {'MET' if ok else 'NOT met'}")
    return ok


def delay(model: str, thresholds: str, lag: int = 200) -> bool:
    from stream_mlc.io.datasets import open_dataset

    data = _Materialised(open_dataset("yeast"))
    print(f"== label delay on yeast; ours = {model}")
    base = run_engine(data, model, thresholds, label_delay=0, skip=lag)
    late = run_engine(data, model, thresholds, label_delay=lag, skip=lag)
    loss = base["micro_f1"] - late["micro_f1"]
    loss_after = base["after"]["micro_f1"] - late["after"]["micro_f1"]
    # What the delayed run must lose whatever the model: its first `lag` events are scored
    # before any label arrives, by a model that knows no label.
    cold = _cold_start_floor(base, lag)
    ok = loss < 0.02
    print(f"yeast micro-F1: delay 0 {base['micro_f1']:.3f}, delay {lag} {late['micro_f1']:.3f}, "
          f"loss {loss:+.3f}; goal < 0.02 {'MET' if ok else 'NOT met'}")
    print(f"  of which the cold start (the first {lag} events, scored before any label is known): "
          f"at least {cold:+.3f}; loss on the events after it: {loss_after:+.3f}")
    return ok


def _cold_start_floor(base: dict, lag: int) -> float:
    """Micro-F1 lost by the delay-0 run if its first ``lag`` events had predicted nothing."""
    total, after = base, base["after"]
    n_true = total["cardinality_true"] * total["events"]
    tp = total["micro_recall"] * n_true
    n_pred = total["cardinality_pred"] * total["events"]
    # The same counts over the events after the cold start.
    n_true_after = after["cardinality_true"] * (total["events"] - lag)
    tp_after = after["micro_recall"] * n_true_after
    n_pred_after = after["cardinality_pred"] * (total["events"] - lag)
    without = 2 * tp_after / (n_pred_after + n_true)  # nothing predicted, every truth missed
    return 2 * tp / (n_pred + n_true) - without


def ablation(datasets: Path, models, thresholds: str, names=None, limit: int = 5000) -> bool:
    """Every model on every quality data set (the first ``limit`` events): the five metrics and the speed."""
    from stream_mlc.io.datasets import open_dataset

    published = mlhat_table(datasets / "ANCHORS.md")
    print(f"== ablation: delay 0, file order, cumulative, thresholds {thresholds}, at most {limit} events per set")
    print(f"{'data set':<12}{'model':<40}" + "".join(f"{SHORT[m]:>8}" for m in METRICS.values())
          + f"{'> best':>8}{'ev/s':>8}")
    for name, path in QUALITY.items():
        if names and name not in names:
            continue
        dataset = _Materialised(open_dataset(str(datasets / path)))
        dataset.records = dataset.records[:limit]
        best = published[name]["best"]
        print(f"{name:<12}{'best published':<40}" + "".join(f"{best[m]:>8.3f}" for m in METRICS.values()))
        for model in models:
            ours = run_engine(dataset, model, thresholds)
            wins = sum(beats(m, ours[m], best[m]) for m in METRICS.values())
            print(f"{name:<12}{model[:39]:<40}" + "".join(f"{ours[m]:>8.3f}" for m in METRICS.values())
                  + f"{wins:>6}/5{ours['events'] / ours['seconds']:>8,.0f}", flush=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stream-mlc bench models", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=default_datasets_dir())
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--thresholds", default=DEFAULT_THRESHOLDS)
    parser.add_argument("--only", default=",".join(DEFAULT_PARTS),
                        help=f"comma-separated parts of: {', '.join(PARTS)} (default: all but ablation)")
    parser.add_argument("--models", nargs="+", default=list(ABLATION), help="ablation: the model specs")
    parser.add_argument("--limit", type=int, default=5000, help="ablation: events per data set")
    parser.add_argument("--sets", default="", help="comma-separated quality data sets (default: all seven)")
    parser.add_argument("--river-events", type=int, default=3000, help="events River is timed on (14 labels)")
    parser.add_argument("--speed-events", type=int, default=16_000,
                        help="events ours is timed on at 14 labels (half at 100 labels)")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    verdicts = {}
    if "quality" in parts:
        verdicts["quality"] = quality(args.datasets, args.model, args.thresholds,
                                      [s for s in args.sets.split(",") if s])
    if "speed" in parts:
        verdicts["speed"] = speed(args.model, args.river_events, events=(args.speed_events, args.speed_events // 2))
    if "imdb" in parts:
        verdicts["imdb"] = imdb(args.datasets, args.model, args.thresholds)
    if "delay" in parts:
        verdicts["delay"] = delay(args.model, args.thresholds)
    if "ablation" in parts:
        ablation(args.datasets, args.models, args.thresholds,
                 [s for s in args.sets.split(",") if s], args.limit)
    print("== goals: " + ", ".join(f"{part} {'MET' if ok else 'NOT met'}" for part, ok in verdicts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
