"""`PcmStream`: one append-only PCM16 mono audio stream of a conversation (input or output)."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

import numpy as np

from ..protocol import SAMPLE_RATE


class PcmStream:
    """Append-only PCM16 mono audio kept as a list of chunks.

    Chunks are never copied on append and never over-allocated, so an hour of audio costs the
    audio's own size (172.8 MB at 24 kHz) plus a few bytes per chunk.
    """

    __slots__ = ("_chunks", "_starts", "_n")

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._starts: list[int] = []
        self._n = 0

    def __len__(self) -> int:
        """Length in samples."""
        return self._n

    @property
    def duration_s(self) -> float:
        return self._n / SAMPLE_RATE

    def append(self, pcm: bytes | bytearray | memoryview) -> tuple[int, int]:
        """Add PCM16 little-endian bytes; returns the (start, stop) sample range they occupy."""
        if len(pcm) % 2:
            raise ValueError(f"PCM16 audio needs an even number of bytes, got {len(pcm)}")
        start = self._n
        n = len(pcm) // 2
        if n:
            self._chunks.append(bytes(pcm))
            self._starts.append(start)
            self._n += n
        return start, start + n

    def read_bytes(self, start: int, stop: int) -> bytes:
        start = max(0, start)
        stop = min(self._n, stop)
        if stop <= start:
            return b""
        i = bisect.bisect_right(self._starts, start) - 1
        parts: list[bytes] = []
        while i < len(self._chunks) and self._starts[i] < stop:
            chunk_start = self._starts[i]
            chunk = self._chunks[i]
            lo = max(start - chunk_start, 0) * 2
            hi = min(stop - chunk_start, len(chunk) // 2) * 2
            parts.append(chunk if (lo == 0 and hi == len(chunk)) else chunk[lo:hi])
            i += 1
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples [start, stop) as int16 (a copy; the stream keeps growing)."""
        data = self.read_bytes(start, self._n if stop is None else stop)
        return np.frombuffer(data, dtype="<i2").astype(np.int16, copy=False)

    def iter_bytes(self) -> Iterator[bytes]:
        """The whole stream as PCM16 chunks, oldest first, without joining them."""
        yield from self._chunks

    def to_bytes(self) -> bytes:
        return self.read_bytes(0, self._n)

    def nbytes(self) -> int:
        return self._n * 2
