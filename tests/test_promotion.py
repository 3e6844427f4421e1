"""Champion and challengers through the real broker: a concept change promotes the challenger that fits it.

A worker runs a portfolio (the linear default model, and a streaming kNN in shadow) over a
stream whose labels are linear in two features, then their XOR, which no linear model fits.
The kNN challenger must be promoted: a ``model_promoted`` alert with its evidence on the
alerts topic, the promotion in the worker's status, and the published predictions of the XOR
phase better after it than before.
"""

from __future__ import annotations

import asyncio

import numpy as np

from stream_mlc.io.datasets import Record
from stream_mlc.service.producer import replay
from stream_mlc.service.reader import TopicReader, wait_until

CHALLENGER = "knn:k=7;window=300;min_window=50"
MODEL = f"portfolio:members=native-lr|{CHALLENGER},metric=micro_f1,window=200,margin=0.02,confidence=0.99"
LINEAR, XOR = 1500, 1500


def phase(n: int, concept: str, seed: int, start: int) -> list[Record]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(start, start + n):
        a, b = rng.uniform(-1, 1, size=2)
        if concept == "linear":
            labels = {"l0"} if a + b > 0 else set()
            labels |= {"l1"} if a - b > 0.2 else set()
        else:
            labels = {"l0"} if a * b > 0 else {"l1"}
        rows.append(Record(f"e{i}", {"a": float(a), "b": float(b)}, frozenset(labels)))
    return rows


async def read(settings, topic: str) -> list[dict]:
    async with TopicReader(settings, topic) as reader:
        return [record for _, _, record in await reader.read_to_end()]


def test_a_concept_change_promotes_the_challenger_that_fits_it(service_settings, start_worker):
    settings = service_settings.replace(model=MODEL, labels="l0,l1", calibration="none", drift_monitor=False)
    records = phase(LINEAR, "linear", seed=1, start=0) + phase(XOR, "xor", seed=2, start=LINEAR)
    truth = {record.id: record.labels for record in records}
    worker = start_worker(settings)
    replay(records, settings, label_delay=0)

    def done(state):
        assert worker.process.poll() is None, f"worker died; see {worker.log_path}"
        return state["status"].get("learned", -1) >= len(records)

    state = asyncio.run(wait_until(settings, done, timeout_s=180))
    promotions = [alert for alert in asyncio.run(read(settings, "alerts")) if alert["kind"] == "model_promoted"]
    # While both learn the linear concept the lead may change hands early; the change of concept
    # makes the challenger the champion for good.
    last = promotions[-1]
    assert last["subject"] == CHALLENGER.replace(";", ","), [alert["subject"] for alert in promotions]
    promoted_at = last["model_version"]
    assert LINEAR < promoted_at < LINEAR + XOR, promoted_at
    assert all(alert["model_version"] < 1000 for alert in promotions[:-1])
    assert "evidence" in last["message"] and last["value"] > last["threshold"]
    assert state["status"]["models"]["champion"] == CHALLENGER.replace(";", ",")

    # The published predictions of the XOR phase: before the promotion, and once it has settled.
    predictions = asyncio.run(read(settings, "predictions"))
    xor = [p for p in predictions if int(p["id"][1:]) >= LINEAR]
    before = [p for p in xor if p["model_version"] < promoted_at]
    after = [p for p in xor if p["model_version"] >= promoted_at + 100]
    accuracy_before, accuracy_after = accuracy(before, truth), accuracy(after, truth)
    print(f"promoted at version {promoted_at}; XOR-phase label accuracy {accuracy_before:.3f} before, "
          f"{accuracy_after:.3f} after ({len(before)} and {len(after)} predictions)")
    assert len(before) >= 50 and len(after) >= 500
    assert accuracy_after > 0.85 > accuracy_before


def accuracy(predictions: list[dict], truth: dict) -> float:
    hits = sum((label in prediction["labels"]) == (label in truth[prediction["id"]])
               for prediction in predictions for label in ("l0", "l1"))
    return hits / (2 * len(predictions))
