"""MicRecorder: the browser microphone streamed to the kernel as PCM16 24 kHz chunks.

The page captures with an AudioWorklet and sends chunks of `chunk_ms` as custom messages
with binary buffers, each with a sequence number. The kernel acknowledges every chunk it has
handed on; the page keeps at most `max_in_flight` chunks unacknowledged, so a busy kernel
(a running cell) makes the page wait and say so rather than lose audio silently.
`feed()` pushes audio through the same handler, for headless use and tests.
"""

from __future__ import annotations

import asyncio
import pathlib
import time
from collections import deque
from collections.abc import Callable
from os import PathLike
from typing import Any

import anywidget
import numpy as np
import traitlets

from ..protocol import SAMPLE_RATE
from ._protocols import AudioSink, RecorderToPage

_HERE = pathlib.Path(__file__).parent

CHUNK_MS_RANGE = (20, 200)
MODES = ("toggle", "push")

_SINK_FAILED = "A chunk callback failed: "
ChunkCallback = Callable[[np.ndarray], object]
AudioInput = str | PathLike[str] | bytes | np.ndarray  # what to_pcm16 decodes or converts


class MicRecorder(anywidget.AnyWidget):
    """A Record / Stop button that streams the microphone to a session or any callback.

    >>> recorder = MicRecorder()
    >>> recorder.connect(session)          # chunks -> session.append_audio_nowait
    >>> recorder.on_chunk(print)           # or any callable taking int16 arrays at 24 kHz
    """

    _esm = _HERE / "recorder.js"
    _css = _HERE / "recorder.css"

    chunk_ms = traitlets.Int(100, help="Chunk length sent to the kernel (20-200 ms).").tag(sync=True)
    mode = traitlets.Unicode("toggle", help='"toggle" (click) or "push" (hold to talk).').tag(sync=True)
    echo_cancellation = traitlets.Bool(True).tag(sync=True)
    noise_suppression = traitlets.Bool(True).tag(sync=True)
    auto_gain_control = traitlets.Bool(True).tag(sync=True)
    max_in_flight = traitlets.Int(8, help="Chunks the page may send before an acknowledgement.").tag(
        sync=True
    )

    recording = traitlets.Bool(False, help="True while the microphone streams.").tag(sync=True)
    level = traitlets.Float(0.0, help="RMS level of the latest chunk, 0-1.").tag(sync=True)
    error = traitlets.Unicode("", help="What went wrong, in words (empty when all is well).").tag(sync=True)
    status = traitlets.Unicode("idle").tag(sync=True)
    chunks_received = traitlets.Int(0, help="Chunks handed on to the sinks.").tag(sync=True)
    chunks_lost = traitlets.Int(0, help="Chunks missing in the sequence (should stay 0).").tag(sync=True)
    disabled = traitlets.Bool(False, help="True when there is nowhere to send audio (Record is greyed).").tag(
        sync=True
    )
    in_browser = traitlets.Bool(
        False, help="True once a page has shown this recorder: a person can press Record."
    ).tag(sync=True)

    def __init__(
        self,
        chunk_ms: int = 100,
        mode: str = "toggle",
        echo_cancellation: bool = True,
        noise_suppression: bool = True,
        auto_gain_control: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            chunk_ms=chunk_ms,
            mode=mode,
            echo_cancellation=echo_cancellation,
            noise_suppression=noise_suppression,
            auto_gain_control=auto_gain_control,
            **kwargs,
        )
        self._sinks: list[ChunkCallback] = []
        self._stop_listeners: list[Callable[[], object]] = []
        self._stop_after: int | None = None  # a stopped stream's last seq, not yet handed on
        self._stream: int | str | None = None
        self._next_seq = 0
        self._waiting: dict[int, bytes] = {}  # chunks ahead of the sequence, by seq
        self.chunks_reordered = 0  # chunks that arrived ahead of a missing one
        self._last_level_sync = 0.0
        self._feed_stream = 0
        self.last_ack: tuple[int | str, int] | None = None  # (stream, seq) of the latest acknowledgement
        # The page's capture rate: 24000 when the browser resamples, else the worklet does.
        self.context_rate: int | None = None
        # (seq, page time ms, kernel receive time ms) of recent browser chunks, for benchmarks.
        self.timings: deque[tuple[int, float, float]] = deque(maxlen=2000)
        self.on_msg(self._on_custom_msg)

    def __repr__(self) -> str:
        return (
            f"MicRecorder(chunk_ms={self.chunk_ms}, mode={self.mode!r}, recording={self.recording}, "
            f"chunks_received={self.chunks_received})"
        )

    @traitlets.validate("chunk_ms")
    def _check_chunk_ms(self, proposal: dict) -> int:
        value = proposal["value"]
        low, high = CHUNK_MS_RANGE
        if not low <= value <= high:
            raise traitlets.TraitError(f"chunk_ms must be between {low} and {high} ms, got {value}.")
        return value

    @traitlets.validate("mode")
    def _check_mode(self, proposal: dict) -> str:
        if proposal["value"] not in MODES:
            raise traitlets.TraitError(f'mode must be "toggle" or "push", got {proposal["value"]!r}.')
        return proposal["value"]

    @traitlets.validate("max_in_flight")
    def _check_window(self, proposal: dict) -> int:
        if proposal["value"] < 1:
            raise traitlets.TraitError("max_in_flight must be at least 1.")
        return proposal["value"]

    # -- where chunks go -------------------------------------------------------------------

    def on_chunk(self, fn: ChunkCallback) -> Callable[[], None]:
        """Call `fn(int16 array at 24 kHz)` for every chunk; returns a function that unsubscribes."""
        if not callable(fn):
            raise TypeError(f"on_chunk needs a callable, got {type(fn).__name__}.")
        self._sinks.append(fn)

        def unsubscribe() -> None:
            if fn in self._sinks:
                self._sinks.remove(fn)

        return unsubscribe

    def on_stop(self, fn: Callable[[], object]) -> Callable[[], None]:
        """Call `fn()` when recording stops, once every chunk before the stop was handed on
        (the console ends the user's turn then); returns a function that unsubscribes."""
        self._stop_listeners.append(fn)
        return lambda: self._stop_listeners.remove(fn) if fn in self._stop_listeners else None

    def _stopped(self) -> None:
        self._stop_after = None
        for fn in list(self._stop_listeners):
            try:
                fn()
            except Exception as exc:  # a listener's bug must not break the recorder
                self.error = f"A stop callback failed: {type(exc).__name__}: {exc}"

    def connect(self, session: AudioSink) -> Callable[[], None]:
        """Stream chunks into `session.append_audio_nowait`; returns a function that disconnects.

        Chunks recorded while the session is still connecting are held (up to 30 s) and sent,
        in order, with the first chunk after it has connected.
        """
        append = getattr(session, "append_audio_nowait", None)
        if append is None:
            raise TypeError(
                f"connect() needs a RealtimeSession (with append_audio_nowait), got {type(session).__name__}."
            )
        held: deque[np.ndarray] = deque(maxlen=30_000 // self.chunk_ms)

        def sink(samples: np.ndarray) -> None:
            if getattr(session, "status", "connected") == "connecting":
                held.append(samples)
                return
            while held:
                append(held.popleft())
            append(samples)

        return self.on_chunk(sink)

    # -- the one path every chunk takes ----------------------------------------------------

    def _on_custom_msg(self, _widget: Any, content: dict, buffers: list) -> None:
        kind = content.get("kind") if isinstance(content, dict) else None
        if kind == "stop":
            self.status = "idle"
            self.level = 0.0
            last = content.get("last_seq")
            if isinstance(last, int) and content.get("stream") == self._stream and self._next_seq <= last:
                self._stop_after = last  # chunks still on their way: stop once they are in
            else:
                self._stopped()
            return
        if kind not in ("chunk", "start"):
            return
        stream = content.get("stream")
        if not isinstance(stream, int | str):
            self.error = f"A {kind} message from the page had no stream number: {content!r:.200}"
            return
        if kind == "chunk":
            now_ms = time.time() * 1000.0
            seq = int(content["seq"])
            if content.get("t") is not None:
                self.timings.append((seq, float(content["t"]), now_ms))
            self._receive_chunk(stream, seq, bytes(buffers[0]) if buffers else b"")
        else:
            self._start_stream(stream)
            self.context_rate = content.get("context_rate", self.context_rate)

    def _start_stream(self, stream: int | str) -> None:
        if self._stop_after is not None:
            self._stopped()  # the previous stream's last chunks never came
        self._stream = stream
        self._next_seq = 0
        self._waiting = {}
        self.error = ""

    def _receive_chunk(self, stream: int | str, seq: int, pcm: bytes) -> None:
        """Put chunks back in sequence, hand them on, acknowledge them.

        Comm messages can reach the handler out of order (ipykernel may run them while a cell is
        starting), so a chunk ahead of the sequence waits here. The page sends at most
        `max_in_flight` unacknowledged chunks, so once that many wait, the missing one is lost.
        """
        if stream != self._stream:
            # A chunk of a stream whose "start" we never saw (e.g. a reconnecting page).
            self._start_stream(stream)
            self._next_seq = seq
        if seq < self._next_seq or seq in self._waiting:
            self._ack(stream, self._next_seq - 1)  # a repeat: already handed on
            return
        self._waiting[seq] = pcm
        if seq > self._next_seq:
            self.chunks_reordered += 1
            if len(self._waiting) < self.max_in_flight:
                return
            missing = min(self._waiting) - self._next_seq
            self.chunks_lost += missing
            self.error = (
                f"{self.chunks_lost} audio chunk(s) were lost between the browser and the kernel "
                f"(expected #{self._next_seq}, got #{min(self._waiting)})."
            )
            self._next_seq = min(self._waiting)
        while self._next_seq in self._waiting:
            data = self._waiting.pop(self._next_seq)
            if len(data) % 2:
                data = data[:-1]  # PCM16 has whole samples only
            self._deliver(np.frombuffer(data, dtype="<i2").astype(np.int16, copy=False))
            self._next_seq += 1
        self._ack(stream, self._next_seq - 1)
        if self._stop_after is not None and self._next_seq > self._stop_after:
            self._stopped()

    def _deliver(self, samples: np.ndarray) -> None:
        failed = False
        for fn in list(self._sinks):
            try:
                fn(samples)
            except Exception as exc:  # a sink's bug must not stop the microphone
                failed = True
                self.error = f"{_SINK_FAILED}{type(exc).__name__}: {exc}"
        if not failed and self.error.startswith(_SINK_FAILED):
            self.error = ""  # the sinks take chunks again (e.g. the session is back)
        self.chunks_received += 1
        now = time.monotonic()
        if now - self._last_level_sync >= 0.1 and samples.size:
            self._last_level_sync = now
            rms = float(np.sqrt(np.mean((samples.astype(np.float32) / 32768.0) ** 2)))
            self.level = min(1.0, rms)

    def _ack(self, stream: int | str, seq: int) -> None:
        self.last_ack = (stream, seq)
        self._to_page({"kind": "ack", "stream": stream, "seq": seq})

    def _to_page(self, message: RecorderToPage) -> None:
        self.send(message)

    # -- headless --------------------------------------------------------------------------

    async def feed(self, audio: AudioInput, realtime: bool = False) -> int:
        """Push a file path or array through exactly the path browser chunks take.

        The audio is converted to PCM16 24 kHz, split into `chunk_ms` chunks and handed, with
        sequence numbers, to the same handler; `realtime=True` paces chunks at their duration.
        Returns the number of chunks.
        """
        from ..audio import to_pcm16

        samples = np.asarray(to_pcm16(audio), dtype=np.int16)
        step = SAMPLE_RATE * self.chunk_ms // 1000
        self._feed_stream += 1
        stream = f"feed-{self._feed_stream}"
        self._on_custom_msg(self, {"kind": "start", "stream": stream}, [])
        self.status = "feeding"
        n = 0
        started = time.monotonic()
        try:
            for n, offset in enumerate(range(0, samples.size, step), start=1):
                chunk = samples[offset : offset + step].astype("<i2").tobytes()
                content = {"kind": "chunk", "stream": stream, "seq": n - 1, "t": time.time() * 1000.0}
                self._on_custom_msg(self, content, [memoryview(chunk)])
                if realtime:
                    delay = started + n * self.chunk_ms / 1000.0 - time.monotonic()
                    await asyncio.sleep(max(0.0, delay))
                else:
                    await asyncio.sleep(0)  # let the session's loop send what is queued
        finally:
            self._on_custom_msg(self, {"kind": "stop", "stream": stream}, [])
        return n
