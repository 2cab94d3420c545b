"""EventLog: every client (↑) and server (↓) event of a RealtimeSession, as compact rows.

The kernel side keeps one small row per event, or per run of consecutive deltas of one type, and
ships new or changed rows to the front end in batches at most every ~100 ms as custom messages.
Nothing expensive happens per event: summaries and audio trimming are computed when a batch is
flushed or when a row's JSON is requested.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import pathlib
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets as t

from ..conversation.event_list import EventList
from ..conversation.tables import events_frame
from ..events import INPUT_TAP, OUTPUT_TAP, RealtimeEvent, parse_audio_ref
from ..protocol import SAMPLE_RATE
from ._protocols import EventLogCounts, EventLogToPage, EventRowWire, EventSource, Unsubscribe

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

FLUSH_INTERVAL_S = 0.1
# Client appends are as frequent as deltas: they collapse the same way.
_COLLAPSING = frozenset({"input_audio_buffer.append"})
# A WebRTC call's taps (the page's copy of both tracks, 10 a second each) are no service event: they
# are counted in the header (seconds of audio each side), not listed, and left out of the exports.
TAPS = {INPUT_TAP: "input", OUTPUT_TAP: "output"}
# Keys whose long string values are base64 audio; shown as their decoded byte size.
_AUDIO_KEYS = frozenset({"audio", "delta", "data"})
_AUDIO_MIN_CHARS = 256
_MAX_SUMMARY = 160
_MAX_TYPES = 200
DETAIL_EVENTS = 20  # events of a row its detail view shows
_FOLD_EVERY = 256


def _is_collapsing(event_type: str) -> bool:
    return event_type.endswith(".delta") or event_type in _COLLAPSING


def base64_size(text: str) -> int:
    """Decoded byte size of a base64 string, without decoding it."""
    n = len(text)
    pad = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    return n * 3 // 4 - pad


def audio_bytes(value: object) -> int:
    """Byte size of an audio payload: base64 text, or the session's "@output.wav[a:b]" reference."""
    if not isinstance(value, str):
        return 0
    ref = parse_audio_ref(value)
    if ref is not None:
        return (ref[2] - ref[1]) * 2  # PCM16 samples
    return base64_size(value)


