"""Function calling: calls are recorded on turns and answered by `on_tool` handlers or by hand."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Callable
from typing import Any

from ..conversation import Conversation, ToolCall, Turn
from ..errors import RequestTimeout
from . import client_events
from .dispatch import Dispatch
from .link import Link
from .timeouts import abandon_response

log = logging.getLogger(__name__)


class ToolCalling:
    """Answers function calls of one session's `conversation`, sending through `link`."""

    def __init__(self, conversation: Conversation, link: Link, dispatch: Dispatch) -> None:
        self._conversation = conversation
        self._link = link
        self._dispatch = dispatch
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._replies: dict[str, asyncio.Future[Any]] = {}  # response id of a call -> the Turn replying to it

    def on_tool(self, name: str, fn: Callable[..., Any]) -> Callable[[], None]:
        if not isinstance(name, str) or not name:
            raise ValueError(f"on_tool needs the function's name, got {name!r}")
        if not callable(fn):
            raise TypeError(f"on_tool needs a callable for {name!r}, got {type(fn).__name__}")
        self._handlers[name] = fn

        def remove() -> None:
            if self._handlers.get(name) is fn:
                del self._handlers[name]

        return remove

    async def send_tool_output(self, call: ToolCall | str, output: Any, *, respond: bool = True) -> Turn:
        call_id = call.call_id if isinstance(call, ToolCall) else call
        owner = next(
            (t for t in reversed(self._conversation.turns) for c in t.tool_calls if c.call_id == call_id),
            None,
        )
        if owner is None:
            raise ValueError(
                f"no function call {call_id!r} in this conversation; answer one of turn.tool_calls"
            )
        if not isinstance(output, str):
            try:
                output = json.dumps(output)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"a tool output must be a string or JSON-serialisable, got {type(output).__name__}: {exc}"
                ) from None
        link = self._link
        link.require_open()
        item_id, response_id = link.new_id(), link.new_id()
        turns = self._conversation.turns
        first = len(turns)
        waiter = self._dispatch.expect(
            lambda e: e.type == "response.done" and len(turns) > first and turns[first].done,
            {item_id, response_id},
        )
        future = link.enqueue(
            client_events.item_create(client_events.function_output(call_id, output), item_id)
        )
        if respond:
            link.enqueue(client_events.response_create(response_id))
        await future
        if not respond:
            self._dispatch.forget(waiter)
            return owner
        try:
            await self._dispatch.wait(waiter, "response.done")
        except RequestTimeout as err:
            reply = lambda: turns[first] if len(turns) > first else None  # noqa: E731
            raise await abandon_response(reply, err, link, self._dispatch) from None
        return turns[first]

    def after_response(self, turn: Turn) -> None:
        """A response is done: answer its calls in the background when handlers own them all."""
        if self._handled_calls(turn):
            self._dispatch.spawn(self._answer(turn))

    async def follow(self, turn: Turn) -> Turn:
        """`turn`, or the reply after the calls handlers answered (and after its calls ...)."""
        timeout = self._dispatch.timeout
        while self._handled_calls(turn):
            try:
                turn = await asyncio.wait_for(asyncio.shield(self._reply(turn)), timeout)
            except asyncio.TimeoutError:
                raise RequestTimeout(
                    f"no reply after the tool calls {[c.name for c in turn.tool_calls]} within {timeout:g} s "
                    "(a handler may still be running; s.event_log shows what did arrive)",
                    awaited="the reply after the tool calls",
                    timeout=timeout,
                ) from None
        return turn

    def _handled_calls(self, turn: Turn) -> list[ToolCall]:
        """The calls of `turn` that handlers answer (all of them, or none are answered)."""
        calls = turn.tool_calls
        if turn.status != "completed" or not calls or any(c.name not in self._handlers for c in calls):
            return []
        return calls

    def _reply(self, turn: Turn) -> asyncio.Future[Any]:
        """The Turn that follows `turn`'s handled calls: one future, made by whoever asks first."""
        assert self._link.loop is not None and turn.response_id is not None
        future = self._replies.get(turn.response_id)
        if future is None:
            future = self._replies[turn.response_id] = self._link.loop.create_future()
            future.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: logged elsewhere
        return future

    async def _answer(self, turn: Turn) -> None:
        reply = self._reply(turn)
        try:
            calls = self._handled_calls(turn)
            for i, call in enumerate(calls):
                follow = await self.send_tool_output(call, await self._run(call), respond=i == len(calls) - 1)
            if not reply.done():
                reply.set_result(follow)
        except Exception as exc:
            if not reply.done():
                reply.set_exception(exc)
            raise

    async def _run(self, call: ToolCall) -> str:
        try:
            result = self._handlers[call.name](**call.args)
            if inspect.isawaitable(result):
                result = await result
            return result if isinstance(result, str) else json.dumps(result)
        except Exception as exc:
            log.warning("tool %s(%s) failed: %s: %s", call.name, call.arguments, type(exc).__name__, exc)
            return json.dumps({"error": f"{type(exc).__name__}: {exc}"})
