"""The ``synthetic-text`` stream: raw mixed features as producers post them.

Four numbers, two categories (``country``, ``device``), a tag list (``tags``) and a free
text (``text``) per event, with labels that depend on each kind of feature (see
:func:`synthetic_text_records`); keys ``n`` [5000], ``labels`` [6], ``seed`` and ``noise``
[0.01] of :mod:`stream_mlc.io.synthetic`'s spec.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import compress

import numpy as np

from stream_mlc.errors import ConfigError
from stream_mlc.io.datasets import Dataset, Record, _check_limit
from stream_mlc.io.synthetic_spec import SyntheticConfig, _child, parse_spec

__all__ = ["TEXT_FIELDS", "TextConcept", "make_text_concept", "synthetic_text_dataset", "synthetic_text_records"]

#: Fields of the ``synthetic-text`` stream; ``text`` is free text, the other strings categories.
TEXT_FIELDS = ("text",)
_NUMBERS = ("amount", "latency", "rating", "age")
_CATEGORIES = {"country": 12, "device": 4}
_TAGS, _TOPICS, _TOPIC_WORDS, _BACKGROUND = 30, 8, 15, 300


@dataclass(frozen=True)
class TextConcept:
    """Each kind's effect on each label's logit (all ``(values, labels)``), and the biases."""

    numbers: np.ndarray
    categories: dict[str, np.ndarray]
    tags: np.ndarray
    topics: np.ndarray
    bias: np.ndarray


def make_text_concept(config: SyntheticConfig) -> TextConcept:
    """The effects of a stream's features on its labels' logits (a function of the seed).

    Numbers act linearly (weights N(0, 1)); each country, device, tag and topic moves about a
    third of the labels, by N(0, 4) (topics: N(0, 9)), so every kind matters to some labels.
    """
    rng = np.random.default_rng(_child(config.seed, 5))
    k = config.labels

    def sparse_effects(count: int, scale: float) -> np.ndarray:
        # A value moves a third of the labels, strongly: margins are wide, as with real causes.
        return rng.standard_normal((count, k)) * (rng.random((count, k)) < 1 / 3) * scale

    numbers = rng.standard_normal((len(_NUMBERS), k))
    categories = {name: sparse_effects(count, 2.0) for name, count in _CATEGORIES.items()}
    tags = sparse_effects(_TAGS, 2.0)  # about two tags an event
    topics = sparse_effects(_TOPICS, 3.0)
    bias = rng.uniform(-2.0, -0.5, size=k)
    return TextConcept(numbers, categories, tags, topics, bias)


def _word(index: int, prefix: str) -> str:
    """A pronounceable word, distinct for each index below 1280."""
    letters = "bcdfghklmnprstvz"
    vowels = "aeiou"
    return prefix + letters[index % 16] + vowels[(index // 16) % 5] + letters[(index // 80) % 16] + vowels[index % 5]


def synthetic_text_records(config: SyntheticConfig, *, name: str = "synthetic-text") -> Iterator[Record]:
    """Events with numbers, two categories, a tag list and a text, labels depending on each kind.

    Label ``j`` is positive when the sum of the kinds' effects (numbers linear; one effect
    per country and device; the effects of the event's tags; the effects of the one or two
    topics its text is about) plus a bias is above 0; ``noise`` of the labels are flipped.
    The text mixes 6-14 background words with 3-6 words of its topics' vocabularies.
    """
    concept = make_text_concept(config)
    rng = np.random.default_rng(_child(config.seed, 6))
    label_names = [f"y{j}" for j in range(config.labels)]
    background = [_word(i, "") for i in range(_BACKGROUND)]
    topic_words = [[_word(i, f"t{t}") for i in range(_TOPIC_WORDS)] for t in range(_TOPICS)]
    tag_names = [f"tag{i:02d}" for i in range(_TAGS)]
    zipf = 1.0 / np.arange(1, _BACKGROUND + 1)
    zipf /= zipf.sum()
    for i in range(config.n):
        numbers = rng.standard_normal(len(_NUMBERS))
        logit = numbers @ concept.numbers + concept.bias
        features: dict[str, object] = dict(zip(_NUMBERS, numbers.tolist(), strict=True))
        for field, effects in concept.categories.items():
            value = int(rng.integers(len(effects)))
            features[field] = f"{field[0]}{value}"
            logit = logit + effects[value]
        tags = np.flatnonzero(rng.random(_TAGS) < 2.0 / _TAGS)
        features["tags"] = [tag_names[t] for t in tags.tolist()]
        logit = logit + concept.tags[tags].sum(axis=0)
        topics = rng.choice(_TOPICS, size=1 + int(rng.random() < 0.4), replace=False)
        logit = logit + concept.topics[topics].sum(axis=0)
        words = [background[w] for w in rng.choice(_BACKGROUND, size=int(rng.integers(6, 15)), p=zipf).tolist()]
        for topic in topics.tolist():
            words += [topic_words[topic][w] for w in rng.integers(_TOPIC_WORDS, size=int(rng.integers(3, 7))).tolist()]
        features["text"] = " ".join(rng.permutation(words).tolist())
        truth = (logit > 0.0) ^ (rng.random(config.labels) < config.noise)
        yield Record(f"{name}-{i}", features, frozenset(compress(label_names, truth.tolist())))


def synthetic_text_dataset(spec: str = "synthetic-text", *, limit: int | None = None) -> Dataset:
    """The ``synthetic-text`` stream (keys ``n``, ``labels``, ``seed``, ``noise``) as a Dataset.

    Examples
    --------
    >>> ds = synthetic_text_dataset("synthetic-text:n=2,labels=3,seed=1")
    >>> ds.text_features, ds.label_names, ds.n_rows
    (('text',), ('y0', 'y1', 'y2'), 2)
    >>> first = next(iter(ds))
    >>> sorted(first.features), first.features["country"], first.features["text"].split()[:3]
    (['age', 'amount', 'country', 'device', 'latency', 'rating', 'tags', 'text'], 'c9', ['t6fabo', 'kebi', 'dabi'])
    """
    _check_limit(limit)
    head, _, tail = spec.strip().partition(":")
    if head.strip().lower() != "synthetic-text":
        raise ConfigError(f"not a synthetic-text spec: {spec!r} (expected 'synthetic-text[:k=v,...]')")
    config = parse_spec("synthetic:" + ",".join(filter(None, ["labels=6", "n=5000", "noise=0.01", tail])))
    unused = {key.partition("=")[0].strip().lower() for key in tail.split(",") if key.strip()}
    unused -= {"n", "labels", "seed", "noise"}
    if unused:
        raise ConfigError(f"synthetic-text: keys {sorted(unused)} do not apply (known: labels, n, noise, seed)")
    label_names = tuple(f"y{j}" for j in range(config.labels))
    n_rows = config.n if limit is None else min(limit, config.n)
    n_features = len(_NUMBERS) + len(_CATEGORIES) + 2

    def rows() -> Iterator[Record]:
        return synthetic_text_records(config)

    return Dataset("synthetic-text", label_names, n_features, n_rows, rows, limit, TEXT_FIELDS)
