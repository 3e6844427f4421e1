"""Shared by tests/test_topics_*.py: the topic spec files in topics/, and a checker of the JSON Schema subset used."""

from __future__ import annotations

import math
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOPIC_FILES = sorted((ROOT / "topics").glob("*.json"))


# jsonschema is not installed (nor a dependency); this checks the subset of draft 2020-12 the specs use, and
# test_schemas_use_only_keywords_the_checker_knows makes sure they use nothing else.

_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
_ANNOTATIONS = {"$schema", "title", "description"}
_KEYWORDS = {
    "type",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "const",
    "oneOf",
}


def _meta_check(schema, where: str) -> list[str]:
    """Structural errors of a (sub)schema."""
    if not isinstance(schema, dict):
        return [f"{where}: a schema must be an object"]
    errors = [f"{where}: unknown keyword {k!r}" for k in schema if k not in _KEYWORDS | _ANNOTATIONS]
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not isinstance(kinds, list) or not kinds or not set(kinds) <= _TYPES:
            errors.append(f"{where}: bad type {schema['type']!r}")
    if "required" in schema:
        required = schema["required"]
        if not isinstance(required, list) or len(set(required)) != len(required):
            errors.append(f"{where}: required must be a list of unique names")
        elif not set(required) <= set(schema.get("properties", {})):
            missing = set(required) - set(schema.get("properties", {}))
            errors.append(f"{where}: required names without a property: {sorted(missing)}")
    for name, sub in schema.get("properties", {}).items():
        errors += _meta_check(sub, f"{where}.{name}")
    for key in ("additionalProperties", "items"):
        if key in schema and not isinstance(schema[key], bool):
            errors += _meta_check(schema[key], f"{where}[{key}]")
    if "oneOf" in schema:
        if not isinstance(schema["oneOf"], list) or not schema["oneOf"]:
            errors.append(f"{where}: oneOf must be a non-empty list")
        else:
            for i, sub in enumerate(schema["oneOf"]):
                errors += _meta_check(sub, f"{where}.oneOf[{i}]")
    if "enum" in schema and (not isinstance(schema["enum"], list) or not schema["enum"]):
        errors.append(f"{where}: enum must be a non-empty list")
    for key in ("minimum", "maximum", "minLength"):
        if key in schema and (isinstance(schema[key], bool) or not isinstance(schema[key], (int, float))):
            errors.append(f"{where}: {key} must be a number")
    return errors


def _is(value, kind: str) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return not isinstance(value, bool) and (
            isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        )
    if kind == "number":
        return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, {"object": dict, "array": list, "string": str}[kind])


def validate(value, schema, where: str = "$") -> list[str]:
    """Errors of a JSON value against a schema of the supported subset."""
    errors = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(value, kind) for kind in kinds):
            return [f"{where}: {value!r} is not of type {kinds}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} is not {schema['const']!r}")
    if "oneOf" in schema:
        matching = sum(not validate(value, sub, where) for sub in schema["oneOf"])
        if matching != 1:
            errors.append(f"{where}: matches {matching} of the oneOf schemas, not exactly one")
    if _is(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} > {schema['maximum']}")
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        errors.append(f"{where}: shorter than {schema['minLength']}")
    if isinstance(value, dict):
        errors += [f"{where}: missing {name!r}" for name in schema.get("required", []) if name not in value]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                errors += validate(item, properties[name], f"{where}.{name}")
            elif extra is False:
                errors.append(f"{where}: unexpected {name!r}")
            elif isinstance(extra, dict):
                errors += validate(item, extra, f"{where}.{name}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors += validate(item, schema["items"], f"{where}[{i}]")
    return errors
