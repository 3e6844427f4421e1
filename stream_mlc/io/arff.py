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
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import math
import os
import re
import warnings
import xml.parsers.expat
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import compress, islice
from operator import itemgetter
from typing import IO, Any

import arff as liac

from stream_mlc.errors import ConfigError, DatasetError
from stream_mlc.io.datasets import Dataset, Record, _check_limit

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

FEATURE, LABEL, SKIPPED = "feature", "label", "skipped"
ENGINES = ("fast", "liac")
STRINGS = ("text", "skip")

_MEKA_C = re.compile(r"(?:^|[\s:'\"])-C\s+(-?\d+)")
_KEYWORD_SPACE = re.compile(r"^(\s*@[A-Za-z]+)[ \t]+")
_LIAC_LINE = re.compile(r",? (?:at|in) line -?\d+\.?")
# float() gives nan/inf for "nan", "inf", "infinity" and overflowing exponents ("1e999"):
# rows with none of these letters cannot hold a non-finite value, so only the others are checked.
_MAYBE_NONFINITE = re.compile(r"[nNiIeE]")
#: A two-valued nominal feature reads 1.0 for the value among these (YES in {YES,NO}), else its second value.
_TRUE_WORDS = frozenset({"1", "yes", "y", "true", "t", "on", "+", "positive", "present"})


class _Malformed(Exception):
    """A row the fast path cannot take; the general path decodes it or says why not."""


