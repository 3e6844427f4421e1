"""Seeded synthetic multi-label streams, for tests and benchmarks.

Spec: ``"synthetic"`` or ``"synthetic:k=v,k=v,..."`` with keys (defaults in brackets):

``n`` [1000]
    number of events;
``features`` [20], ``labels`` [5]
    features ``x0 ... x{features-1}``, labels ``y0 ... y{labels-1}``;
``seed`` [0]
    the stream is a deterministic function of the seed and the other keys;
``sparse`` [0]
    0 for dense rows (every feature, standard normal); a density ``0 < d <= 1`` for sparse
    rows, where each feature is non-zero (standard normal) with probability ``d`` and only
    non-zeros are yielded;
``drift_at`` [none]
    an abrupt concept change: from event ``drift_at`` on (0-based), ``drift_labels`` labels
    (a seeded choice) follow new, independent weights;
``drift_labels`` [half the labels, rounded up]
    how many labels drift;
``corr`` [0.5]
    share of each label's weight vector drawn from a low-rank part common to all labels:
    the source of the label correlations (0: independent labels);
``signal`` [3.0]
    standard deviation of each label's logit over the features (larger: easier);
``noise`` [0]
    ``synthetic-text`` only: the share of label values flipped.

``"synthetic-text"`` or ``"synthetic-text:k=v,..."`` (keys ``n`` [5000], ``labels`` [6],
``seed``, ``noise`` [0.01]) is a stream of raw mixed features as producers post them: four
numbers, two categories (``country``, ``device``), a tag list (``tags``) and a free text
(``text``), with labels that depend on each kind (see :func:`synthetic_text_records`).

Model: label ``j`` of an event with features ``x`` is positive with probability
``sigmoid(w_j . x + b_j)``; a logistic regression per label is the Bayes-optimal learner, so
the stream is learnable by binary relevance of logistic regressions. Biases are set so that
label rates spread over 5%-50%.

Rows are generated in numpy blocks from independent child streams of the seed (features,
sparsity mask, label noise), so a stream is a prefix of any longer stream with the same keys,
and ``drift_at`` changes only the labels that drift.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields
from itertools import compress

import numpy as np

from stream_mlc.errors import ConfigError
from stream_mlc.io.datasets import Dataset, Record, _check_limit

__all__ = [
    "SyntheticConfig",
    "Concept",
    "parse_spec",
    "make_concept",
    "synthetic_records",
    "synthetic_dataset",
    "synthetic_text_records",
    "synthetic_text_dataset",
]

BLOCK = 1024


@dataclass(frozen=True)
class SyntheticConfig:
    """The keys of a ``synthetic:`` spec (see the module docstring)."""

    n: int = 1000
    features: int = 20
    labels: int = 5
    seed: int = 0
    sparse: float = 0.0
    drift_at: int | None = None
    drift_labels: int | None = None
    corr: float = 0.5
    signal: float = 3.0
    noise: float = 0.0

    def __post_init__(self) -> None:
        def fail(reason: str) -> None:
            raise ConfigError(f"synthetic: {reason}")

        if self.n < 0:
            fail(f"n must be >= 0, got {self.n}")
        if self.features < 1 or self.labels < 1:
            fail(f"features and labels must be >= 1, got {self.features} and {self.labels}")
        if self.seed < 0:
            fail(f"seed must be >= 0, got {self.seed}")
        if not 0.0 <= self.sparse <= 1.0:
            fail(f"sparse must be 0 (dense) or a density in (0, 1], got {self.sparse}")
        if self.drift_at is not None and self.drift_at < 0:
            fail(f"drift_at must be >= 0, got {self.drift_at}")
        if self.drift_labels is not None and not 0 <= self.drift_labels <= self.labels:
            fail(f"drift_labels must be in 0..labels={self.labels}, got {self.drift_labels}")
        if not 0.0 <= self.corr <= 1.0:
            fail(f"corr must be in [0, 1], got {self.corr}")
        if not (self.signal >= 0.0 and math.isfinite(self.signal)):
            fail(f"signal must be a finite number >= 0, got {self.signal}")
        if not 0.0 <= self.noise <= 0.5:
            fail(f"noise must be in [0, 0.5], got {self.noise}")

    @property
    def n_drifting(self) -> int:
        """How many labels change at ``drift_at`` (0 without drift)."""
        if self.drift_at is None:
            return 0
        return self.drift_labels if self.drift_labels is not None else (self.labels + 1) // 2


_INT_KEYS = {"n", "features", "labels", "seed", "drift_at", "drift_labels"}
_KEYS = {f.name for f in fields(SyntheticConfig)}


def parse_spec(spec: str) -> SyntheticConfig:
    """Parse ``"synthetic[:k=v,...]"`` into a :class:`SyntheticConfig`.

    Parameters
    ----------
    spec
        The spec string; keys and defaults are listed in the module docstring.

    Returns
    -------
    SyntheticConfig

    Raises
    ------
    ConfigError
        Not a synthetic spec, an unknown key, or a bad value.

    Examples
    --------
    >>> config = parse_spec("synthetic:n=5000,features=50,labels=14,seed=7,sparse=0,drift_at=2500")
    >>> config.n, config.features, config.labels, config.seed, config.sparse, config.drift_at, config.n_drifting
    (5000, 50, 14, 7, 0.0, 2500, 7)
    """
    head, _, tail = spec.strip().partition(":")
    if head.strip().lower() != "synthetic":
        raise ConfigError(f"not a synthetic spec: {spec!r} (expected 'synthetic[:k=v,...]')")
    values: dict[str, int | float] = {}
    for item in tail.split(","):
        if not item.strip():
            continue
        key, sep, raw = item.partition("=")
        key, raw = key.strip().lower(), raw.strip()
        if not sep or not raw:
            raise ConfigError(f"synthetic: {item.strip()!r} is not key=value")
        if key not in _KEYS:
            raise ConfigError(f"synthetic: unknown key {key!r} (known: {', '.join(sorted(_KEYS))})")
        try:
            number = float(raw)
        except ValueError:
            raise ConfigError(f"synthetic: {key}={raw!r} is not a number") from None
        if key in _INT_KEYS:
            if not number.is_integer():
                raise ConfigError(f"synthetic: {key} must be an integer, got {raw!r}")
            values[key] = int(number)
        else:
            values[key] = number
    return SyntheticConfig(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Concept:
    """The ground truth of a synthetic stream.

    Parameters
    ----------
    weights
        ``(features, labels)``: label ``j``'s logit is ``x @ weights[:, j] + bias[j]``.
    bias
        ``(labels,)``.
    drift_weights
        The weights from ``drift_at`` on (equal to ``weights`` except for the drifting labels).
    drifting
        Indices of the labels that drift (empty without drift).
    """

    weights: np.ndarray
    bias: np.ndarray
    drift_weights: np.ndarray
    drifting: tuple[int, ...]


def _child(seed: int, stream: int) -> np.random.SeedSequence:
    """Independent random streams of one seed: 0 weights, 1 features, 2 mask, 3 labels, 4 drift."""
    return np.random.SeedSequence([seed, stream])


def _unit_columns(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=0)
    return matrix / np.where(norms > 0, norms, 1.0)


def make_concept(config: SyntheticConfig) -> Concept:
    """The weights, biases and drift of a synthetic stream (a function of the seed and shape).

    Parameters
    ----------
    config
        The stream's keys.

    Returns
    -------
    Concept
    """
    weight_rng = np.random.default_rng(_child(config.seed, 0))
    drift_rng = np.random.default_rng(_child(config.seed, 4))
    f, k = config.features, config.labels
    rank = max(1, round(k / 4))
    shared = weight_rng.standard_normal((f, rank)) @ weight_rng.standard_normal((rank, k)) / math.sqrt(rank)
    own = weight_rng.standard_normal((f, k))
    density = config.sparse if config.sparse > 0 else 1.0
    # Unit columns times signal / sqrt(density): each logit has standard deviation `signal`.
    scale = config.signal / math.sqrt(density)
    weights = _unit_columns(math.sqrt(config.corr) * shared + math.sqrt(1.0 - config.corr) * own) * scale
    rates = weight_rng.uniform(0.05, 0.5, size=k)
    # E[sigmoid(s*z + b)] ~ sigmoid(b / sqrt(1 + pi s^2 / 8)) for z ~ N(0, 1): aim at `rates`.
    bias = np.log(rates / (1.0 - rates)) * math.sqrt(1.0 + math.pi * config.signal**2 / 8.0)
    drifting = tuple(sorted(int(j) for j in drift_rng.permutation(k)[: config.n_drifting]))
    drift_weights = weights.copy()
    if drifting:
        fresh = _unit_columns(drift_rng.standard_normal((f, len(drifting)))) * scale
        drift_weights[:, list(drifting)] = fresh
    return Concept(weights, bias, drift_weights, drifting)


def synthetic_records(config: SyntheticConfig, *, name: str = "synthetic") -> Iterator[Record]:
    """Generate the records of a synthetic stream.

    Parameters
    ----------
    config
        The stream's keys.
    name
        Id prefix: ids are ``f"{name}-{i}"``.

    Yields
    ------
    Record
        Dense rows hold every feature; sparse rows only their non-zeros; ``observed=None``.
    """
    concept = make_concept(config)
    x_rng = np.random.default_rng(_child(config.seed, 1))
    mask_rng = np.random.default_rng(_child(config.seed, 2))
    y_rng = np.random.default_rng(_child(config.seed, 3))
    feature_names = [f"x{i}" for i in range(config.features)]
    label_names = [f"y{j}" for j in range(config.labels)]
    sparse = config.sparse > 0
    drift_at = config.drift_at if config.drift_at is not None else config.n
    start = 0
    while start < config.n:
        m = min(BLOCK, config.n - start)
        cut = min(max(drift_at - start, 0), m)  # rows [0, cut) before the drift, [cut, m) after
        if sparse:
            # Draw the mask, then one normal per non-zero only (row-major order: prefix-stable).
            rows, cols = np.nonzero(mask_rng.random((m, config.features)) < config.sparse)
            values = x_rng.standard_normal(rows.size)
            logits = _sparse_logits(rows, cols, values, m, cut, concept)
        else:
            x = x_rng.standard_normal((m, config.features))
            logits = np.empty((m, config.labels))
            logits[:cut] = x[:cut] @ concept.weights
            logits[cut:] = x[cut:] @ concept.drift_weights
        logits += concept.bias
        truth = (y_rng.random((m, config.labels)) < 1.0 / (1.0 + np.exp(-logits))).tolist()
        if sparse:
            keys = [feature_names[c] for c in cols.tolist()]
            numbers = values.tolist()
            ends = np.cumsum(np.bincount(rows, minlength=m)).tolist()
            begin = 0
            for i in range(m):
                end = ends[i]
                features = dict(zip(keys[begin:end], numbers[begin:end], strict=True))
                begin = end
                yield Record(f"{name}-{start + i}", features, frozenset(compress(label_names, truth[i])))
        else:
            for i, row in enumerate(x.tolist()):
                features = dict(zip(feature_names, row, strict=True))
                yield Record(f"{name}-{start + i}", features, frozenset(compress(label_names, truth[i])))
        start += m


def _sparse_logits(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, m: int, cut: int, concept: Concept
) -> np.ndarray:
    """Row sums of value * weight over each row's non-zeros (rows sorted, as np.nonzero gives them)."""
    weights = concept.weights[cols]
    after = rows >= cut
    if after.any():
        weights[after] = concept.drift_weights[cols[after]]
    contributions = weights * values[:, None]
    logits = np.zeros((m, concept.weights.shape[1]))
    counts = np.bincount(rows, minlength=m)
    filled = counts > 0
    if filled.any():
        starts = (np.cumsum(counts) - counts)[filled]
        logits[filled] = np.add.reduceat(contributions, starts, axis=0)
    return logits


