"""A scripted tour on both protocols through the official SDK; every raw server event validates strictly.

Sending goes through the SDK's typed helpers (`conn.session.update(...)`, ...); reading is raw
(`Wire`), so what is validated is what was on the wire, not what the SDK made of it.
"""

from __future__ import annotations

from typing import Any

import pytest
from sdk_wire import Wire, connect, of_type, silence, speech

PROTOCOLS = ["ga", "preview"]

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def session(protocol: str, *, vad: Any = "keep", transcription: str | None = None, **fields) -> dict:
    """A session.update body in the protocol's own shape (GA nested audio.input, preview flat)."""
    if protocol == "ga":
        body: dict[str, Any] = {"type": "realtime", **fields}
        audio_input: dict[str, Any] = {}
        if vad != "keep":
            audio_input["turn_detection"] = vad
        if transcription:
            audio_input["transcription"] = {"model": transcription}
        if audio_input:
            body["audio"] = {"input": audio_input}
        return body
    body = dict(fields)
    if "output_modalities" in body:
        body["modalities"] = body.pop("output_modalities")
    if vad != "keep":
        body["turn_detection"] = vad
    if transcription:
        body["input_audio_transcription"] = {"model": transcription}
    return body


def names(protocol: str) -> dict[str, str]:
    """Event names that differ between the protocols."""
    if protocol == "ga":
        return {
            "audio.delta": "response.output_audio.delta",
            "transcript.delta": "response.output_audio_transcript.delta",
            "transcript.done": "response.output_audio_transcript.done",
            "text.delta": "response.output_text.delta",
            "text.done": "response.output_text.done",
        }
    return {
        "audio.delta": "response.audio.delta",
        "transcript.delta": "response.audio_transcript.delta",
        "transcript.done": "response.audio_transcript.done",
        "text.delta": "response.text.delta",
        "text.done": "response.text.done",
    }


def user_text(text: str) -> dict:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def open_wire(stack, emulator, protocol: str, **kw) -> Wire:
    conn = await stack.enter_async_context(connect(emulator, protocol, **kw))
    wire = Wire(conn, protocol)
    first = await wire.recv()
    assert first["type"] == "session.created"
    return wire


