"""Quality per group (``STREAM_MLC_GROUP_BY=field``) and the largest gap between groups.

Each joined example is counted in its group's :class:`~stream_mlc.core.metrics.MultiLabelMetrics`
and in its group's per-label rates of positive predictions. The gap of a figure is its largest
value minus its smallest over the groups with at least ``min_events`` events; a gap above
``gap_threshold`` is reported as an alert dict (kind ``fairness_gap``) once per subject until it
closes. At most ``max_groups`` groups are kept: values beyond them count under ``"(other)"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from stream_mlc.core.metrics import MultiLabelMetrics

OTHER = "(other)"
MISSING = "(missing)"
GAP_METRICS = ("micro_f1", "macro_f1")


def group_of(features: Mapping[str, object], field: str) -> str:
    """The group of an event: its ``field`` value as text (integral floats without ``.0``).

    >>> group_of({"sex": 1.0, "x": 0.3}, "sex"), group_of({"x": 0.3}, "sex"), group_of({"region": "eu"}, "region")
    ('1', '(missing)', 'eu')
    >>> group_of({"region=eu": 1.0, "x": 0.3}, "region")  # as the feature encoder one-hots it
    'eu'

    """
    value = features.get(field)
    if value is None:
        # Encoded features (the engine keeps them): a category is one-hot ``field=value``.
        prefix = f"{field}="
        found = sorted(name[len(prefix):] for name, x in features.items() if name.startswith(prefix) and x)
        return ",".join(found) if found else MISSING
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(sorted(map(str, value)))
    return str(value)


class GroupMetrics:
    """Per-group micro/macro F1 and positive rates, their gaps, and gap alerts.

    Parameters
    ----------
    max_groups
        Groups tracked by value; later values are pooled under ``"(other)"``.
    min_events
        A group enters the gaps once it has this many events.
    gap_threshold
        A gap above this raises an alert.
    window
        The per-group metrics' window (see :class:`MultiLabelMetrics`).

    Examples
    --------
    >>> groups = GroupMetrics(min_events=2, gap_threshold=0.3)
    >>> for group, truth, predicted in [("a", {"x"}, {"x"}), ("a", {"x"}, {"x"}),
    ...                                 ("b", {"x"}, set()), ("b", {"x"}, {"x"})]:
    ...     groups.update(group, truth, predicted, {"x": 0.5}, ["x"])
    >>> report = groups.report()
    >>> report["groups"]["b"]["micro_f1"], report["gaps"]["positive_rate:x"]["gap"]
    (0.6666666666666666, 0.5)
    >>> [alert["subject"] for alert in groups.alerts()]
    ['micro_f1', 'macro_f1', 'positive_rate:x']
    """

    def __init__(self, max_groups: int = 20, min_events: int = 100, gap_threshold: float = 0.1,
                 window: int = 1000):
        self.max_groups, self.min_events, self.gap_threshold = max_groups, min_events, gap_threshold
        self.window = window
        self.metrics: dict[str, MultiLabelMetrics] = {}
        #: group -> label -> predicted positive count
        self.positives: dict[str, dict[str, int]] = {}
        self._alerted: set[str] = set()

    def update(self, group: str, truth: Iterable[str], predicted: Iterable[str], scores: Mapping[str, float],
               labels: Iterable[str], observed: Iterable[str] | None = None) -> None:
        """Count one joined example (its stored prediction against the truth) in ``group``."""
        if group not in self.metrics and len(self.metrics) >= self.max_groups:
            group = OTHER
        metrics = self.metrics.get(group)
        if metrics is None:
            metrics = self.metrics[group] = MultiLabelMetrics(window=self.window)
            self.positives[group] = {}
        predicted = set(predicted)
        metrics.update(set(truth), predicted, scores, labels, observed)
        counts = self.positives[group]
        for label in predicted:
            counts[label] = counts.get(label, 0) + 1

    def forget_group(self, group: str) -> None:
        self.metrics.pop(group, None)
        self.positives.pop(group, None)

    def report(self) -> dict:
        """JSON-able: each group's figures, and each figure's gap with its best and worst group."""
        groups = {}
        for group, metrics in sorted(self.metrics.items()):
            cumulative = metrics.report()["cumulative"]
            n = metrics.n
            rates = {label: count / n for label, count in sorted(self.positives[group].items())}
            groups[group] = {"events": n, **{name: cumulative[name] for name in GAP_METRICS}, "positive_rate": rates}
        return {"groups": groups, "gaps": self._gaps(groups)}

    def _gaps(self, groups: dict) -> dict:
        judged = {group: figures for group, figures in groups.items() if figures["events"] >= self.min_events}
        if len(judged) < 2:
            return {}
        figures: dict[str, dict[str, float]] = {name: {} for name in GAP_METRICS}
        labels = sorted({label for figure in judged.values() for label in figure["positive_rate"]})
        for group, figure in judged.items():
            for name in GAP_METRICS:
                figures[name][group] = figure[name]
            for label in labels:
                figures.setdefault(f"positive_rate:{label}", {})[group] = figure["positive_rate"].get(label, 0.0)
        gaps = {}
        for subject, values in figures.items():
            best, worst = max(values, key=values.get), min(values, key=values.get)
            gaps[subject] = {"gap": values[best] - values[worst], "max_group": best, "min_group": worst}
        return gaps

    def alerts(self) -> list[dict]:
        """Alert dicts for gaps newly above the threshold (a subject alerts again once it closed)."""
        found = []
        gaps = self.report()["gaps"]
        for subject, gap in gaps.items():
            if gap["gap"] > self.gap_threshold and subject not in self._alerted:
                self._alerted.add(subject)
                found.append({"kind": "fairness_gap", "detector": "group_gap", "subject": subject,
                              "value": gap["gap"], "threshold": self.gap_threshold,
                              "message": f"{subject} differs by {gap['gap']:.3f} between groups "
                                         f"{gap['max_group']!r} and {gap['min_group']!r}"})
        self._alerted &= {s for s, gap in gaps.items() if gap["gap"] > self.gap_threshold}
        return found


def format_groups(report: dict) -> str:
    """Lines for ``evaluate`` and ``stream-mlc status``: each group's figures, then the gaps.

    >>> groups = GroupMetrics(min_events=1)
    >>> groups.update("a", {"x"}, {"x"}, {"x": 0.9}, ["x"])
    >>> groups.update("b", {"x"}, set(), {"x": 0.1}, ["x"])
    >>> print(format_groups(groups.report()))
    group        events  micro-F1  macro-F1
    a                 1    1.0000    1.0000
    b                 1    0.0000    0.0000
    largest gaps: micro_f1 1.0000 (a vs b), macro_f1 1.0000 (a vs b), positive_rate:x 1.0000 (a vs b)
    """
    lines = [f"{'group':<12}{'events':>7}{'micro-F1':>10}{'macro-F1':>10}"]
    for group, figures in report["groups"].items():
        lines.append(f"{group:<12}{figures['events']:>7}{figures['micro_f1']:>10.4f}{figures['macro_f1']:>10.4f}")
    gaps = sorted(report["gaps"].items(), key=lambda item: -item[1]["gap"])[:5]
    if gaps:
        lines.append("largest gaps: " + ", ".join(
            f"{subject} {gap['gap']:.4f} ({gap['max_group']} vs {gap['min_group']})" for subject, gap in gaps))
    return "\n".join(lines)
