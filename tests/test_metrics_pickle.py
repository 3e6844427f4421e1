"""Pickling and copying stream_mlc.core.metrics' MultiLabelMetrics mid-stream, and its state version."""

from __future__ import annotations

import copy
import pickle

import pytest
from metrics_streams import make_stream

from stream_mlc.core.metrics import MultiLabelMetrics

# --------------------------------------------------------------------------- pickling


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip_mid_stream_continues_identically(protocol):
    stream = make_stream(90, 200, 9, 0.3, p_empty=0.2, grow=True, partial=0.3)
    metric = stream.feed(MultiLabelMetrics(window=31), 0, 111)
    restored = pickle.loads(pickle.dumps(metric, protocol=protocol))
    assert restored.report() == metric.report()
    assert restored.n == metric.n == 111
    stream.feed(metric, 111)
    stream.feed(restored, 111)
    assert restored.report() == metric.report()
    assert restored.window == 31


def test_copy_and_pickle_of_an_empty_object():
    metric = MultiLabelMetrics(window=5)
    for other in (pickle.loads(pickle.dumps(metric)), copy.deepcopy(metric), copy.copy(metric)):
        assert other.report() == metric.report()
        other.update({"a"}, {"a"}, {"a": 1.0}, ["a", "b"])
        assert other.n == 1
    assert metric.n == 0


def test_unpickling_an_unknown_state_version_fails():
    state = MultiLabelMetrics().__getstate__()
    state["_version"] = 999
    fresh = MultiLabelMetrics.__new__(MultiLabelMetrics)
    with pytest.raises(ValueError, match="state version"):
        fresh.__setstate__(state)
