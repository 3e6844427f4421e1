"""``stream-mlc demo``: the whole service on an embedded broker, on River's Yeast stream.

It starts the broker, creates the topics, starts a worker process, replays the data set
(labels ``label_delay`` events late), follows the predictions and the learner's status with
progress bars, prints a summary, and stops everything it started.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path

from tqdm import tqdm

from stream_mlc.errors import ConfigError, StreamMlcError
from stream_mlc.io.datasets import open_dataset
from stream_mlc.service.admin import create_topics
from stream_mlc.service.broker import EmbeddedBroker, free_port, require_free_port
from stream_mlc.service.process import WorkerProcess
from stream_mlc.service.producer import replay
from stream_mlc.service.reader import wait_until
from stream_mlc.service.worker import METRICS_PORT_FIX
from stream_mlc.settings import ENV_PREFIX, Settings

SUMMARY_METRICS = (
    ("micro-F1", "micro_f1"),
    ("macro-F1", "macro_f1"),
    ("example-based F1", "example_f1"),
    ("Hamming loss", "hamming_loss"),
    ("subset accuracy", "subset_accuracy"),
)


def run_demo(dataset: str = "yeast", label_delay: int = 200, model: str | None = None, timeout_s: float = 300.0,
             metrics_port: int | None = None) -> int:
    """Run the demo on its own broker.

    ``metrics_port`` defaults to ``STREAM_MLC_METRICS_PORT``, else a free port, so that
    demos can run side by side.
    """
    if label_delay < 0:
        raise ConfigError(f"the label delay must be >= 0 events, got {label_delay}")
    data = open_dataset(dataset)
    records = list(data)
    n = len(records)
    workdir = Path(tempfile.mkdtemp(prefix="stream-mlc-demo-"))
    print(f"stream-mlc demo: {data.name}, {n} events, {len(data.label_names)} labels, labels {label_delay} events late")
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        settings = Settings.from_env(
            broker=broker.bootstrap, web_port=free_port(), model=model, labels=",".join(data.label_names),
            text_features=",".join(getattr(data, "text_features", ())) or None,
            metrics_port=_metrics_port(metrics_port),
        )
        require_free_port(settings.metrics_host, settings.metrics_port, METRICS_PORT_FIX, "metrics port")
        create_topics(settings)
        worker = WorkerProcess.start(settings, workdir / "worker.log")
        if settings.metrics_port:
            print(f"live page: http://{settings.metrics_host}:{settings.metrics_port}/ (Prometheus: /metrics)")
        try:
            summary = _stream(settings, records, label_delay, timeout_s, worker)
        finally:
            stop_s = worker.stop()
    _print_summary(summary, n, stop_s)
    print(f"logs: {workdir}")
    return 0


def _metrics_port(given: int | None) -> int:
    if given is not None:
        return given
    if ENV_PREFIX + "METRICS_PORT" in os.environ:
        return Settings.from_env().metrics_port
    return free_port()


def _stream(settings: Settings, records: list, label_delay: int, timeout_s: float, worker: WorkerProcess) -> dict:
    n = len(records)
    start = time.monotonic()
    sender = threading.Thread(target=replay, args=(records, settings), kwargs={"label_delay": label_delay}, daemon=True)
    sender.start()
    scored = tqdm(total=n, desc="predicted", unit="ev", leave=True)
    learned = tqdm(total=n, desc="learned  ", unit="ev", leave=True)

    first_prediction: list[float] = []

    def on_record(topic: str, record: dict) -> None:
        if topic.endswith("predictions"):
            if not first_prediction:
                first_prediction.append(time.monotonic())
            scored.update(1)
        else:
            learned.update(record["learned"] - learned.n)

    def done(state: dict) -> bool:
        if worker.process.poll() is not None:
            raise StreamMlcError(f"the worker exited with code {worker.process.returncode}"
                                 f"{_last_line(worker.log_path)}; see {worker.log_path}")
        return state["predictions"] >= n and state["status"].get("learned", 0) >= n

    try:
        state = asyncio.run(wait_until(settings, done, timeout_s=timeout_s, on_record=on_record))
    finally:
        scored.close()
        learned.close()
    sender.join()
    state["startup_s"] = first_prediction[0] - start
    state["seconds"] = time.monotonic() - first_prediction[0]
    return state


def _last_line(log_path: Path) -> str:
    """``: <the log's last line>``, the worker's own one-line error when it printed one."""
    try:
        lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return f": {lines[-1].strip()}" if lines else ""


def _print_summary(state: dict, n: int, stop_s: float) -> None:
    status = state["status"]
    metrics = status["metrics"]["cumulative"]
    counts = status["counts"]
    rows = [
        ("events", f"{n}"),
        ("predictions", f"{state['predictions']}"),
        ("labels joined", f"{status['learned']}"),
        *((name, f"{metrics[key]:.4f}") for name, key in SUMMARY_METRICS),
        ("dead-lettered", f"{counts.get('deadlettered', 0)}"),
        ("events/s", f"{n / state['seconds']:.0f}"),
        ("first prediction after", f"{state['startup_s']:.1f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    print("\nsummary (prequential, labels joined by the worker)")
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>10}")
    print(f"worker stopped in {stop_s:.1f} s")
