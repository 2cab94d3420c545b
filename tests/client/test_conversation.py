"""Conversation/Turn built from synthetic event sequences (no connection): pure bookkeeping."""

from __future__ import annotations

import base64
import gc
import json
import sys
import threading
import weakref

import numpy as np
import pytest

from realtime_widgets.conversation import Conversation, EventList, PcmStream
from realtime_widgets.events import RealtimeEvent, parse_audio_ref


def ev(direction: str, t: float, **raw) -> RealtimeEvent:
    return RealtimeEvent.from_raw(raw, direction, t)


def b64(samples: np.ndarray) -> str:
    return base64.b64encode(samples.astype("<i2").tobytes()).decode()


def text_turn_events(protocol: str, rid: str = "resp_1", item: str = "item_a1") -> list[RealtimeEvent]:
    delta = "response.audio.delta" if protocol == "preview" else "response.output_audio.delta"
    tdelta = (
        "response.audio_transcript.delta"
        if protocol == "preview"
        else "response.output_audio_transcript.delta"
    )
    added = "conversation.item.created" if protocol == "preview" else "conversation.item.added"
    ramp = np.arange(2400, dtype=np.int16)
    return [
        ev("server", 0.01, type="session.created", session={}),
        ev(
            "client",
            1.0,
            type="conversation.item.create",
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
        ),
        ev("client", 1.0, type="response.create"),
        ev(
            "server",
            1.05,
            type=added,
            item={"id": "item_u1", "type": "message", "role": "user", "content": []},
        ),
        ev("server", 1.1, type="response.created", response={"id": rid, "status": "in_progress"}),
        ev(
            "server",
            1.12,
            type="response.output_item.added",
            response_id=rid,
            item={"id": item, "type": "message", "role": "assistant"},
        ),
        ev("server", 1.2, type=tdelta, response_id=rid, item_id=item, delta="Hello "),
        ev("server", 1.3, type=delta, response_id=rid, item_id=item, delta=b64(ramp)),
        ev("server", 1.4, type=tdelta, response_id=rid, item_id=item, delta="there."),
        ev("server", 1.5, type=delta, response_id=rid, item_id=item, delta=b64(ramp[:1200])),
        ev(
            "server",
            1.6,
            type="response.done",
            response={"id": rid, "status": "completed", "usage": {"total_tokens": 42}},
        ),
    ]


@pytest.mark.parametrize("protocol", ["ga", "preview"])
def test_text_turn_from_events(protocol: str) -> None:
    conv = Conversation()
    changed = []
    conv.on_change(lambda turn: changed.append(turn.status))
    for e in text_turn_events(protocol):
        conv.apply(e)
    assert len(conv.turns) == 1
    turn = conv.turns[0]
    assert turn.user_text == "Hi" and turn.user_item_id == "item_u1"
    assert turn.transcript == "Hello there."
    assert turn.status == "completed" and turn.usage == {"total_tokens": 42}
    assert turn.audio.dtype == np.int16 and len(turn.audio) == 3600
    assert np.array_equal(turn.audio[:2400], np.arange(2400, dtype=np.int16))
    # The transcript pieces sit where playback was when they arrived.
    assert [(t, s, round(p, 3)) for t, s, p in turn.transcript_deltas] == [
        (1.2, "Hello ", 0.0),
        (1.4, "there.", 0.1),
    ]
    assert turn.audio_deltas == [(1.3, 0, 2400), (1.5, 2400, 1200)]
    assert turn.latency_first_audio_s == pytest.approx(0.3)
    assert turn.latency_done_s == pytest.approx(0.6)
    assert changed[-1] == "completed" and "in_progress" in changed
    # Audio payloads became references into the output stream; preview names became GA names.
    deltas = [e for e in conv.events if e.type == "response.output_audio.delta"]
    assert [parse_audio_ref(e.raw["delta"]) for e in deltas] == [("output", 0, 2400), ("output", 2400, 3600)]
    assert conv.items[0]["id"] == "item_u1" and conv.items[1]["id"] == "item_a1"


