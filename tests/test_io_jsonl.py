"""JSONL captures of the service's input topics: reading, joining, writing."""

from __future__ import annotations

import gzip

import orjson
import pytest

from stream_mlc.errors import DatasetError
from stream_mlc.io import Record, open_dataset
from stream_mlc.io.jsonl import open_jsonl, read_label_events, write_jsonl

RECORDS = [
    Record("e1", {"a": 1.0, "b": -0.5}, frozenset({"x", "y"}), None, 10.0, 12.5),
    Record("e2", {}, frozenset(), None, 11.0, None),
    Record("e3", {"a": 1e-300, "c": 123456.789}, frozenset({"x"}), frozenset({"x", "z"}), None, 3.0),
    Record("e4", {"b": 2.0}, frozenset(), frozenset(), 13.0, None),  # nothing observed
]


def lines(*docs) -> str:
    return "".join(orjson.dumps(doc).decode() + "\n" for doc in docs)


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.bz2"])
def test_round_trip_one_interleaved_file(tmp_path, suffix):
    path = str(tmp_path / f"cap{suffix}")
    assert write_jsonl(RECORDS, path) == 4
    ds = open_dataset(path)
    assert ds.name == "cap" and ds.label_names == ("x", "y", "z")
    assert ds.n_features is None and ds.n_rows is None
    assert list(ds) == RECORDS
    assert list(ds) == RECORDS  # re-iterable


def test_round_trip_two_files_and_synthetic_and_yeast(tmp_path):
    records = list(open_dataset("synthetic:n=300,features=6,labels=4,seed=3,sparse=0.5"))
    records += list(open_dataset("yeast", limit=50))
    feats, labs = str(tmp_path / "f.jsonl"), str(tmp_path / "l.jsonl.gz")
    write_jsonl(records, feats, labels_path=labs)
    assert all("labels" not in orjson.loads(line) for line in open(feats))
    with gzip.open(labs, "rt") as f:
        assert all("features" not in orjson.loads(line) for line in f)
    assert list(open_dataset(f"{feats}+{labs}")) == records
    assert list(open_jsonl(labs, feats)) == records  # file order does not matter for labels


def test_round_trip_of_categories_tags_booleans_and_text(tmp_path):
    records = list(open_dataset("synthetic-text:n=200,seed=4"))
    records.append(Record("b1", {"flag": True, "off": False, "empty": "", "none": []}, frozenset({"y0"})))
    path = str(tmp_path / "mixed.jsonl")
    write_jsonl(records, path)
    assert list(open_dataset(path)) == records
    assert {type(v) for r in records for v in r.features.values()} == {float, str, list, bool}


def test_join_rules(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(
        lines(
            {"id": "b", "labels": ["l2"], "ts": 1},  # before its features
            {"id": "a", "features": {"f": 1}, "ts": 5},
            {"id": "b", "features": {"f": 2, "g": 3}},
            {"id": "c", "features": {}},  # never labelled
            {"id": "a", "labels": ["l1"], "observed": ["l3"], "ts": 7},
            {"id": "a", "labels": ["l2"]},  # a retry: the first label event wins
            {"id": "zzz", "labels": ["l9"]},  # no such event: ignored
            {"id": "d", "features": {"f": 0.5}, "labels": ["l1"]},  # both in one line
        )
        + "\n   \n"  # blank lines are skipped
    )
    records = list(open_dataset(str(path)))
    assert records == [
        Record("a", {"f": 1.0}, frozenset({"l1"}), frozenset({"l1", "l3"}), 5.0, 7.0),
        Record("b", {"f": 2.0, "g": 3.0}, frozenset({"l2"}), None, None, 1.0),
        Record("c", {}, frozenset(), frozenset(), None, None),
        Record("d", {"f": 0.5}, frozenset({"l1"}), None, None, None),
    ]
    assert records[2].label_event().observed == frozenset()  # nothing known, not "all negative"
    assert set(read_label_events(str(path))) == {"a", "b", "d", "zzz"}
    assert open_dataset(str(path)).label_names == ("l1", "l2", "l3", "l9")
    assert [r.id for r in open_dataset(str(path), limit=2)] == ["a", "b"]


def test_feature_order_follows_the_files(tmp_path):
    first, second = tmp_path / "p0.jsonl", tmp_path / "p1.jsonl"
    first.write_text(lines({"id": "3", "features": {"f": 3}}, {"id": "1", "labels": ["a"]}))
    second.write_text(lines({"id": "1", "features": {"f": 1}}, {"id": "3", "labels": ["b"]}))
    records = list(open_jsonl(str(first), str(second)))
    assert [(r.id, sorted(r.labels)) for r in records] == [("3", ["b"]), ("1", ["a"])]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "x", "features": {"a": 1}', r":2: not valid JSON"),
        ("[1, 2]", r":2: expected a JSON object, got list"),
        ('{"id": "x", "scores": {}}', r":2: neither a feature event nor a label event"),
        ('{"id": "x", "features": {"a": null}}', r":2: bad feature event: feature 'a' is null"),
        ('{"id": "x", "features": {"a": [1]}}', r":2: bad feature event: feature 'a' is a list with a non-string"),
        ('{"id": "x", "features": {"a": {"b": 1}}}', r":2: bad feature event: feature 'a' is a nested object"),
        ('{"id": "x", "features": {"a": 1}, "ts": "now"}', r":2: bad feature event: 'ts' is not a number"),
        ('{"features": {"a": 1}}', r":2: bad feature event: 'id' must be a non-empty string"),
        ('{"id": "x", "labels": "a"}', r":2: bad label event: 'labels' must be a list"),
        ('{"id": "x", "labels": ["a"], "observed": [1]}', r":2: bad label event: 'observed' must be a list"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(lines({"id": "ok", "features": {"a": 1}}) + line + "\n")
    with pytest.raises(DatasetError, match=r"bad\.jsonl" + message):
        list(open_jsonl(str(path)))


def test_missing_file_and_empty_capture(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        open_dataset(str(tmp_path / "none.jsonl"))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    ds = open_dataset(str(empty))
    assert ds.label_names == () and list(ds) == []
