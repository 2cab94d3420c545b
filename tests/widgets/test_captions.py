"""Live captions: CaptionsView from crafted events, LiveCaptions through the recorder's path on the
emulator's transcription sessions (GA and preview)."""

from __future__ import annotations

import pytest
from page_messages import page_sends

from realtime_widgets.config import ConnectionConfig
from realtime_widgets.conversation import Conversation
from realtime_widgets.emulator import synthesize
from realtime_widgets.errors import ConnectionFailed
from realtime_widgets.events import RealtimeEvent
from realtime_widgets.session_config import SessionConfig
from realtime_widgets.widgets import CaptionsView, LiveCaptions


def ev(t: float, **raw) -> RealtimeEvent:
    return RealtimeEvent.from_raw(raw, "server", t)


def spoken(
    conv: Conversation, item_id: str, words: list[str], *, complete: bool = True, start: bool = True
) -> None:
    if start:
        conv.apply(ev(0.0, type="input_audio_buffer.speech_started", item_id=item_id, audio_start_ms=0))
    conv.apply(ev(0.5, type="input_audio_buffer.speech_stopped", item_id=item_id, audio_end_ms=500))
    item = {"id": item_id, "type": "message", "role": "user", "content": [{"type": "input_audio"}]}
    conv.apply(ev(0.6, type="conversation.item.added", item=item))
    for word in words:
        conv.apply(
            ev(0.7, type="conversation.item.input_audio_transcription.delta", item_id=item_id, delta=word)
        )
    if complete:
        done = "conversation.item.input_audio_transcription.completed"
        conv.apply(ev(0.9, type=done, item_id=item_id, transcript="".join(words)))


def transcribing_conversation() -> Conversation:
    conv = Conversation()
    session = {"type": "transcription", "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}
    conv.apply(ev(0.0, type="session.updated", session=session))
    return conv


def test_captions_follow_speech_deltas_and_completion(front_end):
    conv = transcribing_conversation()
    view = CaptionsView(conv, max_lines=2)
    conv.apply(ev(0.0, type="input_audio_buffer.speech_started", item_id="i0", audio_start_ms=0))
    view.flush()
    assert view.speaking and view.partial == "" and view.lines == []
    spoken(conv, "i0", ["Hello ", "world."], complete=False, start=False)
    view.flush()
    assert not view.speaking and view.partial == "Hello world." and view.lines == []
    conv.apply(
        ev(
            1.0,
            type="conversation.item.input_audio_transcription.completed",
            item_id="i0",
            transcript="Hello world.",
        )
    )
    view.flush()
    assert view.lines == ["Hello world."] and view.partial == ""
    spoken(conv, "i1", ["Second."])
    spoken(conv, "i2", ["Third."])
    view.flush()
    assert view.lines == ["Second.", "Third."]  # the newest max_lines on screen
    assert [c.text for c in view.captions] == ["Hello world.", "Second.", "Third."]
    assert view.text == "Hello world.\nSecond.\nThird."
    assert all(c.final and c.start_ms == 0.0 and c.end_ms == 500.0 for c in view.captions)


def test_typed_turns_are_not_captions_and_clear_comes_from_the_page(front_end):
    conv = transcribing_conversation()
    conv.apply(
        RealtimeEvent.from_raw(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "typed"}],
                },
            },
            "client",
            0.0,
        )
    )
    spoken(conv, "i0", ["Spoken."])
    view = CaptionsView(conv)  # connecting captions what was said before
    assert view.lines == ["Spoken."] and len(view.captions) == 1
    page_sends(view, {"kind": "clear"})
    assert view.lines == [] and view.text == "Spoken."  # the history stays
    spoken(conv, "i1", ["After."])
    view.flush()
    assert view.lines == ["After."]
    page_sends(view, {"kind": "something else"}, checked=False)
    view.disconnect()
    spoken(conv, "i2", ["Unseen."])
    view.flush()
    assert view.lines == ["After."]


def test_max_lines_is_checked(front_end):
    with pytest.raises(ValueError, match="max_lines"):
        CaptionsView(max_lines=0)


def test_live_captions_needs_a_transcription_config(front_end, emulator):
    with pytest.raises(ValueError, match="type='transcription'"):
        LiveCaptions(ConnectionConfig.for_emulator(emulator), config=SessionConfig())


@pytest.mark.parametrize("protocol", ["ga", "preview"])
async def test_live_captions_from_the_recorder_path(front_end, emulator, protocol):
    captions = LiveCaptions(
        ConnectionConfig.for_emulator(emulator, protocol=protocol), transcription_model="my-transcribe"
    )
    partials: list[str] = []
    captions.view.observe(lambda change: partials.append(change["new"]), names="partial")
    emulator.faults.event_delay_ms = 80  # deltas spaced as a real service spaces them, beyond one refresh
    try:
        await captions.ready()
        assert captions.session.server_session is not None
        said = "Turtles can live for more than a hundred years."
        turns = await captions.listen(synthesize(said, voice="ash"))
        assert [t.user_transcript for t in turns] == [said]
        assert captions.lines == [said] and captions.text == said
        assert captions.recorder.chunks_received > 10
        # the caption grew while it was transcribed, then became a finished line
        grown = [p for p in partials if p]
        assert len(grown) >= 2 and said.startswith(grown[0]) and len(grown[0]) < len(said)
        assert captions.view.partial == "" and not captions.view.speaking
        turns = await captions.listen(synthesize("And turtles are slow.", voice="ash"))
        assert captions.lines == [said, "And turtles are slow."]
        status = captions.status.value
        assert "transcription session" in status
    finally:
        emulator.faults.reset()
        await captions.close()
    assert captions.session.status == "closed" and "closed" in captions.status.value


async def test_live_captions_says_when_it_cannot_connect(front_end):
    captions = LiveCaptions(ConnectionConfig(endpoint="http://127.0.0.1:9", api_key="unused"))
    with pytest.raises(ConnectionFailed, match="Could not reach"):
        await captions.ready(timeout=20)
    assert "Could not connect" in captions.status.value and captions.session.status == "failed"
    await captions.close()
