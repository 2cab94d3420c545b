"""The one WAV helper: exact round trips, chunked writes, clear refusals."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from realtime_widgets import wav


def _ramp(n: int) -> np.ndarray:
    return (np.arange(n, dtype=np.int64) * 37 % 65536 - 32768).astype(np.int16)


def test_bytes_round_trip_is_exact():
    pcm = _ramp(4801)
    samples, rate = wav.read_wav(wav.wav_bytes(pcm, 16000))
    assert rate == 16000 and samples.dtype == np.int16
    np.testing.assert_array_equal(samples, pcm)


def test_chunks_are_written_as_one_file(tmp_path):
    pcm = _ramp(10_000)
    chunks = [pcm[:3000], pcm[3000:7000].astype("<i2").tobytes(), pcm[7000:]]
    path = wav.write_wav(tmp_path / "stream.wav", iter(chunks))
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 24000, 10_000)
    samples, _ = wav.read_wav(path, rate=24000)
    np.testing.assert_array_equal(samples, pcm)


def test_stereo_comes_back_as_frames():
    frames = _ramp(200).reshape(-1, 2)
    samples, _ = wav.read_wav(wav.wav_bytes(frames.reshape(-1), 8000, channels=2))
    assert samples.shape == (100, 2)
    np.testing.assert_array_equal(samples, frames)


def test_refusals_name_the_problem(tmp_path):
    with pytest.raises(TypeError, match="pcm16 must hold int16 samples, got dtype float32"):
        wav.wav_bytes(np.zeros(10, np.float32))
    with pytest.raises(ValueError, match="odd count"):
        wav.wav_bytes(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="rate must be a positive integer"):
        wav.wav_bytes(_ramp(10), 0)
    with pytest.raises(ValueError, match="mono PCM at 24000 Hz; it has 1 channel\\(s\\) at 16000 Hz"):
        wav.read_wav(wav.wav_bytes(_ramp(10), 16000), rate=24000)
    eight_bit = tmp_path / "u8.wav"
    with wave.open(str(eight_bit), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(bytes(range(100)))
    with pytest.raises(ValueError, match="8-bit samples, not 16-bit PCM"):
        wav.read_wav(eight_bit)
    with pytest.raises(ValueError, match="not a 16-bit PCM WAV file"):
        wav.read_wav(b"RIFF....not a wave at all")
