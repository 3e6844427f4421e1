"""The service bench's report: per label count the scenarios, their ratios and the goals.

The goals are issue 11's: the worker drains a backlog at least 2x as fast as a plain Faust
pass-through agent and 0.4x as fast as a raw aiokafka loop (at 14 labels; the figures at
100 labels are reported too), a scaled learner learns at least 20,000 examples/s, p99 latency
stays under 50 ms at half the drain rate and the first prediction comes within 5 s.
"""

from __future__ import annotations

import math
import os

from stream_mlc.bench.service.workers import WorkerResult
from stream_mlc.bench.service.workload import FEATURES, LABEL_DELAY

RIVER_MODEL = "river-br-lr"
GOAL_OF_FAUST = 2.0
GOAL_OF_AIOKAFKA = 0.4
#: The default learner's worker against River's, in the same service (from an earlier issue).
GOAL_OF_RIVER = 5.0
GOAL_P99_S = 0.050
GOAL_STARTUP_S = 5.0
GOAL_LEARNED_PER_S = 20_000


def ratio(a: float, b: float) -> float:
    """``a / b``; nan when ``b`` is 0.

    >>> ratio(3.0, 2.0), math.isnan(ratio(1.0, 0.0))
    (1.5, True)
    """
    return a / b if b else float("nan")


def verdict(value: float, goal: float, below: bool = False) -> str:
    """``met`` / ``NOT met`` (``value >= goal``; ``below``: ``value < goal``), blank when not measured.

    >>> verdict(2.5, 2.0), verdict(0.3, 0.4), verdict(float("nan"), 2.0), verdict(0.04, 0.05, below=True)
    ('met', 'NOT met', '', 'met')
    """
    if math.isnan(value):
        return ""
    return "met" if (value < goal if below else value >= goal) else "NOT met"


def report(results: dict, crc: dict | None, args) -> None:
    """Everything measured: the scenarios of each label count, scale-out, profiles, then the goals."""
    print()
    print(f"stream-mlc bench service: {args.events} events/scenario ({args.river_events} for {RIVER_MODEL}), "
          f"{FEATURES} features, labels {LABEL_DELAY} events late, one run each; machine: {os.cpu_count()} cores "
          f"(shared: load average {os.getloadavg()[0]:.2f} at the end)")
    print("events/s from broker record timestamps (first output to last; (c): to the last example learned); "
          "cpu ms/ev: the process's and the broker's CPU per event while draining (robust to noise); "
          "(d) latency: prediction ts minus the feature's send time")
    if args.worker_env:
        print(f"worker environment: {' '.join(args.worker_env)}")
    if crc:
        c, p = crc["c"], crc["python"]
        print(f"kafka-python producer, {crc['bytes']:.0f}-byte feature messages, acks=1 linger 5 ms batch 256 KB: "
              f"{c['msg_s']:,.0f} msg/s ({c['mb_s']:.1f} MB/s) with C crc32c ({crc['c_impl']}); "
              f"{p['msg_s']:,.0f} msg/s ({p['mb_s']:.1f} MB/s) with the pure-Python CRC")
    for labels, r in results.items():
        report_labels(labels, r)
    if args.series:
        report_series(results)
    for labels, r in results.items():
        for w in r.get("series", [r["default"]]):
            for process in w.processes:
                if process.profile:
                    whose = "" if w.workers == 1 else f" {process.worker_id} ({process.role})"
                    print_profile(f"{w.label} worker{whose}, {labels} labels, {args.profile_phase} phase",
                                  process.profile, inclusive_top=30 if w.workers == 1 else 15,
                                  self_top=15 if w.workers == 1 else 10)
    report_goals(results)