@dataclass(frozen=True)
class ArffHeader:
    """What the header of a multi-label ARFF file declares.

    Parameters
    ----------
    path
        The ARFF file.
    relation
        The relation name (MEKA options included).
    attributes
        ``(name, type)`` per attribute, as liac-arff decodes them: type is ``"NUMERIC"``,
        ``"REAL"``, ``"INTEGER"``, ``"STRING"`` or the list of nominal categories.
    label_index
        Positions of the label attributes, ascending.
    label_source
        Where the labels came from: ``"xml:<path>"`` or ``"meka:-C <n>"``.
    data_line
        Line number (1-based) of ``@data``; rows follow it.
    attribute_lines
        Line number of each attribute's declaration (for error messages).
    header_lines
        The header's lines up to ``@data`` (normalized for liac-arff), kept for its row decoder.
    """

    path: str
    relation: str
    attributes: tuple[tuple[str, Any], ...]
    label_index: tuple[int, ...]
    label_source: str
    data_line: int
    attribute_lines: tuple[int, ...]
    header_lines: tuple[str, ...]

    @property
    def label_names(self) -> tuple[str, ...]:
        """Label attribute names, in attribute order."""
        return tuple(self.attributes[i][0] for i in self.label_index)

    @property
    def string_index(self) -> tuple[int, ...]:
        """Positions of the string attributes that are not labels (text features), ascending."""
        labels = set(self.label_index)
        return tuple(i for i, (_, kind) in enumerate(self.attributes) if i not in labels and kind == "STRING")

    @property
    def feature_index(self) -> tuple[int, ...]:
        """Positions of the feature attributes (neither labels nor strings), ascending."""
        labels = set(self.label_index)
        return tuple(i for i, (_, kind) in enumerate(self.attributes) if i not in labels and kind != "STRING")

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Feature names (the attribute names), in attribute order."""
        return tuple(self.attributes[i][0] for i in self.feature_index)


def dataset_stem(path: str) -> str:
    """The file name without directory and ARFF/JSONL/compression suffixes.

    Parameters
    ----------
    path
        A data file path.

    Returns
    -------
    str

    Examples
    --------
    >>> dataset_stem("/data/scene/scene.arff.bz2"), dataset_stem("yeast.arff"), dataset_stem("cap.jsonl.gz")
    ('scene', 'yeast', 'cap')
    """
    base = os.path.basename(path)
    lowered = base.lower()
    for suffix in (".gz", ".bz2", ".xz"):
        if lowered.endswith(suffix):
            base, lowered = base[: -len(suffix)], lowered[: -len(suffix)]
            break
    for suffix in (".arff", ".jsonl"):
        if lowered.endswith(suffix):
            return base[: -len(suffix)]
    return base


def open_binary(path: str) -> IO[bytes]:
    """Open a plain, gzip, bzip2 or xz file for reading bytes (compression told by magic bytes).

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    binary file object
        The caller closes it.

    Raises
    ------
    DatasetError
        The file does not exist or cannot be read.
    """
    try:
        with open(path, "rb") as probe:
            magic = probe.read(6)
        if magic.startswith(b"\x1f\x8b"):
            return gzip.open(path, "rb")
        if magic.startswith(b"BZh"):
            return bz2.open(path, "rb")
        if magic.startswith(b"\xfd7zXZ\x00"):
            return lzma.open(path, "rb")
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DatasetError(f"{path}: is a directory, not a data file") from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot read: {error.strerror or error}") from None


def open_text(path: str, encoding: str = "utf-8") -> io.TextIOWrapper:
    """Open a plain, gzip, bzip2 or xz file as text lines (see :func:`open_binary`).

    Parameters
    ----------
    path
        The file.
    encoding
        Its text encoding.

    Returns
    -------
    io.TextIOWrapper
        Universal newlines; the caller closes it.

    Raises
    ------
    DatasetError
        The file does not exist or cannot be read.
    """
    return io.TextIOWrapper(open_binary(path), encoding=encoding, newline=None)


def read_mulan_xml(path: str) -> tuple[tuple[str, int], ...]:
    """The label names a MULAN XML file declares, with the line of each.

    Every ``label`` element with a ``name`` attribute counts, at any depth and in any
    namespace; duplicates are kept once (first occurrence).

    Parameters
    ----------
    path
        The XML file.

    Returns
    -------
    tuple of (name, line)

    Raises
    ------
    DatasetError
        Missing file, XML syntax error, a ``label`` without a name, or no label at all.
    """
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    found: dict[str, int] = {}

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag.rsplit(" ", 1)[-1] != "label":
            return
        name = attrs.get("name")
        if name is None:  # a namespaced attribute arrives as "<uri> name"
            name = next((v for k, v in attrs.items() if k.rsplit(" ", 1)[-1] == "name"), None)
        if name is None:
            raise DatasetError(f"{path}:{parser.CurrentLineNumber}: <label> element without a name attribute")
        found.setdefault(name, parser.CurrentLineNumber)

    parser.StartElementHandler = start
    try:
        with open(path, "rb") as f:
            parser.ParseFile(f)
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file (MULAN label XML)") from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot read: {error.strerror or error}") from None
    except xml.parsers.expat.ExpatError as error:
        reason = xml.parsers.expat.errors.messages[error.code]
        raise DatasetError(f"{path}:{error.lineno}: not valid XML: {reason}") from None
    if not found:
        raise DatasetError(f'{path}: no <label name="..."/> element: not a MULAN label file')
    return tuple(found.items())


def _liac_message(error: Exception, line: int) -> str:
    if isinstance(error, liac.ArffException):
        error.line = line
        try:
            text = str(error)
        except Exception:  # liac-arff formats messages with %, which a value may break
            text = type(error).__name__
        return _LIAC_LINE.sub("", text, count=1).rstrip(".")
    return f"{type(error).__name__}: {error}"


class _CountingLines:
    """Iterates lines and remembers the number of the last one handed out."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        for line in self.lines:
            self.line += 1
            yield line


