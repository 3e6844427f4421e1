"""Event-time alignment of input partitions, as Kafka Streams does within a task.

A Kafka consumer may deliver a backlog of one partition long before another's. Scoring a
feature event before the label events produced before it have been learned would make
the service's predictions worse than the stream allows, and would make them depend on
fetch timing. The aligner buffers events from every lane (a topic-partition) and releases
them in timestamp order: an event goes once every lane that may still bring something
older has shown an event at least as recent. A lane holds the others back while the
consumer has not read it to its end (``behind``: a busy consumer, not a quiet producer, is
why nothing new came from it), and for ``idle_s`` seconds after its last event; after that
a quiet lane no longer stalls the others (Kafka Streams' ``max.task.idle.ms``).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Collection, Hashable
from typing import Any


class EventTimeAligner:
    """Merge lanes by event time; ties go to the lane with the lower ``rank``.

    Parameters
    ----------
    idle_s
        How long a lane read to its end may stay silent before it stops holding others back.

    Examples
    --------
    >>> aligner = EventTimeAligner(idle_s=0.5)
    >>> aligner.push("features-0", 10.0, "f1", now=0.0)
    >>> aligner.pop_ready(now=0.1, behind={"labels-0"})   # unread labels may be older
    []
    >>> aligner.push("labels-0", 9.0, "l0", now=0.1, rank=1)
    >>> aligner.pop_ready(now=0.2, behind={"labels-0"})   # l0 is older; f1 still waits
    ['l0']
    >>> aligner.pop_ready(now=0.7)       # labels read to the end and quiet for 0.6 s: f1 goes
    ['f1']
    """

    def __init__(self, idle_s: float):
        self.idle_s = idle_s
        self.max_ts: dict[Hashable, float] = {}
        self.last_push: dict[Hashable, float] = {}
        self._heap: list[tuple[float, int, int, Any]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, lane: Hashable, ts: float, item: Any, now: float, rank: int = 0) -> None:
        heapq.heappush(self._heap, (ts, rank, next(self._seq), item))
        if ts > self.max_ts.get(lane, float("-inf")):
            self.max_ts[lane] = ts
        self.last_push[lane] = now

    def pop_ready(self, now: float, behind: Collection[Hashable] = ()) -> list[Any]:
        """Every buffered item that no lane can still precede, in event-time order."""
        limit = self.watermark(now, behind)
        ready = []
        while self._heap and self._heap[0][0] <= limit:
            ready.append(heapq.heappop(self._heap)[-1])
        return ready

    def pop_all(self) -> list[Any]:
        """Everything buffered, in event-time order (at shutdown)."""
        ready = [entry[-1] for entry in sorted(self._heap)]
        self._heap.clear()
        return ready

    def watermark(self, now: float, behind: Collection[Hashable] = ()) -> float:
        """No lane that may still deliver something will deliver anything older than this."""
        limit = float("inf")
        for lane in behind:
            limit = min(limit, self.max_ts.get(lane, float("-inf")))
        for lane, last in self.last_push.items():
            if now - last < self.idle_s:
                limit = min(limit, self.max_ts[lane])
        return limit
