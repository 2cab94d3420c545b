"""Client faults (issue 10): no call hangs, nothing recorded is lost.

Each test drives a RealtimeSession against the emulator's fault injection (or, for the socket-level
memory probe, the scripted connection) and asserts the outcome: the call returns within its timeout
and says what it awaited, no server connection leaks, Retry-After is honoured, a long clip streams in
bounded memory, and nothing said into the microphone across a drop is lost.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import tracemalloc

import comm
import comm.base_comm
import numpy as np
import pytest

from realtime_widgets.config import ConnectionConfig
from realtime_widgets.errors import RequestTimeout, SessionClosed
from realtime_widgets.protocol import SAMPLE_RATE
from realtime_widgets.session import RealtimeSession
from realtime_widgets.session.timeouts import CANCEL_GRACE_S
from realtime_widgets.session_config import SessionConfig
from realtime_widgets.widgets import MicRecorder
from tests.client.scripted import ScriptedService, scripted_connection

TEXT = SessionConfig(output_modalities=["text"])
MANUAL = SessionConfig(turn_detection="manual", output_modalities=["text"])
# What asyncio logs when a task or future is dropped unfinished or with an exception nobody read.
LEAK_LOGS = ("Task was destroyed but it is pending", "exception was never retrieved")


@pytest.fixture(autouse=True)
def no_faults(clean_emulator):
    return clean_emulator


async def _hang(_text: str | None, _seconds: float) -> str:
    """A reply that never comes: the response dies server-side after `response.created`."""
    await asyncio.sleep(3600)
    return ""


async def _until(condition, seconds: float = 5.0, step: float = 0.01) -> float:
    """Poll until `condition()`; returns when (monotonic). Fails the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(step)
    return time.monotonic()


async def _watch_leaks(caplog) -> None:
    """From now on: what earlier tests left for the garbage collector is not counted.

    Collecting an open client an earlier test left schedules its close on this loop; that close
    fails (its sockets belong to a closed loop) and is logged when the failed task is collected:
    so collect, let those tasks run, and collect them before the window opens.
    """
    caplog.set_level(logging.WARNING)
    gc.collect()
    for _ in range(3):
        await asyncio.sleep(0)
    gc.collect()
    caplog.clear()


def _leaks(caplog) -> list[str]:
    gc.collect()
    return [r.getMessage() for r in caplog.records if any(s in r.getMessage() for s in LEAK_LOGS)]


def _types(s: RealtimeSession, direction: str = "server") -> list[str]:
    return [e.type for e in s.event_log if e.direction == direction]


async def test_a_response_that_dies_server_side_times_out_cancelled_and_the_session_goes_on(emulator) -> None:
    emulator.reply = _hang
    # 2 s: connecting and a normal reply stay well inside it on a busy machine.
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator), TEXT, timeout=2.0) as s:
        started = time.monotonic()
        with pytest.raises(RequestTimeout) as info:
            await s.send_text("Hello")
        waited = time.monotonic() - started
        assert 1.9 <= waited < 2.0 + CANCEL_GRACE_S + 1.5  # its timeout, the cancel's grace, a busy machine
        assert info.value.awaited == "response.done" and info.value.timeout == 2.0
        message = str(info.value)
        assert "no response.done" in message and "turn 0" in message and "response.cancel" in message
        assert isinstance(info.value, TimeoutError)  # `except TimeoutError` still catches it
        dead = s.conversation.turns[0]
        assert dead.status == "cancelled"
        assert "response.cancel" in _types(s, "client")
        assert s._dispatch.waiting == 0

        emulator.reply = None
        again = await s.send_text("Hello again")
        assert again.status == "completed" and again.text == "You said: Hello again"
        assert not [e for e in s.errors if e.code == "conversation_already_has_active_response"]


async def test_a_tool_output_whose_reply_dies_times_out_cancelled(emulator) -> None:
    weather = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}
    config = SessionConfig(tools=[weather], output_modalities=["text"])
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator), config, timeout=2.0) as s:
        call_turn = await s.send_text("Use get weather")
        emulator.faults.event_delay_ms = 800  # the reply crawls: ten events take 8 s
        with pytest.raises(RequestTimeout) as info:
            await s.send_tool_output(call_turn.tool_calls[0], "sunny")
        assert info.value.awaited == "response.done" and "response.cancel was sent" in str(info.value)
        emulator.faults.reset()
        thanks = await s.send_text("Thanks")  # the cancelled reply does not stand in its way
        assert thanks.status == "completed" and s.errors == []


