"""The console's WebRTC transport: wait for the page, mint its ephemeral key, dial, join the sideband.

`RealtimeConsole(transport="webrtc")` keeps its parts (transcript, event log, settings) and swaps the
microphone and player for a `WebRTCCall`: the page sends and plays the audio itself, the kernel joins
the same call with `RealtimeSession(call_id=...)` and records the page's taps of both tracks.
Only the ephemeral key reaches the page; the resource's key or Entra token stay in the kernel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import traitlets

from ..errors import WebRTCCallFailed
from .webrtc_call import WebRTCCall, failure_words

if TYPE_CHECKING:  # pragma: no cover
    from ..config import ConnectionConfig
    from ..session import RealtimeSession
    from ..session_config import SessionConfig
    from .player import AudioPlayer

Transport = Literal["websocket", "webrtc"]
TRANSPORTS: tuple[Transport, ...] = ("websocket", "webrtc")
ANSWER_TIMEOUT_S = 30.0  # the page posts its offer; the service answers (a busy page is slow)
WAITING_FOR_PAGE = "Waiting for the page: a WebRTC call is dialled by the notebook open in a browser…"
SAY_OVER_WEBRTC = (
    "say() sends audio from the kernel, but over WebRTC the microphone reaches the service on the page's "
    "call: press Record and speak, or use RealtimeConsole(transport='websocket') for say()"
)
Show = Callable[[str, str], None]  # (words, "ok" | "info" | "error")


def check_transport(transport: str, has_session: bool) -> Transport:
    if transport not in TRANSPORTS:
        raise ValueError(
            f"transport={transport!r} is not one the console knows: 'websocket' (the kernel relays the audio; "
            "the default) or 'webrtc' (the page calls the service; the kernel joins the call)"
        )
    if has_session and transport == "webrtc":
        raise ValueError(
            "transport='webrtc' joins the page's call with a session of its own: pass connection=/config="
        )
    return transport


class ConsoleCall:
    """One console's calls, one at a time: `open` returns the connected sideband session.

    `show(words, kind)` writes the console's status line (where a call lost after it connected is told).
    The console's player keeps replaying past turns; its Mute and volume also act on the call's audio,
    which the page plays (a person expects the one Mute beside the call to silence it).
    """

    def __init__(self, show: Show, player: AudioPlayer | None = None) -> None:
        self.widget = WebRTCCall()
        if player is not None:
            traitlets.dlink((player, "muted"), (self.widget, "speaker_muted"))
            traitlets.dlink((player, "volume"), (self.widget, "volume"))
            traitlets.dlink((self.widget, "speaking"), (player, "call_playing"))
        self._show = show
        self._live: RealtimeSession | None = None  # the session of the call in progress
        self._page_ready = asyncio.Event()
        self.widget.observe(self._on_page, names="in_browser")
        self.widget.on_state(self._on_state)

    def _on_state(self, state: str, reason: str) -> None:
        live = self._live is not None and self._live.status == "connected"
        if state in ("failed", "closed") and live:
            if state == "failed":
                self._show(failure_words(reason), "error")
            else:
                self._show(f"The WebRTC call ended: {reason}", "info")

    def _on_page(self, change: dict) -> None:
        if change["new"]:
            self._wake(self._page_ready.set)

    def _wake(self, fn: Callable[[], None]) -> None:
        # A comm handler may run off the console's loop (ipykernel 7): set the event on its own loop.
        loop = getattr(self, "_loop", None)
        if loop is None or loop.is_closed():
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    async def open(
        self,
        connection: ConnectionConfig,
        config: SessionConfig,
        show_session: Callable[[RealtimeSession], object],
    ) -> RealtimeSession:
        """Dial, hand the session to `show_session` (the console's parts follow it from its first
        event), join the call, wait for its media. On failure the call is hung up and the session closed."""
        session: RealtimeSession | None = None
        try:
            session = await self.dial(connection, config)
            show_session(session)
            await session.connect()
            await self.connected()
            self._live = session
        except BaseException:
            self.hangup()
            if session is not None and session.status == "connected":
                await session.close()
            raise
        return session

    async def dial(self, connection: ConnectionConfig, config: SessionConfig) -> RealtimeSession:
        """Once a page shows the call: an ephemeral key, the page's offer answered, the sideband session
        (not connected yet; the caller connects it and then awaits `connected()`)."""
        from ..client_secret import create_client_secret
        from ..session import RealtimeSession

        self._loop = asyncio.get_running_loop()
        if self.widget.in_browser:
            self._page_ready.set()
        if not self._page_ready.is_set():
            self._show(WAITING_FOR_PAGE, "info")
            await self._page_ready.wait()
        self._show("Dialling the service over WebRTC…", "info")
        secret = await create_client_secret(connection, config)
        self.widget.dial(secret)
        call_id = await self.widget.wait_for_call(ANSWER_TIMEOUT_S)
        return RealtimeSession(connection, config, call_id=call_id)

    async def connected(self) -> None:
        """Until the call's media flows: bounded by the page's ICE timeout (and a margin for a busy page)."""
        await self.widget.wait_connected(self.widget.ice_timeout_ms / 1000 + 10)

    def attach(self, session: RealtimeSession) -> Callable[[], None]:
        """The page's taps of both tracks go to `session.tap_audio` (of a call's session: not to the
        stand-in before the first call); returns the function that detaches."""
        if session.transport != "webrtc":
            return lambda: None
        return self.widget.on_tap(session.tap_audio)

    def hangup(self) -> None:
        self._live = None  # the console ends it: nothing to report
        if self.widget.state in ("dialing", "connected"):
            self.widget.hangup()


def failed_words(exc: BaseException) -> str:
    """A failed WebRTC start as the console says it: always with the way back to the WebSocket."""
    if isinstance(exc, WebRTCCallFailed):
        return str(exc)
    return failure_words(f"{type(exc).__name__}: {exc}")
