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
from typing import IO, overload

from ..events import RealtimeEvent

# Events kept as objects before the oldest half moves to the file (a few MB).
DEFAULT_MEMORY_EVENTS = 10_000
_BATCH = 512


class EventList(Sequence[RealtimeEvent]):
    """Append-only list of events: reads like a list (index, slice, iterate, len)."""

    def __init__(self, memory_events: int | None = DEFAULT_MEMORY_EVENTS) -> None:
        if memory_events is not None and (not isinstance(memory_events, int) or memory_events < 2):
            raise ValueError(f"memory_events must be an int >= 2 or None, got {memory_events!r}")
        self._limit = memory_events
        self._recent: list[RealtimeEvent] = []
        self._offsets = array("q", [0])  # byte offset of spilled event i; one more for the end
        self._file: IO[bytes] | None = None

    @property
    def spilled(self) -> int:
        """How many of the oldest events live in the file."""
        return len(self._offsets) - 1

    def append(self, event: RealtimeEvent) -> None:
        self._recent.append(event)
        if self._limit is not None and len(self._recent) > self._limit:
            self._spill(len(self._recent) - self._limit // 2)

    def _spill(self, count: int) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="realtime-widgets-events-")
        # default=str: a client event holding something JSON cannot say must not stop the session.
        lines = [_json_line(event) for event in self._recent[:count]]
        self._file.seek(0, os.SEEK_END)
        self._file.writelines(lines)
        self._file.flush()
        end = self._offsets[-1]
        for line in lines:
            end += len(line)
            self._offsets.append(end)
        del self._recent[:count]

    def __len__(self) -> int:
        return self.spilled + len(self._recent)

    @overload
    def __getitem__(self, index: int) -> RealtimeEvent: ...

    @overload
    def __getitem__(self, index: slice) -> list[RealtimeEvent]: ...

    def __getitem__(self, index: int | slice) -> RealtimeEvent | list[RealtimeEvent]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(f"event index {index} out of range for {n} events")
        spilled = self.spilled
        return self._read(i, i + 1)[0] if i < spilled else self._recent[i - spilled]

    def _read(self, start: int, stop: int) -> list[RealtimeEvent]:
        """Spilled events [start, stop), parsed back from their JSON lines."""
        if self._file is None:
            raise ValueError("this event list is closed")
        lo, hi = self._offsets[start], self._offsets[stop]
        data = os.pread(self._file.fileno(), hi - lo, lo)
        return [RealtimeEvent.from_dict(json.loads(line)) for line in data.splitlines()]

    def __iter__(self) -> Iterator[RealtimeEvent]:
        # By position, so events appended (or spilled) while iterating are seen, as with a list.
        i = 0
        while i < len(self):
            spilled = self.spilled
            if i < spilled:
                batch = self._read(i, min(spilled, i + _BATCH))
                yield from batch
                i += len(batch)
            else:
                yield self._recent[i - spilled]
                i += 1

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (EventList, list)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<EventList {len(self)} events, {self.spilled} in its file>"

    def close(self) -> None:
        """Let go of every event (memory and file); the list reads as empty afterwards."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._recent = []
        self._offsets = array("q", [0])


def _json_line(event: RealtimeEvent) -> bytes:
    text = json.dumps(event.to_dict(), separators=(",", ":"), ensure_ascii=False, default=str)
    return (text + "\n").encode("utf-8")
