"""Audio conversion: anything a user has → PCM16 mono at 24 kHz, and back to files.

The wire format of both realtime protocols is PCM16 little-endian mono at 24 kHz
(`protocol.SAMPLE_RATE`). `to_pcm16` is the single entry point; wrong sample rates are the most
common cause of "sped-up" or "chipmunk" playback, so arrays must say their rate unless it is 24 kHz.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import wav as _wav
from .cassette_format import encode_pcm16
from .errors import AudioInputError
from .protocol import SAMPLE_RATE

__all__ = [
    "SAMPLE_RATE",
    "chunks",
    "decode_bytes",
    "decode_file",
    "duration_s",
    "encode_audio",
    "from_base64",
    "read_wav",
    "resample",
    "save_audio",
    "to_base64",
    "to_float32",
    "to_pcm16",
    "wav_bytes",
]

# Magic numbers of the containers PyAV decodes that users hand us as bytes.
_CONTAINER_MAGIC = (b"RIFF", b"ID3", b"OggS", b"fLaC", b"\x1aE\xdf\xa3", b"FORM", b"#!AMR", b"caff")
_MAX_CHANNELS = 8


def _looks_like_container(data: bytes) -> bool:
    if data[:4] in _CONTAINER_MAGIC or data[:3] == b"ID3" or data[:5] == b"#!AMR":
        return True
    if len(data) >= 12 and data[4:8] == b"ftyp":  # mp4 / m4a
        return True
    # An MPEG audio frame sync (mp3 without ID3 tag) or ADTS AAC.
    return len(data) >= 2 and data[0] == 0xFF and (data[1] & 0xE0) == 0xE0


def _downmix(x: np.ndarray) -> np.ndarray:
    """Mono from (n,), (n, channels) or (channels, n)."""
    if x.ndim == 1:
        return x
    if x.ndim != 2:
        raise AudioInputError(
            f"audio array has shape {x.shape}; expected (n,), (n, channels) or (channels, n)"
        )
    rows, cols = x.shape
    if cols <= _MAX_CHANNELS and rows >= cols:
        axis = 1
    elif rows <= _MAX_CHANNELS:
        axis = 0
    else:
        raise AudioInputError(
            f"audio array has shape {x.shape}: neither dimension looks like channels (at most {_MAX_CHANNELS})"
        )
    if x.shape[axis] == 1:
        return x.reshape(-1)
    mono: np.ndarray = x.mean(axis=axis, dtype=np.float32)
    return mono


def to_float32(x: Any) -> np.ndarray:
    """Mono float32 in [-1, 1] from an array of any common sample dtype (no resampling)."""
    arr = np.asarray(x)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iuf":
        raise AudioInputError(f"audio array has dtype {arr.dtype}; use int16, int32, uint8 or float samples")
    if arr.size == 0:
        raise AudioInputError("audio is empty (0 samples); record or load some sound first")
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind == "f":
        out = arr.astype(np.float32, copy=False)
        if not np.isfinite(out).all():
            raise AudioInputError("audio contains NaN or infinite samples; clean the signal first")
        peak = float(np.abs(out).max())
        if peak > 1.0:
            # Float audio is by convention in [-1, 1]; louder input is clipped like a DAC would.
            out = np.clip(out, -1.0, 1.0)
    elif kind == "u":
        if size != 1:
            raise AudioInputError(f"unsigned audio dtype {arr.dtype} is not supported; use uint8 or int16")
        out = (arr.astype(np.float32) - 128.0) / 128.0
    elif size == 2:
        out = arr.astype(np.float32) / 32768.0
    elif size == 4:
        out = (arr.astype(np.float64) / 2147483648.0).astype(np.float32)
    else:
        # int64 arrays usually come from np.array([...]) of small ints: accept PCM16-range values only.
        if arr.min() < -32768 or arr.max() > 32767:
            raise AudioInputError(
                f"audio array has dtype {arr.dtype} with values outside the int16 range; "
                "pass int16, int32 or float samples in [-1, 1]"
            )
        out = arr.astype(np.float32) / 32768.0
    return _downmix(out).astype(np.float32, copy=False)


def _float_to_pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 32767.0), -32768, 32767).astype(np.int16)


@functools.lru_cache(maxsize=32)
def _lowpass(up: int, down: int) -> np.ndarray:
    """resample_poly's own default filter (Kaiser β=5), designed once per ratio: the design costs
    as much as filtering a 100 ms chunk."""
    from scipy.signal import firwin

    max_rate = max(up, down)
    taps: np.ndarray = firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0)).astype(
        np.float32
    )
    taps.setflags(write=False)
    return taps


def resample(x: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Polyphase resampling (scipy.signal.resample_poly); float in, float32 out; int16 in, int16 out."""
    for name, value in (("src_rate", src_rate), ("dst_rate", dst_rate)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive integer sample rate in Hz, got {value!r}")
    if src_rate == dst_rate:
        return x
    from scipy.signal import resample_poly

    g = math.gcd(int(src_rate), int(dst_rate))
    up, down = int(dst_rate) // g, int(src_rate) // g
    taps = _lowpass(up, down)
    if x.dtype == np.int16:
        y = resample_poly(x.astype(np.float32) / 32768.0, up, down, axis=0, window=taps)
        return _float_to_pcm16(y)
    out: np.ndarray = resample_poly(x.astype(np.float32, copy=False), up, down, axis=0, window=taps)
    return out.astype(np.float32, copy=False)


def decode_bytes(data: bytes, *, name: str = "audio bytes") -> tuple[np.ndarray, int]:
    """Decode an encoded file held in memory (wav, mp3, ogg, flac, m4a, webm...) with PyAV."""
    return _decode(io.BytesIO(data), name)


def decode_file(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Decode the first audio stream of any file PyAV (FFmpeg) reads → (float32 mono, sample rate)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(
            f"audio file not found: {p} (check the path; relative paths start at {Path.cwd()})"
        )
    if p.stat().st_size == 0:
        raise AudioInputError(f"audio file {p} is empty (0 bytes)")
    return _decode(str(p), str(p))


def _decode(source: Any, name: str) -> tuple[np.ndarray, int]:
    import av

    try:
        container = av.open(source, mode="r")
    except av.error.FFmpegError as exc:
        raise AudioInputError(f"{name} could not be decoded as audio: {exc}") from exc
    with container:
        if not container.streams.audio:
            raise AudioInputError(f"{name} has no audio stream")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or stream.rate
        # Decode to packed float32 mono at the native rate; scipy does the rate change so every
        # input path shares one resampler.
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        parts: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            raise AudioInputError(f"{name} could not be decoded as audio: {exc}") from exc
    if not parts:
        raise AudioInputError(f"{name} contains no audio samples (it is empty)")
    samples = np.concatenate(parts).astype(np.float32, copy=False)
    if samples.size == 0:
        raise AudioInputError(f"{name} contains no audio samples (it is empty)")
    return samples, int(rate)


def to_pcm16(x: Any, rate: int | None = None) -> np.ndarray:
    """PCM16 mono at 24 kHz (np.int16) from a file path, encoded or raw bytes, or an array.

    - path (str / Path): any format PyAV decodes.
    - bytes: decoded when they start with a container header (RIFF, ID3, OggS, fLaC...), otherwise
      raw PCM16 little-endian mono at `rate` (default 24 kHz).
    - array: int16, int32, uint8 or float in [-1, 1]; mono, (n, channels) or (channels, n); at
      `rate` Hz (default 24 kHz — pass `rate=` for anything else).
    """
    if rate is not None and (not isinstance(rate, (int, np.integer)) or isinstance(rate, bool) or rate <= 0):
        raise ValueError(f"rate must be a positive integer sample rate in Hz, got {rate!r}")
    if isinstance(x, (str, os.PathLike)):
        samples, src = decode_file(x)
        return _float_to_pcm16(resample(samples, src, SAMPLE_RATE))
    if isinstance(x, (bytes, bytearray, memoryview)):
        data = bytes(x)
        if not data:
            raise AudioInputError("audio bytes are empty (0 bytes); record or load some sound first")
        if _looks_like_container(data):
            samples, src = decode_bytes(data)
            return _float_to_pcm16(resample(samples, src, SAMPLE_RATE))
        if len(data) % 2:
            raise AudioInputError(
                f"raw PCM16 audio must have an even number of bytes, got {len(data)}; "
                "pass a numpy array or an encoded file if this is not 16-bit PCM"
            )
        pcm = np.frombuffer(data, dtype="<i2").astype(np.int16)
        return resample(pcm, int(rate or SAMPLE_RATE), SAMPLE_RATE)
    if isinstance(x, (np.ndarray, list, tuple)):
        arr = np.asarray(x)
        src = int(rate or SAMPLE_RATE)
        if arr.dtype == np.int16 and arr.ndim == 1:
            if arr.size == 0:
                raise AudioInputError("audio is empty (0 samples); record or load some sound first")
            # Fast path for audio already in wire format (the mic widget's chunks).
            return resample(np.ascontiguousarray(arr), src, SAMPLE_RATE)
        mono = to_float32(arr)
        return _float_to_pcm16(resample(mono, src, SAMPLE_RATE))
    raise TypeError(
        f"cannot turn {type(x).__name__} into audio; pass a file path, bytes, or a numpy array (with rate=)"
    )


def to_base64(pcm16: np.ndarray) -> str:
    """Base64 of PCM16 little-endian bytes, as `input_audio_buffer.append` carries them."""
    return base64.b64encode(np.asarray(pcm16, dtype="<i2").tobytes()).decode("ascii")


def from_base64(data: str) -> np.ndarray:
    """PCM16 samples from the base64 of an audio delta."""
    return np.frombuffer(base64.b64decode(data), dtype="<i2").astype(np.int16)


def wav_bytes(pcm16: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """A complete WAV file (16-bit mono) in memory; other dtypes are converted to PCM16 first."""
    samples = np.asarray(pcm16)
    if samples.dtype != np.int16:
        samples = (
            to_pcm16(samples, rate=rate) if rate == SAMPLE_RATE else _float_to_pcm16(to_float32(samples))
        )
    return _wav.wav_bytes(samples, rate)


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """(int16 mono samples, rate) of a WAV file; non-PCM16 WAVs are decoded with PyAV."""
    try:
        samples, rate = _wav.read_wav(path)
    except ValueError:
        decoded, rate = decode_file(path)
        return _float_to_pcm16(decoded), rate
    if samples.ndim > 1:
        samples = _float_to_pcm16(to_float32(samples))
    return samples, rate


def chunks(pcm16: np.ndarray, ms: int = 100, rate: int = SAMPLE_RATE) -> Iterator[np.ndarray]:
    """Consecutive slices of `ms` milliseconds (the last may be shorter)."""
    if ms <= 0:
        raise ValueError(f"ms must be positive, got {ms!r}")
    step = max(1, int(rate * ms / 1000))
    for start in range(0, len(pcm16), step):
        yield pcm16[start : start + step]


def duration_s(pcm16: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    return len(pcm16) / float(rate)


# Output container and codec per format name; pcm16 is raw bytes.
_ENCODERS = {
    "mp3": ("mp3", "libmp3lame"),
    "flac": ("flac", "flac"),
    "opus": ("ogg", "libopus"),
    "ogg": ("ogg", "libopus"),
    "aac": ("adts", "aac"),
    "m4a": ("ipod", "aac"),
}


def encode_audio(pcm16: np.ndarray, fmt: str, rate: int = SAMPLE_RATE) -> bytes:
    """Encode PCM16 mono as `fmt`: wav, pcm16, mp3, flac, opus, ogg, aac, m4a (PyAV)."""
    fmt = fmt.lower().lstrip(".")
    samples = np.asarray(pcm16, dtype=np.int16)
    if fmt == "wav":
        return wav_bytes(samples, rate)
    if fmt in ("pcm16", "pcm", "raw"):
        return samples.astype("<i2").tobytes()
    if fmt not in _ENCODERS:
        raise ValueError(f"unknown audio format {fmt!r}; use one of wav, pcm16, {', '.join(_ENCODERS)}")
    container_format, codec = _ENCODERS[fmt]
    out_rate = 48000 if codec == "libopus" else rate  # opus only runs at 8/12/16/24/48 kHz
    return encode_pcm16(samples, rate, container_format, codec, out_rate)


def save_audio(pcm16: np.ndarray, path: str | os.PathLike[str], rate: int = SAMPLE_RATE) -> Path:
    """Write audio to `path`, format from the suffix (.wav, .mp3, .flac, .ogg, .opus, .pcm)."""
    p = Path(path)
    suffix = p.suffix.lower().lstrip(".") or "wav"
    p.write_bytes(encode_audio(pcm16, "pcm16" if suffix == "pcm" else suffix, rate))
    return p
