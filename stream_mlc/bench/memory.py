"""``stream-mlc bench memory``: does the worker's memory stay bounded when most labels never come?

Runs the worker's core :class:`~stream_mlc.core.engine.Engine` offline (no Kafka) over a
seeded synthetic stream (``--events``, 1,000,000 by default; 20 dense features, 5 labels):
every event is scored (``engine.score``: predicted, then kept in the join buffer for its
labels), and only ``--labeled`` of them (10%) ever get their labels, ``--label-delay``
events later (``engine.join``, then ``engine.learn``). The other 90% wait in the join buffer
until they expire: by count (``--max-pending``, 100,000 entries) and, with ``--max-age-s``,
by age in event time (``--rate`` events per second of event time); the engine's ``expire``
runs once per second of event time, as the worker's housekeeping timer does. Joined events
stay in the buffer as tombstones (to recognise duplicate labels) and expire the same way.

The process's resident set (``VmRSS`` in ``/proc/self/status``; the peak is ``VmHWM``) is
sampled every ``--sample-every`` events and when the buffer first reaches a limit (its first
expiry, by count or by age): from then on it should hold about as many entries as it drops. The
table shows events vs RSS; then the peak, the expiries, throughput, and the verdict: the
growth after the buffer filled (largest RSS after the fill, and over the second half of the
stream, minus the RSS when it filled: a one-time settling of the buffer's hash tables shows
here), and whether RSS stopped growing: over the steady part of the stream (its second half,
or the second half of what follows the fill when the buffer filled later), RSS may rise by at
most ``--flat-mib`` (8 MiB) or 2% of the RSS, whichever is more. Exit status 0 when flat, 1
when not, 2 when there is nothing to judge (the buffer never filled, or too few samples after).

Run: ``stream-mlc bench memory`` (a few minutes) or ``--events 300000`` for a quick look.
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
from collections import deque

import numpy as np

from stream_mlc.bootstrap import build_engine
from stream_mlc.core.drift import DriftSettings
from stream_mlc.core.engine import Engine, EngineConfig
from stream_mlc.core.events import FeatureEvent, LabelEvent
from stream_mlc.core.join import JoinLimits
from stream_mlc.core.models import available
from stream_mlc.core.processor import Dispatch, Outcome, offline_record
from stream_mlc.io.synthetic import SyntheticConfig, synthetic_records

MIB = 1024 * 1024
FALLBACK_MODEL = "river-br-lr:scale=False"


def default_model() -> str:
    """A native learner when installed (fast enough for a million events), else River's LR unscaled."""
    names = available()
    for preferred in ("native-mlc", "native-lr"):
        if preferred in names:
            return preferred
    native = [name for name in names if name.startswith("native")]
    return native[0] if native else FALLBACK_MODEL


def rss_bytes() -> int:
    """The resident set now (VmRSS); the peak so far where /proc is missing."""
    value = _proc_status("VmRSS")
    return value if value is not None else _maxrss()


def peak_rss_bytes() -> int:
    value = _proc_status("VmHWM")
    return value if value is not None else _maxrss()


def _proc_status(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return None


def _maxrss() -> int:
    # ru_maxrss is in kB on Linux, bytes on macOS.
    import sys

    raw = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return raw if sys.platform == "darwin" else raw * 1024


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="stream-mlc bench memory",
        description="Memory of the engine when most labels never come (see the module docstring).",
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the stream (1,000,000)")
    parser.add_argument("--max-pending", type=int, default=100_000, help="join buffer entries kept (100,000)")
    parser.add_argument("--max-age-s", type=float, default=None,
                        help="pending joins older than this many seconds of event time expire (default: no age limit)")
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second of event time (1000)")
    parser.add_argument("--labeled", type=float, default=0.1, help="share of events whose labels come (0.1)")
    parser.add_argument("--label-delay", type=int, default=1000, help="events between an event and its labels (1000)")
    parser.add_argument("--model", default=None, help="model spec (default: a native learner if installed, "
                        f"else {FALLBACK_MODEL})")
    parser.add_argument("--no-drift", action="store_true", help="without the drift monitor (the worker runs it)")
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--labels", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-every", type=int, default=50_000, help="events between RSS samples (50,000)")
    parser.add_argument("--flat-mib", type=float, default=8.0, help="growth over the steady part still called flat (8)")
    args = parser.parse_args(argv)
    if args.events < 1 or args.max_pending < 1 or args.sample_every < 1 or args.rate <= 0:
        parser.error("--events, --max-pending, --sample-every and --rate must be positive")
    if not 0.0 <= args.labeled <= 1.0 or args.label_delay < 0:
        parser.error("--labeled must be in [0, 1] and --label-delay >= 0")
    return args


