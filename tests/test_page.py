"""The worker's live page: served next to /metrics, and drawn by a real headless Chromium.

The browser is Debian's chromium driven through its chromedriver by Selenium (.ci/run
installs both). The page polls status.json by itself: the tests open it once and wait for
its charts to fill, without reloading it.
"""

from __future__ import annotations

import random
import socket
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.support.ui import WebDriverWait

import stream_mlc
from stream_mlc.core.engine import Engine, EngineConfig
from stream_mlc.core.events import FeatureEvent, LabelEvent
from stream_mlc.errors import StreamMlcError
from stream_mlc.io.datasets import open_dataset
from stream_mlc.service.producer import replay
from stream_mlc.service.prom import ServiceMetrics

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,1500",
)


def get(url: str, accept: str | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def charts(browser) -> dict:
    return browser.execute_script("return window.__charts")


def table_rows(browser) -> list[list[str]]:
    return browser.execute_script(
        "return [...document.querySelectorAll('#labels tr')]"
        ".map(row => [...row.children].map(cell => cell.textContent.trim()))"
    )


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="stream-mlc-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture
def engine_status() -> dict:
    """A real engine's status after 60 seeded examples of two labels."""
    engine = Engine.from_config(EngineConfig(model="river-br-lr", labels=("a", "b")))
    rng = random.Random(3)
    for i in range(60):
        x = {"f1": rng.gauss(0, 1), "f2": rng.gauss(0, 1)}
        truth = frozenset(name for name, on in (("a", x["f1"] > 0), ("b", x["f2"] > 0)) if on)
        engine.score(FeatureEvent(str(i), x), float(i))
        engine.learn(engine.join(LabelEvent(str(i), truth), float(i) + 1.0))
    return engine.status()


@pytest.fixture
def served():
    """A ServiceMetrics serving on a free port; stopped at the end."""
    metrics = ServiceMetrics(history_points=5, alerts_kept=3, info={"model": "river-br-lr", "mode": "single"})
    server = metrics.serve(0)
    yield metrics, f"http://127.0.0.1:{server.port}"
    server.shutdown()


# ------------------------------------------------------------------ the server, without a browser


def test_one_server_answers_the_page_its_data_and_metrics(served, engine_status):
    metrics, base = served
    metrics.scored.inc(10)
    metrics.latency.observe(0.004)
    metrics.refresh(engine_status, now=1000.0)
    status, content_type, body = get(base + "/")
    assert status == 200 and content_type.startswith("text/html")
    assert b"<canvas" in body and b"status.json" in body
    assert b"http://" not in body and b"https://" not in body, "the page must load nothing from elsewhere"
    status, content_type, body = get(base + "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    assert b"stream_mlc_events_scored_total 10.0" in body
    # Prometheus asks for OpenMetrics, and gets it, as from prometheus-client's own server.
    status, content_type, body = get(base + "/metrics", accept="application/openmetrics-text;version=1.0.0")
    assert content_type.startswith("application/openmetrics-text") and body.endswith(b"# EOF\n")
    status, content_type, body = get(base + "/status.json")
    data = orjson.loads(body)
    assert status == 200 and content_type == "application/json"
    assert data["series"]["t"] == [1000.0]
    assert data["series"]["micro_f1"] == [pytest.approx(engine_status["metrics"]["cumulative"]["micro_f1"])]
    assert data["series"]["latency_p50_s"][0] == pytest.approx(0.00375)  # mid 2.5-5 ms bucket
    assert [row["label"] for row in data["labels"]] == ["a", "b"]
    assert data["model"]["version"] == 60
    assert get(base + "/nothing")[0] == 404


def test_the_history_and_the_alerts_are_bounded(served, engine_status):
    metrics, base = served
    for second in range(8):
        metrics.refresh(engine_status, now=1000.0 + second)
    for i in range(5):
        metrics.record_alert("concept_drift", f"label-{i}", "error rate rose", 60 + i, 2000.0 + i)
    data = orjson.loads(get(base + "/status.json")[2])
    assert data["series"]["t"] == [1003.0, 1004.0, 1005.0, 1006.0, 1007.0]
    assert [alert["subject"] for alert in data["alerts"]] == ["label-4", "label-3", "label-2"]


def test_throughput_comes_from_the_counters_between_refreshes(engine_status):
    metrics = ServiceMetrics()
    metrics.refresh(engine_status)
    metrics.scored.inc(500)
    metrics.refresh(engine_status)
    rates = metrics.history.snapshot()["series"]["scored_per_s"]
    assert rates[0] == 0 and rates[1] > 0
    # No observation between two refreshes: no latency figure rather than a made-up one.
    assert metrics.history.snapshot()["series"]["latency_p99_s"] == [None, None]


def test_a_status_without_metrics_still_records_a_point():
    # A scaled-mode scorer's status: counts and the model it scores with, no quality.
    metrics = ServiceMetrics()
    metrics.refresh({"learned": 42, "model_version": 40, "metrics": {}, "mode": "scaled", "role": "scorer",
                     "config": {"model": "river-br-lr"}, "worker": "w-1"})
    data = metrics.history.snapshot()
    assert data["series"]["micro_f1"] == [None]
    assert data["model"] == {"version": 40, "learned": 42, "labels": 0, "pending": None, "model": "river-br-lr",
                             "mode": "scaled", "role": "scorer", "worker": "w-1",
                             "worker_version": stream_mlc.__version__}


def test_a_busy_port_is_an_error_naming_it():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StreamMlcError, match=f"metrics port {port} on 127.0.0.1 is in use"):
            ServiceMetrics().serve(port)


# ------------------------------------------------------------------ in a real browser


def test_the_page_shows_alerts_and_the_model_version(served, engine_status, browser):
    metrics, base = served
    browser.get(base + "/")
    WebDriverWait(browser, 30).until(lambda b: b.execute_script("return window.__polls") >= 1)
    assert charts(browser)["quality"] == 0
    assert "No alert yet" in browser.find_element("id", "alerts").text
    metrics.refresh(engine_status, now=1000.0)
    metrics.refresh(engine_status, now=1001.0)
    metrics.record_alert("concept_drift", "b", "error rate of b rose to 0.41", 57, 1000.5)
    # The page refreshes by itself.
    WebDriverWait(browser, 30).until(lambda b: charts(b)["quality"] >= 2)
    assert browser.find_element("id", "model-version").text == "60"
    assert browser.find_element("id", "model-name").text == "river-br-lr"
    assert browser.find_element("id", "model-release").text == stream_mlc.__version__
    alerts = browser.find_element("id", "alerts").text
    assert "concept_drift" in alerts and "error rate of b rose to 0.41" in alerts and "model version 57" in alerts
    assert [row[0] for row in table_rows(browser)] == ["a", "b"]
    assert browser.find_element("id", "quality").get_attribute("aria-label").startswith("Quality: 2 points")


def test_the_live_page_of_a_running_worker_fills_its_charts(service_settings, start_worker, browser, tmp_path):
    data = open_dataset("yeast")
    records = list(data)
    settings = service_settings.replace(labels=",".join(data.label_names))
    worker = start_worker(settings)
    base = f"http://127.0.0.1:{settings.metrics_port}"
    WebDriverWait(None, 120, poll_frequency=0.2).until(lambda _: _answers(base + "/metrics", worker))
    status, content_type, body = get(base + "/")
    assert status == 200 and content_type.startswith("text/html") and b"<canvas" in body
    browser.get(base + "/")
    replay(records, settings, label_delay=200)

    def filled(b) -> bool:
        assert worker.process.poll() is None, f"worker died; see {worker.log_path}"
        drawn = charts(b)
        return drawn["quality"] >= 2 and drawn["throughput"] >= 2 and len(table_rows(b)) == len(data.label_names)

    WebDriverWait(browser, 180, poll_frequency=0.5).until(filled)
    # Once the whole stream is learned, the charts show it end to end: what the screenshot shows.
    WebDriverWait(browser, 180, poll_frequency=0.5).until(
        lambda b: _number(b, "tile-learned") == len(records) and charts(b)["quality"] >= 3
    )
    rows = table_rows(browser)
    assert {row[0] for row in rows} == set(data.label_names)
    assert all(int(row[1].replace(",", "")) >= 0 for row in rows)  # support
    assert _number(browser, "model-version") == len(records)
    assert 0 < float(browser.find_element("id", "tile-micro").text) < 1
    assert "live" in browser.find_element("id", "connection").text
    screenshot = Path(tmp_path) / "live-page.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
    print(f"screenshot: {screenshot}")
    # The metrics endpoint is the same server's, and still Prometheus's.
    status, _, body = get(base + "/metrics")
    assert status == 200 and b"stream_mlc_events_scored_total" in body


def _number(browser, element_id: str) -> int | None:
    text = browser.find_element("id", element_id).text.replace(",", "")
    return int(text) if text.isdigit() else None


def _answers(url: str, worker) -> bool:
    assert worker.process.poll() is None, f"worker died; see {worker.log_path}"
    try:
        return get(url)[0] == 200
    except OSError:
        return False
