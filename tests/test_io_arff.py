"""ARFF readers (MULAN and MEKA), River's Yeast, and open_dataset's dispatch.

Every file is written to tmp_path; nothing here reads the shared benchmark files.
"""

from __future__ import annotations

import bz2
import gzip
import tracemalloc
import warnings

import arff as liac
import pytest

from stream_mlc.errors import ConfigError, DatasetError
from stream_mlc.io import Record, open_dataset
from stream_mlc.io.arff import open_arff, read_arff_header

# --- fixtures ---------------------------------------------------------------------------

# Labels in the middle and at the end, a quoted name with a space, a nominal feature,
# comments and blank lines everywhere, a missing feature value.
MULAN_DENSE = """\
% a MULAN data set
% with comments

@relation 'mixed labels'
@attribute f1 numeric
@attribute lab_a {0,1}
@attribute 'f two' numeric
% a comment between attributes
@attribute lab_b {0,1}
@ATTRIBUTE f3 REAL
@attribute color {red,green,blue}
@attribute lab_c {0,1}

@data
% a comment in the data
1.5,1,-2,0,0,red,1
0,0,0,0,0,green,0

3e-2,1,?,1,7,blue,0
-0.25,0,1e3,1,0.5,red,1
"""

MULAN_XML = """\
<?xml version="1.0" encoding="utf-8"?>
<labels xmlns="http://mulan.sourceforge.net/labels">
<label name="lab_a">
  <label name="lab_c"></label>
</label>
<label name="lab_b"/>
</labels>
"""

MULAN_SPARSE = """\
@relation sparse_mulan
@attribute w0 {0,1}
@attribute w1 {0,1}
@attribute L1 {0,1}
@attribute w2 {0,1}
@attribute w3 {0,1}
@attribute L2 {0,1}
@data
{0 1,2 1,4 1}
{1 1,5 1}
{}
{ 0 1 , 3 1 , 4 1 , 5 1 }
{2 1,3 0}
"""

SPARSE_XML = """<labels xmlns="http://mulan.sourceforge.net/labels"><label name="L1"/><label name="L2"/></labels>"""

MEKA_DENSE = """\
@relation 'meka dense: -C 2 -split-percentage 66'
@attribute A {0,1}
@attribute B {0,1}
@attribute x numeric
@attribute y numeric
@data
1,0,0.5,-1
0,0,0,0
1,1,2.25,3
0,1,-7,1e-3
"""

MEKA_SPARSE = """\
@relation 'meka sparse: -W 3 -C -2 -R'
@attribute t0 numeric
@attribute t1 numeric
@attribute t2 numeric
@attribute P {0,1}
@attribute Q {0,1}
@data
{0 0.5,2 1.5,3 1}
{4 1}
{1 -2,2 3,3 1,4 1}
{}
"""


def write(path, text: str):
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    elif str(path).endswith(".bz2"):
        with bz2.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def liac_records(text: str, labels: set[str], name: str, sparse: bool = False) -> list[Record]:
    """What liac-arff loads for the file, in our record form (the reference)."""
    doc = liac.loads(text, return_type=liac.LOD if sparse else liac.DENSE)
    attributes = doc["attributes"]
    records = []
    for i, row in enumerate(doc["data"]):
        items = row.items() if sparse else enumerate(row)
        features, positives = {}, set()
        for index, value in items:
            attr, kind = attributes[index]
            if attr in labels:
                if value == "1":
                    positives.add(attr)
                continue
            if value is None or kind == "STRING":
                continue
            features[attr] = _reference_value(kind, value)
        for attr, kind in attributes:  # an omitted nominal value is its first category
            if sparse and isinstance(kind, list) and attr not in features and attr not in labels:
                features[attr] = _reference_value(kind, kind[0])
        if sparse:
            features = {k: v for k, v in features.items() if v != 0.0}
        records.append(Record(f"{name}-{i}", features, frozenset(positives)))
    return records


def _reference_value(kind, value):
    """A two-valued nominal is 0/1 (1 for a "true" word, else the second category); others stay categories."""
    if not isinstance(kind, list):
        return float(value)
    if len(kind) == 2:
        true = [v.lower() in {"1", "yes", "y", "true", "t", "on", "+", "positive", "present"} for v in kind]
        one = 0 if true == [True, False] else 1
        return 1.0 if value == kind[one] else 0.0
    return value


@pytest.fixture
def mulan_dense(tmp_path):
    (tmp_path / "mixed.xml").write_text(MULAN_XML)
    return write(tmp_path / "mixed.arff", MULAN_DENSE)


# --- MULAN ------------------------------------------------------------------------------


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


# --- MEKA -------------------------------------------------------------------------------


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


# --- engines, quoting, odd but valid input ------------------------------------------------


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


# --- errors -------------------------------------------------------------------------------


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


# --- yeast and dispatch ------------------------------------------------------------------


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


def test_no_warning_for_a_plain_meka_file(tmp_path):
    path = write(tmp_path / "md.arff", MEKA_DENSE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(open_dataset(path))) == 4


# --- nominal features, string attributes and comments (issue 12) -------------------------

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
