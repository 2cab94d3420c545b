"""Small readers of event payloads shared by the user and response sides."""

from __future__ import annotations

from typing import Any, overload

from ..protocol import assistant_part_kind
from .turn import Turn

# response.status on the wire → Turn.status ("incomplete" means a token limit: the turn did end).
RESPONSE_STATUS = {
    "completed": "completed",
    "incomplete": "completed",
    "cancelled": "cancelled",
    "failed": "failed",
    "in_progress": "in_progress",
}


def parts(item: dict[str, Any]) -> list[dict[str, Any]]:
    """An item's content parts (a missing or malformed content reads as none)."""
    content = item.get("content")
    return [c for c in content if isinstance(c, dict)] if isinstance(content, list) else []


def input_texts(item: dict[str, Any]) -> list[str]:
    return [text(c.get("text")) for c in parts(item) if c.get("type") == "input_text"]


def fill_from_parts(turn: Turn, item_parts: list[dict[str, Any]]) -> bool:
    """Take the assistant's words from content parts (either spelling) when no delta brought them."""
    changed = False
    for part in item_parts:
        kind = assistant_part_kind(part.get("type"))
        if kind == "audio" and not turn.transcript and isinstance(part.get("transcript"), str):
            turn.transcript = part["transcript"]
            changed = True
        elif kind == "text" and not turn.text and isinstance(part.get("text"), str):
            turn.text = part["text"]
            changed = True
    return changed


def text(value: object) -> str:
    return value if isinstance(value, str) else ""


@overload
def ms(value: object, default: float) -> float: ...


@overload
def ms(value: object, default: None = None) -> float | None: ...


def ms(value: object, default: float | None = None) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return default


def error_dict(error: object, fallback: str) -> dict[str, Any]:
    if isinstance(error, dict):
        return error
    return {"message": str(error) if error else fallback}
