"""Label rules: corrected predictions never break them; label events are judged by the policy."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from stream_mlc.core.rules import LabelRules, SeenLabelSets
from stream_mlc.errors import ConfigError
from stream_mlc.rules_io import costs_path, decision_policy_from_settings, load_costs, load_rules

LABELS = ["animal", "dog", "cat", "puppy", "indoor", "outdoor", "night"]
SPEC = {"implies": {"dog": "animal", "cat": "animal", "puppy": "dog"}, "exclusive": [["indoor", "outdoor"]]}


def _random_masks(seed: int, n: int = 500):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield rng.random(len(LABELS)) < 0.4, rng.random(len(LABELS))


@pytest.mark.parametrize("implication", ["add", "drop"])
def test_no_corrected_prediction_breaks_the_rules(implication):
    rules = LabelRules.from_dict({**SPEC, "implication": implication})
    broken = 0
    for mask, scores in _random_masks(0):
        broken += bool(rules.violations({label for label, m in zip(LABELS, mask, strict=True) if m}))
        fixed, corrections = rules.apply(LABELS, mask, scores)
        assert not rules.violations({label for label, m in zip(LABELS, fixed, strict=True) if m})
        assert bool(corrections) == (list(mask) != fixed)
    assert broken > 100 and rules.counts["corrected_predictions"] == broken


def test_implications_add_parents_or_drop_children():
    scores = dict.fromkeys(LABELS, 0.5)
    add = LabelRules.from_dict(SPEC)
    assert add.apply_set({"puppy"}, scores)[0] == {"puppy", "dog", "animal"}
    drop = LabelRules.from_dict({**SPEC, "implication": "drop"})
    assert drop.apply_set({"puppy", "dog"}, scores)[0] == set()
    assert drop.apply_set({"puppy", "dog", "animal"}, scores)[0] == {"puppy", "dog", "animal"}


def test_exclusive_groups_keep_the_highest_scoring_member():
    rules = LabelRules.from_dict(SPEC)
    kept, corrections = rules.apply_set({"indoor", "outdoor", "night"}, {"indoor": 0.6, "outdoor": 0.9})
    assert kept == {"outdoor", "night"}
    assert corrections == [{"rule": "exclusive", "label": "indoor", "action": "removed", "because": "outdoor"}]


def test_an_added_parent_that_breaks_a_group_drops_the_child():
    rules = LabelRules.from_dict({"implies": {"kitten": "cat"}, "exclusive": [["cat", "dog"]]})
    kept, _ = rules.apply_set({"kitten", "dog"}, {"kitten": 0.6, "cat": 0.3, "dog": 0.8})
    assert kept == {"dog"}


def test_allowed_combinations_pick_the_most_likely_allowed_set():
    rules = LabelRules.from_dict({"allowed": [["a"], ["a", "b"], ["c"]]})
    kept, corrections = rules.apply_set({"b", "c"}, {"a": 0.6, "b": 0.7, "c": 0.55})
    assert kept == {"a", "b"}  # logit(.6) + logit(.7) > logit(.55)
    assert {c["rule"] for c in corrections} == {"allowed"} and rules.counts["allowed"] == 1


@pytest.mark.parametrize("spec", [
    {"implies": {"a": "b", "b": "a"}},
    {"exclusive": [["a"]]},
    {"allowed": [["dog"]], "implies": {"dog": "animal"}},
    {"implication": "maybe"},
    {"on_truth_violation": "ignore"},
    {"hierarchy": {}},
])
def test_bad_rules_are_config_errors(spec):
    with pytest.raises(ConfigError):
        LabelRules.from_dict(spec)


def test_truth_policies():
    bad = frozenset({"puppy", "indoor"})  # puppy without dog and animal
    assert LabelRules.from_dict(SPEC).check_truth(bad).action == "learn"
    corrected = LabelRules.from_dict({**SPEC, "on_truth_violation": "correct"})
    verdict = corrected.check_truth(bad)
    assert verdict.action == "learn" and verdict.labels == bad | {"dog", "animal"}
    assert corrected.check_truth(frozenset({"indoor", "outdoor"})).action == "deadletter"  # cannot be corrected
    strict = LabelRules.from_dict({**SPEC, "on_truth_violation": "deadletter"})
    assert strict.check_truth(bad).action == "deadletter"
    assert strict.check_truth(frozenset({"dog", "animal"})).action == "learn"
    assert strict.counts["truth_violations"] == 1 and strict.counts["truth_deadlettered"] == 1


def test_seen_label_sets_decode_into_seen_sets_and_forget():
    sets = SeenLabelSets(fade=0.9, max_sets=2)
    for labels in [{"a", "b"}] * 3 + [{"c"}] * 30:
        sets.learn(frozenset(labels))
    labels = ["a", "b", "c"]
    unseen = np.array([True, False, True])
    decoded = sets.decode(labels, unseen, np.array([0.9, 0.6, 0.3]))
    assert decoded.tolist() == [True, True, False]
    assert sets.decode(labels, np.array([False, False, True]), np.zeros(3) + 0.5).tolist() == [False, False, True]
    for _ in range(200):  # {a, b} fades below the two most frequent sets
        sets.learn(frozenset({"a"}))
    assert sets.decode(labels, unseen, np.array([0.9, 0.6, 0.3])).tolist() == [True, False, False]
    assert pickle.loads(pickle.dumps(sets)).counts.keys() == sets.counts.keys()


def test_files_are_read_outside_the_core(tmp_path):
    (tmp_path / "rules.json").write_text('{"implies": {"dog": "animal"}}')
    (tmp_path / "costs.json").write_text('{"dog": {"fp": 1, "fn": 9}}')
    assert load_rules(tmp_path / "rules.json").ancestors == {"dog": ("animal",)}
    assert load_costs(tmp_path / "costs.json") == {"dog": {"fp": 1, "fn": 9}}
    spec = f"adaptive:objective=cost,costs={tmp_path / 'costs.json'}"
    assert costs_path(spec) == str(tmp_path / "costs.json")
    policy = decision_policy_from_settings(spec, "none", rules=str(tmp_path / "rules.json"))
    assert policy.thresholds.costs == {"dog": (1.0, 9.0)} and policy.rules.parents == {"dog": ["animal"]}
    (tmp_path / "broken.json").write_text("{not json")
    for call in (lambda: load_rules(tmp_path / "broken.json"), lambda: load_costs(tmp_path / "missing.json")):
        with pytest.raises(ConfigError):
            call()
