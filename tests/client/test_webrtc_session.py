"""`RealtimeSession(call_id=...)` (issue 13): the kernel joins a page's WebRTC call as its sideband.

An aiortc caller stands in for the page (tests/client/webrtc_page.py): it dials with the kernel's
ephemeral key and taps its two tracks into `session.tap_audio`. The kernel's Conversation, event log,
tools, send_text, taps, save/load and barge-in are checked against what the caller sent and heard.
"""

from __future__ import annotations

import asyncio
import json
import time
import warnings

import numpy as np
import pytest

from realtime_widgets import (
    AudioInputError,
    CallAudioError,
    ConfigurationError,
    ConnectionConfig,
    ConnectionFailed,
    Conversation,
    RealtimeSession,
    SessionConfig,
    create_client_secret,
    plot_spectrogram,
)
from realtime_widgets.emulator.voice import speak
from realtime_widgets.emulator.webrtc_call import WEBRTC_FILTERED_EVENTS
from tests.client.webrtc_page import Page
from tests.emulator.webrtc_client import calls_end, voiced_seconds

pytestmark = pytest.mark.usefixtures(calls_end.__name__)

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CONFIG = SessionConfig(instructions="Be brief.", tools=[WEATHER], transcription_model="whisper-1")


async def _turn_within(coro, seconds: float, s: RealtimeSession):
    try:
        return await asyncio.wait_for(coro, seconds)
    except asyncio.TimeoutError:
        raise AssertionError(
            f"no turn in {seconds} s; the kernel saw {[e.type for e in s.event_log][-40:]}"
        ) from None


async def test_a_spoken_turn_with_a_kernel_tool_over_a_filtered_call(emulator):
    connection = ConnectionConfig.for_emulator(emulator)
    page = await Page.dial(emulator, await create_client_secret(connection, CONFIG))
    try:
        async with RealtimeSession(connection, CONFIG, call_id=page.call_id) as s:
            page.attach(s)
            assert s.transport == "webrtc" and s.server_session["tools"][0]["name"] == "get_weather"
            asked: list[str] = []
            s.on_tool("get_weather", lambda city: asked.append(city) or "Sunny, 21 C.")
            since = len(s.conversation.turns)
            page.say(speak("Get weather for Paris.", "echo").audio)
            await _turn_within(s.wait_for("output_audio_buffer.stopped", timeout=40), 40, s)
            turns = s.conversation.turns[since:]
            user = turns[0]
            assert user.user_transcript and "weather" in user.user_transcript.lower(), user.user_transcript
            assert (
                [c.name for c in user.tool_calls] == ["get_weather"]
                and len(asked) == 1
                and "Paris" in asked[0]
            ), asked
            reply = next(t for t in turns if t.transcript)
            assert "sunny" in reply.transcript.lower(), reply.transcript  # the reply read the tool's output
            # The page saw the short list only; the kernel's log holds every event, its own included.
            page_types = set(page.caller.types())
            assert page_types <= WEBRTC_FILTERED_EVENTS, page_types - WEBRTC_FILTERED_EVENTS
            kernel_types = {e.type for e in s.event_log}
            assert {
                "session.updated",
                "input_audio_buffer.committed",
                "response.function_call_arguments.done",
                "rate_limits.updated",
                "output_audio_buffer.started",
            } <= kernel_types
            assert page_types - {"conversation.item.created"} <= kernel_types
            sent = [
                e.raw for e in s.event_log if e.direction == "client" and e.type == "conversation.item.create"
            ]
            assert json.loads(json.dumps(sent[-1]["item"]))["output"] == "Sunny, 21 C."
            assert "conversation.item.truncate" not in {
                e.type for e in s.event_log if e.direction == "client"
            }
            # The microphone is the call's: kernel audio is refused, clearly.
            with pytest.raises(CallAudioError, match="call's own track"):
                await s.send_audio(np.zeros(2400, np.int16))
            with pytest.raises(CallAudioError, match=page.call_id):
                s.append_audio_nowait(np.zeros(2400, np.int16))
    finally:
        await page.hang_up()


