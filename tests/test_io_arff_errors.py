"""ARFF errors: malformed rows, headers and XML files, unreadable files; each names the file and line."""

from __future__ import annotations

import bz2

import pytest
from arff_samples import MEKA_DENSE, MULAN_SPARSE, write

from stream_mlc.errors import DatasetError
from stream_mlc.io import open_dataset
from stream_mlc.io.arff import open_arff


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("1,0,0.5", r":8: expected 4 comma-separated values, found 3"),
        ("1,0,0.5,1,2", r":8: expected 4 comma-separated values, found 5"),
        ("2,0,0.5,1", r":8: bad value '2' for label 'A' \(one of \{0,1\}\)"),
        ("1,0,abc,1", r":8: bad value 'abc' for feature 'x' \(numeric\)"),
        ("1,0,nan,1", r":8: non-finite value nan for feature 'x'"),
        ("1,0,1e999,1", r":8: non-finite value inf for feature 'x'"),
        ("1,0,1,?", None),
        ("{0 1,9 2}", r":8: sparse index 9 out of range: 4 attributes"),
        ("{0 1,2}", r":8: sparse entry '2' is not 'index value'"),
        ("{0 1,x 2}", r":8: sparse entry 'x 2': index is not an integer"),
        ("{0 1,2 3", r":8: sparse row does not end with '}'"),
        ("{0 1,2 'a}", r":8: "),
        ("1,0,'unclosed,1", r":8: "),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, row, message):
    text = (
        "@relation 'bad: -C 2'\n@attribute A {0,1}\n@attribute B {0,1}\n"
        "@attribute x numeric\n@attribute y numeric\n@data\n"
    )
    path = write(tmp_path / "bad.arff", text + "0,1,2,3\n" + row + "\n")
    if message is None:  # a missing value is no error
        assert len(list(open_dataset(path))) == 2
        return
    with pytest.raises(DatasetError, match=r"bad\.arff" + message):
        list(open_dataset(path))


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("@relation r\n@attribute a numeric\n1\n", r":3: end of file before @data"),
        ("@relation 'r: -C 1'\n@attribute a {0,1}\n@attribute d date\n@data\n", r":3: Bad @ATTRIBUTE type"),
        ("@relation 'r: -C 1'\n@attribute a {0,1}\n@attribute a numeric\n@data\n", r":3: Bad @ATTRIBUTE name a"),
        ("@attribute a numeric\n@relation r\n@data\n", r":1: Invalid layout"),
        ("", r":1: end of file before @data"),
        (
            "@relation 'r: -C 1'\n@attribute a string\n@attribute b numeric\n@data\n",
            r":2: label attribute 'a' is a string",
        ),
        ("@relation r\n@attribute a numeric\n@data\n1\n", r":1: cannot tell the labels: no MULAN XML"),
        ("@relation 'r: -C 5'\n@attribute a {0,1}\n@data\n", r":1: MEKA '-C 5' does not fit the 1 attributes"),
        ("@relation 'r: -C 1'\n@attribute a {x,y,z}\n@data\n", r":2: label attribute 'a' has categories"),
    ],
)
def test_malformed_headers(tmp_path, header, message):
    path = write(tmp_path / "h.arff", header)
    with pytest.raises(DatasetError, match=r"h\.arff" + message):
        open_dataset(path)


def test_xml_errors_name_the_xml_and_line(tmp_path):
    path = write(tmp_path / "sp.arff", MULAN_SPARSE)
    (tmp_path / "sp.xml").write_text('<labels>\n<label name="L1"/>\n<label name="nope"/>\n</labels>\n')
    with pytest.raises(DatasetError, match=r"sp\.xml:3: label 'nope' is not an attribute"):
        open_dataset(path)
    (tmp_path / "sp.xml").write_text('<labels>\n<label name="L1">\n</labels>\n')
    with pytest.raises(DatasetError, match=r"sp\.xml:3: not valid XML"):
        open_dataset(path)
    (tmp_path / "sp.xml").write_text("<labels>\n<label/>\n</labels>\n")
    with pytest.raises(DatasetError, match=r"sp\.xml:2: <label> element without a name"):
        open_dataset(path)
    with pytest.raises(DatasetError, match=r"missing\.xml: no such file"):
        open_dataset(path, xml=str(tmp_path / "missing.xml"))


def test_unreadable_files(tmp_path):
    with pytest.raises(DatasetError, match=r"nothere\.arff: no such file"):
        open_dataset(str(tmp_path / "nothere.arff"))
    truncated = tmp_path / "cut.arff.bz2"
    truncated.write_bytes(bz2.compress((MEKA_DENSE + "1,0,0.5,-1\n" * 5000).encode())[:-40])
    with pytest.raises(DatasetError, match=r"cut\.arff\.bz2:\d+: cannot read"):
        list(open_dataset(str(truncated)))
    latin = tmp_path / "latin.arff"
    latin.write_bytes(MEKA_DENSE.replace("@attribute x", "@attribute \xe9x").encode("latin-1"))
    with pytest.raises(DatasetError, match=r"latin\.arff:\d+: cannot read"):
        open_dataset(str(latin))
    assert open_arff(str(latin), encoding="latin-1").n_features == 2
