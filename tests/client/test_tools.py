"""Function calling through RealtimeSession: recorded calls, answers by hand or by on_tool handlers."""

from __future__ import annotations

import asyncio
import json

import pytest

from realtime_widgets import ToolCall
from realtime_widgets.config import ConnectionConfig
from realtime_widgets.conversation import Conversation
from realtime_widgets.session import RealtimeSession
from realtime_widgets.session_config import SessionConfig

PROTOCOLS = pytest.mark.parametrize("protocol", ["ga", "preview"])

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    },
}


def session(emulator, protocol: str = "ga", **config) -> RealtimeSession:
    return RealtimeSession(
        ConnectionConfig.for_emulator(emulator, protocol=protocol),
        SessionConfig(tools=[WEATHER], output_modalities=["text"], **config),
    )


@PROTOCOLS
async def test_a_call_is_recorded_and_answered_by_hand(emulator, protocol, tmp_path) -> None:
    async with session(emulator, protocol) as s:
        turn = await s.send_text("Use get weather for Lisbon over 2 days")
        assert turn.status == "completed" and turn.text == "" and turn.audio.size == 0
        (call,) = turn.tool_calls
        assert call.name == "get_weather" and call.args["days"] == 2 and call.output is None
        reply = await s.send_tool_output(call, {"sky": "clear", "celsius": 24})
        assert reply.index == turn.index + 1 and reply.status == "completed"
        assert reply.text == 'get_weather returned {"sky": "clear", "celsius": 24}'
        assert call.output == '{"sky": "clear", "celsius": 24}'  # the record shows the answer
        plain = await s.send_text("Thank you")
        assert plain.tool_calls == [] and plain.text == "You said: Thank you"
        s.conversation.save(tmp_path / "saved")
    loaded = Conversation.load(tmp_path / "saved")
    assert loaded.turns[turn.index].tool_calls == [call]


@PROTOCOLS
async def test_on_tool_handlers_answer_and_send_text_returns_the_reply(emulator, protocol) -> None:
    seen: list[dict] = []

    async def get_weather(city: str, days: int) -> dict:
        seen.append({"city": city, "days": days})
        await asyncio.sleep(0.01)
        return {"forecast": "rain", "days": days}

    async with session(emulator, protocol) as s:
        remove = s.on_tool("get_weather", get_weather)
        reply = await s.send_text("What does get_weather say for Bergen, 5 days?")
        assert seen == [{"city": "What does get_weather say for Bergen, 5 days?", "days": 5}]
        assert reply.text == 'get_weather returned {"forecast": "rain", "days": 5}'
        call_turn = s.conversation.turns[reply.index - 1]
        assert call_turn.tool_calls[0].output == json.dumps({"forecast": "rain", "days": 5})

        remove()  # without a handler the call comes back to the caller, unanswered
        turn = await s.send_text("get weather again please")
        assert turn.tool_calls and turn.tool_calls[0].output is None


async def test_a_failing_handler_becomes_an_error_output(emulator) -> None:
    def get_weather(city: str, days: int) -> str:
        raise ConnectionError("the weather service is down")

    async with session(emulator) as s:
        s.on_tool("get_weather", get_weather)
        reply = await s.send_text("get weather for Rome")
        expected = {"error": "ConnectionError: the weather service is down"}
        assert reply.text == f"get_weather returned {json.dumps(expected)}"


async def test_bad_tool_input_gets_a_clear_error(emulator) -> None:
    async with session(emulator) as s:
        turn = await s.send_text("get weather for Paris")
        with pytest.raises(ValueError, match="no function call 'call_nope'"):
            await s.send_tool_output("call_nope", "sunny")
        with pytest.raises(TypeError, match="JSON-serialisable"):
            await s.send_tool_output(turn.tool_calls[0], object())
        with pytest.raises(TypeError, match="callable"):
            s.on_tool("get_weather", "not a function")  # type: ignore[arg-type]
        # Nothing was lost: the call is still there to answer.
        reply = await s.send_tool_output(turn.tool_calls[0], "sunny")
        assert reply.text == "get_weather returned sunny"
    with pytest.raises(ValueError, match="not valid JSON"):
        _ = ToolCall("f", "call_1", "{oops").args