def run(args: argparse.Namespace) -> dict:
    """Drive the engine over the stream; return the samples and counts (printing nothing)."""
    model = args.model or default_model()
    config = EngineConfig(
        model=model,
        join=JoinLimits(max_age_s=args.max_age_s, max_entries=args.max_pending),
        drift=None if args.no_drift else DriftSettings(),
    )
    engine = build_engine(config)
    dispatch, out = Dispatch(engine, {}, emit=False), Outcome()
    stream = synthetic_records(
        SyntheticConfig(n=args.events, features=args.features, labels=args.labels, seed=args.seed)
    )
    labeled = np.random.default_rng([args.seed, 17]).random(args.events) < args.labeled
    waiting: deque[tuple[int, LabelEvent]] = deque()  # (due at event index, labels), in due order
    dt = 1.0 / args.rate
    next_expire = 1.0
    samples: list[tuple[int, float, int]] = []  # (events, seconds, RSS bytes)
    filled_at: tuple[int, int] | None = None  # (events, RSS bytes) when the buffer first reached a limit
    labels_sent = 0

    gc.collect()
    samples.append((0, 0.0, rss_bytes()))
    start = time.perf_counter()
    for i, record in enumerate(stream):
        now = i * dt
        at = offline_record("bench", i, now)
        while waiting and waiting[0][0] <= i:
            dispatch.join(at, waiting.popleft()[1], now, out)
        dispatch.score(at, FeatureEvent(record.id, record.features, now), now, 0.0, out)
        if labeled[i]:
            waiting.append((i + args.label_delay, LabelEvent(record.id, record.labels, None, now)))
            labels_sent += 1
        if now >= next_expire:
            engine.expire(now)
            next_expire += 1.0
        n = i + 1
        if filled_at is None and (len(engine.buffer) >= args.max_pending or _expired(engine)):
            filled_at = (n, rss_bytes())
        if n % args.sample_every == 0 or n == args.events:
            samples.append((n, time.perf_counter() - start, rss_bytes()))
    # The labels still in flight at the end of the stream come too.
    end_time = args.events * dt
    at = offline_record("bench", args.events, end_time)
    while waiting:
        dispatch.join(at, waiting.popleft()[1], end_time, out)
    learned = out.counts["joined"]
    seconds = time.perf_counter() - start
    joined = engine.buffer.counts.get("joined", 0)
    return {
        "model": model,
        "samples": samples,
        "filled_at": filled_at,
        "seconds": seconds,
        "peak": peak_rss_bytes(),
        "counts": dict(engine.buffer.counts),
        "pending": len(engine.buffer),
        "labels_sent": labels_sent,
        "joined": joined,
        "learned": learned,
    }


def _expired(engine: Engine) -> int:
    counts = engine.buffer.counts
    return counts["expired_pending"] + counts["expired_done"] + counts["expired_early"]


