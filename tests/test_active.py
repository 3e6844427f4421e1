"""Label requests: the budget holds, uncertain events are preferred, the offline simulation."""

from __future__ import annotations

import pickle
import random

import pytest

from stream_mlc.core.active import (
    Budget,
    LabelRequester,
    format_curves,
    label_uncertainty,
    parse_budget_option,
    simulate_budget,
)
from stream_mlc.core.events import Prediction
from stream_mlc.errors import ConfigError
from stream_mlc.io.datasets import open_dataset


def _prediction(i: int, rng: random.Random, labels=("a", "b", "c")) -> Prediction:
    scores = {label: rng.random() for label in labels}
    return Prediction(f"e{i}", [], scores, i, {label: 0.5 for label in labels})


@pytest.mark.parametrize("spec, expected", [("0.1", Budget(fraction=0.1)), ("1", Budget(fraction=1.0)),
                                            ("5/s", Budget(rate=5.0)), (" 0.5 / s", Budget(rate=0.5))])
def test_budget_specs(spec, expected):
    assert Budget.parse(spec) == expected


@pytest.mark.parametrize("spec", ["0", "1.5", "-0.1", "ten", "0/s", "5/m", ""])
def test_bad_budget_specs_are_config_errors(spec):
    with pytest.raises(ConfigError):
        Budget.parse(spec)


def test_the_evaluate_option_names_a_strategy():
    assert parse_budget_option("0.1") == (Budget(fraction=0.1), "uncertainty")
    assert parse_budget_option("0.2:random") == (Budget(fraction=0.2), "random")
    with pytest.raises(ConfigError):
        parse_budget_option("0.1:greedy")


def test_uncertainty_is_one_at_the_threshold_and_zero_at_the_ends():
    closeness = label_uncertainty({"a": 0.3, "b": 1.0, "c": 0.0, "d": 0.65}, {"a": 0.3, "b": 0.3, "c": 0.3, "d": 0.3})
    assert closeness == pytest.approx({"a": 1.0, "b": 0.0, "c": 0.0, "d": 0.5})


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.3])
@pytest.mark.parametrize("strategy", ["uncertainty", "random"])
def test_a_fraction_budget_is_spent_and_never_exceeded(fraction, strategy):
    rng = random.Random(3)
    requester = LabelRequester(Budget(fraction=fraction), strategy)
    spent = []
    for i in range(5000):
        spent.append(requester.offer(_prediction(i, rng), now=float(i)) is not None)
        assert sum(spent) <= fraction * (i + 1) + requester.burst
    assert 0.9 * fraction * 5000 <= sum(spent)


def test_a_falling_uncertainty_does_not_leave_the_budget_unspent():
    requester = LabelRequester("0.1")
    for i in range(3000):  # the model grows more certain as it learns
        score = 0.5 + 0.5 * i / 3000
        requester.offer(Prediction(str(i), [], {"a": score}, i, {"a": 0.5}), now=float(i))
    # The worst case, a strictly falling uncertainty: the full bucket asks for every event.
    assert requester.counts["requested"] >= 0.1 * 3000 * 0.85


def test_a_rate_budget_follows_the_clock():
    requester = LabelRequester("2/s")
    rng = random.Random(5)
    for i in range(4000):  # 20 events per second for 200 s: 400 requests allowed
        requester.offer(_prediction(i, rng), now=i / 20)
    assert 0.9 * 400 <= requester.counts["requested"] <= 400 + requester.burst


def test_uncertain_events_are_preferred_and_named():
    rng = random.Random(11)
    requester = LabelRequester("0.1")
    chosen, offered = [], []
    for i in range(3000):
        prediction = _prediction(i, rng)
        closeness = label_uncertainty(prediction.scores, prediction.thresholds)
        offered.append(sum(value ** requester.sharpness for value in closeness.values()))
        request = requester.offer(prediction, now=float(i))
        if request is not None:
            chosen.append(offered[-1])
            last = request
            assert request.id == prediction.id and request.model_version == i
            assert request.uncertain_labels and set(request.uncertain_labels) <= {"a", "b", "c"}
            assert request.priority == pytest.approx(offered[-1], abs=1e-6)
            assert closeness[request.uncertain_labels[0]] == max(closeness.values())
    assert sum(chosen) / len(chosen) > 2 * sum(offered) / len(offered)
    wire = last.to_wire(ts=1.0)
    assert set(wire) == {"id", "priority", "uncertain_labels", "model_version", "ts"}


def test_the_requester_is_pickled_with_its_state():
    rng = random.Random(2)
    requester = LabelRequester("0.2", "random", seed=4)
    for i in range(100):
        requester.offer(_prediction(i, rng), now=float(i))
    copy = pickle.loads(pickle.dumps(requester))
    tail = [_prediction(i, rng) for i in range(100, 300)]
    expected = [requester.offer(p, float(i)) for i, p in enumerate(tail)]
    assert [copy.offer(p, float(i)) for i, p in enumerate(tail)] == expected


def test_the_simulation_learns_only_requested_labels_and_records_the_curve():
    data = open_dataset("yeast", limit=600)
    runs = [simulate_budget(data, "native-mlc", "0.1", strategy=s, curve_every=200, label_delay=5)
            for s in ("uncertainty", "random")]
    for run in runs:
        assert run.events == 600 and 55 <= run.requested <= 70
        assert run.metrics["n"] == 600  # every event is tested, whether its labels were bought or not
        assert [p["events"] for p in run.curve] == [200, 400, 600]
        assert run.curve[-1]["labels"] <= run.requested
    everything = simulate_budget(data, "native-mlc", "1")
    assert everything.requested == 600
    assert everything.metrics["cumulative"]["micro_f1"] > runs[1].metrics["cumulative"]["micro_f1"]
    table = format_curves(runs)
    assert table.splitlines()[0].split()[:3] == ["events", "uncertainty", "labels"] and "final" in table


def test_requests_validate_against_the_topic_schema():
    from stream_mlc.topics import load_specs
    from tests.topic_schemas import validate

    requester = LabelRequester("1")
    request = requester.offer(_prediction(0, random.Random(0)), now=0.0)
    schema = load_specs()["label-requests"].schema
    assert validate(request.to_wire(ts=5.0), schema) == []
    assert set(request.to_wire(ts=5.0)) == set(schema["properties"])


def test_a_budget_of_every_event_is_the_prequential_evaluation():
    from stream_mlc.evaluate import prequential

    data = open_dataset("yeast", limit=300)
    run = simulate_budget(data, "native-mlc", "1", label_delay=3)
    assert run.requested == 300
    everything = prequential(data, "native-mlc", label_delay=3).metrics
    assert run.metrics["cumulative"] == {name: everything[name] for name in run.metrics["cumulative"]}
