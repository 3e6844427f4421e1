"""Offline prequential evaluation, through exactly the dispatch and engine the worker runs.

Events are scored in stream order; the labels of event ``i`` are joined after event
``i + label_delay`` is scored, then learned, as the service does when labels arrive late.
With ``label_delay=0`` this is the test-then-train protocol of the published results.
"""

from __future__ import annotations

import dataclasses
import random
import resource
import time
from collections import Counter, deque
from collections.abc import Iterable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from itertools import islice

from stream_mlc.bootstrap import build_engine
from stream_mlc.core.calibration import DEFAULT_CALIBRATION
from stream_mlc.core.drift import DriftSettings
from stream_mlc.core.engine import EngineConfig
from stream_mlc.core.events import FeatureEvent
from stream_mlc.core.explain import faithfulness_check
from stream_mlc.core.features import EncoderConfig
from stream_mlc.core.governance import GovernanceConfig
from stream_mlc.core.join import JoinLimits
from stream_mlc.core.processor import Dispatch, Outcome, Record, offline_record
from stream_mlc.core.thresholds import DEFAULT_THRESHOLDS
from stream_mlc.errors import ConfigError


@dataclass
class EvalResult:
    model: str
    label_delay: int
    events: int
    seconds: float
    status: dict
    curve: list[dict] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")

    @property
    def metrics(self) -> dict[str, float]:
        """The cumulative metrics, with the calibration figures (ECE, Brier, and the raw scores' ECE)."""
        ece = self.status["decisions"]["ece"]
        calibrated, raw = ece["calibrated"]["cumulative"], ece["raw"]["cumulative"]
        return {**self.status["metrics"]["cumulative"], "ece": calibrated["ece"], "brier": calibrated["brier"],
                "ece_raw": raw["ece"], "brier_raw": raw["brier"]}


def prequential(
    records: Iterable,
    model: str,
    *,
    label_delay: int = 0,
    labels: tuple[str, ...] | None = None,
    thresholds: str = DEFAULT_THRESHOLDS,
    calibration: str = DEFAULT_CALIBRATION,
    rules=None,
    costs: dict | None = None,
    explain: int = 0,
    group_by: str = "",
    annotators: str = "",
    drift: DriftSettings | None = None,
    window: int = 1000,
    curve_every: int = 0,
    progress=None,
    text_features: tuple[str, ...] | None = None,
    tick: int = 1,
) -> EvalResult:
    """Run ``model`` over ``records`` test-then-train, labels ``label_delay`` events late.

    ``records`` yield objects with ``feature_event()`` and ``label_event()`` (see
    :mod:`stream_mlc.io.datasets`). ``curve_every`` > 0 records the metrics every that
    many joined events, for plots. ``progress`` is called with the number of events scored.
    ``labels`` declares the label set up front; by default the data set's ``label_names``
    if it has them (as a worker started with the same ``labels`` setting would know them).
    ``thresholds`` and ``calibration`` are specs of the decision policy
    (:func:`~stream_mlc.core.decision.make_decision_policy`), with ``rules``, ``costs`` and
    ``explain`` as the worker's settings give them; ``group_by`` keeps quality per value of a
    feature (fairness); ``annotators`` (``"N:noise[:rule]"``, e.g. ``"3:0.1"``) simulates N
    annotators per label event, each flipping each known label with probability ``noise``
    (seeded), resolved as the worker resolves them, with their agreement in the status;
    ``drift`` monitors drift as the worker would (off by default: it does not change the
    predictions unless its reaction is "reset"). ``text_features`` names the free-text
    fields (default: the data set's ``text_features``, e.g. an ARFF file's string attributes).
    ``tick`` > 1 is a what-if the worker does not do: every ``tick`` events form a
    micro-batch, scored by the model as of its start, its joined examples learned together
    at its end (``stream-mlc bench batching`` measures what that costs).
    """
    if labels is None:
        labels = tuple(getattr(records, "label_names", ()))
    crowd = SimulatedAnnotators.parse(annotators, labels)
    if text_features is None:
        text_features = tuple(getattr(records, "text_features", ()))
    config = EngineConfig(model=model, thresholds=thresholds, calibration=calibration, rules=rules, costs=costs,
                          explain=explain, metrics_window=window, labels=tuple(labels),
                          join=JoinLimits(max_age_s=None, max_entries=None), drift=drift,
                          features=EncoderConfig(text_features=tuple(text_features)),
                          governance=GovernanceConfig(group_by=group_by, **crowd.settings()))
    engine = build_engine(config)
    run = _Run(Dispatch(engine, {}, emit=False), curve_every, crowd)
    waiting: deque = deque()
    start = time.perf_counter()
    for chunk in _chunks(records, tick):
        with run.micro_batch(tick):
            for record in chunk:
                # The logical clock is the event count: ages mean "events ago" offline.
                run.score(record.feature_event())
                waiting.append(record)
                while len(waiting) > label_delay:
                    run.join(waiting.popleft().label_event())
                if progress is not None:
                    progress(1)
    with run.micro_batch(tick):
        while waiting:
            run.join(waiting.popleft().label_event())
    seconds = time.perf_counter() - start
    status = engine.status()
    status["counts"] = dict(run.counts)  # scored, joined, dead-lettered, alerts by kind
    if explain:
        status["faithfulness"] = _faithfulness(engine, records, explain)
    return EvalResult(model, label_delay, run.scored, seconds, status, run.curve)


