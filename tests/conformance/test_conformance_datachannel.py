"""The conformance tour over a WebRTC data channel (aiortc as the page): every event that arrives on the
channel, and on the sideband WebSocket, validates strictly against the openai SDK's GA types, including
the WebRTC-only `output_audio_buffer.started/stopped/cleared` the WebSocket tour never sees."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from sdk_wire import check, of_type, speech

from tests.emulator.test_emulator_webrtc import mint
from tests.emulator.webrtc_client import Caller, rest_client

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


class Channel:
    """The caller's data channel, read in order; each event is validated as it is read."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller
        self.read = 0

    def send(self, event: dict[str, Any]) -> None:
        self.caller.send(event)

    async def until(self, *kinds: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        out: list[dict[str, Any]] = []
        while True:
            while self.read < len(self.caller.events):
                raw = self.caller.events[self.read]
                self.read += 1
                check("ga", raw)
                out.append(raw)
                if raw["type"] in kinds:
                    return out
            if time.monotonic() > deadline:
                raise AssertionError(f"none of {kinds} in {timeout}s; got {[e['type'] for e in out]}")
            await asyncio.sleep(0.02)

    async def drain(self, quiet_s: float = 0.4) -> list[dict[str, Any]]:
        """Everything that arrives until the channel is quiet for `quiet_s`, validated."""
        while True:
            before = len(self.caller.events)
            await asyncio.sleep(quiet_s)
            if len(self.caller.events) == before:
                break
        out = self.caller.events[self.read :]
        self.read += len(out)
        for raw in out:
            check("ga", raw)
        return out


@pytest.fixture
async def channel(emulator):
    caller = await Caller.connect(emulator, await mint(emulator))
    yield Channel(caller)
    await caller.close()


async def test_session_update_valid_then_invalid(channel):
    assert (await channel.until("session.created"))[-1]["session"]["type"] == "realtime"
    channel.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}})
    assert (await channel.until("session.updated"))[-1]["session"]["instructions"] == "Be brief."
    bad = {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 3}}}}
    channel.send({"type": "session.update", "session": bad, "event_id": "bad-1"})
    error = (await channel.until("error"))[-1]
    assert error["error"]["param"].endswith("turn_detection.threshold")
    assert error["error"]["event_id"] == "bad-1"


async def test_spoken_turn_over_the_track_with_transcription(channel):
    channel.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}},
        }
    )
    await channel.until("session.updated")
    channel.caller.mic.say(speech("what a lovely day"))
    events = await channel.until("output_audio_buffer.stopped", timeout=40)
    events += await channel.drain()
    kinds = [e["type"] for e in events]
    assert kinds.index("input_audio_buffer.speech_stopped") < kinds.index("input_audio_buffer.committed")
    assert kinds.index("response.content_part.added") < kinds.index("output_audio_buffer.started")
    assert kinds.index("response.done") < kinds.index("output_audio_buffer.stopped")
    completed = of_type(events, "conversation.item.input_audio_transcription.completed")
    assert completed and completed[0]["transcript"].strip().lower().rstrip(".") == "what a lovely day"
    assert not of_type(events, "response.output_audio.delta") and not of_type(events, "error")


async def test_text_turn_then_clear_then_truncate(emulator, channel):
    emulator.reply = lambda text, seconds: "A rather long sentence about the sea and the sky. " * 4
    channel.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
        }
    )
    await channel.until("session.updated")
    channel.send(
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "talk"}]},
        }
    )
    channel.send({"type": "response.create"})
    started = (await channel.until("output_audio_buffer.started"))[-1]
    await asyncio.sleep(0.6)
    channel.send({"type": "output_audio_buffer.clear"})
    events = await channel.until("conversation.item.truncated")
    assert of_type(events, "output_audio_buffer.cleared")[0]["response_id"] == started["response_id"]
    assert of_type(events, "response.done")[0]["response"]["status"] == "cancelled"
    assert 300 <= events[-1]["audio_end_ms"] <= 2500
    events += await channel.drain()
    assert not of_type(events, "error") and not of_type(events, "output_audio_buffer.stopped")


async def test_function_call_answered_over_the_sideband(emulator, channel):
    """The sideband's events validate too; the tool's output is sent there, the answer heard on the track."""
    await channel.until("session.created")
    async with (
        rest_client(emulator) as client,
        client.realtime.connect(call_id=channel.caller.call_id) as side,
    ):
        await side.session.update(session={"type": "realtime", "tools": [WEATHER_TOOL]})
        seen = []
        while True:
            raw = json.loads(await asyncio.wait_for(side.recv_bytes(), 30))
            check("ga", raw)
            seen.append(raw["type"])
            if raw["type"] == "session.updated":
                channel.send(
                    {
                        "type": "conversation.item.create",
                        "item": {
                            "type": "message",
                            "role": "user",
                            "content": [{"type": "input_text", "text": "get weather in Oslo"}],
                        },
                    }
                )
                channel.send({"type": "response.create"})
            elif raw["type"] == "response.function_call_arguments.done":
                output = {"type": "function_call_output", "call_id": raw["call_id"], "output": "Snow."}
                await side.conversation.item.create(item=output)
                await side.response.create()
            elif raw["type"] == "output_audio_buffer.stopped":
                break
    events = await channel.until("output_audio_buffer.stopped")
    assert of_type(events, "response.function_call_arguments.done")  # unfiltered: the page sees it too
    assert "conversation.item.added" in seen and not of_type(events, "error")
