"""Unit tests of stream_mlc.settings: reading the environment, validation, secrets, round trips, meanings."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

from stream_mlc.errors import ConfigError
from stream_mlc.settings import ENV_PREFIX, Settings, describe_settings, normalize_broker


def test_from_env_reads_typed_values():
    environ = {
        "STREAM_MLC_BROKER": "kafka://k1:9092",
        "STREAM_MLC_BATCH_SIZE": "7",
        "STREAM_MLC_JOIN_MAX_AGE_S": "1.5",
        "STREAM_MLC_MODEL": "river-br-ht:grace_period=50",
        "STREAM_MLC_SASL_PASSWORD": "s3cret",
        "STREAM_MLC_PARTITIONS": "-0",
        "OTHER_BATCH_SIZE": "99",  # not ours
        "stream_mlc_batch_within_s": "9",  # the prefix is upper case
    }
    s = Settings.from_env(environ)
    assert s.broker == "kafka://k1:9092"
    assert s.batch_size == 7 and type(s.batch_size) is int
    assert s.join_max_age_s == 1.5 and type(s.join_max_age_s) is float
    assert s.model == "river-br-ht:grace_period=50"
    assert s.sasl_password == "s3cret"
    assert s.partitions == 0
    assert s.batch_within_s == Settings().batch_within_s
    # Unset variables keep the defaults.
    assert s.max_labels == Settings().max_labels


def test_from_env_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("STREAM_MLC_WORKER_ID", "w-from-env")
    monkeypatch.setenv("STREAM_MLC_METRICS_WINDOW", "33")
    s = Settings.from_env()
    assert (s.worker_id, s.metrics_window) == ("w-from-env", 33)


def test_overrides_win_over_the_environment_and_none_is_ignored():
    environ = {"STREAM_MLC_MODEL": "river-br-nb", "STREAM_MLC_WEB_PORT": "7000", "STREAM_MLC_APP_ID": "env-app"}
    s = Settings.from_env(environ, model="river-br-lr", web_port=None, worker_id="w9")
    assert s.model == "river-br-lr"
    assert s.web_port == 7000  # a None override leaves the environment's value
    assert s.worker_id == "w9"
    assert s.app_id == "env-app"
    assert s.replace(model=None, app_id="x") == dataclasses.replace(s, app_id="x")


@pytest.mark.parametrize(
    "name, raw",
    [
        ("BATCH_SIZE", "abc"),
        ("BATCH_SIZE", "1.5"),
        ("BATCH_SIZE", ""),
        ("WEB_PORT", "80 80"),
        ("JOIN_MAX_AGE_S", "one day"),
        ("ALIGN_IDLE_S", ""),
    ],
)
def test_bad_values_raise_config_error(name, raw):
    with pytest.raises(ConfigError, match=f"{ENV_PREFIX}{name}="):
        Settings.from_env({ENV_PREFIX + name: raw})


def test_kafka_urls_are_accepted_as_broker():
    assert Settings(broker="kafka://host:9092").bootstrap == "host:9092"
    assert Settings(broker="host:9092").bootstrap == "host:9092"
    assert Settings(broker=" kafka://a:1 , b:2 ,").bootstrap == "a:1,b:2"
    assert normalize_broker("kafka://127.0.0.1:9092,kafka://h2:9093") == "127.0.0.1:9092,h2:9093"


@pytest.mark.parametrize("broker", ["", "host", "kafka://host", ",", "a:1,b"])
def test_bad_brokers_raise_config_error(broker):
    with pytest.raises(ConfigError, match="is not host:port"):
        Settings(broker=broker).bootstrap  # noqa: B018


def test_topic_names_use_the_prefix():
    assert Settings(topic_prefix="t7.").topic("features") == "t7.features"


def test_safe_dict_masks_the_secrets():
    s = Settings(sasl_username="alice", sasl_password="hunter2", registry_key="k3y")
    safe = s.safe_dict()
    assert safe["sasl_password"] == safe["registry_key"] == "***"
    assert safe["sasl_username"] == "alice"
    assert "hunter2" not in json.dumps(safe) and "k3y" not in json.dumps(safe) and "k3y" not in repr(s)
    # Everything else is shown as is.
    secrets = {"sasl_password", "registry_key"}
    assert {k: v for k, v in safe.items() if k not in secrets} == {
        k: v for k, v in dataclasses.asdict(s).items() if k not in secrets
    }
    # An empty password is shown as empty (nothing to hide, and it tells it is unset).
    assert Settings().safe_dict()["sasl_password"] == ""


def test_the_sasl_password_is_not_printed_by_repr():
    """The module promises secrets are never printed; the dataclass repr prints every field."""
    s = Settings(sasl_password="hunter2")
    assert "hunter2" not in repr(s)
    assert "hunter2" not in str(s)


def _changed(value):
    """A value of the same type as a field's default, different from it."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 17
    if isinstance(value, float):
        return value / 3 + 0.1
    return value + "-changed" if value else "changed,x"