def _chunks(records: Iterable, size: int):
    """``records`` in lists of ``size`` (the last one shorter), read as they come."""
    records = iter(records)
    while chunk := list(islice(records, size)):
        yield chunk


def _faithfulness(engine, records, k: int, last: int = 300) -> dict:
    """Whether removing each explained label's top ``k`` features lowers its score, over the last events."""
    tail = deque((engine.encoder.transform_one(record.features) for record in records), maxlen=last)
    return faithfulness_check(engine.model, tail, lambda f: engine.prediction(FeatureEvent("", f), None).labels, k=k)


class _Run:
    """Feeds decoded events to the worker's dispatch on the event-count clock, and samples the curve."""

    def __init__(self, dispatch: Dispatch, curve_every: int, crowd: SimulatedAnnotators | None = None):
        self.dispatch, self.curve_every = dispatch, curve_every
        self.crowd = crowd or SimulatedAnnotators()
        self.counts: Counter[str] = Counter()
        self.scored = 0
        self.curve: list[dict] = []

    def score(self, event) -> None:
        self._count(lambda out: self.dispatch.score(self._record(), event, float(self.scored), 0.0, out))
        self.scored += 1
        self._sample()

    def join(self, event) -> None:
        for annotation in self.crowd.annotate(event):
            self._count(lambda out, a=annotation: self.dispatch.join(self._record(), a, float(self.scored), out))
        self._sample()

    def _count(self, call) -> None:
        """One dispatch call with an outcome of its own: counts kept, alerts drained (memory stays flat)."""
        out = Outcome()
        call(out)
        self.dispatch.alerts(0.0, out)
        self.counts.update(out.counts)
        self.counts.update(alert["kind"] for alert in out.alerts)

    def micro_batch(self, tick: int):
        """A block whose joined examples are learned together at its end (``tick`` > 1), else nothing."""
        return nullcontext() if tick <= 1 else self._batched()

    @contextmanager
    def _batched(self):
        out = Outcome()
        with self.dispatch.batch(out):
            yield
        self.counts.update(out.counts)

    def _record(self) -> Record:
        return offline_record("evaluate", self.scored)

    def _sample(self) -> None:
        engine = self.dispatch.engine
        if self.curve_every and engine.learned % self.curve_every == 0 and engine.learned and (
                not self.curve or self.curve[-1]["n"] != engine.learned):
            report = engine.metrics.report()
            self.curve.append({"n": engine.learned, "cumulative": report["cumulative"], "window": report["window"]})


class SimulatedAnnotators:
    """Label events as N noisy annotators would send them: each flips each known label with probability ``noise``.

    >>> from stream_mlc.core.events import LabelEvent
    >>> crowd = SimulatedAnnotators.parse("3:0.0", ("a", "b"))
    >>> [(e.annotator, sorted(e.labels)) for e in crowd.annotate(LabelEvent("e", frozenset({"a"})))]
    [('annotator-0', ['a']), ('annotator-1', ['a']), ('annotator-2', ['a'])]
    """

    def __init__(self, n: int = 1, noise: float = 0.0, rule: str = "majority", labels: tuple[str, ...] = (),
                 seed: int = 0):
        self.n, self.noise, self.rule, self.labels = n, noise, rule, labels
        self.rng = random.Random(seed)

    @classmethod
    def parse(cls, spec: str, labels: tuple[str, ...]) -> SimulatedAnnotators:
        if not spec:
            return cls()
        n, _, rest = spec.partition(":")
        noise, _, rule = rest.partition(":")
        try:
            return cls(int(n), float(noise or 0.0), rule or "majority", tuple(labels))
        except ValueError:
            raise ConfigError(f"annotators {spec!r}: expected N:noise[:rule], e.g. 3:0.1") from None

    def settings(self) -> dict:
        """The governance settings that resolve these annotations as the worker would."""
        return {"annotation_wait_for": self.n, "annotation_rule": self.rule} if self.n > 1 else {}

    def annotate(self, event):
        if self.n <= 1 and not self.noise:
            return [event]
        known = self.labels or tuple(sorted(event.labels))
        return [dataclasses.replace(event, labels=self._noisy(event.labels, known), annotator=f"annotator-{k}")
                for k in range(self.n)]

    def _noisy(self, labels: frozenset, known: tuple[str, ...]) -> frozenset:
        return frozenset(label for label in known if (label in labels) != (self.rng.random() < self.noise))


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
