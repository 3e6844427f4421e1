"""Run the worker: the Faust app in this process, stopped cleanly on SIGTERM or SIGINT.

Before Faust starts, the worker checks what would otherwise fail later with a traceback:
the metrics port is free, the broker answers, every topic exists, the model, thresholds
and drift specs are valid, and the checkpoint it restores was learned with the same
settings. Each failure is a :class:`~stream_mlc.errors.StreamMlcError` naming the fix.
It prints one line when Faust has assigned it partitions.

A Faust worker can hang on shutdown, so a watchdog ends the process if a clean stop
takes longer than ``STOP_GRACE_S``.
"""

from __future__ import annotations

import logging
import os
import threading

from stream_mlc.errors import CheckpointMismatch, ConfigError, PortInUse
from stream_mlc.settings import ENV_PREFIX, Settings

STOP_GRACE_S = 8.0
_NOISY_LOGGERS = ("faust", "mode", "aiokafka", "kafka", "asyncio", "venusian")
METRICS_PORT_FIX = "choose another with --metrics-port or STREAM_MLC_METRICS_PORT (0 turns the metrics server off)"
#: The settings a checkpoint's model was learned with, and where each is set.
_CONFIG_SOURCES = {
    "model": f"--model / {ENV_PREFIX}MODEL",
    "thresholds": f"{ENV_PREFIX}THRESHOLDS",
    "drift_options": f"{ENV_PREFIX}DRIFT_OPTIONS / {ENV_PREFIX}DRIFT_MONITOR",
    "labels": f"{ENV_PREFIX}LABELS",
    "calibration": f"{ENV_PREFIX}CALIBRATION",
    "challengers": f"{ENV_PREFIX}CHALLENGERS",
    "rules": f"{ENV_PREFIX}RULES",
    "text_features": f"{ENV_PREFIX}TEXT_FEATURES",
}
log = logging.getLogger(__name__)


def quiet_logging(level: str) -> None:
    """Faust leaves the root logger at DEBUG under ``-l warn``; logging costs throughput."""
    numeric = getattr(logging, level.upper(), logging.WARNING)
    logging.getLogger().setLevel(numeric)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))


def run_worker(settings: Settings, fresh: bool = False) -> int:
    """Check, restore (unless ``fresh``), serve the metrics, then run Faust until stopped."""
    service = prepare(settings, fresh)
    if settings.metrics_port:
        try:
            service.metrics.serve(settings.metrics_port, settings.metrics_host)
        except OSError as error:  # taken between the check and now
            raise PortInUse(f"metrics port {settings.metrics_port} on {settings.metrics_host}: {error.strerror}; "
                            f"{METRICS_PORT_FIX}") from error
    announce_when_ready(service, settings)
    # stdout is not redirected into Faust's log: the ready line is printed there as it is.
    worker = _worker_class()(service.app, loglevel=settings.log_level.upper(), quiet=True, redirect_stdouts=False)
    worker.log_level_after_start = settings.log_level
    threading.Thread(target=_warm_imports, name="warm imports", daemon=True).start()
    worker.execute_from_commandline()  # leaves through SystemExit when stopped
    return 0


def _warm_imports() -> None:
    """Import River's drift detectors while the worker waits for its partitions.

    The engine imports them on the first joined example (``river.drift`` takes 0.2 s to
    import, 0.8 s where scikit-learn is installed); joining the consumer group takes seconds
    on Tansu (and up to ``group.initial.rebalance.delay.ms`` on Kafka), time this fills.
    Python's per-module import locks make a concurrent import by the engine wait for this one.
    """
    import river.drift  # noqa: F401


def prepare(settings: Settings, fresh: bool = False):
    """The service, after every check that can fail before Faust starts."""
    from stream_mlc.service.admin import require_topics
    from stream_mlc.service.broker import require_free_port

    if settings.metrics_port:
        require_free_port(settings.metrics_host, settings.metrics_port, METRICS_PORT_FIX, "metrics port")
    require_topics(settings)
    _validate_specs(settings)
    if settings.mode == "scaled":
        if fresh:
            raise ConfigError("--fresh applies to single mode; a scaled group starts over under a new --app-id")
        from stream_mlc.service.scaled import ScaledService

        restore(settings)  # the checkpoint must be readable and match the settings: say so now, not when elected
        return ScaledService(settings)  # restores the learner's state if and when it is elected
    from stream_mlc.service.app import Service

    return Service(settings, *restore(settings, fresh=fresh))


