"""EventLog against a real session on the emulator (official openai SDK underneath)."""

from __future__ import annotations

import json

import pytest
from page_messages import page_sends, sent_to_page

from realtime_widgets.events import RealtimeEvent
from realtime_widgets.widgets.event_log import EventLog, base64_size, trim_audio


async def test_rows_from_a_spoken_turn(session, front_end):
    log = EventLog(session)
    await session.send_text("Hello there, how are you?")
    rows = log.rows
    types = [r.type for r in rows]
    assert types[0] == "session.created"
    assert "response.done" in types
    client = [r for r in rows if r.direction == "client"]
    assert {"session.update", "conversation.item.create", "response.create"} <= {r.type for r in client}
    # the deltas of one response collapse into one row with a count, summarised by byte size
    audio_rows = [r for r in rows if r.type == "response.output_audio.delta"]
    assert len(audio_rows) == 1 and audio_rows[0].count > 1
    turn = session.conversation.turns[-1]
    assert audio_rows[0].summary == f"{turn.audio_samples * 2} B audio"
    transcript_rows = [r for r in rows if r.type == "response.output_audio_transcript.delta"]
    assert transcript_rows and transcript_rows[0].summary.strip() in turn.transcript
    # every event is kept, and rows account for each exactly once
    assert sum(r.count for r in rows) == len(log.events) == len(session.event_log)
    assert all(0 <= r.time <= 60 for r in rows)


async def test_batches_reach_the_front_end(session, front_end):
    log = EventLog(session)
    await session.send_text("Say something short.")
    await_flush = log.flush()
    sent = sent_to_page(log, "rows")
    assert sent, "the batch of rows went out as a custom message"
    wire = [row for msg in sent for row in msg["rows"]]
    assert {r[3] for r in wire} >= {"response.done", "response.output_audio.delta"}
    # wire rows: [index, time, dir, type, count, is_error, summary]; no base64 anywhere
    payload = json.dumps(sent)
    assert len(payload) < 20_000
    assert await_flush == wire[-len(await_flush) :]
    # a page that renders asks for the rows so far: it gets a reset with the newest max_rows
    log.comm.sent.clear()
    page_sends(log, {"kind": "ready"})
    (reset,) = sent_to_page(log, "reset")
    assert len(reset["rows"]) == len(log.rows) and reset["n_events"] == len(session.event_log)


async def test_detail_json_trims_audio(session, front_end):
    log = EventLog(session)
    await session.send_text("Tell me about the weather.")
    index = next(r.index for r in log.rows if r.type == "response.output_audio.delta")
    page_sends(log, {"kind": "detail", "index": index})
    (detail,) = sent_to_page(log, "detail")
    events = json.loads(detail["json"].split("\n… and")[0])
    assert events[0]["type"] == "response.output_audio.delta"
    assert "bytes of audio" in events[0]["delta"]
    single = next(r.index for r in log.rows if r.type == "response.done")
    assert json.loads(log.row_json(single))["type"] == "response.done"


async def test_max_rows_bounds_the_rows_not_the_export(session, front_end, tmp_path):
    log = EventLog(session, max_rows=12)
    await session.send_text("One.")
    await session.send_text("Two.")
    kept = log.rows
    assert len(kept) == 12 and "response.done" in {r.type for r in kept}
    assert [r.index for r in log.visible_rows()] == [r.index for r in kept]
    # the rows no longer kept are counted, and the page is told how many events they held
    hidden = log.hidden_events
    assert hidden == len(session.event_log) - sum(r.count for r in kept) > 0
    page_sends(log, {"kind": "ready"})
    (reset,) = sent_to_page(log, "reset")[-1:]
    assert reset["n_hidden_events"] == hidden and reset["n_hidden_rows"] == kept[0].index
    assert log.row(kept[0].index - 1) is None
    with pytest.raises(IndexError, match="newest 12 rows"):
        log.row_json(kept[0].index - 1)
    # the export still has every event
    lines = log.export_jsonl(tmp_path / "all.jsonl").read_text().splitlines()
    assert len(lines) == len(session.event_log) == len(log.events)
    log.type_filter = "response.done"
    visible = log.visible_rows()
    assert visible == [r for r in kept if r.type == "response.done"]  # the filter sees the kept rows
    (reset,) = sent_to_page(log, "reset")[-1:]
    assert [r[0] for r in reset["rows"]] == [r.index for r in visible]
    log.type_filter = ""
    log.max_rows = 4
    assert [r.index for r in log.rows] == [r.index for r in kept[-4:]]
    with pytest.raises(ValueError, match="max_rows"):
        EventLog(max_rows=0)
    with pytest.raises(Exception, match="max_rows must be at least 1"):
        log.max_rows = 0
    assert log.max_rows == 4


