"""Smoke tests of the drift benchmark's streams and scoring (the full run is `stream-mlc bench drift`)."""

from __future__ import annotations

import numpy as np

from stream_mlc.bench import drift as bench


def test_generated_changes_are_what_the_scenarios_say():
    n, cp = 4000, 2000
    stationary = bench.generate("stationary", 1, n, cp, 500)
    assert stationary.changed == []
    prior = bench.generate("label prior", 1, n, cp, 500)
    (label,) = prior.changed
    j = bench.LABELS.index(label)
    before, after = prior.Y[:cp, j].mean(), prior.Y[cp:, j].mean()
    assert after > 1.8 * before
    shift = bench.generate("feature shift", 1, n, cp, 500)
    assert shift.changed == [bench.FEATURES[bench.SHIFTED_FEATURE]]
    x = shift.X[:, bench.SHIFTED_FEATURE]
    assert abs((x[cp:].mean() - x[:cp].mean()) - 1.0) < 0.15
    abrupt = bench.generate("abrupt concept", 1, n, cp, 500)
    assert len(abrupt.changed) == 3
    # Same seed, same features: only the drifted labels' values differ, after the change.
    same = np.array([bench.LABELS[j] not in abrupt.changed for j in range(bench.N_LABELS)])
    np.testing.assert_array_equal(abrupt.Y[:, same], stationary.Y[:, same])
    np.testing.assert_array_equal(abrupt.Y[:cp], stationary.Y[:cp])
    # Sparse features: absent means 0, present in about 20% of the events.
    assert 0.15 < stationary.present[:, bench.N_DENSE :].mean() < 0.25
    assert (stationary.X[:, bench.N_DENSE :][~stationary.present[:, bench.N_DENSE :]] == 0).all()


def test_an_abrupt_concept_change_is_found_and_scored():
    out = bench.run_task(("abrupt concept", "concept_drift", 3, 4000, 2100, 500, "alert"))
    assert len(out.changed) == 3
    assert set(out.first) <= set(out.changed) and out.first
    assert all(2100 <= t < 4000 for t in out.first.values())
    assert out.before == 0 and out.right >= len(out.first)
