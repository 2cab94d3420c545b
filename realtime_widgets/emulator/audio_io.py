"""Audio file bytes <-> PCM16 24 kHz mono, with PyAV (mp3, flac, opus in ogg); WAV is `realtime_widgets.wav`."""

from __future__ import annotations

import io

import av
import numpy as np

from ..protocol import SAMPLE_RATE
from ..wav import wav_bytes

# Output container/codec per chat-completions format.
_ENCODERS = {"mp3": ("mp3", "libmp3lame"), "flac": ("flac", "flac"), "opus": ("ogg", "libopus")}


def decode(data: bytes, fmt: str) -> np.ndarray:
    """Decode a wav/mp3/... file to PCM16 mono at 24 kHz. Raises ValueError on bad data."""
    try:
        with av.open(io.BytesIO(data), format=fmt if fmt != "wav" else None) as container:
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            chunks = []
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except (av.FFmpegError, IndexError, StopIteration) as exc:
        raise ValueError(f"could not decode the {fmt} audio ({exc})") from None
    return np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, np.int16)


def encode(samples: np.ndarray, fmt: str) -> bytes:
    """Encode PCM16 24 kHz mono as one of the chat-completions output formats."""
    if fmt == "wav":
        return wav_bytes(samples)
    if fmt == "pcm16":
        return samples.astype("<i2").tobytes()
    container_fmt, codec = _ENCODERS[fmt]
    rate = 48_000 if fmt == "opus" else SAMPLE_RATE
    buf = io.BytesIO()
    with av.open(buf, "w", format=container_fmt) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(
            samples.astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        resampler = av.AudioResampler(
            format=stream.format.name if stream.format else "s16", layout="mono", rate=rate
        )
        for f in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(f):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()