@pytest.mark.parametrize("created", [False, True], ids=["no-session.created", "session.created-on-join"])
async def test_send_text_from_the_kernel_is_spoken_on_the_call_and_taps_are_stored(
    emulator, tmp_path, monkeypatch, created
):
    """Also: whether or not the service greets a sideband with `session.created` (the emulator does not;
    Azure's observer sample expects one), the join works and the microphone's clock stays the call's.
    The second run hands the taps over from another thread, as comm handlers may."""
    if created:
        _greet_sidebands(emulator, monkeypatch)
    connection = ConnectionConfig.for_emulator(emulator)
    config = SessionConfig(instructions="Be brief.", transcription_model="whisper-1")
    secret = await create_client_secret(connection, config, filtered=False)
    page = await Page.dial(emulator, secret, threaded=created)
    try:
        s = RealtimeSession(connection, config, call_id=page.call_id)
        if created:  # taps recorded before the join's session.created: it must not restart their clock
            page.attach(s)
            await asyncio.sleep(0.3)
            assert len(s.conversation.input) > 0
        async with s:
            page.attach(s)
            before = time.monotonic()
            turn = await s.send_text("Read this aloud: the quick brown fox jumps over the lazy dog.")
            assert "quick brown fox" in turn.transcript.lower() and turn.status == "completed"
            await s.wait_for("output_audio_buffer.stopped", timeout=30)
            await asyncio.sleep(0.6)  # the tail of the reply reaches the page and its tap
            heard = voiced_seconds(page.caller.heard_audio(since=before))
            reply_s = len(speak(turn.transcript, "alloy").audio) / 24000
            assert heard >= 0.5 * reply_s, (heard, reply_s)  # spoken on the caller's remote track
            # The tapped output is this turn's audio: about as long as the reply, voiced like it.
            assert 0.9 * reply_s <= turn.duration_s <= reply_s + 1.0, (turn.duration_s, reply_s)
            assert voiced_seconds(turn.audio) >= 0.5 * reply_s
            assert turn.latency_first_audio_s is not None and turn.latency_first_audio_s < 5
            # A spoken turn: the tapped microphone lines up with the service's speech_started/stopped.
            since = len(s.conversation.turns)
            page.say(speak("What is the weather like today?", "echo").audio)
            spoken = await _turn_within(s.wait_for_turn(since), 40, s)
            start, stop = spoken.user_range
            mic = s.conversation.input.read()
            voiced = np.flatnonzero(np.abs(mic.astype(np.int32)) > 300)
            onset, offset = voiced[0], voiced[-1]
            print(
                f"speech start {start / 24:.0f} ms vs onset {onset / 24:.0f} ms; stop {stop / 24:.0f} vs {offset / 24:.0f}"
            )
            assert abs(start - onset) / 24 <= 150, (start, onset)
            # audio_end_ms includes the VAD's silence (the WebSocket path's meaning too).
            assert abs((stop - offset) / 24 - config.silence_duration_ms) <= 150, (stop, offset)
            assert np.array_equal(mic[onset : offset + 1], np.concatenate(page.spoken)[onset : offset + 1])
            assert ("session.created" in {e.type for e in s.event_log}) == created
            assert s.server_session is not None and s.server_session["instructions"] == "Be brief."
        figure = plot_spectrogram(s.conversation)
        assert figure is not None
        loaded = Conversation.load(s.conversation.save(tmp_path / "call"))
        assert [t.transcript for t in loaded.turns] == [t.transcript for t in s.conversation.turns]
        assert np.array_equal(loaded.turns[0].audio, s.conversation.turns[0].audio)
        assert loaded.turns[-1].user_range == spoken.user_range
    finally:
        await page.hang_up()


