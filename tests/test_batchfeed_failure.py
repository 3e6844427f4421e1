"""The batch feed on a failing handler: the app stops without committing past the failed batch, a worker exits.

On a real (embedded) broker; a restarted app reads the failed batch again.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from batchfeed_harness import WORKER_LIKE, Recorder, batch_app, committed, produce, wait_until


@pytest.fixture(autouse=True)
def _faust_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Faust creates its data directory in the working directory


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
