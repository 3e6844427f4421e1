"""MEKA ARFF files: labels named by the relation's -C option, dense and sparse, plain and compressed."""

from __future__ import annotations

import warnings

import pytest
from arff_samples import MEKA_DENSE, MEKA_SPARSE, liac_records, write

from stream_mlc.io import Record, open_dataset
from stream_mlc.io.arff import read_arff_header


@pytest.mark.parametrize("suffix", [".arff", ".arff.gz", ".arff.bz2"])
def test_meka_dense_positive_c(tmp_path, suffix):
    path = write(tmp_path / f"md{suffix}", MEKA_DENSE)
    ds = open_dataset(path)
    assert ds.name == "md" and ds.label_names == ("A", "B") and ds.n_features == 2
    assert read_arff_header(path).label_source == "meka:-C 2"
    assert list(ds) == liac_records(MEKA_DENSE, {"A", "B"}, "md")


@pytest.mark.parametrize("suffix", [".arff", ".arff.gz", ".arff.bz2"])
def test_meka_sparse_negative_c(tmp_path, suffix):
    path = write(tmp_path / f"ms{suffix}", MEKA_SPARSE)
    ds = open_dataset(path)
    assert ds.label_names == ("P", "Q") and ds.n_features == 3
    records = list(ds)
    assert records == liac_records(MEKA_SPARSE, {"P", "Q"}, "ms", sparse=True)
    assert records[0] == Record("ms-0", {"t0": 0.5, "t2": 1.5}, frozenset({"P"}))
    assert records[3] == Record("ms-3", {}, frozenset())


def test_meka_negative_c_dense_and_other_options(tmp_path):
    text = (
        "@relation '-split-percentage 66 -C -2'\n@attribute x numeric\n@attribute y numeric\n"
        "@attribute A {0,1}\n@attribute B {0,1}\n@data\n0.5,-1,1,0\n0,0,0,0\n"
    )
    ds = open_dataset(write(tmp_path / "neg.arff", text))
    assert ds.label_names == ("A", "B")
    assert list(ds) == liac_records(text, {"A", "B"}, "neg")


def test_no_warning_for_a_plain_meka_file(tmp_path):
    path = write(tmp_path / "md.arff", MEKA_DENSE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(open_dataset(path))) == 4
