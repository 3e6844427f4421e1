"""Start and stop worker processes (the demo, the tests, the benchmarks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from stream_mlc.settings import Settings


@dataclass
class WorkerProcess:
    """A ``stream-mlc worker`` child process; stops only the process it started."""

    process: subprocess.Popen
    log_path: Path

    @classmethod
    def start(cls, settings: Settings, log_path: Path, extra_env: dict | None = None) -> WorkerProcess:
        env = {**os.environ, **settings.to_env(), **(extra_env or {})}
        command = [sys.executable, "-m", "stream_mlc", "worker"]
        with open(log_path, "ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        return cls(process, log_path)

    def stop(self, timeout_s: float = 10.0) -> float:
        """SIGTERM, wait; SIGKILL if it overstays. Returns the seconds the stop took."""
        start = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return time.monotonic() - start
