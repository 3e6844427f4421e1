"""Drift alerts on the alerts topic and metrics on /metrics, from a worker on the real broker."""

from __future__ import annotations

import asyncio
import re
import urllib.request

from stream_mlc.io.datasets import open_dataset
from stream_mlc.io.synthetic import make_concept, parse_spec
from stream_mlc.service.producer import replay
from stream_mlc.service.reader import TopicReader, wait_until

STREAM = "synthetic:n=6000,features=20,labels=6,seed=4,drift_at=3000"
DRIFT = "window_size=200,reference_size=1000,prediction_warmup=1000"


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_injected_concept_drift_is_alerted_and_exported(service_settings, start_worker):
    data = open_dataset(STREAM)
    settings = service_settings.replace(labels=",".join(data.label_names), drift_options=DRIFT)
    drifting = {data.label_names[i] for i in make_concept(parse_spec(STREAM)).drifting}
    records = list(data)
    worker = start_worker(settings)
    replay(records, settings, label_delay=50)

    def done(state):
        assert worker.process.poll() is None, f"worker died; see {worker.log_path}"
        return state["status"].get("learned", -1) >= len(records)

    asyncio.run(wait_until(settings, done, timeout_s=240))

    async def read_alerts():
        async with TopicReader(settings, "alerts") as reader:
            return [record for _, _, record in await reader.drain(idle_s=1.0)]

    alerts = asyncio.run(read_alerts())
    concept = [a for a in alerts if a["kind"] == "concept_drift"]
    labelled = {a["subject"] for a in concept} - {"*"}
    assert labelled, f"no concept drift alert among {[(a['kind'], a['subject']) for a in alerts]}"
    assert labelled <= drifting, "a label that did not drift was alerted"
    assert all(a["model_version"] >= 3000 - 50 for a in concept), "alerted before the drift"
    assert all(set(a) == {"kind", "detector", "subject", "value", "threshold", "ts", "model_version", "message"}
               for a in alerts)

    metrics = scrape(settings.metrics_port)
    assert metrics["stream_mlc_events_scored_total"] == len(records)
    assert metrics["stream_mlc_labels_joined_total"] == len(records)
    exported = sum(v for k, v in metrics.items() if re.match(r'stream_mlc_alerts_total\{.*kind="concept_drift"', k))
    assert exported == len(concept)
    assert metrics["stream_mlc_scoring_latency_seconds_count"] == len(records)
