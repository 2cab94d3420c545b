"""WebRTC calls beyond one turn: barge-in and output_audio_buffer.clear (truncated at what was played),
the sideband WebSocket (all events, a function tool answered over it) and `webrtcfilter=on`."""

from __future__ import annotations

import asyncio
import json
import time

from realtime_widgets.emulator.voice import speak
from realtime_widgets.emulator.webrtc_call import WEBRTC_FILTERED_EVENTS
from tests.emulator.test_emulator_webrtc import mint
from tests.emulator.webrtc_client import Caller, rest_client, voiced_seconds

LONG_REPLY = " ".join(["The quick brown fox jumps over the lazy dog."] * 6)
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


async def _play_then_interrupt(emulator, caller: Caller, interrupt) -> tuple[dict, float, float]:
    """A long reply; after about a second of it, `interrupt()`. Returns the truncation, the ms of the
    reply's audio the caller heard before the clear, and how long the reply would have been."""
    emulator.reply = lambda text, seconds: LONG_REPLY
    caller.mic.say(speak("Tell me a long story please.", "echo").audio)
    started = await caller.until("output_audio_buffer.started", timeout=30)
    mark = len(caller.events)
    first_audio = time.monotonic()
    await asyncio.sleep(1.5)
    heard_before = voiced_seconds(caller.heard_audio(since=first_audio - 0.5))
    await interrupt()
    cleared = await caller.until("output_audio_buffer.cleared", start=mark)
    assert cleared["response_id"] == started["response_id"]
    truncated = await caller.until("conversation.item.truncated", start=mark)
    return truncated, heard_before * 1000, len(speak(LONG_REPLY, "alloy").audio) / 24


async def test_barge_in_clears_the_output_buffer_and_truncates_at_what_was_played(emulator):
    caller = await Caller.connect(emulator, await mint(emulator))
    try:

        async def speak_over() -> None:
            caller.mic.say(speak("Stop, stop.", "echo").audio)

        truncated, heard_ms, full_ms = await _play_then_interrupt(emulator, caller, speak_over)
        done = [e for e in caller.events if e["type"] == "response.done"][0]
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "turn_detected"
        # Played: about 1.5 s plus the VAD's start delay; far less than the whole reply was.
        assert 1200 <= truncated["audio_end_ms"] <= 3500 < full_ms, truncated
        assert heard_ms <= truncated["audio_end_ms"] + 100  # the caller heard no more than that
        cut = time.monotonic()
        await asyncio.sleep(0.3)
        # After the clear, the first reply's audio stops (the next reply needs the next turn first).
        assert voiced_seconds(caller.heard_audio(since=cut + 0.15)) < 0.2
    finally:
        await caller.close()


async def test_output_audio_buffer_clear_from_the_page(emulator):
    caller = await Caller.connect(emulator, await mint(emulator))
    try:

        async def clear() -> None:
            caller.send({"type": "output_audio_buffer.clear"})

        truncated, _, full_ms = await _play_then_interrupt(emulator, caller, clear)
        assert 1000 <= truncated["audio_end_ms"] < full_ms
        done = [e for e in caller.events if e["type"] == "response.done"][0]
        assert done["response"]["status"] == "cancelled"
    finally:
        await caller.close()


async def test_sideband_sees_all_events_and_answers_a_tool_while_the_page_is_filtered(emulator):
    caller = await Caller.connect(emulator, await mint(emulator), query="?webrtcfilter=on")
    client = rest_client(emulator)
    try:
        async with client.realtime.connect(call_id=caller.call_id) as sideband:
            await sideband.session.update(
                session={"type": "realtime", "tools": [WEATHER], "tool_choice": "auto"}
            )
            seen: list[str] = []
            try:  # a turn that never comes fails here, naming what was seen, instead of hanging
                await asyncio.wait_for(_answer_the_tool(sideband, caller, seen), 30)
            except asyncio.TimeoutError:
                raise AssertionError(f"no tool turn within 30 s; the sideband saw {seen[-40:]}") from None
        assert {"input_audio_buffer.committed", "response.created", "rate_limits.updated"} <= set(seen)
        await caller.until("output_audio_buffer.stopped")
        page = set(caller.types())
        assert page <= WEBRTC_FILTERED_EVENTS, page - WEBRTC_FILTERED_EVENTS
        assert "response.output_audio_transcript.done" in page and "session.created" not in page
        assert voiced_seconds(caller.heard_audio()) > 0.5  # the spoken answer to the tool's output
    finally:
        await client.close()
        await caller.close()


async def _answer_the_tool(sideband, caller: Caller, seen: list[str]) -> None:
    """Speak a weather question once the tools are set, answer the tool call, until the answer is played."""
    async for event in sideband:
        seen.append(event.type)
        if event.type == "session.updated":
            assert [t.name for t in event.session.tools] == ["get_weather"]
            caller.mic.say(speak("Get weather for Paris.", "echo").audio)
        if event.type == "response.function_call_arguments.done":
            assert event.name == "get_weather" and "city" in json.loads(event.arguments)
            await sideband.conversation.item.create(
                item={"type": "function_call_output", "call_id": event.call_id, "output": "Sunny, 21 C."}
            )
            await sideband.response.create()
        if event.type == "output_audio_buffer.stopped" and "response.function_call_arguments.done" in seen:
            return


async def test_sideband_to_an_unknown_call_is_404(emulator):
    import websockets

    url = f"ws://127.0.0.1:{emulator.port}/openai/v1/realtime?call_id=rtc_nope"
    try:
        async with websockets.connect(url, additional_headers={"api-key": "emulator-key"}):
            raise AssertionError("connected to a call that does not exist")
    except websockets.InvalidStatus as exc:
        assert exc.response.status_code == 404
