"""Feed benchmark: what Faust's per-message path costs, against the batch feed and a raw loop.

``stream-mlc bench feed [--messages N] [--max-poll-records K] [--broker HOST:PORT] [--scenarios a,b]``
preloads N messages of ~1.4 KB of JSON (an id and 100 features) on a 4-partition topic of
its own, once per scenario, and drains them in a child process of its own:

``faust``
    a plain Faust agent: ``async for key, value in stream.items()``, decode, ``await
    topic.send`` of a 14-label reply.
``batch``
    :func:`~stream_mlc.service.batchfeed.batch_agent` (one call per fetch): decode each
    record, one ``producer.send`` per reply; the handler returns the deliveries, so the batch
    is acked once they are done while the next is handled (``--serial-deliveries``: awaited
    before the handler returns).
``batch-produce``
    the same feed, the replies sent as one produced batch per input partition (aiokafka's
    ``create_batch``/``send_batch``, to the same partition).
``raw``
    a raw aiokafka loop: ``getmany``, decode, ``producer.send`` each reply; no group, no commits.

Each child times itself from its first input record to its N-th reply flushed, and reads its
own CPU time (all its threads) over the same span: msg/s and CPU µs per message. Every
figure is one run on a shared machine; the ratios of one run are what to compare. The
broker is an embedded Tansu unless ``--broker`` names one. Exit status 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

SCENARIOS = ("faust", "batch", "batch-produce", "raw")
PARTITIONS = 4
FEATURES = 100
LABELS = 14
LINGER_MS = 5
#: How long a fetch may wait for data, for every scenario (the worker's default; Faust hardcodes 1500).
FETCH_WAIT_MS = 20
BATCH_BYTES = 256 * 1024


def messages(n: int, seed: int = 1) -> list[tuple[bytes, bytes]]:
    """``n`` (key, value) feature events: an id and 100 features of four decimals (~1.4 KB)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        key = f"e{i}".encode()
        features = {f"f{j}": round(rng.random(), 4) for j in range(FEATURES)}
        out.append((key, orjson.dumps({"id": key.decode(), "features": features})))
    return out


SCORES = {f"y{j}": 0.5 for j in range(LABELS)}


def reply(value: bytes) -> bytes:
    """The work per message: decode the event, encode a prediction of the worker's shape."""
    doc = orjson.loads(value)
    return orjson.dumps({"id": doc["id"], "labels": [], "scores": SCORES, "thresholds": SCORES,
                         "model_version": 0, "ts": time.time()})


