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

Modules: :mod:`stream_mlc.io.synthetic_spec` (the spec's keys and the seed's random streams)
and :mod:`stream_mlc.io.synthetic_text` (the ``synthetic-text`` stream) hold the rest;
their names are importable from here too, so callers import from here alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import compress

import numpy as np

from stream_mlc.io.datasets import Dataset, Record, _check_limit
from stream_mlc.io.synthetic_spec import SyntheticConfig, _child, parse_spec
from stream_mlc.io.synthetic_text import TEXT_FIELDS as TEXT_FIELDS
from stream_mlc.io.synthetic_text import TextConcept as TextConcept
from stream_mlc.io.synthetic_text import make_text_concept as make_text_concept
from stream_mlc.io.synthetic_text import synthetic_text_dataset, synthetic_text_records

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
