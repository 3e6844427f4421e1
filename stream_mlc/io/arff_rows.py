"""The data rows of a multi-label ARFF file, decoded into features and labels.

:class:`_RowDecoder` turns one line after ``@data`` into ``(features, positive labels,
observed labels or None)`` by the value rules of :mod:`stream_mlc.io.arff`: a small
hand-written parser for unquoted dense and sparse rows, liac-arff's own streaming decoder
(:class:`_LiacRows`) for quoted rows, and a slower general path that says exactly what is
wrong with a row the fast path cannot take.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable, Iterator
from itertools import compress
from operator import itemgetter
from typing import Any

import arff as liac

from stream_mlc.errors import ConfigError, DatasetError
from stream_mlc.io.arff_header import ArffHeader, _liac_message
from stream_mlc.io.arff_labels import _label_truth, _numeric_truth

FEATURE, LABEL, SKIPPED = "feature", "label", "skipped"
STRINGS = ("text", "skip")

# float() gives nan/inf for "nan", "inf", "infinity" and overflowing exponents ("1e999"):
# rows with none of these letters cannot hold a non-finite value, so only the others are checked.
_MAYBE_NONFINITE = re.compile(r"[nNiIeE]")
#: A two-valued nominal feature reads 1.0 for the value among these (YES in {YES,NO}), else its second value.
_TRUE_WORDS = frozenset({"1", "yes", "y", "true", "t", "on", "+", "positive", "present"})


class _Malformed(Exception):
    """A row the fast path cannot take; the general path decodes it or says why not."""


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
