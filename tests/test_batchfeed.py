"""The batch feed on a real (embedded) broker: delivery, commits, failure, rebalance, seeks.

These are the regression tests of the Faust internals :mod:`stream_mlc.service.batchfeed`
relies on: if a faust-streaming upgrade changes them, one of these fails.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import subprocess
import sys
from collections import defaultdict
from types import SimpleNamespace

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.types import TP

from stream_mlc.errors import ConfigError
from stream_mlc.service.batchfeed import PENDING_DELIVERIES, BatchConsumer, BatchTopic, RawRecord, batch_agent
from stream_mlc.service.shell import after_seek_to_committed  # the worker's own hook

PARTITIONS = 4  # of the features and labels topics (topics/*.json)


@pytest.fixture(autouse=True)
def _faust_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Faust creates its data directory in the working directory


class Recorder:
    """A batch handler that keeps every batch it was given, and can fail on a chosen record.

    It fails by raising (``fail_in="handler"``) or by returning a failed delivery
    (``"delivery"``); with ``deliveries`` set, it returns that future as every batch's delivery.
    """

    def __init__(self, fail_at: tuple[str, int, int] | None = None, fail_in: str = "handler", pause_s: float = 0.0,
                 deliveries: asyncio.Future | None = None):
        self.batches: list[list[RawRecord]] = []
        self.fail_at = fail_at
        self.fail_in = fail_in
        self.failed_batch: list[RawRecord] | None = None
        self.pause_s = pause_s
        self.deliveries = deliveries

    async def __call__(self, records: list[RawRecord]):
        if self.fail_at and any((r.topic, r.partition, r.offset) == self.fail_at for r in records):
            self.failed_batch = records
            if self.fail_in == "handler":
                raise RuntimeError("injected handler failure")
            failed = asyncio.get_running_loop().create_future()
            failed.set_exception(RuntimeError("injected delivery failure"))
            return failed
        if self.pause_s:
            await asyncio.sleep(self.pause_s)  # a slow handler: keeps the group mid-stream
        self.batches.append(records)
        return self.deliveries

    def offsets(self) -> dict[tuple[str, int], list[int]]:
        lanes = defaultdict(list)
        for batch in self.batches:
            for r in batch:
                lanes[(r.topic, r.partition)].append(r.offset)
        return lanes

    def count(self) -> int:
        return sum(len(b) for b in self.batches)


def inputs(settings) -> list[str]:
    return [settings.topic("features"), settings.topic("labels")]


async def produce(settings, per_partition: int, start: int = 0) -> None:
    """Records ``start`` to ``per_partition - 1`` on every input partition (valued by their offsets)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=5)
    await producer.start()
    try:
        for topic in inputs(settings):
            for partition in range(PARTITIONS):
                for i in range(start, per_partition):
                    value = f"{topic}/{partition}/{i}".encode()
                    await producer.send(topic, value, key=str(i).encode(), partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


async def committed(settings) -> dict[tuple[str, int], int]:
    """The consumer group's committed offsets of the input partitions (read without joining it)."""
    reader = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=settings.app_id,
                              enable_auto_commit=False)
    await reader.start()
    try:
        lanes = [TopicPartition(topic, p) for topic in inputs(settings) for p in range(PARTITIONS)]
        offsets = {(tp.topic, tp.partition): await reader.committed(tp) for tp in lanes}
    finally:
        await reader.stop()
    return {lane: offset for lane, offset in offsets.items() if offset is not None}


