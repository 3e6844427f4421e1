"""Feed a Faust agent whole fetched batches, not one Event per message.

Faust delivers a fetched record through a per-message path: ``Consumer._drain_messages``
awaits ``wait_first(callback(message), ...)`` for each one, the conductor wraps it in an
Event and puts it on each subscribing channel's queue, the stream takes it off, sets
``current_event``, counts it in the sensors and acks it on the next iteration. That path
costs more than the work of a light handler (issue 11: a plain pass-through agent drains
3,600 msg/s where a raw aiokafka loop drains 75,000).

This module keeps the agent as the entry point and removes the per-message path:

* :class:`BatchConsumer` is Faust's aiokafka consumer with its own fetch loop. The records
  of one fetch from the partitions a :class:`BatchTopic` channel reads go on its queue once,
  as one list of :class:`RawRecord` (partition after partition, each in offset order); other
  partitions keep Faust's per-message delivery. The loop keeps Faust's bookkeeping: read
  offsets (so a ``seek`` still takes effect), offset gaps, and the flow control of rebalances.
* :func:`batch_agent` registers an agent that awaits ``handle(records)`` once per batch,
  then acks the whole batch in the consumer's offset bookkeeping (at once, or once the
  deliveries ``handle`` returned are done), so Faust's periodic commit moves past it. If
  ``handle`` or a delivery fails, no batch is acked any more and the app crashes: the group's
  commits stop before the failing batch.

What it gives up: Events (``current_event``, tables fed by the stream, per-event sensors).
What it saves (``stream-mlc bench feed``, 20,000 messages of 1.4 KB, each decoded and
answered): CPU per message 245-290 µs for a plain agent, 29-37 µs for the batch feed with one
``producer.send`` per reply, 17-26 µs with one produced batch per partition; a raw aiokafka
loop spends 19-25 µs.

It relies on faust-streaming internals (``Consumer._drain_messages``, ``_wait_next_records``,
``_read_offset``, ``_add_gap``, ``_acked``, ``_acked_index``, ``_committed_offset``, the
conductor's ``_tp_index``), unchanged from 0.10 to 0.15.3: faust-streaming is pinned, and
``tests/test_batchfeed_*.py`` check delivery, commits, failure, rebalances and seeks against
a real broker.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from time import monotonic
from typing import Any, NamedTuple

import faust
from aiokafka.errors import IllegalStateError
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

from stream_mlc.errors import ConfigError

log = logging.getLogger(__name__)

#: Batches a channel may hold before the fetch loop waits for the agent: enough to overlap
#: one fetch with the handling of the previous batch, few enough to bound memory.
QUEUED_BATCHES = 4
#: Batches whose deliveries :func:`batch_agent` awaits at once, handling the next meanwhile.
PENDING_DELIVERIES = 4


class RawRecord(NamedTuple):
    """One input record, as the core processor takes it."""

    topic: str
    partition: int
    offset: int
    timestamp: float  # seconds
    key: bytes | None
    value: bytes | None


class Batch(NamedTuple):
    """The fresh records of one fetch, partition after partition, each in offset order."""

    records: list[RawRecord]
    generation_id: int

    def offsets(self) -> dict[TP, list[int]]:
        """The batch's offsets by partition.

        >>> Batch([RawRecord("t", 0, 5, 0.0, None, None), RawRecord("t", 1, 2, 0.0, None, None),
        ...        RawRecord("t", 0, 6, 0.0, None, None)], 1).offsets()
        {TP(topic='t', partition=0): [5, 6], TP(topic='t', partition=1): [2]}
        """
        lanes: dict[TP, list[int]] = {}
        for r in self.records:
            lanes.setdefault(TP(r.topic, r.partition), []).append(r.offset)
        return lanes


class BatchTopic(faust.Topic):
    """A topic the :class:`BatchConsumer` feeds with :class:`Batch` values, one per fetch.

    Iterating over it (or over a stream of it) yields batches, not Events.
    """

    def __init__(self, *args: Any, maxsize: int | None = QUEUED_BATCHES, **kwargs: Any) -> None:
        super().__init__(*args, maxsize=maxsize, **kwargs)


def to_raw_records(records: Iterable[Any]) -> list[RawRecord]:
    """aiokafka ``ConsumerRecord`` objects as :class:`RawRecord` (millisecond timestamps to seconds).

    >>> from types import SimpleNamespace as R
    >>> to_raw_records([R(topic="t", partition=1, offset=7, timestamp=1500, key=b"k", value=b"v")])
    [RawRecord(topic='t', partition=1, offset=7, timestamp=1.5, key=b'k', value=b'v')]
    """
    return [
        RawRecord(r.topic, r.partition, r.offset, r.timestamp / 1000.0 if r.timestamp is not None else 0.0,
                  r.key, r.value)
        for r in records
    ]


def offset_holes(offsets: list[int]) -> list[tuple[int, int]]:
    """The ``(first, last)`` ranges missing between sorted offsets (compaction, transaction markers).

    >>> offset_holes([3, 4, 5])
    []
    >>> offset_holes([3, 6, 7, 9])
    [(4, 5), (8, 8)]
    """
    if not offsets or offsets[-1] - offsets[0] + 1 == len(offsets):
        return []
    return [(a + 1, b - 1) for a, b in itertools.pairwise(offsets) if b - a > 1]


class BatchConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, putting the records of each fetch on each batch channel once."""

    #: The exception a handler raised: once set, no batch is acked again.
    batch_error: BaseException | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_flight = 0
        self._batch_done = asyncio.Event()

    # -- the fetch loop ------------------------------------------------------------------------
    async def _drain_messages(self, fetcher: Any) -> None:
        """Faust's fetch loop, with one delivery per fetch to each batch channel."""
        fetcher_stopped = fetcher._stopped.is_set
        try:
            while not (self._stopped.is_set() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                await self._drain_once()
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
            self.log.info("Broker stopped consumer, shutting down...")
        except asyncio.CancelledError:
            if not self.transport.app.should_stop:
                raise
        except Exception as error:
            self.log.exception("Drain messages raised: %r", error)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _drain_once(self) -> None:
        records, active = await self._wait_next_records(timeout=1.0)
        generation_id = self.app.consumer_generation_id
        await self.sleep(0)  # a fetch can return at once, again and again: let others run
        if records is None or self.should_stop:
            return
        if not self.flow_active:
            # As Faust's getmany: records fetched during a rebalance are read again from the commit.
            try:
                await self.perform_seek()
            except IllegalStateError as error:  # the rebalance took a partition away meanwhile
                self.log.info("seek during a rebalance skipped: %r", error)
            return
        fetched: dict[BatchTopic, list[tuple[TP, list]]] = {}
        for tp, tp_records in records.items():
            if not self.flow_active or self.app.consumer_generation_id != generation_id:
                return  # a rebalance began: the fetch is read again after it
            if active is not None and tp not in active and tp not in self._buffered_partitions:
                continue
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            channels = self.app.topics._tp_index.get(tp, ())
            batch_channels = [channel for channel in channels if isinstance(channel, BatchTopic)]
            if not batch_channels:
                await self._deliver_messages(tp, tp_records)
            elif len(batch_channels) == len(channels):
                fresh = await self._fresh(tp, tp_records)
                for channel in batch_channels if fresh else ():
                    fetched.setdefault(channel, []).append((tp, fresh))
            else:
                raise ConfigError(f"{tp.topic} is read by a batch agent and by a per-message agent or table")
        await self._deliver_batches(fetched, generation_id)
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()

    async def _fresh(self, tp: TP, records: list) -> list:
        """The records not delivered yet, with Faust's gap bookkeeping for the offsets missing."""
        read_offset = self._read_offset[tp]
        if read_offset is not None:
            # Faust keeps the last delivered offset here, and a seek's target: both are read again.
            records = [r for r in records if r.offset >= read_offset]
        if not records:
            return records
        offsets = [r.offset for r in records]
        if read_offset and offsets[0] - read_offset > 1:
            await self._add_gap(tp, read_offset + 1, offsets[0] - 1)
        for first, last in offset_holes(offsets):
            await self._add_gap(tp, first, last)
        return records

    async def _deliver_batches(self, fetched: dict[BatchTopic, list[tuple[TP, list]]], generation_id: int) -> None:
        for channel, parts in fetched.items():
            batch = Batch([r for _, records in parts for r in to_raw_records(records)], generation_id)
            if not await self._put(channel, batch):
                return  # flow stopped for a rebalance: the fetch is read again after it
            for tp, records in parts:
                self._read_offset[tp] = records[-1].offset

    async def _put(self, channel: BatchTopic, batch: Batch) -> bool:
        put = asyncio.ensure_future(channel.queue.put(batch))
        try:
            results = await self.wait_first(put, self.suspend_flow.wait())
        except asyncio.CancelledError:
            # A rebalance clears the queues and cancels their waiting puts: drop the batch, as
            # Faust drops the Events it had queued. Any other cancellation is ours to obey.
            if put.cancelled() and not asyncio.current_task().cancelling():
                return False
            raise
        return put in results.done

    async def _deliver_messages(self, tp: TP, records: list) -> None:
        """Faust's own per-message delivery, for partitions no batch channel reads."""
        for record in records:
            message = self._to_message(tp, record)
            read_offset = self._read_offset[tp]
            if read_offset is not None and message.offset < read_offset:
                continue
            if read_offset and message.offset - read_offset > 1:
                await self._add_gap(tp, read_offset + 1, message.offset - 1)
            await self.wait_first(self.callback(message), self.suspend_flow.wait())
            self._read_offset[tp] = message.offset

    # -- acks ------------------------------------------------------------------------------------
    def batch_started(self) -> None:
        self._in_flight += 1
        self._batch_done.clear()

    def batch_finished(self, batch: Batch, error: BaseException | None = None) -> None:
        """Ack ``batch`` in bulk (unless it or an earlier batch failed), so Faust commits past it."""
        self._in_flight -= 1
        if not self._in_flight:
            self._batch_done.set()
        if error is not None and self.batch_error is None:
            self.batch_error = error
        if self.batch_error is not None:
            return
        assigned = self.assignment()
        now = monotonic()
        with ack_lock:
            for tp, offsets in batch.offsets().items():
                self.app.monitor.stream_inbound_time[tp] = now  # Faust's livelock check looks at it
                if tp in assigned:  # else revoked meanwhile: its new owner reads it from the last commit
                    self._ack_offsets(tp, offsets)
            notify(self._waiting_for_ack)

    def _ack_offsets(self, tp: TP, offsets: list[int]) -> None:
        """What ``Consumer.ack`` does for one message, for many (under ``ack_lock``)."""
        committed = self._committed_offset[tp]
        acked_index = self._acked_index[tp]
        fresh = [o for o in offsets if (committed is None or o >= committed) and o not in acked_index]
        acked_index.update(fresh)
        self._acked[tp].extend(fresh)
        self._n_acked += len(fresh)

    async def commit(self, *args: Any, **kwargs: Any) -> bool:
        """Faust's commit, refused once a batch failed: the app is crashing, and its consumer
        thread with it (a commit sent to that thread can wait forever, and hang the stop)."""
        if self.batch_error is not None:
            return False
        return await super().commit(*args, **kwargs)

    async def wait_empty(self) -> None:
        """Before a rebalance gives partitions away, let the batch in hand finish (as Faust does its Events)."""
        while self._in_flight and not self.should_stop and self.batch_error is None:
            try:
                await asyncio.wait_for(self._batch_done.wait(), timeout=1.0)
            except TimeoutError:
                self.log.warning("wait_empty: waiting for %d batch(es) being handled", self._in_flight)
        await super().wait_empty()


def batch_agent(
    app: faust.App,
    topics: list[str],
    handle: Callable[[list[RawRecord]], Awaitable[Awaitable[Any] | None]],
    *,
    name: str,
) -> None:
    """Register an agent that awaits ``handle(records)`` once per fetch.

    ``records`` are the fresh records of one fetch from ``topics``: partition after partition,
    each partition's in offset order (the partitions interleave in time, not in the list). When
    ``handle`` returns, the batch is acked in bulk and Faust's periodic commit moves past it.
    If ``handle`` raises, no batch is acked any more (so nothing after the failing batch is
    committed) and the app crashes, which stops the worker.

    ``handle`` may instead return an awaitable, typically its sends' deliveries: the batch is
    then acked when that completes, in batch order, while the next batches are handled (at most
    ``PENDING_DELIVERIES`` wait at once). If it fails, that counts as a failure of ``handle``.

    Call it before the app starts: it replaces the app's consumer class with
    :class:`BatchConsumer`. The topics must be read by no other agent or table of the app.
    """
    _install_batch_consumer(app)
    body = _Feed(app, handle)

    async def feed(stream) -> None:
        await body.run(stream)

    app.agent(BatchTopic(app, topics=list(topics)), name=name)(feed)


class _Feed:
    """The agent's body: hand each batch to ``handle``, ack batches in order once they are done."""

    def __init__(self, app: faust.App, handle: Callable[[list[RawRecord]], Awaitable[Awaitable[Any] | None]]):
        self.app = app
        self.handle = handle
        self.pending: deque[tuple[Batch, asyncio.Future]] = deque()  # batches whose deliveries are awaited

    async def run(self, stream) -> None:
        consumer: BatchConsumer = self.app.consumer
        async for batch in stream:
            if consumer.batch_error is not None:
                return  # a delivery failed: the app is crashing
            if batch.generation_id != self.app.consumer_generation_id:
                continue  # fetched before a rebalance: read again from the commit, as Faust skips Events
            consumer.batch_started()
            try:
                delivered = await self.handle(batch.records)
            except asyncio.CancelledError as cancelled:
                # Partly handled: acking anything after it could commit past it. At a stop
                # that is moot; otherwise the worker must be restarted, so say so.
                consumer.batch_finished(batch, cancelled)
                if not self.app.should_stop:
                    log.error("batch handler cancelled: no batch is acked any more; restart the worker")
                raise
            except Exception as error:
                consumer.batch_finished(batch, error)
                await self._crash(batch, error)
                return
            if delivered is None and not self.pending:
                consumer.batch_finished(batch)
            else:
                await self._wait_for(batch, delivered)

    async def _wait_for(self, batch: Batch, delivered: Awaitable[Any] | None) -> None:
        if delivered is None:  # nothing to wait for, but acked after the batches before it
            delivered = asyncio.get_running_loop().create_future()
            delivered.set_result(None)
        future = asyncio.ensure_future(delivered)
        self.pending.append((batch, future))
        future.add_done_callback(self._ack_done)
        while len(self.pending) >= PENDING_DELIVERIES:
            await asyncio.wait([self.pending[0][1]])
            self._ack_done()

    def _ack_done(self, _: object = None) -> None:
        """Ack the batches at the head of the line whose deliveries are done (in order)."""
        consumer: BatchConsumer = self.app.consumer
        while self.pending and self.pending[0][1].done():
            batch, future = self.pending.popleft()
            error = asyncio.CancelledError() if future.cancelled() else future.exception()
            consumer.batch_finished(batch, error)
            if error is not None:
                asyncio.ensure_future(self._crash(batch, error))

    async def _crash(self, batch: Batch, error: BaseException) -> None:
        first = batch.records[0]
        log.error("batch of %d records from %s[%d]@%d on failed: stopping without committing past it",
                  len(batch.records), first.topic, first.partition, first.offset, exc_info=error)
        await self.app.crash(error)


def _install_batch_consumer(app: faust.App) -> None:
    if app._consumer is not None:
        if isinstance(app._consumer, BatchConsumer):
            return
        raise ConfigError("batch_agent must be registered before the app's consumer is created")
    transport = app.transport
    if not issubclass(transport.Consumer, faust_aiokafka.Consumer):
        raise ConfigError(f"batch_agent needs Faust's aiokafka transport, not {type(transport).__name__}")
    transport.Consumer = BatchConsumer
