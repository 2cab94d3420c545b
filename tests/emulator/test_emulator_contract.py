"""What the service's published contract says, checked on the emulator's wire (issue: conformance).

Each test names the behaviour; docs/emulator-fidelity.md gives its source.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest
from emu_helpers import b64, ga_url, pcm, preview_url, raw_connect

from realtime_widgets.emulator import g711, synthesize

SR = 24_000
NO_VAD_GA = {
    "type": "session.update",
    "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
}
NO_VAD_PREVIEW = {"type": "session.update", "session": {"turn_detection": None}}


async def connect(emu, protocol: str):
    c = await raw_connect(ga_url(emu) if protocol == "ga" else preview_url(emu))
    await c.send(NO_VAD_GA if protocol == "ga" else NO_VAD_PREVIEW)
    await c.until("session.updated")
    return c


def user_text(text: str, item_id: str | None = None) -> dict:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    if item_id:
        item["id"] = item_id
    return {"type": "conversation.item.create", "item": item}


def audio_deltas(events: list[dict], wire_type: str) -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == wire_type)


@pytest.mark.parametrize("protocol", ["ga", "preview"])
async def test_per_response_output_format_is_g711(emulator, protocol):
    c = await connect(emulator, protocol)
    await c.send(user_text("hello"))
    if protocol == "ga":
        response = {"audio": {"output": {"format": {"type": "audio/pcmu"}}}}
        delta_type = "response.output_audio.delta"
    else:
        response = {"output_audio_format": "g711_ulaw"}
        delta_type = "response.audio.delta"
    await c.send({"type": "response.create", "response": response})
    data = audio_deltas(await c.until("response.done"), delta_type)
    # G.711 is one byte per sample at 8 kHz: it decodes to three times as many samples at 24 kHz.
    decoded = g711.decode(data, "ulaw")
    assert data and abs(len(decoded) - 3 * len(data)) <= 3
    assert np.abs(decoded).max() > 1000
    # The session's own format is unchanged: the next response is PCM16 again.
    await c.send({"type": "response.create"})
    pcm_bytes = audio_deltas(await c.until("response.done"), delta_type)
    assert len(pcm_bytes) > 1.5 * len(data)
    await c.ws.close()


async def test_bad_per_response_format_names_its_param(emulator):
    c = await connect(emulator, "ga")
    await c.send({"type": "response.create", "response": {"audio": {"output": {"format": {"type": "mp3"}}}}})
    err = await c.until("error")
    assert err[-1]["error"]["param"] == "response.audio.output.format.type"
    await c.ws.close()


@pytest.mark.parametrize("protocol", ["ga", "preview"])
async def test_out_of_band_input_is_answered_not_the_conversation(emulator, protocol):
    c = await connect(emulator, protocol)
    await c.send(user_text("in the conversation"))
    await c.until("conversation.item.created" if protocol == "preview" else "conversation.item.done")
    await c.send(
        {
            "type": "response.create",
            "response": {
                "conversation": "none",
                "modalities" if protocol == "preview" else "output_modalities": ["text"],
                "input": [user_text("out of band")["item"]],
            },
        }
    )
    events = await c.until("response.done")
    done = events[-1]["response"]
    assert done["conversation_id"] is None
    assert done["output"][0]["content"][0]["text"] == "You said: out of band"
    # Out of band: the reply joined no conversation.
    assert not [e for e in events if e["type"] in ("conversation.item.added", "conversation.item.created")]
    await c.ws.close()


async def test_out_of_band_item_reference(emulator):
    c = await connect(emulator, "ga")
    await c.send(user_text("referenced words", "item_ref_1"))
    await c.until("conversation.item.done")
    await c.send(user_text("later words"))
    await c.until("conversation.item.done")
    ref = {"type": "item_reference", "id": "item_ref_1"}
    await c.send(
        {
            "type": "response.create",
            "response": {"conversation": "none", "output_modalities": ["text"], "input": [ref]},
        }
    )
    done = (await c.until("response.done"))[-1]["response"]
    assert done["output"][0]["content"][0]["text"] == "You said: referenced words"
    await c.send(
        {"type": "response.create", "response": {"input": [{"type": "item_reference", "id": "nope"}]}}
    )
    assert (await c.until("error"))[-1]["error"]["param"] == "response.input[0].id"
    await c.ws.close()


async def test_previous_item_id_inserts_after_the_named_item(emulator):
    c = await connect(emulator, "ga")
    for name in ("a", "b"):
        await c.send(user_text(name, f"item_{name}"))
        await c.until("conversation.item.done")
    await c.send({**user_text("c", "item_c"), "previous_item_id": "item_a"})
    added = (await c.until("conversation.item.added"))[-1]
    assert added["previous_item_id"] == "item_a"
    await c.send({**user_text("z", "item_z"), "previous_item_id": "root"})
    added = (await c.until("conversation.item.added"))[-1]
    assert added["previous_item_id"] is None
    # The conversation is now z, a, c, b: a new item at the end follows b.
    await c.send(user_text("d", "item_d"))
    assert (await c.until("conversation.item.added"))[-1]["previous_item_id"] == "item_b"
    await c.ws.close()


async def test_retrieve_returns_the_user_audio(emulator):
    c = await connect(emulator, "ga")
    speech = synthesize("retrieve me")
    await c.append(speech)
    await c.send({"type": "input_audio_buffer.commit"})
    committed = (await c.until("input_audio_buffer.committed"))[-1]
    await c.send({"type": "conversation.item.retrieve", "item_id": committed["item_id"]})
    item = (await c.until("conversation.item.retrieved"))[-1]["item"]
    assert np.array_equal(pcm(item["content"][0]["audio"]), speech)
    await c.ws.close()


@pytest.mark.parametrize("protocol", ["ga", "preview"])
async def test_cancelled_response_closes_its_open_parts(emulator, protocol):
    c = await connect(emulator, protocol)
    await c.send(user_text("please say a rather long sentence so that there is time to cancel it"))
    await c.send({"type": "response.create"})
    first = "response.output_audio.delta" if protocol == "ga" else "response.audio.delta"
    await c.until(first)
    await c.send({"type": "response.cancel"})
    events = await c.until("response.done")
    types = [e["type"] for e in events]
    done_types = (
        ["response.output_audio.done", "response.output_audio_transcript.done"]
        if protocol == "ga"
        else ["response.audio.done", "response.audio_transcript.done"]
    )
    closing = [*done_types, "response.content_part.done", "response.output_item.done", "response.done"]
    assert [types.index(t) for t in closing] == sorted(types.index(t) for t in closing)
    assert events[-1]["response"]["status"] == "cancelled"
    item_done = events[types.index("response.output_item.done")]["item"]
    assert item_done["status"] == "incomplete"
    said = events[types.index(done_types[1])]["transcript"]
    assert said and said == item_done["content"][0]["transcript"]
    await c.ws.close()


async def test_rate_limits_come_when_the_response_starts(emulator):
    c = await connect(emulator, "ga")
    await c.send(user_text("hi"))
    await c.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    types = [e["type"] for e in await c.until("response.done")]
    assert (
        types.index("response.created")
        < types.index("rate_limits.updated")
        < types.index("response.output_item.added")
    )
    await c.ws.close()


async def test_truncate_deletes_the_server_side_transcript(emulator):
    c = await connect(emulator, "ga")
    await c.send(user_text("tell me something"))
    await c.send({"type": "response.create"})
    events = await c.until("response.done")
    item_id = events[-1]["response"]["output"][0]["id"]
    await c.send(
        {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 300}
    )
    truncated = (await c.until("conversation.item.truncated"))[-1]
    assert truncated["audio_end_ms"] == 300
    await c.send({"type": "conversation.item.retrieve", "item_id": item_id})
    item = (await c.until("conversation.item.retrieved"))[-1]["item"]
    assert item["content"][0]["transcript"] == ""
    await c.ws.close()


async def test_output_audio_buffer_clear_is_refused_over_a_websocket(emulator):
    c = await connect(emulator, "ga")
    await c.send({"type": "output_audio_buffer.clear", "event_id": "evt_clear"})
    err = (await c.until("error"))[-1]["error"]
    assert err["event_id"] == "evt_clear" and "WebRTC" in err["message"]
    await c.ws.close()


@pytest.mark.parametrize("url", ["model", "intent only"])
async def test_transcription_session_streams_captions_and_has_no_responses(emulator, url):
    if url == "model":
        c = await raw_connect(ga_url(emulator) + "&intent=transcription")
    else:
        c = await raw_connect(f"ws://127.0.0.1:{emulator.port}/openai/v1/realtime?intent=transcription")
    assert c.events[0]["session"]["type"] == "transcription"
    await c.send(
        {
            "type": "session.update",
            "session": {
                "type": "transcription",
                "audio": {
                    "input": {"transcription": {"model": "my-gpt-4o-transcribe"}, "turn_detection": None}
                },
            },
        }
    )
    assert (await c.until("session.updated"))[-1]["session"]["audio"]["input"]["transcription"]["model"] == (
        "my-gpt-4o-transcribe"
    )
    words = "captions for the notebook"
    await c.append(synthesize(words))
    await c.send({"type": "input_audio_buffer.commit"})
    events = await c.until("conversation.item.input_audio_transcription.completed")
    deltas = [e["delta"] for e in events if e["type"] == "conversation.item.input_audio_transcription.delta"]
    assert len(deltas) == len(words.split()) and "".join(deltas) == words
    completed = events[-1]
    assert completed["transcript"] == words and completed["usage"]["type"] == "tokens"
    await c.send({"type": "response.create"})
    assert "transcription session" in (await c.until("error"))[-1]["error"]["message"]
    # A realtime update on a transcription session is refused, and the reverse on a realtime one.
    await c.send({"type": "session.update", "session": {"type": "realtime"}})
    assert (await c.until("error"))[-1]["error"]["code"] == "invalid_parameter"
    await c.ws.close()
    r = await raw_connect(ga_url(emulator))
    await r.send({"type": "session.update", "session": {"type": "transcription"}})
    err = (await r.until("error"))[-1]["error"]
    assert (
        err["message"] == "Passing a transcription session update event to a realtime session is not allowed."
    )
    await r.ws.close()


async def test_preview_transcription_session(emulator):
    c = await raw_connect(preview_url(emulator) + "&intent=transcription")
    await c.send(
        {
            "type": "transcription_session.update",
            "session": {"input_audio_transcription": {"model": "whisper-1"}, "turn_detection": None},
        }
    )
    await c.until("transcription_session.updated")
    await c.send({"type": "input_audio_buffer.append", "audio": b64(synthesize("two words"))})
    await c.send({"type": "input_audio_buffer.commit"})
    events = await c.until("conversation.item.input_audio_transcription.completed")
    assert events[-1]["transcript"] == "two words"
    assert events[-1]["usage"]["type"] == "duration" and events[-1]["usage"]["seconds"] > 0.3
    await c.ws.close()


async def test_custom_voice_id_is_echoed_and_spoken(emulator):
    c = await connect(emulator, "ga")
    voice = {"id": "voice_custom_123"}
    await c.send(
        {"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"voice": voice}}}}
    )
    assert (await c.until("session.updated"))[-1]["session"]["audio"]["output"]["voice"] == voice
    await c.send({"type": "response.create", "response": {"instructions": "hi"}})
    events = await c.until("response.done")
    assert events[-1]["response"]["status"] == "completed"
    assert audio_deltas(events, "response.output_audio.delta")
    await c.ws.close()
