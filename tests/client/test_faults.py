"""Faults injected by the emulator reach the caller as clear exceptions, with what was recorded intact."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from realtime_widgets.config import ConnectionConfig
from realtime_widgets.conversation import Conversation
from realtime_widgets.emulator import Emulator
from realtime_widgets.errors import ConnectionFailed, SessionClosed
from realtime_widgets.session import RealtimeSession
from realtime_widgets.session_config import SessionConfig

PROTOCOLS = pytest.mark.parametrize("protocol", ["ga", "preview"])


@PROTOCOLS
async def test_drop_after_n_events_then_reconnect(emulator, protocol) -> None:
    s = RealtimeSession(ConnectionConfig.for_emulator(emulator, protocol=protocol))
    async with s:
        await s.send_text("Hello")
        recorded = len(s.event_log)
        # Counts from the next connection's first event: created, updated, the first turn replayed
        # (its two items, added and done), then the next turn's events until mid-response.
        emulator.faults.drop_after_events = 12
        await s.reconnect()
        with pytest.raises(SessionClosed) as info:
            await s.send_text("Tell me a long story about " + "dogs " * 20)
        assert info.value.code == 1006
        assert "reconnect" in str(info.value)
        assert s.status == "closed"
        assert s.last_error is info.value
        # Everything received before the drop is kept.
        assert len(s.event_log) > recorded
        first = s.conversation.turns[0]
        assert first.status == "completed" and len(first.audio) > 0
        dropped = s.conversation.turns[1]
        assert dropped.status in ("pending", "in_progress")
        with pytest.raises(SessionClosed, match="reconnect"):
            await s.send_text("anyone there?")

        emulator.faults.reset()
        await s.reconnect()
        assert s.status == "connected"
        assert dropped.status == "failed" and "connection closed" in dropped.error["message"]
        again = await s.send_text("Hello again")
        assert again.status == "completed" and again.transcript
        assert s.conversation.turns[-1] is again and len(s.conversation.turns) == 3
        assert [e.type for e in s.event_log].count("session.created") == 3


async def test_session_max_duration(emulator) -> None:
    emulator.faults.max_session_seconds = 0.5
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator)) as s:
        closed = asyncio.Event()
        s.on("error", lambda e: closed.set())
        emulator.faults.event_delay_ms = 50  # so the answer is still streaming at expiry
        iterated = []

        async def iterate() -> None:
            async for event in s.events():
                iterated.append(event)

        consumer = asyncio.create_task(iterate())
        waiting = asyncio.create_task(s.send_text("Tell me a long story " * 5))  # woken by the close
        with pytest.raises(SessionClosed) as info:
            await asyncio.wait_for(waiting, 5)
        assert info.value.code == 1001
        assert "maximum duration" in str(info.value) and "30 minutes" in str(info.value)
        assert s.status == "closed" and s.last_error is info.value
        assert any(err.code == "session_expired" for err in s.errors)
        assert closed.is_set()
        await asyncio.wait_for(consumer, 2)  # iterators end when the session ends
        assert iterated and iterated[-1].type == "error"


async def test_auto_reconnect_after_expiry(emulator) -> None:
    emulator.faults.max_session_seconds = 0.4
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator), auto_reconnect=True) as s:
        for _ in range(100):
            if [e.type for e in s.event_log].count("session.created") >= 2 and s.status == "connected":
                break
            await asyncio.sleep(0.05)
        emulator.faults.reset()
        assert s.status == "connected"
        assert [e.type for e in s.event_log].count("session.updated") >= 2  # the config was sent again


async def test_429_at_handshake(emulator) -> None:
    emulator.faults.handshake_429 = 1
    emulator.faults.retry_after_s = 7
    s = RealtimeSession(ConnectionConfig.for_emulator(emulator))
    with pytest.raises(ConnectionFailed) as info:
        await s.connect()
    assert info.value.status == 429
    assert "retry" in str(info.value).lower() and "7" in str(info.value)
    assert s.status == "failed"
    # The next handshake is allowed again.
    async with s:
        assert s.status == "connected"


@PROTOCOLS
async def test_401_wrong_key(protocol) -> None:
    with Emulator(api_key="the-right-key") as emu:
        good = ConnectionConfig.for_emulator(emu, protocol=protocol)
        bad = dataclasses.replace(good, api_key="a-wrong-key")
        with pytest.raises(ConnectionFailed) as info:
            async with RealtimeSession(bad):
                pass
        assert info.value.status == 401
        assert "AZURE_OPENAI_API_KEY" in str(info.value)
        assert "a-wrong-key" not in str(info.value) and "the-right-key" not in str(info.value)
        async with RealtimeSession(good) as s:
            assert s.status == "connected"
            assert "the-right-key" not in repr(s)


@PROTOCOLS
async def test_404_unknown_deployment(protocol) -> None:
    with Emulator(deployments=["gpt-realtime"]) as emu:
        config = dataclasses.replace(
            ConnectionConfig.for_emulator(emu, protocol=protocol), deployment="gpt-nope"
        )
        session = RealtimeSession(config)
        with pytest.raises(ConnectionFailed) as info:
            await session.connect()
        assert info.value.status == 404
        assert "gpt-nope" in str(info.value) and "deployment" in str(info.value).lower()
        assert session.status == "failed"


async def test_bad_session_config_fails_connect(emulator) -> None:
    with pytest.raises(TypeError, match="SessionConfig"):
        RealtimeSession(ConnectionConfig.for_emulator(emulator), {"voice": "alloy"})  # type: ignore[arg-type]
    s = RealtimeSession(ConnectionConfig.for_emulator(emulator), SessionConfig())
    with pytest.raises(SessionClosed, match="connect"):
        await s.send_text("not connected yet")


async def test_on_reconnecting_sees_each_attempt_and_the_session_comes_back(emulator) -> None:
    seen = []

    def on_reconnecting(event):
        seen.append(event)
        if event.attempt == 1:
            emulator.faults.drop_after_events = None
            emulator.faults.handshake_429 = 1  # the first attempt is throttled, the second gets through

    emulator.faults.drop_after_events = 6  # mid-response
    async with RealtimeSession(
        ConnectionConfig.for_emulator(emulator), on_reconnecting=on_reconnecting, max_reconnect_attempts=3
    ) as s:
        with pytest.raises(SessionClosed):
            await s.send_text("before the drop")
        for _ in range(100):
            if s.status == "connected" and len(seen) >= 2:
                break
            await asyncio.sleep(0.05)
        assert s.status == "connected"
        assert [(e.attempt, e.max_attempts, e.close_code) for e in seen] == [(1, 3, 1006), (2, 3, 1006)]
        assert seen[1].delay > seen[0].delay  # backoff
        turn = await s.send_text("after the drop")
        assert turn.status == "completed" and turn.index == 1
        assert s.conversation.turns[0].user_text == "before the drop"  # the recording continues


async def test_on_reconnecting_can_abort(emulator) -> None:
    calls = []
    emulator.faults.drop_after_events = 6
    async with RealtimeSession(
        ConnectionConfig.for_emulator(emulator), on_reconnecting=lambda e: calls.append(e) or {"abort": True}
    ) as s:
        with pytest.raises(SessionClosed):
            await s.send_text("before the drop")
        emulator.faults.drop_after_events = None
        await asyncio.sleep(0.8)
        assert len(calls) == 1 and s.status == "closed"
        assert isinstance(s.last_error, SessionClosed)


@PROTOCOLS
async def test_reconnect_gives_the_new_session_the_conversation_so_far(emulator, protocol, tmp_path) -> None:
    weather = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}
    config = SessionConfig(tools=[weather], output_modalities=["text"])
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator, protocol=protocol), config) as s:
        first = await s.send_text("My name is Ada")
        call_turn = await s.send_text("Use get weather")
        answer = await s.send_tool_output(call_turn.tool_calls[0], "sunny")
        before = len(s.conversation.turns)
        marker = len(s.event_log)
        await s.reconnect()
        replayed = [e for e in s.event_log[marker:] if e.type == "conversation.item.added"]
        items = [e.raw["item"] for e in replayed]
        kinds = ["message", "message", "message", "function_call", "function_call_output", "message"]
        assert [i["type"] for i in items] == kinds
        assert items[0]["id"] == first.user_item_id and items[1]["id"] == first.item_id  # same ids as before
        assert items[0]["content"][0]["text"] == "My name is Ada"
        assert items[1]["role"] == "assistant" and first.text in str(items[1]["content"])
        assert items[2]["content"][0]["text"] == "Use get weather"
        assert items[3]["call_id"] == call_turn.tool_calls[0].call_id and items[4]["output"] == "sunny"
        assert items[5]["id"] == answer.item_id and answer.text in str(items[5]["content"])
        assert len(s.conversation.turns) == before  # replaying adds no turns
        # The new session answers the new question, not the replayed ones.
        again = await s.send_text("What is my name?")
        assert again.text == "You said: What is my name?" and len(s.conversation.turns) == before + 1

        marker = len(s.event_log)
        await s.reconnect(replay=False)
        assert not any(e.type == "conversation.item.create" for e in s.event_log[marker:])
        s.conversation.save(tmp_path / "saved")
    assert (
        Conversation.load(tmp_path / "saved").turns == s.conversation.turns
    )  # replays load back as they were
