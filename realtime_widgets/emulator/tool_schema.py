"""The shape of a function tool's `parameters`: a JSON Schema of type "object", checked keyword by keyword.

Only the keywords whose values are themselves schemas, lists or names are checked (what the emulator
reads to make arguments, and what a typo breaks); other keywords pass, as JSON Schema allows. The
`jsonschema` package's metaschema check was the first choice, but importing it takes about 3 s on a
busy 2-core machine (its optional `rfc3987_syntax` builds a grammar at import), which every first
session.update with tools would pay.
"""

from __future__ import annotations

from typing import Any

TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
_SCHEMA = ("items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


class SchemaProblem(ValueError):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"at {where}: {message}")


def check_parameters(schema: Any, where: str) -> None:
    """Raise SchemaProblem (saying where inside `schema`) unless it is an object schema."""
    if not isinstance(schema, dict):
        raise SchemaProblem(where, f"must be a JSON Schema object, got {type(schema).__name__}")
    if schema.get("type") != "object":
        raise SchemaProblem(
            where, f"schema must be a JSON Schema of 'type: \"object\"', got {schema.get('type')!r}"
        )
    check_schema(schema, where)


def check_schema(schema: Any, where: str) -> None:
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise SchemaProblem(where, f"a schema must be an object or a boolean, got {_json(schema)}")
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    if (kind is not None and not kinds) or not all(k in TYPES for k in kinds):
        raise SchemaProblem(
            f"{where}.type", f"type must be one of {', '.join(TYPES)} (or a list of them), got {_json(kind)}"
        )
    required = schema.get("required")
    if required is not None and (
        not isinstance(required, list) or not all(isinstance(r, str) for r in required)
    ):
        raise SchemaProblem(
            f"{where}.required", f"required must be an array of property names, got {_json(required)}"
        )
    if "enum" in schema and not isinstance(schema["enum"], list):
        raise SchemaProblem(f"{where}.enum", f"enum must be an array, got {_json(schema['enum'])}")
    for key in _SCHEMA:
        if key in schema:
            check_schema(schema[key], f"{where}.{key}")
    for key in _SCHEMA_LISTS:
        if key in schema:
            value = schema[key]
            if not isinstance(value, list) or not value:
                raise SchemaProblem(
                    f"{where}.{key}", f"{key} must be a non-empty array of schemas, got {_json(value)}"
                )
            for i, item in enumerate(value):
                check_schema(item, f"{where}.{key}[{i}]")
    for key in _SCHEMA_MAPS:
        if key in schema:
            value = schema[key]
            if not isinstance(value, dict):
                raise SchemaProblem(
                    f"{where}.{key}", f"{key} must be an object of schemas, got {_json(value)}"
                )
            for name, item in value.items():
                check_schema(item, f"{where}.{key}.{name}")


def _json(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"