def _greet_sidebands(emulator, monkeypatch) -> None:
    """Make the emulator send `session.created` to each sideband as it joins (as Azure may)."""
    from realtime_widgets.emulator import calls, server

    joined = calls.sideband

    async def greeting_sideband(request, call_id):
        call = emulator._runner.app[calls.CALLS_KEY].live.get(call_id)
        if call is not None:
            greet = {"type": "session.created", "event_id": "evt_greet", "session": call.session.session}

            class Greeting(set):
                def add(self, ws) -> None:
                    super().add(ws)
                    asyncio.ensure_future(ws.send_str(json.dumps(greet)))

            call.wire.sidebands = Greeting(call.wire.sidebands)
        return await joined(request, call_id)

    monkeypatch.setattr(server, "sideband", greeting_sideband)  # where the route looks it up


def test_taps_keep_the_microphone_clock_and_refuse_bad_input(emulator):
    s = RealtimeSession(ConnectionConfig.for_emulator(emulator), call_id="rtc_not_joined_yet")
    chunk = np.full(2400, 1000, np.int16)  # `at`: each chunk's start on the tap's clock (seq x 0.1 s)
    s.tap_audio("input", chunk, 0.0)
    s.tap_audio("input", chunk, 0.1)
    s.tap_audio("input", chunk, 0.2 + 1e-6)  # rounding: nothing added
    s.tap_audio("input", chunk, 0.5)  # chunks 3 and 4 were lost on the way
    mic = s.conversation.input.read()
    assert len(mic) == 6 * 2400
    assert (
        (mic[: 3 * 2400] == 1000).all()
        and (mic[3 * 2400 : 5 * 2400] == 0).all()
        and (mic[5 * 2400 :] == 1000).all()
    )
    s.tap_audio("output", chunk)  # no response is playing: not the model's audio
    assert len(s.conversation.output) == 0
    assert [e.type for e in s.event_log] == ["webrtc.input_audio.tap"] * 4
    with pytest.raises(ValueError, match="'input' .*'output'"):
        s.tap_audio("speaker", chunk)  # type: ignore[arg-type]
    with pytest.raises(AudioInputError, match="empty"):
        s.tap_audio("input", np.zeros(0, np.int16))
    with pytest.raises(ValueError, match="at must be"):
        s.tap_audio("input", chunk, at=-1.0)


async def test_joining_an_unknown_call_says_so(emulator):
    connection = ConnectionConfig.for_emulator(emulator)
    with pytest.raises(ConnectionFailed, match="No live WebRTC call 'rtc_nope'"):
        async with RealtimeSession(connection, call_id="rtc_nope"):
            pass
    with pytest.raises(ValueError, match="call_id"):
        RealtimeSession(connection, call_id="")
    with pytest.raises(ConfigurationError, match="conversation.save"):
        RealtimeSession(connection, call_id="rtc_x", record="cassette-folder")
    # The sideband join and the key it follows refuse the same things in the same words.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the preview protocol's retirement notice
        preview = ConnectionConfig.for_emulator(emulator, protocol="preview")
    transcription = SessionConfig(type="transcription", transcription_model="whisper-1")
    for bad_connection, bad_config, words in (
        (preview, None, "WebRTC needs the GA protocol"),
        (connection, transcription, "type='realtime'"),
    ):
        with pytest.raises(ConfigurationError, match=words) as joining:
            RealtimeSession(bad_connection, bad_config, call_id="rtc_x")
        with pytest.raises(ConfigurationError, match=words) as minting:
            await create_client_secret(bad_connection, bad_config)
        assert str(joining.value) == str(minting.value)
    async with preview.async_client() as client:
        with pytest.raises(ConfigurationError, match="WebRTC needs the GA protocol"):
            preview.realtime_connect(client, call_id="rtc_x")  # the environment's, resolved


LONG_REPLY = " ".join(["The quick brown fox jumps over the lazy dog."] * 6)


