"""MULAN ARFF files: labels named by the XML beside the file (or given), dense and sparse rows, partial labels."""

from __future__ import annotations

import pytest
from arff_samples import MEKA_DENSE, MULAN_DENSE, MULAN_SPARSE, MULAN_XML, SPARSE_XML, liac_records, write

from stream_mlc.errors import DatasetError
from stream_mlc.io import Record, open_dataset
from stream_mlc.io.arff import read_arff_header


@pytest.fixture
def mulan_dense(tmp_path):
    (tmp_path / "mixed.xml").write_text(MULAN_XML)
    return write(tmp_path / "mixed.arff", MULAN_DENSE)


def test_mulan_dense_labels_from_xml_not_last(mulan_dense):
    ds = open_dataset(mulan_dense)
    assert ds.name == "mixed"
    assert ds.label_names == ("lab_a", "lab_b", "lab_c")  # attribute order, not XML order
    assert ds.n_features == 4 and ds.n_rows is None
    records = list(ds)
    assert records == liac_records(MULAN_DENSE, {"lab_a", "lab_b", "lab_c"}, "mixed")
    assert [r.id for r in records] == ["mixed-0", "mixed-1", "mixed-2", "mixed-3"]
    # dense rows keep zeros; the missing value is left out; a nominal feature is its category
    assert records[1].features == {"f1": 0.0, "f two": 0.0, "f3": 0.0, "color": "green"}
    assert records[2].features == {"f1": 0.03, "f3": 7.0, "color": "blue"}
    assert records[0].labels == {"lab_a", "lab_c"} and records[0].observed is None
    assert all(list(r.features) == [k for k in ("f1", "f two", "f3", "color") if k in r.features] for r in records)


def test_mulan_sparse_rows(tmp_path):
    (tmp_path / "sp.xml").write_text(SPARSE_XML)
    path = write(tmp_path / "sp.arff", MULAN_SPARSE)
    records = list(open_dataset(path))
    assert records == liac_records(MULAN_SPARSE, {"L1", "L2"}, "sp", sparse=True)
    assert records[0] == Record("sp-0", {"w0": 1.0, "w3": 1.0}, frozenset({"L1"}))
    assert records[2] == Record("sp-2", {}, frozenset())
    assert records[3] == Record("sp-3", {"w0": 1.0, "w2": 1.0, "w3": 1.0}, frozenset({"L2"}))
    assert records[4] == Record("sp-4", {}, frozenset({"L1"}))  # an explicit 0 is dropped too


def test_xml_beside_compressed_file_and_explicit_xml(tmp_path):
    (tmp_path / "sp.xml").write_text(SPARSE_XML)
    path = write(tmp_path / "sp.arff.bz2", MULAN_SPARSE)
    assert read_arff_header(path).label_source == f"xml:{tmp_path / 'sp.xml'}"
    assert list(open_dataset(path)) == liac_records(MULAN_SPARSE, {"L1", "L2"}, "sp", sparse=True)
    other = tmp_path / "elsewhere"
    other.mkdir()
    moved = write(other / "data.arff", MULAN_SPARSE)
    with pytest.raises(DatasetError, match="cannot tell the labels"):
        open_dataset(moved)
    ds = open_dataset(moved, xml=str(tmp_path / "sp.xml"))
    assert ds.label_names == ("L1", "L2") and len(list(ds)) == 5


def test_xml_wins_over_meka_option(tmp_path):
    # MULAN's medical.arff has a stale "-C 45" although its labels are the last attributes.
    text = MULAN_SPARSE.replace("@relation sparse_mulan", "@relation 'MEDC: -C 2 -I 0'")
    (tmp_path / "med.xml").write_text(SPARSE_XML)
    ds = open_dataset(write(tmp_path / "med.arff", text))
    assert ds.label_names == ("L1", "L2")


def test_stale_sibling_xml_of_a_meka_file_is_ignored_with_a_warning(tmp_path):
    # MEKA's scene.arff beside MULAN's scene.xml, whose label names differ.
    (tmp_path / "md.xml").write_text('<labels><label name="Alpha"/><label name="Beta"/></labels>')
    path = write(tmp_path / "md.arff.gz", MEKA_DENSE)
    with pytest.warns(UserWarning, match="ignoring"):
        ds = open_dataset(path)
    assert ds.label_names == ("A", "B")
    # An XML that was asked for must match.
    with pytest.raises(DatasetError, match=r"md\.xml:1: label 'Alpha' is not an attribute"):
        open_dataset(path, xml=str(tmp_path / "md.xml"))


def test_missing_label_value_makes_the_row_partially_observed(tmp_path):
    (tmp_path / "mixed.xml").write_text(MULAN_XML)
    path = write(tmp_path / "mixed.arff", MULAN_DENSE.replace("1.5,1,-2,0,0,red,1", "1.5,?,-2,0,0,red,1"))
    first = next(iter(open_dataset(path)))
    assert first.labels == {"lab_c"}
    assert first.observed == {"lab_b", "lab_c"}
    assert first.label_event().observed == {"lab_b", "lab_c"}
