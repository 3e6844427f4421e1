"""Event-time alignment of input partitions, as Kafka Streams does within a task.

A Kafka consumer may deliver a backlog of one partition long before another's. Scoring a
feature event before the label events produced before it have been learned would make
the service's predictions worse than the stream allows, and would make them depend on
fetch timing. The aligner keeps one FIFO queue per lane (a topic-partition) and always
releases the head with the smallest key ``(timestamp, rank, lane)``, as a k-way merge. A
head may go only when no lane with an empty queue can still deliver an event that sorts
before it:

* a lane the consumer has not read to its end (``behind``) may: it holds back every head
  newer than the last timestamp it delivered;
* a lane read to its end holds them back for ``idle_s`` seconds after its last event (new
  events may be in flight), then no longer (Kafka Streams' ``max.task.idle.ms``); a lane of a
  lower rank (features) holds back the heads of a higher rank (labels) for ``hold_s``
  instead. Releasing a feature event early only scores it with a model a little behind;
  releasing labels before features produced earlier would learn from the future, which a
  live worker at full speed otherwise did (issue 11: live micro-F1 0.351 against 0.098
  offline on scene).

The release order is then a function of the input topics' contents alone, not of fetch
timing, and each lane is released in offset order, so "everything before offset n of each
partition" is a well-defined point to checkpoint and to resume from.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Hashable
from typing import Any


class EventTimeAligner:
    """Merge lanes by event time; ties go to the lower ``rank``, then the lower lane key.

    Parameters
    ----------
    idle_s
        How long a lane read to its end may stay silent before it stops holding others back.
    hold_s
        The same for a lane holding back heads of a higher rank (default: ``idle_s``).

    Examples
    --------
    >>> aligner = EventTimeAligner(idle_s=0.5)
    >>> aligner.push(("features", 0), 10.0, "f1", now=0.0)
    >>> aligner.pop_ready(now=0.1, behind={("labels", 0)})   # unread labels may be older
    []
    >>> aligner.push(("labels", 0), 9.0, "l0", now=0.1, rank=1)
    >>> aligner.pop_ready(now=0.2, behind={("labels", 0)})   # l0 is older; f1 still waits
    ['l0']
    >>> aligner.pop_ready(now=0.7)       # labels read to the end and quiet for 0.6 s: f1 goes
    ['f1']
    """

    def __init__(self, idle_s: float, hold_s: float | None = None):
        self.idle_s = idle_s
        self.hold_s = idle_s if hold_s is None else hold_s
        self._queues: dict[Hashable, deque] = {}
        self._rank: dict[Hashable, int] = {}
        self._last_ts: dict[Hashable, float] = {}
        self._last_push: dict[Hashable, float] = {}

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def push(self, lane: Hashable, ts: float, item: Any, now: float, rank: int = 0) -> None:
        queue = self._queues.get(lane)
        if queue is None:
            queue = self._queues[lane] = deque()
            self._rank[lane] = rank
        queue.append((ts, item))
        self._last_ts[lane] = ts
        self._last_push[lane] = now

    def pop_ready(self, now: float, behind: Collection[Hashable] = ()) -> list[Any]:
        """Every buffered item that no lane can still precede, in release order."""
        ready = []
        while True:
            lane = self._next_lane()
            if lane is None:
                return ready
            ts = self._queues[lane][0][0]
            if not self._may_release(lane, ts, now, behind):
                return ready
            ready.append(self._queues[lane].popleft()[1])

    def pop_all(self) -> list[Any]:
        """Everything buffered, in release order, ignoring what may still come (at shutdown)."""
        ready = []
        while (lane := self._next_lane()) is not None:
            ready.append(self._queues[lane].popleft()[1])
        return ready

    def _next_lane(self) -> Hashable | None:
        best, best_key = None, None
        for lane, queue in self._queues.items():
            if queue:
                key = (queue[0][0], self._rank[lane], lane)
                if best_key is None or key < best_key:
                    best, best_key = lane, key
        return best

    def _may_release(self, lane: Hashable, ts: float, now: float, behind: Collection[Hashable]) -> bool:
        for other in behind:
            if other != lane and not self._queues.get(other) and self._last_ts.get(other, float("-inf")) <= ts:
                return False
        rank = self._rank[lane]
        for other, last_push in self._last_push.items():
            if other == lane or self._queues[other] or self._last_ts[other] > ts:
                continue
            if now - last_push < (self.hold_s if self._rank[other] < rank else self.idle_s):
                return False
        return True
