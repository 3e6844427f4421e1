"""The offline commands end to end, through the CLI entry point."""

from __future__ import annotations

import orjson

from stream_mlc.cli import main
from stream_mlc.io.datasets import open_dataset
from stream_mlc.io.jsonl import write_jsonl

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
    assert main(["evaluate", "--dataset", STREAM, "--model", "no-such-model"]) == 1
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
