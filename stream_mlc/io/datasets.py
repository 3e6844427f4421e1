"""Multi-label streams: the :class:`Record` unit, the :class:`Dataset` handle and :func:`open_dataset`.

A data set is opened from a spec string and iterated as a stream of :class:`Record`, in file
order, re-reading its source on every iteration so that memory stays flat whatever its size:

``"yeast"``
    River's bundled ``river.datasets.Yeast`` (2417 rows, 103 features, 14 labels), ids
    ``yeast-0``, ``yeast-1``, ...; the same rows in the same order as MULAN's ``yeast.arff``.
``"synthetic"`` or ``"synthetic:k=v,..."``
    a seeded generator (see :mod:`stream_mlc.io.synthetic`).
``"synthetic-text"`` or ``"synthetic-text:k=v,..."``
    a seeded stream of raw mixed features: numbers, categories, tags and a text field.
a path to ``.arff``, ``.arff.gz``, ``.arff.bz2`` (or ``.arff.xz``)
    a MULAN or MEKA file (see :mod:`stream_mlc.io.arff`).
a path to ``.jsonl`` or ``.jsonl.gz`` (or ``.jsonl.bz2``)
    a capture of the service's topics in their wire format (see :mod:`stream_mlc.io.jsonl`);
    several files (say features and labels) are joined with ``+``: ``"feat.jsonl+lab.jsonl"``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from stream_mlc.core.events import FeatureEvent, LabelEvent
from stream_mlc.errors import ConfigError, DatasetError

__all__ = ["Record", "Dataset", "open_dataset", "yeast", "ARFF_SUFFIXES", "JSONL_SUFFIXES"]

ARFF_SUFFIXES = (".arff", ".arff.gz", ".arff.bz2", ".arff.xz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.bz2", ".jsonl.xz")

#: River's Yeast has no header to read: its shape is fixed.
YEAST_ROWS, YEAST_FEATURES, YEAST_LABELS = 2417, 103, 14


@dataclass(frozen=True, slots=True)
class Record:
    """One example of a multi-label stream: an event and its truth.

    Parameters
    ----------
    id
        The event id, unique within the stream (``f"{dataset}-{row}"`` for files without ids).
    features
        Feature name to raw value, as the wire contract admits it: a finite float, a boolean,
        a string (a category, or text for the data set's ``text_features``) or a list of
        strings (tags); :class:`~stream_mlc.core.features.FeatureEncoder` makes them numbers.
        Sparse rows hold only their non-zeros; dense rows hold every feature, zeros
        included; a missing value (``?``) leaves its feature out.
    labels
        The positive labels.
    observed
        ``None`` when every label not in ``labels`` is negative (the usual case); otherwise
        the labels whose value is known for this example (it always includes ``labels``);
        ``frozenset()`` means that nothing is known (an event that never got its labels).
    ts
        The feature event's timestamp, if the source has one.
    label_ts
        The label event's timestamp, if the source has one (JSONL captures).

    Examples
    --------
    >>> r = Record("e1", {"x": 1.0}, frozenset({"a"}))
    >>> r.feature_event()
    FeatureEvent(id='e1', features={'x': 1.0}, ts=None)
    >>> r.label_event()
    LabelEvent(id='e1', labels=frozenset({'a'}), observed=None, ts=None, annotator='', confidence=None)
    """

    id: str
    features: dict[str, float | bool | str | list[str]]
    labels: frozenset[str]
    observed: frozenset[str] | None = None
    ts: float | None = None
    label_ts: float | None = None

    def feature_event(self) -> FeatureEvent:
        """The event to score: id, features and ``ts`` (the features dict is shared, not copied).

        Returns
        -------
        FeatureEvent
        """
        return FeatureEvent(self.id, self.features, self.ts)

    def label_event(self) -> LabelEvent:
        """The truth to join: id, labels, observed and ``label_ts``.

        Returns
        -------
        LabelEvent
        """
        return LabelEvent(self.id, self.labels, self.observed, self.label_ts)


@dataclass(frozen=True)
class Dataset:
    """A named, re-iterable stream of :class:`Record`.

    Every ``iter(dataset)`` opens the source afresh and streams it; nothing is cached.

    Parameters
    ----------
    name
        Short name; also the prefix of generated row ids.
    label_names
        Every label the stream can carry, in the source's order (ARFF: attribute order).
    n_features
        Number of declared features, or ``None`` when the source does not declare them (JSONL).
    n_rows
        Number of records an iteration yields, or ``None`` if it cannot be known without reading.
    source
        A callable returning a fresh iterator of records (not part of equality or repr).
    limit
        Stop after this many records (``None``: all).
    text_features
        The features whose string values are free text, to be tokenised (ARFF string
        attributes, the synthetic text stream's ``text`` field); the other strings are
        categories. Give them to :class:`~stream_mlc.core.features.EncoderConfig`.
    """

    name: str
    label_names: tuple[str, ...]
    n_features: int | None
    n_rows: int | None
    source: Callable[[], Iterable[Record]] = field(repr=False, compare=False)
    limit: int | None = None
    text_features: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[Record]:
        rows = iter(self.source())
        if self.limit is None:
            return rows
        return _limited(rows, self.limit)


def _limited(rows: Iterator[Record], limit: int) -> Iterator[Record]:
    try:
        yield from itertools.islice(rows, limit)
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()  # releases the file now rather than at garbage collection


def _check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ConfigError(f"limit must be None or an integer >= 0, got {limit!r}")


def open_dataset(spec: str | os.PathLike, *, xml: str | None = None, limit: int | None = None) -> Dataset:
    """Open a multi-label stream from a spec string.

    Parameters
    ----------
    spec
        ``"yeast"``; ``"synthetic"`` or ``"synthetic:k=v,..."`` (keys in
        :func:`stream_mlc.io.synthetic.parse_spec`); a path to a MULAN or MEKA ARFF file
        (``.arff``, ``.arff.gz``, ``.arff.bz2``, ``.arff.xz``); or one or more JSONL captures
        (``.jsonl``, ``.jsonl.gz``, ``.jsonl.bz2``) joined with ``+``. A ``pathlib.Path`` is
        taken as a path.
    xml
        The MULAN label file of an ARFF spec; by default ``<stem>.xml`` beside the ARFF file
        (``scene.arff.bz2`` -> ``scene.xml``) is used if it exists, else the MEKA ``-C n`` of
        the relation name.
    limit
        Yield at most this many records per iteration.

    Returns
    -------
    Dataset
        Headers (and the MULAN XML) are read now, so a bad header fails here; rows are read
        lazily, and a bad row raises :class:`~stream_mlc.errors.DatasetError` when reached.

    Raises
    ------
    DatasetError
        The file is missing or unreadable; the message names the file and the line.
    ConfigError
        The spec or ``limit`` is malformed.

    Examples
    --------
    >>> ds = open_dataset("synthetic:n=100,features=4,labels=3,seed=7")
    >>> ds.name, ds.label_names, ds.n_features, ds.n_rows
    ('synthetic', ('y0', 'y1', 'y2'), 4, 100)
    >>> first = next(iter(ds))
    >>> first.id, {k: round(v, 3) for k, v in first.features.items()}
    ('synthetic-0', {'x0': 0.347, 'x1': -2.338, 'x2': -0.339, 'x3': -0.683})
    >>> [sorted(r.labels) for r in ds][:4]
    [[], ['y0'], [], ['y2']]
    >>> sum(1 for _ in ds), len(list(open_dataset("synthetic:n=100,seed=7", limit=5)))
    (100, 5)
    """
    _check_limit(limit)
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"a data set spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    lowered = spec.lower()
    if xml is not None and not lowered.endswith(ARFF_SUFFIXES):
        raise ConfigError(f"xml= applies to ARFF files only, not to {spec!r}")
    if lowered == "yeast":
        return yeast(limit=limit)
    if lowered == "synthetic-text" or lowered.startswith("synthetic-text:"):
        from stream_mlc.io.synthetic import synthetic_text_dataset

        return synthetic_text_dataset(spec, limit=limit)
    if lowered == "synthetic" or lowered.startswith("synthetic:"):
        from stream_mlc.io.synthetic import synthetic_dataset

        return synthetic_dataset(spec, limit=limit)
    if lowered.endswith(ARFF_SUFFIXES):
        from stream_mlc.io.arff import open_arff

        return open_arff(spec, xml=xml, limit=limit)
    parts = [spec] if os.path.exists(spec) else spec.split("+")
    if all(part.lower().endswith(JSONL_SUFFIXES) for part in parts):
        from stream_mlc.io.jsonl import open_jsonl

        return open_jsonl(*parts, limit=limit)
    if os.path.exists(spec):
        raise DatasetError(
            f"{spec}: unknown data file type; expected one of {', '.join(ARFF_SUFFIXES + JSONL_SUFFIXES)}"
        )
    raise DatasetError(
        f"{spec}: no such data set or file (known: 'yeast', 'synthetic[:k=v,...]', 'synthetic-text[:k=v,...]', "
        "or a path to an ARFF or JSONL file)"
    )


def yeast(*, limit: int | None = None) -> Dataset:
    """River's bundled Yeast data set as a stream of records.

    Parameters
    ----------
    limit
        Yield at most this many records per iteration.

    Returns
    -------
    Dataset
        ``name="yeast"``, labels ``Class1`` ... ``Class14``, features ``Att1`` ... ``Att103``,
        ids ``yeast-0`` ... ``yeast-2416``, the rows of MULAN's ``yeast.arff`` in file order.

    Examples
    --------
    >>> ds = yeast(limit=2)
    >>> ds.n_rows, ds.n_features, len(ds.label_names)
    (2, 103, 14)
    >>> [sorted(r.labels) for r in ds]
    [['Class12', 'Class13', 'Class7', 'Class8'], ['Class3', 'Class4']]
    """
    _check_limit(limit)
    from river.datasets import Yeast

    label_names = tuple(f"Class{i}" for i in range(1, YEAST_LABELS + 1))

    def rows() -> Iterator[Record]:
        for i, (x, y) in enumerate(Yeast()):
            positives = frozenset(name for name, value in y.items() if value)
            yield Record(f"yeast-{i}", {k: float(v) for k, v in x.items()}, positives)

    n_rows = YEAST_ROWS if limit is None else min(limit, YEAST_ROWS)
    return Dataset("yeast", label_names, YEAST_FEATURES, n_rows, rows, limit)
