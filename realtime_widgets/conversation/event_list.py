"""`EventList`: a conversation's recorded events, the older ones kept as JSON lines in a file.

A four-hour session records a few hundred thousand events; as objects they would cost more memory
than the audio. The newest events stay in memory as they are (so `events[-1]` is the very object
just recorded); older ones move to a temporary file the list owns and are parsed again on access.
"""

from __future__ import annotations

import json
import os
import tempfile
from array import array
from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, overload

from ..events import RealtimeEvent
from .tables import events_frame

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

# Events kept as objects before the oldest half moves to the file (a few MB).
DEFAULT_MEMORY_EVENTS = 10_000
_BATCH = 512


class EventList(Sequence[RealtimeEvent]):
    """Append-only list of events: reads like a list (index, slice, iterate, len)."""

    def __init__(self, memory_events: int | None = DEFAULT_MEMORY_EVENTS) -> None:
        if memory_events is not None and (not isinstance(memory_events, int) or memory_events < 2):
            raise ValueError(f"memory_events must be an int >= 2 or None, got {memory_events!r}")
        self._limit = memory_events
        # (byte offset of each spilled event plus the end, the newer events as objects): one
        # attribute, replaced whole on a spill, so a reader on another thread sees one state.
        self._state: tuple[array[int], list[RealtimeEvent]] = (array("q", [0]), [])
        self._file: IO[bytes] | None = None

    @property
    def spilled(self) -> int:
        """How many of the oldest events live in the file."""
        return len(self._state[0]) - 1

    def append(self, event: RealtimeEvent) -> None:
        recent = self._state[1]
        recent.append(event)
        if self._limit is not None and len(recent) > self._limit:
            self._spill(len(recent) - self._limit // 2)

    def _spill(self, count: int) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="realtime-widgets-events-")
        # default=str: a client event holding something JSON cannot say must not stop the session.
        offsets, recent = self._state
        lines = [_json_line(event) for event in recent[:count]]
        self._file.seek(0, os.SEEK_END)
        self._file.writelines(lines)
        self._file.flush()
        offsets = array("q", offsets)
        end = offsets[-1]
        for line in lines:
            end += len(line)
            offsets.append(end)
        self._state = (offsets, recent[count:])

    def __len__(self) -> int:
        offsets, recent = self._state
        return len(offsets) - 1 + len(recent)

    @overload
    def __getitem__(self, index: int) -> RealtimeEvent: ...

    @overload
    def __getitem__(self, index: slice) -> list[RealtimeEvent]: ...

    def __getitem__(self, index: int | slice) -> RealtimeEvent | list[RealtimeEvent]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        offsets, recent = self._state
        spilled = len(offsets) - 1
        n = spilled + len(recent)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(f"event index {index} out of range for {n} events")
        return self._read(offsets, i, i + 1)[0] if i < spilled else recent[i - spilled]

    def _read(self, offsets: array[int], start: int, stop: int) -> list[RealtimeEvent]:
        """Spilled events [start, stop), parsed back from their JSON lines."""
        if self._file is None:
            raise ValueError("this event list is closed")
        lo, hi = offsets[start], offsets[stop]
        data = os.pread(self._file.fileno(), hi - lo, lo)
        return [RealtimeEvent.from_dict(json.loads(line)) for line in data.splitlines()]

    def __iter__(self) -> Iterator[RealtimeEvent]:
        # By position, so events appended (or spilled) while iterating are seen, as with a list.
        i = 0
        while True:
            offsets, recent = self._state
            spilled = len(offsets) - 1
            if i < spilled:
                batch = self._read(offsets, i, min(spilled, i + _BATCH))
                yield from batch
                i += len(batch)
            elif i < spilled + len(recent):
                yield recent[i - spilled]
                i += 1
            else:
                return

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (EventList, list)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<EventList {len(self)} events, {self.spilled} in its file>"

    def to_pandas(self) -> pd.DataFrame:
        """One row per event: time_s, direction, type, wire_type, event_id, item_id, response_id."""
        return events_frame(self)

    def close(self) -> None:
        """Let go of every event (memory and file); the list reads as empty afterwards."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._state = (array("q", [0]), [])


def _json_line(event: RealtimeEvent) -> bytes:
    text = json.dumps(event.to_dict(), separators=(",", ":"), ensure_ascii=False, default=str)
    return (text + "\n").encode("utf-8")
