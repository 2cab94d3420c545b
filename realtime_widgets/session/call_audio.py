"""A WebRTC call's audio as the kernel records it: the page taps the microphone track and the model's
remote track (PCM16 24 kHz, 100 ms chunks in order) and the kernel stores both in the conversation.

The taps are recorded as events of their own (`events.INPUT_TAP`, `events.OUTPUT_TAP`; never sent),
so `conversation.input` / `.output`, spectrograms, word alignment and save/load work as on the
WebSocket path. The microphone tap is kept whole (a chunk lost on the way becomes silence): the
service's input clock (`audio_start_ms` ...) counts from its first sample, so the page starts the
microphone's tap when the call connects. A chunk of the model's track belongs to the response
playing when it arrives: from `output_audio_buffer.started` to `.stopped` / `.cleared`, plus
`PLAYOUT_TAIL_S` for the page's jitter buffer and the tap's own 100 ms; chunks outside every
response (silence between replies) are dropped.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from ..client_secret import check_webrtc
from ..errors import ConfigurationError
from ..events import INPUT_TAP, OUTPUT_TAP, RealtimeEvent
from ..protocol import SAMPLE_RATE
from .link import Link
from .user_turns import to_wire_pcm

TapSide = Literal["input", "output"]
# How long after the service's stopped/cleared the page may still be playing (and tapping) a response.
PLAYOUT_TAIL_S = 0.5
# A microphone chunk starting this much (of a chunk) after the last one ended means chunks were lost.
LOST_FRACTION = 0.75


def check_call(call_id: str | None, connection: Any, config: Any, recording: bool = False) -> None:
    """A sideband join needs a call id, what every WebRTC path needs (`check_webrtc`) and no cassette.
    Checked before anything is opened; `realtime_connect` checks a connection from the environment
    (`connection=None`) when joining."""
    if call_id is None:
        return
    if not isinstance(call_id, str) or not call_id.strip():
        raise ValueError(f"call_id must be the id of a live WebRTC call (rtc_...), got {call_id!r}")
    check_webrtc(connection, config)
    if recording:
        raise ConfigurationError(
            "record= makes a cassette of a WebSocket session, and a WebRTC call's media cannot be "
            "replayed from one: leave record out, and keep the call with s.conversation.save(folder)"
        )


class CallAudio:
    """Taps of one call's two tracks, recorded through `record` (the session's, so parts react)."""

    def __init__(self, link: Link, record: Callable[[RealtimeEvent], None]) -> None:
        self._link = link
        self._record = record
        self._playing: str | None = None  # the response whose audio the page is playing
        self._ended: tuple[str, float] | None = None  # the last one stopped, and until when it may sound
        self._input_at: float | None = None  # the `at` of the microphone's last chunk
        self.dropped_output_chunks = 0  # taps of the model's track outside every response

    def playing(self) -> str | None:
        """The response whose audio the call is playing (between started and stopped/cleared)."""
        return self._playing

    def playback_event(self, event: RealtimeEvent) -> None:
        """`output_audio_buffer.started` / `.stopped` / `.cleared` from the service."""
        response_id = event.raw.get("response_id")
        if not isinstance(response_id, str):
            return
        if event.type == "output_audio_buffer.started":
            self._playing = response_id
        elif event.type in ("output_audio_buffer.stopped", "output_audio_buffer.cleared"):
            self._ended = (response_id, time.monotonic() + PLAYOUT_TAIL_S)
            if self._playing == response_id:
                self._playing = None

    def tap(self, side: TapSide, pcm: Any, at: float | None) -> None:
        """Store one tapped chunk (any thread: handed to the session's loop when called elsewhere)."""
        if side not in ("input", "output"):
            raise ValueError(
                f"side must be 'input' (the microphone) or 'output' (the model's track), got {side!r}"
            )
        if at is not None and (not isinstance(at, (int, float)) or not at >= 0):
            raise ValueError(
                f"at must be the chunk's start on the tap's clock in seconds (>= 0), or None; got {at!r}"
            )
        samples = to_wire_pcm(pcm, SAMPLE_RATE)
        if self._link.in_loop_thread():
            self._store(side, samples, at)
        else:
            self._link.hand_off(self._store, side, samples, at)

    def _store(self, side: TapSide, pcm: np.ndarray, at: float | None) -> None:
        if side == "input":
            pcm = self._aligned_input(pcm, at)
            if pcm.size:
                self._emit({"type": INPUT_TAP, "audio": _b64(pcm)}, "client")
            return
        response_id = self._response_now()
        if response_id is None:
            self.dropped_output_chunks += 1
            return
        self._emit({"type": OUTPUT_TAP, "response_id": response_id, "delta": _b64(pcm)}, "server")

    def _aligned_input(self, pcm: np.ndarray, at: float | None) -> np.ndarray:
        """With `at` (the chunk's start on the tap's own sample clock, s: the widget's seq x 100 ms), a
        chunk lost on the way becomes silence, so the microphone stays on the service's clock. Gaps
        under `LOST_FRACTION` of a chunk are rounding, not loss. (Post times would not do: a stalled
        page would look like lost chunks.)"""
        if at is None:
            return pcm
        previous, self._input_at = self._input_at, float(at)
        if previous is None:
            return pcm
        gap = (float(at) - previous) * SAMPLE_RATE - pcm.size  # consecutive chunks are one chunk apart
        if gap < LOST_FRACTION * pcm.size:
            return pcm
        lost = int(round(gap / pcm.size)) * pcm.size
        return np.concatenate([np.zeros(lost, np.int16), pcm])

    def _response_now(self) -> str | None:
        if self._playing is not None:
            return self._playing
        if self._ended is not None and time.monotonic() <= self._ended[1]:
            return self._ended[0]
        return None

    def _emit(self, raw: dict[str, Any], direction: Literal["client", "server"]) -> None:
        self._record(RealtimeEvent.from_raw(raw, direction, self._link.time()))


def _b64(pcm: np.ndarray) -> str:
    return base64.b64encode(pcm.astype("<i2", copy=False).tobytes()).decode("ascii")
