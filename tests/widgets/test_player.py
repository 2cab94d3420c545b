"""AudioPlayer without a browser: history, streaming a session's reply, barge-in truncation."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import pathlib

import numpy as np
import pytest

from realtime_widgets import ConnectionConfig, RealtimeSession, SessionConfig
from realtime_widgets.emulator import synthesize
from realtime_widgets.widgets import player as player_module
from realtime_widgets.widgets.player import AudioPlayer
from realtime_widgets.widgets.recorder import MicRecorder

_ESM = pathlib.Path(player_module.__file__).with_name("player.js")


def test_play_records_what_it_was_asked_to_play() -> None:
    player = AudioPlayer()
    player.play(np.zeros(12_000, dtype=np.int16))
    assert [(k, n) for k, n, _ in player.history] == [("array", 12_000)]
    assert player.playing
    # Another rate is converted first: 1 s at 48 kHz is 24,000 samples on the wire.
    player.play(np.zeros(48_000, dtype=np.float32).reshape(-1))
    kinds = [(k, n) for k, n, _ in player.history]
    assert kinds[-1] == ("array", 48_000)  # float input at the default 24 kHz: same length
    assert kinds[-2][0] == "clear"  # a new play cuts the previous one
    player.clear()
    assert player.history[-1][0] == "clear" and not player.playing
    with pytest.raises(ValueError, match="no audio"):
        player.play(dataclasses.make_dataclass("Reply", ["audio"])(np.zeros(0, np.int16)))


def _page_sends(player: AudioPlayer, content: dict) -> None:
    """A custom message from the page, through the widget's comm as the kernel delivers it."""
    _check(player_module.FROM_PAGE, content)
    player.comm.handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


def test_page_position_reports_update_the_traits(front_end) -> None:
    player = AudioPlayer()
    player.play(np.zeros(24_000, dtype=np.int16))  # 1 s
    stream = player.comm.custom("audio")[0]["stream"]
    _page_sends(player, {"kind": "position", "stream": stream, "played_ms": 400.0, "playing": True})
    assert player.played_ms == 400.0 and player.playing
    assert 400.0 <= player.position_ms() <= 1000.0
    scheduled = {"kind": "scheduled", "stream": stream, "seq": 0, "t": 1012.5, "kt": 1000.0, "lead_ms": 20.0}
    _page_sends(player, scheduled)
    assert player.schedule_latencies_ms == [12.5] and player.start_leads_ms == [20.0]
    _page_sends(player, {"kind": "position", "stream": stream, "played_ms": 1000.0, "playing": False})
    assert not player.playing and player.position_ms() == 1000.0


def test_volume_is_range_checked() -> None:
    player = AudioPlayer(volume=0.5, muted=True)
    assert player.volume == 0.5 and player.muted
    with pytest.raises(Exception, match="volume"):
        player.volume = 1.5


def _spoken(text: str) -> np.ndarray:
    silence = np.zeros(12_000, dtype=np.int16)
    return np.concatenate([silence, synthesize(text, "alloy"), silence, silence])


async def test_connected_player_streams_the_reply_and_barge_in_truncates(emulator) -> None:
    player = AudioPlayer()
    recorder = MicRecorder()
    async with RealtimeSession(
        ConnectionConfig.for_emulator(emulator), SessionConfig(silence_duration_ms=300)
    ) as s:
        recorder.connect(s)
        player.connect(s)
        first_delta = asyncio.Event()
        done = asyncio.Event()
        s.on("response.output_audio.delta", lambda _e: first_delta.set())
        s.on("response.done", lambda _e: done.set())
        await recorder.feed(_spoken("Tell me a long story about the sea."))
        await asyncio.wait_for(done.wait(), 30)
        turn = s.conversation.turns[-1]
        deltas = [n for kind, n, _ in player.history if kind == "delta"]
        assert sum(deltas) == turn.audio.size > 0  # every delta went to the page, in full
        assert player.playing  # headless playback runs on the wall clock
        # Barge in while the reply is still "playing": the player clears and truncates.
        await asyncio.sleep(0.3)
        truncated = asyncio.Event()
        s.on("conversation.item.truncated", lambda _e: truncated.set())
        await recorder.feed(_spoken("Stop."))
        await asyncio.wait_for(truncated.wait(), 30)
        clears = [n for kind, n, _ in player.history if kind == "clear"]
        event = next(e for e in reversed(s.event_log) if e.type == "conversation.item.truncate")
    assert clears and clears[0] > 0  # audio was cut
    heard = event.raw["audio_end_ms"]
    assert 200 <= heard < turn.audio.size / 24  # between the pause and the whole reply
    assert turn.status == "truncated" or turn.truncated_ms == heard


