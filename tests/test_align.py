"""Unit tests of stream_mlc.core.align.EventTimeAligner: merging lanes by event time."""

from __future__ import annotations

import random

from stream_mlc.core.align import EventTimeAligner

F, L = "features-0", "labels-0"


def test_release_in_timestamp_order_across_lanes():
    aligner = EventTimeAligner(idle_s=1.0)
    aligner.push(F, 3.0, "f3", now=0.0)
    aligner.push(L, 1.0, "l1", now=0.0, rank=1)
    aligner.push(F, 5.0, "f5", now=0.0)
    aligner.push(L, 4.0, "l4", now=0.0, rank=1)
    # Both lanes pushed just now: each may still bring something newer than what it showed,
    # so only items up to the smaller of the two lane maxima (4.0) can go.
    assert aligner.pop_ready(now=0.5) == ["l1", "f3", "l4"]
    assert len(aligner) == 1
    # Once both lanes are quiet for idle_s, the rest goes.
    assert aligner.pop_ready(now=1.0) == ["f5"]
    assert len(aligner) == 0


def test_a_behind_lane_holds_back_newer_events_however_long_it_is_silent():
    aligner = EventTimeAligner(idle_s=0.5)
    aligner.push(L, 2.0, "l2", now=0.0, rank=1)
    aligner.push(F, 1.0, "f1", now=0.0)
    aligner.push(F, 9.0, "f9", now=0.0)
    for now in (1.0, 10.0, 1e6):
        released = aligner.pop_ready(now=now, behind={L})
        assert "f9" not in released
    assert len(aligner) == 1
    # A behind lane that has shown nothing at all holds back everything.
    other = EventTimeAligner(idle_s=0.5)
    other.push(F, 1.0, "f1", now=0.0)
    assert other.pop_ready(now=1e6, behind={L}) == []
    assert len(other) == 1


def test_behind_lane_releases_up_to_its_newest_event():
    aligner = EventTimeAligner(idle_s=0.5)
    aligner.push(F, 1.0, "f1", now=0.0)
    aligner.push(F, 9.0, "f9", now=0.0)
    aligner.push(L, 2.0, "l2", now=0.0, rank=1)
    assert aligner.pop_ready(now=100.0, behind={L}) == ["f1", "l2"]
    aligner.push(L, 9.5, "l9.5", now=100.0, rank=1)
    assert aligner.pop_ready(now=200.0, behind={L}) == ["f9", "l9.5"]
    assert len(aligner) == 0


def test_a_lane_read_to_its_end_stops_holding_back_after_idle_s():
    aligner = EventTimeAligner(idle_s=0.5)
    aligner.push(L, 1.0, "l1", now=0.0, rank=1)
    aligner.push(F, 10.0, "f10", now=0.2)
    # Labels quiet for 0.3 s (< idle_s): f10 waits for them.
    assert aligner.pop_ready(now=0.3) == ["l1"]
    assert aligner.pop_ready(now=0.49) == []
    # Labels quiet for 0.5 s: they no longer hold back; features were pushed 0.3 s ago, but
    # f10 is not newer than the features lane's own newest event.
    assert aligner.pop_ready(now=0.5) == ["f10"]


def test_a_new_push_makes_an_idle_lane_hold_back_again():
    aligner = EventTimeAligner(idle_s=0.5)
    aligner.push(L, 1.0, "l1", now=0.0, rank=1)
    aligner.push(F, 2.0, "f2", now=0.0)
    assert aligner.pop_ready(now=1.0) == ["l1", "f2"]
    aligner.push(L, 3.0, "l3", now=2.0, rank=1)
    aligner.push(F, 4.0, "f4", now=2.0)
    aligner.push(F, 8.0, "f8", now=2.0)
    assert aligner.pop_ready(now=2.1) == ["l3"]
    assert aligner.pop_ready(now=2.6) == ["f4", "f8"]


def test_ties_are_broken_by_rank_then_arrival():
    aligner = EventTimeAligner(idle_s=0.1)
    aligner.push(L, 5.0, "l5a", now=0.0, rank=1)
    aligner.push(F, 5.0, "f5a", now=0.0, rank=0)
    aligner.push(L, 5.0, "l5b", now=0.0, rank=1)
    aligner.push(F, 5.0, "f5b", now=0.0, rank=0)
    assert aligner.pop_ready(now=1.0) == ["f5a", "f5b", "l5a", "l5b"]


