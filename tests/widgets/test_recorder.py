"""MicRecorder without a browser: the chunk path, sequencing, and a spoken turn via the emulator."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import traitlets
from page_messages import page_sends, sent_to_page

from realtime_widgets import ConnectionConfig, RealtimeSession, SessionConfig
from realtime_widgets.audio import save_audio
from realtime_widgets.emulator import synthesize
from realtime_widgets.widgets.recorder import MicRecorder


def _chunk_msg(stream: object, seq: int) -> dict:
    return {"kind": "chunk", "stream": stream, "seq": seq, "t": 0.0}


def _pcm(n: int = 2400, value: int = 100) -> list[memoryview]:
    return [memoryview(np.full(n, value, dtype="<i2").tobytes())]


def test_constructor_checks_its_arguments() -> None:
    with pytest.raises(traitlets.TraitError, match="between 20 and 200"):
        MicRecorder(chunk_ms=250)
    with pytest.raises(traitlets.TraitError, match='"toggle" or "push"'):
        MicRecorder(mode="hold")
    recorder = MicRecorder(chunk_ms=20, mode="push", echo_cancellation=False)
    assert (recorder.chunk_ms, recorder.mode, recorder.echo_cancellation) == (20, "push", False)
    assert recorder.noise_suppression and recorder.auto_gain_control
    assert recorder.in_browser is False  # only a page that renders it says otherwise
    with pytest.raises(TypeError, match="RealtimeSession"):
        recorder.connect(object())


def test_in_order_chunks_are_delivered_and_acknowledged(front_end) -> None:
    recorder = MicRecorder()
    got: list[np.ndarray] = []
    recorder.on_chunk(got.append)
    page_sends(recorder, {"kind": "start", "stream": 7}, [])
    for seq in range(3):
        page_sends(recorder, _chunk_msg(7, seq), _pcm(value=seq + 1))
        assert recorder.last_ack == (7, seq)
    assert [int(c[0]) for c in got] == [1, 2, 3]
    assert all(c.dtype == np.int16 and c.size == 2400 for c in got)
    assert recorder.chunks_received == 3 and recorder.chunks_lost == 0 and recorder.error == ""
    assert recorder.level > 0
    acks = sent_to_page(recorder, "ack")
    assert [(a["stream"], a["seq"]) for a in acks] == [(7, 0), (7, 1), (7, 2)]


def test_out_of_order_chunks_are_put_back_in_order() -> None:
    recorder = MicRecorder()
    got: list[int] = []
    recorder.on_chunk(lambda c: got.append(int(c[0])))
    page_sends(recorder, {"kind": "start", "stream": "s"}, [])
    for seq in (0, 2, 3, 1, 4):
        page_sends(recorder, _chunk_msg("s", seq), _pcm(value=seq))
    assert got == [0, 1, 2, 3, 4] and recorder.chunks_lost == 0 and recorder.error == ""
    assert recorder.last_ack == ("s", 4) and recorder.chunks_reordered == 2


def test_a_gap_is_reported_in_words_once_a_window_waits_and_a_repeat_is_not_delivered_twice() -> None:
    recorder = MicRecorder()
    recorder.max_in_flight = 3
    got: list[int] = []
    unsubscribe = recorder.on_chunk(lambda c: got.append(int(c[0])))
    page_sends(recorder, {"kind": "start", "stream": "s"}, [])
    page_sends(recorder, _chunk_msg("s", 0), _pcm(value=0))
    page_sends(recorder, _chunk_msg("s", 3), _pcm(value=3))  # 1 and 2 never come
    page_sends(recorder, _chunk_msg("s", 4), _pcm(value=4))
    assert got == [0] and recorder.last_ack == ("s", 0)  # held back: 1 may still come
    page_sends(recorder, _chunk_msg("s", 5), _pcm(value=5))  # a whole window waits
    assert got == [0, 3, 4, 5] and recorder.chunks_lost == 2
    assert "2 audio chunk(s) were lost" in recorder.error and "expected #1, got #3" in recorder.error
    page_sends(recorder, _chunk_msg("s", 5), _pcm(value=5))  # a resend after a lost ack
    assert got == [0, 3, 4, 5] and recorder.last_ack == ("s", 5)
    # A new stream starts a new sequence and clears the error.
    page_sends(recorder, {"kind": "start", "stream": "t"}, [])
    page_sends(recorder, _chunk_msg("t", 0), _pcm(value=9))
    assert recorder.error == "" and got[-1] == 9
    unsubscribe()
    page_sends(recorder, _chunk_msg("t", 1), _pcm())
    assert len(got) == 5 and recorder.chunks_received == 6


def test_a_failing_callback_is_shown_and_does_not_stop_other_sinks() -> None:
    recorder = MicRecorder()
    got: list[np.ndarray] = []
    recorder.on_chunk(lambda _c: 1 / 0)
    recorder.on_chunk(got.append)
    page_sends(recorder, _chunk_msg(1, 0), _pcm())
    assert len(got) == 1 and "ZeroDivisionError" in recorder.error


async def test_feed_splits_into_sequenced_chunks_of_chunk_ms(tmp_path) -> None:
    recorder = MicRecorder(chunk_ms=40)
    got: list[np.ndarray] = []
    recorder.on_chunk(got.append)
    tone = (np.sin(np.arange(24_000) * 2 * np.pi * 440 / 24_000) * 8000).astype(np.int16)
    path = save_audio(tone, tmp_path / "tone.wav")
    n = await recorder.feed(path)
    assert n == 25 and len(got) == 25 and all(c.size == 960 for c in got)
    assert np.array_equal(np.concatenate(got), tone)
    assert recorder.last_ack[1] == 24 and recorder.chunks_lost == 0
    assert recorder.status == "idle"
    # A float array is converted on the way in (the package's one conversion): 0.2 s = 5 chunks.
    n = await recorder.feed(np.zeros(4800, dtype=np.float32))
    assert n == 5 and got[-1].dtype == np.int16 and recorder.last_ack[1] == 4


async def test_fed_speech_reaches_the_session_and_server_vad_answers(emulator) -> None:
    speech = synthesize("What is the weather like?", "alloy")
    silence = np.zeros(24_000, dtype=np.int16)
    audio = np.concatenate([silence[:12_000], speech, silence])
    recorder = MicRecorder()
    config = SessionConfig(silence_duration_ms=300)
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator), config) as session:
        done = asyncio.Event()
        session.on("response.done", lambda _e: done.set())
        recorder.connect(session)
        n = await recorder.feed(audio)
        await asyncio.wait_for(done.wait(), 30)
        types = [e.type for e in session.event_log]
        appends = [e for e in session.event_log if e.type == "input_audio_buffer.append"]
        turn = session.conversation.turns[-1]
    assert n == recorder.chunks_received == len(appends) == -(-audio.size // 2400)
    assert "input_audio_buffer.speech_started" in types and "input_audio_buffer.speech_stopped" in types
    assert turn.status == "completed" and turn.audio.size > 24_000 // 2
    assert turn.user_audio.size > speech.size // 2  # the committed user audio holds the speech
