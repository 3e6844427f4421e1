"""What an operator meets, through the installed ``stream-mlc`` command (one subprocess per call).

Every expected failure must be one line on stderr, without a traceback, with its own exit
code, and a network failure must give up within 20 s (the default connect timeout is 10 s).
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer

from stream_mlc.errors import BrokerUnreachable, CheckpointMismatch, PortInUse, TopicsMissing
from stream_mlc.service.broker import free_port
from stream_mlc.service.reader import wait_until
from stream_mlc.service.tail import tail
from stream_mlc.service.worker import restore
from stream_mlc.settings import ENV_PREFIX

STREAM_MLC = str(Path(sys.executable).with_name("stream-mlc"))
GIVE_UP_S = 20.0
STREAM = "synthetic:n=60,features=5,labels=3,seed=1"


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float


def base_env() -> dict[str, str]:
    """The environment without any STREAM_MLC_* setting of the caller's."""
    return {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}


def start(args: list[str], env: dict | None, cwd: Path, **kwargs) -> tuple[subprocess.Popen, float]:
    process = subprocess.Popen([STREAM_MLC, *args], env=env or base_env(), cwd=cwd, stdin=subprocess.DEVNULL,
                               stdout=kwargs.pop("stdout", subprocess.PIPE), stderr=subprocess.PIPE, text=True,
                               **kwargs)
    return process, time.monotonic()


def finish(process: subprocess.Popen, started: float, timeout_s: float = 120) -> Result:
    out, err = process.communicate(timeout=timeout_s)
    return Result(process.returncode, out or "", err, time.monotonic() - started)


def run(args: list[str], cwd: Path, env: dict | None = None) -> Result:
    return finish(*start(args, env, cwd))