async def wait_until(condition, timeout_s: float = 20.0) -> None:
    """Poll ``condition()`` (a bool, or an awaitable of one) until it holds; fail saying which did not."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                result = condition()
                if await result if inspect.isawaitable(result) else result:
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        what = condition.description if hasattr(condition, "description") else inspect.getsource(condition).strip()
        pytest.fail(f"not within {timeout_s} s: {what}")


#: service/app.py's make_app settings for the consumer (faust.App keyword arguments).
WORKER_LIKE = dict(key_serializer="raw", value_serializer="raw", processing_guarantee="at_least_once",
                   broker_session_timeout=5.0, broker_heartbeat_interval=1.0, broker_rebalance_timeout=5.0,
                   broker_commit_interval=1.0, consumer_auto_offset_reset="earliest", topic_partitions=PARTITIONS,
                   web_enabled=False)


def make_app(settings, max_poll_records: int = 100) -> faust.App:
    return faust.App(settings.app_id, broker=f"kafka://{settings.bootstrap}", broker_max_poll_records=max_poll_records,
                     **WORKER_LIKE)


def batch_app(settings, handle, max_poll_records: int = 100) -> faust.App:
    app = make_app(settings, max_poll_records)
    batch_agent(app, inputs(settings), handle, name="feed")
    return app


class CommittedToTheEnd:
    """A condition: the group has committed offset ``n`` on every input partition."""

    def __init__(self, settings, n: int):
        self.settings, self.n, self.last = settings, n, None

    async def __call__(self) -> bool:
        self.last = await committed(self.settings)
        return self.last == {lane: self.n for lane in every_lane(self.settings, self.n)}

    @property
    def description(self) -> str:
        return f"offset {self.n} committed on every input partition; last seen: {self.last}"


def every_lane(settings, n: int) -> dict[tuple[str, int], list[int]]:
    return {(topic, p): list(range(n)) for topic in inputs(settings) for p in range(PARTITIONS)}


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


@pytest.mark.parametrize("fail_in", ["handler", "delivery"])
def test_a_failing_handler_stops_the_app_without_committing_past_its_batch(service_settings, fail_in):
    n = 60
    lane = (service_settings.topic("features"), 1)
    handler = Recorder(fail_at=(*lane, 35), fail_in=fail_in)
    app = batch_app(service_settings, handler, max_poll_records=10)

    async def scenario():
        await produce(service_settings, n)
        await app.start()
        try:
            await wait_until(lambda: app.crash_reason is not None)
            handled = handler.count()
        finally:
            await app.stop()
        return handled

    handled = asyncio.run(scenario())
    assert isinstance(app.crash_reason, RuntimeError) and fail_in in str(app.crash_reason)
    first_failed = min(r.offset for r in handler.failed_batch if (r.topic, r.partition) == lane)
    assert 0 < first_failed <= 35
    if fail_in == "handler":
        assert handler.count() == handled  # nothing handled after the failure
        assert all(o < first_failed for o in handler.offsets()[lane])
    resume_at = asyncio.run(committed(service_settings)).get(lane, 0)
    assert resume_at <= first_failed

    # A worker started again reads the failing batch again: nothing after the commit is lost.
    again = Recorder()
    app2 = batch_app(service_settings, again)

    async def restart():
        await app2.start()
        try:
            await wait_until(lambda: again.offsets().get(lane, [None])[-1] == n - 1)
        finally:
            await app2.stop()

    asyncio.run(restart())
    assert again.offsets()[lane] == list(range(resume_at, n))


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


WORKER = """
import sys, faust
from stream_mlc.service.batchfeed import batch_agent
bootstrap, app_id, topic, fail_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
app = faust.App(app_id, broker=f"kafka://{bootstrap}", broker_max_poll_records=10, **WORKER_LIKE)

async def handle(records):
    if any((r.partition, r.offset) == (0, fail_at) for r in records):
        raise RuntimeError("injected handler failure")

batch_agent(app, [topic], handle, name="feed")
faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()
""".replace("**WORKER_LIKE", ", ".join(f"{k}={v!r}" for k, v in WORKER_LIKE.items()))


def test_a_failing_handler_ends_the_worker_process_with_an_error(service_settings, tmp_path):
    topic, fail_at = service_settings.topic("features"), 25
    asyncio.run(produce(service_settings, 40))
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.run([sys.executable, "-c", WORKER, service_settings.bootstrap, service_settings.app_id,
                                 topic, str(fail_at)], stdout=out, stderr=subprocess.STDOUT, timeout=30, cwd=tmp_path)
    assert worker.returncode != 0, log.read_text()[-2000:]
    assert "injected handler failure" in log.read_text()
    assert asyncio.run(committed(service_settings)).get((topic, 0), 0) <= fail_at


def test_the_feed_bench_reports_every_scenario_it_ran(broker, capsys, tmp_path):
    from stream_mlc.bench import feed

    assert feed.main(["--messages", "400", "--broker", broker.bootstrap, "--scenarios", "batch-produce,raw"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines() if line.strip()}
    for scenario in ("batch-produce", "raw"):
        assert float(rows[scenario][1].replace(",", "")) > 0, rows  # msg/s, not an error