def read_arff_header(path: str, *, xml: str | None = None, encoding: str = "utf-8") -> ArffHeader:
    """Read the header of a MULAN or MEKA ARFF file and find its labels.

    Parameters
    ----------
    path
        The ARFF file (plain, ``.gz``, ``.bz2`` or ``.xz``).
    xml
        The MULAN label XML; by default ``<stem>.xml`` beside the file if it exists.
    encoding
        The file's text encoding.

    Returns
    -------
    ArffHeader

    Raises
    ------
    DatasetError
        Unreadable file, bad header (``"<file>:<line>: <reason>"``), no ``@data``, unknown XML
        labels, non-binary label attributes, or no way to tell the labels.
    """
    lines: list[str] = []
    with open_text(path, encoding) as f:
        try:
            for line in f:
                lines.append(_KEYWORD_SPACE.sub(r"\1 ", strip_comment(line) if "%" in line else line))
                if line.lstrip()[:5].lower() == "@data":
                    break
            else:
                raise DatasetError(f"{path}:{max(len(lines), 1)}: end of file before @data: not an ARFF file")
        except (UnicodeDecodeError, OSError, EOFError) as error:
            raise DatasetError(f"{path}:{len(lines) + 1}: cannot read: {error}") from None
    counter = _CountingLines(lines)
    try:
        decoded = liac.load(counter, encode_nominal=False, return_type=liac.LOD_GEN)
    except Exception as error:
        raise DatasetError(f"{path}:{counter.line}: {_liac_message(error, counter.line)}") from None
    attributes = tuple((name, kind) for name, kind in decoded["attributes"])
    relation = decoded["relation"]
    if not attributes:
        raise DatasetError(f"{path}:{len(lines)}: no @attribute before @data")
    attribute_lines = tuple(i for i, line in enumerate(lines, 1) if line.lstrip()[:10].lower() == "@attribute")
    relation_line = next((i for i, line in enumerate(lines, 1) if line.lstrip()[:9].lower() == "@relation"), 1)

    names = [name for name, _ in attributes]
    position = {name: i for i, name in enumerate(names)}
    meka = _MEKA_C.search(relation)
    label_index: tuple[int, ...] | None = None
    xml_path = xml if xml is not None else _sibling_xml(path)
    if xml_path is not None:
        labels = read_mulan_xml(xml_path)
        unknown = [(name, line) for name, line in labels if name not in position]
        if not unknown:
            label_index = tuple(sorted(position[name] for name, _ in labels))
            source = f"xml:{xml_path}"
        elif xml is not None or meka is None:
            name, line = unknown[0]
            more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
            raise DatasetError(f"{xml_path}:{line}: label {name!r} is not an attribute of {path}{more}")
        else:
            # A MEKA file beside a stale MULAN XML of another version of the data set (MEKA's
            # scene.arff names its labels beach, sunset, ... where MULAN's scene.xml says Beach,
            # Sunset, ...): the XML was not asked for, and the file says where its labels are.
            warnings.warn(
                f"{path}: ignoring {xml_path}, whose labels are not attributes of the file "
                f"({unknown[0][0]!r}, ...); using the relation's MEKA '-C {meka.group(1)}'",
                stacklevel=3,
            )
    if label_index is None:
        if meka is None:
            raise DatasetError(
                f"{path}:{relation_line}: cannot tell the labels: no MULAN XML ({_stem_xml(path)} not found, "
                f"pass xml=) and no MEKA '-C n' in the relation name {relation!r}"
            )
        n = int(meka.group(1))
        if n == 0 or abs(n) > len(attributes):
            raise DatasetError(
                f"{path}:{relation_line}: MEKA '-C {n}' does not fit the {len(attributes)} attributes of the file"
            )
        label_index = tuple(range(n)) if n > 0 else tuple(range(len(attributes) + n, len(attributes)))
        source = f"meka:-C {n}"

    header = ArffHeader(path, relation, attributes, label_index, source, len(lines), attribute_lines, tuple(lines))
    for i in label_index:
        _label_truth(header, i)  # refuses non-binary labels now rather than at the first row
    return header


def _stem_xml(path: str) -> str:
    return os.path.join(os.path.dirname(path), dataset_stem(path) + ".xml")


