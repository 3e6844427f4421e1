"""Inter-annotator agreement, online: Fleiss' kappa per label and overall, annotators' disagreement.

Each resolved id (see :mod:`stream_mlc.core.annotators`) is one *subject* per label with at
least two votes; a label's two categories are positive and negative. For a subject rated by
``n`` annotators, ``p`` of them positive, Fleiss (1971) defines the agreement
``P_i = (p (p - 1) + (n - p) (n - p - 1)) / (n (n - 1))``; with ``P`` the mean of ``P_i``
over subjects and ``q`` the share of positive ratings among all ratings,
``P_e = q**2 + (1 - q)**2`` and ``kappa = (P - P_e) / (1 - P_e)``. Only the counts
``(subjects, sum of P_i, positive ratings, ratings)`` are kept per label, so an update is
O(labels) and the state is small. With the same ``n`` for every subject this is exactly
Fleiss' kappa (statsmodels' ``fleiss_kappa``); with varying ``n`` it is its usual
generalisation (each subject's ``P_i`` over its own raters). *Overall* pools every
(subject, label) pair into one table. Kappa is undefined (NaN) while ``P_e`` is 1 (every
rating the same category) or before any subject.

An annotator's disagreement rate is the share of their votes that differ from the resolved
truth. Annotators beyond ``max_annotators`` are counted together under ``"(other)"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from stream_mlc.core.annotators import Resolution, Vote

OTHER = "(other)"


class FleissKappa:
    """Fleiss' kappa per label and pooled over labels, from incremental counts.

    Examples
    --------
    The 10 subjects x 2 categories table of a textbook example, one label:

    >>> kappa = FleissKappa()
    >>> for positives in (5, 5, 4, 3, 0, 1, 2, 5, 4, 1):
    ...     kappa.add("x", positives, raters=5)
    >>> round(kappa.kappa("x"), 6), kappa.kappa() == kappa.kappa("x")
    (0.416667, True)
    """

    def __init__(self) -> None:
        #: label -> [subjects, sum of P_i, positive ratings, ratings]
        self._counts: dict[str, list] = {}

    def add(self, label: str, positives: int, raters: int) -> None:
        """One subject of ``label`` rated by ``raters`` annotators, ``positives`` of them positive."""
        if raters < 2:
            return  # one rating says nothing about agreement
        negatives = raters - positives
        agreement = (positives * (positives - 1) + negatives * (negatives - 1)) / (raters * (raters - 1))
        counts = self._counts.setdefault(label, [0, 0.0, 0, 0])
        counts[0] += 1
        counts[1] += agreement
        counts[2] += positives
        counts[3] += raters

    def add_votes(self, votes: Mapping[str, Sequence[Vote]]) -> None:
        for label, cast in votes.items():
            self.add(label, sum(vote.positive for vote in cast), len(cast))

    def subjects(self, label: str | None = None) -> int:
        return self._pooled(label)[0]

    def kappa(self, label: str | None = None) -> float:
        """The label's kappa, or the pooled one when ``label`` is None (NaN when undefined)."""
        subjects, agreement, positives, ratings = self._pooled(label)
        if subjects == 0:
            return math.nan
        share = positives / ratings
        expected = share * share + (1.0 - share) * (1.0 - share)
        if expected >= 1.0:
            return math.nan
        return (agreement / subjects - expected) / (1.0 - expected)

    def labels(self) -> list[str]:
        return sorted(self._counts)

    def _pooled(self, label: str | None) -> tuple[int, float, int, int]:
        if label is not None:
            return tuple(self._counts.get(label, (0, 0.0, 0, 0)))
        rows = self._counts.values()
        return (sum(r[0] for r in rows), math.fsum(r[1] for r in rows), sum(r[2] for r in rows),
                sum(r[3] for r in rows))


class Agreement:
    """Fleiss' kappa and each annotator's disagreement with the resolved truth.

    Parameters
    ----------
    low_kappa
        Labels whose kappa is below this are reported as low-agreement (0.4: "moderate"
        agreement starts there on Landis and Koch's scale).
    min_subjects
        A label is judged only once it has this many subjects.
    max_annotators
        Annotators tracked by name; the rest are counted under ``"(other)"``.

    Examples
    --------
    >>> from stream_mlc.core.annotators import Annotation, resolve
    >>> agreement = Agreement(min_subjects=1)
    >>> for i in range(4):
    ...     anns = [Annotation(str(i), frozenset({"x"}), "a"), Annotation(str(i), frozenset({"x"}), "b"),
    ...             Annotation(str(i), frozenset({"x"} if i % 2 else set()), "c")]
    ...     agreement.observe(resolve(anns))
    >>> report = agreement.report()
    >>> report["low_agreement"], report["annotators"]["c"]["disagreement"]
    (['x'], 0.5)
    """

    def __init__(self, low_kappa: float = 0.4, min_subjects: int = 30, max_annotators: int = 1000):
        self.low_kappa, self.min_subjects, self.max_annotators = low_kappa, min_subjects, max_annotators
        self.kappa = FleissKappa()
        #: annotator -> [votes, votes that differ from the resolved truth]
        self.annotators: dict[str, list[int]] = {}

    def observe(self, resolution: Resolution) -> None:
        self.kappa.add_votes(resolution.votes)
        truth = resolution.event.labels
        for label, cast in resolution.votes.items():
            for vote in cast:
                counts = self._annotator(vote.annotator)
                counts[0] += 1
                counts[1] += vote.positive != (label in truth)

    def low_agreement(self) -> list[str]:
        return [label for label in self.kappa.labels()
                if self.kappa.subjects(label) >= self.min_subjects and self.kappa.kappa(label) < self.low_kappa]

    def report(self) -> dict:
        """JSON-able: overall and per-label kappa (None when undefined), low labels, annotators."""
        return {
            "kappa": _json(self.kappa.kappa()),
            "subjects": self.kappa.subjects(),
            "per_label": {label: {"kappa": _json(self.kappa.kappa(label)), "subjects": self.kappa.subjects(label)}
                          for label in self.kappa.labels()},
            "low_agreement": self.low_agreement(),
            "annotators": {name: {"votes": votes, "disagreement": wrong / votes if votes else 0.0}
                           for name, (votes, wrong) in sorted(self.annotators.items())},
        }

    def _annotator(self, name: str) -> list[int]:
        if name not in self.annotators and len(self.annotators) >= self.max_annotators:
            name = OTHER
        return self.annotators.setdefault(name, [0, 0])


def _json(value: float) -> float | None:
    return None if math.isnan(value) else value


def format_agreement(report: dict) -> str:
    """Lines for ``evaluate`` and ``stream-mlc status``: kappa overall and per label, annotators.

    >>> kappa = Agreement(min_subjects=1)
    >>> print(format_agreement(kappa.report()))
    Fleiss' kappa: undefined over 0 subjects
    """
    def shown(value):
        return "undefined" if value is None else f"{value:.4f}"

    lines = [f"Fleiss' kappa: {shown(report['kappa'])} over {report['subjects']} subjects"]
    lines += [f"  {label:<20} {shown(figures['kappa']):>10}  ({figures['subjects']} subjects)"
              + ("  LOW" if label in report["low_agreement"] else "")
              for label, figures in report["per_label"].items()]
    worst = sorted(report["annotators"].items(), key=lambda item: -item[1]["disagreement"])[:5]
    if worst:
        lines.append("most disagreeing annotators: " + ", ".join(
            f"{name} {figures['disagreement']:.1%} of {figures['votes']} votes" for name, figures in worst))
    return "\n".join(lines)
