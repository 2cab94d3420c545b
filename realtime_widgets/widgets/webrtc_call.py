"""WebRTCCall: the page calls the service itself; the kernel dials, mutes, hangs up and gets the taps.

The page opens an `RTCPeerConnection` with the microphone track and a data channel, posts its SDP
offer to the service's `calls` URL with an ephemeral key the kernel minted, plays the model's track
through an `<audio>` element, and taps both tracks (24 kHz PCM16, 100 ms chunks) for the kernel.
The ephemeral key travels in the one `dial` message and is never a trait, so it is not saved with
the notebook; the resource's key or Entra token never reach the page. The kernel joins the same call
through a sideband WebSocket (`RealtimeSession(call_id=...)`) to see every event and run tools.
"""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Literal

import anywidget
import numpy as np
import traitlets

from ..errors import WebRTCCallFailed
from ._protocols import CallToPage, DialSecret

_HERE = pathlib.Path(__file__).parent

CallState = Literal["idle", "dialing", "connected", "failed", "closed"]
TapSide = Literal["input", "output"]
TapCallback = Callable[[TapSide, np.ndarray, float | None], object]
FALLBACK = "use RealtimeConsole(transport='websocket')"


def failure_words(reason: str) -> str:
    """What the console says when the call does not connect: why, and the other transport."""
    return f"WebRTC could not connect ({reason}): {FALLBACK}"