def test_to_env_round_trip_of_every_field():
    defaults = Settings()
    changed = Settings(
        **{f.name: _changed(getattr(defaults, f.name)) for f in dataclasses.fields(Settings)} | {"mode": "scaled"},
    )
    for f in dataclasses.fields(Settings):
        assert getattr(changed, f.name) != getattr(defaults, f.name), f.name
    env = changed.to_env()
    assert set(env) == {ENV_PREFIX + f.name.upper() for f in dataclasses.fields(Settings)}
    assert all(isinstance(v, str) for v in env.values())
    assert Settings.from_env(env) == changed
    assert Settings.from_env(defaults.to_env()) == defaults


def test_every_setting_has_a_one_line_meaning():
    for f in dataclasses.fields(Settings):
        meaning = f.metadata.get("help", "")
        assert meaning and "\n" not in meaning and "``" not in meaning, f.name
    variables = [ENV_PREFIX + f.name.upper() for f in dataclasses.fields(Settings)]
    assert [row[0] for row in describe_settings()] == variables


def test_an_unknown_variable_is_warned_about_once_with_the_closest_name(caplog):
    environ = {"STREAM_MLC_BROKR": "h:1", "STREAM_MLC_ZZZ_QQQ": "1", "STREAM_MLC_BROKER": "h:2"}
    with caplog.at_level(logging.WARNING, logger="stream_mlc.settings"):
        assert Settings.from_env(environ).broker == "h:2"
        Settings.from_env(environ)  # the same variables again: no second warning
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "stream-mlc: warning: STREAM_MLC_BROKR is not a setting and is ignored; did you mean STREAM_MLC_BROKER?",
        "stream-mlc: warning: STREAM_MLC_ZZZ_QQQ is not a setting and is ignored; `stream-mlc settings` lists them",
    ]


@pytest.mark.parametrize(
    "name, raw, requirement",
    [
        ("CONNECT_TIMEOUT_S", "0", "must be > 0"),
        ("BATCH_SIZE", "0", "must be > 0"),
        ("METRICS_PORT", "70000", "must be a port number"),
        ("PARTITIONS", "-1", "must be >= 0"),
        ("DRIFT_MONITOR", "maybe", "is not a valid bool"),
    ],
)
def test_out_of_range_values_are_refused_by_name(name, raw, requirement):
    with pytest.raises(ConfigError, match=f"{ENV_PREFIX}{name}=.*{requirement}"):
        Settings.from_env({ENV_PREFIX + name: raw})


def test_booleans_accept_the_usual_spellings():
    for raw, value in [("true", True), ("1", True), ("on", True), ("False", False), ("0", False), ("no", False)]:
        assert Settings.from_env({"STREAM_MLC_DRIFT_MONITOR": raw}).drift_monitor is value


def test_the_learning_config_names_what_a_checkpoint_is_checked_against():
    s = Settings(model="river-br-lr", thresholds="fixed:threshold=0.4", drift_options="reaction=reset", labels="a, b")
    assert s.learning_config() == {"model": "river-br-lr", "thresholds": "fixed:threshold=0.4",
                                   "drift_options": "reaction=reset", "labels": "a,b", "calibration": "isotonic",
                                   "challengers": "", "rules": "", "text_features": ""}
    assert s.replace(drift_monitor=False).learning_config()["drift_options"] is None


def test_an_unknown_mode_is_refused_by_name():
    with pytest.raises(ConfigError, match="STREAM_MLC_MODE='scaledd'"):
        Settings.from_env({"STREAM_MLC_MODE": "scaledd"})