def test_no_secret_reaches_widget_state_or_repr() -> None:
    secret = "sk-SECRET-do-not-leak-1234567890"
    connection = ConnectionConfig(
        endpoint="https://example.openai.azure.com", deployment="gpt-realtime", api_key=secret
    )
    session = RealtimeSession(connection)
    recorder, player = MicRecorder(), AudioPlayer()
    recorder.connect(session)
    player.connect(session)
    for widget in (recorder, player):
        assert secret not in json.dumps(widget.get_state(), default=str)
        assert secret not in repr(widget)


def _check(shape: object, content: dict) -> None:
    """Raise unless `content` is exactly one of the typed shapes (no extra keys, strict types)."""
    import pydantic

    strict = pydantic.ConfigDict(extra="forbid", strict=True)
    pydantic.TypeAdapter(list[shape], config=strict).validate_python([content])


def test_messages_carry_kind_and_match_their_typed_shapes(front_end) -> None:
    from realtime_widgets.widgets.player import FROM_PAGE, TO_PAGE

    player = AudioPlayer()
    player.play(np.zeros(12_000, dtype=np.int16))
    player.clear()
    sent = player.comm.custom()
    # 0.5 s in 0.2 s chunks, then "end": the page need not wait to fill its start buffer
    assert [m["kind"] for m in sent] == ["clear", "audio", "audio", "audio", "end", "clear"]
    for content in sent:
        _check(TO_PAGE, content)
    stream = sent[1]["stream"]
    for content in (
        {"kind": "scheduled", "stream": stream, "seq": 0, "t": 10.0, "kt": 5.0},
        {"kind": "position", "stream": stream, "played_ms": 120.0, "playing": True},
        {"kind": "cleared", "stream": None, "played_ms": 0.0, "playing": False, "reason": "clear"},
    ):
        _check(FROM_PAGE, content)
    with pytest.raises(ValueError, match="kind"):
        _check(FROM_PAGE, {"type": "position", "stream": stream, "played_ms": 1.0, "playing": True})
    js = _ESM.read_text()
    assert "msg.type" not in js and "type:" not in js and "_uid" not in js


async def test_connect_returns_the_function_that_disconnects(session) -> None:
    player = AudioPlayer()
    disconnect = player.connect(session)
    assert callable(disconnect)
    await session.send_text("Say something.")
    heard = [n for kind, n, _ in player.history if kind == "delta"]
    assert sum(heard) == session.conversation.turns[-1].audio.size > 0
    disconnect()
    await session.send_text("Say more.")
    assert [n for kind, n, _ in player.history if kind == "delta"] == heard  # nothing after


async def test_the_page_hears_once_that_a_reply_has_no_more_audio(emulator, front_end) -> None:
    player = AudioPlayer()
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator)) as s:
        player.connect(s)
        turn = await s.send_text("Say something.")
        assert turn.done and player.comm.custom("audio")
        await s.send_text("Say something else.")
    ends = player.comm.custom("end")
    assert ends[0] == {"kind": "end", "stream": turn.item_id} and len(ends) == 2
    assert len({e["stream"] for e in ends}) == 2  # one per reply, however often a done turn changes


async def test_an_underrun_the_page_reports_is_counted_on_its_turn(emulator, front_end) -> None:
    from realtime_widgets.widgets.transcript import turn_snapshot

    player = AudioPlayer()
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator)) as s:
        player.connect(s)
        turn = await s.send_text("Say something.")
        changed = []
        s.conversation.on_change(changed.append)
        gap = {"kind": "underrun", "stream": turn.item_id, "seq": 3, "gap_ms": 42.0, "late_ms": -18.0}
        gap |= {"kt": 900.0, "t": 1000.0}
        _page_sends(player, gap)
        assert player.underruns == [(turn.item_id, 3, 42.0)]
        assert turn.underruns == 1 and changed == [turn]  # the transcript row hears of it
        assert turn_snapshot(turn.index, turn)["underruns"] == 1
        _page_sends(player, {**gap, "stream": "play-7"})  # a play() stream has no turn
        assert turn.underruns == 1 and len(player.underruns) == 2
        assert turn.to_dict() == dataclasses.replace(turn, underruns=0).to_dict()  # not saved
