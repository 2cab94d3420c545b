"""RealtimeConsole driven from Python against the emulator (no browser)."""

from __future__ import annotations

import asyncio

import ipywidgets as w
import numpy as np
import pytest

from realtime_widgets.config import ConnectionConfig
from realtime_widgets.session import RealtimeSession
from realtime_widgets.widgets import (
    AudioPlayer,
    EventLog,
    MicRecorder,
    RealtimeConsole,
    SessionConfigForm,
    TranscriptView,
)


async def _until(predicate, timeout=20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_console_connects_in_background_and_sends_text(emulator):
    console = RealtimeConsole(connection=ConnectionConfig.for_emulator(emulator))
    try:
        assert isinstance(console.session, RealtimeSession)
        assert isinstance(console.form, SessionConfigForm) and isinstance(console.event_log, EventLog)
        assert isinstance(console.recorder, MicRecorder) and isinstance(console.player, AudioPlayer)
        assert isinstance(console.transcript, TranscriptView)
        assert (
            console.text.placeholder.startswith("Type a message")
            and console.send_button.description == "Send"
        )
        await console.ready()
        assert console.session.status == "connected"
        assert "emulator" in console.status.value and "connected" in console.status.value
        # type and click Send, as a user would
        console.text.value = "Hello from the console"
        console.send_button.click()
        assert console.text.value == "" or console._tasks
        await _until(
            lambda: console.session.conversation.turns and console.session.conversation.turns[-1].done
        )
        turn = console.session.conversation.turns[-1]
        assert turn.user_text == "Hello from the console" and turn.transcript
        rows = console.transcript.rows()
        assert rows[-1]["user"] == "Hello from the console" and rows[-1]["assistant"] == turn.transcript
        types = {r.type for r in console.event_log.rows}
        assert {"conversation.item.create", "response.done", "response.output_audio.delta"} <= types
        assert console.player.history, "the player was given the response's audio"
    finally:
        await console.close()
    assert console.session.status == "closed"
    assert "closed" in console.status.value


async def test_console_hears_the_recorder(emulator):
    from realtime_widgets.emulator import synthesize

    console = RealtimeConsole(connection=ConnectionConfig.for_emulator(emulator))
    try:
        await console.ready()
        speech = synthesize("What is the weather like today?", "alloy")
        silence = speech[:0].copy()
        silence.resize(24000)  # one second of silence lets server VAD end the turn
        import numpy as np

        await console.recorder.feed(np.concatenate([silence[:6000], speech, silence]))
        conv = console.session.conversation
        await _until(lambda: conv.turns and conv.turns[-1].status == "completed", timeout=30)
        turn = conv.turns[-1]
        assert len(turn.user_audio) > 12000 and len(turn.audio) > 0
        types = [r.type for r in console.event_log.rows]
        assert "input_audio_buffer.speech_started" in types and "response.done" in types
        assert console.transcript.rows()[-1]["audio_s"] > 0.3
    finally:
        await console.close()


async def test_console_over_an_existing_session_leaves_it_open(emulator):
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator)) as session:
        console = RealtimeConsole(session=session)
        assert console.session is session
        await console.ready()
        turn = await console.send_text("Quick one.")
        assert turn is not None and turn.done
        await console.close()
        assert session.status == "connected"  # not ours to close
    with pytest.raises(ValueError, match="either session"):
        RealtimeConsole(connection=ConnectionConfig.for_emulator(emulator), session=session)


def test_console_without_a_loop_waits_for_start(emulator):
    console = RealtimeConsole(connection=ConnectionConfig.for_emulator(emulator))
    assert console.session.status == "closed"
    assert "console.start()" in console.status.value
    assert isinstance(console, w.VBox)

    async def run():
        await console.start()
        assert console.session.status == "connected"
        assert await console.send_text("   ") is None
        assert "Nothing to send" in console.status.value
        await console.close()

    asyncio.run(run())


async def test_console_say_speaks_through_the_recorder_and_returns_the_turn(emulator):
    from realtime_widgets.emulator import synthesize

    console = RealtimeConsole(connection=ConnectionConfig.for_emulator(emulator))
    try:
        await console.ready()
        turn = await console.say(synthesize("open the window please", voice="echo"))
        assert turn is console.session.conversation.turns[-1]
        assert turn.status == "completed" and turn.speech_end_ms is not None
        assert len(turn.user_audio) > 12000 and turn.duration_s > 0.5
        assert console.recorder.chunks_received >= 10  # it went through the recorder's chunk path
        again = await console.say(synthesize("and close the door", voice="echo"))
        assert again.index == turn.index + 1
        assert turn.status == "completed", "a polite speaker waits for the answer to finish"
    finally:
        await console.close()


