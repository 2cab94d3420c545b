"""Transcription sessions and live user transcripts: SessionConfig(type="transcription") in both wire
shapes, Turn.user_transcript growing from deltas, and RealtimeSession on a transcription connection
(crafted events on a scripted connection here; the emulator in test_transcription_emulator.py)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from openai.types.beta.realtime.transcription_session_update import TranscriptionSessionUpdate
from openai.types.realtime.realtime_transcription_session_create_request import (
    RealtimeTranscriptionSessionCreateRequest,
)
from scripted import ScriptedService, scripted_connection

from realtime_widgets.conversation import Conversation
from realtime_widgets.events import RealtimeEvent
from realtime_widgets.session import RealtimeSession
from realtime_widgets.session_config import SessionConfig

CAPTIONS = SessionConfig(
    type="transcription",
    transcription_model="gpt-4o-transcribe",
    transcription_language="en",
    noise_reduction="near_field",
)


# --- SessionConfig ---------------------------------------------------------------------------------


def test_ga_transcription_shape_validates_with_the_sdk_model():
    body = CAPTIONS.to_session("ga")
    model = RealtimeTranscriptionSessionCreateRequest.model_validate(body, strict=True)
    assert model.type == "transcription"
    assert model.audio.input.transcription.model == "gpt-4o-transcribe"
    assert model.audio.input.transcription.language == "en"
    assert model.audio.input.noise_reduction.type == "near_field"
    assert model.audio.input.turn_detection.type == "server_vad"
    assert set(body) == {"type", "audio"}  # no voice, instructions or output: nothing is said back
    assert CAPTIONS.update_event_type("ga") == "session.update"


def test_preview_transcription_shape_is_a_transcription_session_update():
    body = CAPTIONS.replace(turn_detection="semantic_vad", eagerness="low").to_session("preview")
    event = {"type": CAPTIONS.update_event_type("preview"), "session": body}
    model = TranscriptionSessionUpdate.model_validate(event, strict=True)
    assert model.type == "transcription_session.update"
    assert model.session.input_audio_format == "pcm16"
    assert model.session.input_audio_transcription.model == "gpt-4o-transcribe"
    assert (
        model.session.turn_detection.type == "semantic_vad"
        and model.session.turn_detection.eagerness == "low"
    )


def test_transcription_needs_a_model_and_takes_an_azure_deployment_name():
    with pytest.raises(ValueError, match="type='transcription'.*transcription_model"):
        SessionConfig(type="transcription")
    with pytest.raises(ValueError, match="SessionConfig.type='captions'.*realtime, transcription"):
        SessionConfig(type="captions")
    with pytest.raises(ValueError, match="transcription_model='my deployment'"):
        SessionConfig(type="transcription", transcription_model="my deployment")
    cfg = SessionConfig(type="transcription", transcription_model="my-gpt-4o-transcribe")
    assert cfg.to_session("ga")["audio"]["input"]["transcription"] == {"model": "my-gpt-4o-transcribe"}
    assert cfg.is_transcription and not SessionConfig().is_transcription
    assert SessionConfig.from_session(cfg.to_session("ga")) == cfg


# --- Conversation: live user transcripts --------------------------------------------------------------


def ev(t: float, **raw) -> RealtimeEvent:
    return RealtimeEvent.from_raw(raw, "server", t)


def spoken_turn_events(added: str = "conversation.item.added") -> list[RealtimeEvent]:
    item = {"id": "item_u1", "type": "message", "role": "user", "content": [{"type": "input_audio"}]}
    events = [
        ev(
            0.0,
            type="session.updated",
            session={"audio": {"input": {"transcription": {"model": "whisper-1"}}}},
        ),
        ev(0.1, type="input_audio_buffer.speech_started", item_id="item_u1", audio_start_ms=100),
        ev(0.9, type="input_audio_buffer.speech_stopped", item_id="item_u1", audio_end_ms=900),
        ev(0.91, type="input_audio_buffer.committed", item_id="item_u1"),
        ev(0.92, type=added, item=item),
    ]
    for i, piece in enumerate(("Turtles ", "live ", "long.")):
        events.append(
            ev(
                1.0 + i / 10,
                type="conversation.item.input_audio_transcription.delta",
                item_id="item_u1",
                delta=piece,
            )
        )
    usage = {"type": "duration", "seconds": 0.8}
    done = "conversation.item.input_audio_transcription.completed"
    events.append(
        ev(1.5, type=done, item_id="item_u1", content_index=0, transcript="Turtles live long.", usage=usage)
    )
    return events


@pytest.mark.parametrize(
    "added", ["conversation.item.added", "conversation.item.created"], ids=["ga", "preview"]
)
def test_user_transcript_grows_from_deltas_and_is_pending_until_completed(added):
    conv = Conversation()
    seen: list[tuple[str | None, bool]] = []
    conv.on_change(lambda turn: seen.append((turn.user_transcript, turn.user_transcript_pending)))
    for event in spoken_turn_events(added):
        conv.apply(event)
    grown = [text for text, pending in seen if pending and text]
    assert grown == ["Turtles ", "Turtles live ", "Turtles live long."]
    assert seen[-1] == ("Turtles live long.", False)
    turn = conv.turns[0]
    assert turn.status == "pending"  # an ordinary session: the response is still to come


def test_item_added_after_the_first_delta_keeps_the_transcript_pending():
    conv = Conversation()
    events = spoken_turn_events()
    events.insert(4, events.pop(5))  # the first delta before conversation.item.added
    for event in events[:6]:
        conv.apply(event)
    assert conv.turns[0].user_transcript == "Turtles " and conv.turns[0].user_transcript_pending


def test_a_transcription_session_turn_ends_with_its_transcript():
    conv = Conversation()
    events = spoken_turn_events()
    events[0] = ev(
        0.0,
        type="session.updated",
        session={
            "type": "transcription",
            "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
        },
    )
    for event in events:
        conv.apply(event)
    turn = conv.turns[0]
    assert turn.status == "completed" and turn.done and turn.usage == {"type": "duration", "seconds": 0.8}


# --- RealtimeSession on a transcription connection (scripted) ----------------------------------------


def push_spoken_turn(service: ScriptedService, item_id: str, words: list[str], added: str) -> None:
    service.push({"type": "input_audio_buffer.speech_started", "item_id": item_id, "audio_start_ms": 0})
    service.push({"type": "input_audio_buffer.speech_stopped", "item_id": item_id, "audio_end_ms": 400})
    service.push({"type": "input_audio_buffer.committed", "item_id": item_id})
    item = {
        "id": item_id,
        "type": "message",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": None}],
    }
    service.push({"type": added, "item": item})
    for word in words:
        service.push(
            {"type": "conversation.item.input_audio_transcription.delta", "item_id": item_id, "delta": word}
        )
    service.push(
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": item_id,
            "content_index": 0,
            "transcript": "".join(words),
            "usage": {"type": "duration", "seconds": 0.4},
        }
    )


@pytest.mark.parametrize("protocol", ["ga", "preview"])
async def test_transcription_session_connects_with_intent_and_waits_for_transcripts(protocol):
    service = ScriptedService(protocol)
    async with RealtimeSession(scripted_connection(service), CAPTIONS) as s:
        assert service.query == {"intent": "transcription"}
        update = service.sent[0]
        assert update["type"] == ("session.update" if protocol == "ga" else "transcription_session.update")
        assert s.server_session is not None
        clip = (np.sin(np.arange(4800) / 8) * 8000).astype(np.int16)
        sending = asyncio.ensure_future(s.send_audio(clip))
        while "input_audio_buffer.append" not in service.sent_types():
            await asyncio.sleep(0.01)
        added = "conversation.item.added" if protocol == "ga" else "conversation.item.created"
        push_spoken_turn(service, "item_1", ["Hello ", "there."], added)
        turn = await asyncio.wait_for(sending, 5)
        assert turn.user_transcript == "Hello there." and not turn.user_transcript_pending
        assert turn.status == "completed" and len(turn.user_audio) > 0
        assert "response.create" not in service.sent_types()
        with pytest.raises(ValueError, match="transcription session has none"):
            await s.send_text("hello")
        with pytest.raises(ValueError, match="transcription session has none"):
            await s.create_response()
        with pytest.raises(ValueError, match="chosen when connecting"):
            await s.update(SessionConfig())


async def test_wait_for_turn_waits_for_the_transcript_not_the_end_of_speech():
    service = ScriptedService()
    async with RealtimeSession(scripted_connection(service), CAPTIONS) as s:
        waiting = asyncio.ensure_future(s.wait_for_turn(0, timeout=5))
        service.push({"type": "input_audio_buffer.speech_started", "item_id": "i1", "audio_start_ms": 0})
        service.push({"type": "input_audio_buffer.speech_stopped", "item_id": "i1", "audio_end_ms": 300})
        service.push(
            {"type": "conversation.item.input_audio_transcription.delta", "item_id": "i1", "delta": "Hi"}
        )
        await s.wait_for("conversation.item.input_audio_transcription.delta", timeout=5)
        assert not waiting.done()
        service.push(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": "i1",
                "transcript": "Hi!",
            }
        )
        turn = await waiting
        assert turn.user_transcript == "Hi!"


async def test_an_ordinary_session_connects_without_intent():
    service = ScriptedService()
    async with RealtimeSession(scripted_connection(service), SessionConfig()) as s:
        assert service.query == {} and service.sent[0]["session"]["type"] == "realtime"
        assert s.status == "connected"
