"""The quality cost of batching, against per-event semantics, on real streams.

``stream-mlc bench batching [--datasets DIR] [--data yeast scene 20ng] [--delays 0 200]
[--ticks 8 32] [--limit N]`` prints micro-F1 differences in two tables:

micro-batches in single mode (a what-if: the worker does not batch)
    every ``tick`` events are scored by the model as of the tick's start and their joined
    examples learned together at its end (``evaluate``'s ``tick``), against ``tick`` 1, the
    worker's exact per-event semantics. This is why the worker keeps per-event order: an
    order-sensitive stream (scene in file order) loses far more than issue 11's 0.005.
scaled mode's learner (what the service does)
    the stream through the real :class:`~stream_mlc.core.roles.Scorer` and
    :class:`~stream_mlc.core.roles.LearnTopicProcessor`, the scorer predicting with a
    snapshot refreshed every ``--snapshot-every`` learned examples (default 100; the service
    publishes one every 1,000 examples or every second, whichever comes first), the learner
    taking each learn-topic message's examples together (the model one step per example, in
    order; the metrics and the decision policy's counting and re-choosing once per message),
    against messages of one record each (everything per example). The learner's prequential
    micro-F1 (of the scorer's predictions) is the scaled service's.

yeast is River's copy; scene and 20ng are read from ``--datasets`` (../shared/datasets).
One run each, seeded data, no timing: exit status 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import orjson

from stream_mlc.bench.anchors import default_datasets_dir
from stream_mlc.bootstrap import build_engine
from stream_mlc.core.engine import EngineConfig
from stream_mlc.core.features import EncoderConfig
from stream_mlc.core.join import JoinLimits
from stream_mlc.core.processor import FEATURES, LABELS, Dispatch, Record
from stream_mlc.core.roles import LEARN_MESSAGE_BYTES, LearnTopicProcessor, Scorer, pack
from stream_mlc.core.snapshot import dumps, loads
from stream_mlc.evaluate import prequential
from stream_mlc.io.datasets import open_dataset
from stream_mlc.service.producer import feature_message, label_message
from stream_mlc.wire import unpack_records

FILES = {"yeast": "yeast", "scene": "scene/scene.arff.bz2", "20ng": "20ng/20ng.arff"}
#: Issue 11's bound on the quality cost of batching, in micro-F1.
BOUND = 0.005
KINDS = {"features": FEATURES, "labels": LABELS}
#: Input records a scorer handles at once (one fetch).
FETCH = 500


def single_mode(data, delay: int, ticks: list[int]) -> list[float]:
    """Micro-F1 at tick 1 (per event), then at each of ``ticks``."""
    return [prequential(data, "native-mlc", label_delay=delay, tick=tick).metrics["micro_f1"]
            for tick in [1, *ticks]]


def scaled_mode(data, delay: int, message_bytes: int, every: int) -> float:
    """Micro-F1 of the scaled service's predictions, its learner taking messages of ``message_bytes``."""
    config = EngineConfig(labels=tuple(data.label_names), join=JoinLimits(max_age_s=None, max_entries=None),
                          features=EncoderConfig(text_features=tuple(getattr(data, "text_features", ()))))
    engine = build_engine(config)
    learner = LearnTopicProcessor(Dispatch(engine, KINDS), ("learn", 0))
    snapshot = loads(dumps(engine.snapshot()))
    records = _inputs(data, delay)
    for start in range(0, len(records), FETCH):
        out = Scorer(KINDS, snapshot=snapshot).handle(records[start:start + FETCH], wall_now=0.0)
        forwarded = [orjson.dumps(doc) for send in out.sends if send.sink == "learn"
                     for doc in unpack_records(send.value)]
        offset = learner.processed
        learner.handle([Record("learn", 0, offset + i, 0.0, None, message)
                        for i, message in enumerate(pack(forwarded, size=message_bytes))], wall_now=0.0)
        if engine.learned - snapshot.version >= every:
            snapshot = loads(dumps(engine.snapshot()))
    return engine.metrics.report()["cumulative"]["micro_f1"]


def _inputs(data, delay: int) -> list[Record]:
    """The stream as a worker reads it: each feature event, and the labels of the one ``delay`` before."""
    events = list(data)
    records, offsets = [], {"features": 0, "labels": 0}

    def add(topic: str, event, value: bytes, t: float) -> None:
        records.append(Record(topic, 0, offsets[topic], t, event.id.encode(), value))
        offsets[topic] += 1

    for i, event in enumerate(events):
        add("features", event, feature_message(event), i / 1000)
        if i >= delay:
            add("labels", events[i - delay], label_message(events[i - delay]), i / 1000)
    for event in events[max(0, len(events) - delay):]:
        add("labels", event, label_message(event), len(events) / 1000)
    return records


def _open(name: str, datasets: Path, limit: int | None):
    path = FILES[name] if name == "yeast" else str(datasets / FILES[name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MEKA headers: the label conventions are reported elsewhere
        data = open_dataset(path)
    if limit is None:
        return data
    rows = list(data)[:limit]

    class Limited(list):
        label_names = data.label_names
        text_features = getattr(data, "text_features", ())

    return Limited(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stream-mlc bench batching", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=default_datasets_dir())
    parser.add_argument("--data", nargs="+", choices=list(FILES), default=list(FILES))
    parser.add_argument("--delays", type=int, nargs="+", default=[0, 200])
    parser.add_argument("--ticks", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--limit", type=int, help="only the first N events of each stream")
    parser.add_argument("--snapshot-every", type=int, default=100, help="scaled mode: learned examples per snapshot")
    args = parser.parse_args(argv)
    if any(tick < 2 for tick in args.ticks) or any(delay < 0 for delay in args.delays) or args.snapshot_every < 1:
        parser.error("--ticks must be >= 2, --delays >= 0 and --snapshot-every >= 1")
    print(f"micro-F1 of native-mlc; differences against per-event semantics (bound {BOUND})")
    print("\n== single mode: micro-batches of `tick` events (a what-if; the worker scores and learns per event) ==")
    print(f"{'data':<8}{'delay':>6}{'per event':>11}" + "".join(f"{f'tick {t}':>12}{'diff':>9}" for t in args.ticks))
    for name in args.data:
        data = _open(name, args.datasets, args.limit)
        for delay in args.delays:
            exact, *ticked = single_mode(data, delay, args.ticks)
            cells = "".join(f"{f1:>12.4f}{f1 - exact:>+9.4f}" for f1 in ticked)
            print(f"{name:<8}{delay:>6}{exact:>11.4f}{cells}", flush=True)
    print(f"\n== scaled mode: the learner takes each learn-topic message ({LEARN_MESSAGE_BYTES // 1024} KB) "
          f"together, against each example alone; a snapshot every {args.snapshot_every} examples ==")
    print(f"{'data':<8}{'delay':>6}{'per example':>13}{'per message':>13}{'diff':>9}")
    for name in args.data:
        data = _open(name, args.datasets, args.limit)
        for delay in args.delays:
            one = scaled_mode(data, delay, 1, args.snapshot_every)
            batched = scaled_mode(data, delay, LEARN_MESSAGE_BYTES, args.snapshot_every)
            print(f"{name:<8}{delay:>6}{one:>13.4f}{batched:>13.4f}{batched - one:>+9.4f}", flush=True)
    return 0