async def test_console_say_barge_in_truncates_what_was_not_heard(emulator):
    import asyncio

    from realtime_widgets.emulator import synthesize

    console = RealtimeConsole(connection=ConnectionConfig.for_emulator(emulator))
    try:
        await console.ready()
        story = asyncio.ensure_future(
            console.say(
                synthesize("tell me a long story about a turtle on a very long journey", voice="echo")
            )
        )
        await console.session.wait_for("response.output_audio.delta")
        await asyncio.sleep(0.8)
        await console.say(synthesize("wait stop", voice="echo"), barge_in=True)
        await story
        cut = console.session.conversation.turns[0]
        assert cut.status in ("truncated", "cancelled") and cut.truncated_ms is not None
        assert 300 < cut.truncated_ms < cut.duration_s * 1000
        assert len(cut.heard_transcript) < len(cut.transcript)
    finally:
        await console.close()


async def test_console_say_refuses_manual_turns(emulator):
    from realtime_widgets import SessionConfig

    console = RealtimeConsole(
        connection=ConnectionConfig.for_emulator(emulator), config=SessionConfig(turn_detection="manual")
    )
    try:
        await console.ready()
        with pytest.raises(ValueError, match="send_audio"):
            await console.say(np.zeros(24000, np.int16))
    finally:
        await console.close()


async def test_console_repr_says_where_and_how_far_without_secrets(emulator):
    console = RealtimeConsole(connection=ConnectionConfig.for_emulator(emulator))
    try:
        assert repr(console).endswith("· connecting>")
        await console.ready()
        text = repr(console)
        assert text.startswith("<RealtimeConsole emulator at http://127.0.0.1:") and text.endswith(
            "· connected>"
        )
        assert emulator.api_key not in text
    finally:
        await console.close()


async def test_stop_mid_utterance_commits_the_speech_and_the_next_turn_starts_clean(emulator):
    from realtime_widgets.emulator import synthesize

    console = RealtimeConsole(connection=ConnectionConfig.for_emulator(emulator))
    try:
        await console.ready()
        conv = console.session.conversation
        speech = synthesize("What is the weather like today in the city of Paris?", "alloy")
        # Record, talk, press Stop in the middle of a word: no silence for server VAD to hear.
        await console.recorder.feed(np.concatenate([np.zeros(6000, np.int16), speech[: len(speech) // 2]]))
        await _until(lambda: conv.turns and conv.turns[0].done, timeout=30)
        first = conv.turns[0]
        assert first.status == "completed" and first.transcript
        assert first.user_transcript  # transcription was on, and the row says what was said
        assert "sent" in console.status.value and "answer" in console.status.value
        rows = console.transcript.rows()
        assert "transcription is off" not in rows[0]["user"] and rows[0]["status"] == "completed"
        # The next Record starts a turn of its own: nothing of the first is left in the buffer.
        turn = await console.say(synthesize("close the door", "alloy"))
        assert turn.index == 1 and turn.status == "completed"
        assert len(conv.turns) == 2 and all(t.status != "pending" for t in conv.turns)
        assert len(turn.user_audio) < len(speech)  # its own words, not the first turn's rest
    finally:
        await console.close()


async def test_enter_sends_and_a_closed_console_keeps_the_text_and_says_so(emulator):
    console = RealtimeConsole(connection=ConnectionConfig.for_emulator(emulator))
    await console.ready()
    console.text.value = "Hello by Enter"
    console.text._handle_custom_msg({"event": "submit"}, [])  # what the page sends on Enter
    conv = console.session.conversation
    await _until(lambda: conv.turns and conv.turns[-1].done)
    assert conv.turns[-1].user_text == "Hello by Enter" and console.text.value == ""
    await console.close()
    assert console.recorder.disabled and console.send_button.disabled and console.text.disabled
    assert console.reconnect_button.layout.display != "none"
    assert await console.send_text("typed after close") is None
    console.text.value = "kept"
    assert await console.send_text() is None
    assert console.text.value == "kept"  # a message that was not sent stays in the box
    assert "console is closed" in console.status.value and "Reconnect" in console.status.value
    assert "async with" not in console.status.value
    with pytest.raises(Exception, match="console is closed"):
        await console.say(np.zeros(2400, np.int16))
    console.reconnect_button.click()  # as a person would: a task that closes and reopens
    await _until(lambda: console.session.status == "connected")
    assert not console.send_button.disabled
    assert console.reconnect_button.layout.display == "none"
    turn = await console.send_text()
    assert turn is not None and turn.user_text == "kept" and console.text.value == ""
    await console.close()
