"""One single-mode worker per app id: a second one leaves before it learns anything.

Single mode is exact only with one worker: two in one consumer group would split the input
partitions, and each would learn its share out of event-time order and checkpoint it under
the same key. When the group gives a single-mode worker only some of the input partitions,
another member has joined. The worker then stops processing and watches the status topic:

* if a worker of another process, started earlier, publishes a live status within
  :data:`LIVENESS_S` (a running worker publishes every second or so), this worker is the
  second one: it exits with :data:`~stream_mlc.errors.SECOND_WORKER_EXIT_CODE`, having
  processed nothing;
* otherwise the other member is a dead one the group has not noticed yet (a worker killed
  moments ago and restarted: its session expires within the session timeout), or the later
  one, which leaves; this worker goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from stream_mlc.errors import SECOND_WORKER_EXIT_CODE
from stream_mlc.service.reader import TopicReader
from stream_mlc.service.shell import INSTANCE, STARTED
from stream_mlc.settings import Settings

log = logging.getLogger(__name__)
#: How long a rival must stay silent to be taken as dead: longer than the group's session
#: timeout (5 s) and than a live worker's status interval.
LIVENESS_S = 6.0


class SingleWorkerGuard:
    """Holds processing while it finds out whether this worker is a second one (then it exits)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.clear = asyncio.Event()
        self.clear.set()
        self.task: asyncio.Future | None = None

    def check(self) -> None:
        """Hold processing and look for an earlier, live worker (in a task of its own)."""
        if self.clear.is_set():
            self.clear.clear()
            self.task = asyncio.ensure_future(self._check())

    async def _check(self) -> None:
        try:
            rival = await earlier_live_worker(self.settings)
        except Exception:  # the status topic cannot be read: go on; the partial assignment still holds processing
            log.exception("could not check for another single-mode worker of app id %s", self.settings.app_id)
            rival = None
        if rival is not None:
            log.critical("another single-mode worker of app id %s is running (%s, pid %s): single mode runs one "
                         "worker per app id; stop it, give this one another --app-id, or run both with --mode "
                         "scaled", self.settings.app_id, rival.get("worker"), rival.get("pid"))
            logging.shutdown()
            os._exit(SECOND_WORKER_EXIT_CODE)
        self.clear.set()


async def earlier_live_worker(settings: Settings, liveness_s: float = LIVENESS_S) -> dict | None:
    """The status of a single-mode worker started before this process that is still publishing, or None."""
    async with TopicReader(settings, "status") as reader:
        rivals = {record["instance"] for _, _, record in await reader.read_to_end() if _earlier(record)}
        deadline = time.monotonic() + liveness_s
        while rivals and time.monotonic() < deadline:
            for _, _, record in await reader.poll(0.5):
                if record.get("instance") in rivals:
                    if not record.get("stopped"):
                        return record
                    rivals.discard(record["instance"])
    return None


def _earlier(record: dict) -> bool:
    return (record.get("instance") not in (None, INSTANCE) and record.get("mode") == "single"
            and record.get("started", STARTED) < STARTED and not record.get("stopped"))