# -- the parent: topics, preload, children -------------------------------------------------------
async def create_and_preload(bootstrap: str, in_topic: str, out_topic: str, data: list[tuple[bytes, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in (in_topic, out_topic)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20)
    await producer.start()
    try:
        for i, (key, value) in enumerate(data):
            await producer.send(in_topic, value, key=key, partition=i % PARTITIONS)
        await producer.flush()
    finally:
        await producer.stop()


def run_scenario(kind: str, bootstrap: str, data: list, max_poll: int, workdir: Path, run: str,
                 serial: bool = False) -> dict:
    in_topic, out_topic = f"{run}-{kind}-in", f"{run}-{kind}-out"
    asyncio.run(create_and_preload(bootstrap, in_topic, out_topic, data))
    command = [sys.executable, "-m", "stream_mlc.bench.feed", "--child", kind, bootstrap, in_topic, out_topic,
               str(len(data)), str(max_poll), f"{run}-{kind}", str(workdir / f"{kind}.json"),
               "serial" if serial else "pipelined"]
    with open(workdir / f"{kind}.log", "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=workdir)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    result_path = workdir / f"{kind}.json"
    if not result_path.exists():
        tail = (workdir / f"{kind}.log").read_text(errors="replace")[-1500:]
        return {"error": f"no result (exit {process.returncode}); its log ends with:\n{tail}"}
    result = json.loads(result_path.read_text())
    seconds = result["last"] - result["first"]
    return {"msg_s": len(data) / seconds, "cpu_us": (result["cpu_last"] - result["cpu_first"]) * 1e6 / len(data),
            "seconds": seconds}


def report(results: dict[str, dict], args: argparse.Namespace) -> None:
    deliveries = "awaited before the next batch" if args.serial_deliveries else "pipelined"
    print(f"\nfeed bench: {args.messages} messages of ~1.4 KB, {PARTITIONS} partitions, "
          f"max poll records {args.max_poll_records}, batch deliveries {deliveries}, "
          f"producer linger {LINGER_MS} ms, fetch wait {FETCH_WAIT_MS} ms; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    base_faust = results.get("faust", {}).get("msg_s")
    base_raw = results.get("raw", {}).get("msg_s")
    faust_cpu = results.get("faust", {}).get("cpu_us")
    print(f"{'scenario':<15}{'msg/s':>10}{'x faust':>9}{'x raw':>8}{'CPU µs/msg':>12}{'CPU x faust':>13}")
    for kind, r in results.items():
        if "error" in r:
            print(f"{kind:<15}  {r['error']}")
            continue
        vs_faust = f"{r['msg_s'] / base_faust:.2f}" if base_faust else "-"
        vs_raw = f"{r['msg_s'] / base_raw:.2f}" if base_raw else "-"
        cpu_vs_faust = f"{r['cpu_us'] / faust_cpu:.2f}" if faust_cpu else "-"
        print(f"{kind:<15}{r['msg_s']:>10,.0f}{vs_faust:>9}{vs_raw:>8}{r['cpu_us']:>12.0f}{cpu_vs_faust:>13}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="stream-mlc bench feed", description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--max-poll-records", type=int, default=500,
                        help="records per poll for every scenario (the worker's default is 100)")
    parser.add_argument("--broker", default="", help="host:port of a running broker (default: an embedded Tansu)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, of {SCENARIOS}")
    parser.add_argument("--serial-deliveries", action="store_true",
                        help="batch scenarios: await a batch's deliveries before handling the next")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    kinds = [k for k in args.scenarios.split(",") if k]
    unknown = set(kinds) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenario(s) {sorted(unknown)}; choose from {SCENARIOS}")
    data = messages(args.messages)
    run = f"feed{int(time.time())}"
    with tempfile.TemporaryDirectory(prefix="feed-bench-") as tmp:
        def run_all(bootstrap: str) -> dict[str, dict]:
            return {k: run_scenario(k, bootstrap, data, args.max_poll_records, Path(tmp), run, args.serial_deliveries)
                    for k in kinds}

        if args.broker:
            results = run_all(args.broker)
        else:
            from stream_mlc.service.broker import EmbeddedBroker

            with EmbeddedBroker(log_path=Path(tmp) / "tansu.log") as broker:
                results = run_all(broker.bootstrap)
    report(results, args)
    return 0


# -- the children ---------------------------------------------------------------------------------
class Timer:
    """Wall and CPU time from the first message to the last; written to a JSON file at the end.

    (A Faust worker sends stdout to its log, so the result goes to a file.)
    """

    def __init__(self, total: int, path: str):
        self.total = total
        self.path = path
        self.count = 0
        self.first = self.cpu_first = 0.0

    def start(self) -> None:
        if not self.count and not self.first:
            self.first, self.cpu_first = time.time(), time.process_time()

    def finish(self) -> None:
        result = {"first": self.first, "last": time.time(), "cpu_first": self.cpu_first,
                  "cpu_last": time.process_time()}
        Path(self.path).write_text(json.dumps(result))


def faust_app(bootstrap: str, app_id: str, max_poll: int):
    """An app with the worker's settings (service/app.py's make_app) for consuming and producing."""
    import faust

    _short_fetch_wait()
    return faust.App(
        app_id, broker=f"kafka://{bootstrap}", key_serializer="raw", value_serializer="raw",
        processing_guarantee="at_least_once", broker_session_timeout=5.0, broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=5.0, broker_commit_interval=1.0, broker_max_poll_records=max_poll,
        consumer_auto_offset_reset="earliest", producer_linger=LINGER_MS / 1000.0,
        producer_max_batch_size=BATCH_BYTES, topic_partitions=PARTITIONS, web_enabled=False,
    )


def _short_fetch_wait() -> None:
    """Faust's consumer with ``FETCH_WAIT_MS`` (as service/app.py's ``_patch_fetch_wait``, in this child only)."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    create = AIOKafkaConsumerThread._create_worker_consumer

    def create_worker_consumer(self, transport):
        consumer = create(self, transport)
        consumer._fetch_max_wait_ms = FETCH_WAIT_MS
        return consumer

    AIOKafkaConsumerThread._create_worker_consumer = create_worker_consumer


def run_faust_child(kind: str, bootstrap: str, in_topic: str, out_topic: str, total: int, max_poll: int,
                    app_id: str, result_path: str, serial: bool) -> int:
    from stream_mlc.service.worker import _worker_class

    app = faust_app(bootstrap, app_id, max_poll)
    timer = Timer(total, result_path)

    async def done() -> None:
        await app.producer.flush()
        timer.finish()
        os._exit(0)  # a bench child: no clean stop to wait for

    if kind == "faust":
        sink = app.topic(out_topic)

        @app.agent(app.topic(in_topic), name="plain")
        async def plain(stream):
            async for key, value in stream.items():
                timer.start()
                await sink.send(key=key, value=reply(value))
                timer.count += 1
                if timer.count == total:
                    await done()
    else:
        from stream_mlc.service.batchfeed import batch_agent

        send = send_each if kind == "batch" else send_as_batch

        async def handle(records):
            timer.start()
            delivered = await send(app.producer, out_topic, records)
            if serial:
                await delivered  # acked only after its deliveries, before the next batch is handled
                delivered = None
            timer.count += len(records)
            if timer.count >= total:
                await done()
            return delivered  # acked once delivered, while the next batches are handled

        batch_agent(app, [in_topic], handle, name="batch")
    _worker_class()(app, loglevel="WARNING", quiet=True).execute_from_commandline()
    return 0


async def send_each(producer, topic: str, records) -> asyncio.Future:
    """One ``producer.send`` per reply; returns their deliveries."""
    pending = [await producer.send(topic, r.key, reply(r.value), None, None, None) for r in records]
    return asyncio.gather(*pending)


async def send_as_batch(producer, topic: str, records) -> asyncio.Future:
    """The replies as one produced batch per input partition (to the same partition); returns the deliveries."""
    client = producer._ensure_producer()  # the aiokafka producer under Faust's
    by_partition: dict[int, list] = {}
    for r in records:
        by_partition.setdefault(r.partition, []).append(r)
    pending = []
    for partition, part in by_partition.items():
        batch = client.create_batch()
        for r in part:
            value = reply(r.value)
            if batch.append(key=r.key, value=value, timestamp=None) is None:  # full: send it, start another
                pending.append(await client.send_batch(batch, topic, partition=partition))
                batch = client.create_batch()
                batch.append(key=r.key, value=value, timestamp=None)
        pending.append(await client.send_batch(batch, topic, partition=partition))
    return asyncio.gather(*pending)


async def run_raw_child(bootstrap: str, in_topic: str, out_topic: str, total: int, max_poll: int,
                        result_path: str) -> int:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_wait_ms=FETCH_WAIT_MS)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=LINGER_MS, max_batch_size=BATCH_BYTES)
    await consumer.start()
    await producer.start()
    timer = Timer(total, result_path)
    try:
        tps = [TopicPartition(in_topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while timer.count < total:
            fetched = await consumer.getmany(timeout_ms=500, max_records=max_poll)
            for records in fetched.values():
                timer.start()
                for r in records:
                    await producer.send(out_topic, reply(r.value), key=r.key)
                timer.count += len(records)
        await producer.flush()
        timer.finish()
    finally:
        await producer.stop()
        await consumer.stop()
    return 0


def child(argv: list[str]) -> int:
    kind, bootstrap, in_topic, out_topic, total, max_poll, app_id, result_path, serial = argv
    if kind == "raw":
        return asyncio.run(run_raw_child(bootstrap, in_topic, out_topic, int(total), int(max_poll), result_path))
    return run_faust_child(kind, bootstrap, in_topic, out_topic, int(total), int(max_poll), app_id, result_path,
                           serial == "serial")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.exit(child(sys.argv[2:]))
    sys.exit(main())
