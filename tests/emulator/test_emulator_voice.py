"""`synthesize`: real speech, the right length and rate, and distinct voices."""

from __future__ import annotations

import numpy as np
import pytest
from emu_helpers import rms

from realtime_widgets.emulator import synthesize
from realtime_widgets.protocol import VOICES


def centroid(x: np.ndarray, rate: int = 24_000) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64)))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float((spec * freqs).sum() / spec.sum())


def test_speech_is_real():
    short = synthesize("one two", "alloy")
    long = synthesize("one two three four five six seven eight", "alloy")
    assert short.dtype == np.int16 and long.dtype == np.int16
    assert len(long) > 2 * len(short)
    assert len(long) / 24_000 > 0.04 * 8
    assert rms(long) > 1000


def test_rate_parameter():
    a = synthesize("rate check", "echo", rate=24_000)
    b = synthesize("rate check", "echo", rate=16_000)
    assert abs(len(b) / len(a) - 2 / 3) < 0.01


def test_voices_differ():
    clips = {v: synthesize("The quick brown fox", v) for v in VOICES}
    sigs = {v: (len(c), round(centroid(c))) for v, c in clips.items()}
    assert len(set(sigs.values())) == len(VOICES), sigs
    # A high voice and a low one differ clearly in spectral centroid.
    assert centroid(clips["shimmer"]) > 1.1 * centroid(clips["cedar"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown voice"):
        synthesize("x", "robot")
    with pytest.raises(ValueError, match="rate"):
        synthesize("x", "alloy", rate=0)