async def test_errors_are_flagged_and_filterable(session, front_end):
    log = EventLog(session)
    # a real server error: committing an empty input buffer
    await session.send_event({"type": "input_audio_buffer.commit"})
    for _ in range(100):
        if any(r.is_error for r in log.rows):
            break
        await __import__("asyncio").sleep(0.02)
    errors = [r for r in log.rows if r.is_error]
    assert errors and errors[0].type == "error"
    assert "commit" in errors[0].summary or "empty" in errors[0].summary
    log.type_filter = "errors"
    assert log.visible_rows() == errors


async def test_export_jsonl(session, tmp_path, front_end):
    log = EventLog(session)
    await session.send_text("Export me.")
    path = log.export_jsonl(tmp_path / "events.jsonl")
    lines = path.read_text().splitlines()
    assert len(lines) == len(session.event_log)
    first = json.loads(lines[0])
    assert first["type"] == "session.created" and first["direction"] == "server"
    assert max(len(line) for line in lines) < 5000  # audio appears as sizes, not base64
    page_sends(log, {"kind": "export"})
    msg = [(d, b) for t, d, b in log.comm.sent if d.get("content", {}).get("kind") == "export"]
    assert msg and bytes(msg[0][1][0]).decode().splitlines() == lines


def test_collapsing_rules_and_audio_sizes():
    log = EventLog()

    def ev(raw, direction="server", t=0.0):
        return RealtimeEvent.from_raw(raw, direction, t)

    b64 = "A" * 6400  # 4800 bytes
    log.ingest(ev({"type": "response.output_audio.delta", "delta": b64}))
    log.ingest(ev({"type": "response.output_audio_transcript.delta", "delta": "Hel"}))
    log.ingest(ev({"type": "response.output_audio.delta", "delta": b64}))
    log.ingest(ev({"type": "response.output_audio_transcript.delta", "delta": "lo"}))
    log.ingest(ev({"type": "response.done", "response": {"status": "completed"}}))
    log.ingest(ev({"type": "response.output_audio.delta", "delta": "@output.wav[0:2400]"}))
    assert [(r.type, r.count) for r in log.rows] == [
        ("response.output_audio.delta", 2),
        ("response.output_audio_transcript.delta", 2),
        ("response.done", 1),
        ("response.output_audio.delta", 1),
    ]
    assert log.rows[0].summary == "9600 B audio"
    assert log.rows[1].summary == "Hello"
    assert log.rows[2].summary == "status=completed"
    assert log.rows[3].summary == "4800 B audio"
    assert base64_size("QUJD") == 3 and base64_size("QUI=") == 2
    assert trim_audio({"item": {"content": [{"audio": b64}]}}) == {
        "item": {"content": [{"audio": "<4800 bytes of base64 audio>"}]}
    }
    assert "6 events, 4 rows" in repr(log)
    # a WebRTC call's taps (10 a second each side, interleaved with the service's events) are no
    # service event: not listed, not exported, counted in the header as seconds of audio each side
    for _ in range(3):
        log.ingest(ev({"type": "webrtc.input_audio.tap", "audio": "@input.wav[0:2400]"}, "client"))
        log.ingest(
            ev({"type": "webrtc.output_audio.tap", "delta": "@output.wav[0:2400]", "response_id": "r"})
        )
        log.ingest(ev({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0}))
    assert [r.type for r in log.rows[4:]] == ["input_audio_buffer.speech_started"] * 3
    assert "webrtc.input_audio.tap" not in log.types and "webrtc.input_audio.tap" not in log.jsonl()
    assert list(log.to_pandas()["type"]).count("input_audio_buffer.speech_started") == 3
    assert len(log.to_pandas()) == len(log.jsonl().splitlines()) == 9 == len(log.events) - 6
    counts = log._counts()  # what the header shows
    assert counts["n_events"] == 9 and counts["tapped_s"] == {"input": 0.3, "output": 0.3}, counts
    # without a session the log keeps the events itself; a detail reads them back
    assert [e.type for e in log.events][:2] == [
        "response.output_audio.delta",
        "response.output_audio_transcript.delta",
    ]
    assert json.loads(log.row_json(0))[1]["delta"] == "<4800 bytes of base64 audio>"
