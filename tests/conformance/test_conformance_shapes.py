"""The server event shapes third-party clients trip on, each checked on its own and without tolerance.

A check whose (protocol, type, field) is in `KNOWN_DEVIATIONS` is an expected failure today; when the
emulator is fixed it XPASSes, and removing the entry removes the mark and makes the tour strict there.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest
from sdk_wire import KNOWN_DEVIATIONS, Wire, connect, of_type, speech
from strict import validate
from test_conformance_tour import WEATHER_TOOL, session, user_text


async def text_turn(wire: Wire) -> list[dict]:
    await wire.conn.session.update(session=session(wire.protocol, vad=None))
    await wire.until("session.updated")
    await wire.conn.conversation.item.create(item=user_text("good morning"))
    await wire.conn.response.create()
    return await wire.until("response.done")


async def spoken_turn_with_transcription(wire: Wire) -> list[dict]:
    vad = {"type": "server_vad", "silence_duration_ms": 300}
    await wire.conn.session.update(session=session(wire.protocol, vad=vad, transcription="whisper-1"))
    await wire.until("session.updated")
    await wire.append_speech(speech("what a lovely day"))
    return await wire.until("conversation.item.input_audio_transcription.completed")


async def tool_turn(wire: Wire) -> list[dict]:
    await wire.conn.session.update(session=session(wire.protocol, vad=None, tools=[WEATHER_TOOL]))
    await wire.until("session.updated")
    await wire.conn.conversation.item.create(item=user_text("get weather in Paris"))
    await wire.conn.response.create()
    return await wire.until("response.done")


def part_type_is_declared(event: dict) -> None:
    assert event["part"]["type"] in ("audio", "text"), event["part"]


def usage_is_present(event: dict) -> None:
    assert event["usage"]["type"] in ("tokens", "duration"), event.get("usage")


def name_is_present(event: dict) -> None:
    assert event["name"] == "get_weather", event


CHECKS = [
    ("ga", "response.content_part.added", "part.type", text_turn, part_type_is_declared),
    ("ga", "response.content_part.done", "part.type", text_turn, part_type_is_declared),
    ("preview", "response.content_part.added", "part.type", text_turn, part_type_is_declared),
    ("preview", "response.content_part.done", "part.type", text_turn, part_type_is_declared),
    (
        "ga",
        "conversation.item.input_audio_transcription.completed",
        "usage",
        spoken_turn_with_transcription,
        usage_is_present,
    ),
    (
        "preview",
        "conversation.item.input_audio_transcription.completed",
        "usage",
        spoken_turn_with_transcription,
        usage_is_present,
    ),
    ("ga", "response.function_call_arguments.done", "name", tool_turn, name_is_present),
]


def _param(protocol, event_type, field, scenario, assertion):
    known = KNOWN_DEVIATIONS.get((protocol, event_type, field))
    marks = [pytest.mark.xfail(strict=True, reason=f"emulator: {event_type} {known}")] if known else []
    return pytest.param(
        protocol, event_type, scenario, assertion, marks=marks, id=f"{protocol}-{event_type}-{field}"
    )


@pytest.mark.parametrize(("protocol", "event_type", "scenario", "assertion"), [_param(*c) for c in CHECKS])
async def test_event_shape(emulator, protocol, event_type, scenario, assertion):
    async with AsyncExitStack() as stack:
        conn = await stack.enter_async_context(connect(emulator, protocol))
        wire = Wire(conn, protocol)
        await wire.recv()
        events = of_type(await scenario(wire), event_type)
    assert events, f"the scenario sent no {event_type}"
    for event in events:
        validate(protocol, event)  # no tolerance here
        assertion(event)
