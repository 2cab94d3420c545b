"""ClipRecorder: a webm/opus recording (made here with PyAV, as browsers make them) decoded to PCM16."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from page_messages import page_sends

from realtime_widgets.errors import AudioInputError
from realtime_widgets.widgets.clip import PROMPT, ClipRecorder


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


def test_browser_recording_is_decoded_to_pcm16_at_24k(front_end) -> None:
    t = np.arange(48_000 * 3 // 2) / 48_000  # 1.5 s at 48 kHz
    tone = (np.sin(2 * np.pi * 660 * t) * 12_000).astype(np.int16)
    data = _webm_opus(tone)
    assert data[:4] == b"\x1aE\xdf\xa3"  # an EBML (webm) header, as the browser sends

    clip = ClipRecorder()
    got: list[np.ndarray] = []
    clip.on_clip(got.append)
    assert clip.message == PROMPT
    # exactly what clip.js sends when MediaRecorder stops
    page_sends(clip, {"kind": "clip", "mime": "audio/webm;codecs=opus", "seconds": 1.5}, [data])
    assert len(got) == 1 and got[0] is clip.clip
    assert clip.clip.dtype == np.int16
    assert abs(clip.duration_s - 1.5) < 0.05
    assert abs(_dominant_hz(clip.clip) - 660) < 5
    assert clip.message == "Recorded 1.5 s." and clip.error == ""


def test_the_page_says_why_it_could_not_record(front_end) -> None:
    clip = ClipRecorder()
    page_sends(
        clip,
        {"kind": "error", "message": "Microphone permission was denied. Allow it, then press Record again."},
    )
    assert clip.error.startswith("Microphone permission was denied") and clip.clip.size == 0
    page_sends(clip, {"kind": "clip", "mime": "audio/webm", "seconds": 0.0}, [b""])
    assert "empty recording" in clip.error


def test_undecodable_bytes_say_so(front_end) -> None:
    clip = ClipRecorder()
    with pytest.raises(AudioInputError, match="could not be decoded"):
        clip.load(b"\x1aE\xdf\xa3" + b"\x00" * 64)
    assert "could not be decoded" in clip.error
    assert clip.clip.size == 0
