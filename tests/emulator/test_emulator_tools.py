"""Function calling on the emulator, driven by the official SDK on both protocols.

The emulator calls a tool when the user's words name it (or when tool_choice forces one), streams
the arguments like the service, and speaks the answer to a function_call_output.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from emu_helpers import ga_connect, preview_connect, preview_url, raw_connect
from test_emulator_realtime_sdk import collect

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "days", "unit"],
    },
}


@contextlib.asynccontextmanager
async def _connect(emulator, protocol: str, tool_choice) -> AsyncIterator[Any]:
    async with (ga_connect if protocol == "ga" else preview_connect)(emulator) as conn:
        await conn.recv()  # session.created
        if protocol == "ga":
            session: dict[str, Any] = {
                "type": "realtime",
                "output_modalities": ["text"],
                "tools": [WEATHER],
                "tool_choice": tool_choice,
                "audio": {"input": {"turn_detection": None}},
            }
        else:
            if isinstance(tool_choice, dict):
                tool_choice = tool_choice["name"]  # the preview session names the function itself
            session = {
                "modalities": ["text"],
                "tools": [WEATHER],
                "tool_choice": tool_choice,
                "turn_detection": None,
            }
        await conn.session.update(session=session)
        updated = await conn.recv()
        assert updated.type == "session.updated", updated
        yield conn


async def _ask(conn, text: str) -> list:
    await conn.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    )
    await conn.response.create()
    return await collect(conn)


@pytest.mark.parametrize("protocol", ["ga", "preview"])
async def test_a_named_tool_is_called_and_its_output_answered(emulator, protocol):
    async with _connect(emulator, protocol, "auto") as conn:
        events = await _ask(conn, "What is the weather in Oslo for 3 days? Use get weather.")
        types = [e.type for e in events]
        assert "response.function_call_arguments.delta" in types
        deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
        done = next(e for e in events if e.type == "response.function_call_arguments.done")
        assert deltas == done.arguments
        args = json.loads(done.arguments)
        assert args["days"] == 3 and args["unit"] == "celsius" and "Oslo" in args["city"]
        response = events[-1].response
        assert response.status == "completed"
        (item,) = response.output
        assert item.type == "function_call" and item.name == "get_weather" and item.call_id == done.call_id
        assert not any("audio" in t or "output_text.delta" in t or t == "response.text.delta" for t in types)

        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": done.call_id, "output": '{"sky": "clear"}'}
        )
        await conn.response.create()
        reply = await collect(conn)
        text = "".join(
            e.delta for e in reply if e.type in ("response.output_text.delta", "response.text.delta")
        )
        assert text == 'get_weather returned {"sky": "clear"}'
        assert not any(e.type == "response.function_call_arguments.delta" for e in reply)


@pytest.mark.parametrize("protocol", ["ga", "preview"])
@pytest.mark.parametrize(
    ("tool_choice", "calls"),
    [
        ("auto", False),
        ("none", False),
        ("required", True),
        ({"type": "function", "name": "get_weather"}, True),
    ],
)
async def test_tool_choice_decides_when_no_tool_is_named(emulator, protocol, tool_choice, calls):
    async with _connect(emulator, protocol, tool_choice) as conn:
        events = await _ask(conn, "Good morning")
        called = [e for e in events if e.type == "response.function_call_arguments.done"]
        assert bool(called) == calls
        if calls:
            assert json.loads(called[0].arguments)["city"] == "Good morning"


async def test_a_tool_without_a_name_is_refused_and_the_session_kept(emulator):
    raw = await raw_connect(preview_url(emulator))
    try:
        await raw.send({"type": "session.update", "session": {"tools": [WEATHER]}})
        await raw.until("session.updated")
        await raw.send(
            {"type": "session.update", "session": {"tools": [{"type": "function", "description": "x"}]}}
        )
        error = (await raw.until("error"))[-1]["error"]
        assert error["param"] == "session.tools[0].name" and "Missing required parameter" in error["message"]
        await raw.send({"type": "session.update", "session": {"voice": "echo"}})
        session = (await raw.until("session.updated"))[-1]["session"]
        assert [t["name"] for t in session["tools"]] == ["get_weather"]  # the earlier tools stay
    finally:
        await raw.ws.close()
