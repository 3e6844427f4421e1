"""Read and write captures of the service's input topics as JSON lines, in the wire format.

One JSON object per line (orjson), as on the ``mlc.features`` and ``mlc.labels`` topics:

- a feature event ``{"id": str, "features": {name: value}, "ts": number?}``, a value being a
  number, a boolean, a string or a list of strings (kept raw, as the service receives them);
- a label event ``{"id": str, "labels": [names], "observed": [names]?, "ts": number?}``.

A line with ``"features"`` is a feature event, one with ``"labels"`` a label event (a line with
both is both); the two kinds may be interleaved in one file or split over several files.
Each line is validated by :mod:`stream_mlc.wire`, exactly as the service decodes a message.

Joining
    Records come out in the order of the feature events (files in the order given), each
    with the labels of the label event of the same id, wherever that event is (before or
    after, same file or another): the label events are read in a first pass and kept by id
    (small: ids and label sets), then the feature events are streamed in a second pass.

    - A feature event that no label event matches gets ``labels=frozenset()`` and
      ``observed=frozenset()``: nothing is known about it (not "all negative"), so its
      :meth:`~stream_mlc.io.datasets.Record.label_event` carries no truth to learn from
      or to score against.
    - Of several label events for one id, the first wins, as in the service's join (later
      ones are producer retries).
    - Label events whose id has no feature event are ignored.
    - ``Record.ts`` is the feature event's ``ts``; ``Record.label_ts`` the label event's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import IO, Any

import orjson

from stream_mlc.errors import DatasetError, DecodeError
from stream_mlc.io.arff import dataset_stem, open_binary
from stream_mlc.io.datasets import Dataset, Record, _check_limit
from stream_mlc.wire import decode_features, decode_labels

__all__ = ["open_jsonl", "read_label_events", "write_jsonl"]

_NOTHING: frozenset[str] = frozenset()


def _lines(path: str) -> Iterator[tuple[int, bytes]]:
    with open_binary(path) as raw:  # bytes: orjson parses them without a str copy
        line = 0
        try:
            for line, data in enumerate(raw, start=1):
                data = data.strip()
                if data:
                    yield line, data
        except (OSError, EOFError) as error:
            raise DatasetError(f"{path}:{line + 1}: cannot read: {error}") from None


def _parse(path: str, line: int, data: bytes) -> dict:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise DatasetError(f"{path}:{line}: not valid JSON: {error}") from None
    if not isinstance(doc, dict):
        raise DatasetError(f"{path}:{line}: expected a JSON object, got {type(doc).__name__}")
    return doc


def read_label_events(*paths: str) -> dict[str, tuple[frozenset[str], frozenset[str] | None, float | None]]:
    """The label events of one or more captures, by id (first event of an id wins).

    Parameters
    ----------
    *paths
        JSONL files (``.gz``/``.bz2`` allowed), read in order.

    Returns
    -------
    dict
        id -> ``(labels, observed, ts)``.

    Raises
    ------
    DatasetError
        A line is not JSON or not a valid label event; the message names file and line.
    """
    found: dict[str, tuple[frozenset[str], frozenset[str] | None, float | None]] = {}
    for path in paths:
        for line, data in _lines(path):
            if b'"labels"' not in data:  # cannot be a label event: skip parsing it now
                continue
            doc = _parse(path, line, data)
            if "labels" not in doc:
                continue
            try:
                event = decode_labels(None, data, max_bytes=len(data))
            except DecodeError as error:
                raise DatasetError(f"{path}:{line}: bad label event: {error}") from None
            if event.id not in found:
                found[event.id] = (event.labels, event.observed, event.ts)
    return found


def _records(paths: tuple[str, ...]) -> Iterator[Record]:
    truth = read_label_events(*paths)
    for path in paths:
        for line, data in _lines(path):
            doc = _parse(path, line, data)
            if "features" not in doc:
                if "labels" not in doc:
                    raise DatasetError(
                        f"{path}:{line}: neither a feature event nor a label event (no 'features' or 'labels' key)"
                    )
                continue
            try:
                event = decode_features(None, data, max_bytes=len(data))
            except DecodeError as error:
                raise DatasetError(f"{path}:{line}: bad feature event: {error}") from None
            known = truth.get(event.id)
            if known is None:
                yield Record(event.id, event.features, _NOTHING, _NOTHING, event.ts)
            else:
                labels, observed, label_ts = known
                yield Record(event.id, event.features, labels, observed, event.ts, label_ts)


def open_jsonl(*paths: str, name: str | None = None, limit: int | None = None) -> Dataset:
    """Open one or more JSONL captures as a re-iterable stream of records.

    Parameters
    ----------
    *paths
        JSONL files (plain, ``.gz``, ``.bz2``), feature and label events in any mix.
    name
        Data set name; by default the first file's stem.
    limit
        Yield at most this many records per iteration.

    Returns
    -------
    Dataset
        ``label_names`` are every label named by the label events (sorted); ``n_features``
        and ``n_rows`` are ``None``. Opening reads the label events once (to know the
        labels); each iteration reads the label events again, then streams the features.

    Raises
    ------
    DatasetError
        A missing file, or a bad line (``"<file>:<line>: <reason>"``).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "cap.jsonl")
    >>> _ = open(path, "w").write(
    ...     '{"id": "a", "features": {"x": 1}, "ts": 10}\\n'
    ...     '{"id": "b", "features": {"x": 2}}\\n'
    ...     '{"id": "a", "labels": ["l1"], "ts": 12}\\n')
    >>> ds = open_jsonl(path)
    >>> ds.label_names
    ('l1',)
    >>> for r in ds:
    ...     print(r.id, r.features, sorted(r.labels), r.observed, r.ts, r.label_ts)
    a {'x': 1.0} ['l1'] None 10.0 12.0
    b {'x': 2.0} [] frozenset() None None
    """
    _check_limit(limit)
    if not paths:
        raise DatasetError("open_jsonl needs at least one file")
    for path in paths:
        if not os.path.isfile(path):
            raise DatasetError(f"{path}: no such file")
    truth = read_label_events(*paths)
    names: set[str] = set()
    for labels, observed, _ in truth.values():
        names.update(labels)
        if observed is not None:
            names.update(observed)

    def rows() -> Iterator[Record]:
        return _records(paths)

    return Dataset(name or dataset_stem(paths[0]), tuple(sorted(names)), None, None, rows, limit)


def _feature_line(record: Record) -> bytes:
    doc: dict[str, Any] = {"id": record.id, "features": record.features}
    if record.ts is not None:
        doc["ts"] = record.ts
    return orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)


def _label_line(record: Record) -> bytes:
    doc: dict[str, Any] = {"id": record.id, "labels": sorted(record.labels)}
    if record.observed is not None:
        doc["observed"] = sorted(record.observed)
    if record.label_ts is not None:
        doc["ts"] = record.label_ts
    return orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)


def _open_write(path: str) -> IO[bytes]:
    lowered = str(path).lower()
    if lowered.endswith(".gz"):
        import gzip

        return gzip.open(path, "wb")
    if lowered.endswith(".bz2"):
        import bz2

        return bz2.open(path, "wb")
    return open(path, "wb")


def write_jsonl(records: Iterable[Record], path: str, *, labels_path: str | None = None) -> int:
    """Write records as wire-format feature and label events.

    Parameters
    ----------
    records
        The records, written in order.
    path
        Output file (``.gz``/``.bz2`` compress). Without ``labels_path`` each record's
        feature event is followed by its label event in this file.
    labels_path
        If given, the label events go to this file instead.

    Returns
    -------
    int
        Number of records written.

    Notes
    -----
    Every record gets a label event, even one with nothing observed
    (``{"labels": [], "observed": []}``), so that reading the file back gives equal records.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "out.jsonl")
    >>> write_jsonl([Record("a", {"x": 1.0}, frozenset({"l"}))], path)
    1
    >>> print(open(path).read(), end="")
    {"id":"a","features":{"x":1.0}}
    {"id":"a","labels":["l"]}
    """
    count = 0
    with _open_write(path) as features_out:
        labels_out = _open_write(labels_path) if labels_path is not None else features_out
        try:
            for record in records:
                features_out.write(_feature_line(record))
                labels_out.write(_label_line(record))
                count += 1
        finally:
            if labels_out is not features_out:
                labels_out.close()
    return count
