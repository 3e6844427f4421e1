"""The label registry: what each label means, where it came from, and how it changed.

Each label has a :class:`LabelRecord` (definition, source, status, version, history). A
:class:`LabelChange` (``add``, ``define``, ``deprecate``, ``merge``) is applied with
:meth:`LabelRegistry.apply`, which returns the new registry (the old one is left as it
was) and the skeleton of the change's impact report, filled from the engine's status by
:func:`impact_report`.

What a change does to the learners (the worker applies it; see the README):

- ``deprecate``: the label stops being predicted and learned; its events' mentions of it
  are dropped. Its learner state stays (an ``add`` reactivates it).
- ``merge SRC --into DST``: from the change on, SRC in a label event counts as DST (merges
  chain: A into B, then B into C sends A to C), and SRC stops being predicted. Past
  examples are not replayed (the stream is not kept); instead, when DST is new, its learner
  starts as a copy of SRC's (:func:`merge_label_state`), which is what SRC's examples taught,
  and its threshold starts at SRC's. When DST already exists it keeps its own state: it has
  learned from its own examples, and adding SRC's from now on is the least disruptive.

Registered-only mode (``STREAM_MLC_REGISTERED_LABELS_ONLY=1``): a label event naming a
label the registry does not have is refused (:class:`UnregisteredLabelError`, dead-lettered
by the worker): new label sets are validated by registering them before they reach training.

Changes carry a ``principal``; a :class:`ChangePolicy` makes the worker accept only the
configured principals' changes, and with a key only changes whose HMAC-SHA256 signature
(:func:`sign`) verifies: Kafka ACLs decide who may write the topic, the signature proves a
record came from a holder of the key (the embedded broker enforces no ACLs).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import hmac
from collections.abc import Mapping, MutableMapping
from dataclasses import asdict, dataclass, field, replace

import orjson

from stream_mlc.core.events import LabelEvent
from stream_mlc.errors import StreamMlcError

ACTIVE, DEPRECATED, MERGED = "active", "deprecated", "merged"
OPS = ("add", "define", "deprecate", "merge")


class RegistryError(StreamMlcError):
    """A registry change that cannot apply (unknown label, merge into itself, ...)."""


class UnregisteredLabelError(RegistryError):
    """A label event names a label the registry does not have (registered-only mode)."""


class UnauthorizedChangeError(RegistryError):
    """A registry change from a principal not allowed, or with a bad signature."""


@dataclass(frozen=True)
class LabelChange:
    """One edit of the registry, as published (the history keeps it)."""

    op: str
    label: str
    definition: str = ""
    source: str = ""
    into: str = ""
    principal: str = ""
    ts: float = 0.0
    signature: str = ""

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise RegistryError(f"registry change {self.op!r}: expected one of {', '.join(OPS)}")
        if not self.label:
            raise RegistryError("registry change without a label")

    def payload(self) -> bytes:
        """The signed bytes: every field but the signature, canonically."""
        return orjson.dumps({k: v for k, v in asdict(self).items() if k != "signature"}, option=orjson.OPT_SORT_KEYS)

    def to_wire(self) -> dict:
        return asdict(self)

    @classmethod
    def from_wire(cls, doc: Mapping) -> LabelChange:
        try:
            return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})
        except TypeError as error:
            raise RegistryError(f"bad registry change: {error}") from error


def sign(change: LabelChange, key: bytes) -> LabelChange:
    """The change with its HMAC-SHA256 signature under ``key``."""
    return replace(change, signature=hmac.new(key, change.payload(), hashlib.sha256).hexdigest())


@dataclass(frozen=True)
class ChangePolicy:
    """Which changes a worker accepts: any (the default), or only these principals' (signed).

    >>> policy = ChangePolicy(frozenset({"alice"}), key=b"k")
    >>> policy.check(sign(LabelChange("add", "x", principal="alice"), b"k"))
    >>> policy.check(LabelChange("add", "x", principal="alice"))
    Traceback (most recent call last):
    ...
    stream_mlc.core.registry.UnauthorizedChangeError: registry change 'add' of 'x' by 'alice': bad signature
    """

    principals: frozenset[str] = frozenset()
    key: bytes = field(default=b"", repr=False)

    def check(self, change: LabelChange) -> None:
        where = f"registry change {change.op!r} of {change.label!r} by {change.principal!r}"
        if self.principals and change.principal not in self.principals:
            raise UnauthorizedChangeError(f"{where}: principal not allowed")
        if self.key:
            expected = sign(change, self.key).signature
            if not hmac.compare_digest(expected, change.signature):
                raise UnauthorizedChangeError(f"{where}: bad signature")


@dataclass(frozen=True)
class LabelRecord:
    """A label's registry entry (the value on ``mlc.label-registry``, keyed by name)."""

    name: str
    definition: str = ""
    source: str = ""
    status: str = ACTIVE
    merged_into: str = ""
    version: int = 0
    history: tuple[dict, ...] = ()

    def to_wire(self) -> dict:
        return {"kind": "label", **asdict(self), "history": list(self.history)}

    @classmethod
    def from_wire(cls, doc: Mapping) -> LabelRecord:
        fields = {k: doc[k] for k in cls.__dataclass_fields__ if k in doc}
        return cls(**{**fields, "history": tuple(doc.get("history", ()))})

    def changed(self, change: LabelChange, **updates) -> LabelRecord:
        return replace(self, **updates, version=self.version + 1, history=(*self.history, change.to_wire()))