async def test_manual_reconnect_during_auto_reconnect_opens_one_connection(emulator, caplog) -> None:
    await _watch_leaks(caplog)
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator), TEXT, auto_reconnect=True) as s:
        await s.send_text("My name is Ada")
        # reconnect() called (as the drop's log says) while auto-reconnect waits out its backoff,
        # and while it connects; twice at once each time.
        for phase in ("backoff", "connecting"):
            emulator.faults.drop_after_events = 4  # created, updated, the next turn's item: then it drops
            await s.reconnect(replay=False)
            emulator.faults.reset()  # this connection keeps its count; the next ones do not drop
            created = _types(s).count("session.created")
            pending = asyncio.ensure_future(s.send_text("Tell me a story"))
            await _until(lambda: s.status != "connected")
            if phase == "connecting":
                emulator.faults.event_delay_ms = 100  # its handshake and replay take a while
                await _until(lambda: s.status == "connecting", 5, 0.005)
            with pytest.raises(SessionClosed, match="a reconnect is under way"):
                await s.send_text("Too early")  # only the reconnect sends until it is done
            await asyncio.gather(s.reconnect(), s.reconnect())
            emulator.faults.reset()
            with pytest.raises(SessionClosed) as info:
                await asyncio.wait_for(pending, 5)
            assert info.value.restored is True and "send it again" in str(info.value)
            assert s.status == "connected"
            assert _types(s).count("session.created") == created + 1  # one new session per drop
            await _until(lambda: emulator.live_sessions == 1)
        assert s.errors == []  # no "Item id ... already exists" from a second replay
        assert s._dispatch.waiting == 0
        turn = await s.send_text("Still there?")
        assert turn.status == "completed"
    await _until(lambda: emulator.live_sessions == 0)
    assert _leaks(caplog) == []


async def test_a_call_pending_across_reconnect_is_woken_saying_the_session_is_back(emulator) -> None:
    emulator.reply = _hang
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator), TEXT, timeout=30) as s:
        pending = asyncio.ensure_future(s.send_text("Hello"))
        await _until(lambda: "response.created" in _types(s))
        emulator.reply = None
        started = time.monotonic()
        await s.reconnect()
        with pytest.raises(SessionClosed) as info:
            await asyncio.wait_for(pending, 2)
        assert time.monotonic() - started < 3  # not the 30 s timeout
        assert info.value.restored is True
        assert "reconnect() replaced the connection" in str(info.value) and "send it again" in str(info.value)
        assert s._dispatch.waiting == 0
        assert (await s.send_text("Hello again")).status == "completed"


async def test_a_drop_between_commit_and_response_create_leaves_no_waiter(emulator, caplog) -> None:
    await _watch_leaks(caplog)
    clip = np.zeros(SAMPLE_RATE // 2, np.int16)
    outcomes = []
    for _ in range(10):
        # created, updated, then the commit's committed: the socket goes right after it.
        emulator.faults.drop_after_events = 3
        async with RealtimeSession(ConnectionConfig.for_emulator(emulator), MANUAL, timeout=5) as s:
            emulator.faults.reset()  # read when the connection opened
            started = time.monotonic()
            with pytest.raises(SessionClosed) as info:
                await s.send_audio(clip)
            outcomes.append(type(info.value).__name__)
            assert time.monotonic() - started < 3
            assert s._dispatch.waiting == 0
    assert _leaks(caplog) == []
    assert len(outcomes) == 10


async def test_microphone_audio_across_a_drop_is_held_and_sent_after_auto_reconnect(emulator) -> None:
    emulator.faults.max_session_seconds = 1.5  # the service ends the session (1001) mid-feed
    recorder = MicRecorder()
    config = SessionConfig(turn_detection="manual")
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator), config, auto_reconnect=True) as s:
        emulator.faults.reset()  # read when the connection opened: the next one lasts
        recorder.connect(s)
        errors = []
        recorder.observe(lambda change: errors.append(change["new"]) if change["new"] else None, "error")
        feeding = asyncio.ensure_future(recorder.feed(np.full(4 * SAMPLE_RATE, 300, np.int16), realtime=True))
        chunks = await feeding
        await _until(lambda: s.status == "connected" and not s._user.held.active)
        await asyncio.sleep(0.2)  # the last appends reach the socket
        appends = [e for e in s.event_log if e.type == "input_audio_buffer.append"]
        assert chunks == 40 and len(appends) == 40  # every 100 ms chunk fed was recorded and queued
        created = [i for i, e in enumerate(s.event_log) if e.type == "session.created"]
        assert len(created) == 2
        after = sum(1 for e in s.event_log[created[1] :] if e.type == "input_audio_buffer.append")
        assert after > 5  # those fed during the reconnect went to the new session
        assert recorder.error == "" and errors == []
        assert s._user.held.dropped_seconds == 0


