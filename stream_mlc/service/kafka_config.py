"""Connection settings (TLS, SASL) for each Kafka client library, from one :class:`Settings`."""

from __future__ import annotations

import ssl

from stream_mlc.settings import Settings


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if "SSL" not in settings.security_protocol.upper():
        return None
    return ssl.create_default_context(cafile=settings.ssl_cafile or None)


def _sasl(settings: Settings) -> dict:
    if not settings.sasl_mechanism:
        return {}
    return {
        "sasl_mechanism": settings.sasl_mechanism,
        "sasl_plain_username": settings.sasl_username,
        "sasl_plain_password": settings.sasl_password,
    }


def kafka_python_kwargs(settings: Settings) -> dict:
    """Keyword arguments for kafka-python clients (producer, admin)."""
    kwargs: dict = {"bootstrap_servers": settings.bootstrap.split(","), "security_protocol": settings.security_protocol}
    if settings.ssl_cafile:
        kwargs["ssl_cafile"] = settings.ssl_cafile
    return {**kwargs, **_sasl(settings)}


def aiokafka_kwargs(settings: Settings) -> dict:
    """Keyword arguments for aiokafka clients (the tools' consumers)."""
    kwargs: dict = {"bootstrap_servers": settings.bootstrap, "security_protocol": settings.security_protocol}
    context = _ssl_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    return {**kwargs, **_sasl(settings)}


def faust_broker_kwargs(settings: Settings) -> dict:
    """``broker_credentials`` for faust.App, when the settings ask for TLS or SASL."""
    import faust

    context = _ssl_context(settings)
    if settings.sasl_mechanism:
        credentials = faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password,
            mechanism=settings.sasl_mechanism.upper(),
            ssl_context=context,
        )
        return {"broker_credentials": credentials}
    if context is not None:
        return {"broker_credentials": faust.SSLCredentials(context)}
    return {}