def synthetic_dataset(spec: str | SyntheticConfig = "synthetic", *, limit: int | None = None) -> Dataset:
    """A synthetic stream as a re-iterable :class:`~stream_mlc.io.datasets.Dataset`.

    Parameters
    ----------
    spec
        ``"synthetic[:k=v,...]"`` or a :class:`SyntheticConfig`.
    limit
        Yield at most this many records per iteration.

    Returns
    -------
    Dataset
        ``name="synthetic"``, ``n_rows = n`` (or ``limit`` if smaller).

    Examples
    --------
    >>> ds = synthetic_dataset("synthetic:n=3,features=2,labels=2,seed=1,sparse=0.5")
    >>> [(r.id, sorted(r.features), sorted(r.labels)) for r in ds]
    [('synthetic-0', ['x0', 'x1'], ['y0']), ('synthetic-1', ['x0', 'x1'], []), ('synthetic-2', ['x1'], [])]
    """
    _check_limit(limit)
    config = spec if isinstance(spec, SyntheticConfig) else parse_spec(spec)
    label_names = tuple(f"y{j}" for j in range(config.labels))
    n_rows = config.n if limit is None else min(limit, config.n)

    def rows() -> Iterator[Record]:
        return synthetic_records(config)

    return Dataset("synthetic", label_names, config.features, n_rows, rows, limit)


# -- a stream of mixed raw features: numbers, categories, tags and text --------------------

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
