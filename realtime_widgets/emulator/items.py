"""The conversation of a realtime session: its items in order, and client items checked on the way in.

Items are stored as the server describes them (`object: realtime.item`). User audio is kept per item,
because `conversation.item.retrieve` returns it; assistant audio is not (the client already has it).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..protocol import SAMPLE_RATE, Protocol
from .errors import ServiceError
from .wire import new_id

ROOT = "root"  # previous_item_id that inserts at the start of the conversation
_ASSISTANT_PARTS = {"output_text", "output_audio", "text", "audio"}


class Items:
    def __init__(self) -> None:
        self._order: list[str] = []
        self._by_id: dict[str, dict[str, Any]] = {}
        self.user_audio: dict[str, np.ndarray] = {}

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._by_id

    def get(self, item_id: Any) -> dict[str, Any] | None:
        return self._by_id.get(item_id) if isinstance(item_id, str) else None

    def values(self) -> Iterator[dict[str, Any]]:
        return (self._by_id[i] for i in self._order)

    def last_id(self) -> str | None:
        return self._order[-1] if self._order else None

    def insert(self, item: dict[str, Any], previous: str | None = None) -> str | None:
        """Insert after `previous` (None: at the end, "root": at the start); returns the id now before it."""
        if previous is None:
            at = len(self._order)
        elif previous == ROOT:
            at = 0
        else:
            at = self._order.index(previous) + 1
        self._order.insert(at, item["id"])
        self._by_id[item["id"]] = item
        return self._order[at - 1] if at else None

    def audio_seconds(self, item_id: str) -> float:
        """Seconds of user audio the item holds (0 for none)."""
        audio = self.user_audio.get(item_id)
        return 0.0 if audio is None else len(audio) / SAMPLE_RATE

    def delete(self, item_id: str) -> None:
        self._order.remove(item_id)
        del self._by_id[item_id]
        self.user_audio.pop(item_id, None)

    def with_audio(self, item: dict[str, Any]) -> dict[str, Any]:
        """The item as `conversation.item.retrieved` shows it: user audio parts carry their audio."""
        audio = self.user_audio.get(item["id"])
        if audio is None:
            return item
        encoded = base64.b64encode(audio.astype("<i2").tobytes()).decode()
        content = [
            {**p, "audio": encoded} if p.get("type") == "input_audio" else p for p in item.get("content", [])
        ]
        return {**item, "content": content}


def check_previous(items: Items, previous: Any) -> str | None:
    if previous is None:
        return None
    if not isinstance(previous, str):
        raise ServiceError(
            "previous_item_id must be a string.", code="invalid_type", param="previous_item_id"
        )
    if previous != ROOT and previous not in items:
        raise ServiceError(
            f"Previous item with id '{previous}' does not exist.",
            code="item_not_found",
            param="previous_item_id",
        )
    return previous


def client_item(
    item: Any, items: Items, decode: Callable[[Any, str], np.ndarray], protocol: Protocol
) -> tuple[dict[str, Any], np.ndarray | None]:
    """A client's `conversation.item.create` item as the server stores it, and its user audio if any."""
    if not isinstance(item, dict):
        raise ServiceError("'item' must be an object.", code="invalid_type", param="item")
    item_id = item.get("id") or new_id("item")
    if not isinstance(item_id, str) or item_id in items:
        raise ServiceError(f"Item id {item_id!r} already exists or is not a string.", param="item.id")
    kind = item.get("type", "message")
    stored: dict[str, Any] = {"id": item_id, "object": "realtime.item", "type": kind, "status": "completed"}
    if kind == "message":
        role = item.get("role")
        parts, audio = _message_content(item.get("content"), role, decode)
        stored.update(role=role, content=parts)
        return stored, audio
    if kind == "function_call":
        fields = ("call_id", "name", "arguments")
        if not all(isinstance(item.get(f), str) for f in fields):
            raise ServiceError(
                "function_call items need string 'call_id', 'name' and 'arguments'.", param="item"
            )
        stored.update({f: item[f] for f in fields})
    elif kind == "function_call_output":
        if not isinstance(item.get("call_id"), str) or not isinstance(item.get("output"), str):
            raise ServiceError("function_call_output items need string 'call_id' and 'output'.", param="item")
        stored.update(call_id=item["call_id"], output=item["output"])
    elif kind == "mcp_approval_response" and protocol == "ga":
        if not isinstance(item.get("approval_request_id"), str) or not isinstance(item.get("approve"), bool):
            raise ServiceError(
                "mcp_approval_response items need a string 'approval_request_id' and a boolean 'approve'.",
                param="item",
            )
        stored = {"id": item_id, "type": kind, "approval_request_id": item["approval_request_id"]}
        stored.update(approve=item["approve"], reason=item.get("reason"))
    else:
        kinds = "message, function_call, function_call_output" + (
            " or mcp_approval_response" if protocol == "ga" else ""
        )
        raise ServiceError(f"item.type {kind!r} is not supported; use {kinds}.", param="item.type")
    return stored, None


def _message_content(
    content: Any, role: Any, decode: Callable[[Any, str], np.ndarray]
) -> tuple[list[dict[str, Any]], np.ndarray | None]:
    if role not in ("user", "assistant", "system"):
        raise ServiceError(f"item.role must be user, assistant or system, got {role!r}.", param="item.role")
    if not isinstance(content, list) or not content:
        raise ServiceError(
            "item.content must be a non-empty array of content parts.",
            code="invalid_type",
            param="item.content",
        )
    parts: list[dict[str, Any]] = []
    audio: np.ndarray | None = None
    for i, part in enumerate(content):
        param = f"item.content[{i}]"
        if not isinstance(part, dict):
            raise ServiceError(f"{param} must be an object.", code="invalid_type", param=param)
        ptype = part.get("type")
        if ptype == "input_text" and role in ("user", "system"):
            parts.append({"type": ptype, "text": _text(part, param)})
        elif ptype == "input_audio" and role == "user":
            samples = decode(part.get("audio"), f"{param}.audio")
            audio = samples if audio is None else np.concatenate([audio, samples])
            parts.append({"type": ptype, "transcript": part.get("transcript")})
        elif ptype == "input_image" and role == "user":
            url = part.get("image_url")
            if not isinstance(url, str) or not url.startswith(("data:image/", "http://", "https://")):
                raise ServiceError(
                    f"{param}.image_url must be a data:image/... URL or an http(s) URL.",
                    param=f"{param}.image_url",
                )
            parts.append({"type": ptype, "image_url": url, "detail": part.get("detail", "auto")})
        elif isinstance(ptype, str) and ptype in _ASSISTANT_PARTS and role == "assistant":
            key = "text" if ptype.endswith("text") else "transcript"
            if ptype.endswith("audio") and part.get("audio") is not None:
                decode(part["audio"], f"{param}.audio")  # checked, not kept: history audio is context only
            parts.append({"type": ptype, key: _text(part, param, key)})
        else:
            raise ServiceError(
                f"{param}.type {ptype!r} is not valid for a {role} message.", param=f"{param}.type"
            )
    return parts, audio


def _text(part: dict[str, Any], param: str, key: str = "text") -> str:
    value = part.get(key)
    if value is None and key == "transcript":
        return ""  # an audio part may come without its transcript
    if not isinstance(value, str):
        raise ServiceError(f"{param}.{key} must be a string.", code="invalid_type", param=f"{param}.{key}")
    return value