@pytest.fixture
async def stack():
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as s:
        yield s


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_session_update_valid_then_invalid(emulator, stack, protocol):
    wire = await open_wire(stack, emulator, protocol)
    await wire.conn.session.update(session=session(protocol, instructions="Be brief.", vad=None))
    updated = (await wire.until("session.updated", "error"))[-1]
    assert updated["type"] == "session.updated", updated
    assert updated["session"]["instructions"] == "Be brief."
    bad_vad = {"type": "server_vad", "threshold": 3}
    await wire.conn.session.update(session=session(protocol, vad=bad_vad))
    error = (await wire.until("error", "session.updated"))[-1]
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["param"].endswith("turn_detection.threshold")
    await wire.drain()
    assert len(of_type(wire.events, "error")) == 1, "only the deliberate mistake is refused"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_text_turn_with_audio_and_text_out(emulator, stack, protocol):
    wire = await open_wire(stack, emulator, protocol)
    await wire.conn.session.update(session=session(protocol, vad=None))
    await wire.until("session.updated")
    await wire.conn.conversation.item.create(item=user_text("good morning"))
    await wire.conn.response.create()
    events = await wire.until("response.done")
    events += await wire.drain()
    assert not of_type(wire.events, "error"), of_type(wire.events, "error")
    n = names(protocol)
    assert of_type(events, n["audio.delta"]), "no audio out"
    transcript = "".join(e["delta"] for e in of_type(events, n["transcript.delta"]))
    assert transcript and of_type(events, n["transcript.done"])[0]["transcript"] == transcript
    assert of_type(events, "response.done")[0]["response"]["status"] == "completed"
    assert of_type(events, "rate_limits.updated")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_text_only_output(emulator, stack, protocol):
    wire = await open_wire(stack, emulator, protocol)
    await wire.conn.session.update(session=session(protocol, vad=None, output_modalities=["text"]))
    await wire.until("session.updated")
    await wire.conn.conversation.item.create(item=user_text("hello there"))
    await wire.conn.response.create()
    events = await wire.until("response.done")
    events += await wire.drain()
    assert not of_type(wire.events, "error"), of_type(wire.events, "error")
    n = names(protocol)
    assert not of_type(events, n["audio.delta"])
    text = "".join(e["delta"] for e in of_type(events, n["text.delta"]))
    assert text and of_type(events, n["text.done"])[0]["text"] == text


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_spoken_turn_server_vad_with_input_transcription(emulator, stack, protocol):
    wire = await open_wire(stack, emulator, protocol)
    vad = {"type": "server_vad", "silence_duration_ms": 300}
    await wire.conn.session.update(session=session(protocol, vad=vad, transcription="whisper-1"))
    await wire.until("session.updated")
    await wire.append_speech(speech("what a lovely day"))
    events = await wire.until("response.done")
    completed = "conversation.item.input_audio_transcription.completed"
    if not of_type(events, completed):
        events += await wire.until(completed)
    events += await wire.drain()
    assert not of_type(wire.events, "error"), of_type(wire.events, "error")
    kinds = [e["type"] for e in events]
    for kind in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"):
        assert kind in kinds
    assert kinds.index("input_audio_buffer.speech_stopped") < kinds.index("input_audio_buffer.committed")
    assert of_type(events, completed)[0]["transcript"].strip().lower().rstrip(".") == "what a lovely day"
    assert of_type(events, "response.done")[0]["response"]["status"] == "completed"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_spoken_turn_with_manual_commit(emulator, stack, protocol):
    wire = await open_wire(stack, emulator, protocol)
    await wire.conn.session.update(session=session(protocol, vad=None))
    await wire.until("session.updated")
    await wire.append_speech(speech("tell me a story", tail_ms=200))
    await wire.conn.input_audio_buffer.commit()
    committed = (await wire.until("input_audio_buffer.committed", "error"))[-1]
    assert committed["type"] == "input_audio_buffer.committed", committed
    await wire.conn.response.create()
    events = await wire.until("response.done")
    events += await wire.drain()
    assert not of_type(wire.events, "error"), of_type(wire.events, "error")
    assert not of_type(events, "input_audio_buffer.speech_started")
    assert of_type(events, names(protocol)["audio.delta"])


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_cancel_then_truncate(emulator, stack, protocol):
    wire = await open_wire(stack, emulator, protocol)
    await wire.conn.session.update(session=session(protocol, vad=None))
    await wire.until("session.updated")
    await wire.conn.conversation.item.create(
        item=user_text("please say a rather long sentence about the sea")
    )
    await wire.conn.response.create()
    first_audio = (await wire.until(names(protocol)["audio.delta"]))[-1]
    await wire.conn.response.cancel()
    events = await wire.until("response.done")
    assert events[-1]["response"]["status"] == "cancelled"
    await wire.conn.conversation.item.truncate(
        item_id=first_audio["item_id"], content_index=0, audio_end_ms=50
    )
    truncated = (await wire.until("conversation.item.truncated", "error"))[-1]
    assert truncated["type"] == "conversation.item.truncated", truncated
    assert truncated["item_id"] == first_audio["item_id"] and truncated["audio_end_ms"] == 50
    await wire.drain()
    assert not of_type(wire.events, "error"), of_type(wire.events, "error")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_function_call_and_its_output(emulator, stack, protocol):
    wire = await open_wire(stack, emulator, protocol)
    await wire.conn.session.update(
        session=session(protocol, vad=None, tools=[WEATHER_TOOL], tool_choice="auto")
    )
    await wire.until("session.updated")
    await wire.conn.conversation.item.create(item=user_text("get weather in Paris"))
    await wire.conn.response.create()
    events = await wire.until("response.done")
    done = of_type(events, "response.function_call_arguments.done")
    assert len(done) == 1
    call = of_type(events, "response.done")[0]["response"]["output"][0]
    assert call["type"] == "function_call" and call["name"] == "get_weather"
    assert call["call_id"] == done[0]["call_id"]
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": '{"sky": "clear"}'}
    await wire.conn.conversation.item.create(item=output)
    await wire.conn.response.create()
    events = await wire.until("response.done")
    events += await wire.drain()
    assert not of_type(wire.events, "error"), of_type(wire.events, "error")
    assert of_type(events, names(protocol)["audio.delta"])
    assert of_type(events, "response.done")[0]["response"]["output"][0]["type"] == "message"


async def test_ga_transcription_session(emulator, stack):
    wire = await open_wire(stack, emulator, "ga", extra_query={"intent": "transcription"})
    body = {
        "type": "transcription",
        "audio": {
            "input": {
                "transcription": {"model": "whisper-1"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 300},
            }
        },
    }
    await wire.conn.session.update(session=body)
    updated = (await wire.until("session.updated", "error"))[-1]
    assert updated["type"] == "session.updated", updated
    assert updated["session"]["type"] == "transcription"
    await wire.append_speech(speech("good evening everyone"))
    events = await wire.until("conversation.item.input_audio_transcription.completed")
    events += await wire.drain()
    assert not of_type(wire.events, "error"), of_type(wire.events, "error")
    assert of_type(events, "conversation.item.input_audio_transcription.delta")
    assert not [e for e in events if e["type"].startswith("response.")]
    transcript = of_type(events, "conversation.item.input_audio_transcription.completed")[0]["transcript"]
    assert transcript.strip().lower().rstrip(".") == "good evening everyone"


