"""Audio appended while the session reconnects: held in order, sent once the session is back."""

from __future__ import annotations

import logging
from collections import deque

import numpy as np

from ..protocol import SAMPLE_RATE

log = logging.getLogger(__name__)

# A microphone keeps talking through a reconnect; beyond this the oldest held audio is dropped (and said).
MAX_HELD_SECONDS = 120.0


class HeldAudio:
    """PCM16 24 kHz chunks kept while `active`; `take()` hands them over in order and ends holding."""

    def __init__(self, max_seconds: float = MAX_HELD_SECONDS) -> None:
        self.active = False
        self.max_samples = int(max_seconds * SAMPLE_RATE)
        self.dropped_seconds = 0.0  # held audio dropped because the reconnect took too long
        self._chunks: deque[np.ndarray] = deque()
        self._samples = 0

    @property
    def seconds(self) -> float:
        return self._samples / SAMPLE_RATE

    def start(self) -> None:
        self.active = True

    def add(self, pcm: np.ndarray) -> None:
        self._chunks.append(pcm)
        self._samples += pcm.size
        while self._samples > self.max_samples:
            oldest = self._chunks.popleft()
            self._samples -= oldest.size
            self.dropped_seconds += oldest.size / SAMPLE_RATE
            log.warning(
                "%.1f s of audio held during the reconnect were dropped: it took longer than %.0f s",
                self.dropped_seconds,
                self.max_samples / SAMPLE_RATE,
            )

    def stop(self) -> None:
        """Hold no more (the reconnect gave up); what is held stays for the next successful reconnect."""
        self.active = False
        if self._samples:
            log.warning(
                "%.1f s of audio appended while reconnecting were not sent: the session did not come back. "
                "They are sent first if `await s.reconnect()` succeeds.",
                self.seconds,
            )

    def take(self) -> list[np.ndarray]:
        """The held chunks, oldest first; holding ends."""
        chunks = list(self._chunks)
        self._chunks.clear()
        self._samples = 0
        self.active = False
        return chunks
