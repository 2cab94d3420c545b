"""ClipRecorder: record a whole clip with ipywebrtc's AudioRecorder, decoded to PCM16 24 kHz.

The simple "record, stop, send" flow of the design card: the browser records webm/opus, the
bytes arrive in the kernel when recording stops, and PyAV decodes them into the same audio type
every other part of the package uses (np.int16 mono at 24 kHz), ready for
`session.send_audio(clip.clip)` or audio chat completions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np

from ..audio import to_pcm16
from ..errors import AudioInputError
from ..protocol import SAMPLE_RATE

ClipCallback = Callable[[np.ndarray], object]


class ClipRecorder(widgets.VBox):
    """ipywebrtc's record button plus a line saying what was recorded.

    `clip` holds the latest recording (np.int16 at 24 kHz, empty before the first);
    `on_clip(fn)` calls `fn(clip)` after each recording; `load(data)` decodes encoded bytes
    (or a path) through the same path as a browser recording, for headless use.
    """

    def __init__(self, **kwargs: Any) -> None:
        from ipywebrtc import AudioRecorder, CameraStream

        stream = CameraStream(constraints={"audio": True, "video": False})
        self.recorder = AudioRecorder(stream=stream, format="webm", codecs="opus")
        self.label = widgets.Label("Press the record button, speak, then press it again to stop.")
        self.clip: np.ndarray = np.zeros(0, dtype=np.int16)
        self.error = ""
        self._callbacks: list[ClipCallback] = []
        super().__init__(children=[self.recorder, self.label], **kwargs)
        self.recorder.audio.observe(self._on_value, names="value")

    def __repr__(self) -> str:
        return f"ClipRecorder(clip={self.duration_s:.2f} s)"

    @property
    def duration_s(self) -> float:
        return self.clip.size / SAMPLE_RATE

    def on_clip(self, fn: ClipCallback) -> Callable[[], None]:
        """Call `fn(int16 array at 24 kHz)` after each recording; returns a function that unsubscribes."""
        if not callable(fn):
            raise TypeError(f"on_clip needs a callable, got {type(fn).__name__}.")
        self._callbacks.append(fn)

        def unsubscribe() -> None:
            if fn in self._callbacks:
                self._callbacks.remove(fn)

        return unsubscribe

    def load(self, data: bytes | str) -> np.ndarray:
        """Decode a recording (webm/opus or any format PyAV reads, as bytes or a path)."""
        if isinstance(data, (bytes, bytearray, memoryview)):
            self.recorder.audio.value = bytes(data)  # the path a browser recording takes
        else:
            self._decode(data)
        if self.error:
            raise AudioInputError(self.error)
        return self.clip

    def _on_value(self, change: dict) -> None:
        data = change["new"]
        if data:
            self._decode(bytes(data))

    def _decode(self, data: bytes | str) -> None:
        try:
            clip = to_pcm16(data)
        except (AudioInputError, FileNotFoundError, ValueError) as exc:
            self.error = f"The recording could not be decoded: {exc}"
            self.label.value = self.error
            return
        self.error = ""
        self.clip = clip
        self.label.value = f"Recorded {self.duration_s:.1f} s."
        for fn in list(self._callbacks):
            fn(clip)
