"""All settings in one frozen object, read from the environment in one place.

Every field can be set as ``STREAM_MLC_<FIELD>`` (upper case), e.g. ``STREAM_MLC_BROKER``.
Command-line options override the environment through :meth:`Settings.replace`.
Each field's one-line meaning is in its metadata (``stream-mlc settings`` lists them all).
Secrets (SASL password) are never printed: :meth:`Settings.safe_dict` masks them.

>>> Settings.from_env({"STREAM_MLC_BATCH_SIZE": "7"}).batch_size
7
>>> describe_settings()[0][:3]
('STREAM_MLC_BROKER', 'str', 'localhost:9092')
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
from dataclasses import dataclass, field, fields

from stream_mlc.errors import ConfigError

ENV_PREFIX = "STREAM_MLC_"
_SECRETS = {"sasl_password", "registry_key"}
MODES = ("single", "scaled")
log = logging.getLogger(__name__)
_warned: set[str] = set()


def _setting(default, help: str, check: str = "", **kwargs):
    """A field with its one-line meaning and, optionally, a range check ("positive", "non-negative", "port")."""
    return field(default=default, metadata={"help": help, "check": check}, **kwargs)


@dataclass(frozen=True)
class Settings:
    broker: str = _setting("localhost:9092", "Kafka bootstrap servers: host:port or kafka://host:port, comma-separated")
    topic_prefix: str = _setting("mlc.", "prefix of every topic name")
    app_id: str = _setting("stream-mlc", "Faust app id: the consumer group, and the key of the checkpoints")
    worker_id: str = _setting("worker-1", "this worker's name in the status topic")
    mode: str = _setting("single", "single: one worker scores, joins and learns in event-time order; "
                                   "scaled: many workers score, one learns (README: Scaling)")
    # In scaled mode, how far behind the learner a scorer can be: whichever comes first.
    snapshot_every: int = _setting(1000, "scaled mode: publish a model snapshot after this many learned examples",
                                   "positive")
    snapshot_interval_s: float = _setting(1.0, "scaled mode: or after this many seconds", "positive")
    model: str = _setting("native-mlc", "model spec, name[:param=value,...] (README: Models)")
    thresholds: str = _setting("adaptive", "decision thresholds: adaptive[:objective=micro_f1|macro_f1|"
                               "subset_accuracy|mix|cost,max_labels=k,min_labels=1,...] or fixed[:threshold=t]")
    calibration: str = _setting("isotonic", "score calibration before the thresholds: none, platt or "
                                "isotonic[:param=v,...]")
    challengers: str = _setting("", "models scored and learned in shadow beside the model, separated by | "
                                "(README: Models); the best is promoted online (empty: none)")
    join_max_age_s: float = _setting(7 * 24 * 3600.0, "pending joins older than this (seconds) expire, and are counted",
                                     "positive")
    join_max_entries: int = _setting(1_000_000, "pending joins beyond this count expire, oldest first", "positive")
    max_labels: int = _setting(10_000, "label names beyond this many are dead-lettered", "positive")
    max_features: int = _setting(100_000, "feature names beyond this many are dead-lettered", "positive")
    labels: str = _setting("", "comma-separated labels known from the start (others join when first positive)")
    metrics_window: int = _setting(1000, "the windowed metrics cover the last this many joins", "positive")
    max_message_bytes: int = _setting(1_000_000, "messages larger than this are dead-lettered unparsed", "positive")
    batch_size: int = _setting(500, "events an agent takes at once", "positive")
    batch_within_s: float = _setting(0.005, "how long an agent waits to fill a batch", "non-negative")
    max_poll_records: int = _setting(100, "records per consumer poll (Faust's broker_max_poll_records)", "positive")
    # Kafka Streams' max.task.idle.ms: features and labels are merged in event-time order.
    align_idle_s: float = _setting(0.05, "a silent input stops holding the other back after this long (seconds)",
                                   "non-negative")
    align_hold_labels_s: float = _setting(1.0, "a features input read to its end holds back label events this long "
                                               "(seconds), so labels do not overtake their events", "non-negative")
    status_every: int = _setting(200, "the learner republishes its status after this many learned examples",
                                 "positive")
    status_interval_s: float = _setting(1.0, "or after this many seconds (and when idle)", "positive")
    checkpoint_every: int = _setting(10_000, "checkpoint after this many learned examples (and on a clean stop)",
                                     "positive")
    checkpoint_interval_s: float = _setting(10.0, "or after this many seconds", "positive")
    checkpoint_dir: str = _setting("", "also keep the newest checkpoint in this directory (empty: only Kafka)")
    partitions: int = _setting(0, "topics create: partition count of the partitioned topics (0: as in topics/)",
                               "non-negative")
    producer_linger_ms: int = _setting(5, "how long the producer waits to fill a batch (ms)", "non-negative")
    producer_batch_bytes: int = _setting(262_144, "the producer's largest record batch in bytes", "positive")
    # Faust hardcodes 1500 ms, and Tansu holds every fetch that long.
    fetch_max_wait_ms: int = _setting(20, "how long a fetch may wait for data (ms)", "non-negative")
    connect_timeout_s: float = _setting(10.0, "give up on an unreachable broker after this many seconds", "positive")
    web_port: int = _setting(6066, "Faust's web port (its web server stays off)", "port")
    metrics_host: str = _setting("127.0.0.1", "address the metrics server binds to (loopback by default)")
    metrics_port: int = _setting(9464, "port of /metrics and the live page (0: off)", "port")
    metrics_max_labels: int = _setting(50, "per-label series exported: the labels with the most support",
                                       "non-negative")
    text_features: str = _setting("", "comma-separated feature fields of free text (tokenised, TF-IDF); "
                                      "other strings are categories (README: Features)")
    max_exact_values: int = _setting(1024, "a categorical, tag or text field names this many values exactly, "
                                           "then hashes the others", "non-negative")
    hash_bits: int = _setting(14, "hashed names per categorical, tag or text field: 2**hash_bits (1..24)", "positive")
    standardize: str = _setting("off", "online standardisation of numbers: off, scale (x/std) or center")
    feature_cache_size: int = _setting(4096, "distinct texts whose tokens are cached", "non-negative")
    rules: str = _setting("", "JSON file of label rules: implies, exclusive, allowed (empty: none)")
    explain: int = _setting(0, "each predicted label carries its k most contributing features (0: off)",
                            "non-negative")
    audit_step: float = _setting(0.1, "a threshold that moves this far is published on the audit topic",
                                 "non-negative")
    label_budget: str = _setting("", "publish label requests within this budget: a fraction of events (0.1) "
                                 "or a rate (5/s); empty: off")
    annotation_rule: str = _setting("majority", "how several annotators' label events for one id combine: "
                                    "majority or weighted (by confidence)")
    annotation_wait_for: int = _setting(1, "resolve an id once this many annotators labelled it (1: at once)",
                                        "positive")
    annotation_deadline_s: float = _setting(3600.0, "or this long after its first annotation (event time)",
                                            "positive")
    registry_principals: str = _setting("", "follow label-registry changes only from these principals "
                                        "(comma-separated; empty: any)")
    group_gap_alert: float = _setting(0.1, "alert when a group's micro- or macro-F1 differs by more than this",
                                      "non-negative")
    group_max: int = _setting(20, "groups kept by value; later values are counted as (other)", "positive")
    group_by: str = _setting("", "report quality per value of this event field, and the gaps (empty: off)")
    registered_labels_only: bool = _setting(False, "refuse label events that name a label the registry lacks")
    registry_key: str = _setting("", "key that signs label-registry changes, HMAC-SHA256 (never printed)",
                                 repr=False)
    drift_monitor: bool = _setting(True, "drift monitoring on or off")
    drift_options: str = _setting("", "DriftSettings fields as key=value,... (e.g. reaction=reset)")
    log_level: str = _setting("warning", "the worker's log level")
    security_protocol: str = _setting("PLAINTEXT", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
    sasl_mechanism: str = _setting("", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL)")
    sasl_username: str = _setting("", "SASL user name")
    sasl_password: str = _setting("", "SASL password (never printed)", repr=False)
    ssl_cafile: str = _setting("", "CA bundle that signs the brokers' certificates (empty: the system's)")

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"{ENV_PREFIX}MODE={self.mode!r}: expected one of {', '.join(MODES)}")
        for f in fields(self):
            _check_range(f, getattr(self, f.name))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        """Settings from ``STREAM_MLC_*`` variables, then ``overrides`` (ignored when None).

        An unknown ``STREAM_MLC_*`` variable is logged once, with the closest known name.
        """
        environ = os.environ if environ is None else environ
        warn_unknown(environ)
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

    def learning_config(self) -> dict[str, str]:
        """What a checkpoint's model was learned with; a restart with other values is refused.

        >>> Settings(model="river-br-lr", labels=" a, b").learning_config()["labels"]
        'a,b'
        >>> Settings(drift_monitor=False).learning_config()["drift_options"] is None
        True
        """
        return {"model": self.model, "thresholds": self.thresholds,
                "drift_options": self.drift_options if self.drift_monitor else None,
                "labels": ",".join(self.label_names), "calibration": self.calibration,
                "challengers": self.challengers, "rules": self.rules, "text_features": self.text_features}

    def to_env(self) -> dict[str, str]:
        """The environment that makes :meth:`from_env` give these settings (for child processes)."""
        return {ENV_PREFIX + k.upper(): str(v) for k, v in dataclasses.asdict(self).items()}

    def safe_dict(self) -> dict:
        return {k: ("***" if k in _SECRETS and v else v) for k, v in dataclasses.asdict(self).items()}


def describe_settings() -> list[tuple[str, str, str, str]]:
    """``(variable, type, default, meaning)`` of every setting, in the order of the fields."""
    return [(ENV_PREFIX + f.name.upper(), type(f.default).__name__, str(f.default), f.metadata["help"])
            for f in fields(Settings)]


def known_variables() -> set[str]:
    return {ENV_PREFIX + f.name.upper() for f in fields(Settings)}


def unknown_variables(environ) -> dict[str, str | None]:
    """Each ``STREAM_MLC_*`` variable that is no setting, with the closest known name (or None).

    >>> unknown_variables({"STREAM_MLC_BROKRE": "x", "STREAM_MLC_BROKER": "y", "HOME": "/"})
    {'STREAM_MLC_BROKRE': 'STREAM_MLC_BROKER'}
    """
    known = known_variables()
    unknown = sorted(name for name in environ if name.startswith(ENV_PREFIX) and name not in known)
    # Compared without the prefix, which every name shares and which would make any two look alike.
    suffixes = [name.removeprefix(ENV_PREFIX) for name in known]
    closest = {name: difflib.get_close_matches(name.removeprefix(ENV_PREFIX), suffixes, n=1, cutoff=0.6)
               for name in unknown}
    return {name: ENV_PREFIX + match[0] if match else None for name, match in closest.items()}


def warn_unknown(environ) -> None:
    """Log one warning per unknown ``STREAM_MLC_*`` variable (once per process)."""
    for name, closest in unknown_variables(environ).items():
        if name in _warned:
            continue
        _warned.add(name)
        hint = f"; did you mean {closest}?" if closest else "; `stream-mlc settings` lists them"
        log.warning("stream-mlc: warning: %s is not a setting and is ignored%s", name, hint)


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
            return _BOOLEANS[raw.strip().lower()]
        return kind(raw)
    except KeyError:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid bool (true or false)") from None
    except ValueError as error:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}") from error


_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
_CHECKS = {
    "positive": (lambda v: v > 0, "must be > 0"),
    "non-negative": (lambda v: v >= 0, "must be >= 0"),
    "port": (lambda v: 0 <= v <= 65535, "must be a port number, 0 to 65535"),
}


def _check_range(f: dataclasses.Field, value) -> None:
    check = f.metadata.get("check")
    if check:
        accept, requirement = _CHECKS[check]
        if not accept(value):
            raise ConfigError(f"{ENV_PREFIX}{f.name.upper()}={value!r} {requirement}")
