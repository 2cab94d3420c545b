"""ClipRecorder: record a whole clip in the browser (MediaRecorder), decoded to PCM16 24 kHz.

The simple "record, stop, send" flow of the design card: the browser records webm/opus, the
file reaches the kernel in one message when recording stops, and PyAV decodes it into the same
audio type every other part of the package uses (np.int16 mono at 24 kHz), ready for
`session.send_audio(clip.clip)` or audio chat completions. The front end is this widget's own ESM,
loaded only where a ClipRecorder is shown.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

import anywidget
import numpy as np
import traitlets as t

from ..audio import to_pcm16
from ..errors import AudioInputError
from ..protocol import SAMPLE_RATE

ClipCallback = Callable[[np.ndarray], object]
PROMPT = "Press Record clip, speak, then press Stop."


class ClipRecorder(anywidget.AnyWidget):
    """A record button and a line saying what was recorded.

    `clip` holds the latest recording (np.int16 at 24 kHz, empty before the first);
    `on_clip(fn)` calls `fn(clip)` after each recording; `load(data)` decodes encoded bytes
    (or a path) through the same path as a browser recording, for headless use.
    """

    _esm = pathlib.Path(__file__).parent / "clip.js"
    _css = pathlib.Path(__file__).parent / "clip.css"

    message = t.Unicode(PROMPT).tag(sync=True)  # what the line under the button says
    error = t.Unicode("").tag(sync=True)  # why the last recording failed, or ""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clip: np.ndarray = np.zeros(0, dtype=np.int16)
        self._callbacks: list[ClipCallback] = []
        self.on_msg(self._on_front_msg)

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

    def load(self, data: bytes | str | pathlib.Path) -> np.ndarray:
        """Decode a recording (webm/opus or any format PyAV reads, as bytes or a path)."""
        if isinstance(data, (bytes, bytearray, memoryview)):
            self._on_front_msg(self, {"kind": "clip"}, [bytes(data)])  # the path a browser recording takes
        else:
            self._decode(str(data))
        if self.error:
            raise AudioInputError(self.error)
        return self.clip

    def _on_front_msg(self, _widget: Any, content: dict, buffers: list) -> None:
        kind = content.get("kind") if isinstance(content, dict) else None
        if kind == "clip":
            if not buffers or not len(buffers[0]):
                self.error = (
                    "The browser sent an empty recording: press Record clip and speak a little longer."
                )
                return
            self._decode(bytes(buffers[0]))
        elif kind == "error":
            self.error = str(content.get("message") or "The browser could not record.")

    def _decode(self, data: bytes | str) -> None:
        try:
            clip = to_pcm16(data)
        except (AudioInputError, FileNotFoundError, ValueError) as exc:
            self.error = f"The recording could not be decoded: {exc}"
            return
        self.error = ""
        self.clip = clip
        self.message = f"Recorded {self.duration_s:.1f} s."
        for fn in list(self._callbacks):
            fn(clip)
