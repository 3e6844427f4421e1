"""Shared by the tests/test_io_arff_*.py files: small ARFF/XML samples, a writer, and liac-arff's reading of them.

MULAN (labels named by an XML file) and MEKA (labels named by ``-C`` in the relation) samples,
dense and sparse; ``write`` puts one in a (possibly compressed) file; ``liac_records`` is the
reference: what liac-arff loads, in stream_mlc's record form.
"""

from __future__ import annotations

import bz2
import gzip

import arff as liac

from stream_mlc.io import Record

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
