"""What the real service may send and the emulator does not: both part-type spellings, event types this
client does not know, unknown fields and missing optional fields. Crafted server events go in through
`Conversation.apply` directly and through a RealtimeSession on a scripted connection (scripted.py)."""

from __future__ import annotations

import asyncio
import base64
import logging

import numpy as np
import pytest
from scripted import ScriptedService, scripted_connection

from realtime_widgets.conversation import Conversation
from realtime_widgets.events import RealtimeEvent
from realtime_widgets.session import RealtimeSession
from realtime_widgets.session_config import SessionConfig
from realtime_widgets.widgets.event_log import EventLog

RID, ITEM = "resp_1", "item_a1"


def server(t: float, **raw) -> RealtimeEvent:
    return RealtimeEvent.from_raw(raw, "server", t)


def pcm_b64(n: int) -> str:
    return base64.b64encode(np.arange(n, dtype="<i2").tobytes()).decode()


def reply_without_deltas(audio_part: str, text_part: str, item_part: str) -> list[dict]:
    """A reply whose words arrive only in content parts and the finished item (no transcript deltas)."""
    return [
        {"type": "response.created", "response": {"id": RID, "status": "in_progress"}},
        {
            "type": "response.output_item.added",
            "response_id": RID,
            "item": {"id": ITEM, "type": "message", "role": "assistant", "content": []},
        },
        {
            "type": "response.content_part.added",
            "response_id": RID,
            "item_id": ITEM,
            "part": {"type": audio_part, "transcript": ""},
        },
        {"type": "response.output_audio.delta", "response_id": RID, "item_id": ITEM, "delta": pcm_b64(2400)},
        {
            "type": "response.content_part.done",
            "response_id": RID,
            "item_id": ITEM,
            "part": {"type": audio_part, "transcript": "Hello from the parts."},
        },
        {
            "type": "response.content_part.done",
            "response_id": RID,
            "item_id": ITEM,
            "part": {"type": text_part, "text": "Text from the parts."},
        },
        {
            "type": "conversation.item.done",
            "item": {
                "id": ITEM,
                "type": "message",
                "role": "assistant",
                "content": [{"type": item_part, "transcript": "Hello from the item."}],
            },
        },
        {"type": "response.done", "response": {"id": RID, "status": "completed"}},
    ]


# --- Conversation.apply -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "audio_part, text_part",
    [("audio", "text"), ("output_audio", "output_text")],
    ids=["sdk-part", "item-part"],
)
def test_both_part_spellings_give_the_words(audio_part, text_part):
    conv = Conversation()
    for i, raw in enumerate(reply_without_deltas(audio_part, text_part, audio_part)):
        conv.apply(server(i * 0.1, **raw))
    (turn,) = conv.turns
    # the content part came first; the finished item does not overwrite what the parts said
    assert turn.transcript == "Hello from the parts."
    assert turn.text == "Text from the parts."
    assert turn.status == "completed" and turn.audio_samples == 2400


@pytest.mark.parametrize("item_part", ["audio", "output_audio"])
def test_a_finished_item_alone_gives_the_transcript(item_part):
    conv = Conversation()
    events = [
        e
        for e in reply_without_deltas("audio", "text", item_part)
        if e["type"] != "response.content_part.done"
    ]
    for i, raw in enumerate(events):
        conv.apply(server(i * 0.1, **raw))
    assert conv.turns[0].transcript == "Hello from the item."
    assert conv.items[-1]["content"][0]["type"] == item_part


def test_deltas_win_over_parts():
    conv = Conversation()
    events = reply_without_deltas("output_audio", "output_text", "output_audio")
    delta = {
        "type": "response.output_audio_transcript.delta",
        "response_id": RID,
        "item_id": ITEM,
        "delta": "Live.",
    }
    events.insert(3, delta)
    for i, raw in enumerate(events):
        conv.apply(server(i * 0.1, **raw))
    assert conv.turns[0].transcript == "Live."


