"""Transcription through the emulator: a transcription session on both protocols, and live user
transcripts on an ordinary realtime session."""

from __future__ import annotations

import pytest

from realtime_widgets.config import ConnectionConfig
from realtime_widgets.conversation import Conversation
from realtime_widgets.emulator import synthesize
from realtime_widgets.session import RealtimeSession
from realtime_widgets.session_config import SessionConfig

SAID = "Turtles can live for more than a hundred years."


@pytest.mark.parametrize("protocol", ["ga", "preview"])
async def test_transcription_session_streams_the_user_transcript(emulator, protocol, tmp_path):
    config = SessionConfig(
        type="transcription", transcription_model="my-gpt-4o-transcribe", transcription_language="en"
    )
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator, protocol=protocol), config) as s:
        seen: list[tuple[str | None, bool]] = []
        s.conversation.on_change(lambda t: seen.append((t.user_transcript, t.user_transcript_pending)))
        turn = await s.send_audio(synthesize(SAID, voice="ash"))
        assert turn.user_transcript == SAID and turn.status == "completed"
        assert turn.usage is not None  # `.completed` carries usage
        partial = [text for text, pending in seen if pending and text]
        assert len(partial) >= 3 and all(SAID.startswith(p) for p in partial)
        assert seen[-1] == (SAID, False)
        wire = [e.wire_type for e in s.event_log if e.direction == "server"]
        assert "response.created" not in wire
        updated = "session.updated" if protocol == "ga" else "transcription_session.updated"
        assert (
            updated in wire and s.server_session["audio" if protocol == "ga" else "input_audio_transcription"]
        )
        # a second stretch of speech is a second turn
        second = await s.send_audio(synthesize("And they are slow.", voice="ash"))
        assert second.index == turn.index + 1 and second.user_transcript == "And they are slow."
    # a saved transcription session replays into the same turns
    assert Conversation.load(s.conversation.save(tmp_path / "captions")).turns == s.conversation.turns


async def test_ordinary_session_streams_the_user_transcript_before_the_reply(emulator):
    config = SessionConfig(transcription_model="whisper-1")
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator), config) as s:
        seen: list[tuple[str | None, bool, str]] = []
        s.conversation.on_change(
            lambda t: seen.append((t.user_transcript, t.user_transcript_pending, t.status))
        )
        turn = await s.send_audio(synthesize(SAID, voice="ash"))
        assert (
            turn.user_transcript == SAID and not turn.user_transcript_pending and turn.status == "completed"
        )
        growing = [text for text, pending, _ in seen if pending and text]
        assert len(growing) >= 3 and growing[-1] == SAID
        deltas = [e for e in s.event_log if e.type == "conversation.item.input_audio_transcription.delta"]
        assert "".join(e.raw["delta"] for e in deltas) == SAID
