"""Feature benchmark: the cost and the quality of categorical, tag and text features.

``stream-mlc bench features [--only PARTS] [--datasets DIR]`` prints, in one run:

``cost``
    per event, test-then-train with the default model (``predict_proba_one`` then
    ``learn_one``, 14 labels), for events of 20 non-zeros each: numbers straight into the
    model (the reference: what the service did before the encoder), numbers through the
    encoder, 20 categories (one-hot), 4 tag lists of 5 tags (multi-hot), and a text of 20
    distinct words (TF-IDF), new every event or repeated (100 distinct texts: the cache).
    Kinds are timed in alternating chunks, so that the machine's load hits all alike; the
    ratios are to the reference. Goal: categorical and text at most 2x.
``text``
    the ``synthetic-text`` stream (numbers, categories, tags, text) through the encoder and
    the default model, labels 0 and 200 events late. Goal: micro-F1 >= 0.85.
``standardize``
    the encoder's online standardisation (off, scale, center) for the default model on
    River's Yeast and, with ``--datasets``, scene.
``nominal``
    with ``--datasets``: medical with an identifier attribute of one category per row put
    first and its 0/1 features written as ``{YES,NO}``, the shape of MULAN's protein sets:
    the identifier read as its category index (the reader before issue 12), one-hot through
    the encoder, and left out.

Exit status 0 whatever the figures: it is a report, not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import tempfile
import time
from collections import deque
from pathlib import Path

import numpy as np

from stream_mlc.bench.anchors import default_datasets_dir
from stream_mlc.core.engine import DEFAULT_MODEL, Engine, EngineConfig
from stream_mlc.core.events import FeatureEvent
from stream_mlc.core.features import EncoderConfig, FeatureEncoder
from stream_mlc.core.join import JoinLimits
from stream_mlc.core.models import make_model
from stream_mlc.core.processor import Dispatch, Outcome, offline_record
from stream_mlc.core.thresholds import DEFAULT_THRESHOLDS
from stream_mlc.io import open_dataset
from stream_mlc.io.arff import open_arff, read_arff_header

PARTS = ("cost", "text", "standardize", "nominal")
METRICS = ("micro_f1", "macro_f1", "example_f1", "hamming_loss", "subset_accuracy")
NNZ, LABELS, EVENTS, CHUNK = 20, 14, 3000, 250


def run_encoded(records, encoder: FeatureEncoder | None, *, model: str = DEFAULT_MODEL, labels=(),
                thresholds: str = DEFAULT_THRESHOLDS, label_delay: int = 0) -> dict:
    """Prequential run through the engine with the encoder where the worker will call it.

    Each event is encoded when it is scored (``encode_one``: transformed with the encoder's
    state, then learned into it) and the engine keeps the encoded vector for learning, as
    ``evaluate.prequential`` will once the engine owns an encoder. Returns the final
    cumulative metrics and ``seconds``.
    """
    config = EngineConfig(model=model, thresholds=thresholds, labels=tuple(labels),
                          join=JoinLimits(max_age_s=None, max_entries=None), drift=None)
    engine = Engine.from_config(config)
    dispatch, out = Dispatch(engine, {}, emit=False), Outcome()  # the worker's dispatch
    waiting: deque = deque()
    start = time.perf_counter()
    n = 0
    for n, record in enumerate(records):
        x = record.features if encoder is None else encoder.encode_one(record.features)
        dispatch.score(offline_record("bench", n), FeatureEvent(record.id, x, record.ts), float(n), 0.0, out)
        waiting.append(record)
        while len(waiting) > label_delay:
            dispatch.join(offline_record("bench", n), waiting.popleft().label_event(), float(n), out)
    while waiting:
        dispatch.join(offline_record("bench", n), waiting.popleft().label_event(), float(n), out)
    metrics = engine.metrics.report()["cumulative"]
    return {**{name: metrics[name] for name in METRICS}, "seconds": time.perf_counter() - start}



# -- cost -------------------------------------------------------------------------------------
def cost_events(rng: np.random.Generator) -> dict[str, list[dict]]:
    """Raw events of each kind, every one with ``NNZ`` non-zeros once encoded."""
    words = [f"word{i}" for i in range(1000)]
    texts = [" ".join(rng.choice(words, NNZ, replace=False).tolist()) for _ in range(EVENTS)]
    numbers = [{f"x{j}": float(v) for j, v in zip(rng.choice(200, NNZ, replace=False).tolist(),
                                                   rng.standard_normal(NNZ).tolist(), strict=True)}
               for _ in range(EVENTS)]
    return {
        "numeric": numbers,
        "numeric+encoder": numbers,
        "categorical": [{f"c{j}": f"v{v}" for j, v in enumerate(rng.integers(10, size=NNZ).tolist())}
                        for _ in range(EVENTS)],
        "tags": [{f"g{j}": [f"t{v}" for v in rng.choice(50, 5, replace=False).tolist()] for j in range(4)}
                 for _ in range(EVENTS)],
        "text": [{"text": text} for text in texts],
        "text (repeated)": [{"text": texts[i]} for i in rng.integers(100, size=EVENTS).tolist()],
    }


def measure_cost(seed: int = 0) -> dict[str, dict[str, float]]:
    """Microseconds per event (encoder, and encoder + model) of each kind, timed in alternating chunks."""
    rng = np.random.default_rng(seed)
    events = cost_events(rng)
    # The events built here are long-lived: keep the cyclic collector from walking them over and
    # over while it is timed (it would charge the kinds that allocate most for the bench's own data).
    gc.collect()
    gc.freeze()
    truth = (rng.random((EVENTS, LABELS)) < 0.2).tolist()
    ys = [{f"y{j}": flag for j, flag in enumerate(row)} for row in truth]
    models = {kind: make_model(DEFAULT_MODEL) for kind in events}
    encoders = {kind: FeatureEncoder(EncoderConfig(text_features=("text",))) for kind in events}
    total = dict.fromkeys(events, 0.0)
    encoding = dict.fromkeys(events, 0.0)
    for start in range(0, EVENTS, CHUNK):
        for kind, raws in events.items():
            model, encoder = models[kind], encoders[kind]
            plain = kind == "numeric"
            t0 = time.perf_counter()
            spent = 0.0
            for i in range(start, min(start + CHUNK, EVENTS)):
                t1 = time.perf_counter()
                x = raws[i] if plain else encoder.encode_one(raws[i])
                spent += time.perf_counter() - t1
                model.predict_proba_one(x)
                model.learn_one(x, ys[i])
            total[kind] += time.perf_counter() - t0
            encoding[kind] += spent
    return {kind: {"total_us": 1e6 * total[kind] / EVENTS, "encode_us": 1e6 * encoding[kind] / EVENTS,
                   "hit_rate": encoders[kind].cache_stats()["hit_rate"]} for kind in events}


def print_cost() -> None:
    figures = measure_cost()
    reference = figures["numeric"]["total_us"]
    print(f"cost per event, {NNZ} non-zeros, {LABELS} labels, {DEFAULT_MODEL} test-then-train, {EVENTS} events a kind")
    print(f"{'kind':18s} {'us/event':>9s} {'encode us':>9s} {'ratio':>6s}  cache hit rate")
    for kind, row in figures.items():
        ratio = row["total_us"] / reference
        goal = "" if kind.startswith("numeric") else ("  <= 2x: ok" if ratio <= 2 else "  > 2x: MISSED")
        print(f"{kind:18s} {row['total_us']:9.1f} {row['encode_us']:9.1f} {ratio:6.2f}  "
              f"{row['hit_rate']:.2f}{goal}")


# -- quality ------------------------------------------------------------------------------------
def _show(name: str, metrics: dict) -> None:
    values = " ".join(f"{key}={metrics[key]:.4f}" for key in METRICS)
    print(f"  {name:34s} {values} ({metrics['seconds']:.1f} s)")


def print_text() -> None:
    print("synthetic-text (5000 events, 6 labels) through the encoder, default model and thresholds")
    ds = open_dataset("synthetic-text")
    for delay in (0, 200):
        encoder = FeatureEncoder(EncoderConfig(text_features=ds.text_features))
        result = run_encoded(ds, encoder, labels=ds.label_names, label_delay=delay)
        _show(f"label delay {delay}", result)
        print(f"  {'':34s} cache hit rate {encoder.cache_stats()['hit_rate']:.2f}; goal micro-F1 >= 0.85: "
              f"{'ok' if result['micro_f1'] >= 0.85 else 'MISSED'}")


def print_standardize(datasets: Path | None) -> None:
    print(f"online standardisation for {DEFAULT_MODEL} (label delay 0)")
    specs = [("yeast", "yeast")]
    if datasets is not None and (datasets / "scene/scene.arff.bz2").exists():
        specs.append(("scene", str(datasets / "scene/scene.arff.bz2")))
    for name, spec in specs:
        ds = open_dataset(spec)
        for mode in ("off", "scale", "center"):
            encoder = FeatureEncoder(EncoderConfig(standardize=mode))
            _show(f"{name} standardize={mode}", run_encoded(ds, encoder, labels=ds.label_names))


def protein_like(medical: Path, directory: str) -> str:
    """medical as a protein set, dense: an identifier per row first, its 0/1 features as {YES,NO}."""
    header = read_arff_header(str(medical))
    labels = set(header.label_index)
    records = list(open_arff(str(medical)))
    lines = ["@relation protein_like",
             "@attribute protein {" + ",".join(f"P{i:04d}" for i in range(len(records))) + "}"]
    for i, (name, _) in enumerate(header.attributes):
        lines.append(f"@attribute {name} " + ("{0,1}" if i in labels else "{YES,NO}"))
    lines.append("@data")
    for row, record in enumerate(records):
        values = [f"P{row:04d}"]
        for i, (name, _) in enumerate(header.attributes):
            if i in labels:
                values.append("1" if name in record.labels else "0")
            else:
                values.append("YES" if record.features.get(name) else "NO")
        lines.append(",".join(values))
    path = os.path.join(directory, "protein.arff")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    Path(directory, "protein.xml").write_text(Path(medical).with_suffix(".xml").read_text(encoding="utf-8"))
    return path


def print_nominal(datasets: Path | None) -> None:
    medical = None if datasets is None else datasets / "medical/medical.arff"
    if medical is None or not medical.exists():
        print("nominal: needs ../shared/datasets (medical) or --datasets")
        return
    print("medical as a protein set (identifier first, features {YES,NO}), default model, label delay 0")
    with tempfile.TemporaryDirectory() as directory:
        ds = open_dataset(protein_like(medical, directory))
        records = list(ds)
    # The reader before issue 12 read a nominal value as its index: P0123 -> 123.0, YES -> 0.0, NO -> 1.0.
    before = [_replace(r, {name: float(r.features[name][1:]) if name == "protein" else 1.0 - value
                           for name, value in r.features.items()}) for r in records]
    skipped = [_replace(r, {k: v for k, v in r.features.items() if k != "protein"}) for r in records]
    labels = ds.label_names
    _show("as indices (the reader before)", run_encoded(before, None, labels=labels))
    _show("identifier one-hot, YES = 1 (now)", run_encoded(records, FeatureEncoder(), labels=labels))
    _show("identifier left out, YES = 1", run_encoded(skipped, None, labels=labels))
    _show("medical as published (0/1)", run_encoded(open_dataset(str(medical)), None,
                                                    labels=open_dataset(str(medical)).label_names))


def _replace(record, features: dict):
    return dataclasses.replace(record, features=features)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stream-mlc bench features", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {PARTS}")
    parser.add_argument("--datasets", type=Path, default=None, help="the MULAN/MEKA folder (../shared/datasets)")
    args = parser.parse_args(argv)
    datasets = args.datasets or default_datasets_dir()
    datasets = datasets if datasets is not None and Path(datasets).is_dir() else None
    for part in [p.strip() for p in args.only.split(",") if p.strip()]:
        if part == "cost":
            print_cost()
        elif part == "text":
            print_text()
        elif part == "standardize":
            print_standardize(datasets)
        elif part == "nominal":
            print_nominal(datasets)
        else:
            parser.error(f"unknown part {part!r} (known: {', '.join(PARTS)})")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
