"""ARFF parsing: the fast parser against liac-arff, quoting, odd but valid input, laziness and flat memory."""

from __future__ import annotations

import gzip
import tracemalloc

import pytest
from arff_samples import MEKA_DENSE, MEKA_SPARSE, MULAN_DENSE, MULAN_SPARSE, MULAN_XML, SPARSE_XML, write

from stream_mlc.errors import ConfigError, DatasetError
from stream_mlc.io import Record, open_dataset
from stream_mlc.io.arff import open_arff

QUOTED = """\
@relation 'quoted: -C 1'
@attribute 'the label' {0,1}
@attribute "a b" numeric
@attribute shade {'dark red','light, blue',plain}
@attribute note string
@attribute z integer
@data
1,2.5,'dark red','some text',3
0,-1,'light, blue',"other",0
1,0,plain,x,?
{0 1,2 'light, blue',4 9}
"""


def test_quoted_values_go_through_liac_and_strings_are_text_or_skipped(tmp_path):
    path = write(tmp_path / "q.arff", QUOTED)
    ds = open_dataset(path)
    assert ds.label_names == ("the label",) and ds.n_features == 4 and ds.text_features == ("note",)
    records = list(ds)
    assert records[0] == Record("q-0", {"a b": 2.5, "shade": "dark red", "note": "some text", "z": 3.0},
                                frozenset({"the label"}))
    assert records[1] == Record("q-1", {"a b": -1.0, "shade": "light, blue", "note": "other", "z": 0.0}, frozenset())
    assert records[2] == Record("q-2", {"a b": 0.0, "shade": "plain", "note": "x"}, frozenset({"the label"}))
    assert records[3] == Record("q-3", {"shade": "light, blue", "z": 9.0}, frozenset({"the label"}))
    skipped = open_arff(path, strings="skip")
    assert skipped.n_features == 3 and skipped.text_features == ()
    assert [r.features for r in skipped] == [{k: v for k, v in r.features.items() if k != "note"} for r in records]
    with pytest.raises(ConfigError, match="strings must be one of"):
        list(open_arff(path, strings="bag"))


@pytest.mark.parametrize(
    ("name", "text", "xml"),
    [
        ("mixed", MULAN_DENSE, MULAN_XML),
        ("sp", MULAN_SPARSE, SPARSE_XML),
        ("md", MEKA_DENSE, None),
        ("ms", MEKA_SPARSE, None),
        ("q", QUOTED, None),
        ("mix", MEKA_SPARSE + "0.5,0,-1,1,0\n{2 4,4 1}\n1,2,3,0,?\n", None),  # dense and sparse rows
    ],
)
def test_fast_parser_equals_liac_engine(tmp_path, name, text, xml):
    if xml:
        (tmp_path / f"{name}.xml").write_text(xml)
    path = write(tmp_path / f"{name}.arff", text)
    assert list(open_arff(path, engine="fast")) == list(open_arff(path, engine="liac"))


def test_whitespace_tabs_crlf_and_numeric_labels(tmp_path):
    text = (
        "@relation\t'ws: -C 2'\r\n"
        "@attribute\tl1\tnumeric\r\n"
        "@attribute l2 {no,yes}\r\n"
        "@attribute  f   numeric\r\n"
        "@attribute g {1,0}\r\n"
        "@data\r\n"
        " 1 , yes , 0.5 , 1 \r\n"
        "0,no,-1,0\r\n"
        "{0 2,1 yes,2 4}\r\n"
    )
    records = list(open_dataset(write(tmp_path / "ws.arff", text)))
    # g {1,0} reads 1 as 1.0; a sparse row's omitted g is its first declared value, 1 (Weka's rule).
    assert records[0] == Record("ws-0", {"f": 0.5, "g": 1.0}, frozenset({"l1", "l2"}))
    assert records[1] == Record("ws-1", {"f": -1.0, "g": 0.0}, frozenset())
    assert records[2] == Record("ws-2", {"f": 4.0, "g": 1.0}, frozenset({"l1", "l2"}))


def test_reiterable_limit_and_lazy_rows(tmp_path):
    path = write(tmp_path / "md.arff", MEKA_DENSE + "1,0,not-a-number,2\n")
    ds = open_dataset(path, limit=2)  # the bad row (line 11) is not reached
    assert [r.id for r in ds] == ["md-0", "md-1"]
    assert [r.id for r in ds] == ["md-0", "md-1"]
    with pytest.raises(DatasetError, match=r"md\.arff:11: bad value 'not-a-number' for feature 'x'"):
        list(open_dataset(path))


def test_rows_are_streamed_in_flat_memory(tmp_path):
    path = tmp_path / "big.arff.gz"
    with gzip.open(path, "wt") as f:
        f.write("@relation 'big: -C -3'\n")
        f.writelines(f"@attribute w{i} numeric\n" for i in range(200))
        f.writelines(f"@attribute L{i} {{0,1}}\n" for i in range(3))
        f.write("@data\n")
        for i in range(20_000):
            f.write(f"{{{i % 200} 1,{(7 * i) % 200} 2.5,{200 + i % 3} 1,202 1}}\n")
    ds = open_dataset(str(path))
    tracemalloc.start()
    try:
        count = sum(len(r.features) for r in ds)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000 * 2 - 200  # the rows with i % 100 == 0 name one feature twice
    assert peak < 2_000_000, peak  # the file is ~0.5 MB of text; the rows together ~10 MB