def assert_one_line_error(result: Result, code: int, *words: str) -> None:
    assert "Traceback" not in result.err, result.err
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("stream-mlc: error: "), result.err
    assert result.code == code, result
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture
def listening_socket():
    """A port something listens on (and never answers): busy for servers, not Kafka for clients."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def test_version(tmp_path):
    result = run(["--version"], tmp_path)
    assert result.code == 0 and result.out.startswith("stream-mlc ") and result.err == ""


def test_the_broker_on_a_busy_port_is_one_line(listening_socket, tmp_path):
    result = run(["broker", "--port", str(listening_socket)], tmp_path)
    assert_one_line_error(result, PortInUse.exit_code, f"port {listening_socket}", "--port")
    assert result.out == ""


def test_sigterm_to_the_broker_command_leaves_no_process_behind(tmp_path):
    port = free_port()
    process, _ = start(["broker", "--port", str(port)], None, tmp_path)
    try:
        assert process.stdout.readline().startswith(f"Tansu broker on 127.0.0.1:{port}")
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(children) == 1
        tansu = int(children[0])
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not Path(f"/proc/{tansu}").exists(), "the Tansu child outlived the broker command"
    with socket.socket() as sock:  # and its port is free again
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_topics_create_twice(broker, tmp_path):
    args = ["topics", "create", "--broker", broker.bootstrap, "--topic-prefix", "twice."]
    first, second = run(args, tmp_path), run(args, tmp_path)
    assert (first.code, first.err, second.code, second.err) == (0, "", 0, "")
    assert "twice.features: created" in first.out
    assert all(line.endswith(": exists") for line in second.out.splitlines()) and "twice.features" in second.out


def test_status_before_any_worker_says_to_start_one(service_settings, tmp_path):
    result = run(["status"], tmp_path, {**base_env(), **service_settings.to_env()})
    assert_one_line_error(result, 1, "no worker has published a status", "stream-mlc worker")


def test_a_worker_before_its_topics_exist_says_to_create_them(broker, tmp_path):
    result = run(["worker", "--broker", broker.bootstrap, "--topic-prefix", "none-yet.", "--metrics-port", "0"],
                 tmp_path)
    assert_one_line_error(result, TopicsMissing.exit_code, "none-yet.features", "stream-mlc topics create")
    tail = run(["tail", "alerts", "--broker", broker.bootstrap, "--topic-prefix", "none-yet."], tmp_path)
    assert_one_line_error(tail, TopicsMissing.exit_code, "none-yet.alerts", "stream-mlc topics create")


def test_a_busy_metrics_port_is_named_before_faust_starts(service_settings, listening_socket, tmp_path):
    env = {**base_env(), **service_settings.to_env()}
    result = run(["worker", "--metrics-port", str(listening_socket)], tmp_path, env)
    assert_one_line_error(result, PortInUse.exit_code, f"metrics port {listening_socket}", "--metrics-port",
                          "STREAM_MLC_METRICS_PORT")


def test_an_unreachable_broker_is_one_line_within_20_s(listening_socket, tmp_path):
    closed = free_port()  # nothing listens there
    calls = [[*command, "--broker", f"127.0.0.1:{closed}"]
             for command in (["worker", "--metrics-port", "0"], ["replay"], ["status"], ["topics", "create"],
                             ["tail", "predictions"])]
    # A port that accepts connections and never answers (not Kafka): the clients' own timeouts are 30-40 s.
    calls += [[*command, "--broker", f"127.0.0.1:{listening_socket}"] for command in (["status"], ["worker"])]
    # In parallel: each waits on the network, and the suite should not wait for each in turn.
    results = finish_all([start(args, None, tmp_path) for args in calls])
    for args, result in zip(calls, results, strict=True):
        assert_one_line_error(result, BrokerUnreachable.exit_code, "no Kafka broker answered", "--broker")
        assert result.seconds < GIVE_UP_S, (args, result.seconds)


def finish_all(started: list[tuple[subprocess.Popen, float]], timeout_s: float = 120) -> list[Result]:
    """Wait for every process, each timed from its start to its own exit."""
    ended: dict[int, float] = {}
    deadline = time.monotonic() + timeout_s
    while len(ended) < len(started) and time.monotonic() < deadline:
        for i, (process, _) in enumerate(started):
            if i not in ended and process.poll() is not None:
                ended[i] = time.monotonic()
        time.sleep(0.05)  # polling for exits, not waiting for an outcome
    results = []
    for i, (process, begun) in enumerate(started):
        result = finish(process, begun, timeout_s=5)
        results.append(Result(result.code, result.out, result.err, ended.get(i, float("inf")) - begun))
    return results


def test_tail_status_and_a_restart_with_another_model(service_settings, start_worker, tmp_path):
    env = {**base_env(), **service_settings.to_env()}
    worker = start_worker(service_settings)
    replayed = run(["replay", "--dataset", STREAM, "--label-delay", "5"], tmp_path, env)
    assert replayed.code == 0 and "sent 60 feature events" in replayed.out

    def done(state):
        assert worker.process.poll() is None, worker.log_path.read_text()
        return state["predictions"] >= 60 and state["status"].get("learned", 0) >= 60

    asyncio.run(wait_until(service_settings, done, timeout_s=120))
    assert "stream-mlc worker ready: broker " in worker.log_path.read_text()

    tailed = run(["tail", "predictions", "--max", "5", "--from-beginning"], tmp_path, env)
    assert tailed.code == 0 and tailed.err == ""
    predictions = [orjson.loads(line) for line in tailed.out.splitlines()]
    assert len(predictions) == 5 and all({"id", "scores", "labels", "model_version"} <= set(p) for p in predictions)
    one = run(["tail", "predictions", "--from-beginning", "--id", predictions[0]["id"]], tmp_path, env)
    assert [orjson.loads(line)["id"] for line in one.out.splitlines()] == [predictions[0]["id"]]

    status = run(["status"], tmp_path, env)
    assert status.code == 0 and not status.out.startswith("{")
    assert "model" in status.out and "micro_f1" in status.out
    closed_pipe, started = start(["status"], env, tmp_path)
    closed_pipe.stdout.close()  # `stream-mlc status | head -0`: the reader is gone before the output
    piped = finish(closed_pipe, started)
    assert (piped.code, piped.err) == (0, "")

    worker.stop()  # a clean stop writes a checkpoint learned with the default model
    changed = run(["worker", "--model", "river-br-lr"], tmp_path, env)
    assert_one_line_error(changed, CheckpointMismatch.exit_code, "model 'native-mlc' in the checkpoint",
                          "'river-br-lr' now", "--fresh")
    checkpoint, _ = restore(service_settings)
    assert checkpoint.learned == 60
    assert restore(service_settings.replace(model="river-br-lr"), fresh=True)[0] is None


def test_tail_follows_messages_written_after_it_started(service_settings):
    topic = service_settings.topic("alerts")
    producer = KafkaProducer(bootstrap_servers=service_settings.bootstrap)

    def send(n: int) -> None:
        producer.send(topic, key=f"s{n}".encode(), value=orjson.dumps({"kind": "test", "n": n}))
        producer.flush()

    async def follow() -> list[dict]:
        out = io.StringIO()
        reading = asyncio.ensure_future(tail(service_settings, "alerts", from_beginning=True, follow=True,
                                             max_messages=4, out=out))
        while out.getvalue().count("\n") < 2:  # the tail has read to the end it found: 0 and 1
            assert not reading.done(), reading
            await asyncio.sleep(0.05)
        await asyncio.to_thread(send, 2)  # past that end: only a follower sees them
        await asyncio.to_thread(send, 3)
        assert await asyncio.wait_for(reading, 60) == 4
        return [orjson.loads(line) for line in out.getvalue().splitlines()]

    send(0)
    send(1)
    try:
        assert [record["n"] for record in asyncio.run(follow())] == [0, 1, 2, 3]
    finally:
        producer.close()
