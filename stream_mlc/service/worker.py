"""Run the worker: the Faust app in this process, stopped cleanly on SIGTERM or SIGINT.

A Faust worker can hang on shutdown, so a watchdog ends the process if a clean stop
takes longer than ``STOP_GRACE_S``.
"""

from __future__ import annotations

import logging
import os
import threading

from stream_mlc.settings import Settings

STOP_GRACE_S = 8.0
_NOISY_LOGGERS = ("faust", "mode", "aiokafka", "kafka", "asyncio", "venusian")


def quiet_logging(level: str) -> None:
    """Faust leaves the root logger at DEBUG under ``-l warn``; logging costs throughput."""
    numeric = getattr(logging, level.upper(), logging.WARNING)
    logging.getLogger().setLevel(numeric)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))


def run_worker(settings: Settings) -> int:
    if settings.mode == "scaled":
        from stream_mlc.service.scaled import ScaledService

        service = ScaledService(settings)  # restores the learner's state if and when it is elected
    else:
        from stream_mlc.service.app import Service

        service = Service(settings, *restore(settings))
    if settings.metrics_port:
        service.metrics.serve(settings.metrics_port, settings.metrics_host)
    worker = _worker_class()(service.app, loglevel=settings.log_level.upper(), quiet=True)
    worker.log_level_after_start = settings.log_level
    worker.execute_from_commandline()  # leaves through SystemExit when stopped
    return 0


def restore(settings: Settings):
    """The newest checkpoint of this app and the slot it was in, or (None, 1) on a first start."""
    import asyncio

    from stream_mlc.core.checkpoint import loads
    from stream_mlc.service.checkpoints import newest_checkpoint

    stored = asyncio.run(newest_checkpoint(settings))
    if stored is None:
        return None, 1
    checkpoint = loads(stored.data)
    logging.getLogger(__name__).warning(
        "restored checkpoint: %d examples learned, offsets %s", checkpoint.learned, checkpoint.offsets
    )
    return checkpoint, stored.slot


def _worker_class():
    import faust

    class Worker(faust.Worker):
        """Faust's worker, with quiet loggers and a watchdog that ends the process if a stop hangs."""

        log_level_after_start = "warning"

        async def on_startup_finished(self) -> None:
            await super().on_startup_finished()
            quiet_logging(self.log_level_after_start)

        def _on_sigterm(self) -> None:
            _arm_watchdog(0)
            super()._on_sigterm()

        def _on_sigint(self) -> None:
            _arm_watchdog(130)
            super()._on_sigint()

    return Worker


def _arm_watchdog(exit_code: int) -> None:
    timer = threading.Timer(STOP_GRACE_S, lambda: os._exit(exit_code))
    timer.daemon = True
    timer.start()
