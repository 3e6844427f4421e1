"""The batch feed delivers records once and in order, acks a batch after its deliveries, and keeps Faust's books.

On a real (embedded) broker, except the bookkeeping test. These are regression tests of the Faust
internals :mod:`stream_mlc.service.batchfeed` relies on: if a faust-streaming upgrade changes them,
one of these fails.
"""

from __future__ import annotations

import asyncio
import itertools
from types import SimpleNamespace

import faust
import pytest
from batchfeed_harness import (
    CommittedToTheEnd,
    Recorder,
    batch_app,
    committed,
    every_lane,
    inputs,
    make_app,
    produce,
    wait_until,
)
from faust.types import TP

from stream_mlc.errors import ConfigError
from stream_mlc.service.batchfeed import PENDING_DELIVERIES, BatchConsumer, BatchTopic, batch_agent


@pytest.fixture(autouse=True)
def _faust_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Faust creates its data directory in the working directory


def test_records_arrive_once_in_offset_order_and_commits_follow(service_settings):
    n = 60
    handler = Recorder()
    app = batch_app(service_settings, handler, max_poll_records=25)

    async def scenario():
        await produce(service_settings, n)
        await app.start()
        try:
            assert isinstance(app.consumer, BatchConsumer)
            await wait_until(lambda: handler.count() >= 8 * n)
            await wait_until(CommittedToTheEnd(service_settings, n))  # (b) by the periodic commit
        finally:
            await app.stop()

    asyncio.run(scenario())
    # (a) Exactly once, in offset order per partition; a batch is a fetch, of one or more partitions.
    assert dict(handler.offsets()) == every_lane(service_settings, n)
    for batch in handler.batches:
        lanes = [(r.topic, r.partition) for r in batch]
        runs = [lane for lane, _ in itertools.groupby(lanes)]
        assert len(runs) == len(set(runs)), "a partition's records are not contiguous in the batch"
        for lane in set(lanes):
            offsets = [r.offset for r in batch if (r.topic, r.partition) == lane]
            assert offsets == list(range(offsets[0], offsets[0] + len(offsets)))
        for r in batch:
            assert r.value == f"{r.topic}/{r.partition}/{r.offset}".encode() and r.key == str(r.offset).encode()
            assert r.timestamp > 1e9  # seconds, not milliseconds
    assert len(handler.batches) < handler.count() / 5  # batches, not messages
    assert any(len({(r.topic, r.partition) for r in batch}) > 1 for batch in handler.batches)


def test_a_batch_is_acked_only_once_its_deliveries_are_done(service_settings):
    n = 40
    app = None

    async def scenario():
        nonlocal app
        deliveries = asyncio.get_running_loop().create_future()
        handler = Recorder(deliveries=deliveries)
        app = batch_app(service_settings, handler, max_poll_records=10)
        await produce(service_settings, n)
        await app.start()
        try:
            consumer = app.consumer
            await wait_until(lambda: consumer._in_flight >= PENDING_DELIVERIES)  # the agent waits for them
            commits = count_commits(consumer)
            await wait_until(lambda: commits[0] >= 2)  # Faust's periodic commit ran, and ran again
            assert await committed(service_settings) == {}
            assert handler.count() < 8 * n
            deliveries.set_result(None)
            await wait_until(CommittedToTheEnd(service_settings, n))
        finally:
            await app.stop()
        return handler

    handler = asyncio.run(scenario())
    assert dict(handler.offsets()) == every_lane(service_settings, n)


def count_commits(consumer) -> list[int]:
    """Count the consumer's commit calls from now on (in a one-item list)."""
    calls = [0]
    commit = consumer.commit

    async def counting_commit(*args, **kwargs):
        calls[0] += 1
        return await commit(*args, **kwargs)

    consumer.commit = counting_commit
    return calls


def test_batch_agent_refuses_an_app_whose_consumer_exists(service_settings):
    app = make_app(service_settings)
    app.consumer  # noqa: B018 - creates the per-message consumer
    with pytest.raises(ConfigError):
        batch_agent(app, inputs(service_settings), Recorder(), name="feed")


def test_bulk_acks_feed_faust_offset_bookkeeping_and_stop_after_a_failure():
    """No broker: the consumer's private bookkeeping the feed relies on, driven directly."""

    async def scenario():
        app = faust.App("batchfeed-bookkeeping", broker="kafka://127.0.0.1:9", web_enabled=False)
        batch_agent(app, ["in"], Recorder(), name="feed")
        consumer = app.consumer
        tp = TP("in", 0)
        consumer.assignment = lambda: {tp}
        channel = BatchTopic(app, topics=["in"])
        queue = channel.queue
        app.flow_control.resume()  # as after the first assignment

        # A batch with holes (compaction): Faust's commit offset goes past them once it is acked.
        await deliver(consumer, tp, fetched(0, 1, 2, 3, 4, 7, 8, 9), channel)
        batch = queue.get_nowait()
        assert [r.offset for r in batch.records] == [0, 1, 2, 3, 4, 7, 8, 9]
        assert consumer._new_offset(tp) is None  # delivered, not yet handled: nothing to commit
        consumer.batch_started()
        consumer.batch_finished(batch)
        assert consumer._new_offset(tp) == 10

        # A failure stops every later ack, of this partition and the others.
        await deliver(consumer, tp, fetched(*range(10, 15)), channel)
        await deliver(consumer, tp, fetched(*range(15, 20)), channel)
        failing, after = queue.get_nowait(), queue.get_nowait()
        consumer.batch_started()
        consumer.batch_finished(failing, RuntimeError("handler failed"))
        consumer.batch_started()
        consumer.batch_finished(after)
        assert consumer._new_offset(tp) is None
        assert consumer._in_flight == 0

    asyncio.run(scenario())


def fetched(*offsets: int) -> list[SimpleNamespace]:
    """aiokafka records of partition 0 of topic "in" (as much of them as the fetch loop reads)."""
    return [SimpleNamespace(topic="in", partition=0, offset=o, timestamp=1000, key=None, value=b"") for o in offsets]


async def deliver(consumer: BatchConsumer, tp: TP, records: list, channel) -> None:
    """What the fetch loop does with one partition's fetched records."""
    fresh = await consumer._fresh(tp, records)
    await consumer._deliver_batches({channel: [(tp, fresh)]}, consumer.app.consumer_generation_id)
