"""TranscriptView over a real conversation with the emulator."""

from __future__ import annotations

import numpy as np
import pytest
from page_messages import page_sends

from realtime_widgets.config import ConnectionConfig
from realtime_widgets.conversation import Turn
from realtime_widgets.session import RealtimeSession
from realtime_widgets.session_config import SessionConfig
from realtime_widgets.widgets.player import AudioPlayer
from realtime_widgets.widgets.transcript import TRANSCRIBING, TranscriptView, turn_snapshot


async def test_text_turn_shows_user_and_assistant(session, front_end):
    view = TranscriptView(session.conversation)
    turn = await session.send_text("What time is it?")
    (row,) = view.rows()
    assert row["user"] == "What time is it?" and not row["user_pending"]
    assert row["assistant"] == turn.transcript and len(row["assistant"]) > 3
    assert row["status"] == "completed" and row["audio_s"] > 0.3
    assert row["latency"] and row["latency"].endswith(" s")
    sent = view.flush()
    assert sent and sent[-1]["assistant"] == turn.transcript
    assert view.comm.custom_with_buffers("turns")[-1][0]["turns"] == sent
    # a page that renders asks for everything so far
    page_sends(view, {"kind": "ready"})
    reset, _ = view.comm.custom_with_buffers("reset")[-1]
    assert [t["index"] for t in reset["turns"]] == [0]


async def test_spoken_turn_play_and_spectrogram(session, front_end, emulator):
    from realtime_widgets.emulator import synthesize

    await session.update(session.config.replace(transcription_model="whisper-1"))
    player = AudioPlayer()
    view = TranscriptView(session.conversation, player=player)
    turn = await session.send_audio(synthesize("Hello, can you hear me?", "alloy"))
    row = view.rows()[-1]
    assert row["user_audio_s"] > 0.5
    assert row["user"] in (TRANSCRIBING, turn.user_transcript)
    page_sends(view, {"kind": "play", "index": turn.index, "side": "assistant"})
    assert view.played == [(turn.index, "assistant")]
    assert player.history and player.history[-1][1] == turn.audio_samples
    page_sends(view, {"kind": "spectrogram", "index": turn.index})
    msg, buffers = view.comm.custom_with_buffers("spectrogram")[-1]
    assert msg["index"] == turn.index and "error" not in msg
    assert bytes(buffers[0]).startswith(b"\x89PNG")


async def test_play_without_player_sends_pcm_to_the_page(session, front_end):
    view = TranscriptView(session.conversation)
    turn = await session.send_text("Short answer please.")
    view.play(turn.index)
    msg, buffers = view.comm.custom_with_buffers("audio")[-1]
    assert msg["rate"] == 24000
    pcm = np.frombuffer(bytes(buffers[0]), dtype="<i2")
    assert np.array_equal(pcm, turn.audio)
    with pytest.raises(ValueError, match="no user audio"):
        view.play(turn.index, "user")
    with pytest.raises(IndexError, match="has 1 turns"):
        view.play(5)


def test_snapshot_marks():
    pending = Turn(index=0, user_transcript_pending=True)
    assert turn_snapshot(0, pending)["user"] == TRANSCRIBING
    growing = Turn(index=0, user_transcript="Turtles live", user_transcript_pending=True)
    assert (turn_snapshot(0, growing)["user"], turn_snapshot(0, growing)["user_pending"]) == (
        "Turtles live",
        True,
    )
    growing.user_transcript_pending = False
    assert turn_snapshot(0, growing)["user_pending"] is False
    cut = Turn(index=1, user_text="hi", transcript="Hello there", status="truncated", truncated_ms=1234)
    snap = turn_snapshot(1, cut)
    assert snap["interrupted"] == "interrupted at 1234 ms" and snap["assistant"] == "Hello there"
    assert snap["unheard"] == ""  # no audio received: nothing can be said to be unplayed
    failed = Turn(index=2, user_text="x", status="failed", error={"message": "rate limited"})
    assert turn_snapshot(2, failed)["error"] == "rate limited"


async def test_an_interrupted_turn_row_shows_the_heard_words_then_the_rest(session, front_end):
    view = TranscriptView(session.conversation)
    turn = await session.send_text("Please tell me a long story about a turtle on a journey.")
    await session.interrupt(played_ms=1200)
    row = view.rows()[-1]
    assert row["interrupted"] == "interrupted at 1200 ms"
    assert row["heard"] == turn.heard_transcript and row["unheard"] == turn.unheard_transcript
    assert row["heard"] and row["unheard"]
    assert f"{row['heard']} {row['unheard']}".split() == row["assistant"].split()
    page_sends(view, {"kind": "spectrogram", "index": turn.index, "theme": "dark", "width": 700})
    msg, buffers = view.comm.custom_with_buffers("spectrogram")[-1]
    png = bytes(buffers[0])
    assert msg == {"kind": "spectrogram", "index": turn.index} and png.startswith(b"\x89PNG")
    assert int.from_bytes(png[16:20], "big") == 700  # drawn as wide as the page asked


async def test_spoken_turn_without_transcription_says_so(emulator):
    speech = np.concatenate(
        [np.zeros(2400, np.int16), (np.sin(np.arange(36000) / 9) * 8000).astype(np.int16)]
    )
    async with RealtimeSession(
        ConnectionConfig.for_emulator(emulator), SessionConfig(turn_detection="manual")
    ) as s:
        turn = await s.send_audio(speech)
    row = turn_snapshot(0, turn)
    assert row["user"] == "(speech, 1.6 s; input transcription is off)"
    assert TRANSCRIBING not in row["user"]


async def test_a_tool_call_turn_shows_the_call_and_its_answer(session, front_end):
    tool = {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}}
    await session.update(session.config.replace(tools=[tool]))
    view = TranscriptView(session.conversation)
    turn = await session.send_text("Please use get time.")
    assert view.rows()[-1]["assistant"] == "[called get_time({})]"
    reply = await session.send_tool_output(turn.tool_calls[0], "noon")
    call_row, reply_row = view.rows()[-2:]
    assert call_row["assistant"] == "[called get_time({}) → noon]"
    assert reply_row["assistant"] == reply.transcript == "get_time returned noon"
