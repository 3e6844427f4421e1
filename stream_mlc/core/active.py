"""Label requests (active learning): which scored events are worth paying someone to label.

Every scored event gets an *uncertainty*: the sum over labels of how close each label's
score is to its threshold (1 at the threshold, 0 at the far end of [0, 1]). A
:class:`LabelRequester` asks for the labels of the most uncertain events while staying
within a budget, a fraction of the events (``"0.1"``) or a rate (``"5/s"`` of the caller's
clock):

- a token bucket is the hard cap: it earns ``fraction`` of a token per event (or ``rate``
  tokens per second) up to ``burst`` tokens, and every request spends one, so requests never
  exceed the budget by more than ``burst``;
- an adaptive level ``f`` chooses *how many*: the budget's share of events when the bucket
  is half full, less when it empties, up to every event when it is full, so that the budget is
  spent and not saved up (the uncertainty falls as the model learns);
- the uncertainty chooses *which*: by default (``soft``) an event is requested with
  probability ``f * u / mean(u)`` over the last ``window`` events, so the most uncertain
  events are taken and the others still get a chance; ``soft=False`` requests exactly the
  events whose uncertainty reaches the running ``1 - f`` quantile. The soft rule did better on both
  benchmark streams: taking only the most uncertain events biases what the label priors and
  the adaptive thresholds learn (README: label requests).

Each label's closeness is raised to ``sharpness`` (8) before the sum, so an event with one
label at its threshold outranks one with many labels half-way (on 20ng, with one label per
event, the sum of raw closenesses did worse than random).

The ``random`` strategy spends the same bucket on events drawn at random (the baseline the
uncertainty strategy has to beat). :func:`simulate_budget` runs either over a stream with the
service's :class:`~stream_mlc.core.engine.Engine`: every event is scored (and counted in the
test metrics), only the requested events' labels are learned.
"""

from __future__ import annotations

import random
import re
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from stream_mlc.core.events import Prediction
from stream_mlc.core.join import JoinLimits
from stream_mlc.core.metrics import MultiLabelMetrics
from stream_mlc.core.thresholds import DEFAULT_THRESHOLDS
from stream_mlc.errors import ConfigError

STRATEGIES = ("uncertainty", "random")
_RATE = re.compile(r"^\s*([0-9.]+)\s*/\s*s\s*$")


@dataclass(frozen=True, slots=True)
class LabelRequest:
    """A request for the labels of one scored event (the value on ``mlc.label-requests``)."""

    id: str
    priority: float
    uncertain_labels: tuple[str, ...]
    model_version: int

    def to_wire(self, ts: float) -> dict:
        return {"id": self.id, "priority": self.priority, "uncertain_labels": list(self.uncertain_labels),
                "model_version": self.model_version, "ts": ts}


@dataclass(frozen=True, slots=True)
class Budget:
    """A labelling budget: a fraction of the events, or a rate per second (exactly one is set).

    Examples
    --------
    >>> Budget.parse("0.1"), Budget.parse("5/s")
    (Budget(fraction=0.1, rate=None), Budget(fraction=None, rate=5.0))
    """

    fraction: float | None = None
    rate: float | None = None

    @classmethod
    def parse(cls, spec: str) -> Budget:
        """``"F"`` (a fraction in (0, 1]) or ``"R/s"`` (requests per second, > 0)."""
        rate = _RATE.match(spec)
        try:
            value = float(rate.group(1) if rate else spec)
        except ValueError as error:
            raise ConfigError(f"label budget {spec!r}: expected a fraction like 0.1 or a rate like 5/s") from error
        if rate:
            if value <= 0:
                raise ConfigError(f"label budget {spec!r}: the rate must be > 0")
            return cls(rate=value)
        if not 0 < value <= 1:
            raise ConfigError(f"label budget {spec!r}: a fraction must be in (0, 1]")
        return cls(fraction=value)


def parse_budget_option(option: str) -> tuple[Budget, str]:
    """``evaluate --label-budget``: ``"0.1"`` (uncertainty) or ``"0.1:random"``.

    >>> parse_budget_option("0.1:random")
    (Budget(fraction=0.1, rate=None), 'random')
    """
    spec, _, strategy = option.partition(":")
    strategy = strategy or "uncertainty"
    if strategy not in STRATEGIES:
        raise ConfigError(f"label budget {option!r}: strategy must be one of {', '.join(STRATEGIES)}")
    return Budget.parse(spec), strategy