async def test_preview_transcription_session(emulator, stack):
    wire = await open_wire(stack, emulator, "preview", extra_query={"intent": "transcription"})
    await wire.conn.transcription_session.update(
        session={
            "input_audio_transcription": {"model": "whisper-1"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 300},
        }
    )
    updated = (await wire.until("transcription_session.updated", "error"))[-1]
    assert updated["type"] == "transcription_session.updated", updated
    await wire.append_speech(speech("good evening everyone"))
    events = await wire.until("conversation.item.input_audio_transcription.completed")
    events += await wire.drain()
    assert not of_type(wire.events, "error"), of_type(wire.events, "error")
    assert of_type(events, "conversation.item.input_audio_transcription.delta")
    assert not [e for e in events if e["type"].startswith("response.")]
    transcript = of_type(events, "conversation.item.input_audio_transcription.completed")[0]["transcript"]
    assert transcript.strip().lower().rstrip(".") == "good evening everyone"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_item_retrieve_delete_and_buffer_clear(emulator, stack, protocol):
    wire = await open_wire(stack, emulator, protocol)
    await wire.conn.session.update(session=session(protocol, vad=None))
    await wire.until("session.updated")
    await wire.conn.conversation.item.create(item=user_text("remember this"))
    created = "conversation.item.done" if protocol == "ga" else "conversation.item.created"
    item_id = (await wire.until(created))[-1]["item"]["id"]
    await wire.conn.conversation.item.retrieve(item_id=item_id)
    retrieved = (await wire.until("conversation.item.retrieved", "error"))[-1]
    assert retrieved["type"] == "conversation.item.retrieved", retrieved
    assert retrieved["item"]["content"][0]["text"] == "remember this"
    await wire.conn.conversation.item.delete(item_id=item_id)
    deleted = (await wire.until("conversation.item.deleted", "error"))[-1]
    assert deleted["type"] == "conversation.item.deleted" and deleted["item_id"] == item_id, deleted
    await wire.append_speech(speech("never mind", tail_ms=100))
    await wire.conn.input_audio_buffer.clear()
    assert (await wire.until("input_audio_buffer.cleared", "error"))[-1][
        "type"
    ] == "input_audio_buffer.cleared"
    await wire.conn.input_audio_buffer.commit()
    error = (await wire.until("error", "input_audio_buffer.committed"))[-1]
    assert error["type"] == "error", "a cleared buffer has nothing to commit"
    await wire.drain()
    assert len(of_type(wire.events, "error")) == 1, "only the deliberate mistake is refused"


async def test_ga_idle_timeout_triggers_a_response(emulator, stack):
    wire = await open_wire(stack, emulator, "ga")
    vad = {"type": "server_vad", "silence_duration_ms": 300, "idle_timeout_ms": 5000}
    await wire.conn.session.update(session=session("ga", vad=vad))
    await wire.until("session.updated")
    await wire.append_speech(speech("are you there"))
    await wire.until("response.done")
    await wire.append_speech(silence(6000))  # longer than idle_timeout_ms
    events = await wire.until("input_audio_buffer.timeout_triggered")
    events += await wire.until("response.done")
    events += await wire.drain()
    assert not of_type(wire.events, "error"), of_type(wire.events, "error")
    assert of_type(events, "input_audio_buffer.timeout_triggered")[0]["audio_end_ms"] > 0


@pytest.fixture
def deaf_emulator():
    """An emulator with no speech recognition: input transcription fails as the service reports it."""
    from realtime_widgets.emulator import Emulator

    with Emulator(recognize=False) as emu:
        yield emu


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_input_transcription_failure(deaf_emulator, stack, protocol):
    wire = await open_wire(stack, deaf_emulator, protocol)
    await wire.conn.session.update(session=session(protocol, vad=None, transcription="whisper-1"))
    await wire.until("session.updated")
    await wire.append_speech(speech("hello"))
    await wire.conn.input_audio_buffer.commit()
    failed = (await wire.until("conversation.item.input_audio_transcription.failed", timeout=10))[-1]
    assert failed["error"]["message"]
    await wire.drain()
    assert not of_type(wire.events, "error"), of_type(wire.events, "error")


async def test_ga_out_of_band_response_with_metadata_and_g711_output(emulator, stack):
    wire = await open_wire(stack, emulator, "ga")
    await wire.conn.session.update(session=session("ga", vad=None))
    await wire.until("session.updated")
    await wire.conn.response.create(
        response={
            "conversation": "none",
            "metadata": {"topic": "side"},
            "input": [user_text("classify this")],
            "output_modalities": ["audio"],
            "audio": {"output": {"format": {"type": "audio/pcmu"}}},
        }
    )
    events = await wire.until("response.done")
    events += await wire.drain()
    done = of_type(events, "response.done")[0]["response"]
    assert done["metadata"] == {"topic": "side"} and done["status"] == "completed"
    assert not of_type(events, "conversation.item.added"), "an out-of-band response joins no conversation"
    assert not of_type(wire.events, "error"), of_type(wire.events, "error")


async def test_preview_out_of_band_response_with_g711_output(emulator, stack):
    wire = await open_wire(stack, emulator, "preview")
    await wire.conn.session.update(session=session("preview", vad=None))
    await wire.until("session.updated")
    await wire.conn.response.create(
        response={
            "conversation": "none",
            "metadata": {"topic": "side"},
            "input": [user_text("classify this")],
            "output_audio_format": "g711_ulaw",
        }
    )
    events = await wire.until("response.done")
    events += await wire.drain()
    assert of_type(events, "response.done")[0]["response"]["metadata"] == {"topic": "side"}
    assert of_type(events, "response.audio.delta")
    assert not of_type(wire.events, "error"), of_type(wire.events, "error")
