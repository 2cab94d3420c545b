"""Function calling, deterministically: when the emulator calls a tool, and with what arguments.

There is no language model here, so the rule is plain and documented:
- `tool_choice` "none" never calls; a named function (`{"type": "function", "name": N}`, or
  just N in the preview protocol) always calls N; "required" calls the tool the user's words
  name, else the first tool;
- "auto" (the default) calls a tool only when the user's words name it: its name, or its name
  with `_` and `-` read as spaces ("get weather" names `get_weather`), in any case;
- the answer to a `function_call_output` is spoken, not another call, unless a call is forced.
Arguments follow the tool's JSON schema: each required property (all of them when none are
listed) gets its enum's first value, the user's words for a string, the first number in them
for a number or integer (else 0), true for a boolean, [] for an array, {} for an object.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Call:
    name: str
    arguments: str  # JSON text, as the service sends it


def choose_call(
    tools: list[dict[str, Any]], tool_choice: Any, user_text: str | None, answering_output: bool
) -> Call | None:
    """The function call this response makes, or None for a spoken/text reply."""
    functions = [t for t in tools if t.get("type", "function") == "function" and t.get("name")]
    if not functions or tool_choice == "none":
        return None
    if isinstance(tool_choice, dict) or tool_choice not in ("auto", "required"):
        # A forced function: {"type": "function", "name": N} (GA) or the name itself (preview).
        name = tool_choice.get("name") if isinstance(tool_choice, dict) else tool_choice
        forced = next((t for t in functions if t["name"] == name), None)
        return _call(forced, user_text) if forced else None
    named = _named_in(functions, user_text or "")
    if tool_choice == "required":
        return _call(named or functions[0], user_text)
    if answering_output:
        return None
    return _call(named, user_text) if named else None


def _named_in(functions: list[dict[str, Any]], text: str) -> dict[str, Any] | None:
    words = " " + re.sub(r"[^a-z0-9_]+", " ", text.lower()) + " "
    for tool in functions:
        name = tool["name"].lower()
        spoken = re.sub(r"[_\-]+", " ", name).strip()
        if f" {name} " in words or f" {spoken} " in words:
            return tool
    return None


def _call(tool: dict[str, Any], user_text: str | None) -> Call:
    schema = tool.get("parameters") or {}
    properties = schema.get("properties") or {}
    wanted = schema.get("required") or list(properties)
    # A property's schema may be a boolean (true: anything goes).
    arguments = {key: _value(_as_object(properties.get(key)), user_text or "") for key in wanted}
    return Call(tool["name"], json.dumps(arguments))


def _as_object(schema: Any) -> dict[str, Any]:
    return schema if isinstance(schema, dict) else {}


def _value(schema: dict[str, Any], text: str) -> Any:
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind in ("number", "integer"):
        match = _NUMBER.search(text)
        number = float(match.group()) if match else 0
        return int(number) if kind == "integer" else number
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    return text.strip()