@pytest.fixture
async def long_reply_call(clean_emulator):
    """A filtered call whose replies are long, joined by the kernel, the caller's taps attached."""
    clean_emulator.reply = lambda text, seconds: LONG_REPLY
    connection = ConnectionConfig.for_emulator(clean_emulator)
    config = SessionConfig(instructions="Be brief.")
    page = await Page.dial(clean_emulator, await create_client_secret(connection, config))
    try:
        async with RealtimeSession(connection, config, call_id=page.call_id) as s:
            page.attach(s)
            yield s, page
    finally:
        await page.hang_up()


async def test_barge_in_over_webrtc_is_the_service_s_and_trims_the_transcript(long_reply_call, tmp_path):
    """The caller speaks over a long reply: the service clears its output buffer and truncates the item
    at what the track played; the kernel sends neither a cancel nor a truncate, and its turn is marked
    truncated with the transcript cut where the tapped audio was cut."""
    s, page = long_reply_call
    page.say(speak("Tell me a long story please.", "echo").audio)
    started = await s.wait_for("output_audio_buffer.started", timeout=30)
    await asyncio.sleep(1.5)
    waits = [
        asyncio.ensure_future(s.wait_for(kind, timeout=20))
        for kind in ("output_audio_buffer.cleared", "conversation.item.truncated")
    ]
    await asyncio.sleep(0)  # both wait from now on
    page.say(speak("Stop, stop.", "echo").audio)
    cleared, truncated = await asyncio.gather(*waits)
    assert cleared.raw["response_id"] == started.raw["response_id"]
    await asyncio.sleep(0.7)  # the played tail reaches the tap
    turn = s.conversation.turn_for_response(started.raw["response_id"])
    assert turn is not None and turn.status == "truncated"
    assert turn.truncated_ms == truncated.raw["audio_end_ms"]
    assert 1200 <= turn.truncated_ms <= 3500, turn.truncated_ms
    sent = {e.type for e in s.event_log if e.direction == "client"}
    assert not sent & {"conversation.item.truncate", "response.cancel", "output_audio_buffer.clear"}
    # The tapped audio of the turn is what played: about truncated_ms, not the whole reply.
    assert turn.duration_s * 1000 <= turn.truncated_ms + 1200, (turn.duration_s, turn.truncated_ms)
    heard, unheard = turn.heard_transcript.split(), turn.unheard_transcript.split()
    assert heard and unheard and LONG_REPLY.startswith(" ".join(heard)), (heard, unheard)
    # As many words as the voice speaks in truncated_ms (eSpeak at the reply's pace), +-3.
    full = speak(LONG_REPLY, "alloy").audio
    words_per_ms = len(LONG_REPLY.split()) / (len(full) / 24)
    print(
        f"truncated at {turn.truncated_ms} ms; heard {len(heard)} words, expected {turn.truncated_ms * words_per_ms:.1f}"
    )
    assert abs(len(heard) - turn.truncated_ms * words_per_ms) <= 3
    loaded = Conversation.load(s.conversation.save(tmp_path / "cut"))
    again = loaded.turn_for_response(started.raw["response_id"])
    assert again is not None and (again.status, again.truncated_ms) == (turn.status, turn.truncated_ms)
    assert again.heard_transcript == turn.heard_transcript  # the tapped audio is known as such again


async def test_interrupt_on_a_call_asks_the_service_to_clear(long_reply_call):
    """`s.interrupt()` over WebRTC sends `output_audio_buffer.clear`: the service stops the track and
    truncates at what it played; the kernel sends no truncate of its own."""
    s, _page = long_reply_call
    with pytest.raises(ValueError, match="no reply is playing"):
        await s.interrupt(0)
    await s.send_text("Tell me a long story.", respond=False)
    await s.create_response()
    await s.wait_for("output_audio_buffer.started", timeout=30)
    await asyncio.sleep(1.0)
    turn = await s.interrupt(0)
    assert turn.status == "truncated" and 700 <= turn.truncated_ms <= 2500, turn.truncated_ms
    sent = [e.type for e in s.event_log if e.direction == "client"]
    assert "output_audio_buffer.clear" in sent and "conversation.item.truncate" not in sent