def test_save_load_round_trip(tmp_path) -> None:
    conv = Conversation()
    for e in text_turn_events("ga"):
        conv.apply(e)
    # A manual audio turn: appends, commit, response, truncated after barge-in.
    voice = (np.sin(np.arange(4800) / 10) * 8000).astype(np.int16)
    for i in range(0, 4800, 2400):
        conv.apply(
            ev("client", 2.0 + i / 24000, type="input_audio_buffer.append", audio=b64(voice[i : i + 2400]))
        )
    conv.apply(ev("client", 2.3, type="input_audio_buffer.commit"))
    conv.apply(ev("server", 2.31, type="input_audio_buffer.committed", item_id="item_u2"))
    conv.apply(ev("client", 2.32, type="response.create"))
    conv.apply(ev("server", 2.4, type="response.created", response={"id": "resp_2"}))
    conv.apply(
        ev(
            "server",
            2.41,
            type="response.output_item.added",
            response_id="resp_2",
            item={"id": "item_a2", "type": "message", "role": "assistant"},
        )
    )
    conv.apply(ev("server", 2.5, type="response.output_audio.delta", response_id="resp_2", delta=b64(voice)))
    conv.apply(ev("server", 2.6, type="response.done", response={"id": "resp_2", "status": "cancelled"}))
    conv.apply(ev("server", 2.7, type="conversation.item.truncated", item_id="item_a2", audio_end_ms=150))
    second = conv.turns[1]
    assert np.array_equal(second.user_audio, voice)
    assert second.status == "truncated" and second.truncated_ms == 150
    assert second.latency_first_audio_s == pytest.approx(0.2)

    folder = conv.save(tmp_path / "conv")
    lines = (folder / "events.jsonl").read_text().splitlines()
    assert len(lines) == len(conv.events)
    assert all(len(line) < 600 for line in lines), "audio payloads must be references, not base64"
    assert json.loads(lines[-1])["raw"]["audio_end_ms"] == 150

    loaded = Conversation.load(folder)
    assert loaded.turns == conv.turns
    assert [t.to_dict() for t in loaded.turns] == [t.to_dict() for t in conv.turns]
    assert np.array_equal(loaded.turns[1].audio, voice)
    assert [e.to_dict() for e in loaded.events] == [e.to_dict() for e in conv.events]


def test_vad_turn_user_audio_and_transcript() -> None:
    conv = Conversation()
    conv.apply(
        ev(
            "server",
            0.0,
            type="session.created",
            session={"audio": {"input": {"transcription": {"model": "whisper-1"}}}},
        )
    )
    samples = np.arange(24000, dtype=np.int16)
    conv.apply(ev("client", 0.1, type="input_audio_buffer.append", audio=b64(samples)))
    conv.apply(ev("server", 0.2, type="input_audio_buffer.speech_started", audio_start_ms=100, item_id="u1"))
    conv.apply(ev("server", 0.9, type="input_audio_buffer.speech_stopped", audio_end_ms=600, item_id="u1"))
    conv.apply(ev("server", 0.91, type="input_audio_buffer.committed", item_id="u1"))
    conv.apply(
        ev(
            "server",
            0.92,
            type="conversation.item.added",
            item={"id": "u1", "type": "message", "role": "user", "content": [{"type": "input_audio"}]},
        )
    )
    turn = conv.turns[0]
    assert turn.user_transcript_pending
    conv.apply(
        ev("server", 1.0, type="conversation.item.input_audio_transcription.delta", item_id="u1", delta="he")
    )
    conv.apply(
        ev(
            "server",
            1.1,
            type="conversation.item.input_audio_transcription.completed",
            item_id="u1",
            transcript="hey",
        )
    )
    assert len(conv.turns) == 1
    assert turn.user_transcript == "hey" and not turn.user_transcript_pending
    assert np.array_equal(turn.user_audio, samples[2400:14400])
    assert turn.origin_s == 0.9 and turn.speech_end_ms == 600


def test_error_event_is_recorded_and_attached() -> None:
    conv = Conversation()
    for e in text_turn_events("ga")[:5]:
        conv.apply(e)
    err = {"type": "invalid_request_error", "code": "boom", "message": "bad"}
    conv.apply(ev("server", 2.0, type="error", error=err))
    assert conv.errors == [err]
    assert conv.turns[-1].error == err
    assert conv.events[-1].type == "error"


def test_pcm_stream_reads_across_chunks() -> None:
    stream = PcmStream()
    data = np.arange(10_000, dtype=np.int16)
    for i in range(0, 10_000, 333):
        stream.append(data[i : i + 333].tobytes())
    assert len(stream) == 10_000
    assert np.array_equal(stream.read(100, 5000), data[100:5000])
    assert np.array_equal(stream.read(9990), data[9990:])
    assert stream.read(20_000, 30_000).size == 0
    with pytest.raises(ValueError, match="even number of bytes"):
        stream.append(b"\x00")


def test_bad_inputs_say_what_to_fix(tmp_path) -> None:
    with pytest.raises(ValueError, match="'type'"):
        RealtimeEvent.from_raw({"no": "type"}, "server", 0.0)
    with pytest.raises(ValueError, match="direction"):
        RealtimeEvent.from_raw({"type": "x"}, "sideways", 0.0)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="Conversation.save"):
        Conversation.load(tmp_path)


