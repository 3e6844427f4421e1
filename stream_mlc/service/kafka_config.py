"""Connection settings (TLS, SASL, timeouts) for each Kafka client library, from one :class:`Settings`.

Also the one-line errors every client raises when the broker does not answer or a topic
is missing, so that each command says the same thing.
"""

from __future__ import annotations

import ssl

from stream_mlc.errors import BrokerUnreachable, TopicsMissing
from stream_mlc.settings import Settings


def timeout_ms(settings: Settings) -> int:
    """The connect timeout in milliseconds, for the clients' options."""
    return max(1, round(settings.connect_timeout_s * 1000))


def unreachable(settings: Settings, error: BaseException | None = None) -> BrokerUnreachable:
    """The one-line error for a broker that did not answer, with what to do about it."""
    return BrokerUnreachable(
        f"no Kafka broker answered at {settings.bootstrap} within {settings.connect_timeout_s:g} s{_cause(error)}; "
        "check --broker or STREAM_MLC_BROKER, or start one with `stream-mlc broker` "
        "(STREAM_MLC_CONNECT_TIMEOUT_S sets the wait)"
    )


def _cause(error: BaseException | None) -> str:
    """`` (what the client said)``, without the class name the Kafka clients repeat in their text.

    Nothing when it only says it could not connect: the message names the address already.
    """
    if error is None or isinstance(error, TimeoutError) or "Unable to bootstrap" in str(error):
        return ""
    name = type(error).__name__
    text = " ".join(str(error).split())
    while text.startswith(f"{name}:"):
        text = text.removeprefix(f"{name}:").strip()
    return f" ({text or name})"


def missing_topics(settings: Settings, names: list[str]) -> TopicsMissing:
    """The error for topics that do not exist, with the command that creates them."""
    if len(names) == 1:
        which = f"topic {names[0]} does"
    elif len(names) <= 3:
        which = f"topics {', '.join(names)} do"
    else:
        which = f"{len(names)} topics ({', '.join(names[:3])}, ...) do"
    prefix = "" if settings.topic_prefix == Settings().topic_prefix else f" --topic-prefix {settings.topic_prefix}"
    return TopicsMissing(f"{which} not exist on {settings.bootstrap}; "
                         f"create them with `stream-mlc topics create --broker {settings.broker}{prefix}`")


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
    """Keyword arguments for kafka-python clients (producer, admin).

    An unreachable broker, or a port that does not speak Kafka, fails the client's
    constructor after ``connect_timeout_s`` (kafka-python's default is 30 s).
    """
    kwargs: dict = {"bootstrap_servers": settings.bootstrap.split(","), "security_protocol": settings.security_protocol,
                    "bootstrap_timeout_ms": timeout_ms(settings)}
    if settings.ssl_cafile:
        kwargs["ssl_cafile"] = settings.ssl_cafile
    return {**kwargs, **_sasl(settings)}


def aiokafka_kwargs(settings: Settings) -> dict:
    """Keyword arguments for aiokafka clients (the tools' consumers).

    A request unanswered for ``connect_timeout_s`` fails (aiokafka's default is 40 s): a
    port that accepts connections but does not speak Kafka is given up on that soon.
    """
    kwargs: dict = {"bootstrap_servers": settings.bootstrap, "security_protocol": settings.security_protocol,
                    "request_timeout_ms": timeout_ms(settings)}
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
