"""The batch feed across group changes: a rebalance between two apps loses nothing; seeks after assignment hold.

On a real (embedded) broker.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import faust
import pytest
from batchfeed_harness import PARTITIONS, CommittedToTheEnd, Recorder, batch_app, every_lane, produce, wait_until

from stream_mlc.service.shell import after_seek_to_committed  # the worker's own hook


@pytest.fixture(autouse=True)
def _faust_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Faust creates its data directory in the working directory


def test_a_rebalance_between_two_apps_loses_nothing(service_settings):
    n = 150  # per partition and wave: the first app is still busy with the first when the second joins
    first, second = Recorder(pause_s=0.05), Recorder(pause_s=0.02)
    app1 = batch_app(service_settings, first, max_poll_records=10)
    app2 = batch_app(service_settings, second, max_poll_records=10)

    async def scenario():
        # The first app's batches wait in line for their (done) deliveries; the second's are acked at once.
        first.deliveries = asyncio.get_running_loop().create_future()
        first.deliveries.set_result(None)
        await produce(service_settings, n)
        await app1.start()
        try:
            await wait_until(lambda: first.count() > 0)
            await app2.start()
            try:
                await wait_until(lambda: assigned_inputs(app2), timeout_s=25)  # the group rebalanced
                await produce(service_settings, 2 * n, start=n)  # a second wave, for both
                await wait_until(CommittedToTheEnd(service_settings, 2 * n), timeout_s=25)
            finally:
                await app2.stop()
        finally:
            await app1.stop()

    asyncio.run(scenario())
    handled = defaultdict(set)
    for recorder in (first, second):
        for lane, offsets in recorder.offsets().items():
            handled[lane].update(offsets)
    # Committed to the end, and every record handled at least once by one of the apps.
    assert {lane: sorted(offsets) for lane, offsets in handled.items()} == every_lane(service_settings, 2 * n)
    assert second.offsets(), "the second app handled nothing"


def assigned_inputs(app: faust.App) -> set:
    """The input partitions assigned to the app now (not Faust's own leader topic)."""
    return {tp for tp in app.consumer.assignment() if "__assignor" not in tp.topic}


def test_a_seek_after_the_seek_to_committed_takes_effect(service_settings):
    n = 30
    lane = (service_settings.topic("features"), 0)
    first, second = Recorder(), Recorder()
    app1 = batch_app(service_settings, first)

    async def run_first():
        await produce(service_settings, n)
        await app1.start()
        try:
            await wait_until(CommittedToTheEnd(service_settings, n))
        finally:
            await app1.stop()

    asyncio.run(run_first())

    app2 = batch_app(service_settings, second)

    async def resume(consumer) -> None:
        for tp in consumer.assignment():
            if (tp.topic, tp.partition) == lane:
                await consumer.seek(tp, 12)

    async def on_assigned(app, assigned, **_) -> None:
        after_seek_to_committed(app.consumer, resume)

    app2.on_partitions_assigned.connect(on_assigned)

    async def run_second():
        await app2.start()
        try:
            await wait_until(lambda: second.count() >= n - 12)
            # One more record on every partition: anything read again would come before it.
            await produce(service_settings, n + 1, start=n)
            await wait_until(lambda: second.count() >= n - 12 + 2 * PARTITIONS)
        finally:
            await app2.stop()

    asyncio.run(run_second())
    expected = {other: [n] for other in every_lane(service_settings, n)}
    assert dict(second.offsets()) == {**expected, lane: list(range(12, n + 1))}
