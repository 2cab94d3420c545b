"""WAV files of 16-bit PCM: the one place that writes and reads the container (stdlib `wave` + numpy).

A leaf module: the client (`audio`, `conversation`) and the emulator both import it, so it imports
nothing from the package but `protocol`. Decoding any other format is `audio.decode_file`'s job.
"""

from __future__ import annotations

import io
import os
import wave
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from .protocol import BYTES_PER_SAMPLE, SAMPLE_RATE

__all__ = ["PcmChunk", "read_wav", "wav_bytes", "write_wav"]

# PCM16 samples: an int16 array, or little-endian bytes as the wire and the audio streams hold them.
PcmChunk = npt.NDArray[np.int16] | bytes | bytearray | memoryview
WavSource = str | os.PathLike[str] | bytes | bytearray | memoryview


def _pcm_bytes(chunk: PcmChunk, param: str) -> bytes | bytearray | memoryview:
    if isinstance(chunk, np.ndarray):
        if chunk.dtype != np.int16:
            raise TypeError(
                f"{param} must hold int16 samples, got dtype {chunk.dtype}; "
                "convert with realtime_widgets.audio.to_pcm16 first"
            )
        return chunk.astype("<i2", copy=False).tobytes()
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        if len(chunk) % BYTES_PER_SAMPLE:
            raise ValueError(f"{param} must be whole 16-bit samples, got {len(chunk)} bytes (an odd count)")
        return chunk
    raise TypeError(f"{param} must be an int16 array or PCM16 bytes, got {type(chunk).__name__}")


def _check_rate(rate: int) -> int:
    if not isinstance(rate, (int, np.integer)) or isinstance(rate, bool) or rate <= 0:
        raise ValueError(f"rate must be a positive integer sample rate in Hz, got {rate!r}")
    return int(rate)


def _write(target: BinaryIO | str, pcm16: PcmChunk | Iterable[PcmChunk], rate: int, channels: int) -> None:
    rate = _check_rate(rate)
    if isinstance(pcm16, (np.ndarray, bytes, bytearray, memoryview)):
        pcm16 = (pcm16,)
    with wave.open(target, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(BYTES_PER_SAMPLE)
        w.setframerate(rate)
        # Chunk by chunk, so a long stream is never joined in memory.
        for chunk in pcm16:
            w.writeframesraw(_pcm_bytes(chunk, "pcm16"))


def wav_bytes(pcm16: PcmChunk | Iterable[PcmChunk], rate: int = SAMPLE_RATE, *, channels: int = 1) -> bytes:
    """A whole WAV file in memory from PCM16 samples (one array or bytes, or an iterable of chunks)."""
    buf = io.BytesIO()
    _write(buf, pcm16, rate, channels)
    return buf.getvalue()


def write_wav(
    path: str | os.PathLike[str],
    pcm16: PcmChunk | Iterable[PcmChunk],
    rate: int = SAMPLE_RATE,
    *,
    channels: int = 1,
) -> Path:
    """Write PCM16 samples to a WAV file at `path` (chunk by chunk when given an iterable)."""
    target = Path(path)
    _write(str(target), pcm16, rate, channels)
    return target


def read_wav(source: WavSource, *, rate: int | None = None) -> tuple[npt.NDArray[np.int16], int]:
    """(int16 samples, sample rate) of a 16-bit PCM WAV file, from a path or the file's bytes.

    Several channels come back as shape (n, channels). With `rate`, anything but mono at that rate
    is refused. Other WAV encodings raise `ValueError` (decode those with `audio.read_wav`).
    """
    name = "the WAV bytes" if isinstance(source, (bytes, bytearray, memoryview)) else str(source)
    handle: BinaryIO | str = (
        io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray, memoryview)) else os.fspath(source)
    )
    try:
        with wave.open(handle, "rb") as w:
            width, channels, found_rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            if width != BYTES_PER_SAMPLE:
                raise ValueError(f"{name} holds {8 * width}-bit samples, not 16-bit PCM")
            if rate is not None and (channels != 1 or found_rate != rate):
                raise ValueError(
                    f"{name} must be 16-bit mono PCM at {rate} Hz; it has {channels} channel(s) at {found_rate} Hz"
                )
            data = w.readframes(w.getnframes())
    except wave.Error as exc:  # not RIFF/WAVE, or a compressed WAV (format tag other than PCM)
        raise ValueError(f"{name} is not a 16-bit PCM WAV file ({exc})") from None
    samples = np.frombuffer(data, dtype="<i2").astype(np.int16)
    if channels > 1:
        samples = samples[: len(samples) - len(samples) % channels].reshape(-1, channels)
    return samples, found_rate
