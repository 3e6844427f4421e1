"""``stream-mlc labels list|show|add|define|deprecate|merge`` and ``stream-mlc forget ID...``.

The commands read and write the compacted ``mlc.label-registry`` topic. A change is signed
(HMAC-SHA256) when ``STREAM_MLC_REGISTRY_KEY`` is set (the workers check the signature with
the same key); its principal is ``--principal``, or the SASL user name, or the login name.
"""

from __future__ import annotations

import argparse
import getpass

import orjson

from stream_mlc.core.registry import LabelChange
from stream_mlc.settings import Settings


def add_parsers(subparsers) -> None:
    """Add ``labels`` and ``forget`` to the ``stream-mlc`` command parser's subparsers."""
    labels = subparsers.add_parser("labels", help="read and edit the label registry")
    commands = labels.add_subparsers(title="label commands")
    listing = _command(commands, "list", "every label with its status and version", _list)
    listing.add_argument("--json", action="store_true", help="print the records as JSON lines")
    show = _command(commands, "show", "a label's record and change history", _show)
    show.add_argument("name", help="the label")
    add = _command(commands, "add", "register a label (or reactivate a deprecated one)", _change("add"))
    add.add_argument("name", help="the new label")
    add.add_argument("--definition", default="", help="what the label means")
    add.add_argument("--source", default="", help="where it comes from (taxonomy, team, data set)")
    define = _command(commands, "define", "change a label's definition", _change("define"))
    define.add_argument("name", help="the label")
    define.add_argument("--definition", required=True, help="what the label means")
    define.add_argument("--source", default="", help="where the definition comes from")
    deprecate = _command(commands, "deprecate", "stop predicting and learning a label", _change("deprecate"))
    deprecate.add_argument("name", help="the label to stop predicting")
    merge = _command(commands, "merge", "count a label as another from now on", _change("merge"))
    merge.add_argument("name", help="the label merged away")
    merge.add_argument("--into", required=True, help="the label it merges into")

    forget = subparsers.add_parser("forget", help="remove event ids from the worker's state (GDPR/CCPA)")
    _add_common(forget)
    forget.add_argument("ids", nargs="+", metavar="ID", help="event ids to remove from the worker's state")
    forget.set_defaults(run=_forget)


def _command(commands, name: str, help_text: str, run) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help_text)
    _add_common(parser)
    parser.set_defaults(run=run)
    return parser


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", help="host:port or kafka://host:port (default: $STREAM_MLC_BROKER)")
    parser.add_argument("--topic-prefix", help="topic name prefix (default: $STREAM_MLC_TOPIC_PREFIX or 'mlc.')")
    parser.add_argument("--principal", help="who makes the change (default: the SASL user, else the login name)")


def _settings(args) -> Settings:
    return Settings.from_env(broker=args.broker, topic_prefix=args.topic_prefix)


def _principal(args, settings: Settings) -> str:
    return args.principal or settings.sasl_username or getpass.getuser()


def _list(args) -> int:
    from stream_mlc.service.registry import read_registry

    registry, forgets = read_registry(_settings(args))
    records = [registry[name] for name in sorted(registry.records)]
    if args.json:
        print(orjson.dumps([r.to_wire() for r in records], option=orjson.OPT_INDENT_2).decode())
        return 0
    if not records:
        print("no labels registered")
    for record in records:
        status = f"merged into {record.merged_into}" if record.merged_into else record.status
        print(f"{record.name:<30} {status:<24} v{record.version:<4} {record.definition}")
    if forgets:
        print(f"{len(forgets)} forget request(s) pending")
    return 0


def _show(args) -> int:
    from stream_mlc.service.registry import read_registry

    registry, _ = read_registry(_settings(args))
    if args.name not in registry:
        print(f"no label {args.name!r} in the registry")
        return 1
    print(orjson.dumps(registry[args.name].to_wire(), option=orjson.OPT_INDENT_2).decode())
    return 0


def _change(op: str):
    def run(args) -> int:
        from stream_mlc.service.registry import publish_change

        settings = _settings(args)
        change = LabelChange(op, args.name, definition=getattr(args, "definition", ""),
                             source=getattr(args, "source", ""), into=getattr(args, "into", ""),
                             principal=_principal(args, settings))
        registry, impact = publish_change(settings, change, settings.registry_key.encode())
        for name in impact["labels"]:
            record = registry[name]
            print(f"{name}: {record.status}{' into ' + record.merged_into if record.merged_into else ''}, "
                  f"version {record.version}")
        return 0

    return run


def _forget(args) -> int:
    from stream_mlc.service.registry import publish_forget

    settings = _settings(args)
    tombstoned = publish_forget(settings, args.ids, _principal(args, settings))
    print(f"asked the worker to forget {len(args.ids)} id(s)"
          + (f"; tombstones written to {', '.join(tombstoned)}" if tombstoned else ""))
    return 0
