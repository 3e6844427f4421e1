"""Every error stream-mlc raises on purpose derives from :class:`StreamMlcError`."""


class StreamMlcError(Exception):
    """Root of the package's exceptions."""


class ConfigError(StreamMlcError):
    """A setting, topic spec or command-line value is invalid."""


class DecodeError(StreamMlcError):
    """An input message does not follow the wire contract; the text says why.

    The service never lets it escape an agent: the message goes to the
    dead-letter topic with ``str(error)`` as its reason.
    """


class DatasetError(StreamMlcError):
    """A data file cannot be read as a multi-label stream."""


class BrokerError(StreamMlcError):
    """The embedded broker could not be started or reached."""
