"""openai-agents' realtime stack, unchanged, against the emulator: a tool turn by text and a spoken turn.

The agent runs with its own defaults (semantic VAD, gpt-4o-mini-transcribe transcription, voice ash);
only where to connect is configured. Tracing is off so nothing leaves the machine. One session runs
both turns once per module; the tests read what it recorded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pydantic
import pytest
from agents import function_tool, set_tracing_disabled
from agents.realtime import RealtimeAgent, RealtimeRunner
from sdk_wire import check, speech
from strict import TALLY


@dataclass
class AgentRecord:
    weather_calls: list[str] = field(default_factory=list)
    events: list = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the agent session's `error` events, as words
    replies: int = 0  # response.done with an assistant message
    history: list = field(default_factory=list)


def _words(error) -> str:
    if isinstance(error, pydantic.ValidationError):
        first = error.errors()[0]
        return f"validation: {'.'.join(map(str, first['loc']))}: {first['msg']}"
    return str(getattr(error, "message", None) or error)


def _is_reply_done(event) -> bool:
    if event.type != "raw_model_event" or event.data.type != "raw_server_event":
        return False
    raw = event.data.data
    return raw.get("type") == "response.done" and raw["response"]["output"][0]["type"] == "message"


async def run_agent(emulator) -> AgentRecord:
    record = AgentRecord()

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        record.weather_calls.append(city)
        return f"Sunny in {city}."

    set_tracing_disabled(True)
    agent = RealtimeAgent(name="Assistant", instructions="Answer briefly.", tools=[get_weather])
    runner = RealtimeRunner(agent, config={"tracing_disabled": True})
    session = await runner.run(
        model_config={
            "url": f"ws://127.0.0.1:{emulator.port}/openai/v1/realtime?model={emulator.deployment}",
            "api_key": emulator.api_key,
        }
    )

    async def until_reply(timeout: float = 30.0) -> None:
        async def pump():
            async for event in session:
                record.events.append(event)
                if event.type == "error":
                    record.errors.append(_words(event.error))
                if event.type == "raw_model_event" and event.data.type == "raw_server_event":
                    check("ga", event.data.data)
                if _is_reply_done(event):
                    record.replies += 1
                    return

        await asyncio.wait_for(pump(), timeout)

    async def settle(seconds: float) -> None:
        try:
            await until_reply(seconds)
        except TimeoutError:
            pass

    async with session:
        await session.send_message("get weather in Paris")
        await until_reply()
        pcm = speech("what a lovely day", tail_ms=1500).astype("<i2").tobytes()
        for i in range(0, len(pcm), 4800):  # 100 ms chunks, as a microphone sends them
            await session.send_audio(pcm[i : i + 4800])
        await until_reply()
        await settle(0.5)  # late transcripts and errors still count
        # The public view of the agent's history is the latest history_updated event.
        updates = [e for e in record.events if e.type == "history_updated"]
        record.history = list(updates[-1].history) if updates else []
    TALLY.notes.append(f"openai-agents: {len(record.errors)} error events")
    TALLY.notes += [f"  {message}" for message in record.errors]
    return record


@pytest.fixture(scope="module")
def agent_record(emulator):
    return asyncio.run(run_agent(emulator))


def user_audio_transcripts(history) -> list[str]:
    return [
        part.transcript or ""
        for item in history
        if item.type == "message" and item.role == "user"
        for part in item.content
        if part.type == "input_audio"
    ]


def test_agents_text_turn_calls_the_tool_and_is_answered(agent_record):
    assert agent_record.weather_calls and "Paris" in agent_record.weather_calls[0]
    assert agent_record.replies == 2
    tool_ends = [e for e in agent_record.events if e.type == "tool_end"]
    assert len(tool_ends) == 1 and tool_ends[0].output == f"Sunny in {agent_record.weather_calls[0]}."


def test_agents_spoken_turn_is_heard_and_answered(agent_record):
    assert len(user_audio_transcripts(agent_record.history)) == 1
    assert any(e.type == "audio" for e in agent_record.events)


def test_agents_session_has_no_error_events(agent_record):
    assert agent_record.errors == []


def test_agents_history_keeps_the_spoken_user_transcript(agent_record):
    transcripts = user_audio_transcripts(agent_record.history)
    assert transcripts and "lovely day" in transcripts[0].lower()