class LabelRegistry:
    """Every label's record; immutable: :meth:`apply` returns a new registry.

    Examples
    --------
    >>> registry = LabelRegistry()
    >>> registry, _ = registry.apply(LabelChange("add", "spam", definition="unsolicited bulk mail"))
    >>> registry, _ = registry.apply(LabelChange("add", "junk"))
    >>> registry, impact = registry.apply(LabelChange("merge", "junk", into="spam"))
    >>> impact["labels"], registry["junk"].status, registry.target("junk")
    (['junk', 'spam'], 'merged', 'spam')
    >>> sorted(registry.route(LabelEvent("e", frozenset({"junk"}))).labels)
    ['spam']
    """

    def __init__(self, records: Mapping[str, LabelRecord] | None = None):
        self.records: dict[str, LabelRecord] = dict(records or {})

    def __contains__(self, name: str) -> bool:
        return name in self.records

    def __getitem__(self, name: str) -> LabelRecord:
        return self.records[name]

    def active(self) -> list[str]:
        return sorted(name for name, record in self.records.items() if record.status == ACTIVE)

    def apply(self, change: LabelChange) -> tuple[LabelRegistry, dict]:
        """The registry after ``change``, and its impact report skeleton."""
        records = dict(self.records)
        current = records.get(change.label)
        involved = [change.label]
        if change.op == "add":
            record = current or LabelRecord(change.label)
            records[change.label] = record.changed(change, definition=change.definition or record.definition,
                                                   source=change.source or record.source, status=ACTIVE,
                                                   merged_into="")
        elif current is None:
            raise RegistryError(f"registry change {change.op!r}: no label {change.label!r}")
        elif change.op == "define":
            records[change.label] = current.changed(change, definition=change.definition,
                                                    source=change.source or current.source)
        elif change.op == "deprecate":
            records[change.label] = current.changed(change, status=DEPRECATED)
        else:
            self._merge(records, change, current)
            involved.append(change.into)
        return LabelRegistry(records), {"change": change.to_wire(), "labels": involved}

    def _merge(self, records: dict, change: LabelChange, source: LabelRecord) -> None:
        target = change.into
        if not target or self.target(target) == change.label or target == change.label:
            raise RegistryError(f"cannot merge {change.label!r} into {target!r}: a label cannot merge into itself")
        if source.status != ACTIVE:
            raise RegistryError(f"cannot merge {change.label!r}: it is {source.status}")
        if target in records and records[target].status != ACTIVE:
            raise RegistryError(f"cannot merge {change.label!r} into {target!r}: it is {records[target].status}")
        records[change.label] = source.changed(change, status=MERGED, merged_into=target)
        existing = records.get(target)
        if existing is None:  # a new target inherits the source's meaning
            records[target] = LabelRecord(target).changed(change, definition=source.definition, source=source.source)
        else:
            records[target] = existing.changed(change)

    def follow(self, doc: Mapping, policy: ChangePolicy | None = None) -> LabelRegistry:
        """The registry with a label record read from the topic, once its newest change passes ``policy``.

        Raises :class:`UnauthorizedChangeError` for a change the policy refuses (the worker logs
        and skips it) and :class:`RegistryError` for a record that is not a label record.
        """
        if doc.get("kind") != "label" or not doc.get("name"):
            raise RegistryError(f"not a label record: {sorted(doc)[:8]}")
        record = LabelRecord.from_wire(doc)
        if policy is not None and record.history:
            policy.check(LabelChange.from_wire(record.history[-1]))
        return LabelRegistry({**self.records, record.name: record})

    def target(self, name: str) -> str | None:
        """What ``name`` is learned as: itself, its merge target (chains followed), or None."""
        seen = set()
        record = self.records.get(name)
        while record is not None and record.status == MERGED and record.name not in seen:
            seen.add(record.name)
            record = self.records.get(record.merged_into)
        return record.name if record is not None and record.status == ACTIVE else None

    def predictable(self, labels: list[str]) -> list[str]:
        """The labels to predict: those the registry has active, and those it does not know.

        >>> registry, _ = LabelRegistry().apply(LabelChange("add", "a"))
        >>> registry, _ = registry.apply(LabelChange("deprecate", "a"))
        >>> registry.predictable(["a", "b"])
        ['b']
        """
        records = self.records
        return [name for name in labels if name not in records or records[name].status == ACTIVE]

    def route(self, event: LabelEvent, registered_only: bool = False) -> LabelEvent:
        """The label event as the learner should see it: merged labels mapped, deprecated dropped.

        Labels the registry does not know pass as they are, or raise
        :class:`UnregisteredLabelError` when ``registered_only``.
        """
        named = event.labels | (event.observed or frozenset())
        unknown = sorted(name for name in named if name not in self.records)
        if unknown and registered_only:
            raise UnregisteredLabelError(f"labels not in the registry: {unknown[:5]}")
        if not self.records or all(self.records.get(n, _PASS).status == ACTIVE for n in named):
            return event
        labels = frozenset(filter(None, (self._as(name) for name in event.labels)))
        observed = None if event.observed is None else frozenset(filter(None, map(self._as, event.observed)))
        return dataclasses.replace(event, labels=labels, observed=observed)  # keeps annotator and confidence

    def _as(self, name: str) -> str | None:
        return self.target(name) if name in self.records else name


