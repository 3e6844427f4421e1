"""open_dataset's dispatch: River's Yeast by name, ARFF files by suffix, and the errors of both."""

from __future__ import annotations

import pytest
from arff_samples import MEKA_DENSE, write

from stream_mlc.errors import ConfigError, DatasetError
from stream_mlc.io import open_dataset
from stream_mlc.io.arff import open_arff


def test_yeast_from_river():
    ds = open_dataset("yeast")
    assert (ds.name, ds.n_rows, ds.n_features, len(ds.label_names)) == ("yeast", 2417, 103, 14)
    rows = 0
    for record in ds:
        assert record.id == f"yeast-{rows}" and len(record.features) == 103 and record.observed is None
        assert record.labels <= set(ds.label_names)
        rows += 1
    assert rows == 2417
    assert [r.id for r in open_dataset("yeast", limit=3)] == ["yeast-0", "yeast-1", "yeast-2"]
    assert open_dataset("yeast", limit=3).n_rows == 3


def test_dispatch_errors(tmp_path):
    with pytest.raises(DatasetError, match="no such data set or file"):
        open_dataset("nonsense")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(DatasetError, match="unknown data file type"):
        open_dataset(str(tmp_path / "x.csv"))
    with pytest.raises(ConfigError, match="xml= applies to ARFF"):
        open_dataset("yeast", xml="y.xml")
    with pytest.raises(ConfigError, match="limit"):
        open_dataset("yeast", limit=-1)
    with pytest.raises(ConfigError, match="engine"):
        open_arff(write(tmp_path / "md.arff", MEKA_DENSE), engine="pandas")
