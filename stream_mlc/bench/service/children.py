"""The two ceilings the worker is measured against, each in a child process of its own.

``(a) faust``
    a plain Faust pass-through agent with the worker's App settings: consume the features,
    ``orjson`` decode each event, ``await topic.send`` a prediction of the worker's shape and
    size. What a user's own Faust service costs before it does any work.
``(b) aiokafka``
    a raw aiokafka loop: ``getmany``, decode, produce through the producer's accumulator. The
    ceiling of a Python service on this machine.

The children are started as ``python -m stream_mlc.bench.service --child KIND ARGS...``.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

import orjson

from stream_mlc.bench.service.probe import Drain, Probe
from stream_mlc.bench.service.workload import Scenarios, Workload, preload


def child(argv: list[str]) -> int:
    """Run the child named by ``argv[0]`` with the rest of ``argv`` as its arguments."""
    kind, rest = argv[0], argv[1:]
    if kind == "faust":
        return faust_passthrough(*rest)
    if kind == "aiokafka":
        return asyncio.run(aiokafka_loop(*rest))
    raise SystemExit(f"unknown child {kind!r}")


def child_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "stream_mlc.bench.service", *args]


def stop(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """SIGTERM a process this bench started; SIGKILL it if it overstays."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_child(sc: Scenarios, work: Workload, n: int, kind: str, timeout_s: float) -> dict:
    """(a) ``kind="faust"`` or (b) ``"aiokafka"`` over a preloaded backlog of n feature events.

    Events/s from the first output record's broker timestamp to the last one's.
    """
    s = sc.settings(kind)
    preload(s, work, n, with_labels=False)
    out_topic = s.topic("predictions")
    if kind == "faust":
        args = (s.app_id, s.topic("features"), out_topic, str(work.labels_count), str(s.producer_linger_ms),
                str(s.max_poll_records))
    else:
        args = (s.topic("features"), out_topic, str(n), str(work.labels_count), str(s.producer_linger_ms))
    log = open(sc.workdir / f"{s.app_id}.log", "ab")
    started = time.time()
    process = subprocess.Popen(child_command("--child", kind, s.bootstrap, *args), stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=sc.workdir)
    probe = Probe(s)
    alive = lambda: process.poll() is None  # noqa: E731
    drain = Drain([process.pid], sc.broker_pid)
    try:
        drain.first_output(probe, out_topic, timeout_s, alive)
        probe.wait_total(out_topic, n, timeout_s, alive)
        cpu, broker_cpu = drain.cpu_ms_per_event(n)
        first, last = probe.first_timestamp(out_topic), probe.last_timestamp(out_topic)
    finally:
        stop(process)
        probe.close()
        log.close()
    return {"events": n, "rate": n / (last - first), "seconds": last - first, "startup_s": first - started,
            "cpu_ms": cpu, "broker_cpu_ms": broker_cpu}


def small_prediction(doc: dict, scores: dict) -> bytes:
    """A prediction of the worker's shape and size, computed from nothing.

    >>> orjson.loads(small_prediction({"id": "e1"}, {"y0": 0.5}))["scores"]
    {'y0': 0.5}
    """
    return orjson.dumps({"id": doc["id"], "labels": [], "scores": scores, "thresholds": scores,
                         "model_version": 0, "ts": time.time()})


def faust_passthrough(bootstrap: str, app_id: str, in_topic: str, out_topic: str, labels: str, linger_ms: str,
                      max_poll: str) -> int:
    """(a): the worker's App settings, an agent that decodes each event and sends a prediction."""
    import faust

    from stream_mlc.service.worker import _worker_class

    app = faust.App(
        app_id, broker=f"kafka://{bootstrap}", key_serializer="raw", value_serializer="raw",
        processing_guarantee="at_least_once", broker_session_timeout=5.0, broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=5.0, broker_commit_interval=1.0, broker_max_poll_records=int(max_poll),
        consumer_auto_offset_reset="earliest", producer_linger=int(linger_ms) / 1000.0, topic_partitions=4,
        web_enabled=False,
    )
    source, sink = app.topic(in_topic), app.topic(out_topic)
    scores = {f"y{j}": 0.5 for j in range(int(labels))}

    @app.agent(source, name="passthrough")
    async def passthrough(stream):
        async for key, value in stream.items():
            await sink.send(key=key, value=small_prediction(orjson.loads(value), scores))

    worker = _worker_class()(app, loglevel="WARNING", quiet=True)
    worker.execute_from_commandline()
    return 0


async def aiokafka_loop(bootstrap: str, in_topic: str, out_topic: str, n: str, labels: str, linger_ms: str) -> int:
    """(b): getmany, decode, send through the accumulator; stops after n events."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    total = int(n)
    scores = {f"y{j}": 0.5 for j in range(int(labels))}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=int(linger_ms), acks=1,
                                enable_idempotence=False, max_batch_size=256 * 1024)
    await consumer.start()
    await producer.start()
    try:
        partitions = None
        while not partitions:
            partitions = consumer.partitions_for_topic(in_topic)
            if not partitions:
                await consumer._client.force_metadata_update()
                await asyncio.sleep(0.05)
        tps = [TopicPartition(in_topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        count = 0
        while count < total:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            for messages in batches.values():
                for message in messages:
                    await producer.send(out_topic, small_prediction(orjson.loads(message.value), scores),
                                        key=message.key)
                    count += 1
        await producer.flush()
    finally:
        await producer.stop()
        await consumer.stop()
    return 0
