"""Crash recovery: kill -9 a worker at random points; nothing is lost or learned twice."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import orjson

from stream_mlc.bootstrap import new_engine
from stream_mlc.core.checkpoint import loads
from stream_mlc.io.datasets import open_dataset
from stream_mlc.service.checkpoints import read_checkpoint
from stream_mlc.service.offline import process_offline
from stream_mlc.service.producer import replay
from stream_mlc.service.reader import TopicReader, wait_until

STREAM = "synthetic:n=5000,features=30,labels=8,seed=11"
PROBE = "synthetic:n=200,features=30,labels=8,seed=12"
KILLS = 3


def learned_at_least(n: int, worker):
    def done(state):
        assert worker.process.poll() is None, f"worker died; see {worker.log_path}"
        return state["status"].get("learned", -1) >= n

    return done


def test_kill_minus_nine_three_times_loses_nothing(service_settings, start_worker):
    settings = service_settings.replace(checkpoint_every=400, checkpoint_interval_s=0.5, status_interval_s=0.1)
    records = list(open_dataset(STREAM))
    replay(records, settings, label_delay=150)
    kill_points = sorted(random.Random(5).sample(range(500, len(records) - 500), KILLS))

    worker = start_worker(settings)
    for point in kill_points:
        asyncio.run(wait_until(settings, learned_at_least(point, worker), timeout_s=180))
        worker.process.kill()  # SIGKILL: no checkpoint on the way out
        worker.process.wait()
        worker = start_worker(settings)
    state = asyncio.run(wait_until(settings, learned_at_least(len(records), worker), timeout_s=240))
    worker.stop()

    # Every feature event predicted; duplicates only from re-processing after a kill.
    ids = [record.id for record in records]
    predicted = asyncio.run(read_ids(settings, "predictions"))
    assert set(predicted) == set(ids)
    duplicates = len(predicted) - len(ids)
    print(f"kills {KILLS} at learned >= {kill_points}; duplicate predictions {duplicates}")

    # Every label learned exactly once, by the model that survived the kills.
    final = loads(asyncio.run(read_checkpoint(settings))[0]).engine
    assert final.learned == len(set(ids)) == state["status"]["learned"]

    # The same model as an uninterrupted run over the same topics.
    reference = process_offline(settings, new_engine(settings))
    assert reference.learned == final.learned
    probe = [record.features for record in open_dataset(PROBE)]
    ours = np.array([list(final.predict(x).values()) for x in probe])
    theirs = np.array([list(reference.predict(x).values()) for x in probe])
    assert final.labels == reference.labels
    difference = float(np.max(np.abs(ours - theirs)))
    print(f"probe-set prediction difference against an uninterrupted run: {difference:g}")
    assert difference <= 1e-12
    assert final.metrics.report()["cumulative"] == reference.metrics.report()["cumulative"]


async def read_ids(settings, topic: str) -> list[str]:
    async with TopicReader(settings, topic, decode=orjson.loads) as reader:
        return [record["id"] for _, _, record in await reader.drain(idle_s=1.0)]


def test_clean_restart_loses_nothing_and_serves_new_events(service_settings, start_worker):
    records = list(open_dataset("synthetic:n=301,features=10,labels=4,seed=21"))
    first, fresh = records[:-1], records[-1:]
    worker = start_worker(service_settings)
    replay(first, service_settings, label_delay=10)
    asyncio.run(wait_until(service_settings, learned_at_least(len(first), worker), timeout_s=120))
    worker.stop()  # SIGTERM: a checkpoint on the way out
    stopped = loads(asyncio.run(read_checkpoint(service_settings))[0])
    assert stopped.learned == len(first)

    # After the restart most partitions get nothing new: they must not hold the one that does.
    worker = start_worker(service_settings)
    replay(fresh, service_settings, label_delay=0)
    asyncio.run(wait_until(service_settings, learned_at_least(len(records), worker), timeout_s=120))
    predicted = asyncio.run(read_ids(service_settings, "predictions"))
    assert sorted(predicted) == sorted(r.id for r in records)  # nothing re-scored after a clean stop
