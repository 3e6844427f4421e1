"""Create and check the service's topics from ``topics/`` (kafka-python admin client).

Every call gives up on an unreachable broker after ``connect_timeout_s`` with
:class:`~stream_mlc.errors.BrokerUnreachable`.
"""

from __future__ import annotations

from collections.abc import Iterable

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from stream_mlc.errors import ConfigError
from stream_mlc.service.kafka_config import kafka_python_kwargs, missing_topics, timeout_ms, unreachable
from stream_mlc.settings import Settings
from stream_mlc.topics import TopicSpec, load_specs


def planned_topics(settings: Settings) -> list[NewTopic]:
    """The topics to create: names under the prefix, settings from ``topics/``."""
    return [_new_topic(spec, settings) for spec in load_specs().values()]


def admin_client(settings: Settings) -> KafkaAdminClient:
    """A connected admin client; :class:`BrokerUnreachable` if no broker answers in time."""
    try:
        return KafkaAdminClient(**kafka_python_kwargs(settings), request_timeout_ms=timeout_ms(settings),
                                client_id="stream-mlc-admin")
    except (KafkaError, OSError) as error:
        raise unreachable(settings, error) from error


def create_topics(settings: Settings) -> dict[str, str]:
    """Create every topic that is missing; return ``{name: "created" | "exists"}``.

    Idempotent. An existing topic whose partition count differs from its spec is an
    error: the label join relies on features and labels being co-partitioned.
    """
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
        result = {}
        for topic in planned_topics(settings):
            if topic.name in existing:
                result[topic.name] = "exists"
                continue
            try:
                admin.create_topics([topic])
                result[topic.name] = "created"
            except TopicAlreadyExistsError:  # created by someone else meanwhile
                result[topic.name] = "exists"
        _check_partitions(admin, settings, [name for name, what in result.items() if what == "exists"])
        return result
    except KafkaError as error:
        raise unreachable(settings, error) from error
    finally:
        admin.close()


def require_topics(settings: Settings, short_names: Iterable[str] | None = None) -> None:
    """Raise :class:`TopicsMissing` naming every topic (all of ``topics/`` by default) that does not exist."""
    # The inputs first: the error names the first few.
    short = sorted(short_names or load_specs(), key=lambda name: (name not in ("features", "labels"), name))
    names = [settings.topic(name) for name in short]
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
    except KafkaError as error:
        raise unreachable(settings, error) from error
    finally:
        admin.close()
    missing = [name for name in names if name not in existing]
    if missing:
        raise missing_topics(settings, missing)


def input_partitions(settings: Settings) -> int:
    """How many partitions each input topic has (the features and labels topics are co-partitioned)."""
    return _partitions(load_specs()["features"], settings)


def _new_topic(spec: TopicSpec, settings: Settings) -> NewTopic:
    return NewTopic(
        name=spec.full_name(settings.topic_prefix),
        num_partitions=_partitions(spec, settings),
        replication_factor=spec.replication_factor,
        topic_configs=dict(spec.config),
    )


def _partitions(spec: TopicSpec, settings: Settings) -> int:
    # Only the multi-partition topics follow the override: training and status stay single.
    if settings.partitions and spec.partitions > 1:
        return settings.partitions
    return spec.partitions


def _check_partitions(admin: KafkaAdminClient, settings: Settings, names: list[str]) -> None:
    if not names:
        return
    wanted = {spec.full_name(settings.topic_prefix): _partitions(spec, settings) for spec in load_specs().values()}
    for description in admin.describe_topics(names):
        name, have = topic_name(description), len(description["partitions"])
        if have != wanted[name]:
            raise ConfigError(f"topic {name} exists with {have} partitions, topics/ says {wanted[name]}; "
                              "delete it or set --partitions to match")


def topic_name(description: dict) -> str:
    """The topic's name in a ``describe_topics`` entry: kafka-python 3 calls it ``name``, 2.x ``topic``.

    >>> topic_name({"name": "mlc.features"}), topic_name({"topic": "mlc.labels"})
    ('mlc.features', 'mlc.labels')
    """
    return description["name"] if "name" in description else description["topic"]