def label_uncertainty(scores: Mapping[str, float], thresholds: Mapping[str, float]) -> dict[str, float]:
    """Each label's closeness to its threshold: 1 at the threshold, 0 at score 0 or 1.

    >>> label_uncertainty({"a": 0.5, "b": 0.0, "c": 0.6}, {"a": 0.5, "b": 0.5, "c": 0.2})
    {'a': 1.0, 'b': 0.0, 'c': 0.5}
    """
    closeness = {}
    for label, score in scores.items():
        threshold = min(max(thresholds.get(label, 0.5), 1e-9), 1 - 1e-9)
        # Distances are scaled by the room on that side, so both ends of [0, 1] count as certain.
        room = threshold if score <= threshold else 1.0 - threshold
        closeness[label] = max(0.0, 1.0 - abs(score - threshold) / room)
    return closeness


class LabelRequester:
    """Decides online which scored events to request labels for, within a budget.

    Parameters
    ----------
    budget
        A :class:`Budget` or its spec (``"0.1"``, ``"5/s"``).
    strategy
        ``"uncertainty"`` (the most uncertain events) or ``"random"`` (the baseline).
    window
        How many recent uncertainties the adaptive threshold (and, for a rate, the event
        rate) is estimated from.
    burst
        The bucket's capacity in requests (default: a quarter of the window's budget, or for a
        rate a quarter of a second's, at least 2); it starts half full.
    max_uncertain_labels
        At most this many labels are named in a request.
    sharpness
        Each label's closeness to its threshold is raised to this power before the sum.
    soft
        Request with probability proportional to the uncertainty (True) or exactly the events
        above the running quantile (False); see the module docstring.
    seed
        The seed of the random draws (the random strategy's, and the soft rule's).

    Examples
    --------
    >>> from stream_mlc.core.events import Prediction
    >>> requester = LabelRequester("0.2", window=50)
    >>> rng = random.Random(1)
    >>> for i in range(1000):
    ...     score = rng.random()
    ...     _ = requester.offer(Prediction(str(i), [], {"a": score}, 0, {"a": 0.5}), now=float(i))
    >>> requester.counts["requested"]  # the budget allows 200 (plus the 1.25 tokens it starts with)
    198
    """

    def __init__(self, budget: Budget | str, strategy: str = "uncertainty", *, window: int = 200,
                 burst: float | None = None, max_uncertain_labels: int = 5, sharpness: float = 8.0,
                 soft: bool = True, seed: int = 0):
        if strategy not in STRATEGIES:
            raise ConfigError(f"label request strategy {strategy!r}: expected one of {', '.join(STRATEGIES)}")
        self.budget = Budget.parse(budget) if isinstance(budget, str) else budget
        self.strategy = strategy
        self.window = window
        per_window = (self.budget.fraction or 0.0) * window if self.budget.rate is None else self.budget.rate
        self.burst = burst if burst is not None else max(2.0, 0.25 * per_window)
        self.max_uncertain_labels = max_uncertain_labels
        self.sharpness, self.soft = sharpness, soft
        self.tokens = self.burst / 2
        self._last: float | None = None
        self._recent: deque[float] = deque(maxlen=window)
        self._times: deque[float] = deque(maxlen=window)
        self._rng = random.Random(seed)
        self.counts = {"offered": 0, "requested": 0}

    def offer(self, prediction: Prediction, now: float) -> LabelRequest | None:
        """The request for this scored event, or None; ``now`` is the caller's clock (seconds)."""
        closeness = label_uncertainty(prediction.scores, prediction.thresholds)
        priority = sum(value ** self.sharpness for value in closeness.values())
        self._earn(now)
        self._recent.append(priority)
        wanted = self._wanted(priority, self._level())
        self.counts["offered"] += 1
        if not wanted or self.tokens < 1.0:
            return None
        self.tokens -= 1.0
        self.counts["requested"] += 1
        ranked = sorted(closeness, key=lambda label: (-closeness[label], label))
        named = [label for label in ranked if closeness[label] >= 0.5] or ranked[:1]
        return LabelRequest(prediction.id, round(priority, 6), tuple(named[: self.max_uncertain_labels]),
                            prediction.model_version)

    def _wanted(self, priority: float, level: float) -> bool:
        if level >= 1.0:
            return True  # a full bucket (or a budget of every event): spend it
        if self.strategy == "random":
            return self._rng.random() < level
        if self.soft:
            mean = sum(self._recent) / len(self._recent)
            return self._rng.random() < (level * priority / mean if mean > 0 else level)
        if len(self._recent) <= min(20, self.window):
            return True  # nothing to compare with yet: early labels are the most useful ones
        return priority >= float(np.quantile(np.fromiter(self._recent, float), 1.0 - level))

    def _level(self) -> float:
        """The share of events to request now: the budget's share when the bucket is half full,
        down to none when it is empty and up to every event when it is full (so that a falling
        uncertainty, as the model learns, does not leave the budget unspent)."""
        share, fill = self._fraction(), self.tokens / self.burst
        if fill <= 0.5:
            return share * 2.0 * fill
        return share ** (2.0 * (1.0 - fill))

    def _earn(self, now: float) -> None:
        if self.budget.rate is None:
            earned = self.budget.fraction
        else:
            earned = 0.0 if self._last is None else max(0.0, now - self._last) * self.budget.rate
            self._times.append(now)
        self._last = now
        self.tokens = min(self.burst, self.tokens + earned)

    def _fraction(self) -> float:
        """The share of events the budget pays for: given, or the rate over the recent event rate."""
        if self.budget.rate is None:
            return self.budget.fraction
        span = self._times[-1] - self._times[0] if len(self._times) > 1 else 0.0
        if span <= 0:
            return 1.0
        return min(1.0, self.budget.rate * span / (len(self._times) - 1))