class _PageComm(comm.base_comm.BaseComm):
    """The comm a kernel gives a widget; what would go to the page is dropped."""

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys) -> None:
        pass


def _page_sends_chunk(recorder: MicRecorder, seq: int) -> None:
    """One 100 ms chunk of the page's one microphone stream, through the widget's comm."""
    content = {"kind": "chunk", "stream": "mic", "seq": seq, "t": 0.0}
    data = {"method": "custom", "content": content}
    recorder.comm.handle_msg({"content": {"data": data}, "buffers": [np.zeros(2400, "<i2").tobytes()]})


async def test_the_recorder_error_clears_when_the_session_is_back(emulator, monkeypatch) -> None:
    monkeypatch.setattr(comm, "create_comm", lambda **kw: _PageComm(**kw))
    recorder = MicRecorder()
    emulator.faults.max_session_seconds = 1.0
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator), MANUAL) as s:
        emulator.faults.reset()  # read when the connection opened
        recorder.connect(s)
        _page_sends_chunk(recorder, 0)
        assert recorder.error == ""
        await _until(lambda: s.status == "closed")  # no auto-reconnect: the chunk fails, and says so
        _page_sends_chunk(recorder, 1)
        assert "SessionClosed" in recorder.error
        await s.reconnect()
        _page_sends_chunk(recorder, 2)  # the same stream goes on: no "start" resets the error
        assert recorder.error == "" and recorder.chunks_received == 3


async def test_auto_reconnect_honours_retry_after(emulator, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="realtime_widgets.session.reconnect")
    emulator.faults.max_session_seconds = 1.0
    emulator.faults.retry_after_s = 2
    async with RealtimeSession(
        ConnectionConfig.for_emulator(emulator), TEXT, auto_reconnect=True, max_reconnect_attempts=3
    ) as s:
        emulator.faults.max_session_seconds = None  # read when the connection opened
        emulator.faults.handshake_429 = 1  # the first reconnect attempt is refused: 429, Retry-After: 2
        await _until(lambda: s.status != "connected")
        await _until(lambda: s.status == "connected", 10)
        back = time.time()  # log records carry wall-clock times
        assert _types(s).count("session.created") == 2
    failures = [r for r in caplog.records if "attempt 1/3 failed" in r.getMessage()]
    assert len(failures) == 1 and "429" in failures[0].getMessage()
    assert back - failures[0].created >= 2.0 - 0.05  # before: 1.0 s, the backoff alone


class _Sink(ScriptedService):
    """A socket that takes appends as fast as they come and keeps only their size."""

    def __init__(self) -> None:
        super().__init__()
        self.appended_bytes = 0

    async def send_raw(self, data: str) -> None:
        if data.startswith('{"type":"input_audio_buffer.append"'):
            self.appended_bytes += len(data)
            await asyncio.sleep(0)  # a socket write yields
            return
        await super().send_raw(data)


async def test_a_long_clip_streams_in_bounded_memory() -> None:
    minutes = 10
    clip = np.random.default_rng(1).integers(-3000, 3000, minutes * 60 * SAMPLE_RATE, dtype=np.int16)
    sink = _Sink()
    async with RealtimeSession(scripted_connection(sink), MANUAL) as s:
        tracemalloc.start()
        try:
            await s.append_audio(clip)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert sink.appended_bytes > clip.nbytes * 4 / 3  # all of it went out, as base64
        assert len([e for e in s.event_log if e.type == "input_audio_buffer.append"]) == minutes * 600
        # The recording keeps the audio (spilled to its file); the appends in flight stay a few MB.
        assert peak < clip.nbytes * 0.5, f"peak {peak / 1e6:.0f} MB for {clip.nbytes / 1e6:.0f} MB of audio"


async def test_timeout_counts_from_the_last_append_not_the_clip_length(emulator) -> None:
    silent = np.zeros(60 * SAMPLE_RATE, np.int16)  # a minute: server VAD hears no speech
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator), timeout=2.0) as s:
        started = time.monotonic()
        with pytest.raises(RequestTimeout) as info:
            await s.send_audio(silent)
        waited = time.monotonic() - started
    assert "no speech" in str(info.value) and info.value.timeout == 2.0
    assert waited < 2.0 + 6  # sending a minute of audio on loopback, then 2 s; before: 62 s
