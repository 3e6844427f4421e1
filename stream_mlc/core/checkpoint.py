"""Checkpoints: the learner's whole state with the input offsets it reflects.

A checkpoint holds the :class:`~stream_mlc.core.engine.Engine` (model, thresholds,
metrics, label set, join buffer, drift detectors) and, per input partition, the offset of
the first event it does not reflect. Restoring it and resuming every partition from those
offsets gives, event for event, the state an uninterrupted worker would have: the worker
processes its inputs in an order that depends only on their contents (see
:mod:`stream_mlc.core.align`).

The bytes are ``MAGIC | schema version | SHA-256 of the payload | payload`` where the payload
is a pickle. Unpickling runs code, so a checkpoint must only ever be loaded from the store
the service itself writes to; :func:`loads` refuses a wrong magic, schema or checksum
before it unpickles anything.
"""

from __future__ import annotations

import hashlib
import pickle
import struct
import time
from dataclasses import dataclass, field

from stream_mlc.errors import CHECKPOINT_UNREADABLE_EXIT_CODE, StreamMlcError

MAGIC = b"SMLC-CKPT"
SCHEMA_VERSION = 2  # 2: thresholds and calibration queue their pairs (issue 11)
_HEADER = struct.Struct(f">{len(MAGIC)}sH32s")


class CheckpointError(StreamMlcError):
    """A checkpoint cannot be trusted or read: wrong magic, schema version or checksum."""

    exit_code = CHECKPOINT_UNREADABLE_EXIT_CODE


@dataclass
class Checkpoint:
    engine: object
    #: ``{"topic": {partition: next offset to process}}`` for every input partition seen.
    offsets: dict[str, dict[int, int]] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    #: The event-time clock the engine had reached (join expiry is decided on it).
    clock: float = float("-inf")
    #: The settings the engine was built from (model, thresholds, drift options, labels), so a
    #: restart with other settings is noticed (older checkpoints lack it: empty).
    config: dict = field(default_factory=dict)

    @property
    def learned(self) -> int:
        return self.engine.learned


def dumps(checkpoint: Checkpoint) -> bytes:
    return seal(pickle.dumps(checkpoint, protocol=pickle.HIGHEST_PROTOCOL))


def loads(data: bytes) -> Checkpoint:
    """The checkpoint in ``data``, after checking its magic, schema version and checksum.

    >>> from stream_mlc.core.engine import Engine, EngineConfig
    >>> blob = dumps(Checkpoint(Engine.from_config(EngineConfig()), {"mlc.features": {0: 42}}))
    >>> loads(blob).offsets
    {'mlc.features': {0: 42}}
    >>> loads(blob[:-1] + b"x")
    Traceback (most recent call last):
    ...
    stream_mlc.core.checkpoint.CheckpointError: checkpoint checksum mismatch: refusing to load it
    """
    checkpoint = pickle.loads(unseal(data))  # noqa: S301 - only after unseal's checks
    if not isinstance(checkpoint, Checkpoint):
        raise CheckpointError("checkpoint payload is not a Checkpoint")
    return checkpoint


def seal(payload: bytes, magic: bytes = MAGIC) -> bytes:
    """``magic | schema version | SHA-256 of the payload | payload``."""
    return _HEADER.pack(magic, SCHEMA_VERSION, hashlib.sha256(payload).digest()) + payload


def intact(data: bytes) -> bool:
    """Whether sealed ``data`` (a checkpoint or a snapshot) is whole: its checksum holds."""
    if len(data) < _HEADER.size:
        return False
    magic, version, digest = _HEADER.unpack_from(data)
    ours = magic.startswith(b"SMLC-") and version == SCHEMA_VERSION
    return ours and hashlib.sha256(data[_HEADER.size:]).digest() == digest


def unseal(data: bytes, magic: bytes = MAGIC, what: str = "checkpoint") -> bytes:
    """The payload of sealed ``data``, refused on a wrong magic, schema version or checksum."""
    if len(data) < _HEADER.size:
        raise CheckpointError(f"{what} is truncated")
    found, version, digest = _HEADER.unpack_from(data)
    if found != magic:
        raise CheckpointError(f"not a stream-mlc {what}")
    if version != SCHEMA_VERSION:
        raise CheckpointError(f"{what} schema version {version}, this version reads {SCHEMA_VERSION}")
    payload = data[_HEADER.size:]
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointError(f"{what} checksum mismatch: refusing to load it")
    return payload