# -------------------------------------------------------------------- offline simulation
@dataclass
class BudgetRun:
    """One simulated run: test metrics over every event, labels spent, the learning curve."""

    strategy: str
    budget: Budget
    events: int
    requested: int
    seconds: float
    metrics: dict
    curve: list[dict] = field(default_factory=list)


def simulate_budget(records: Iterable, model: str, budget: Budget | str, *, strategy: str = "uncertainty",
                    label_delay: int = 0, labels: tuple[str, ...] | None = None,
                    thresholds: str = DEFAULT_THRESHOLDS, window: int = 1000, curve_every: int = 0,
                    seed: int = 0, progress=None) -> BudgetRun:
    """Score every record, request labels within ``budget``, learn only the requested ones.

    The clock is the event count (a rate budget means "per event" offline). Every event's
    prediction is scored against its truth in the returned metrics (it is the quality of the
    model on the whole stream, not on the requested events); a requested event's labels are
    learned after ``label_delay`` more events, as in :func:`stream_mlc.evaluate.prequential`.

    Examples
    --------
    >>> from stream_mlc.io.datasets import open_dataset
    >>> run = simulate_budget(open_dataset("yeast", limit=300), "native-mlc", "0.1")
    >>> run.events, run.requested
    (300, 30)
    """
    from stream_mlc.core.engine import Engine, EngineConfig  # the engine makes requests: it imports this module
    from stream_mlc.core.processor import Dispatch, Outcome, offline_record

    if labels is None:
        labels = tuple(getattr(records, "label_names", ()))
    # Unrequested events never get labels: the count limit drops their entries.
    config = EngineConfig(model=model, thresholds=thresholds, metrics_window=window, labels=tuple(labels),
                          join=JoinLimits(max_age_s=None, max_entries=label_delay + 100), drift=None)
    engine = Engine.from_config(config)
    dispatch, out = Dispatch(engine, {}, emit=False), Outcome()  # the worker's dispatch: it counts, sends nothing
    requester = LabelRequester(budget, strategy, seed=seed)
    tested = MultiLabelMetrics(window=window)
    waiting: deque = deque()
    curve: list[dict] = []
    start = time.perf_counter()
    for n, record in enumerate(records, start=1):
        prediction = dispatch.score(offline_record("simulate", n), record.feature_event(), float(n), 0.0, out)
        if prediction is None:
            continue  # dead-lettered (counted in ``out``)
        tested.update(record.labels, prediction.labels, prediction.scores, engine.labels, record.observed)
        if requester.offer(prediction, now=float(n)) is not None:
            waiting.append((n, record))
        while waiting and waiting[0][0] + label_delay <= n:
            dispatch.join(offline_record("simulate", n), waiting.popleft()[1].label_event(), float(n), out)
        if curve_every and n % curve_every == 0:
            curve.append(_point(n, requester, tested))
        if progress is not None:
            progress(1)
    for _, record in waiting:
        now = requester.counts["offered"]
        dispatch.join(offline_record("simulate", now), record.label_event(), float(now), out)
    return BudgetRun(strategy, requester.budget, requester.counts["offered"], requester.counts["requested"],
                     time.perf_counter() - start, tested.report(), curve)


def _point(n: int, requester: LabelRequester, tested: MultiLabelMetrics) -> dict:
    report = tested.report()
    return {"events": n, "labels": requester.counts["requested"],
            "micro_f1": report["cumulative"]["micro_f1"], "macro_f1": report["cumulative"]["macro_f1"],
            "window_micro_f1": report["window"]["micro_f1"]}


def format_curves(runs: list[BudgetRun]) -> str:
    """The learning curves side by side: events, then labels spent and micro-F1 per run."""
    head = f"{'events':>8}" + "".join(f"{r.strategy + ' labels':>22}{'micro-F1':>10}" for r in runs)
    lines = [head]
    for points in zip(*(run.curve for run in runs), strict=True):
        row = f"{points[0]['events']:>8}"
        lines.append(row + "".join(f"{p['labels']:>22}{p['micro_f1']:>10.4f}" for p in points))
    final = f"{'final':>8}" + "".join(
        f"{r.requested:>22}{r.metrics['cumulative']['micro_f1']:>10.4f}" for r in runs)
    return "\n".join([*lines, final])
