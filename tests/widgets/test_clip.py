"""ClipRecorder: a webm/opus recording (made here with PyAV, as browsers make them) decoded to PCM16."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from realtime_widgets.errors import AudioInputError
from realtime_widgets.widgets.clip import ClipRecorder


def _webm_opus(samples: np.ndarray, rate: int = 48_000) -> bytes:
    """What MediaRecorder produces in Chromium: Matroska/WebM with one Opus track."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="webm") as container:
        stream = container.add_stream("libopus", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def _dominant_hz(x: np.ndarray, rate: int = 24_000) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float32) * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[spectrum.argmax()])


def test_browser_recording_is_decoded_to_pcm16_at_24k() -> None:
    t = np.arange(48_000 * 3 // 2) / 48_000  # 1.5 s at 48 kHz
    tone = (np.sin(2 * np.pi * 660 * t) * 12_000).astype(np.int16)
    data = _webm_opus(tone)
    assert data[:4] == b"\x1aE\xdf\xa3"  # an EBML (webm) header, as the browser sends

    clip = ClipRecorder()
    got: list[np.ndarray] = []
    clip.on_clip(got.append)
    clip.recorder.audio.value = data  # exactly what ipywebrtc does when recording stops
    assert len(got) == 1 and got[0] is clip.clip
    assert clip.clip.dtype == np.int16
    assert abs(clip.duration_s - 1.5) < 0.05
    assert abs(_dominant_hz(clip.clip) - 660) < 5
    assert "Recorded 1.5 s" in clip.label.value and clip.error == ""


def test_undecodable_bytes_say_so() -> None:
    clip = ClipRecorder()
    with pytest.raises(AudioInputError, match="could not be decoded"):
        clip.load(b"\x1aE\xdf\xa3" + b"\x00" * 64)
    assert "could not be decoded" in clip.label.value
    assert clip.clip.size == 0
