"""All settings in one frozen object, read from the environment in one place.

Every field can be set as ``STREAM_MLC_<FIELD>`` (upper case), e.g. ``STREAM_MLC_BROKER``.
Command-line options override the environment through :meth:`Settings.replace`.
Secrets (SASL password) are never printed: :meth:`Settings.safe_dict` masks them.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields

from stream_mlc.errors import ConfigError

ENV_PREFIX = "STREAM_MLC_"
_SECRETS = {"sasl_password"}
MODES = ("single", "scaled")


@dataclass(frozen=True)
class Settings:
    broker: str = "localhost:9092"
    topic_prefix: str = "mlc."
    app_id: str = "stream-mlc"
    worker_id: str = "worker-1"
    #: "single": one worker scores, joins and learns in exact event-time order (the default).
    #: "scaled": any number of workers in the app's consumer group score the partitions they are
    #: assigned with the newest model snapshot; the one worker assigned the learn topic learns
    #: (README: Scaling).
    mode: str = "single"
    #: In scaled mode the learner publishes a model snapshot after this many learned examples
    #: or this many seconds, whichever first: how far behind the learner a scorer can be.
    snapshot_every: int = 1000
    snapshot_interval_s: float = 1.0
    #: Model and thresholds specs ("name:param=value,..."); see `stream-mlc evaluate --help`.
    model: str = "native-mlc"
    thresholds: str = "adaptive"
    #: Pending joins older than this (seconds) or beyond this count expire, and are counted.
    join_max_age_s: float = 7 * 24 * 3600.0
    join_max_entries: int = 1_000_000
    max_labels: int = 10_000
    max_features: int = 100_000
    #: Comma-separated labels known from the start; others become known when first positive.
    labels: str = ""
    metrics_window: int = 1000
    #: Messages larger than this are dead-lettered without being parsed.
    max_message_bytes: int = 1_000_000
    #: Events an agent takes at once, and how long it waits to fill a batch.
    batch_size: int = 500
    batch_within_s: float = 0.005
    #: Records per consumer poll (Faust's broker_max_poll_records).
    max_poll_records: int = 100
    #: Features and labels are processed in event-time order; a silent input stops holding
    #: the other back after this long (Kafka Streams' max.task.idle.ms).
    align_idle_s: float = 0.05
    #: The learner republishes its status after this many learned examples (and when idle).
    status_every: int = 200
    status_interval_s: float = 1.0
    #: The learner's state is checkpointed (with its input offsets) after this many learned
    #: examples or this many seconds, whichever first, and on a clean stop.
    checkpoint_every: int = 10_000
    checkpoint_interval_s: float = 10.0
    #: Also keep the newest checkpoint in this directory (empty: only the Kafka topic).
    checkpoint_dir: str = ""
    #: Partition-count override for `topics create` (tests, small brokers); 0 keeps topics/.
    partitions: int = 0
    producer_linger_ms: int = 5
    #: The producer's largest record batch in bytes (Faust's default is 16 KB): fewer, larger requests.
    producer_batch_bytes: int = 262_144
    #: How long a fetch may wait for data (Faust hardcodes 1500 ms; Tansu holds fetches that long).
    fetch_max_wait_ms: int = 20
    web_port: int = 6066
    #: Prometheus /metrics (0: off). Bound to loopback unless configured otherwise.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464
    #: Per-label series exported: the labels with the most support, at most this many.
    metrics_max_labels: int = 50
    #: Drift monitoring on or off, and DriftSettings fields as "key=value,..." (e.g. "reaction=reset").
    drift_monitor: bool = True
    drift_options: str = ""
    log_level: str = "warning"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    ssl_cafile: str = ""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"{ENV_PREFIX}MODE={self.mode!r}: expected one of {', '.join(MODES)}")
        if self.snapshot_every < 1 or self.snapshot_interval_s <= 0:
            raise ConfigError(f"{ENV_PREFIX}SNAPSHOT_EVERY must be >= 1 and {ENV_PREFIX}SNAPSHOT_INTERVAL_S > 0")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        """Settings from ``STREAM_MLC_*`` variables, then ``overrides`` (ignored when None)."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _convert(f.name, raw, type(f.default))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def bootstrap(self) -> str:
        """``host:port`` for Kafka clients (``kafka://host:port`` is accepted too)."""
        return normalize_broker(self.broker)

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.labels.split(",") if name.strip())

    def topic(self, short_name: str) -> str:
        return f"{self.topic_prefix}{short_name}"

    def to_env(self) -> dict[str, str]:
        """The environment that makes :meth:`from_env` give these settings (for child processes)."""
        return {ENV_PREFIX + k.upper(): str(v) for k, v in dataclasses.asdict(self).items()}

    def safe_dict(self) -> dict:
        return {k: ("***" if k in _SECRETS and v else v) for k, v in dataclasses.asdict(self).items()}


def normalize_broker(broker: str) -> str:
    """``host:port`` list for Kafka clients, from ``host:port`` or ``kafka://host:port`` entries.

    >>> normalize_broker("kafka://127.0.0.1:9092,kafka://h2:9093")
    '127.0.0.1:9092,h2:9093'
    """
    hosts = [part.strip().removeprefix("kafka://") for part in broker.split(",") if part.strip()]
    if not hosts or any(":" not in host for host in hosts):
        raise ConfigError(f"broker {broker!r} is not host:port[,host:port...]")
    return ",".join(hosts)


def _convert(name: str, raw: str, kind: type):
    try:
        if kind is bool:
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        return kind(raw)
    except ValueError as error:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}") from error