def trim_audio(value: Any, key: str = "") -> Any:
    """A copy of an event payload with audio replaced by its byte size."""
    if isinstance(value, dict):
        return {k: trim_audio(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [trim_audio(v, key) for v in value]
    if isinstance(value, str) and key in _AUDIO_KEYS:
        if len(value) >= _AUDIO_MIN_CHARS:
            return f"<{base64_size(value)} bytes of base64 audio>"
        if parse_audio_ref(value) is not None:
            return f"<{audio_bytes(value)} bytes of audio {value}>"
    return value


class EventRow:
    """One line of the log: an event, or a run of consecutive deltas of one type.

    A row holds no events: it keeps the positions of its first `DETAIL_EVENTS` in the event log
    (the detail view reads them back from there) and folds the others into its summary.
    """

    __slots__ = (
        "index",
        "type",
        "direction",
        "time",
        "count",
        "positions",
        "is_error",
        "_summary",
        "_pending",
        "_acc",
    )

    def __init__(self, index: int, event: RealtimeEvent, position: int) -> None:
        self.index = index
        self.type: str = event.type
        self.direction: str = event.direction
        self.time: float = event.time
        self.count = 1
        self.positions: list[int] = [position]  # where its first events stand in the event log
        self.is_error = event.type == "error" or event.type.endswith(".failed")
        self._summary = ""
        self._pending: list[RealtimeEvent] = [event]  # not yet folded into the summary
        self._acc: Any = None  # running byte total or text tail of a delta run

    def add(self, event: RealtimeEvent, position: int) -> None:
        self.count += 1
        if len(self.positions) < DETAIL_EVENTS:
            self.positions.append(position)
        self._pending.append(event)
        if len(self._pending) >= _FOLD_EVERY:  # no loop flushes (plain Python): stay bounded anyway
            self._fold()

    def _fold(self) -> None:
        if self._pending:
            self._summary = _summarize(self, self._pending)
            self._pending = []

    @property
    def summary(self) -> str:
        """Short text for the row: audio byte size, delta text, error message, ids."""
        self._fold()
        return self._summary

    def matches(self, type_filter: str, search: str) -> bool:
        if type_filter == "errors":
            if not self.is_error:
                return False
        elif type_filter and self.type != type_filter:
            return False
        if search:
            needle = search.lower()
            return needle in self.type.lower() or needle in self.summary.lower()
        return True

    def wire(self) -> EventRowWire:
        """The compact form the front end renders."""
        return [
            self.index,
            round(self.time, 3),
            "c" if self.direction == "client" else "s",
            self.type,
            self.count,
            self.is_error,
            self.summary,
        ]

    def __repr__(self) -> str:
        arrow = "↑" if self.direction == "client" else "↓"
        return f"<EventRow {self.index} {arrow} {self.type} x{self.count}>"


def _summarize(row: EventRow, events: list[RealtimeEvent]) -> str:
    """Fold `events` (the row's newest) into its summary: incremental for long delta runs."""
    kind = row.type
    if kind.endswith("audio.delta") or kind in _COLLAPSING:
        key = "audio" if kind == "input_audio_buffer.append" else "delta"
        total = (row._acc or 0) + sum(audio_bytes(e.raw.get(key)) for e in events)
        row._acc = total
        return f"{total} B audio"
    if kind.endswith(".delta"):
        text = (row._acc or "") + "".join(str(e.raw.get("delta") or "") for e in events)
        text = text[-_MAX_SUMMARY:]
        row._acc = text
        return text
    return _describe(kind, events[-1].raw)[:_MAX_SUMMARY]


def _describe(kind: str, raw: dict) -> str:
    err = raw.get("error")
    if isinstance(err, dict):
        code = err.get("code") or err.get("type") or "error"
        return f"{code}: {err.get('message', '')}"
    if "transcript" in raw and isinstance(raw["transcript"], str):
        return raw["transcript"]
    if kind == "response.done":
        return f"status={_dict(raw.get('response')).get('status')}"
    if kind.startswith("session."):
        sess = _dict(raw.get("session"))
        voice = sess.get("voice") or _dict(_dict(sess.get("audio")).get("output")).get("voice")
        if isinstance(voice, dict):  # a custom voice is given as an object
            voice = voice.get("id")
        if sess.get("type") == "transcription":
            return "transcription session"
        return f"voice={voice}" if voice else ""
    if "audio_start_ms" in raw:
        return f"at {raw['audio_start_ms']} ms"
    if "audio_end_ms" in raw:
        return f"at {raw['audio_end_ms']} ms"
    item = raw.get("item")
    if isinstance(item, dict):
        return " ".join(str(item.get(k)) for k in ("role", "type", "id") if item.get(k))
    for key in ("item_id", "response_id", "event_id"):
        if raw.get(key):
            return str(raw[key])
    return ""


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


class EventLog(anywidget.AnyWidget):
    """The session's events, newest last: filter, search, click a row for its JSON, export JSONL.

    `EventLog(session)` or `log.connect(session)`. The kernel and the page keep the newest
    `max_rows` rows (a row is an event, or a run of deltas); older rows are counted, not kept, and
    the page says how many events they held. The events themselves stay in the session's event log
    (`session.event_log`, which spills to a file in long sessions), so `export_jsonl` and `events`
    are always complete. Without a session, `ingest` records into an `EventList` of the log's own.
    """

    _esm = pathlib.Path(__file__).parent / "event_log.js"
    _css = pathlib.Path(__file__).parent / "event_log.css"

    max_rows = t.Int(2000).tag(sync=True)
    type_filter = t.Unicode("").tag(sync=True)  # "" (all), "errors", or one event type
    search = t.Unicode("").tag(sync=True)
    types = t.List(t.Unicode()).tag(sync=True)  # event types seen, for the filter menu

    def __init__(self, session: EventSource | None = None, max_rows: int = 2000, **kwargs: Any) -> None:
        if not isinstance(max_rows, int) or max_rows < 1:
            raise ValueError(f"max_rows must be an int of at least 1, got {max_rows!r}")
        super().__init__(max_rows=max_rows, **kwargs)
        self._rows: deque[EventRow] = deque()
        self._next_index = 0  # index of the next row; rows before _rows[0] were dropped
        self._n_events = 0
        self._dropped_events = 0  # events of the rows no longer kept
        self._taps = 0  # tapped chunks of a WebRTC call (in _n_events: positions in the log)
        self._tapped_bytes = {"input": 0, "output": 0}
        self._counts_changed = False
        self._own: EventList | None = EventList()  # without a session, the events are kept here
        self._log: Sequence[RealtimeEvent] = self._own
        self._open: dict[tuple[str, str], EventRow] = {}  # delta runs still collapsing
        self._dirty: dict[int, EventRow] = {}
        self._types: set[str] = set()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._unsubscribe: Unsubscribe | None = None
        self.session: EventSource | None = None
        self.on_msg(self._on_front_msg)
        self.observe(self._on_filter, names=["type_filter", "search"])
        self.observe(self._on_max_rows, names=["max_rows"])
        if session is not None:
            self.connect(session)

    # -- session ---------------------------------------------------------------------------
    def connect(self, session: EventSource) -> Unsubscribe:
        """Show `session`'s events: the ones so far, then each new one; returns a function that disconnects."""
        self.disconnect()
        self.session = session
        if self._own is not None:
            self._own.close()
            self._own = None
        self._log = session.event_log
        self.clear()
        self.ingest_many(session.event_log)
        self._unsubscribe = session.on("*", self.ingest)
        return self.disconnect

    def disconnect(self) -> None:
        """Stop following the session (the rows stay)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def clear(self) -> None:
        """Forget the rows (the session's events stay in the session)."""
        self._rows.clear()
        self._next_index = 0
        self._n_events = 0
        self._dropped_events = 0
        self._taps = 0
        self._tapped_bytes = {"input": 0, "output": 0}
        if self._own is not None:
            self._own.close()
            self._own = EventList()
            self._log = self._own
        self._open.clear()
        self._dirty.clear()
        self._types.clear()
        self.types = []
        self._send_reset()

    # -- ingest (hot path: keep it tiny) ---------------------------------------------------
    def ingest(self, event: RealtimeEvent) -> None:
        """Add one RealtimeEvent. Cheap; the front end hears about it in the next batch."""
        position = self._n_events
        self._n_events += 1
        if self._own is not None:
            self._own.append(event)
        kind = event.type
        side = TAPS.get(kind)
        if side is not None:
            self._taps += 1
            self._tapped_bytes[side] += audio_bytes(event.raw.get("audio" if side == "input" else "delta"))
            self._counts_changed = True
            self._schedule()
            return
        if _is_collapsing(kind):
            key = (kind, event.direction)
            row = self._open.get(key)
            if row is not None:
                row.add(event, position)
                self._dirty[row.index] = row
                self._schedule()
                return
            row = self._new_row(event, position)
            self._open[key] = row
        else:
            if self._open:
                self._open.clear()  # anything else ends the runs of deltas
            row = self._new_row(event, position)
        if kind not in self._types:
            self._types.add(kind)
            if len(self._types) <= _MAX_TYPES:
                self.types = sorted(self._types)
        self._schedule()

    def _new_row(self, event: RealtimeEvent, position: int) -> EventRow:
        row = EventRow(self._next_index, event, position)
        self._next_index += 1
        self._rows.append(row)
        self._dirty[row.index] = row
        if len(self._rows) > self.max_rows:
            self._drop_oldest(len(self._rows) - self.max_rows)
        return row

    def _drop_oldest(self, n: int) -> None:
        for _ in range(n):
            old = self._rows.popleft()
            self._dropped_events += old.count
            self._dirty.pop(old.index, None)
            if self._open.get((old.type, old.direction)) is old:
                del self._open[(old.type, old.direction)]

    def ingest_many(self, events: Iterable[RealtimeEvent]) -> None:
        for event in events:
            self.ingest(event)

    def _schedule(self) -> None:
        if self._flush_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (plain Python): rows wait for flush() or the next event on a loop
        self._flush_handle = loop.call_later(FLUSH_INTERVAL_S, self.flush)

    # -- front end -------------------------------------------------------------------------
    def _counts(self) -> EventLogCounts:
        return {
            "n_events": self._n_events - self._taps,
            "n_rows": self._next_index,
            "n_hidden_events": self._dropped_events,
            "n_hidden_rows": self._next_index - len(self._rows),
            "tapped_s": {side: n / (2 * SAMPLE_RATE) for side, n in self._tapped_bytes.items()},
        }

    def flush(self) -> list[EventRowWire]:
        """Send the rows that are new or changed since the last batch; returns what was sent."""
        self._flush_handle = None
        if not self._dirty and not self._counts_changed:
            return []
        dirty, self._dirty = self._dirty, {}
        rows = [r.wire() for r in dirty.values() if r.matches(self.type_filter, self.search)]
        if rows or self._counts_changed:
            self._counts_changed = False
            self._to_page({"kind": "rows", "rows": rows, **self._counts()})
        return rows

    def visible_rows(self) -> list[EventRow]:
        """The rows the front end shows: the kept rows that pass the filter and search."""
        tf, q = self.type_filter, self.search
        if not tf and not q:
            return list(self._rows)
        return [row for row in self._rows if row.matches(tf, q)]

    def _send_reset(self) -> None:
        self._dirty.clear()
        rows = [r.wire() for r in self.visible_rows()]
        self._to_page({"kind": "reset", "rows": rows, **self._counts()})

    def _to_page(self, message: EventLogToPage, buffers: list[bytes] | None = None) -> None:
        self.send(message, buffers)

    def _on_filter(self, change: dict) -> None:
        self._send_reset()

    @t.validate("max_rows")
    def _check_max_rows(self, proposal: dict) -> int:
        value = proposal["value"]
        if value < 1:
            raise t.TraitError(f"max_rows must be at least 1, got {value}")
        return int(value)

    def _on_max_rows(self, change: dict) -> None:
        if len(self._rows) > self.max_rows:
            self._drop_oldest(len(self._rows) - self.max_rows)
        self._send_reset()

    def _on_front_msg(self, _widget: Any, content: dict, _buffers: list) -> None:
        kind = content.get("kind") if isinstance(content, dict) else None
        if kind == "ready":
            self._send_reset()
        elif kind == "detail":
            index = content.get("index")
            if isinstance(index, int) and self.row(index) is not None:
                self._to_page({"kind": "detail", "index": index, "json": self.row_json(index)})
        elif kind == "export":
            self._to_page({"kind": "export", "filename": "realtime-events.jsonl"}, [self.jsonl().encode()])

    # -- Python access ---------------------------------------------------------------------
    @property
    def rows(self) -> list[EventRow]:
        """The kept rows (the newest `max_rows`), oldest first."""
        return list(self._rows)

    @property
    def hidden_events(self) -> int:
        """Events in the rows no longer kept (they are still in `events` and the export)."""
        return self._dropped_events

    @property
    def events(self) -> list[RealtimeEvent]:
        """Every event the log was given (the session's, up to a disconnect, a call's taps too), kept rows or not."""
        return list(self._iter_events())

    def _iter_events(self) -> Iterator[RealtimeEvent]:
        return itertools.islice(self._log, self._n_events)

    def row(self, index: int) -> EventRow | None:
        """The kept row with this index, or None if it was never made or is no longer kept."""
        if not self._rows:
            return None
        i = index - self._rows[0].index
        return self._rows[i] if 0 <= i < len(self._rows) else None

    def row_json(self, index: int, max_events: int = DETAIL_EVENTS) -> str:
        """Pretty JSON of a row's first events (audio trimmed to its byte size)."""
        row = self.row(index)
        if row is None:
            raise IndexError(f"row {index} is not kept (the log keeps the newest {self.max_rows} rows)")
        payloads = [trim_audio(self._log[p].raw) for p in row.positions[:max_events]]
        if row.count == 1:
            return json.dumps(payloads[0], indent=2, ensure_ascii=False, default=str)
        text = json.dumps(payloads, indent=2, ensure_ascii=False, default=str)
        if row.count > len(payloads):
            text += f"\n… and {row.count - len(payloads)} more {row.type} events"
        return text

    def _iter_service_events(self) -> Iterator[RealtimeEvent]:
        return (e for e in self._iter_events() if e.type not in TAPS)

    def iter_jsonl(self, trim: bool = True) -> Iterator[str]:
        for e in self._iter_service_events():
            raw = trim_audio(e.raw) if trim else e.raw
            yield json.dumps(
                {"time": round(e.time, 6), "direction": e.direction, "type": e.type, "event": raw},
                ensure_ascii=False,
                default=str,
            )

    def jsonl(self, trim: bool = True) -> str:
        return "".join(line + "\n" for line in self.iter_jsonl(trim))

    def export_jsonl(self, path: str | pathlib.Path, trim: bool = True) -> pathlib.Path:
        """Write every event (not just the kept rows; not a call's taps, whose audio the conversation
        saves) as JSON lines; audio trimmed unless trim=False."""
        path = pathlib.Path(path)
        with path.open("w", encoding="utf-8") as f:
            for line in self.iter_jsonl(trim):
                f.write(line + "\n")
        return path

    def to_pandas(self) -> pd.DataFrame:
        """Every event the export holds, one row each: time_s, direction, type, wire_type and ids."""
        return events_frame(self._iter_service_events())

    def __repr__(self) -> str:
        return f"<EventLog {self._n_events} events, {self._next_index} rows ({len(self._rows)} kept)>"
