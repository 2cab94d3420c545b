"""Reconnecting: the SDK's policy (which closes are recoverable, its hook), backoff that honours
Retry-After, one reconnect at a time, and history replay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..conversation import Turn
from ..errors import ConnectionFailed, ServerError
from . import client_events
from .dispatch import Dispatch
from .link import Link

try:  # the SDK's reconnection policy and hook types (openai >= 3.x)
    from openai.types.websocket_reconnection import (
        ReconnectingEvent,
        ReconnectingOverrides,
        is_recoverable_close,
    )
except ImportError:  # pragma: no cover - older SDKs: the same shapes, kept here
    from dataclasses import dataclass as _dataclass

    @_dataclass(frozen=True)
    class ReconnectingEvent:  # type: ignore[no-redef]
        attempt: int
        max_attempts: int
        delay: float
        close_code: int
        extra_query: dict[str, Any]
        extra_headers: dict[str, Any]

    ReconnectingOverrides = dict  # type: ignore[misc,assignment]

    def is_recoverable_close(code: int) -> bool:
        return code in (1001, 1005, 1006, 1011, 1012, 1013, 1015)


log = logging.getLogger(__name__)

OnReconnecting = Callable[[ReconnectingEvent], "ReconnectingOverrides | None"]


class ReconnectPolicy:
    """When and how to reopen after a lost connection; holds the handshake's extra query and headers."""

    def __init__(self, auto: bool, on_reconnecting: OnReconnecting | None, max_attempts: int) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_reconnect_attempts must be at least 1, got {max_attempts}")
        self.auto = auto or on_reconnecting is not None
        self.on_reconnecting = on_reconnecting
        self.max_attempts = max_attempts
        self.extra_query: dict[str, Any] = {}
        self.extra_headers: dict[str, Any] = {}

    def wants(self, status: str, close_code: int) -> bool:
        return self.auto and status == "closed" and is_recoverable_close(close_code)

    async def run(
        self,
        close_code: int,
        reconnect: Callable[[], Awaitable[object]],
        closing: Callable[[], bool],
        connected: Callable[[], bool],
    ) -> bool:
        """Reopen with exponential backoff, asking `on_reconnecting` before each attempt.

        A refusal that says when to come back (HTTP 429 or 503 with Retry-After) delays the next
        attempt at least that long. Returns whether the session is connected again (by this loop, or
        by a `reconnect()` call while it waited).
        """
        retry_after = 0.0
        for attempt in range(1, self.max_attempts + 1):
            delay = max(min(0.5 * 2 ** (attempt - 1), 8.0), retry_after)
            if self.on_reconnecting is not None and not self._ask(attempt, delay, close_code):
                return False
            await asyncio.sleep(delay)
            if closing():
                return False
            if connected():
                return True
            try:
                await reconnect()
                return True
            except Exception as exc:
                retry_after = (exc.retry_after or 0.0) if isinstance(exc, ConnectionFailed) else 0.0
                log.warning("reconnect attempt %d/%d failed: %s", attempt, self.max_attempts, exc)
        log.error("gave up reconnecting after %d attempts", self.max_attempts)
        return False

    def _ask(self, attempt: int, delay: float, close_code: int) -> bool:
        """The hook's answer: False to stop; its overrides apply to the next handshake."""
        assert self.on_reconnecting is not None
        event = ReconnectingEvent(
            attempt=attempt,
            max_attempts=self.max_attempts,
            delay=delay,
            close_code=close_code,
            extra_query=dict(self.extra_query),
            extra_headers=dict(self.extra_headers),
        )
        try:
            overrides = self.on_reconnecting(event) or {}
        except Exception:
            log.exception("on_reconnecting failed; not reconnecting")
            return False
        if overrides.get("abort"):
            log.info("on_reconnecting aborted the reconnect (attempt %d)", attempt)
            return False
        self.extra_query = dict(overrides.get("extra_query", self.extra_query))
        self.extra_headers = dict(overrides.get("extra_headers", self.extra_headers))
        return True


async def replay_history(turns: list[Turn], link: Link, dispatch: Dispatch) -> None:
    """Give a new server session what was said, as items under the same ids."""
    items = history_items(turns, link.connection.protocol)
    if not items:
        return
    last = next(item["id"] for item in reversed(items) if "id" in item)  # outputs have none
    # `added` exists in both protocols (preview: conversation.item.created); `done` is GA only.
    waiter = dispatch.expect(lambda e: e.type == "conversation.item.added" and e.item_id == last, set())
    for item in items:
        waiter.event_ids.add(await link.send(client_events.item_create(item)))
    try:
        await dispatch.wait(waiter, "conversation.item.added")
    except ServerError as exc:  # the model misses some context; the session itself is fine
        log.warning("replaying the conversation after a reconnect was incomplete: %s", exc)


def history_items(turns: list[Turn], protocol: str) -> list[dict[str, Any]]:
    """What was said in `turns`, as conversation items a new server session can be given."""
    assistant_part = "output_text" if protocol == "ga" else "text"
    items: list[dict[str, Any]] = []
    for turn in turns:
        said = turn.user_text or turn.user_transcript
        if said and turn.user_item_id:
            content = [{"type": "input_text", "text": said}]
            items.append({"id": turn.user_item_id, "type": "message", "role": "user", "content": content})
        for call in turn.tool_calls:
            call_item = {"type": "function_call", "call_id": call.call_id, "name": call.name}
            items.append({"id": call.item_id, **call_item, "arguments": call.arguments})
            if call.output is not None:
                items.append({"type": "function_call_output", "call_id": call.call_id, "output": call.output})
        heard = turn.heard_transcript or turn.text
        if heard and turn.item_id:
            content = [{"type": assistant_part, "text": heard}]
            items.append({"id": turn.item_id, "type": "message", "role": "assistant", "content": content})
    return items