def report_labels(labels: int, r: dict) -> None:
    """One label count: the scenarios side by side, then their ratios."""
    nan = float("nan")
    a, b, c, river = r["faust"], r["aiokafka"], r["default"], r["river"]
    print()
    print(f"== {labels} labels ==")
    print(f"{'scenario':<34}{'events':>7}{'ev/s':>8}{'cpu ms/ev':>10}{'broker':>7}{'start s':>8}"
          f"{'p50 ms':>8}{'p99 ms':>8}{'at ev/s':>8}{'RSS MB':>7}")
    print(f"{'(a) Faust pass-through':<34}{a['events']:>7}{a['rate']:>8,.0f}{a.get('cpu_ms', nan):>10.3f}"
          f"{a.get('broker_cpu_ms', nan):>7.3f}{a['startup_s']:>8.1f}")
    print(f"{'(b) raw aiokafka loop':<34}{b['events']:>7}{b['rate']:>8,.0f}{b.get('cpu_ms', nan):>10.3f}"
          f"{b.get('broker_cpu_ms', nan):>7.3f}")
    for w in (c, river):
        print(f"{'(c) worker ' + w.label:<34}{w.events:>7}{w.rate:>8,.0f}{w.cpu_ms:>10.3f}{w.broker_cpu_ms:>7.3f}"
              f"{w.startup_s:>8.1f}{latency_cells(w.latency)}{w.rss_peak_mb:>7.0f}")
    for w in (c, river):
        print_worker_details(w)
    print("ratios and goals (by events/s; in brackets by CPU per event, which the shared cores disturb less):")
    rows = [
        ("(c)/(b)  worker / aiokafka", c.rate, b["rate"], c.cpu_ms, b.get("cpu_ms", nan), GOAL_OF_AIOKAFKA),
        ("(c)/(a)  worker / Faust", c.rate, a["rate"], c.cpu_ms, a.get("cpu_ms", nan), GOAL_OF_FAUST),
        ("(c default)/(c river)", c.rate, river.rate, c.cpu_ms, river.cpu_ms, GOAL_OF_RIVER),
        ("(c river)/(b)", river.rate, b["rate"], river.cpu_ms, b.get("cpu_ms", nan), None),
    ]
    for name, rate, other, cpu, other_cpu, goal in rows:
        value = ratio(rate, other)
        goal_text = "" if goal is None else f">= {goal}"
        ok = "" if goal is None else verdict(value, goal)
        print(f"  {name:<30}{value:>8.2f} [{ratio(other_cpu, cpu):5.2f}]  {goal_text:<8}{ok}")
    if c.latency:
        p99 = c.latency["ts_p99"]
        what = f"p99 at {c.latency['achieved']:,.0f} ev/s"
        print(f"  {what:<30}{p99 * 1e3:>8.1f} ms       {'< 50 ms':<8}{verdict(p99, GOAL_P99_S, below=True)}")
    print(f"  {'first prediction (default)':<30}{c.startup_s:>8.1f} s        {'< 5 s':<8}"
          f"{verdict(c.startup_s, GOAL_STARTUP_S, below=True)}")


def print_worker_details(w: WorkerResult) -> None:
    lat = w.latency
    if w.events:
        print(f"    {w.label}: {ratio(1000.0, w.cpu_ms):,.0f} ev/s per core of worker CPU; scoring alone "
              f"{w.score_rate:,.0f} ev/s; {w.checkpoints} checkpoint records; RSS now {w.rss_mb:.0f} MB")
    if lat:
        print(f"    {w.label}: latency at {lat['achieved']:,.0f} ev/s ({lat['measured']} events): ts-field "
              f"p50/p90/p99/max {lat['ts_p50'] * 1e3:.1f}/{lat['ts_p90'] * 1e3:.1f}/{lat['ts_p99'] * 1e3:.1f}/"
              f"{lat['ts_max'] * 1e3:.1f} ms, record-timestamp p50/p99 {lat['broker_p50'] * 1e3:.1f}/"
              f"{lat['broker_p99'] * 1e3:.1f} ms")


def goal_rows(results: dict) -> list[dict]:
    """Issue 11's ratios of every default-learner run, at each label count.

    >>> w = WorkerResult("native-mlc", 10, rate=6000.0)
    >>> row, = goal_rows({14: {"faust": {"rate": 2400.0}, "aiokafka": {"rate": 30000.0}, "default": w}})
    >>> row["labels"], row["of_faust"], row["of_raw"]
    (14, 2.5, 0.2)
    """
    rows = []
    for labels, r in results.items():
        for w in r.get("series", [r["default"]]):
            rows.append({"labels": labels, "run": w.label, "rate": w.rate, "faust": r["faust"]["rate"],
                         "raw": r["aiokafka"]["rate"], "of_faust": ratio(w.rate, r["faust"]["rate"]),
                         "of_raw": ratio(w.rate, r["aiokafka"]["rate"]), "scaled": w.mode == "scaled",
                         "p99": w.latency.get("ts_p99", float("nan")), "startup": w.startup_s})
    return rows


