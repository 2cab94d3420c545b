"""Audio chat completions against the emulator, through the official SDK."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_widgets.completions import AudioChat, AudioReply, speak
from realtime_widgets.config import ConnectionConfig
from realtime_widgets.errors import AudioInputError, ConnectionFailed


@pytest.fixture
def conn(emulator) -> ConnectionConfig:
    return ConnectionConfig.for_emulator(emulator)


def test_speak_returns_playable_audio(conn):
    reply = speak("Hello there", connection=conn)
    assert isinstance(reply, AudioReply) and reply.id
    assert "Hello there" in reply.transcript
    assert reply.audio.dtype == np.int16 and reply.duration_s > 0.3 and np.abs(reply.audio).max() > 1000
    html = reply._repr_html_()
    assert '<audio controls src="data:audio/wav;base64,' in html and "Hello there" in html


@pytest.mark.parametrize("fmt", ["mp3", "flac", "opus", "pcm16"])
def test_output_formats_decode(conn, fmt, tmp_path):
    reply = speak("Yes", format=fmt, connection=conn)
    assert reply.format == fmt and reply.duration_s > 0.1 and np.abs(reply.audio).max() > 1000
    saved = reply.save(tmp_path / "reply")
    assert saved.stat().st_size > 0
    wav = reply.save(tmp_path / "reply.wav")
    assert wav.read_bytes()[:4] == b"RIFF"


async def test_multi_turn_references_earlier_audio_by_id(conn, emulator):
    async with AudioChat(conn, instructions="Be brief.") as chat:
        first = chat.ask("Good morning")
        before = emulator.stats.completion_requests
        second = await chat.ask_async("And again")
    assert emulator.stats.completion_requests == before + 1
    # The service would answer 400 audio_not_found for an unknown id: this id was accepted.
    assert {"role": "assistant", "audio": {"id": first.id}} in chat.messages
    assert second.id and second.id != first.id and "And again" in second.transcript
    assert [m["role"] for m in chat.messages] == ["system", "user", "assistant", "user", "assistant"]


def test_unknown_audio_id_is_rejected_by_the_emulator(conn):
    with AudioChat(conn) as chat, pytest.raises(ConnectionFailed) as info:
        chat.messages.append({"role": "assistant", "audio": {"id": "audio_doesnotexist"}})
        chat.ask("hi")
    assert info.value.status == 400 and "audio_doesnotexist" in str(info.value)


def test_audio_question_any_format(conn, tmp_path, emulator):
    from realtime_widgets.audio import save_audio
    from realtime_widgets.emulator import synthesize

    clip = save_audio(synthesize("hello world", "alloy"), tmp_path / "q.mp3")
    with AudioChat(conn) as chat:
        reply = chat.ask(audio=clip)
    assert reply.transcript and reply.duration_s > 0.2
    part = chat.messages[0]["content"][0]
    assert part["type"] == "input_audio" and part["input_audio"]["format"] == "wav"


def test_20mb_limit_checked_before_upload(conn, emulator, tmp_path):
    big = tmp_path / "big.mp3"
    big.write_bytes(b"\x00" * (30 * 1024 * 1024))
    before = emulator.stats.completion_requests
    with pytest.raises(AudioInputError, match=r"30\.0 MB.*20 MB"):
        AudioChat(conn).ask(audio=big)
    long_audio = np.zeros(24000 * 60 * 8, dtype=np.int16)  # 8 minutes ≈ 23 MB as wav
    with pytest.raises(AudioInputError, match="20 MB"):
        AudioChat(conn).ask(audio=long_audio)
    assert emulator.stats.completion_requests == before


def test_http_errors_are_explained():
    from realtime_widgets.emulator import Emulator

    with Emulator(api_key="right", deployments=["gpt-4o-audio-preview"]) as emu:
        with pytest.raises(ConnectionFailed) as info:
            speak("hi", connection=ConnectionConfig(endpoint=emu.endpoint, api_key="wrong-key-xyz"))
        assert info.value.status == 401 and "AZURE_OPENAI_API_KEY" in str(info.value)
        assert "wrong-key-xyz" not in str(info.value)
        cfg = ConnectionConfig(endpoint=emu.endpoint, api_key="right", chat_deployment="no-such")
        with pytest.raises(ConnectionFailed) as info:
            speak("hi", connection=cfg)
        assert (
            info.value.status == 404 and "'no-such'" in str(info.value) and "Deployments" in str(info.value)
        )


def test_429_is_explained_with_retry_after(conn, emulator):
    emulator.faults.handshake_429 = 1
    try:
        with pytest.raises(ConnectionFailed) as info:
            speak("hi", connection=conn.replace(max_retries=0))
    finally:
        emulator.faults.reset()
    assert info.value.status == 429 and info.value.retry_after == 2


def test_bad_arguments(conn):
    with pytest.raises(ValueError, match="voice"):
        AudioChat(conn, voice="bob")
    with pytest.raises(ValueError, match="format"):
        AudioChat(conn, format="aiff")
    with pytest.raises(ValueError, match="text=, audio="):
        AudioChat(conn).ask()
    with pytest.raises(ValueError, match="empty"):
        AudioChat(conn).ask(audio=np.zeros(0, dtype=np.int16))


@pytest.mark.parametrize("chat_path", ["deployments", "v1"])
async def test_both_chat_paths(conn, chat_path):
    async with AudioChat(conn.replace(chat_path=chat_path)) as chat:
        reply = await chat.ask_async("Ping")
    assert "Ping" in reply.transcript and reply.duration_s > 0.1


async def test_a_streamed_reply_reaches_on_audio_piece_by_piece_and_stays_in_the_history(
    conn, emulator, request
):
    from realtime_widgets.widgets import AudioPlayer

    player = AudioPlayer()
    sent: list[dict] = []  # what goes to the page
    player.send = lambda content, buffers=None: sent.append(content)
    pieces: list[np.ndarray] = []

    def on_audio(samples: np.ndarray) -> None:
        pieces.append(samples)
        player.enqueue(samples)

    chat = AudioChat(conn, voice="verse")  # wav for whole replies; a streamed one is pcm16
    request.addfinalizer(chat.close)  # its sync client; the async one is closed below
    reply = await chat.ask_async("Tell me about the sea", on_audio=on_audio)
    await chat.aclose()  # a later ask_async opens a new client
    assert len(pieces) > 3 and all(p.dtype == np.int16 for p in pieces)
    assert np.array_equal(np.concatenate(pieces), reply.audio) and reply.duration_s > 1.0
    assert reply.format == "pcm16" and reply.transcript == "You said: Tell me about the sea"
    assert reply.id and reply.expires_at and reply.usage["completion_tokens_details"]["audio_tokens"] > 0
    # The player queued the pieces as one stream: nothing was cleared between them.
    assert [k for k, _, _ in player.history] == ["array"] * len(pieces)
    assert sum(n for _, n, _ in player.history) == reply.audio.size
    audio_messages = [m for m in sent if m["kind"] == "audio"]
    assert len(audio_messages) == len(pieces) and len({m["stream"] for m in audio_messages}) == 1
    assert [m["seq"] for m in audio_messages] == list(range(len(pieces)))

    # The next turn refers to the streamed reply by its id, like any other.
    before = emulator.stats.completion_requests
    second = chat.ask("And the mountains?", on_audio=lambda samples: None)
    assert emulator.stats.completion_requests == before + 1
    assert chat.messages[-3] == {"role": "assistant", "audio": {"id": reply.id}}
    assert second.transcript == "You said: And the mountains?"
    with pytest.raises(TypeError, match="on_audio must be a callable"):
        chat.ask("x", on_audio="player")  # type: ignore[arg-type]
