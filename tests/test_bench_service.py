"""The service benchmark's options (the full run is `stream-mlc bench service`, on a broker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_mlc.bench import service as bench


def test_without_workers_one_single_worker_and_no_comparison():
    args = bench.parse_args([])
    assert args.runs == [(1, "single")]
    assert not args.series


def test_worker_counts_choose_the_mode_unless_given():
    assert bench.parse_args(["--workers", "1,2"]).runs == [(1, "single"), (2, "scaled")]
    assert bench.parse_args(["--workers", "1,2", "--mode", "scaled"]).runs == [(1, "scaled"), (2, "scaled")]
    args = bench.parse_args(["--mode", "scaled"])
    assert args.runs == [(1, "scaled")] and args.series
    assert bench.parse_args(["--workers", "3"]).series


@pytest.mark.parametrize("argv", [["--workers", "2", "--mode", "single"], ["--workers", "0"],
                                  ["--workers", "1,x"], ["--workers", ""], ["--mode", "many"]])
def test_bad_worker_options_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(argv)
    assert exit_info.value.code == 2
    assert "usage: stream-mlc bench service" in capsys.readouterr().err


def test_profiles_of_several_workers_are_numbered():
    path = Path("out/worker-14labels-2scaled.raw.txt")
    assert bench.numbered(path, 0, 1) == path
    assert bench.numbered(path, 1, 2) == Path("out/worker-14labels-2scaled-2.raw.txt")


def test_a_run_of_one_single_worker_keeps_the_model_as_its_label():
    assert bench.WorkerResult("native-mlc", 10).label == "native-mlc"
    assert bench.WorkerResult("native-mlc", 10, workers=2, mode="scaled").label == "native-mlc x2 scaled"


def test_assigned_partitions_are_summarised_by_topic():
    assigned = ["b1.features:0", "b1.features:2", "b1.labels:0", "b1.labels:2", "b1.learn:0",
                "bench-b1-__assignor-__leader:0"]
    assert bench.partitions_text(assigned, "b1.") == "features 0,2 labels 0,2 learn 0"
    assert bench.partitions_text([], "b1.") == ""


def test_the_package_keeps_the_command_line_entry_points():
    from stream_mlc.bench.service import __main__ as entry

    assert bench.main is entry.main
    assert callable(bench.parse_args) and callable(bench.numbered)


# -- the profile's categories -----------------------------------------------------------------
MAIN = ["<module> (stream_mlc/__main__.py:3)", "run_worker (stream_mlc/service/worker.py:50)",
        "run_forever (asyncio/base_events.py:600)"]
RELEASE = [*MAIN, "Service.release (stream_mlc/service/app.py:100)",
           "EventTimeProcessor._dispatch (stream_mlc/core/roles.py:120)",
           "Dispatch.handle (stream_mlc/core/processor.py:180)"]


@pytest.mark.parametrize("leaf, category", [
    (["decode_features (stream_mlc/wire.py:40)", "_finite (stream_mlc/wire.py:320)"], "wire decode (wire.py)"),
    (["Dispatch.score (stream_mlc/core/processor.py:200)", "encode_prediction (stream_mlc/wire.py:101)"],
     "wire encode (wire.py)"),
    (["Engine.learn (stream_mlc/core/engine.py:180)", "MultiLabelMetrics.update (stream_mlc/core/metrics.py:90)"],
     "metrics (core/metrics.py)"),
    (["Engine.learn (stream_mlc/core/engine.py:180)", "learn_one (stream_mlc/learners/linear.py:379)",
      "_step (stream_mlc/learners/linear.py:400)"], "learners: learn"),
    (["Engine.score (stream_mlc/core/engine.py:146)", "predict (stream_mlc/core/snapshot.py:70)",
      "predict_proba_one (stream_mlc/learners/linear.py:364)"], "learners: predict"),
    (["Engine.learn (stream_mlc/core/engine.py:180)", "Adaptive.update (stream_mlc/core/thresholds.py:50)"],
     "thresholds (core/thresholds.py)"),
    (["Engine._keep (stream_mlc/core/engine.py:156)", "DriftMonitor.observe (stream_mlc/core/drift/monitor.py:9)"],
     "drift (core/drift, alerts)"),
    (["Engine.join (stream_mlc/core/engine.py:172)", "JoinBuffer.add_labels (stream_mlc/core/join.py:111)"],
     "join buffer (core/join.py)"),
    ([], "dispatch (core/processor.py)"),
])
def test_a_sample_counts_for_the_deepest_part_of_the_worker_it_is_in(leaf, category):
    assert bench.categorize(RELEASE + leaf) == category


@pytest.mark.parametrize("stack, category", [
    ([*MAIN, "EventTimeAligner.pop_ready (stream_mlc/core/align.py:80)"], "aligner (core/align.py)"),
    ([*MAIN, "Outputs.publish (stream_mlc/service/shell.py:70)", "Outputs.send (stream_mlc/service/shell.py:60)",
      "Producer.send (faust/transport/drivers/aiokafka.py:1200)",
      "AIOKafkaProducer.send (aiokafka/producer/producer.py:400)"], "aiokafka producer (send, accumulator, sender)"),
    ([*MAIN, "Outputs.publish (stream_mlc/service/shell.py:70)"], "outputs (service/shell.py: Outputs, records)"),
    ([*MAIN, "Stream._py_aiter (faust/streams.py:800)"], "Faust internals (consumer, stream, Event, agent, acks)"),
    # The shell's periodic work counts for what it is for, not for the engine it walks.
    ([*MAIN, "Checkpointer.maybe (stream_mlc/service/shell.py:150)",
      "EventTimeProcessor.checkpoint (stream_mlc/core/roles.py:140)",
      "MultiLabelMetrics.report (stream_mlc/core/metrics.py:300)"], "checkpoints, model snapshots"),
    ([*MAIN, "housekeeping (stream_mlc/service/app.py:90)", "Engine.status (stream_mlc/core/engine.py:204)",
      "MultiLabelMetrics.report (stream_mlc/core/metrics.py:300)"], "status, prometheus, housekeeping"),
    ([*MAIN, "Handle._run (asyncio/events.py:80)"], "event loop (asyncio, mode: scheduling, timers)"),
    ([*MAIN, "EpollSelector.select (selectors.py:468)"], "idle (waiting in select)"),
])
def test_the_shell_and_the_libraries_have_categories_of_their_own(stack, category):
    assert bench.categorize(stack) == category


def test_a_profile_is_summarised_by_category_over_the_main_thread(tmp_path):
    consumer = "thread (0x1);WorkerThread.run (mode/threads.py:10);EpollSelector.select (selectors.py:468)"
    raw = tmp_path / "worker.raw.txt"
    raw.write_text(
        f"{';'.join(RELEASE)};decode_features (stream_mlc/wire.py:40) 30\n"
        f"{';'.join(MAIN)};EpollSelector.select (selectors.py:468) 10\n"
        f"{consumer} 50\n"
    )
    profile = bench.summarize_profile(raw)
    assert profile["samples"] == 40
    assert profile["categories"] == {"wire decode (wire.py)": 0.75, "idle (waiting in select)": 0.25}
    assert profile["self"]["decode_features (stream_mlc/wire.py)"] == 0.75
    assert profile["threads"]["consumer thread (faust's aiokafka)"] == {"samples": 50, "busy": 0.0}


# -- the goals in the report ------------------------------------------------------------------
def test_the_goals_table_prints_both_ratios_at_each_label_count(capsys):
    from stream_mlc.bench.service.report import report_goals

    def at(faust, raw, worker, scaled=None):
        runs = {"faust": {"rate": faust}, "aiokafka": {"rate": raw},
                "default": bench.WorkerResult("native-mlc", 100, rate=worker, startup_s=4.0)}
        if scaled is not None:
            runs["series"] = [runs["default"], bench.WorkerResult("native-mlc", 100, rate=scaled, workers=2,
                                                                   mode="scaled", startup_s=6.0)]
        return runs

    report_goals({14: at(2000.0, 20000.0, 5000.0, scaled=24000.0), 100: at(2000.0, 20000.0, 3000.0)})
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines if line.split()[:1] in (["14"], ["100"])]
    assert [row[:2] for row in rows] == [["14", "native-mlc"], ["14", "native-mlc"], ["100", "native-mlc"]]
    # worker / Faust 2.50 met, worker / raw 0.25 NOT met; 100 labels: 1.50 NOT met, 0.15 NOT met.
    assert "2.50 met" in " ".join(rows[0]) and "0.25 NOT met" in " ".join(rows[0])
    assert "1.50 NOT met" in " ".join(rows[2]) and "0.15 NOT met" in " ".join(rows[2])
    assert any("learned ex/s (scaled)" in line and "24,000" in line and line.rstrip().endswith("met")
               and "NOT" not in line for line in lines)