_PASS = LabelRecord("", status=ACTIVE)


def impact_report(impact: dict, status: Mapping) -> dict:
    """Fill an impact skeleton from the engine's ``status()``: support, F1, recent predictions.

    ``predicted`` is how many times each label was predicted positive among the scored and
    joined events (true plus false positives, derived from its precision and recall).
    """
    per_label = status.get("metrics", {}).get("per_label", {})
    labels = {}
    for name in impact["labels"]:
        figures = per_label.get(name, {})
        support = int(figures.get("support", 0))
        true_positives = figures.get("recall", 0.0) * support
        precision = figures.get("precision", 0.0)
        labels[name] = {
            "support": support,
            "f1": figures.get("f1", 0.0),
            "predicted": round(true_positives / precision) if precision > 0 else 0,
            "known": name in status.get("labels", ()),
        }
    return {**impact, "learned": status.get("learned", 0), "impact": labels}


def merge_label_state(model, thresholds, source: str, target: str) -> bool:
    """Start ``target``'s learner (and threshold) as a copy of ``source``'s; False if the model cannot.

    Our learners may offer ``copy_label(source, target)``; River's binary relevance (a
    ``PerOutputClassifier``, possibly last in a pipeline) gets a deep copy of the source's
    classifier. The threshold is copied when the thresholds object holds per-label state.
    """
    copied = False
    if hasattr(model, "copy_label"):
        copied = bool(model.copy_label(source, target))
    else:
        final = list(model.steps.values())[-1] if hasattr(model, "steps") else model
        if isinstance(final, MutableMapping) and source in final:
            final[target] = copy.deepcopy(final[source])
            copied = True
    if copied and hasattr(thresholds, "copy_label"):
        thresholds.copy_label(source, target)
    return copied
