"""Issue 15 through the real broker: requests within the budget, registry changes in a running worker."""

from __future__ import annotations

import asyncio
import time

from stream_mlc.core.registry import LabelChange
from stream_mlc.io.datasets import open_dataset
from stream_mlc.service.producer import make_producer, replay
from stream_mlc.service.reader import TopicReader, wait_until
from stream_mlc.service.registry import publish_change


def test_requests_and_registry_changes_through_the_broker(service_settings, start_worker):
    settings = service_settings.replace(label_budget="0.1", labels="")
    for name in ("Class1", "Class2", "Class3"):
        publish_change(settings, LabelChange("add", name))
    worker = start_worker(settings)
    data = open_dataset("yeast", limit=1000)
    replay(data, settings, label_delay=0)

    def done(state):
        assert worker.process.poll() is None, f"worker died; see {worker.log_path}"
        return state["predictions"] >= 1000 and state["status"].get("learned", -1) >= 1000

    asyncio.run(wait_until(settings, done, timeout_s=180))

    async def requests():
        async with TopicReader(settings, "label-requests") as reader:
            return await reader.read_to_end()

    n = len(asyncio.run(requests()))
    print(f"requests: {n} of 1000 events ({n / 10:.1f}%)")
    assert 50 <= n <= 150

    # Deprecate a label in the running worker: new predictions stop scoring it.
    publish_change(settings, LabelChange("deprecate", "Class2"))
    changed = time.monotonic()
    producer = make_producer(settings)
    seen_at = None

    async def watch():
        nonlocal seen_at
        async with TopicReader(settings, "predictions") as reader:
            await reader.read_to_end()
            for i in range(200):
                producer.send(settings.topic("features"), key=f"probe-{i}".encode(),
                              value=b'{"id": "probe-%d", "features": {"x1": 0.1}}' % i)
                producer.flush()
                for _, _, record in await reader.poll(0.05):
                    if record["id"].startswith("probe") and "Class2" not in record["scores"]:
                        seen_at = time.monotonic()
                        return record

    record = asyncio.run(watch())
    assert record is not None and "Class1" in record["scores"]
    print(f"deprecation took effect after {seen_at - changed:.2f} s")
    assert seen_at - changed < 5.0

    # The change survives a restart: a new worker reads the registry before any event.
    worker.stop()
    restarted = start_worker(settings)

    async def probe_after_restart():
        async with TopicReader(settings, "predictions") as reader:
            await reader.read_to_end()
            producer.send(settings.topic("features"), key=b"after", value=b'{"id": "after", "features": {"x1": 0.1}}')
            producer.flush()
            for _ in range(600):
                assert restarted.process.poll() is None, f"worker died; see {restarted.log_path}"
                for _, _, record in await reader.poll(0.1):
                    if record["id"] == "after":
                        return record

    after = asyncio.run(probe_after_restart())
    assert "Class2" not in after["scores"] and "Class1" in after["scores"]