def test_unknown_types_fields_and_missing_fields_are_logged_not_fatal(tmp_path, caplog):
    conv = Conversation()
    crafted = [
        {"type": "session.created", "session": {"id": "s", "brand_new_field": {"x": 1}}},
        {"type": "response.brand_new_thing.delta", "delta": {"not": "text"}, "who_knows": [1, 2]},
        {"type": "input_audio_buffer.speech_started", "item_id": "item_u1"},  # no audio_start_ms
        {"type": "input_audio_buffer.speech_stopped", "item_id": "item_u1", "audio_end_ms": None},
        {"type": "conversation.item.added", "item": {"id": "item_u1", "type": "message", "role": "user"}},
        {
            "type": "conversation.item.added",
            "item": {"id": "item_x", "type": "message", "role": "user", "content": "?"},
        },
        {"type": "conversation.item.input_audio_transcription.delta", "item_id": "item_u1", "delta": None},
        {"type": "conversation.item.input_audio_transcription.completed", "item_id": "item_u1"},
        {"type": "response.created", "response": {"id": RID}},
        {"type": "response.output_audio_transcript.delta", "response_id": RID},
        {"type": "conversation.item.truncated", "item_id": ITEM, "audio_end_ms": "12"},
        {"type": "response.done", "response": {"id": RID, "status": None}, "extra": True},
        {"type": "error", "error": "a plain string"},
        {"type": "mcp_list_tools.in_progress", "item_id": "mcp_1"},
    ]
    with caplog.at_level(logging.WARNING, logger="realtime_widgets.conversation"):
        for i, raw in enumerate(crafted):
            conv.apply(server(i * 0.1, **raw))
    assert not caplog.records, [r.getMessage() for r in caplog.records]  # read, not merely survived
    assert [e.type for e in conv.events] == [raw["type"] for raw in crafted]
    user = conv.turns[0]
    assert user.user_item_id == "item_u1" and user.user_transcript == "" and not user.user_transcript_pending
    assert user.speech_start_ms == 0.0 and user.speech_end_ms == 0.0  # nothing sent yet: the clock is at 0
    assert conv.turns[-1].status == "completed"
    assert conv.errors[-1] == {"message": "a plain string"}
    # the log, unknown events included, survives a save and a load
    loaded = Conversation.load(conv.save(tmp_path / "c"))
    assert [e.raw for e in loaded.events] == [e.raw for e in conv.events]
    assert loaded.turns == conv.turns


def test_a_handler_that_cannot_read_an_event_keeps_it_and_goes_on(caplog):
    conv = Conversation()
    conv.apply(server(0.0, type="response.created", response={"id": RID}))
    with caplog.at_level(logging.WARNING, logger="realtime_widgets.conversation"):
        # an audio delta whose payload is not base64 at all
        turn = conv.apply(
            server(0.1, type="response.output_audio.delta", response_id=RID, delta="not base64!")
        )
    assert turn is None and conv.events[-1].type == "response.output_audio.delta"
    assert "response.output_audio.delta" in caplog.text
    conv.apply(server(0.2, type="response.done", response={"id": RID, "status": "completed"}))
    assert conv.turns[0].status == "completed"


def test_a_message_that_is_not_an_event_object_is_refused_clearly():
    with pytest.raises(ValueError, match="string 'type'"):
        RealtimeEvent.from_raw([1, 2], "server", 0.0)


# --- through a RealtimeSession --------------------------------------------------------------------


async def test_session_survives_crafted_events_and_logs_them():
    service = ScriptedService()
    async with RealtimeSession(scripted_connection(service), SessionConfig()) as s:
        log = EventLog(s)
        seen: list[str] = []
        s.on("*", lambda e: seen.append(e.type))
        service.push({"type": "response.brand_new_thing.delta", "delta": "??", "extra": {"a": 1}})
        service.push("[1, 2, 3]")  # JSON, but not an event object
        service.push("not json at all")
        service.push(
            {"type": "conversation.item.added", "item": {"id": "u1", "role": "user", "content": None}}
        )
        for raw in reply_without_deltas("audio", "text", "output_audio"):
            service.push(raw)
        done = await s.wait_for("response.done", timeout=5)
        assert done.response_id == RID and s.status == "connected"
        turn = s.conversation.turns[-1]
        assert turn.transcript == "Hello from the parts." and turn.text == "Text from the parts."
        assert "response.brand_new_thing.delta" in seen
        unknown = [e for e in s.event_log if e.type == "response.brand_new_thing.delta"]
        assert unknown[0].raw["extra"] == {"a": 1}
        rows = {r.type: r for r in log.rows}
        assert rows["response.brand_new_thing.delta"].summary == "??"
        assert sum(r.count for r in log.rows) == len(s.event_log)
        # still usable: a later update round-trips
        await s.update(s.config.replace(voice="coral"))
        assert s.config.voice == "coral"
    assert service.sent_types()[:1] == ["session.update"]


async def test_a_callback_that_fails_on_an_unknown_event_does_not_stop_the_session(caplog):
    service = ScriptedService()
    async with RealtimeSession(scripted_connection(service), SessionConfig()) as s:
        s.on("*", lambda e: 1 / 0 if e.type == "brand.new" else None)
        service.push({"type": "brand.new"})
        service.push({"type": "rate_limits.updated", "rate_limits": []})
        await s.wait_for("rate_limits.updated", timeout=5)
        await asyncio.sleep(0)
        assert s.status == "connected" and [e.type for e in s.event_log][-2:] == [
            "brand.new",
            "rate_limits.updated",
        ]


async def test_an_error_event_without_its_object_still_reaches_errors_and_callbacks():
    service = ScriptedService()
    async with RealtimeSession(scripted_connection(service), SessionConfig()) as s:
        heard = []
        s.on("error", heard.append)
        service.push({"type": "error", "error": "overloaded"})
        service.push({"type": "error"})
        service.push({"type": "rate_limits.updated"})  # the loop reads nothing until the next await
        await s.wait_for("rate_limits.updated", timeout=5)
        assert len(heard) == 2 and s.status == "connected"
        assert "overloaded" in str(s.errors[0]) and "without a message" in str(s.errors[1])