def test_on_audio_hears_each_stored_chunk_once_with_its_turn() -> None:
    conv = Conversation()
    heard: list[tuple[int | None, str, list[int], int]] = []
    unsubscribe = conv.on_audio(
        lambda turn, direction, pcm, start: heard.append(
            (None if turn is None else turn.index, direction, pcm.tolist()[:2], start)
        )
    )
    conv.apply(ev("server", 0.0, type="session.created", session={}))
    conv.apply(ev("client", 0.1, type="input_audio_buffer.append", audio=b64(np.array([5, 6, 7], np.int16))))
    conv.apply(ev("server", 0.2, type="input_audio_buffer.speech_started", audio_start_ms=0, item_id="u1"))
    conv.apply(ev("client", 0.3, type="input_audio_buffer.append", audio=b64(np.array([8, 9], np.int16))))
    for e in text_turn_events("ga")[4:8]:
        conv.apply(e)
    assert heard == [
        (None, "input", [5, 6], 0),  # before the server heard speech: no turn yet
        (0, "input", [8, 9], 3),
        (0, "output", [0, 1], 0),  # the response answers that turn
    ]
    assert conv.input.read().tolist() == [5, 6, 7, 8, 9]
    unsubscribe()
    conv.apply(text_turn_events("ga")[9])
    assert len(heard) == 3 and len(conv.output) == 3600


def test_apply_leaves_the_frozen_event_as_given() -> None:
    conv = Conversation()
    payload = b64(np.arange(10, dtype=np.int16))
    event = ev("client", 0.1, type="input_audio_buffer.append", event_id="e1", audio=payload)
    conv.apply(event)
    assert event.raw["audio"] == payload  # the caller's event is not rewritten
    recorded = conv.events[-1]
    assert recorded is not event and parse_audio_ref(recorded.raw["audio"]) == ("input", 0, 10)
    assert recorded.raw["event_id"] == "e1" and recorded.time == event.time


def test_turn_lookups_and_user_range_are_public() -> None:
    conv = Conversation()
    conv.apply(ev("server", 0.0, type="session.created", session={}))
    conv.apply(ev("client", 0.1, type="input_audio_buffer.append", audio=b64(np.zeros(4800, np.int16))))
    conv.apply(ev("server", 0.2, type="input_audio_buffer.speech_started", audio_start_ms=50, item_id="u1"))
    turn = conv.turn_for_user_item("u1")
    assert turn is conv.turns[0] and turn.user_speaking and turn.user_range == (1200, None)
    conv.apply(ev("server", 0.3, type="input_audio_buffer.speech_stopped", audio_end_ms=150, item_id="u1"))
    assert not turn.user_speaking and turn.user_range == (1200, 3600)
    for e in text_turn_events("ga")[4:6]:
        conv.apply(e)
    assert conv.turn_for_response("resp_1") is conv.turn_for_item("item_a1") is conv.turns[-1]
    assert conv.turn_for_user_item("nope") is None and conv.turn_for_item(None) is None


def long_session_events(turns: int) -> list[RealtimeEvent]:
    """Manual audio turns with spoken replies, and a reconnect halfway."""
    rng = np.random.default_rng(7)
    events = [ev("server", 0.0, type="session.created", session={})]
    t = 0.0
    for k in range(turns):
        if k == turns // 2:
            events.append(ev("server", t, type="session.created", session={}))
        for _ in range(3):
            t += 0.1
            events.append(
                ev("client", t, type="input_audio_buffer.append", audio=b64(rng.integers(-999, 999, 2400)))
            )
        events += [
            ev("client", t, type="input_audio_buffer.commit"),
            ev("server", t, type="input_audio_buffer.committed", item_id=f"u{k}"),
            ev("client", t, type="response.create"),
            ev("server", t + 0.1, type="response.created", response={"id": f"r{k}"}),
            ev(
                "server",
                t + 0.1,
                type="response.output_item.added",
                response_id=f"r{k}",
                item={"id": f"a{k}", "type": "message", "role": "assistant"},
            ),
        ]
        for j in range(4):
            ids = {"response_id": f"r{k}", "item_id": f"a{k}"}
            events.append(
                ev("server", t + 0.2, type="response.output_audio_transcript.delta", delta=f"w{j} ", **ids)
            )
            events.append(
                ev(
                    "server",
                    t + 0.2,
                    type="response.output_audio.delta",
                    delta=b64(rng.integers(-999, 999, 1200)),
                    **ids,
                )
            )
        events.append(
            ev("server", t + 0.3, type="response.done", response={"id": f"r{k}", "status": "completed"})
        )
    return events


