"""Scaled mode on the embedded broker: two worker processes, four partitions, one learner."""

from __future__ import annotations

import asyncio
import time

import orjson
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from stream_mlc.cli import main
from stream_mlc.core.checkpoint import loads
from stream_mlc.io.datasets import open_dataset
from stream_mlc.service.broker import free_port
from stream_mlc.service.checkpoints import read_checkpoint, write_checkpoint
from stream_mlc.service.producer import replay
from stream_mlc.service.reader import TopicReader
from stream_mlc.service.scaled import EXIT_CHECKPOINT_UNREADABLE
from stream_mlc.topics import load_specs

STREAM = "synthetic:n=4000,features=30,labels=8,seed=21"
PARTITIONS = load_specs()["features"].partitions


class Follower:
    """Follows predictions and every worker's status until a condition holds."""

    def __init__(self, settings, workers):
        self.settings = settings
        self.workers = workers
        self.predictions: list[dict] = []
        self.status: dict[str, dict] = {}

    async def until(self, done, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        async with TopicReader(self.settings, "predictions", "status") as reader:
            # Re-read from the start each time: cheap at this size, and no record is missed.
            self.predictions, self.status = [], {}
            while True:
                for topic, _, record in await reader.poll():
                    if topic.endswith("predictions"):
                        self.predictions.append(record)
                    else:
                        self.status[record["worker"]] = record
                if done(self):
                    return
                for worker in self.workers:
                    assert worker.process.poll() is None or worker.killed, f"a worker died; see {worker.log_path}"
                roles = [(s["worker"], s["role"], s["learned"]) for s in self.status.values()]
                assert time.monotonic() < deadline, f"timed out: {len(self.predictions)} predictions, status {roles}"

    def learner(self) -> dict | None:
        live = [s for s in self.status.values() if s["role"] == "learner" and s["worker"] in self.alive()]
        return live[0] if len(live) == 1 else None

    def alive(self) -> set[str]:
        return {w.worker_id for w in self.workers if not w.killed}

    def owners(self) -> dict[int, str]:
        """Features partition -> the worker scoring it, from the workers' newest status."""
        topic = self.settings.topic("features")
        return {int(tp.rsplit(":", 1)[1]): s["worker"] for s in self.status.values() if s["worker"] in self.alive()
                for tp in s["assigned"] if tp.rsplit(":", 1)[0] == topic}


def all_loaded(f: Follower, version: int) -> bool:
    """The learner learned ``version`` examples and every live worker scores with that snapshot."""
    live = [s for s in f.status.values() if s["worker"] in f.alive()]
    return f.learner() is not None and f.learner()["learned"] >= version and len(live) == len(f.alive()) \
        and all(s["model_version"] >= version for s in live)


def partition_of(event_id: str) -> int:
    """Where the producer put an event (kafka-python's default partitioner)."""
    return (murmur2(event_id.encode()) & 0x7FFFFFFF) % PARTITIONS


def test_two_workers_share_the_partitions_and_one_learner_survives_a_kill(service_settings, start_worker, capsys):
    settings = service_settings.replace(mode="scaled", snapshot_every=100, snapshot_interval_s=0.2,
                                        checkpoint_every=500, checkpoint_interval_s=0.5, status_interval_s=0.2)
    workers = []
    for name in ("w-a", "w-b"):
        worker = start_worker(settings.replace(worker_id=name, web_port=free_port(), metrics_port=free_port()))
        worker.worker_id, worker.killed = name, False
        workers.append(worker)
    follow = Follower(settings, workers)

    # Both workers join the group; the input partitions are split and one of them learns.
    def split(f: Follower) -> bool:
        owners = f.owners()
        return f.learner() is not None and len(owners) == PARTITIONS and set(owners.values()) == f.alive()

    asyncio.run(follow.until(split, timeout_s=120))
    owners = follow.owners()

    # The first half in four parts, each learned and loaded by both scorers before the next.
    records = list(open_dataset(STREAM))
    half = len(records) // 2
    for end in range(half // 4, half + 1, half // 4):
        replay(records[end - half // 4:end], settings, label_delay=100)
        asyncio.run(follow.until(lambda f, end=end: all_loaded(f, end), timeout_s=120))

    # With no worker dying, every event is predicted exactly once, by the worker owning its partition,
    # with model versions that advance on both workers.
    ids = [record.id for record in records[:half]]
    predicted = [p["id"] for p in follow.predictions]
    assert sorted(predicted) == sorted(ids)
    versions: dict[str, list[int]] = {name: [] for name in follow.alive()}
    for prediction in follow.predictions:
        versions[owners[partition_of(prediction["id"])]].append(prediction["model_version"])
    for name, seen in versions.items():
        assert len(seen) > 100 and max(seen) >= min(seen) + 3 * half // 4, (name, seen[:5], seen[-5:])
    assert follow.learner()["learned"] == half

    # Kill the learner's worker mid-stream: the other takes over learning and loses nothing.
    third = half + half // 2
    replay(records[half:third], settings, label_delay=100)
    learner = follow.learner()["worker"]
    asyncio.run(follow.until(lambda f: f.learner() is not None and f.learner()["learned"] >= half + 300,
                             timeout_s=120))
    victim = next(w for w in workers if w.worker_id == learner)
    victim.process.kill()
    victim.process.wait()
    victim.killed = True
    survivor = next(w for w in workers if not w.killed).worker_id
    asyncio.run(follow.until(lambda f: f.learner() is not None and f.learner()["worker"] == survivor,
                             timeout_s=120))

    # The rest of the stream, after the survivor took over: it scores all of it, with the models it learns.
    replay(records[third:], settings, label_delay=100)

    def learned_everything(f: Follower) -> bool:
        now = f.learner()
        return now is not None and now["worker"] == survivor and now["learned"] >= len(records)

    asyncio.run(follow.until(learned_everything, timeout_s=180))
    all_ids = {record.id for record in records}
    assert {p["id"] for p in follow.predictions} == all_ids
    assert follow.learner()["learned"] == len(all_ids)
    duplicates = len(follow.predictions) - len(all_ids)
    print(f"learner {learner} killed at learned >= {half + 300}; {survivor} learned all {len(all_ids)}; "
          f"duplicate predictions {duplicates}; versions per worker before the kill "
          f"{ {name: (min(seen), max(seen)) for name, seen in versions.items()} }")
    last_part = {record.id for record in records[third:]}
    after = [p["model_version"] for p in follow.predictions if p["id"] in last_part]
    assert len(after) >= len(last_part) and max(after) > half, (min(after), max(after))

    # `stream-mlc status` tells the learner from the scorers.
    main(["status", "--broker", settings.broker, "--topic-prefix", settings.topic_prefix])
    printed = capsys.readouterr().out
    survivor_block = printed[printed.index(f"{survivor}: scaled, learner"):]
    assert f"learned          {len(all_ids)} examples" in survivor_block, printed

    # The survivor's state, checkpointed on a clean stop, learned every labelled id once.
    next(w for w in workers if not w.killed).stop()
    final = loads(asyncio.run(read_checkpoint(settings))[0]).engine
    assert final.learned == len(all_ids)
    training = asyncio.run(read_training_ids(settings))
    assert set(training) == all_ids


async def read_training_ids(settings) -> list[str]:
    async with TopicReader(settings, "training", decode=orjson.loads) as reader:
        return [record["id"] for _, _, record in await reader.read_to_end()]


def test_a_learner_that_cannot_read_the_checkpoint_stops_rather_than_start_from_scratch(service_settings,
                                                                                      start_worker):
    settings = service_settings.replace(mode="scaled")
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap)

    async def send(key: bytes, value: bytes) -> None:
        producer.send(settings.topic("checkpoints"), key=key, value=value).get(timeout=10)

    # Whole and checksummed as the manifest says, but not a checkpoint: a later schema, a bug...
    asyncio.run(write_checkpoint(send, settings.app_id, b"SMLC-CKPT not a checkpoint", 0, learned=500))
    producer.close()
    worker = start_worker(settings)
    assert worker.process.wait(timeout=90) == EXIT_CHECKPOINT_UNREADABLE, f"see {worker.log_path}"
    assert "refuses to learn from scratch" in worker.log_path.read_text()
    assert asyncio.run(snapshot_versions(settings)) == []  # no version-0 model reached the scorers


async def snapshot_versions(settings) -> list[int]:
    async with TopicReader(settings, "models", decode=bytes) as reader:
        return [orjson.loads(value)["learned"] for _, key, value in await reader.read_to_end()
                if key.endswith(b"/manifest")]
