"""Which attributes of a multi-label ARFF file are labels, and when a label is positive.

The MULAN and MEKA conventions that :mod:`stream_mlc.io.arff` describes: the labels a MULAN
XML file names (:func:`read_mulan_xml`; given, or beside the file under the same stem),
else MEKA's ``-C n`` in the relation name (:func:`find_labels`); and a label's value read
as positive or not (``1``, the second category of any other two-valued nominal label, a
non-zero number).
"""

from __future__ import annotations

import math
import os
import re
import warnings
import xml.parsers.expat
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stream_mlc.errors import DatasetError
from stream_mlc.io.files import dataset_stem

if TYPE_CHECKING:  # only annotates: arff_header imports this module
    from stream_mlc.io.arff_header import ArffHeader

__all__ = ["find_labels", "read_mulan_xml"]

_MEKA_C = re.compile(r"(?:^|[\s:'\"])-C\s+(-?\d+)")


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


def find_labels(
    path: str, xml: str | None, relation: str, attributes: tuple[tuple[str, Any], ...], relation_line: int
) -> tuple[tuple[int, ...], str]:
    """The positions of the label attributes of an ARFF file, and where they were told.

    Parameters
    ----------
    path
        The ARFF file.
    xml
        The MULAN label XML; None: ``<stem>.xml`` beside the file if it exists.
    relation
        The relation name (MEKA options included).
    attributes
        ``(name, type)`` per attribute, as in :class:`~stream_mlc.io.arff_header.ArffHeader`.
    relation_line
        Line number of ``@relation`` (for error messages).

    Returns
    -------
    tuple
        ``(label_index, label_source)``: positions ascending, and ``"xml:<path>"`` or
        ``"meka:-C <n>"``.

    Raises
    ------
    DatasetError
        Unknown XML labels, or no way to tell the labels.
    """
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
                stacklevel=4,
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
    return label_index, source


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
