"""RealtimeSession against the emulator through the official openai SDK, on both protocols."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from realtime_widgets.audio import save_audio
from realtime_widgets.config import ConnectionConfig
from realtime_widgets.conversation import Conversation
from realtime_widgets.errors import AudioInputError, ServerError, SessionUpdateError
from realtime_widgets.events import RealtimeEvent, parse_audio_ref
from realtime_widgets.protocol import SAMPLE_RATE
from realtime_widgets.session import PlayedAudio, RealtimeSession
from realtime_widgets.session_config import SessionConfig

PROTOCOLS = pytest.mark.parametrize("protocol", ["ga", "preview"])


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """A short utterance in the emulator's own voice, with silence around it."""
    from realtime_widgets.emulator import synthesize

    pad = np.zeros(SAMPLE_RATE // 5, np.int16)
    return np.concatenate([pad, synthesize("What time is it", "alloy"), pad])


def connection(emulator, protocol: str) -> ConnectionConfig:
    return ConnectionConfig.for_emulator(emulator, protocol=protocol)


@PROTOCOLS
async def test_text_turn(emulator, protocol) -> None:
    async with RealtimeSession(connection(emulator, protocol)) as s:
        assert s.status == "connected"
        assert s.server_session is not None
        turn = await s.send_text("Hello there, how are you")
    assert s.status == "closed"
    assert turn.status == "completed"
    assert turn.user_text == "Hello there, how are you" and turn.user_item_id
    assert "how are you" in turn.transcript.lower()
    assert turn.usage and turn.usage["total_tokens"] > 0
    # Audio: int16 24 kHz, as long as the deltas that arrived, and not silent.
    assert turn.audio.dtype == np.int16
    assert len(turn.audio) == sum(n for _, _, n in turn.audio_deltas) > SAMPLE_RATE // 2
    assert np.abs(turn.audio.astype(np.int32)).max() > 1000
    starts = [start for _, start, _ in turn.audio_deltas]
    assert starts == sorted(starts) and starts[0] == 0
    # Transcript pieces have non-decreasing positions on the audio axis within the audio.
    positions = [p for _, _, p in turn.transcript_deltas]
    assert len(positions) >= 4
    assert positions == sorted(positions) and positions[-1] > positions[0]
    assert positions[-1] <= turn.duration_s
    assert "".join(t for _, t, _ in turn.transcript_deltas) == turn.transcript
    assert 0 < turn.latency_first_audio_s < turn.latency_done_s < 30
    # Client events are recorded too; events carry GA names with the wire name kept.
    types = [e.type for e in s.event_log]
    assert types[:3] == ["session.created", "session.update", "session.updated"]
    assert "conversation.item.create" in types and "response.done" in types
    deltas = [e for e in s.event_log if e.type == "response.output_audio.delta"]
    assert {e.wire_type for e in deltas} == {
        "response.audio.delta" if protocol == "preview" else "response.output_audio.delta"
    }
    assert all(parse_audio_ref(e.raw["delta"]) for e in deltas)
    assert all(b.time >= a.time for a, b in zip(s.event_log, s.event_log[1:], strict=False))


@PROTOCOLS
async def test_audio_file_turn_server_vad(emulator, protocol, speech, tmp_path) -> None:
    path = save_audio(speech, tmp_path / "question.flac")
    config = SessionConfig(transcription_model="whisper-1", silence_duration_ms=300)
    async with RealtimeSession(connection(emulator, protocol), config) as s:
        turn = await s.send_audio(path)
        # The transcript of the user's audio may arrive after the response.
        for _ in range(100):
            if not turn.user_transcript_pending and turn.user_transcript is not None:
                break
            await asyncio.sleep(0.05)
    assert turn.status == "completed"
    assert turn.speech_start_ms is not None and turn.speech_end_ms > turn.speech_start_ms
    assert turn.user_item_id and len(turn.user_audio) > SAMPLE_RATE // 2
    assert turn.transcript and len(turn.audio) > 0
    assert turn.user_transcript is not None and not turn.user_transcript_pending
    assert 0 < turn.latency_first_audio_s < turn.latency_done_s
    # Everything appended is in the input stream, in 100 ms appends.
    appends = [e for e in s.event_log if e.type == "input_audio_buffer.append"]
    assert sum(
        parse_audio_ref(e.raw["audio"])[2] - parse_audio_ref(e.raw["audio"])[1] for e in appends
    ) == len(s.conversation.input)
    assert len(s.conversation.input) >= len(speech) - 5


@PROTOCOLS
async def test_audio_turn_manual_commit(emulator, protocol, speech) -> None:
    # float32 at 16 kHz: resampled to PCM16 24 kHz on the way.
    x16 = (np.interp(np.arange(0, len(speech), 1.5), np.arange(len(speech)), speech) / 32768).astype(
        np.float32
    )
    async with RealtimeSession(connection(emulator, protocol), SessionConfig(turn_detection="manual")) as s:
        turn = await s.send_audio(x16, rate=16_000)
        assert turn.status == "completed" and turn.transcript
        assert abs(len(turn.user_audio) - len(speech)) < 50
        assert [e.type for e in s.event_log].count("input_audio_buffer.commit") == 1
        with pytest.raises(AudioInputError, match="empty"):
            await s.send_audio(np.zeros(0, np.float32))
        with pytest.raises(AudioInputError, match="at least 100 ms"):
            await s.send_audio(np.zeros(240, np.int16))


@PROTOCOLS
async def test_barge_in_cancels_response(emulator, protocol, speech) -> None:
    config = SessionConfig(silence_duration_ms=300)
    async with RealtimeSession(connection(emulator, protocol), config) as s:
        first_audio = asyncio.Event()
        s.on("response.output_audio.delta", lambda e: first_audio.set())
        task = asyncio.create_task(s.send_text("Please tell me a long story about " + "a dog and a cat " * 8))
        # Like AudioPlayer: on speech, truncate what was played.
        interrupts: list[asyncio.Future] = []
        stop = s.on(
            "input_audio_buffer.speech_started",
            lambda e: interrupts.append(asyncio.ensure_future(s.interrupt(40))),
        )
        await asyncio.wait_for(first_audio.wait(), 10)
        half = len(speech) // 2
        await s.append_audio(speech[:half])  # the user talks over the assistant ...
        first = await asyncio.wait_for(task, 20)
        stop()
        assert any(e.type == "input_audio_buffer.speech_started" for e in s.event_log)
        assert len(interrupts) == 1 and await asyncio.wait_for(interrupts[0], 5) is first
        await s.append_audio(speech[half:])  # ... and goes on talking
        assert first.status == "truncated" and first.truncated_ms == 40
        done = [e for e in s.event_log if e.type == "response.done"][0]
        assert done.raw["response"]["status"] == "cancelled"
        # The server cancelled on its own; the client did not send a second, failing cancel.
        assert not any(e.type == "response.cancel" for e in s.event_log)
        assert not s.errors
        # The interrupting speech becomes the next turn, which gets its own answer.
        await s.append_audio(np.zeros(SAMPLE_RATE // 2, np.int16))
        for _ in range(200):
            if len(s.conversation.turns) > 1 and s.conversation.turns[-1].done:
                break
            await asyncio.sleep(0.05)
        second = s.conversation.turns[1]
        assert second.speech_start_ms is not None and second.status == "completed"
        heard = await s.interrupt(played_ms=first.duration_s * 1000 / 2)
        assert heard is second or heard.item_id == second.item_id


@PROTOCOLS
async def test_interrupt_truncates_clamped(emulator, protocol) -> None:
    async with RealtimeSession(connection(emulator, protocol)) as s:
        turn = await s.send_text("Say something short")
        received_ms = int(turn.duration_s * 1000)
        same = await s.interrupt(played_ms=received_ms + 60_000)  # more than was ever received
        assert same is turn
        truncated = [e for e in s.event_log if e.type == "conversation.item.truncated"]
        assert truncated[-1].raw["audio_end_ms"] == received_ms
        assert turn.status == "truncated" and turn.truncated_ms == received_ms

        # Mid-response: cancel, then truncate at what was played.
        got_audio = asyncio.Event()
        unsubscribe = s.on("response.output_audio.delta", lambda e: got_audio.set())
        task = asyncio.create_task(s.send_text("Now tell me " + "a very long story " * 10))
        await asyncio.wait_for(got_audio.wait(), 10)
        unsubscribe()
        live = await s.interrupt(played_ms=50)
        await asyncio.wait_for(task, 10)
        assert live.status == "truncated" and live.truncated_ms == 50
        assert [e.raw["audio_end_ms"] for e in s.event_log if e.type == "conversation.item.truncate"][
            -1
        ] == 50
        assert any(e.type == "response.cancel" for e in s.event_log)
        done = [e for e in s.event_log if e.type == "response.done"][-1]
        assert done.raw["response"]["status"] == "cancelled"
        with pytest.raises(ValueError, match="milliseconds"):
            await s.interrupt(played_ms="soon")  # type: ignore[arg-type]


@PROTOCOLS
async def test_interrupt_names_the_item_that_was_playing(emulator, protocol) -> None:
    # A player's barge-in runs after the server may have begun the next reply: it names its item.
    async with RealtimeSession(connection(emulator, protocol)) as s:
        first = await s.send_text("Say something short")
        second = await s.send_text("And something else")
        heard = await s.interrupt(played_ms=120, item_id=first.item_id)
        assert heard is first and first.truncated_ms == 120
        assert second.status == "completed" and second.truncated_ms is None
        truncate = [e for e in s.event_log if e.type == "conversation.item.truncate"][-1]
        assert truncate.raw["item_id"] == first.item_id
        assert not any(e.type == "response.cancel" for e in s.event_log)  # nothing was running
        with pytest.raises(ValueError, match="no assistant item 'item_nope'"):
            await s.interrupt(played_ms=10, item_id="item_nope")


@PROTOCOLS
async def test_save_load_round_trip(emulator, protocol, speech, tmp_path) -> None:
    async with RealtimeSession(connection(emulator, protocol), SessionConfig(turn_detection="manual")) as s:
        await s.send_text("Hello")
        await s.send_audio(speech)
    folder = s.conversation.save(tmp_path / "saved")
    assert {p.name for p in folder.iterdir()} == {"events.jsonl", "input.wav", "output.wav"}
    assert (folder / "events.jsonl").stat().st_size < 200_000  # no base64 audio inside
    loaded = Conversation.load(folder)
    assert len(loaded.turns) == 2
    assert loaded.turns == s.conversation.turns
    for a, b in zip(loaded.turns, s.conversation.turns, strict=True):
        assert a.transcript == b.transcript and a.status == b.status
        assert a.transcript_deltas == b.transcript_deltas and a.latency_done_s == b.latency_done_s
        assert np.array_equal(a.audio, b.audio) and np.array_equal(a.user_audio, b.user_audio)
    assert np.array_equal(loaded.turns[1].user_audio, s.conversation.turns[1].user_audio)
    assert len(loaded.events) == len(s.event_log)


@PROTOCOLS
async def test_callbacks_and_event_iteration(emulator, protocol) -> None:
    async with RealtimeSession(connection(emulator, protocol)) as s:
        deltas: list[RealtimeEvent] = []
        everything: list[RealtimeEvent] = []
        async_seen: list[str] = []

        async def async_callback(event: RealtimeEvent) -> None:
            await asyncio.sleep(0)
            async_seen.append(event.type)

        def broken(event: RealtimeEvent) -> None:
            raise RuntimeError("a broken callback must not stop the session")

        s.on("response.output_audio.delta", deltas.append)
        s.on("*", everything.append)
        s.on("response.done", async_callback)
        s.on("response.text.delta" if protocol == "preview" else "response.output_text.delta", broken)
        s.on("response.output_audio_transcript.delta", broken)

        iterated: list[RealtimeEvent] = []

        async def iterate() -> None:
            async for event in s.events():
                iterated.append(event)
                if event.type == "response.done":
                    return

        consumer = asyncio.create_task(iterate())
        await asyncio.sleep(0)
        turn = await s.send_text("Hi")
        await asyncio.wait_for(consumer, 5)
        await asyncio.sleep(0.01)
        assert len(deltas) == len(turn.audio_deltas) > 0
        assert async_seen == ["response.done"]
        assert everything[0].type == "conversation.item.create" and everything[0].direction == "client"
        assert [e.type for e in iterated] == [e.type for e in everything[: len(iterated)]]
        assert iterated[-1].type == "response.done"
        # Unsubscribing stops delivery; the session still works after callbacks raised.
        unsubscribe = s.on("*", lambda e: everything.append(e))
        unsubscribe()
        count = len(everything)
        second = await s.send_text("Again")
        assert second.status == "completed"
        assert len(everything) > count  # the first "*" subscription still delivers


@PROTOCOLS
async def test_update_and_rejected_update(emulator, protocol) -> None:
    async with RealtimeSession(connection(emulator, protocol)) as s:
        new = s.config.replace(instructions="Answer like a pirate.", voice="echo")
        session = await s.update(new)
        assert s.config is new
        assert session["instructions"] == "Answer like a pirate."
        await s.send_text("Hi")  # audio is produced: the voice is now fixed
        with pytest.raises(SessionUpdateError) as info:
            await s.update(new.replace(voice="alloy"))
        assert info.value.code == "cannot_update_voice"
        assert s.config is new  # the old settings stay
        assert s.errors and s.errors[-1].code == "cannot_update_voice"
        assert s.event_log[-1].type == "error"
        with pytest.raises(TypeError, match="SessionConfig"):
            await s.update({"voice": "alloy"})  # type: ignore[arg-type]


@PROTOCOLS
async def test_error_events_surface(emulator, protocol) -> None:
    async with RealtimeSession(connection(emulator, protocol), SessionConfig(turn_detection="manual")) as s:
        # An error caused by an awaited call is raised there ...
        with pytest.raises(ServerError) as info:
            await s.commit()  # nothing appended
        assert info.value.code == "input_audio_buffer_commit_empty"
        # ... one from a call that does not wait is recorded, attached to the current turn, never lost.
        turn = await s.send_text("Hi")
        errors_before = len(s.errors)
        got_error = asyncio.Event()
        s.on("error", lambda e: got_error.set())
        await s.cancel()  # nothing to cancel
        await asyncio.wait_for(got_error.wait(), 5)
        assert len(s.errors) == errors_before + 1
        assert s.errors[-1].code == "response_cancel_not_active"
        assert turn.error is not None and turn.error["code"] == "response_cancel_not_active"
        assert s.conversation.errors[-1]["code"] == "response_cancel_not_active"
        assert s.status == "connected"


async def test_append_audio_nowait_keeps_order(emulator) -> None:
    async with RealtimeSession(connection(emulator, "ga"), SessionConfig(turn_detection="manual")) as s:
        ramp = (np.arange(SAMPLE_RATE, dtype=np.int32) % 2000 - 1000).astype(np.int16)
        for i in range(0, len(ramp), 1200):  # 50 ms pieces, as a mic widget would send them
            s.append_audio_nowait(ramp[i : i + 1200])
        turn = await s.commit()
        assert np.array_equal(turn.user_audio, ramp)
        assert [e.type for e in s.event_log].count("input_audio_buffer.append") == 20


async def test_wait_for_returns_the_next_matching_server_event(emulator):
    from realtime_widgets import ConnectionConfig, RealtimeSession, SessionConfig

    async with RealtimeSession(
        ConnectionConfig.for_emulator(emulator), SessionConfig(turn_detection="manual")
    ) as s:
        pending = asyncio.ensure_future(s.wait_for("response.audio.delta"))  # a preview name works too
        done = asyncio.ensure_future(
            s.wait_for("response.done", where=lambda e: "usage" in e.raw["response"])
        )
        turn = await s.send_text("hello")
        first_delta, finished = await pending, await done
        assert first_delta.type == "response.output_audio.delta" and first_delta.direction == "server"
        assert first_delta.time <= finished.time
        assert finished.raw["response"]["id"] == turn.response_id
        with pytest.raises(TimeoutError, match="response.done"):
            await s.wait_for("response.done", timeout=0.2)


class _FakeOutput:
    """An audio output that says it played `played_ms` of `item_id`, and counts its clears."""

    def __init__(self, item_id: str, played_ms: float, received_ms: float) -> None:
        self.report = PlayedAudio(item_id, played_ms, received_ms)
        self.clears = 0

    def played_audio(self) -> PlayedAudio:
        return self.report

    def clear(self) -> None:
        self.clears += 1


@PROTOCOLS
async def test_barge_in_truncates_at_what_the_attached_output_played(emulator, protocol, speech) -> None:
    async with RealtimeSession(connection(emulator, protocol)) as s:
        first = await s.send_text("Tell me a story.")
        unheard = _FakeOutput(first.item_id, 300.0, first.duration_s * 1000)
        detach = s.attach_output(unheard)
        truncated = asyncio.ensure_future(s.wait_for("conversation.item.truncated", timeout=20))
        await s.send_audio(speech)
        cut = await truncated
        assert unheard.clears == 1
        assert cut.raw["item_id"] == first.item_id and cut.raw["audio_end_ms"] == 300
        assert first.truncated_ms == 300
        # Heard to its end and no response running: the output clears, nothing is truncated.
        detach()
        second = s.conversation.turns[-1]
        heard = _FakeOutput(second.item_id, second.duration_s * 1000, second.duration_s * 1000)
        s.attach_output(heard)
        n_truncates = sum(e.type == "conversation.item.truncate" for e in s.event_log)
        await s.send_audio(speech)
        assert heard.clears == 1 and unheard.clears == 1  # a detached output is left alone
        assert sum(e.type == "conversation.item.truncate" for e in s.event_log) == n_truncates
