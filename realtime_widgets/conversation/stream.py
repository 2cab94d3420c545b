"""`PcmStream`: one append-only PCM16 mono audio stream of a conversation (input or output).

Recent audio is kept in memory as the chunks that arrived; beyond a bound the chunks move to a
temporary file the stream owns (unnamed, removed by the system when closed or collected), so a
session of hours costs the same memory as one of minutes. Reads use `os.pread`, which never moves a
shared file position, so a widget may read on another thread while the session appends.
"""

from __future__ import annotations

import bisect
import os
import tempfile
from collections.abc import Iterator
from typing import IO

import numpy as np

from ..protocol import SAMPLE_RATE

# Audio kept in memory per stream before it moves to the stream's file (about 5.8 MB).
DEFAULT_MEMORY_SECONDS = 120.0
_READ_BLOCK = 1 << 20


class PcmStream:
    """Append-only PCM16 mono audio: recent chunks in memory, older ones in a temporary file.

    Chunks are never copied on append and never over-allocated. `memory_seconds` bounds the audio
    held in memory (None: keep everything in memory).
    """

    __slots__ = ("_tail", "_n", "_file", "_memory_bytes", "_limit_bytes")

    def __init__(self, memory_seconds: float | None = DEFAULT_MEMORY_SECONDS) -> None:
        if memory_seconds is not None and not memory_seconds >= 0:
            raise ValueError(f"memory_seconds must be >= 0 seconds or None, got {memory_seconds!r}")
        # (chunks in memory, their start samples, samples [0, spilled) in the file): one attribute,
        # replaced whole on a spill, so a reader on another thread sees one consistent state.
        self._tail: tuple[list[bytes], list[int], int] = ([], [], 0)
        self._n = 0
        self._file: IO[bytes] | None = None
        self._memory_bytes = 0
        self._limit_bytes = None if memory_seconds is None else int(memory_seconds * SAMPLE_RATE) * 2

    def __len__(self) -> int:
        """Length in samples."""
        return self._n

    @property
    def duration_s(self) -> float:
        return self._n / SAMPLE_RATE

    @property
    def spilled_samples(self) -> int:
        """How many of the oldest samples live in the stream's file rather than in memory."""
        return self._tail[2]

    def append(self, pcm: bytes | bytearray | memoryview) -> tuple[int, int]:
        """Add PCM16 little-endian bytes; returns the (start, stop) sample range they occupy."""
        if len(pcm) % 2:
            raise ValueError(f"PCM16 audio needs an even number of bytes, got {len(pcm)}")
        start = self._n
        n = len(pcm) // 2
        if n:
            chunks, starts, _ = self._tail
            chunks.append(bytes(pcm))
            starts.append(start)
            self._n += n
            self._memory_bytes += n * 2
            if self._limit_bytes is not None and self._memory_bytes > self._limit_bytes:
                self._spill()
        return start, start + n

    def _spill(self) -> None:
        """Move every chunk in memory to the end of the file."""
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="realtime-widgets-audio-")
        self._file.seek(0, os.SEEK_END)
        self._file.writelines(self._tail[0])
        self._file.flush()
        # The file holds the audio before the memory lets go of it (readers on other threads).
        self._tail = ([], [], self._n)
        self._memory_bytes = 0

    def read_bytes(self, start: int, stop: int) -> bytes:
        start = max(0, start)
        stop = min(self._n, stop)
        if stop <= start:
            return b""
        chunks, starts, spilled = self._tail
        parts: list[bytes] = []
        if start < spilled:
            parts.append(self._read_file(start, min(stop, spilled)))
            start = spilled
        if start < stop:
            i = bisect.bisect_right(starts, start) - 1
            held = min(len(chunks), len(starts))  # an append may be half done on another thread
            while i < held and starts[i] < stop:
                chunk_start = starts[i]
                chunk = chunks[i]
                lo = max(start - chunk_start, 0) * 2
                hi = min(stop - chunk_start, len(chunk) // 2) * 2
                parts.append(chunk if (lo == 0 and hi == len(chunk)) else chunk[lo:hi])
                i += 1
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _read_file(self, start: int, stop: int) -> bytes:
        if self._file is None:
            raise ValueError("this audio stream is closed")
        want = (stop - start) * 2
        data = os.pread(self._file.fileno(), want, start * 2)
        if len(data) != want:
            raise OSError(f"the audio stream's file returned {len(data)} of {want} bytes")
        return data

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples [start, stop) as int16 (a copy; the stream keeps growing)."""
        data = self.read_bytes(start, self._n if stop is None else stop)
        return np.frombuffer(data, dtype="<i2").astype(np.int16, copy=False)

    def iter_bytes(self) -> Iterator[bytes]:
        """The whole stream as PCM16 blocks, oldest first, without holding it all in memory."""
        n = self._n
        for start in range(0, n, _READ_BLOCK // 2):
            yield self.read_bytes(start, min(n, start + _READ_BLOCK // 2))

    def to_bytes(self) -> bytes:
        return self.read_bytes(0, self._n)

    def nbytes(self) -> int:
        return self._n * 2

    def close(self) -> None:
        """Let go of the audio (memory and file); the stream reads as empty afterwards."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._tail = ([], [], 0)
        self._n = self._memory_bytes = 0
