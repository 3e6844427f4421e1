"""ARFF nominal features, string attributes and comments (issue 12): 0/1, categories, one-hot learning."""

from __future__ import annotations

import pytest
from arff_samples import write

from stream_mlc.errors import DatasetError
from stream_mlc.io import open_dataset
from stream_mlc.io.arff import open_arff

NOMINAL = """\
@relation 'proteins: -C -2 -split-number 1891' %50 a comment after the relation, as MEKA writes
% the identifier comes first, as in MULAN's protein sets
@attribute protein {P1,P2,P3,P4} % an identifier-like attribute
@attribute motif_a {YES,NO}
@attribute motif_b {t,f}
@attribute motif_c {0,1}
@attribute size {small,medium,large}
@attribute title string
@attribute L1 {0,1}
@attribute L2 {0,1}
@data
P1,YES,t,1,large,'kinase, membrane',1,0 % a comment after a row
P2,NO,f,0,small,'50% of it: nucleus',0,1
P3,NO,t,0,?,?,1,1
{0 P4,1 NO,4 medium,7 1}
{2 f}
"""


def test_nominal_features_are_categories_and_two_valued_ones_are_0_1(tmp_path):
    ds = open_dataset(write(tmp_path / "prot.arff", NOMINAL))
    assert ds.label_names == ("L1", "L2") and ds.n_features == 6 and ds.text_features == ("title",)
    records = list(ds)
    assert [r.features for r in records] == [
        # A two-valued nominal is one 0/1 feature: 1.0 for YES, t and 1, whatever the order.
        {"protein": "P1", "motif_a": 1.0, "motif_b": 1.0, "motif_c": 1.0, "size": "large",
         "title": "kinase, membrane"},
        {"protein": "P2", "motif_a": 0.0, "motif_b": 0.0, "motif_c": 0.0, "size": "small",
         "title": "50% of it: nucleus"},
        {"protein": "P3", "motif_a": 0.0, "motif_b": 1.0, "motif_c": 0.0},  # ? leaves a feature out
        # Sparse: an omitted nominal value is its first declared category (Weka's index 0):
        # P1, YES (1.0), t (1.0), 0 (0.0: left out), small; explicit zeros are left out.
        {"protein": "P4", "motif_b": 1.0, "size": "medium"},
        {"protein": "P1", "motif_a": 1.0, "size": "small"},
    ]
    assert [sorted(r.labels) for r in records] == [["L1"], ["L2"], ["L1", "L2"], ["L2"], []]
    assert list(open_arff(str(tmp_path / "prot.arff"), engine="liac")) == records


@pytest.mark.parametrize(
    "declared, one",
    [("{YES,NO}", "YES"), ("{no,yes}", "yes"), ("{1,0}", "1"), ("{F,T}", "T"), ("{low,high}", "high"),
     ("{b,a}", "a"), ("{yes,true}", "true")],
)
def test_the_value_of_a_two_valued_nominal_that_reads_one(tmp_path, declared, one):
    values = declared.strip("{}").split(",")
    text = f"@relation 'b: -C 1'\n@attribute L {{0,1}}\n@attribute f {declared}\n@data\n"
    text += f"1,{values[0]}\n0,{values[1]}\n"
    records = list(open_dataset(write(tmp_path / "b.arff", text)))
    assert [r.features["f"] for r in records] == [1.0 if v == one else 0.0 for v in values]


def test_an_identifier_of_hundreds_of_values_is_one_hot_through_the_encoder(tmp_path):
    from stream_mlc.core.features import EncoderConfig, FeatureEncoder

    ids = [f"PDB{i:04d}" for i in range(600)]
    rows = [f"{ids[i]},{'YES' if i % 3 else 'NO'},{i % 2}" for i in range(600)]
    text = "@relation 'ids: -C -1'\n@attribute id {" + ",".join(ids) + "}\n@attribute m {NO,YES}\n"
    text += "@attribute L {0,1}\n@data\n" + "\n".join(rows) + "\n"
    records = list(open_dataset(write(tmp_path / "ids.arff", text)))
    assert records[599].features == {"id": "PDB0599", "m": 1.0}  # not the number 599.0
    encoder = FeatureEncoder(EncoderConfig(max_exact=1000))
    vectors = [encoder.encode_one(r.features) for r in records]
    assert vectors[599] == {"id=PDB0599": 1.0, "m": 1.0}
    assert max(v for x in vectors for v in x.values()) == 1.0  # no magnitude from the category index


def test_comments_anywhere_weka_takes_them(tmp_path):
    text = (
        "% leading\n@relation 'Slashdot: -C 2 -split-number 1891' %50\n"
        "@attribute A {0,1} % label\n@attribute B {0,1}\n@attribute x numeric %% numeric\n"
        "@attribute note string\n@data % data starts\n"
        "1,0,2.5,'100% sure' % trailing\n  % indented comment line\n"
        "{1 1,2 -1} % sparse row with a comment\n0,0,'7',\"a % in quotes\"\n"
    )
    ds = open_dataset(write(tmp_path / "slash.arff", text))
    assert ds.label_names == ("A", "B")
    records = list(ds)
    assert [(r.features, sorted(r.labels)) for r in records] == [
        ({"x": 2.5, "note": "100% sure"}, ["A"]),
        ({"x": -1.0}, ["B"]),
        ({"x": 7.0, "note": "a % in quotes"}, []),
    ]
    assert list(open_arff(str(tmp_path / "slash.arff"), engine="liac")) == records


def test_unknown_category_names_the_attribute_and_its_categories(tmp_path):
    text = NOMINAL.replace("P3,NO,t", "P9,NO,t")
    expected = r"prot.arff:14: bad value 'P9' for feature 'protein' \(one of \{P1,P2,P3,P4\}\)"
    with pytest.raises(DatasetError, match=expected):
        list(open_dataset(write(tmp_path / "prot.arff", text)))


def test_a_linear_model_learns_a_nominal_attribute_one_hot_but_not_as_its_index(tmp_path):
    """Label L is on for shades b and d: one-hot separates it, the category index cannot."""
    from stream_mlc.core.engine import Engine, EngineConfig
    from stream_mlc.core.events import FeatureEvent
    from stream_mlc.core.features import FeatureEncoder
    from stream_mlc.core.join import JoinLimits

    shades = "abcde"
    rows = [f"id{i % 300},{shades[i * 7 % 5]},{int(shades[i * 7 % 5] in 'bd')}" for i in range(1000)]
    text = "@relation 'shades: -C -1'\n@attribute id {" + ",".join(f"id{i}" for i in range(300)) + "}\n"
    text += "@attribute shade {a,b,c,d,e}\n@attribute L {0,1}\n@data\n" + "\n".join(rows) + "\n"
    ds = open_dataset(write(tmp_path / "shades.arff", text))

    def micro_f1(encode) -> float:
        engine = Engine.from_config(EngineConfig(labels=ds.label_names, join=JoinLimits(None, None), drift=None))
        for n, record in enumerate(ds):
            engine.score(FeatureEvent(record.id, encode(record.features)), now=float(n))
            engine.learn(engine.join(record.label_event(), now=float(n)))
        return engine.metrics.report()["window"]["micro_f1"]

    encoder = FeatureEncoder()
    one_hot = micro_f1(encoder.encode_one)
    as_index = micro_f1(lambda raw: {"id": float(raw["id"][2:]), "shade": float(shades.index(raw["shade"]))})
    assert one_hot > 0.95 and as_index < 0.8
