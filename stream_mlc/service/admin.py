"""Create the service's topics from ``topics/`` (kafka-python admin client)."""

from __future__ import annotations

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from stream_mlc.errors import ConfigError
from stream_mlc.service.kafka_config import kafka_python_kwargs
from stream_mlc.settings import Settings
from stream_mlc.topics import TopicSpec, load_specs


def planned_topics(settings: Settings) -> list[NewTopic]:
    """The topics to create: names under the prefix, settings from ``topics/``."""
    return [_new_topic(spec, settings) for spec in load_specs().values()]


def create_topics(settings: Settings) -> dict[str, str]:
    """Create every topic that is missing; return ``{name: "created" | "exists"}``.

    An existing topic whose partition count differs from its spec is an error: the
    label join relies on features and labels being co-partitioned.
    """
    admin = KafkaAdminClient(**kafka_python_kwargs(settings), client_id="stream-mlc-admin")
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
    finally:
        admin.close()


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
        name, have = description["topic"], len(description["partitions"])
        if have != wanted[name]:
            raise ConfigError(f"topic {name} exists with {have} partitions, topics/ says {wanted[name]}")
