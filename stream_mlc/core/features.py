"""Turn raw feature values (numbers, booleans, categories, tags, text) into a sparse numeric vector.

A feature event's ``features`` map names to raw values, as the wire contract admits them
(:func:`stream_mlc.wire.decode_features`):

========================  =====================================  ==========================
raw value                 becomes                                example
========================  =====================================  ==========================
number                    itself (optionally standardised)       ``{"amount": 12.5}``
boolean                   ``1.0`` / ``0.0``                      ``{"vip": 1.0}``
string (a category)       one-hot ``name=value``: ``1.0``        ``{"country=FR": 1.0}``
list of strings (tags)    multi-hot ``name=tag``: ``1.0`` each   ``{"tags=a": 1.0, ...}``
text (a field named in    TF-IDF of its tokens ``name:token``,   ``{"title:refund": 0.7}``
``text_features``)        L2-normalised per field
========================  =====================================  ==========================

Bounded memory whatever the vocabulary
    Each categorical, tag or text field names its first ``max_exact`` distinct values
    (tokens) exactly, so that names stay readable in explanations; values first seen after
    that share ``2 ** hash_bits`` hashed names ``name#bucket`` (CRC-32 of the value: the same
    bucket in every process, unlike Python's salted ``hash``). ``max_exact=0`` is the plain
    hashing trick. A field therefore yields at most ``max_exact + 2 ** hash_bits`` names, and
    the engine's ``max_features`` budget still counts every name. All fields together give
    at most ``max_names`` exact names (and standardise at most that many numbers), so the
    encoder's state is bounded even when producers invent new fields. River's
    ``OneHotEncoder`` and ``TFIDF`` keep every value they see, which is why they are not
    used here.

Prequential
    :meth:`FeatureEncoder.transform_one` uses the state learned so far and changes nothing
    but the cache; :meth:`FeatureEncoder.learn_one` updates the state: the exact names, the
    document frequencies of text tokens and the running mean and variance of numbers. The
    statistics need no labels, so they can be learned when an event is scored
    (:meth:`FeatureEncoder.encode_one` transforms, then learns, tokenising once).

Text
    Lower-cased words of two or more word characters (:func:`tokenize`), each weighted by
    its count times ``ln((1 + n) / (1 + df)) + 1`` (scikit-learn's smooth idf, ``n``
    documents learned, ``df`` of them with the word), L2-normalised per field.

Cache
    The token counts of the last ``cache_size`` distinct texts are kept (least recently
    used out), so a repeated text is not tokenised again (it halves the cost of a repeated
    text: ``stream-mlc bench features``). ``cache_hits`` / ``cache_misses`` count lookups.
    The cache is not pickled (it is rebuilt as events come), so checkpoints stay small; the
    encoding never depends on it.

Standardisation (``standardize``)
    ``"off"`` (the default: on yeast and scene both others lowered the default model's
    micro-F1, whose AdaGrad steps already adapt to each feature's scale); ``"scale"``:
    ``x / std`` (zeros stay zeros: sparse rows stay sparse); or ``"center"``:
    ``(x - mean) / std``, with the running mean and standard deviation of the feature over
    the events where it was present (Welford), before this event.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from stream_mlc.errors import ConfigError, StreamMlcError

__all__ = ["EncoderConfig", "FeatureEncoder", "FeatureTypeError", "tokenize", "STANDARDIZE_MODES"]

STANDARDIZE_MODES = ("off", "scale", "center")
#: Longer texts are tokenised every time rather than cached.
CACHED_TEXT_CHARS = 2048
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


class FeatureTypeError(StreamMlcError):
    """A raw feature value of a type the encoder does not take (the wire contract refuses it too)."""


def tokenize(text: str) -> list[str]:
    """Lower-cased words of two or more word characters (scikit-learn's default pattern).

    >>> tokenize("Refund NOT received, order #42 (2nd time)")
    ['refund', 'not', 'received', 'order', '42', '2nd', 'time']
    """
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class EncoderConfig:
    """How a :class:`FeatureEncoder` encodes.

    Parameters
    ----------
    text_features
        Names of the fields that hold free text (the others' strings are categories).
    hash_bits
        ``2 ** hash_bits`` hashed names per field for values beyond ``max_exact``.
    max_exact
        Distinct values (or tokens) of a field that get an exact, readable name.
    standardize
        ``"off"``, ``"scale"`` or ``"center"`` (see the module documentation).
    cache_size
        Distinct texts whose token counts are cached (texts of up to ``CACHED_TEXT_CHARS``
        characters: longer ones rarely repeat, and would make the cache large).
    max_names
        Exact names given by all fields together, and numbers whose moments are kept: past
        it, new values are hashed and new numbers pass unstandardised. With the per-field
        bound, the encoder's memory is bounded whatever the input (many fields included).
    """

    text_features: tuple[str, ...] = ()
    hash_bits: int = 14
    max_exact: int = 1024
    standardize: str = "off"
    cache_size: int = 4096
    max_names: int = 100_000

    def __post_init__(self) -> None:
        if not 1 <= self.hash_bits <= 24:
            raise ConfigError(f"hash_bits must be in 1..24, got {self.hash_bits}")
        if self.max_exact < 0 or self.cache_size < 0 or self.max_names < 0:
            raise ConfigError("max_exact, cache_size and max_names must be >= 0")
        if self.standardize not in STANDARDIZE_MODES:
            raise ConfigError(f"standardize must be one of {STANDARDIZE_MODES}, got {self.standardize!r}")

    @classmethod
    def from_text(cls, text_features: str = "", **fields) -> EncoderConfig:
        """A config from the comma-separated setting ``STREAM_MLC_TEXT_FEATURES``.

        >>> EncoderConfig.from_text(" title, body ,", hash_bits=10).text_features
        ('title', 'body')
        """
        names = tuple(name.strip() for name in text_features.split(",") if name.strip())
        return cls(text_features=names, **fields)


class _Vocabulary:
    """Exact names for a field's first ``max_exact`` values, hashed names beyond (plain data).

    ``room`` is shared by every field's vocabulary: how many exact names the encoder may still
    give, all fields together, so that memory is bounded whatever the number of fields.
    """

    __slots__ = ("field", "sep", "names", "max_exact", "mask", "room")

    def __init__(self, field: str, sep: str, max_exact: int, hash_bits: int, room: list[int]):
        self.field, self.sep = field, sep
        self.names: dict[str, str] = {}
        self.max_exact, self.mask, self.room = max_exact, (1 << hash_bits) - 1, room

    def __getstate__(self):
        return self.field, self.sep, self.names, self.max_exact, self.mask, self.room

    def __setstate__(self, state):
        self.field, self.sep, self.names, self.max_exact, self.mask, self.room = state

    def name(self, value: str, learn: bool) -> str:
        name = self.names.get(value)
        if name is not None:
            return name
        if len(self.names) < self.max_exact and self.room[0] > 0:
            name = f"{self.field}{self.sep}{value}"
            if learn:
                self.names[value] = name
                self.room[0] -= 1
            return name
        bucket = zlib.crc32(value.encode("utf-8", "surrogatepass")) & self.mask
        return f"{self.field}#{bucket}"


class FeatureEncoder:
    """Raw feature dicts in, sparse ``dict[str, float]`` out; pure and pickle-able.

    Parameters
    ----------
    config
        See :class:`EncoderConfig`.

    Examples
    --------
    >>> encoder = FeatureEncoder(EncoderConfig(text_features=("title",)))
    >>> raw = {"amount": 12.5, "vip": True, "country": "FR", "tags": ["a", "b"], "title": "Refund refund please"}
    >>> x = encoder.encode_one(raw)
    >>> {k: round(v, 3) for k, v in sorted(x.items()) if ":" not in k}
    {'amount': 12.5, 'country=FR': 1.0, 'tags=a': 1.0, 'tags=b': 1.0, 'vip': 1.0}
    >>> {k: round(v, 3) for k, v in sorted(x.items()) if ":" in k}  # term frequencies, L2-normalised
    {'title:please': 0.447, 'title:refund': 0.894}
    >>> x = encoder.encode_one({"title": "refund now"})  # 'refund' is in 1 document of 1, 'now' in none
    >>> {k: round(v, 3) for k, v in sorted(x.items())}
    {'title:now': 0.861, 'title:refund': 0.509}
    >>> encoder.cache_hits, encoder.cache_misses
    (0, 2)
    """

    def __init__(self, config: EncoderConfig | None = None):
        self.config = config or EncoderConfig()
        self._text = frozenset(self.config.text_features)
        self._vocabularies: dict[str, _Vocabulary] = {}
        #: Exact names still to give, all fields together (shared with every vocabulary).
        self._room = [self.config.max_names]
        #: Text fields: documents learned, and per token name the documents it was in.
        self._documents: Counter[str] = Counter()
        self._document_frequency: Counter[str] = Counter()
        #: Numbers (when standardising): name -> [count, mean, sum of squared deviations].
        self._moments: dict[str, list[float]] = {}
        self._cache: OrderedDict[str, tuple[tuple[str, ...], tuple[int, ...]]] = OrderedDict()
        self.cache_hits = 0
        self.cache_misses = 0
        self.learned = 0

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()  # a cache: rebuilt as events come, not checkpointed
        return state

    # -- public API --------------------------------------------------------------------------
    def transform_one(self, raw: Mapping[str, object]) -> dict[str, float]:
        """The numeric vector of one event with the state learned so far (nothing is learned)."""
        return self._encode(raw, learn=False)

    def transform_batch(self, raws: Iterable[Mapping[str, object]]) -> list[dict[str, float]]:
        """:meth:`transform_one` of each event, all with the same state."""
        return [self._encode(raw, learn=False) for raw in raws]

    def learn_one(self, raw: Mapping[str, object]) -> None:
        """Update exact names, document frequencies and numeric moments with one event."""
        self._encode(raw, learn=True)

    def encode_one(self, raw: Mapping[str, object]) -> dict[str, float]:
        """:meth:`transform_one` then :meth:`learn_one` in one pass: the vector uses the state before."""
        return self._encode(raw, learn=True)

    def cache_stats(self) -> dict[str, float]:
        """``hits``, ``misses``, ``size`` and ``hit_rate`` of the text cache (for Prometheus)."""
        lookups = self.cache_hits + self.cache_misses
        rate = self.cache_hits / lookups if lookups else 0.0
        return {"hits": self.cache_hits, "misses": self.cache_misses, "size": len(self._cache), "hit_rate": rate}

    # -- encoding ----------------------------------------------------------------------------
    def _encode(self, raw: Mapping[str, object], learn: bool) -> dict[str, float]:
        if self.config.standardize == "off":
            # Floats pass as they are: only the other values are visited (one comprehension
            # finds them), so numbers cost a dict copy, whatever else the event holds.
            others = [name for name, value in raw.items() if type(value) is not float]
            out = dict(raw)
            for name in others:
                self._encode_value(name, out.pop(name), out, learn)
        else:
            out = {}
            for name, value in raw.items():
                self._encode_value(name, value, out, learn)
        if learn:
            self.learned += 1
        return out

    def _encode_value(self, name: str, value: object, out: dict[str, float], learn: bool) -> None:
        kind = type(value)
        if name in self._text and (kind is str or kind is list):
            self._encode_text(name, [value] if kind is str else value, out, learn)
        elif kind is float or kind is int:
            out[name] = self._number(name, float(value), learn) if self.config.standardize != "off" else float(value)
        elif kind is str:
            out[self._vocabulary(name, "=", learn).name(value, learn)] = 1.0
        elif kind is list or kind is tuple:
            vocabulary = self._vocabulary(name, "=", learn)
            for tag in value:
                if type(tag) is not str:
                    raise FeatureTypeError(f"feature {name!r}: a list may hold only strings, got {tag!r}")
                out[vocabulary.name(tag, learn)] = 1.0
        elif kind is bool:
            out[name] = 1.0 if value else 0.0
        else:
            raise FeatureTypeError(f"feature {name!r}: cannot encode a value of type {kind.__name__}")

    def _vocabulary(self, field: str, sep: str, learn: bool) -> _Vocabulary:
        vocabulary = self._vocabularies.get(field)
        if vocabulary is None:
            config = self.config
            vocabulary = _Vocabulary(field, sep, config.max_exact, config.hash_bits, self._room)
            # Kept only if it can name something: a field past the budget costs no memory.
            if learn and config.max_exact and self._room[0] > 0:
                self._vocabularies[field] = vocabulary
        return vocabulary

    def _number(self, name: str, value: float, learn: bool) -> float:
        moments = self._moments.get(name)
        if moments is None:
            moments = [0.0, 0.0, 0.0]
            if learn and len(self._moments) < self.config.max_names:  # beyond: numbers pass unscaled
                self._moments[name] = moments
        count, mean, m2 = moments
        std = math.sqrt(m2 / count) if count > 1 else 0.0
        if std > 0.0:
            value_out = (value - mean) / std if self.config.standardize == "center" else value / std
        else:
            value_out = value - mean if self.config.standardize == "center" else value
        if learn:
            count += 1.0
            delta = value - mean
            mean += delta / count
            moments[0], moments[1], moments[2] = count, mean, m2 + delta * (value - mean)
        return value_out

    def _encode_text(self, field: str, texts: list, out: dict[str, float], learn: bool) -> None:
        tokens, counts = self._document(field, texts)
        vocabulary = self._vocabulary(field, ":", learn)
        known = vocabulary.names.get
        names = [known(token) or vocabulary.name(token, learn) for token in tokens]
        if len(set(names)) < len(names):  # tokens hashed to one bucket: add their counts up
            merged: dict[str, int] = {}
            for name, count in zip(names, counts, strict=True):
                merged[name] = merged.get(name, 0) + count
            names, counts = list(merged), list(merged.values())
        if names:
            # scikit-learn's smooth idf, ln((1 + n) / (1 + df)) + 1: as if one more document held every token.
            log = math.log
            base = log(1.0 + self._documents[field]) + 1.0
            frequency = self._document_frequency.get
            pairs = zip(names, counts, strict=True)
            weights = [count * (base - log(1.0 + frequency(name, 0))) for name, count in pairs]
            scale = 1.0 / math.hypot(*weights)
            # Token names carry the field's prefix: no other feature of the event has them.
            out.update(zip(names, [weight * scale for weight in weights], strict=True))
        if learn:
            self._documents[field] += 1
            self._document_frequency.update(names)

    def _document(self, field: str, texts: list) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """The distinct tokens of one document (a text, or a list of texts) and their counts."""
        for text in texts:
            if type(text) is not str:
                raise FeatureTypeError(f"text feature {field!r}: a list may hold only strings, got {text!r}")
        if len(texts) == 1:
            return self._tokens(texts[0])
        counts: dict[str, int] = {}
        for text in texts:
            for token, count in zip(*self._tokens(text), strict=True):
                counts[token] = counts.get(token, 0) + count
        return tuple(counts), tuple(counts.values())

    def _tokens(self, text: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
        cache = self._cache
        found = cache.get(text)
        if found is not None:
            self.cache_hits += 1
            cache.move_to_end(text)
            return found
        self.cache_misses += 1
        counts: dict[str, int] = {}
        for token in tokenize(text):  # a plain loop: Counter costs more for the few words of a text
            counts[token] = counts.get(token, 0) + 1
        found = tuple(counts), tuple(counts.values())
        if self.config.cache_size and len(text) <= CACHED_TEXT_CHARS:
            cache[text] = found
            if len(cache) > self.config.cache_size:
                cache.popitem(last=False)
        return found