def restore(settings: Settings, fresh: bool = False):
    """The newest checkpoint of this app and the slot it was in, or (None, 1) on a first start.

    With ``fresh``, no checkpoint is restored (the slot is still the stored one's, so the
    next write spares it). A checkpoint learned with other settings is refused:
    :class:`~stream_mlc.errors.CheckpointMismatch` names the difference.
    """
    import asyncio

    from stream_mlc.core.checkpoint import CheckpointError, loads
    from stream_mlc.service.checkpoints import newest_checkpoint

    try:
        stored = asyncio.run(newest_checkpoint(settings))
    except CheckpointError:
        if not fresh:
            raise
        return None, 1
    if stored is None:
        return None, 1
    if fresh:
        log.warning("--fresh: not restoring the checkpoint of %s; the model starts over", settings.app_id)
        return None, stored.slot
    try:
        checkpoint = loads(stored.data)
    except CheckpointError as error:
        raise CheckpointError(f"the newest checkpoint of app {settings.app_id!r} cannot be read ({error}); the "
                              "worker refuses to learn from scratch over it: restore it, or start over with "
                              "--fresh (single mode) or under another --app-id") from error
    check_checkpoint_config(settings, getattr(checkpoint, "config", None))
    return checkpoint, stored.slot


def config_differences(saved: dict | None, current: dict) -> dict[str, tuple[str, str]]:
    """``{setting: (checkpoint's value, current value)}`` for every setting that changed.

    A checkpoint without a config (older versions) differs in nothing.

    >>> config_differences({"model": "native-mlc", "labels": ["a", "b"]}, {"model": "river-br-lr", "labels": "a,b"})
    {'model': ('native-mlc', 'river-br-lr')}
    >>> config_differences(None, {"model": "river-br-lr"})
    {}
    >>> config_differences({"labels": "a, b", "drift_options": None}, {"labels": "a,b", "drift_options": ""})
    {'drift_options': ('off', '')}
    """
    differences = {}
    for key, value in current.items():
        if saved and key in saved and _normal(saved[key]) != _normal(value):
            differences[key] = (_normal(saved[key]), _normal(value))
    return differences


def check_checkpoint_config(settings: Settings, saved: dict | None) -> None:
    """Raise :class:`CheckpointMismatch` if the settings differ from the checkpoint's."""
    differences = config_differences(saved, settings.learning_config())
    if not differences:
        return
    what = "; ".join(f"{key} {old!r} in the checkpoint, {new!r} now ({_CONFIG_SOURCES.get(key, key)})"
                     for key, (old, new) in differences.items())
    raise CheckpointMismatch(
        f"the checkpoint of app {settings.app_id!r} was learned with other settings: {what}; "
        "restart with the checkpoint's settings, or with --fresh to start a new model from the start of the "
        "topics, or under another --app-id"
    )


def _normal(value) -> str:
    """A setting's value as compared: lists and comma-separated strings alike, None (drift monitor off) as "off"."""
    if value is None:
        return "off"
    parts = value if isinstance(value, list | tuple) else str(value).split(",")
    return ",".join(str(part).strip() for part in parts)


def _validate_specs(settings: Settings) -> None:
    """Build an engine from the settings once: a bad model, thresholds or drift spec fails here."""
    try:
        from stream_mlc.bootstrap import new_engine
    except ImportError:  # before the wiring module
        from stream_mlc.service.app import new_engine
    new_engine(settings)


def announce_when_ready(service, settings: Settings) -> None:
    """Print one line when Faust first assigns partitions: broker, partitions, model, restored version."""
    announced = False

    async def on_assigned(app, assigned, **_) -> None:
        nonlocal announced
        if not announced:
            announced = True
            ours = {tp for tp in assigned if tp.topic.startswith(settings.topic_prefix)}
            print(ready_line(settings, describe(service), ours), flush=True)

    service.app.on_partitions_assigned.connect(on_assigned)


def describe(service) -> dict:
    """``{"model", "version", "mode"}`` of a service (``service.describe()`` where it exists)."""
    describe_fn = getattr(service, "describe", None)
    if describe_fn is not None:
        return describe_fn()
    engine = getattr(service, "engine", None)
    return {"model": service.settings.model, "version": getattr(engine, "learned", 0), "mode": service.settings.mode}


def ready_line(settings: Settings, description: dict, assigned) -> str:
    """The worker's ready line.

    >>> from collections import namedtuple
    >>> TP = namedtuple("TP", "topic partition")
    >>> line = ready_line(Settings(), {"model": "native-mlc", "version": 0, "mode": "single"},
    ...                   {TP("mlc.labels", 1), TP("mlc.labels", 0), TP("mlc.features", 0)})
    >>> for part in line.split(", "):
    ...     print(part)
    stream-mlc worker ready: broker localhost:9092
    mode single
    partitions mlc.features[0] mlc.labels[0,1]
    model native-mlc
    version 0 (new model)
    >>> ready_line(Settings(), {"version": 12}, set()).endswith('version 12 (restored from the checkpoint)')
    True
    """
    by_topic: dict[str, list[int]] = {}
    for tp in assigned:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    partitions = " ".join(f"{topic}[{','.join(map(str, sorted(ps)))}]" for topic, ps in sorted(by_topic.items()))
    version = description.get("version", 0)
    origin = "restored from the checkpoint" if version else "new model"
    return (f"stream-mlc worker ready: broker {settings.bootstrap}, mode {description.get('mode', settings.mode)}, "
            f"partitions {partitions or 'none'}, model {description.get('model', settings.model)}, "
            f"version {version} ({origin})")


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

