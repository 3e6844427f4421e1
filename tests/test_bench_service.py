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
