"""Fleiss' kappa online against a textbook implementation; annotators' disagreement."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from stream_mlc.core.agreement import OTHER, Agreement, FleissKappa, format_agreement
from stream_mlc.core.annotators import Annotation, resolve


def textbook_fleiss(table: np.ndarray) -> float:
    """Fleiss (1971), as statsmodels' fleiss_kappa: ``table`` is subjects x categories counts, n raters each."""
    subjects = table.shape[0]
    raters = table.sum(axis=1)[0]
    assert (table.sum(axis=1) == raters).all()
    p_j = table.sum(axis=0) / (subjects * raters)
    p_i = ((table * table).sum(axis=1) - raters) / (raters * (raters - 1))
    p_bar, p_e = p_i.mean(), (p_j * p_j).sum()
    return (p_bar - p_e) / (1 - p_e)


@pytest.mark.parametrize("seed", range(20))
def test_kappa_equals_the_textbook_formula_per_label_and_pooled(seed):
    rng = random.Random(seed)
    raters = rng.randint(2, 7)
    kappa = FleissKappa()
    tables = {}
    for label in ("a", "b", "c"):
        bias = rng.random()
        rows = []
        for _ in range(rng.randint(5, 60)):
            # Correlated raters: each subject has its own leaning, so kappa is not ~0.
            lean = min(1.0, max(0.0, rng.gauss(bias, 0.3)))
            positives = sum(rng.random() < lean for _ in range(raters))
            kappa.add(label, positives, raters)
            rows.append([positives, raters - positives])
        tables[label] = np.array(rows)
    for label, table in tables.items():
        expected = textbook_fleiss(table)
        got = kappa.kappa(label)
        assert got == pytest.approx(expected, abs=1e-9) or (math.isnan(expected) and math.isnan(got))
    pooled = textbook_fleiss(np.vstack(list(tables.values())))
    assert kappa.kappa() == pytest.approx(pooled, abs=1e-9)
    assert kappa.subjects() == sum(len(t) for t in tables.values())


def test_the_published_example_value():
    # Fleiss' kappa of a 2-category table computed by hand: P = 0.72, P_e = 0.52.
    kappa = FleissKappa()
    for positives in (5, 5, 4, 3, 0, 1, 2, 5, 4, 1):
        kappa.add("x", positives, 5)
    assert kappa.kappa("x") == pytest.approx((0.72 - 0.52) / (1 - 0.52), abs=1e-12)


def test_kappa_is_nan_when_undefined_and_single_ratings_are_ignored():
    kappa = FleissKappa()
    assert math.isnan(kappa.kappa())
    kappa.add("x", 1, 1)  # one rater: no agreement information
    assert kappa.subjects() == 0
    kappa.add("x", 3, 3)
    kappa.add("x", 3, 3)  # everyone always positive: P_e = 1
    assert math.isnan(kappa.kappa("x"))
    assert Agreement(min_subjects=1).report()["kappa"] is None


def test_perfect_agreement_is_one_and_systematic_disagreement_is_negative():
    kappa = FleissKappa()
    for i in range(10):
        kappa.add("x", 4 if i % 2 else 0, 4)
        kappa.add("y", 1, 2)
    assert kappa.kappa("x") == pytest.approx(1.0)
    assert kappa.kappa("y") == pytest.approx(-1.0)


def _resolution(i: int, noisy: bool):
    truth = {"x"} if i % 2 else set()
    flipped = ({"x"} - truth) | (truth - {"x"})
    return resolve([
        Annotation(str(i), frozenset(truth | {"y"}), "alice"),
        Annotation(str(i), frozenset(truth | {"y"}), "bob"),
        Annotation(str(i), frozenset((flipped if noisy else truth) | {"y"}), "carol"),
    ])


def test_low_agreement_labels_and_the_annotator_who_disagrees_are_reported():
    agreement = Agreement(low_kappa=0.4, min_subjects=10)
    for i in range(40):
        agreement.observe(_resolution(i, noisy=i % 4 == 0 or i % 4 == 1))
    report = agreement.report()
    assert report["low_agreement"] == ["x"]
    rates = {name: figures["disagreement"] for name, figures in report["annotators"].items()}
    assert rates["alice"] == rates["bob"] == 0.0
    # 20 flipped votes on x; x is voted on where someone named it (30 ids), y on all 40.
    assert rates["carol"] == pytest.approx(20 / 70)
    # y: everyone always agrees positive, so P_e = 1 and its kappa is undefined (None in the report).
    assert report["per_label"]["y"]["kappa"] is None and report["per_label"]["x"]["subjects"] == 30


def test_too_few_subjects_are_not_judged_and_annotators_are_bounded():
    agreement = Agreement(min_subjects=100, max_annotators=2)
    for i in range(10):
        agreement.observe(_resolution(i, noisy=True))
    assert agreement.low_agreement() == []
    assert set(agreement.report()["annotators"]) == {"alice", "bob", OTHER}


def test_the_printed_agreement_marks_low_labels_and_names_the_worst_annotator():
    agreement = Agreement(low_kappa=0.4, min_subjects=10)
    for i in range(40):
        agreement.observe(_resolution(i, noisy=i % 4 == 0 or i % 4 == 1))
    text = format_agreement(agreement.report())
    assert "  x " in text and text.split("\n")[1].endswith("LOW")
    assert text.splitlines()[-1].startswith("most disagreeing annotators: carol 28.6% of 70 votes")