def judge(result: dict, args: argparse.Namespace) -> dict:
    """How much RSS grew after the buffer filled, and whether it stopped growing.

    Right after the fill, RSS still settles: the buffer's dict and its arrival order grow
    their hash tables to a steady size under the churn of inserts and deletes (a dict keeps
    deleted slots until it resizes, up to about twice its live size), and the allocator
    reaches its working set. So the verdict looks at the steady part of the stream: from the
    middle of the stream (or half-way from the fill to the end, when the buffer filled
    later) to the end; RSS is flat when it rises by at most the allowance over that part.
    """
    filled_at = result["filled_at"]
    if filled_at is None:
        return {"filled": False, "why": "the join buffer never reached a limit (no entry expired)"}
    fill_events, fill_rss = filled_at
    samples = result["samples"]
    half = args.events / 2
    steady_from = half if fill_events <= half else (fill_events + args.events) / 2
    steady = [(n, rss) for n, _, rss in samples if n >= steady_from]
    if len(steady) < 2:
        return {"filled": False, "why": f"fewer than 2 RSS samples from event {steady_from:,.0f} on"}
    start_events, start_rss = steady[0]
    after = [rss for n, _, rss in samples if n >= fill_events]
    second_half = [rss for n, _, rss in samples if n >= args.events / 2]
    allowed = max(args.flat_mib * MIB, 0.02 * start_rss)
    steady_growth = max(rss for _, rss in steady) - start_rss
    return {
        "filled": True,
        "fill_events": fill_events,
        "fill_rss": fill_rss,
        "growth_after": max(after, default=fill_rss) - fill_rss,
        "half_vs_fill": (max(second_half) - fill_rss) if second_half else None,
        "steady_from": start_events,
        "steady_rss": start_rss,
        "steady_growth": steady_growth,
        "allowed": allowed,
        "flat": steady_growth <= allowed,
    }


def report(result: dict, verdict: dict, args: argparse.Namespace) -> None:
    counts = result["counts"]
    expired = {k.removeprefix("expired_"): v for k, v in counts.items() if k.startswith("expired_")}
    age = f"max age {args.max_age_s:g} s at {args.rate:g} ev/s" if args.max_age_s is not None else "no age limit"
    print(f"model {result['model']}, drift monitor {'off' if args.no_drift else 'on'}; {args.events:,} events, "
          f"{args.labeled:.0%} labeled {args.label_delay} events late, "
          f"join buffer max {args.max_pending:,} entries, {age}")
    print(f"{'events':>10} {'seconds':>9} {'RSS MiB':>9}")
    for n, seconds, rss in result["samples"]:
        print(f"{n:>10,} {seconds:>9.1f} {rss / MIB:>9.1f}")
    print(f"peak RSS {result['peak'] / MIB:.1f} MiB")
    print(f"expired {sum(expired.values()):,} entries ({', '.join(f'{k} {v:,}' for k, v in sorted(expired.items()))}); "
          f"pending at the end {result['pending']:,}")
    print(f"labels sent {result['labels_sent']:,}, joined {result['joined']:,}, learned {result['learned']:,}, "
          f"duplicates {counts.get('duplicate_labels', 0) + counts.get('duplicate_features', 0):,}")
    print(f"{args.events / result['seconds']:,.0f} events/s ({result['seconds']:.1f} s)")
    if not verdict["filled"]:
        print(f"{verdict['why']}: nothing to judge (more --events, or a smaller --sample-every)")
        return
    half = verdict["half_vs_fill"]
    print(f"buffer full (first expiry) at event {verdict['fill_events']:,} "
          f"with RSS {verdict['fill_rss'] / MIB:.1f} MiB; "
          f"max RSS after it minus RSS then: {verdict['growth_after'] / MIB:+.1f} MiB"
          + (f" (over the second half: {half / MIB:+.1f} MiB)" if half is not None else ""))
    print(f"from event {verdict['steady_from']:,} (RSS {verdict['steady_rss'] / MIB:.1f} MiB) to the end: "
          f"{verdict['steady_growth'] / MIB:+.1f} MiB -> RSS {'FLAT' if verdict['flat'] else 'NOT FLAT'} "
          f"(allowed {verdict['allowed'] / MIB:.1f} MiB)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    verdict = judge(result, args)
    report(result, verdict, args)
    if not verdict["filled"]:
        return 2
    return 0 if verdict["flat"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
