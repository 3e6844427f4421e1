"""The header of a multi-label ARFF file: relation, attributes, labels, where the data starts.

:func:`read_arff_header` reads the lines up to ``@data`` (comments dropped by
:func:`strip_comment`, Weka's rule), has liac-arff decode them, and finds the labels by the
MULAN and MEKA conventions of :mod:`stream_mlc.io.arff_labels`. The result,
:class:`ArffHeader`, is what the row decoder of :mod:`stream_mlc.io.arff_rows` works from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import arff as liac

from stream_mlc.errors import DatasetError
from stream_mlc.io.arff_labels import _label_truth, find_labels
from stream_mlc.io.files import open_text

__all__ = ["ArffHeader", "read_arff_header", "strip_comment"]

_KEYWORD_SPACE = re.compile(r"^(\s*@[A-Za-z]+)[ \t]+")
_LIAC_LINE = re.compile(r",? (?:at|in) line -?\d+\.?")


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
    label_index, source = find_labels(path, xml, relation, attributes, relation_line)

    header = ArffHeader(path, relation, attributes, label_index, source, len(lines), attribute_lines, tuple(lines))
    for i in label_index:
        _label_truth(header, i)  # refuses non-binary labels now rather than at the first row
    return header


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
