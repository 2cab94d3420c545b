"""RealtimeConsole: config form, Record, player, transcript, text box and event log in one widget.

`RealtimeConsole()` talks to the emulator (the default connection); pass `connection=` for Azure
or `session=` to show an existing RealtimeSession. In a notebook the session connects in the
background on the kernel's loop; in plain Python call `await console.start()`.
`transport="webrtc"` lets the page call the service itself (console_call.py); the kernel joins the call.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..errors import CallAudioError, SessionClosed
from ..session_config import SessionConfig
from ._closing import close_soon, close_when_collected
from .config_form import SessionConfigForm
from .connection_fields import run_soon
from .console_call import SAY_OVER_WEBRTC, ConsoleCall, Transport, check_transport, failed_words
from .console_speech import STOPPED, AudioInput, speak
from .event_log import EventLog
from .player import AudioPlayer
from .recorder import MicRecorder
from .transcript import TranscriptView

if TYPE_CHECKING:  # pragma: no cover
    from ..config import ConnectionConfig
    from ..conversation import Turn
    from ..session import RealtimeSession

_PLACEHOLDER = "Type a message (Enter sends)"
_CLOSED = "The console is closed: press Reconnect to talk again"
# The server VAD hears the end of speech only when the chunk holding the end of its silence window
# arrives: 40 ms chunks wait 20 ms on average for that, 100 ms ones 50 ms (issue 13's relay share).
# 20 ms chunks (the VAD's frame) cost more than they save on a busy machine: each is a comm message,
# its acknowledgement and the kernel's busy/idle status, and at load ~11 the page -> kernel path fell
# 1.3 s behind (bench_voice_latency.py; docs/emulator-fidelity.md). The page may send 0.8 s ahead of
# the kernel's acknowledgements, as with 8 chunks of 100 ms.
MIC_CHUNK_MS = 40
MIC_IN_FLIGHT = 800 // MIC_CHUNK_MS


def _line(text: str, kind: str = "info") -> str:
    color = {"ok": "#1a7f37", "error": "#a40e26", "info": "inherit"}[kind]
    return (
        f'<span class="rw-console-status" data-kind="{kind}" style="color:{color}">{html.escape(text)}</span>'
    )


def _default_config() -> SessionConfig:
    # Like the playground: the user's own words appear in the transcript.
    return SessionConfig(transcription_model="whisper-1")


class MessageBox(w.HBox):
    """The "Type a message" box and its Send button; Enter sends too."""

    def __init__(self, send: Callable[[], object]) -> None:
        self._send = send
        self.text = w.Text(placeholder=_PLACEHOLDER, layout=w.Layout(flex="1 1 auto", width="auto"))
        self.text.add_class("rw-console-text")
        self.send_button = w.Button(description="Send", tooltip="Send the message as a user turn")
        self.send_button.on_click(lambda _b: send())
        self.text.on_msg(self._on_text_msg)
        super().__init__([self.text, self.send_button], layout=w.Layout(width="100%"))

    def _on_text_msg(self, _widget: Any, content: dict[str, Any], _buffers: list[bytes]) -> None:
        # ipywidgets' Text sends {"event": "submit"} on Enter (its on_submit is deprecated).
        if isinstance(content, dict) and content.get("event") == "submit" and not self.text.disabled:
            self._send()


class RealtimeConsole(w.VBox):
    """Everything for a voice session in one widget; `console.session` is its RealtimeSession.

    Parts (public attributes): `form`, `recorder`, `player`, `transcript`, `event_log`,
    `text` (the "Type a message" box) and `send_button`; with `transport="webrtc"`, `call` (the page's
    WebRTC call, whose Record / Stop mutes the microphone track) stands in for the recorder.
    """

    def __init__(
        self,
        connection: ConnectionConfig | None = None,
        session: RealtimeSession | None = None,
        config: SessionConfig | None = None,
        *,
        transport: Transport = "websocket",
    ):
        if session is not None and (connection is not None or config is not None):
            raise ValueError("pass either session= or connection=/config=, not both: the session has its own")
        self.transport = check_transport(transport, has_session=session is not None)
        self.status = w.HTML(_line("Starting…"))
        show = lambda words, kind: setattr(self.status, "value", _line(words, kind))  # noqa: E731
        self.player = AudioPlayer()  # over WebRTC it replays past turns; its Mute also mutes the call
        self.call = ConsoleCall(show, self.player) if transport == "webrtc" else None
        if session is None:
            from ..session import RealtimeSession

            session = RealtimeSession(connection, config=config or _default_config())
        self.session = session
        self._owns_session = session.status not in ("connected",)
        self._start_task: asyncio.Task[RealtimeConsole] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._disconnects: list[Callable[[], None]] = []
        self._ending: asyncio.Future[Any] | Future[Any] | None = None
        self._closed = False
        self._home_loop: asyncio.AbstractEventLoop | None = None  # the loop the console's session runs on
        self.last_error: str = ""

        self.recorder = MicRecorder(chunk_ms=MIC_CHUNK_MS, max_in_flight=MIC_IN_FLIGHT)
        self.recorder.on_stop(self._recording_stopped)
        self.form = SessionConfigForm()
        self.form.on_connect(lambda connection: self._schedule(self._reconnect(connection)))
        self.transcript = TranscriptView(player=self.player)
        self.event_log = EventLog()
        self.connect(session)

        message_box = MessageBox(lambda: self._schedule(self.send_text()))
        self.text, self.send_button = message_box.text, message_box.send_button
        self.reconnect_button = w.Button(
            description="Reconnect", tooltip="Open a new session", layout=w.Layout(display="none")
        )
        self.reconnect_button.on_click(lambda _b: self._schedule(self.reopen()))

        settings = w.Accordion(children=[self.form], titles=("Session settings",), selected_index=None)
        super().__init__(
            [
                w.HBox([self.status, self.reconnect_button], layout=w.Layout(align_items="center")),
                w.HBox(  # over WebRTC the page's call records and plays; the player replays turns
                    [self.call.widget if self.call else self.recorder, self.player],
                    layout=w.Layout(align_items="center", grid_gap="24px", flex_flow="row wrap"),
                ),
                message_box,
                self.transcript,
                settings,
                self.event_log,
            ]
        )
        self.add_class("rw-console")

        if self._owns_session:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.status.value = _line("Not connected yet: run `await console.start()`")
            else:
                self._home_loop = loop
                self._start_task = loop.create_task(self.start())
        else:
            self._show_status()

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> RealtimeConsole:
        """Connect the session (once); the status line says where to, or what went wrong."""
        if self._start_task is not None and asyncio.current_task() is not self._start_task:
            await asyncio.shield(self._start_task)
            return self
        if self.session.status == "connected":
            self._show_status()
            return self
        if self._closed:
            raise SessionClosed(_CLOSED)
        self._home_loop = asyncio.get_running_loop()
        self.status.value = _line("Connecting…")
        try:
            if self.call is None:
                await self.session.connect()
            else:  # the page dials with a fresh ephemeral key; the kernel joins the call
                await self.call.open(self.session.connection, self.session.config, self.connect)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.status.value = _line(
                failed_words(exc) if self.call else f"Could not connect: {exc}", "error"
            )
            raise
        self._show_status()
        self.form.refresh_connection()
        return self

    async def ready(self, timeout: float = 30.0) -> RealtimeConsole:
        """Wait until the session is connected (starting it if nobody has)."""
        await asyncio.wait_for(self.start(), timeout)
        return self

    def close(self) -> Awaitable[None]:
        """End the session if this console opened it and stop following it: `await console.close()`.

        The parts stay on screen with their final state. (Widget.close is synchronous in
        ipywidgets, so this returns a task rather than being a coroutine function.)
        """
        self._detach()
        self._set_open(False)
        session = getattr(self, "session", None)
        owns = getattr(self, "_owns_session", False) and session is not None and session.status == "connected"
        return close_soon(self._close_session if owns else self._after_close)

    def connect(self, session: RealtimeSession) -> Callable[[], None]:
        """Show and drive `session` in every part (after disconnecting the one before).

        Returns the function that disconnects. The console does not connect or close it.
        """
        self.disconnect()
        self.session = session
        self._disconnects = [
            self.form.connect(session),
            self.transcript.connect(session.conversation),
            self.event_log.connect(session),
        ]
        if self.call is None:
            self._disconnects += [self.recorder.connect(session), self.player.connect(session)]
        else:
            self._disconnects.append(self.call.attach(session))
        return self.disconnect

    def disconnect(self) -> None:
        """Stop following the session: the parts keep what they show."""
        for disconnect in getattr(self, "_disconnects", ()):
            if callable(disconnect):
                disconnect()
        self._disconnects = []

    def _detach(self) -> None:
        try:
            current = asyncio.current_task()
        except RuntimeError:  # no running loop (garbage collection)
            current = None
        for task in list(getattr(self, "_tasks", ())):
            if task is not current:  # Reconnect closes the console from inside its own task
                task.cancel()
        start = getattr(self, "_start_task", None)
        if start is not None and not start.done():
            start.cancel()
        self.disconnect()
        if getattr(self, "call", None):
            self.call.hangup()  # type: ignore[union-attr]

    async def _close_session(self) -> None:
        await self.session.close()
        await self._after_close()

    async def _after_close(self) -> None:
        self.event_log.flush()
        self.transcript.flush()
        self._show_status()

    async def reopen(self) -> RealtimeConsole:
        """After `close()`: a new session on the same connection and the form's settings."""
        await self._reconnect(self.session.connection)
        return self

    def _set_open(self, is_open: bool) -> None:
        """Closed: Record, the text box and Send are greyed and Reconnect shows."""
        self._closed = not is_open
        for part in (self.text, self.send_button, self.recorder):
            part.disabled = not is_open
        if self.call is not None:
            self.call.widget.disabled = not is_open
        self.reconnect_button.layout.display = "none" if is_open else ""

    def __del__(self) -> None:
        close_when_collected(self, self._detach)

    def _show_status(self) -> None:
        conn = getattr(self.session, "connection", None)
        where = (conn.describe() if conn is not None else "session") + (" · WebRTC" if self.call else "")
        status = self.session.status
        kind = "ok" if status == "connected" else "error" if status == "failed" else "info"
        closed = " (console closed: Reconnect opens a new session)" if self._closed else ""
        self.status.value = _line(f"{where} · {status}{closed}", kind)
        lost = self._closed or status in ("closed", "failed")
        self.reconnect_button.layout.display = "" if lost else "none"

    async def _reconnect(self, connection: ConnectionConfig) -> None:
        """Connect button of the form: a new session on the form's connection settings."""
        from ..session import RealtimeSession

        await self.close()
        self.connect(RealtimeSession(connection, config=self.form.value))  # WebRTC: a stand-in until start()
        self._owns_session = True
        self._start_task = None
        self._set_open(True)
        await self.start()

    # -- text ------------------------------------------------------------------------------
    async def send_text(self, text: str | None = None) -> Turn | None:
        """Send `text` (default: the box, emptied at once) as a user turn; returns the Turn.
        A message that fails to send goes back into the box, and the status line says why."""
        from_box = text is None
        message = (self.text.value if text is None else text).strip()
        if not message:
            self.status.value = _line("Nothing to send: type a message first", "error")
            return None
        if from_box:
            self.text.value = ""
        try:
            if self._closed:
                raise SessionClosed(_CLOSED)
            if self.session.status != "connected":
                await self.start()
            turn = await self.session.send_text(message)
        except Exception as exc:
            if from_box and not self.text.value:
                self.text.value = message
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.status.value = _line(f"Not sent: {_console_words(exc, self._closed)}", "error")
            return None
        self._show_status()
        return turn

    # -- speech ----------------------------------------------------------------------------
    async def say(
        self,
        audio: AudioInput,
        *,
        barge_in: bool = False,
        realtime: bool = False,
        timeout: float | None = None,
    ) -> Turn:
        """Speak `audio` (a path or array) into the console as the microphone would, and return the Turn.

        Like a person, it first lets the player finish the answer in progress, unless `barge_in`.
        The audio goes through the recorder's chunk path (`MicRecorder.feed`) to the session, followed
        by enough silence for server VAD to end the turn; this waits for the response it triggers.
        It is the headless stand-in for pressing Record and talking.
        """
        if self._closed:
            raise SessionClosed(_CLOSED)
        if self.call is not None:
            raise CallAudioError(SAY_OVER_WEBRTC)
        if self.session.status != "connected":
            await self.start()
        turn = await speak(self.session, self.recorder, self.player, audio, barge_in, realtime, timeout)
        ending = self._ending  # the end of the recording is settled before the next say()
        if ending is not None:
            await (asyncio.wrap_future(ending) if isinstance(ending, Future) else ending)
        return turn

    def _recording_stopped(self) -> None:
        """Stop was pressed (or a feed ended): the turn ends now, committed or discarded."""
        if self.session.status != "connected" or self._closed:
            return
        self._ending = self._schedule(self._end_speech())

    async def _end_speech(self) -> None:
        try:
            ended = await self.session.end_speech()
        except Exception as exc:
            self.last_error, why = f"{type(exc).__name__}: {exc}", _console_words(exc, self._closed)
            self.status.value = _line(f"Stopping did not end the turn: {why}", "error")
            return
        if ended in STOPPED:
            self.status.value = _line(*STOPPED[ended])
        else:
            self._show_status()

    def _schedule(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any] | Future[Any] | None:
        """Run `coro` after a click or a page message returns, on the session's loop: ipykernel 7
        handles comm messages on a loop of its own, where the session's futures cannot be awaited."""
        task = run_soon(coro, self._home_loop or self.session.loop)
        if task is None:
            self.status.value = _line("No running event loop: use `await console.send_text(...)`", "error")
            return None
        if isinstance(task, asyncio.Future):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return task

    def __repr__(self) -> str:
        status = "closed" if self._closed else self.session.status
        if status == "closed" and self._start_task is not None and not self._start_task.done():
            status = "connecting"
        return f"<RealtimeConsole {self.session.connection.describe()} · {status}>"


def _console_words(exc: BaseException, closed: bool) -> str:
    """An error as the console's user should read it (not the library's advice to a programmer)."""
    if closed:
        return _CLOSED
    if isinstance(exc, SessionClosed):
        return "the session is not connected; press Reconnect (or Connect in Session settings)"
    return str(exc)
