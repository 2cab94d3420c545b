"""Audio conversion: any dtype/rate/channels/container → PCM16 mono 24 kHz, with clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_widgets import audio
from realtime_widgets.errors import AudioInputError


def tone(rate: int, seconds: float = 0.5, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_hz(pcm16: np.ndarray, rate: int = 24000) -> float:
    spectrum = np.abs(np.fft.rfft(pcm16.astype(np.float64)))
    return float(np.argmax(spectrum) * rate / len(pcm16))


def test_stereo_441k_float_becomes_mono_24k_int16():
    mono = tone(44100, 1.0)
    stereo = np.stack([mono, mono], axis=1)  # (n, 2)
    out = audio.to_pcm16(stereo, rate=44100)
    assert out.dtype == np.int16 and out.ndim == 1 and len(out) == 24000
    assert abs(dominant_hz(out) - 440) < 2  # not sped up: the pitch is kept
    assert 15500 < np.abs(out).max() < 16900  # amplitude 0.5 of full scale
    np.testing.assert_array_equal(audio.to_pcm16(stereo.T, rate=44100), out)  # (2, n) too


@pytest.mark.parametrize(
    "convert",
    [
        lambda x: (x * 32767).astype(np.int16),
        lambda x: (x * 2147483647).astype(np.int32),
        lambda x: (x * 127 + 128).astype(np.uint8),
        lambda x: x.astype(np.float64),
    ],
)
def test_dtypes_at_48k(convert):
    out = audio.to_pcm16(convert(tone(48000, 0.25)), rate=48000)
    assert out.dtype == np.int16 and len(out) == 6000 and abs(dominant_hz(out) - 440) < 5
    assert 15000 < np.abs(out).max() < 17000


def test_int16_24k_passes_through_and_raw_bytes():
    pcm = (tone(24000, 0.1) * 32767).astype(np.int16)
    np.testing.assert_array_equal(audio.to_pcm16(pcm), pcm)
    np.testing.assert_array_equal(audio.to_pcm16(pcm.tobytes()), pcm)
    assert len(audio.to_pcm16(pcm.tobytes(), rate=12000)) == 2 * len(pcm)


@pytest.mark.parametrize("fmt", ["mp3", "ogg", "flac", "wav"])
def test_files_made_with_pyav_decode(tmp_path, fmt):
    pcm = (tone(24000, 1.0) * 32767).astype(np.int16)
    path = audio.save_audio(pcm, tmp_path / f"clip.{fmt}")
    assert path.stat().st_size > 0
    out = audio.to_pcm16(path)
    assert abs(len(out) - 24000) < 2400 and abs(dominant_hz(out) - 440) < 3
    from_bytes = audio.to_pcm16(path.read_bytes())
    assert abs(len(from_bytes) - len(out)) < 2400


def test_wav_round_trip(tmp_path):
    pcm = (tone(24000, 0.2) * 20000).astype(np.int16)
    p = tmp_path / "a.wav"
    p.write_bytes(audio.wav_bytes(pcm))
    back, rate = audio.read_wav(p)
    assert rate == 24000
    np.testing.assert_array_equal(back, pcm)


def test_empty_nan_and_bad_inputs_are_clear():
    with pytest.raises(ValueError, match="empty"):
        audio.to_pcm16(np.zeros(0, dtype=np.float32), rate=24000)
    with pytest.raises(ValueError, match="empty"):
        audio.to_pcm16(b"")
    bad = tone(24000, 0.1)
    bad[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        audio.to_pcm16(bad)
    with pytest.raises(AudioInputError, match="even number of bytes"):
        audio.to_pcm16(b"\x00\x01\x02")
    with pytest.raises(FileNotFoundError, match="not found"):
        audio.to_pcm16("/nonexistent/clip.mp3")
    with pytest.raises(TypeError, match="file path, bytes, or a numpy array"):
        audio.to_pcm16(3.5)
    with pytest.raises(ValueError, match="rate"):
        audio.to_pcm16(bad, rate=0)
    with pytest.raises(AudioInputError, match="could not be decoded"):
        audio.to_pcm16(b"RIFF" + b"\x00" * 100)


def test_chunks_duration_and_base64():
    pcm = np.arange(24000 * 1 + 1200, dtype=np.int16)
    parts = list(audio.chunks(pcm, 100))
    assert [len(p) for p in parts] == [2400] * 10 + [1200]
    assert audio.duration_s(pcm) == pytest.approx(1.05)
    np.testing.assert_array_equal(audio.from_base64(audio.to_base64(pcm)), pcm)