def _sibling_xml(path: str) -> str | None:
    candidate = _stem_xml(path)
    return candidate if os.path.isfile(candidate) else None


def _label_truth(header: ArffHeader, i: int) -> Callable[[Any], bool]:
    """value -> positive? for label attribute ``i`` (raises on a value outside its type)."""
    name, kind = header.attributes[i]
    if isinstance(kind, list):
        if set(kind) <= {"0", "1"}:
            truth = {"0": False, "1": True}
        elif len(kind) == 2:
            truth = {kind[0]: False, kind[1]: True}
        else:
            raise DatasetError(
                f"{header.path}:{header.attribute_lines[i]}: label attribute {name!r} has categories {kind}: "
                "a label must be binary"
            )
        return truth.__getitem__
    if kind == "STRING":
        raise DatasetError(f"{header.path}:{header.attribute_lines[i]}: label attribute {name!r} is a string attribute")
    return _numeric_truth


def _numeric_truth(value: Any) -> bool:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number != 0.0


def strip_comment(line: str) -> str:
    """The line without its ``%`` comment; a ``%`` inside quotes is text (Weka's rule).

    >>> strip_comment("@relation 'Slashdot: -C 22 -split-number 1891' %50")
    "@relation 'Slashdot: -C 22 -split-number 1891' "
    >>> strip_comment("1,'50% off',x % a comment")
    "1,'50% off',x "
    """
    quote = None
    escaped = False
    for position, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "%":
            return line[:position]
    return line


def _feature_conversor(kind: Any) -> Callable[[Any], float | str]:
    """raw value -> feature value: a float, or a category's name (raises on an unknown one)."""
    if isinstance(kind, list):
        if len(kind) == 2:
            first_true, second_true = (value.strip().lower() in _TRUE_WORDS for value in kind)
            one = 0 if first_true and not second_true else 1
            return {kind[one]: 1.0, kind[1 - one]: 0.0}.__getitem__
        return {category: category for category in kind}.__getitem__
    if kind == "STRING":
        return _text_value
    return float


def _text_value(value: str) -> str:
    if value == "?":
        raise ValueError(value)  # the fast path then hands the row to the general one
    return value


def _feature_index(header: ArffHeader, strings: str) -> tuple[int, ...]:
    if strings not in STRINGS:
        raise ConfigError(f"strings must be one of {STRINGS}, got {strings!r}")
    if strings == "skip":
        return header.feature_index
    return tuple(sorted(header.feature_index + header.string_index))


def _getter(index: tuple[int, ...]) -> Callable[[list], tuple]:
    if len(index) == 1:
        only = index[0]
        return lambda values: (values[only],)
    if not index:
        return lambda values: ()
    return itemgetter(*index)


class _LiacRows:
    """liac-arff's own row decoder, kept alive and fed one line at a time."""

    def __init__(self, header_lines: tuple[str, ...]):
        self._header = header_lines
        self._decoders: dict[int, tuple[deque, Iterator]] = {}

    def decode(self, line: str, sparse: bool) -> list | dict:
        mode = liac.LOD_GEN if sparse else liac.DENSE_GEN
        entry = self._decoders.get(mode)
        if entry is None:
            feed: deque = deque()

            def lines() -> Iterator[str]:
                yield from self._header
                while True:
                    yield feed.popleft()

            data = liac.load(lines(), encode_nominal=False, return_type=mode)["data"]
            entry = self._decoders[mode] = (feed, data)
        feed, data = entry
        feed.append(line)
        try:
            return next(data)
        except BaseException:
            del self._decoders[mode]  # a generator that raised is finished
            raise