class WebRTCCall(anywidget.AnyWidget):
    """The page's side of a WebRTC call: Record / Stop mutes the microphone track; `speaker_muted` and
    `volume` act on the model's audio the page plays (the output tap still records it).

    >>> call = WebRTCCall()
    >>> call.on_tap(lambda side, pcm, at: ...)   # PCM16 24 kHz of "input" (mic) and "output" (model)
    >>> call.dial(secret)                          # a ClientSecret: .calls_url and .value
    >>> call_id = await call.wait_for_call()       # then RealtimeSession(..., call_id=call_id)
    """

    _esm = _HERE / "webrtc_call.js"
    _css = _HERE / "webrtc_call.css"

    state = traitlets.Unicode(
        "idle", help="idle, dialing, connected, failed or closed (the page's word)."
    ).tag(sync=True)
    reason = traitlets.Unicode("", help="Why the call failed or ended, in words.").tag(sync=True)
    call_id = traitlets.Unicode("", help="The service's id of the call (from the calls reply).").tag(
        sync=True
    )
    muted = traitlets.Bool(True, help="True while the microphone track is muted (Record unmutes).").tag(
        sync=True
    )
    speaking = traitlets.Bool(False, help="True while the service says the model's audio plays.").tag(
        sync=True
    )
    speaker_muted = traitlets.Bool(
        False, help="True silences the model's audio on the page (still tapped)."
    ).tag(sync=True)
    volume = traitlets.Float(1.0, min=0.0, max=1.0, help="The model's audio volume on the page, 0-1.").tag(
        sync=True
    )
    disabled = traitlets.Bool(False, help="True greys Record (the console is closed).").tag(sync=True)
    in_browser = traitlets.Bool(False, help="True once a page runs this widget: it can dial.").tag(sync=True)
    ice_timeout_ms = traitlets.Int(10_000, help="How long ICE may take before the call fails.").tag(sync=True)
    tap_ms = traitlets.Int(100, help="Length of each tapped PCM chunk sent to the kernel.").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tap_sinks: list[TapCallback] = []
        self._next_seq: dict[str, int] = {"input": 0, "output": 0}
        self.taps_received: dict[str, int] = {"input": 0, "output": 0}
        self.taps_lost: dict[str, int] = {"input": 0, "output": 0}
        self._answer: Future[str] = Future()
        self._connected: Future[None] = Future()
        self._state_listeners: list[Callable[[str, str], object]] = []
        self.on_msg(self._on_page_msg)

    def __repr__(self) -> str:
        return f"WebRTCCall(state={self.state!r}, call_id={self.call_id!r}, muted={self.muted})"

    # -- kernel -> page ----------------------------------------------------------------------
    def dial(self, secret: DialSecret) -> None:
        """Ask the page to call `secret.calls_url` with the ephemeral key `secret.value`."""
        if not self.in_browser:
            raise WebRTCCallFailed(
                failure_words("no page shows this widget: WebRTC needs the notebook open in a browser"),
                reason="no page",
            )
        self._answer, self._connected = Future(), Future()
        self._next_seq = {"input": 0, "output": 0}
        self.call_id = ""
        self.state = "dialing"
        self.reason = ""
        self._to_page({"kind": "dial", "url": secret.calls_url, "secret": secret.value})

    def hangup(self) -> None:
        """End the call: the page closes its peer connection and the microphone."""
        self._to_page({"kind": "hangup"})

    def mute(self, muted: bool = True) -> None:
        """Mute (True) or unmute the microphone track, as Stop / Record do."""
        self._to_page({"kind": "mute", "muted": bool(muted)})

    def _to_page(self, message: CallToPage) -> None:
        self.send(message)

    # -- page -> kernel ----------------------------------------------------------------------
    def on_tap(self, fn: TapCallback) -> Callable[[], None]:
        """Call `fn(side, int16 array at 24 kHz, at)` for every tapped chunk, in order (`at`: seconds
        since that side's tap began, as `RealtimeSession.tap_audio` takes); returns the unsubscribe function."""
        self._tap_sinks.append(fn)
        return lambda: self._tap_sinks.remove(fn) if fn in self._tap_sinks else None

    def on_state(self, fn: Callable[[str, str], object]) -> Callable[[], None]:
        """Call `fn(state, reason)` on each state the page reports; returns the unsubscribe function."""
        self._state_listeners.append(fn)
        return lambda: self._state_listeners.remove(fn) if fn in self._state_listeners else None

    async def wait_for_call(self, timeout: float = 30.0) -> str:
        """The call id once the service answered the page's offer; WebRTCCallFailed if it refused."""
        return await self._wait(self._answer, timeout, "the service to answer the page's offer")

    async def wait_connected(self, timeout: float = 30.0) -> None:
        """Until the call's media connects (ICE); WebRTCCallFailed when the page gives up."""
        await self._wait(self._connected, timeout, "the call's media to connect")

    async def _wait(self, future: Future[Any], timeout: float, what: str) -> Any:
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout)
        except asyncio.TimeoutError:
            raise WebRTCCallFailed(
                failure_words(f"no word from the page for {timeout:g} s while waiting for {what}"),
                reason="timeout",
            ) from None

    def _on_page_msg(self, _widget: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        kind = content.get("kind") if isinstance(content, dict) else None
        if kind == "tap":
            self._on_tap(content, buffers)
        elif kind == "call":
            self.call_id = str(content.get("call_id") or "")
            if not self._answer.done():
                self._answer.set_result(self.call_id)
        elif kind == "state":
            self._on_state(str(content.get("state", "")), str(content.get("reason", "")))

    def _on_state(self, state: str, reason: str) -> None:
        self.state, self.reason = state, reason
        if state == "connected" and not self._connected.done():
            self._connected.set_result(None)
        elif state in ("failed", "closed"):
            error = WebRTCCallFailed(failure_words(reason or state), reason=reason or state)
            for future in (self._answer, self._connected):
                if not future.done():
                    future.set_exception(error)
        for fn in list(self._state_listeners):
            fn(state, reason)

    def _on_tap(self, content: dict[str, Any], buffers: list[Any]) -> None:
        side = content.get("side")
        if side not in ("input", "output") or not buffers:
            return
        seq = int(content.get("seq", -1))
        if seq > self._next_seq[side]:
            self.taps_lost[side] += seq - self._next_seq[side]
        self._next_seq[side] = seq + 1
        data = bytes(buffers[0])
        pcm = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int16)
        at = seq * self.tap_ms / 1000.0  # from the sample count: a lost chunk keeps its place
        self.taps_received[side] += 1
        for fn in list(self._tap_sinks):
            fn(side, pcm, at)
