"""The offline engine-speed benchmark's options and one tiny run (the figures are `stream-mlc bench evaluate`)."""

from __future__ import annotations

import argparse

import pytest

from stream_mlc.bench import evaluate as bench


def test_defaults_compare_the_default_learner_with_river_at_14_and_100_labels():
    args = bench.parse_args([])
    assert (args.model, args.baseline, args.labels, args.features) == ("native-mlc", "river-br-lr", [14, 100], 100)
    assert args.label_delay == 0 and args.river_events is None


def test_river_runs_fewer_events_as_labels_grow_unless_told():
    assert [bench.river_events(labels, None) for labels in (5, 14, 28, 100, 1000)] == [1000, 1000, 500, 300, 300]
    assert bench.river_events(100, 40) == 40


@pytest.mark.parametrize("argv", [["--events", "0"], ["--labels", "x"], ["--label-delay", "-1"],
                                  ["--river-events", "-5"]])
def test_bad_options_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(argv)
    assert exit_info.value.code == 2
    assert "usage: stream-mlc bench evaluate" in capsys.readouterr().err


def test_a_tiny_run_counts_each_learner_s_events_and_prints_the_ratio_against_the_goal(capsys):
    args = argparse.Namespace(events=40, river_events=10, labels=[14], features=5, model="native-lr",
                              baseline="river-br-lr", label_delay=0, seed=3)
    ours, theirs = bench.run_labels(14, args)
    assert (ours.model, ours.events, theirs.model, theirs.events) == ("native-lr", 40, "river-br-lr", 10)
    assert 0.0 <= ours.micro_f1 <= 1.0 and ours.seconds > 0 and ours.cpu_seconds >= 0
    bench.report({14: (ours, theirs)}, args)
    out = capsys.readouterr().out
    goals = out[out.index("== goals"):].splitlines()[1:]
    assert len(goals) == 1 and goals[0].split()[:2] == ["14", "labels"]
    assert ">= 30x" in goals[0] and goals[0].rstrip().endswith("met")
