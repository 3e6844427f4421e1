"""Stream MULAN and MEKA ARFF files row by row, as :class:`~stream_mlc.io.datasets.Record`.

Which attributes are labels
    1. the MULAN XML given as ``xml=``; else
    2. the MULAN XML beside the file under the same stem (``yeast.arff`` -> ``yeast.xml``,
       ``scene.arff.bz2`` -> ``scene.xml``), if its labels are attributes of the file; else
    3. MEKA's ``-C n`` in the relation name (``@relation 'scene: -C 6 -R'``): the first ``n``
       attributes, or the last ``|n|`` if ``n`` is negative.

    The XML wins over ``-C`` (MULAN's ``medical.arff`` carries a stale ``-C 45`` whose labels
    are in fact its last 45 attributes). A sibling XML that names labels the file does not
    have is an error, unless the relation has ``-C n``: then the XML belongs to another
    version of the data set (MEKA's ``scene.arff.bz2`` beside MULAN's ``scene.xml``), and
    ``-C`` is used with a warning. An XML given as ``xml=`` must match. Every
    ``<label name="..."/>`` element counts, at any depth (hierarchies) and in any XML
    namespace. ``label_names`` follow the attribute order of the ARFF header, not the XML
    order, so that ``yeast.arff`` and River's Yeast agree.

Values
    Numeric features are floats. A nominal feature with two categories is one 0/1 feature
    whatever the names of its categories: ``1.0`` for the category that says "true" (``1``,
    ``yes``, ``y``, ``true``, ``t``, ``on``, ``+``, ``positive``, ``present``, in any case) when
    exactly one of the two does (``{YES,NO}`` and ``{NO,YES}`` both read ``YES`` as 1.0,
    ``{1,0}`` reads ``1``), otherwise for the category that is not the first declared (Weka's
    index: ``{low,high}`` reads ``high`` as 1.0). A sparse row's omitted value is the first
    declared category, as in Weka (so ``1.0`` in a sparse row of a ``{YES,NO}`` feature).
    Any other nominal feature is a category: its value is the category's name (a string),
    which :class:`~stream_mlc.core.features.FeatureEncoder` one-hot encodes as ``name=value``,
    so that an identifier-like attribute of hundreds of categories is never read as a
    magnitude. String attributes are text (their values are strings;
    :attr:`~stream_mlc.io.datasets.Dataset.text_features` names them so that the
    encoder reads them as free text), or skipped with ``strings="skip"``; date and relational
    attributes are refused. A missing value ``?`` leaves its feature out of the row. Dense
    rows keep their zeros; sparse rows (``{index value, ...}``) hold only their non-zeros (an
    omitted entry is 0, the first declared category of a nominal feature, as in Weka; an
    explicit 0 is dropped too). A label is positive when its value is ``1`` (a nominal
    label must have two categories; for categories other than ``{0,1}`` the second declared
    one is the positive one, as in Weka and MEKA; a numeric label is positive when non-zero).
    A missing label ``?`` makes the row partially observed: ``observed`` is then every label
    but the missing ones; otherwise ``observed`` is ``None`` (all labels known).

Parsing
    The header is decoded by liac-arff. Unquoted rows (the common case) are split by a small
    hand-written parser; rows that contain quotes go through liac-arff's own streaming row
    decoder (``DENSE_GEN``/``LOD_GEN``), fed one line at a time. ``%`` starts a comment
    anywhere outside quotes, as Weka's tokenizer reads it (``@relation 'x: -C 22' %50``). The hand-written parser is
    only a moderate gain: on the nine benchmark files, liac-arff's decoder alone (raw values
    by attribute index, not yet records) takes 1.4-2.4x the time our parser needs to make
    records, and records via liac-arff (``engine="liac"``) take 1.4-2.4x as long end to
    end; both engines give equal records (tested). Nothing is loaded whole: plain, gzip,
    bzip2 and xz files are streamed line by line, and every iteration re-reads the file
    (imdb, 121k rows: peak RSS 19 MB, against 255 MB for ``liac.load(..., LOD)``). Errors
    raise :class:`~stream_mlc.errors.DatasetError` as ``"<file>:<line>: <reason>"``.

Modules
    This module streams records; the parts live beside it: :mod:`stream_mlc.io.files`
    (opening plain and compressed files), :mod:`stream_mlc.io.arff_header` (the header),
    :mod:`stream_mlc.io.arff_labels` (the MULAN and MEKA label conventions) and
    :mod:`stream_mlc.io.arff_rows` (decoding data rows). ``__all__`` re-exports the names
    callers use, so they import from here alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from stream_mlc.errors import ConfigError, DatasetError
from stream_mlc.io.arff_header import ArffHeader, read_arff_header, strip_comment
from stream_mlc.io.arff_labels import read_mulan_xml
from stream_mlc.io.arff_rows import _feature_index, _RowDecoder
from stream_mlc.io.datasets import Dataset, Record, _check_limit
from stream_mlc.io.files import dataset_stem, open_binary, open_text

__all__ = [
    "ArffHeader",
    "dataset_stem",
    "iter_arff_records",
    "open_arff",
    "open_binary",
    "open_text",
    "read_arff_header",
    "read_mulan_xml",
]

ENGINES = ("fast", "liac")


def iter_arff_records(
    header: ArffHeader, *, name: str, engine: str = "fast", encoding: str = "utf-8", strings: str = "text"
) -> Iterator[Record]:
    """Stream the rows of a file whose header was read by :func:`read_arff_header`.

    Parameters
    ----------
    header
        The file's header.
    name
        Prefix of the row ids: ``f"{name}-{row_index}"``, row_index counting data rows from 0.
    engine
        ``"fast"`` (hand-written row parser, liac-arff for quoted rows) or ``"liac"``
        (liac-arff's decoder for every row; slower, for cross-checks).
    encoding
        The file's text encoding.

    Yields
    ------
    Record
    """
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {ENGINES}, got {engine!r}")
    decoder = _RowDecoder(header, engine, strings)
    path = header.path
    row = 0
    line = header.data_line
    with open_text(path, encoding) as f:
        try:
            for line, text in enumerate(islice(f, header.data_line, None), start=header.data_line + 1):
                text = text.strip()
                if "%" in text:
                    text = strip_comment(text).strip()
                if not text:
                    continue
                features, positives, observed = decoder.decode(text, line)
                yield Record(f"{name}-{row}", features, positives, observed)
                row += 1
        except (UnicodeDecodeError, OSError, EOFError) as error:
            raise DatasetError(f"{path}:{line + 1}: cannot read: {error}") from None


def open_arff(
    path: str,
    *,
    xml: str | None = None,
    name: str | None = None,
    limit: int | None = None,
    engine: str = "fast",
    encoding: str = "utf-8",
    strings: str = "text",
) -> Dataset:
    """Open a MULAN or MEKA ARFF file as a re-iterable stream of records.

    Parameters
    ----------
    path
        ``.arff``, ``.arff.gz``, ``.arff.bz2`` or ``.arff.xz`` (compression is detected from the
        file's first bytes).
    xml
        MULAN label XML; by default ``<stem>.xml`` beside the file, else MEKA's ``-C n``.
    name
        Data set name and id prefix; by default the file stem (``scene.arff.bz2`` -> ``scene``).
    limit
        Yield at most this many records per iteration.
    engine
        ``"fast"`` (default): the hand-written row parser, liac-arff for quoted rows; or
        ``"liac"``: liac-arff's streaming decoder for every row (1.4-2.4x slower on the
        benchmark files; for cross-checks). Both give the same records.
    encoding
        Text encoding of the file.
    strings
        ``"text"`` (default): string attributes are features whose values are their text, and
        the data set's ``text_features`` names them; ``"skip"``: they are left out.

    Returns
    -------
    Dataset
        ``n_features`` is the number of declared features (string attributes included unless
        skipped); ``n_rows`` is ``None`` (unknown without reading the file).

    Raises
    ------
    DatasetError
        Unreadable file or header; a bad row raises when the iteration reaches it.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.arff")
    >>> _ = open(path, "w").write(
    ...     "@relation 'tiny: -C -2'\\n@attribute a numeric\\n@attribute b numeric\\n"
    ...     "@attribute l1 {0,1}\\n@attribute l2 {0,1}\\n@data\\n0.5,0,1,0\\n{1 2.5,3 1}\\n")
    >>> ds = open_arff(path)
    >>> ds.label_names, ds.n_features
    (('l1', 'l2'), 2)
    >>> [(r.id, r.features, sorted(r.labels)) for r in ds]
    [('tiny-0', {'a': 0.5, 'b': 0.0}, ['l1']), ('tiny-1', {'b': 2.5}, ['l2'])]
    """
    _check_limit(limit)
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {ENGINES}, got {engine!r}")
    header = read_arff_header(path, xml=xml, encoding=encoding)
    name = name or dataset_stem(path)

    def rows() -> Iterator[Record]:
        return iter_arff_records(header, name=name, engine=engine, encoding=encoding, strings=strings)

    text_features = tuple(header.attributes[i][0] for i in header.string_index) if strings == "text" else ()
    n_features = len(_feature_index(header, strings))
    return Dataset(name, header.label_names, n_features, None, rows, limit, text_features)