def test_an_equal_timestamp_from_a_lower_rank_behind_lane_is_not_overtaken():
    """The tie rule holds across releases: a lane that may still bring an event at the same
    timestamp with a lower rank must not be overtaken by a higher-ranked event at that time."""
    aligner = EventTimeAligner(idle_s=0.5)
    aligner.push(F, 5.0, "f5a", now=0.0, rank=0)
    aligner.push(L, 5.0, "l5", now=0.0, rank=1)
    first = aligner.pop_ready(now=1.0, behind={F})  # features not read to their end yet
    aligner.push(F, 5.0, "f5b", now=1.0, rank=0)
    rest = aligner.pop_ready(now=10.0)
    assert first + rest == ["f5a", "f5b", "l5"]


def test_pop_all_empties_the_buffer_in_event_time_order():
    aligner = EventTimeAligner(idle_s=100.0)
    for ts, item, rank in [(1.0, "a", 1), (2.0, "b0", 0), (2.0, "b1", 1), (3.0, "c", 0), (9.0, "z", 0)]:
        aligner.push(L if rank else F, ts, item, now=0.0, rank=rank)
    # Labels (newest 2.0) are not read to their end: nothing newer than 2.0 goes.
    assert aligner.pop_ready(now=0.0, behind={F, L}) == ["a", "b0", "b1"]
    aligner.push(L, 5.0, "l5", now=0.0, rank=1)
    assert aligner.pop_all() == ["c", "l5", "z"]
    assert len(aligner) == 0
    assert aligner.pop_all() == []
    assert aligner.pop_ready(now=1e9) == []


def _lane(rng: random.Random, n: int) -> list[float]:
    ts, out = 0.0, []
    for _ in range(n):
        ts += rng.choice([0, 0, 1, 1, 2, 5])  # non-decreasing, with ties within and across lanes
        out.append(float(ts))
    return out


def _run_interleaving(seed: int, stamps_f: list[float], stamps_l: list[float], rng: random.Random) -> list[tuple]:
    """Push two lanes in a random interleaving, popping at random moments with every lane that
    is not fully pushed yet reported ``behind``; finally pop after idle_s with nothing behind."""
    idle_s = 0.5
    lanes = {F: (0, stamps_f), L: (1, stamps_l)}
    cursor = {F: 0, L: 0}
    aligner = EventTimeAligner(idle_s=idle_s)
    popped: list[tuple] = []
    now = 0.0
    while any(cursor[lane] < len(lanes[lane][1]) for lane in lanes):
        now += rng.choice([0.0, 0.1, 0.3, 1.0])
        lane = rng.choice([lane for lane in lanes if cursor[lane] < len(lanes[lane][1])])
        rank, stamps = lanes[lane]
        i = cursor[lane]
        aligner.push(lane, stamps[i], (stamps[i], rank, lane, i), now=now, rank=rank)
        cursor[lane] += 1
        if rng.random() < 0.5:
            behind = {lane for lane in lanes if cursor[lane] < len(lanes[lane][1])}
            popped.extend(aligner.pop_ready(now=now + rng.choice([0.0, 0.2, 0.6]), behind=behind))
    popped.extend(aligner.pop_ready(now=now + idle_s))
    assert len(aligner) == 0, f"seed {seed}: {len(aligner)} items left after everything went idle"
    expected = sorted((ts, rank, lane, i) for lane, (rank, stamps) in lanes.items() for i, ts in enumerate(stamps))
    assert sorted(popped) == expected, f"seed {seed}: items lost or repeated"
    for lane in lanes:  # within a lane, arrival order is kept
        assert [i for _, _, name, i in popped if name == lane] == list(range(len(lanes[lane][1]))), f"seed {seed}"
    return popped


def test_property_random_interleaving_of_two_monotone_lanes_is_released_sorted():
    for seed in range(200):
        rng = random.Random(seed)
        popped = _run_interleaving(seed, _lane(rng, rng.randint(0, 40)), _lane(rng, rng.randint(0, 40)), rng)
        keys = [(ts, rank) for ts, rank, _, _ in popped]
        first_bad = next((j for j in range(1, len(keys)) if keys[j] < keys[j - 1]), None)
        assert first_bad is None, f"seed {seed}: {keys[first_bad]} released after {keys[first_bad - 1]}"


def test_property_with_distinct_timestamps_across_lanes():
    """The same property when the lanes never share a timestamp (ties only within a lane)."""
    for seed in range(200):
        rng = random.Random(10_000 + seed)
        stamps_f = [2 * t for t in _lane(rng, rng.randint(0, 40))]
        stamps_l = [2 * t + 1 for t in _lane(rng, rng.randint(0, 40))]
        popped = _run_interleaving(seed, stamps_f, stamps_l, rng)
        assert popped == sorted(popped), f"seed {seed}"