def test_pcm_stream_spills_to_its_file_and_reads_across_the_edge() -> None:
    stream = PcmStream(memory_seconds=0.05)  # 1200 samples in memory at most
    data = np.arange(10_000, dtype=np.int16)
    for i in range(0, 10_000, 700):
        stream.append(data[i : i + 700].tobytes())
    assert len(stream) == 10_000 and 0 < stream.spilled_samples < 10_000
    edge = stream.spilled_samples
    assert np.array_equal(stream.read(edge - 5, edge + 5), data[edge - 5 : edge + 5])
    assert np.array_equal(stream.read(), data)
    assert b"".join(stream.iter_bytes()) == data.tobytes()
    stream.close()
    assert len(stream) == 0 and stream.read().size == 0
    with pytest.raises(ValueError, match="memory_seconds"):
        PcmStream(memory_seconds=-1)


def test_event_list_keeps_the_newest_as_objects_and_reads_the_rest_back() -> None:
    events = EventList(memory_events=4)
    originals = [ev("server", i * 0.5, type="response.output_text.delta", delta=f"d{i}") for i in range(11)]
    for e in originals:
        events.append(e)
    assert len(events) == 11 and events.spilled == 9
    assert events[-1] is originals[-1]  # just recorded: the same object
    assert list(events) == originals and events == originals
    assert events[0] == originals[0] and events[-11] == originals[0] and events[3:6] == originals[3:6]
    with pytest.raises(IndexError):
        events[11]
    with pytest.raises(ValueError, match="memory_events"):
        EventList(memory_events=1)


def test_a_conversation_over_its_memory_bounds_is_the_same_conversation(tmp_path) -> None:
    events = long_session_events(12)
    in_memory = Conversation(audio_memory_seconds=None, memory_events=None)
    bounded = Conversation(audio_memory_seconds=0.2, memory_events=8)
    for e in events:
        in_memory.apply(e)
        bounded.apply(e)
    assert bounded.input.spilled_samples > 0 and bounded.output.spilled_samples > 0
    assert bounded.events.spilled > 0 and in_memory.events.spilled == 0
    assert len(bounded.turns) == 12 and bounded.turns == in_memory.turns
    assert [e.to_dict() for e in bounded.events] == [e.to_dict() for e in in_memory.events]
    assert np.array_equal(bounded.turns[0].user_audio, in_memory.turns[0].user_audio)
    loaded = Conversation.load(bounded.save(tmp_path / "bounded"))
    assert loaded.turns == in_memory.turns
    assert [e.to_dict() for e in loaded.events] == [e.to_dict() for e in in_memory.events]
    assert (tmp_path / "bounded" / "output.wav").read_bytes() == in_memory.save(tmp_path / "mem").joinpath(
        "output.wav"
    ).read_bytes()
    bounded.close()
    assert len(bounded.events) == 0 and bounded.turns[0].user_audio.size == 0


def test_reads_on_another_thread_see_consistent_audio_and_events_while_they_spill() -> None:
    stream = PcmStream(memory_seconds=0.01)
    events = EventList(memory_events=6)
    failures: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                n = len(stream)
                got = stream.read(max(0, n - 500), n)
                if not np.array_equal(got, np.arange(max(0, n - 500), n) % 30000):
                    failures.append(f"audio [{n - 500}, {n}) read wrong")
                seen = [e.time for e in events[-20:]]
                if seen != sorted(set(seen)):
                    failures.append("events repeated or out of order")
            except Exception as exc:  # any failure on the reader's side counts
                failures.append(repr(exc))

    thread = threading.Thread(target=reader)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # hand the GIL over often, so reads land inside spills
    thread.start()
    try:
        for i in range(0, 150_000, 150):
            stream.append((np.arange(i, i + 150) % 30000).astype("<i2").tobytes())
            events.append(ev("server", i / 24000, type="response.output_text.delta", delta="x"))
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(switch)
    assert failures == [] and stream.spilled_samples > 0 and events.spilled > 0
    assert [e.time for e in events] == [i / 24000 for i in range(0, 150_000, 150)]


def test_a_dropped_conversation_gives_its_files_back() -> None:
    conv = Conversation(audio_memory_seconds=0.01, memory_events=4)
    for e in long_session_events(3):
        conv.apply(e)
    # The spill files themselves: counting the process's descriptors races with other threads' sockets.
    files = [conv.input._file, conv.output._file, conv.events._file]
    assert all(f is not None and not f.closed for f in files)  # input, output and the event log spilled
    released = [weakref.ref(f) for f in files]
    del conv, files
    gc.collect()
    assert [r() for r in released] == [None, None, None]  # freed, so closed