def report_goals(results: dict) -> None:
    """The goals of issue 11 in one table: worker / Faust pass-through and worker / raw loop, per label count."""
    print()
    print(f"== goals (issue 11), one run each: worker / Faust pass-through >= {GOAL_OF_FAUST}x, worker / raw "
          f"aiokafka loop >= {GOAL_OF_AIOKAFKA}x (the goal is at 14 labels; other counts reported), first "
          f"prediction < {GOAL_STARTUP_S:.0f} s, p99 < {GOAL_P99_S * 1e3:.0f} ms; scaled: "
          f">= {GOAL_LEARNED_PER_S:,} learned ex/s ==")
    print(f"{'labels':>6}  {'run':<28}{'worker ev/s':>12}{'Faust ev/s':>11}{'raw ev/s':>10}"
          f"{'/Faust':>8}{'':<9}{'/raw':>7}{'':<9}{'start s':>8}{'':<9}{'p99 ms':>7}{'':<9}")
    for row in goal_rows(results):
        print(f"{row['labels']:>6}  {row['run']:<28}{row['rate']:>12,.0f}{row['faust']:>11,.0f}{row['raw']:>10,.0f}"
              f"{row['of_faust']:>8.2f} {verdict(row['of_faust'], GOAL_OF_FAUST):<8}"
              f"{row['of_raw']:>7.2f} {verdict(row['of_raw'], GOAL_OF_AIOKAFKA):<8}"
              f"{row['startup']:>8.1f} {verdict(row['startup'], GOAL_STARTUP_S, below=True):<8}"
              f"{row['p99'] * 1e3:>7.1f} {verdict(row['p99'], GOAL_P99_S, below=True):<8}")
        if row["scaled"]:
            # End to end (to the last example learned): a lower bound of the learner's own rate.
            print(f"{'':>8}{'learned ex/s (scaled)':<28}{row['rate']:>12,.0f}  >= {GOAL_LEARNED_PER_S:,}  "
                  f"{verdict(row['rate'], GOAL_LEARNED_PER_S)}")


def print_profile(title: str, prof: dict, inclusive_top: int = 30, self_top: int = 15) -> None:
    print()
    print(f"== py-spy profile of the {title} ({prof['samples']} samples at 100 Hz, idle included) ==")
    for role, info in prof["threads"].items():
        print(f"  thread {role}: {info['samples']} samples, busy (not in select) {info['busy'] * 100:.0f}%")
    print("main thread by category (share of its samples; the shell's periodic work by context, "
          "the rest by the deepest frame that names a part):")
    for name, share in prof["categories"].items():
        print(f"  {share * 100:6.1f}%  {name}")
    print("main thread, top frames by inclusive share:")
    for name, share in list(prof["inclusive"].items())[:inclusive_top]:
        print(f"  {share * 100:6.1f}%  {name}")
    print("main thread, top frames by self share:")
    for name, share in list(prof["self"].items())[:self_top]:
        print(f"  {share * 100:6.1f}%  {name}")


def latency_cells(lat: dict) -> str:
    """p50, p99 (ms) and the achieved rate of a paced run, 8 characters each."""
    if not lat:
        return f"{'-':>8}" * 3
    return f"{lat['ts_p50'] * 1000:>8.1f}{lat['ts_p99'] * 1000:>8.1f}{lat['achieved']:>8,.0f}"


def report_series(results: dict) -> None:
    """The worker counts side by side; speed-ups and CPU per event against the first run."""
    for labels, r in results.items():
        series = r["series"]
        base = series[0]
        print()
        print(f"== scale-out, {base.model}, {labels} labels: against the first row (x: this / first; "
              f"cpu x above 1 is more CPU per event) ==")
        print(f"{'workers':<16}{'ev/s':>8}{'score ev/s':>11}{'cpu ms/ev':>10}{'broker':>7}{'start s':>8}"
              f"{'p50 ms':>8}{'p99 ms':>8}{'at ev/s':>8}{'RSS MB':>7}{'ev/s x':>8}{'score x':>8}{'cpu x':>7}")
        for w in series:
            print(f"{f'{w.workers} {w.mode}':<16}{w.rate:>8,.0f}{w.score_rate:>11,.0f}{w.cpu_ms:>10.3f}"
                  f"{w.broker_cpu_ms:>7.3f}{w.startup_s:>8.1f}{latency_cells(w.latency)}{w.rss_peak_mb:>7.0f}"
                  f"{ratio(w.rate, base.rate):>8.2f}{ratio(w.score_rate, base.score_rate):>8.2f}"
                  f"{ratio(w.cpu_ms, base.cpu_ms):>7.2f}")
        print_processes(series)


def print_processes(series: list[WorkerResult]) -> None:
    """Each worker of each run: what its last status record says, its CPU and RSS."""
    print("  per worker: role, model version/learned, the status's age (from the last status record), CPU ms/event "
          "while draining, CPU s before the first prediction, RSS peak/now MB, partitions (last status)")
    width = max(len(p.worker_id) for w in series for p in w.processes) + 2
    for w in series:
        for p in w.processes:
            version = f"v{p.model_version}/{p.learned}"
            print(f"    {f'{w.workers} {w.mode}':<10}{p.worker_id:<{width}}{p.role:<16}{version:<14}"
                  f"{p.status_age_s:>5.1f} s{p.cpu_ms:>7.3f} ms/ev{p.startup_cpu_s:>6.1f} s"
                  f"{p.rss_peak_mb:>6.0f}/{p.rss_mb:.0f} MB  {p.assigned}")
