"""The command line through its entry point: offline commands, argument checks, errors, help, settings."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import sys
import types

import orjson
import pytest

from stream_mlc import cli, report
from stream_mlc.cli import main
from stream_mlc.errors import (
    EXIT_CODES,
    INTERNAL_EXIT_CODE,
    USAGE_EXIT_CODE,
    BrokerError,
    BrokerUnreachable,
    CheckpointMismatch,
    ConfigError,
    DatasetError,
    PortInUse,
    StreamMlcError,
    TopicsMissing,
)
from stream_mlc.io.datasets import open_dataset
from stream_mlc.io.jsonl import write_jsonl
from stream_mlc.service.producer import replay
from stream_mlc.settings import Settings

STREAM = "synthetic:n=600,features=8,labels=4,seed=2"


def test_evaluate_compares_models_and_writes_json_and_plot(tmp_path, capsys):
    out, png = tmp_path / "out.json", tmp_path / "out.png"
    code = main(["evaluate", "--dataset", STREAM, "--model", "river-br-lr", "--model", "river-br-nb",
                 "--label-delay", "20", "--json", str(out), "--plot", str(png)])
    assert code == 0
    table = capsys.readouterr().out
    assert "river-br-lr" in table and "river-br-nb" in table and "micro_f1" in table and "events/s" in table
    report = orjson.loads(out.read_bytes())
    assert report["settings"]["label_delay"] == 20
    assert [r["model"] for r in report["results"]] == ["river-br-lr", "river-br-nb"]
    assert all(r["events"] == 600 and 0.0 <= r["metrics"]["micro_f1"] <= 1.0 for r in report["results"])
    assert report["results"][0]["curve"], "the plot needs the metrics over the stream"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_reads_a_capture_of_the_topics(tmp_path, capsys):
    capture = tmp_path / "capture.jsonl"
    write_jsonl(open_dataset(STREAM), capture)
    out = tmp_path / "out.json"
    assert main(["evaluate", "--dataset", str(capture), "--json", str(out)]) == 0
    from_capture = orjson.loads(out.read_bytes())["results"][0]["metrics"]
    assert main(["evaluate", "--dataset", STREAM, "--json", str(out)]) == 0
    direct = orjson.loads(out.read_bytes())["results"][0]["metrics"]
    # The capture names no label set up front: labels join as they appear, so the
    # first events may differ; the stream is otherwise the same.
    assert abs(from_capture["micro_f1"] - direct["micro_f1"]) < 0.02


def test_an_unknown_model_is_a_clear_error(capsys):
    assert main(["evaluate", "--dataset", STREAM, "--model", "no-such-model"]) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert "unknown model 'no-such-model'" in err and err.count("\n") == 1


# ================================================================== argument checks


@pytest.mark.parametrize("command", [["replay"], ["evaluate"], ["demo"]])
@pytest.mark.parametrize("value", ["-5", "x", "1.5"])
def test_a_bad_label_delay_is_refused_by_the_parser_in_one_line(command, value, capsys):
    with pytest.raises(SystemExit) as stopped:
        main([*command, "--label-delay", value])
    assert stopped.value.code == USAGE_EXIT_CODE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --label-delay" in err
    assert ("must be >= 0, got -5" if value == "-5" else f"expected a whole number, got '{value}'") in err


@pytest.mark.parametrize("argv", [["evaluate", "--window", "0"], ["replay", "--limit", "-1"],
                                  ["tail", "predictions", "--max", "0"], ["broker", "--port", "70000"],
                                  ["worker", "--metrics-port", "-1"], ["worker", "--mode", "sharded"],
                                  ["status", "--no-such-option"]])
def test_invalid_numbers_and_options_are_refused_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == USAGE_EXIT_CODE
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("option", ["--plot", "--json"])
def test_an_output_into_a_missing_directory_is_refused_before_the_run(option, tmp_path, monkeypatch, capsys):
    def run_that_must_not_start(*args, **kwargs):
        raise AssertionError("the evaluation ran before the output path was checked")

    monkeypatch.setattr(report, "prequential", run_that_must_not_start)
    missing = tmp_path / "no-such-dir" / "out.png"
    assert main(["evaluate", "--dataset", STREAM, option, str(missing)]) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{option} {missing}" in err and "does not exist" in err


def test_replay_refuses_a_negative_label_delay_without_the_parser():
    with pytest.raises(ConfigError, match="label delay must be >= 0"):
        replay([], Settings(), label_delay=-5)


# ================================================================== errors and exit codes


def test_an_unexpected_exception_is_one_line_and_the_traceback_needs_debug(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(cli, "_settings_command", broken)
    assert main(["settings"]) == INTERNAL_EXIT_CODE
    err = capsys.readouterr().err
    assert err == ("stream-mlc: internal error: RuntimeError: a bug over two lines "
                   "(rerun with --debug for the traceback)\n")
    assert main(["--debug", "settings"]) == INTERNAL_EXIT_CODE
    assert "Traceback" in capsys.readouterr().err


def test_each_error_kind_has_its_own_exit_code():
    kinds = [StreamMlcError, ConfigError, BrokerUnreachable, TopicsMissing, PortInUse, CheckpointMismatch,
             DatasetError, BrokerError]
    codes = [kind.exit_code for kind in kinds]
    assert len(set(codes)) == len(codes)
    assert set(codes) | {0, USAGE_EXIT_CODE, INTERNAL_EXIT_CODE} <= set(EXIT_CODES)


def test_a_bad_setting_in_the_environment_is_a_config_error(monkeypatch, capsys):
    monkeypatch.setenv("STREAM_MLC_CONNECT_TIMEOUT_S", "-1")
    assert main(["topics", "create"]) == ConfigError.exit_code
    assert "STREAM_MLC_CONNECT_TIMEOUT_S=-1.0 must be > 0" in capsys.readouterr().err


# ================================================================== help, version, settings


def _parsers(parser: argparse.ArgumentParser, path=("stream-mlc",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_option_has_help_and_no_help_text_has_markup():
    for path, parser in _parsers(cli.build_parser()):
        text = parser.format_help()
        assert "``" not in text and ":class:" not in text and ":func:" not in text, path
        for action in parser._actions:
            if action.option_strings:
                assert action.help, f"{' '.join(path)} {action.option_strings[0]} has no help"


def test_help_shows_the_defaults():
    parser = cli.build_parser()
    helps = {" ".join(path): sub.format_help() for path, sub in _parsers(parser)}
    assert "(default: 200)" in " ".join(helps["stream-mlc demo"].split())
    assert "(default: $STREAM_MLC_BROKER, else 'localhost:9092')" in " ".join(helps["stream-mlc worker"].split())
    assert "(default: 9092)" in " ".join(helps["stream-mlc broker"].split())


def test_bench_lists_every_benchmark_with_a_description_and_passes_its_arguments(monkeypatch, capsys):
    benchmarks = cli._benchmarks()
    for name in ("models", "drift", "parity", "service", "memory", "reset", "restart"):
        assert benchmarks[name] and "``" not in benchmarks[name], name
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    listing = capsys.readouterr().out
    assert "rest" not in listing.split() and all(name in listing for name in benchmarks)

    calls = []
    monkeypatch.setitem(sys.modules, "stream_mlc.bench.drift", types.SimpleNamespace(main=calls.append))
    main(["bench", "drift", "--seeds", "3", "--help"])
    assert calls == [["--seeds", "3", "--help"]]


def test_version(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"stream-mlc {importlib.metadata.version('stream-mlc')}"


def test_settings_lists_every_setting_with_type_default_and_meaning(monkeypatch, capsys):
    monkeypatch.setenv("STREAM_MLC_BATCH_SIZE", "7")
    monkeypatch.setenv("STREAM_MLC_SASL_PASSWORD", "hunter2")
    assert main(["settings"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(dataclasses.fields(Settings))
    for line, f in zip(lines, dataclasses.fields(Settings), strict=True):
        variable, kind, default = line.split()[:3]
        assert (variable, kind) == (f"STREAM_MLC_{f.name.upper()}", type(f.default).__name__)
        assert default == (str(f.default) or '""')
        assert f.metadata["help"] in line
    assert "[set: 7]" in next(line for line in lines if line.startswith("STREAM_MLC_BATCH_SIZE "))
    assert "hunter2" not in "\n".join(lines)
    assert main(["settings", "--json"]) == 0
    listed = orjson.loads(capsys.readouterr().out)
    assert {row["variable"]: row["current"] for row in listed}["STREAM_MLC_BATCH_SIZE"] == 7
