"""Energy-based voice activity detection standing in for the service's server VAD.

Frames of 20 ms get a speech level in [0, 1] from their RMS in dBFS (-60 dB -> 0, -10 dB -> 1),
compared with the session's `threshold`. Speech starts after two loud frames in a row and stops
after `silence_duration_ms` of quiet frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..protocol import SAMPLE_RATE

FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
_START_FRAMES = 2
# semantic_vad has no model here: its eagerness only picks how much silence ends a turn.
SEMANTIC_SILENCE_MS = {"low": 1200, "medium": 700, "auto": 700, "high": 350}


def speech_levels(frames: np.ndarray) -> np.ndarray:
    """The speech level of each 20 ms frame (a row), in one pass: the loop runs this for every append."""
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    dbfs = 20.0 * np.log10(np.maximum(rms, 1e-3) / 32768.0)
    return np.clip((dbfs + 60.0) / 50.0, 0.0, 1.0)


@dataclass
class VadEvent:
    kind: str  # "started" | "stopped"
    ms: int  # position in the session's input audio stream


class Vad:
    """Feed PCM16 samples in any chunk size; returns start/stop events with stream positions."""

    def __init__(self, settings: dict) -> None:
        self.configure(settings)
        self._pending = np.zeros(0, np.int16)
        self._pos_samples = 0  # samples consumed into frames so far
        self.in_speech = False
        self._loud_run = 0
        self._quiet_ms = 0

    def configure(self, settings: dict) -> None:
        if settings.get("type") == "semantic_vad":
            self.threshold = 0.5
            self.silence_ms = SEMANTIC_SILENCE_MS[settings.get("eagerness", "auto")]
            self.prefix_ms = 300
        else:
            self.threshold = float(settings.get("threshold", 0.5))
            self.silence_ms = int(settings.get("silence_duration_ms", 500))
            self.prefix_ms = int(settings.get("prefix_padding_ms", 300))

    def feed(self, samples: np.ndarray) -> list[VadEvent]:
        events: list[VadEvent] = []
        data = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        n_frames = len(data) // FRAME_SAMPLES
        louds = (
            speech_levels(data[: n_frames * FRAME_SAMPLES].reshape(n_frames, FRAME_SAMPLES)) > self.threshold
        )
        for loud in louds.tolist():
            start_ms = self._pos_samples * 1000 // SAMPLE_RATE
            self._pos_samples += FRAME_SAMPLES
            if not self.in_speech:
                self._loud_run = self._loud_run + 1 if loud else 0
                if self._loud_run >= _START_FRAMES:
                    self.in_speech = True
                    self._quiet_ms = 0
                    onset = start_ms - (_START_FRAMES - 1) * FRAME_MS
                    events.append(VadEvent("started", max(0, onset)))
            else:
                if loud:
                    self._quiet_ms = 0
                else:
                    self._quiet_ms += FRAME_MS
                    if self._quiet_ms >= self.silence_ms:
                        self.in_speech = False
                        self._loud_run = 0
                        events.append(VadEvent("stopped", start_ms + FRAME_MS))
        self._pending = data[n_frames * FRAME_SAMPLES :].copy()
        return events

    def reset_speech(self) -> None:
        """Forget a turn in progress (after a manual commit or clear)."""
        self.in_speech = False
        self._loud_run = 0
        self._quiet_ms = 0
