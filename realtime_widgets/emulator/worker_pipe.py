"""The pipe between the emulator and its worker processes (recognizer, voice): length-prefixed frames
on stdin, and how the emulator ends its workers. Standard library only, so workers import nothing else."""

from __future__ import annotations

import struct
import subprocess
from typing import IO


def read_exact(stream: IO[bytes], n: int) -> bytes | None:
    """`n` bytes, or None when the stream ends first (the other side is gone)."""
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_frame(stream: IO[bytes]) -> bytes | None:
    """One frame: a little-endian 4-byte length, then that many bytes; None at the end of the stream."""
    header = read_exact(stream, 4)
    if header is None:
        return None
    return read_exact(stream, struct.unpack("<I", header)[0])


def write_frame(stream: IO[bytes], data: bytes) -> None:
    """One frame (see `read_frame`), flushed."""
    stream.write(struct.pack("<I", len(data)) + data)
    stream.flush()


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    """Close each worker's stdin (which ends it), then wait up to 2 s each before killing it."""
    for proc in procs:
        if proc.poll() is None and proc.stdin is not None:
            proc.stdin.close()
    for proc in procs:
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
