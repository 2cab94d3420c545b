"""`RealtimeSession`: one realtime WebSocket session on the official openai SDK.

It runs on the caller's event loop (the notebook kernel's) and never blocks it. The session is a
façade over parts that each get what they need: the link (socket, outbox, receive task),
dispatch (waiters, callbacks, iterators, error routing), speech input, barge-in, tool calling
and the reconnect policy. Every event is applied to `s.conversation` first, then the parts
react, then waiting calls, callbacks and iterators see it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from .. import cassette
from ..conversation import Conversation, ToolCall, Turn
from ..errors import ServerError, SessionClosed
from ..events import RealtimeEvent
from ..protocol import SAMPLE_RATE
from ..session_config import SessionConfig
from . import client_events
from .barge_in import AudioOutput, BargeIn
from .call_audio import CallAudio, TapSide, check_call
from .dispatch import Dispatch
from .link import Link
from .reconnect import OnReconnecting, ReconnectPolicy
from .reconnector import Reconnector
from .session_update import send_session_update
from .tools import ToolCalling
from .user_turns import SpeechEnd, UserTurns

if TYPE_CHECKING:  # pragma: no cover
    import asyncio

    from ..config import ConnectionConfig


class RealtimeSession:
    """Async context manager over one realtime session (GA or preview protocol).

    ```python
    async with RealtimeSession(ConnectionConfig.for_emulator(), SessionConfig(voice="ash")) as s:
        turn = await s.send_text("Hello")
    ```
    """

    def __init__(
        self,
        connection: ConnectionConfig | None = None,
        config: SessionConfig | None = None,
        *,
        conversation: Conversation | None = None,
        timeout: float = 60.0,
        auto_reconnect: bool = False,
        on_reconnecting: OnReconnecting | None = None,
        max_reconnect_attempts: int = 5,
        record: str | os.PathLike[str] | None = None,
        record_mode: str | None = None,
        call_id: str | None = None,
    ) -> None:
        """`auto_reconnect` (or an `on_reconnecting` handler) reopens the session after a recoverable
        close (the SDK's policy: 1001, 1006, 1011-1014), with backoff, up to `max_reconnect_attempts`.
        `on_reconnecting(event)` is the SDK's hook: it sees each attempt and may return
        `{"abort": True}` or `extra_query` / `extra_headers` for the next handshake; a refusal with
        Retry-After delays the next attempt at least that long.

        `timeout` (seconds) is how long a call waits for each answer from the service, counted from
        when its request was sent (for a clip: from its last append; an append itself may wait that
        long for the socket). A response that does not finish in time is cancelled (`RequestTimeout`).
        `record=FOLDER` records to a cassette or replays it, by `record_mode` (docs/cassettes.md).
        `call_id` joins a live WebRTC call as its sideband: its audio is on the call's tracks (`tap_audio`)."""
        check_call(call_id, connection, config, record is not None)
        connection, recorder = cassette.for_session(connection, record, record_mode)
        if config is not None and not isinstance(config, SessionConfig):
            raise TypeError(f"config must be a SessionConfig, got {type(config).__name__}")
        self.connection = connection
        self.config: SessionConfig = config if config is not None else SessionConfig()
        self.conversation = conversation if conversation is not None else Conversation()
        self.event_log = self.conversation.events  # the same sequence
        self.errors: list[ServerError] = []
        self.server_session: dict[str, Any] | None = None  # the server's latest view of the session
        self._reconnect = ReconnectPolicy(auto_reconnect, on_reconnecting, max_reconnect_attempts)
        self._dispatch = Dispatch(timeout, connection.describe)
        self._link = Link(
            connection, timeout, self._record, lambda c: self._reconnects.lost(c), recorder, call_id
        )
        current = lambda: self.config  # noqa: E731 - the parts read the config of the moment
        self._tools = ToolCalling(self.conversation, self._link, self._dispatch)
        self._user = UserTurns(
            self.conversation, self._link, self._dispatch, current, self.create_response, self._tools.follow
        )
        self._call_audio = CallAudio(self._link, self._record)
        playing = self._call_audio.playing
        self._barge_in = BargeIn(self.conversation, self._link, self._dispatch, current, self.cancel, playing)
        self._reconnects = Reconnector(self._reconnect, self._link, self._dispatch, self.connect, current)
        self._reconnects.replay_to(self.conversation, self._user.held, self._user.send_held)

    # -- state -----------------------------------------------------------------------------
    @property
    def status(self) -> str:
        """ "closed" (before connect and after) | "connecting" | "connected" | "failed" (connect failed)."""
        return self._link.status

    @property
    def last_error(self) -> BaseException | None:
        return self._link.last_error

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the session runs on (None before the first connect)."""
        return self._link.loop

    @property
    def timeout(self) -> float:
        return self._dispatch.timeout

    @property
    def transport(self) -> str:
        """ "webrtc" (a sideband joined to a call: `call_id=`) or "websocket"."""
        return "websocket" if self._link.call_id is None else "webrtc"

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> RealtimeSession:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> RealtimeSession:
        """Open the WebSocket, wait for `session.created` (not on a sideband: the call's session exists,
        docs/emulator-fidelity.md), send the session config, wait for `session.updated`."""
        link = self._link
        link.begin()
        try:
            created = self._dispatch.expect(
                lambda e: e.type == "session.created", set(), catch_any_error=True
            )
            intent = "transcription" if self.config.is_transcription else None
            try:
                await link.open(intent, self._reconnect.extra_query, self._reconnect.extra_headers)
            except BaseException:
                self._dispatch.forget(created)
                raise
            if link.call_id is None:
                await self._dispatch.wait(created, "session.created")
            self._dispatch.forget(created)
            await self.update(self.config)
        except BaseException as exc:
            await link.failed(exc)
            raise
        link.status = "connected"
        return self

    async def close(self) -> None:
        """Close the WebSocket (the conversation and event log stay)."""
        if self.status == "closed" and not self._link.is_open and not self._reconnects.auto_running:
            return
        self._link.closing = True
        await self._reconnects.stop()
        await self._link.teardown()
        self._link.status = "closed"
        self._dispatch.close(SessionClosed("the session was closed", code=1000))

    async def reconnect(self, *, replay: bool = True) -> RealtimeSession:
        """Open a new connection and send the current session config again.

        The recorded conversation continues. The service starts a new session that remembers nothing,
        so with `replay=True` what was said is created again as text items, under the same item ids:
        the user's words (or their transcripts), what the assistant said up to where it was cut off,
        and function calls with their outputs. Audio is not sent again. One reconnect runs at a time:
        one asked for while another (or auto-reconnect) runs waits for it, and does nothing more if
        that one restored the session. Calls waiting on the old connection raise `SessionClosed`
        once the outcome is known (`.restored`); audio appended meanwhile is sent once it is back.
        """
        await self._reconnects.reconnect(replay)
        return self

    def _record(self, event: RealtimeEvent) -> None:
        """Conversation first (callbacks see updated turns), then the parts, then waiters and callbacks."""
        turn = self.conversation.apply(event)
        event = self.conversation.events[-1]  # as recorded: its audio became a reference
        if event.direction == "server":
            if event.type == "error":
                err = self._dispatch.route_error(event)
                self.errors.append(err)
                self._link.last_error = err
            elif event.type in ("session.created", "session.updated"):
                self.server_session = event.raw.get("session")
            elif event.type == "input_audio_buffer.speech_started":
                self._barge_in.speech_started()
            elif event.type == "response.done" and turn is not None:
                self._tools.after_response(turn)
            elif event.type.startswith("output_audio_buffer."):
                self._call_audio.playback_event(event)
        self._dispatch.deliver(event)

    # -- events ----------------------------------------------------------------------------
    def on(self, event_type: str, fn: Callable[[RealtimeEvent], Any]) -> Callable[[], None]:
        """Call `fn(event)` for every event of `event_type` (GA or preview name, or "*" for all).

        `fn` runs on the event loop and may be sync or async; its exceptions are logged. Returns a
        function that unsubscribes.
        """
        return self._dispatch.on(event_type, fn)

    def events(self) -> AsyncIterator[RealtimeEvent]:
        """Every event from now on (client and server), until the session closes."""
        return self._dispatch.events()

    async def wait_for(
        self,
        event_type: str,
        *,
        where: Callable[[RealtimeEvent], bool] | None = None,
        timeout: float | None = None,
    ) -> RealtimeEvent:
        """The next server event of `event_type` (GA or preview name) from now on, optionally matching `where`."""
        return await self._dispatch.wait_for(event_type, where, timeout)

    # -- protocol calls --------------------------------------------------------------------
    async def send_event(self, raw: dict[str, Any]) -> str:
        """Send any client event dict as is (recorded like the others); returns its event_id."""
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            raise ValueError(f"a client event is a dict with a 'type', got {raw!r:.200}")
        return await self._link.send(dict(raw))

    async def update(self, config: SessionConfig) -> dict[str, Any]:
        """Send `session.update`; returns the server's session, or raises SessionUpdateError (old settings stay)."""
        answer = await send_session_update(
            self._link, self._dispatch, self.connection.protocol, self.config, config
        )
        self.config = config
        return answer

    async def create_response(self, **overrides: Any) -> str:
        """Ask for a response now (`overrides` go in `response`); returns the client event id."""
        _require_responses(self.config, "create_response()")
        return await self._link.send(client_events.response_create(**overrides))

    async def cancel(self) -> str:
        """Cancel the response in progress (the server answers `response.done` with status cancelled)."""
        return await self._link.send(client_events.response_cancel())

    # -- flows -----------------------------------------------------------------------------
    async def send_text(self, text: str, *, respond: bool = True) -> Turn:
        """Add a user message and (by default) ask for a response; returns the Turn when the response is done."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("send_text needs a non-empty string")
        _require_responses(self.config, "send_text()")
        return await self._user.send_text(text, respond)

    async def append_audio(self, x: Any, rate: int | None = SAMPLE_RATE) -> None:
        """Append audio to the input buffer in 100 ms chunks (int16/float arrays, bytes or a path)."""
        await self._user.append_audio(x, rate)

    def append_audio_nowait(self, x: Any, rate: int | None = SAMPLE_RATE) -> None:
        """Queue audio for appending without awaiting (for widget comm handlers); keeps call order.
        Safe to call from another thread: the work is then handed to the session's loop."""
        self._user.append_audio_nowait(x, rate)

    def tap_audio(self, side: TapSide, pcm: Any, at: float | None = None) -> None:
        """Record the page's tap of a WebRTC call: "input" (the microphone) or "output" (the model's
        track), PCM16 24 kHz in order; `at` (its start on the tap's clock, s) keeps a lost chunk's place.
        Stored in `conversation.input` / `.output` like WebSocket audio. Safe from any thread."""
        self._call_audio.tap(side, pcm, at)

    async def commit(self) -> Turn:
        """Commit the input buffer (manual turn detection); returns the user's Turn once committed."""
        return await self._user.commit()

    async def end_speech(self, timeout: float = 5.0) -> SpeechEnd:
        """The microphone stopped: end the user's turn now ("committed", "discarded" or "none")."""
        return await self._user.end_speech(timeout)

    async def send_audio(
        self, x: Any, rate: int | None = None, realtime: bool = False, *, respond: bool = True
    ) -> Turn:
        """Send a clip (path, array of any dtype/rate, or bytes) as the user's turn; returns the Turn.

        Manual turn detection: append, commit, ask for a response. Server VAD: append (plus trailing
        silence when the clip does not end in silence) and wait for the response the VAD triggers.
        `realtime=True` paces the appends like a microphone would.
        """
        return await self._user.send_audio(x, rate, realtime, respond)

    async def wait_for_turn(self, since: int, *, respond: bool = True, timeout: float | None = None) -> Turn:
        """Wait until speech that started after turn `since` has ended and its response is done
        (in a transcription session: until its transcripts are complete).

        For audio that arrives outside `send_audio` (a microphone, `MicRecorder.feed`): note
        `since = len(s.conversation.turns)` before the speech, then await this. With `respond=False`
        (or `create_response` off) the end of speech is enough.
        """
        return await self._user.wait_for_turn(since, respond=respond, timeout=timeout)

    # -- barge-in --------------------------------------------------------------------------
    def attach_output(self, output: AudioOutput) -> Callable[[], None]:
        """Let `output` (a player) be cleared on barge-in; the session truncates at what it played.

        Returns a function that detaches it.
        """
        return self._barge_in.attach(output)

    async def interrupt(self, played_ms: float, item_id: str | None = None) -> Turn:
        """Stop the assistant: cancel its response if still running and truncate its audio at `played_ms`.

        `item_id` names the assistant item that was playing (default: the latest); by the time this runs,
        the server may already have started the next reply. `played_ms` is clamped to the audio received
        (the server rejects more). On a WebRTC call the service truncates at what played (it sends
        `output_audio_buffer.clear`; `played_ms` is not used). Returns the truncated Turn."""
        return await self._barge_in.interrupt(played_ms, item_id)

    # -- function calls --------------------------------------------------------------------
    def on_tool(self, name: str, fn: Callable[..., Any]) -> Callable[[], None]:
        """Answer the assistant's calls of function `name` with `fn(**arguments)`, then ask for its reply.

        Declare the function to the model in `SessionConfig(tools=[...])`. `fn` may be sync or async
        and return a string or anything JSON-serialisable; an exception becomes the output
        `{"error": "..."}` so the assistant can say what went wrong. `send_text` then returns the
        reply that follows the call. Returns a function that removes the handler.
        """
        return self._tools.on_tool(name, fn)

    async def send_tool_output(self, call: ToolCall | str, output: Any, *, respond: bool = True) -> Turn:
        """Answer a function call (one of `turn.tool_calls`, or its call_id) with `output`.

        `output` is a string or anything JSON-serialisable. Returns the Turn of the assistant's reply
        when it is done; with `respond=False` (more calls to answer first) the Turn of the call.
        """
        return await self._tools.send_tool_output(call, output, respond=respond)

    def __repr__(self) -> str:
        return (
            f"<RealtimeSession {self.status} {self.connection.describe()} turns={len(self.conversation.turns)} "
            f"events={len(self.event_log)}>"
        )


def _require_responses(config: SessionConfig, what: str) -> None:
    if config.is_transcription:
        raise ValueError(
            f"{what} asks for a response, and a transcription session has none: send audio "
            "(send_audio, append_audio, a MicRecorder) and read turn.user_transcript, or connect "
            "with SessionConfig(type='realtime')"
        )
