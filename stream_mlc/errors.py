"""Every error stream-mlc raises on purpose derives from :class:`StreamMlcError`.

Each kind of expected failure has its own exit code, so that scripts can tell them apart;
``stream-mlc`` prints the error as one line on stderr (a traceback only with ``--debug``).
The codes are listed in :data:`EXIT_CODES` and in the README (Operating).

>>> TopicsMissing("topic mlc.features does not exist").exit_code
5
>>> EXIT_CODES[TopicsMissing.exit_code]
'a topic does not exist: run stream-mlc topics create'
"""

#: Exit code of ``stream-mlc`` when argparse refuses the command line.
USAGE_EXIT_CODE = 2
#: Exit code of ``stream-mlc`` when an unexpected exception (a bug) ends a command.
INTERNAL_EXIT_CODE = 70
#: Exit code when Ctrl-C (SIGINT) ends a command.
INTERRUPTED_EXIT_CODE = 130
#: A running worker's exits, each before anything past the cause is committed (sysexits' codes):
#: the newest checkpoint exists but cannot be read, so learning from scratch would overwrite it;
CHECKPOINT_UNREADABLE_EXIT_CODE = 71
#: another single-mode worker of the same app id started first and is running;
SECOND_WORKER_EXIT_CODE = 73
#: a send was not delivered, or the error policy refused an error: a restart resumes from the
#: last checkpoint (EX_TEMPFAIL).
STOPPED_UNCOMMITTED_EXIT_CODE = 75


class StreamMlcError(Exception):
    """Root of the package's exceptions."""

    #: What ``stream-mlc`` exits with when this error ends a command.
    exit_code = 1


class ConfigError(StreamMlcError):
    """A setting, topic spec or command-line value is invalid."""

    exit_code = 3


class DecodeError(StreamMlcError):
    """An input message does not follow the wire contract; the text says why.

    The service never lets it escape an agent: the message goes to the
    dead-letter topic with ``str(error)`` as its reason.
    """


class DatasetError(StreamMlcError):
    """A data file cannot be read as a multi-label stream."""

    exit_code = 8


class BrokerError(StreamMlcError):
    """The embedded broker could not be started or reached."""

    exit_code = 9


class BrokerUnreachable(StreamMlcError):
    """No Kafka broker answered at the configured address within the connect timeout."""

    exit_code = 4


class TopicsMissing(StreamMlcError):
    """A topic the command needs does not exist (``stream-mlc topics create`` makes them)."""

    exit_code = 5


class PortInUse(StreamMlcError):
    """A port the command must listen on is taken by another process."""

    exit_code = 6


class CheckpointMismatch(ConfigError):
    """The worker's settings differ from those its checkpoint was learned with."""

    exit_code = 7


#: Exit code -> meaning, for ``stream-mlc --help`` and the README.
EXIT_CODES = {
    0: "success",
    StreamMlcError.exit_code: "any other error",
    USAGE_EXIT_CODE: "bad command line (usage)",
    ConfigError.exit_code: "bad setting, spec or file argument",
    BrokerUnreachable.exit_code: "the Kafka broker did not answer within STREAM_MLC_CONNECT_TIMEOUT_S",
    TopicsMissing.exit_code: "a topic does not exist: run stream-mlc topics create",
    PortInUse.exit_code: "a port to listen on is in use",
    CheckpointMismatch.exit_code: "the settings differ from the checkpoint's (--fresh starts over)",
    DatasetError.exit_code: "a data set cannot be read",
    BrokerError.exit_code: "the embedded broker could not start",
    INTERNAL_EXIT_CODE: "internal error (a bug: rerun with --debug for the traceback)",
    CHECKPOINT_UNREADABLE_EXIT_CODE: "worker: the newest checkpoint cannot be read; it refuses to start over it",
    SECOND_WORKER_EXIT_CODE: "worker: another single-mode worker of this app id is running",
    STOPPED_UNCOMMITTED_EXIT_CODE: "worker: a send failed or an error was not absorbed; stopped before committing "
                                   "(a restart resumes from the last checkpoint)",
    INTERRUPTED_EXIT_CODE: "interrupted (Ctrl-C)",
}
