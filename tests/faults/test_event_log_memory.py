"""The event log widget in bounded memory over 100,000 events, and its export still complete (issue 10).

Before: the widget kept every event and one row object per event run with all its events (100k events:
55 MB traced, growing without end). Now it keeps the newest `max_rows` rows holding positions only,
and the events live in an `EventList` (the session's, or the log's own), which spills to a file.
"""

from __future__ import annotations

import json
import tracemalloc

from realtime_widgets.events import RealtimeEvent
from realtime_widgets.widgets.event_log import EventLog

N_EVENTS = 100_000
EVENTS_PER_TURN = 50


def turn_events(n: int):
    """A spoken reply per 50 events: audio deltas (by reference), transcript deltas, then response.done."""
    for i in range(n):
        turn, k = divmod(i, EVENTS_PER_TURN)
        if k < 30:
            start = i * 2400
            raw = {"type": "response.output_audio.delta", "delta": f"@output.wav[{start}:{start + 2400}]"}
        elif k < EVENTS_PER_TURN - 1:
            raw = {"type": "response.output_audio_transcript.delta", "delta": f" w{i}"}
        else:
            raw = {"type": "response.done", "response": {"id": f"resp_{turn}", "status": "completed"}}
        raw["event_id"] = f"event_{i}"
        yield RealtimeEvent.from_raw(raw, "server", i * 0.01)


def test_hundred_thousand_events_in_bounded_memory_and_a_complete_export(tmp_path):
    log = EventLog(max_rows=2000)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        at_half = 0
        for i, event in enumerate(turn_events(N_EVENTS), 1):
            log.ingest(event)
            if i == N_EVENTS // 2:
                at_half = tracemalloc.get_traced_memory()[0] - base
            if i % 10_000 == 0:
                log.flush()  # what the loop's timer does every 100 ms
        at_end = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    print(f"event log traced memory: {at_half / 1e6:.1f} MB at 50k events, {at_end / 1e6:.1f} MB at 100k")
    assert at_end < 20e6, f"{at_end / 1e6:.1f} MB for {N_EVENTS} events (was 55 MB)"
    assert at_end - at_half < 3e6, f"still growing: {at_half / 1e6:.1f} -> {at_end / 1e6:.1f} MB"

    rows = log.rows
    assert len(rows) == 2000 and rows[-1].type == "response.done"
    assert log.hidden_events + sum(r.count for r in rows) == N_EVENTS
    # the collapsed rows keep their summaries: the last turn's transcript ends with its last word
    assert rows[-2].summary.endswith(f" w{N_EVENTS - 2}")

    path = log.export_jsonl(tmp_path / "events.jsonl")
    with path.open(encoding="utf-8") as f:
        first = json.loads(f.readline())
        n = 1 + sum(1 for _ in f)
    assert n == N_EVENTS
    assert first["event"]["event_id"] == "event_0" and first["type"] == "response.output_audio.delta"
    # a kept row's detail reads its events back from the spilled event list
    detail = json.loads(log.row_json(rows[-1].index))
    assert detail["event_id"] == f"event_{N_EVENTS - 1}"
