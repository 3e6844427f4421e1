"""TLS and SASL settings reach every Kafka client library."""

from __future__ import annotations

import faust

from stream_mlc.service.kafka_config import aiokafka_kwargs, faust_broker_kwargs, kafka_python_kwargs
from stream_mlc.settings import Settings


def test_plaintext_by_default():
    settings = Settings.from_env(environ={}, broker="kafka://h1:9092,h2:9092")
    assert kafka_python_kwargs(settings) == {"bootstrap_servers": ["h1:9092", "h2:9092"],
                                             "security_protocol": "PLAINTEXT", "bootstrap_timeout_ms": 10_000}
    assert aiokafka_kwargs(settings) == {"bootstrap_servers": "h1:9092,h2:9092", "security_protocol": "PLAINTEXT",
                                         "request_timeout_ms": 10_000}
    assert faust_broker_kwargs(settings) == {}


def test_sasl_scram_over_tls_for_every_client():
    settings = Settings.from_env(environ={"STREAM_MLC_SASL_PASSWORD": "s3cret"}, broker="h:9093",
                                 security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="svc")
    for kwargs in (kafka_python_kwargs(settings), aiokafka_kwargs(settings)):
        assert kwargs["security_protocol"] == "SASL_SSL"
        assert (kwargs["sasl_mechanism"], kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == (
            "SCRAM-SHA-512", "svc", "s3cret")
    assert aiokafka_kwargs(settings)["ssl_context"] is not None
    credentials = faust_broker_kwargs(settings)["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "svc" and credentials.ssl_context is not None
    assert "s3cret" not in repr(settings) and settings.safe_dict()["sasl_password"] == "***"


def test_the_connect_timeout_bounds_every_client():
    settings = Settings.from_env(environ={"STREAM_MLC_CONNECT_TIMEOUT_S": "2.5"})
    assert kafka_python_kwargs(settings)["bootstrap_timeout_ms"] == 2500
    assert aiokafka_kwargs(settings)["request_timeout_ms"] == 2500