class _RowDecoder:
    """Turns one data line into (features, positive labels, observed labels or None)."""

    def __init__(self, header: ArffHeader, engine: str, strings: str = "text"):
        self.path = header.path
        self.engine = engine
        attributes = header.attributes
        self.n = len(attributes)
        labels = set(header.label_index)
        self.label_names = header.label_names
        self.all_labels = frozenset(self.label_names)
        self.kinds: list[str] = []
        self.names = [name for name, _ in attributes]
        self.convs: list[Callable[[Any], Any]] = []
        for i, (_, kind) in enumerate(attributes):
            if i in labels:
                self.kinds.append(LABEL)
                self.convs.append(_label_truth(header, i))
            elif kind == "STRING" and strings == "skip":
                self.kinds.append(SKIPPED)
                self.convs.append(str)
            else:
                self.kinds.append(FEATURE)
                self.convs.append(_feature_conversor(kind))
        self.slots = list(zip(self.kinds, self.names, self.convs, strict=True))
        feature_index = _feature_index(header, strings)
        self.feature_names = tuple(self.names[i] for i in feature_index)
        # A sparse row's omitted nominal value is its first category (Weka stores index 0):
        # kept when it is not 0.0 (a category, or a two-valued one whose first value reads 1).
        self.omitted_values = [
            (self.names[i], self.convs[i](kind[0]))
            for i, (_, kind) in enumerate(attributes)
            if i in feature_index and isinstance(kind, list) and self.convs[i](kind[0]) != 0.0
        ]
        self.feature_get = _getter(feature_index)
        self.label_get = _getter(header.label_index)
        self.feature_convs = [self.convs[i] for i in feature_index]
        self.numeric_features = all(conv is float for conv in self.feature_convs)
        self.label_convs = [self.convs[i] for i in header.label_index]
        self.zero_one_labels = all(
            isinstance(attributes[i][1], list) and set(attributes[i][1]) <= {"0", "1"} for i in header.label_index
        )
        self.liac = _LiacRows(header.header_lines)

    def error(self, line: int, reason: str) -> DatasetError:
        return DatasetError(f"{self.path}:{line}: {reason}")

    def decode(self, text: str, line: int) -> tuple[dict[str, float], frozenset[str], frozenset[str] | None]:
        sparse = text[0] == "{"
        if self.engine == "liac" or "'" in text or '"' in text:
            try:
                values = self.liac.decode(text, sparse)
            except Exception as error:
                raise self.error(line, _liac_message(error, line)) from None
            items = values.items() if isinstance(values, dict) else enumerate(values)
            return self._general(items, sparse, line)
        try:
            if sparse:
                features, positives = self._sparse_items(text)
            else:
                features, positives = self._dense_fast(text)
        except (_Malformed, ValueError, KeyError, IndexError, TypeError):
            return self._general(self._split(text, sparse, line), sparse, line)
        if _MAYBE_NONFINITE.search(text) is not None:
            self._check_finite(features, line)
        return features, positives, None

    def _dense_fast(self, text: str) -> tuple[dict[str, float], frozenset[str]]:
        values = text.split(",")
        if len(values) != self.n:
            raise _Malformed
        if " " in text or "\t" in text:
            values = [value.strip() for value in values]
        raw = self.feature_get(values)
        if self.numeric_features:
            features = dict(zip(self.feature_names, map(float, raw), strict=True))
        else:
            converted = [conv(v) for conv, v in zip(self.feature_convs, raw, strict=True)]
            features = dict(zip(self.feature_names, converted, strict=True))
        raw_labels = self.label_get(values)
        if self.zero_one_labels:
            flags = [value == "1" for value in raw_labels]
            if sum(flags) + raw_labels.count("0") != len(raw_labels):
                raise _Malformed  # a missing or bad label value
        else:
            flags = [conv(value) for conv, value in zip(self.label_convs, raw_labels, strict=True)]
        return features, frozenset(compress(self.label_names, flags))

    def _sparse_items(self, text: str) -> tuple[dict[str, float], frozenset[str]]:
        if text[-1] != "}":
            raise _Malformed
        body = text[1:-1]
        features: dict[str, float] = {}
        positives: list[str] = []
        zeros: list[str] = []  # explicit zeros, not omitted values
        if not body.strip():
            if self.omitted_values:
                self._fill_omitted(features, ())
            return features, frozenset()
        slots = self.slots
        for item in body.split(","):
            key, value = item.split()
            index = int(key)
            if index < 0:
                raise _Malformed
            kind, name, conv = slots[index]
            if kind is LABEL:
                if conv(value):
                    positives.append(name)
            elif kind is FEATURE:
                number = conv(value)
                if number:
                    features[name] = number
                else:
                    zeros.append(name)
        if self.omitted_values:
            self._fill_omitted(features, zeros)
        return features, frozenset(positives)

    def _fill_omitted(self, features: dict, given: list[str]) -> None:
        for name, first in self.omitted_values:
            if name not in features and name not in given:
                features[name] = first

    def _split(self, text: str, sparse: bool, line: int) -> list[tuple[int, str]]:
        """Split a row into (attribute index, raw value), saying precisely what is wrong."""
        if not sparse:
            values = [value.strip() for value in text.split(",")]
            if len(values) != self.n:
                raise self.error(line, f"expected {self.n} comma-separated values, found {len(values)}")
            return list(enumerate(values))
        if text[-1] != "}":
            raise self.error(line, "sparse row does not end with '}'")
        body = text[1:-1]
        items: list[tuple[int, str]] = []
        if not body.strip():
            return items
        for item in body.split(","):
            parts = item.split()
            if len(parts) != 2:
                raise self.error(line, f"sparse entry {item.strip()!r} is not 'index value'")
            try:
                index = int(parts[0])
            except ValueError:
                raise self.error(line, f"sparse entry {item.strip()!r}: index is not an integer") from None
            if not 0 <= index < self.n:
                raise self.error(line, f"sparse index {index} out of range: {self.n} attributes (0..{self.n - 1})")
            items.append((index, parts[1]))
        return items

    def _general(
        self, items: Any, sparse: bool, line: int
    ) -> tuple[dict[str, float], frozenset[str], frozenset[str] | None]:
        """Decode (index, value) pairs, raw strings or liac-arff values, with exact errors."""
        features: dict[str, float] = {}
        positives: list[str] = []
        missing: list[str] = []
        missing_features: list[str] = []
        for index, value in items:
            kind, name, conv = self.slots[index]
            if kind is SKIPPED:
                continue
            if value is None or value == "?" or value == "":
                (missing if kind is LABEL else missing_features).append(name)
                continue
            try:
                converted = conv(value)
            except (ValueError, KeyError, TypeError):
                raise self.error(line, f"bad value {value!r} for {kind} {name!r} ({self._type_text(index)})") from None
            if kind is LABEL:
                if converted:
                    positives.append(name)
                continue
            if type(converted) is float and not math.isfinite(converted):
                raise self.error(line, f"non-finite value {value!r} for feature {name!r}")
            if sparse and converted == 0.0:
                missing_features.append(name)  # given, as 0: not an omitted value
                continue
            features[name] = converted
        if sparse and self.omitted_values:
            self._fill_omitted(features, missing_features)
        observed = self.all_labels.difference(missing) if missing else None
        return features, frozenset(positives), observed

    def _type_text(self, index: int) -> str:
        conv = self.convs[index]
        if conv is float or conv is _numeric_truth:
            return "numeric"
        if conv is _text_value:
            return "string"
        owner = getattr(conv, "__self__", None)
        if isinstance(owner, dict):
            return "one of {" + ",".join(str(k) for k in owner) + "}"
        return "string"

    def _check_finite(self, features: dict[str, float], line: int) -> None:
        for name, value in features.items():
            if type(value) is float and not math.isfinite(value):
                raise self.error(line, f"non-finite value {value!r} for feature {name!r}")


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
