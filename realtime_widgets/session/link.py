"""The link to the service: the SDK's WebSocket, the receive task, and one ordered outbox.

Every client event is recorded before it is queued, and `append_audio_nowait` (sync, from widget
comm handlers, maybe on another thread) and the async calls share the outbox, so nothing is
reordered. `status` says where the link is; a lost socket is reported once to `on_lost`.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ConnectionFailed, SessionClosed, explain_connect_error
from ..events import RealtimeEvent

if TYPE_CHECKING:  # pragma: no cover
    from ..cassette import SessionRecorder
    from ..config import ConnectionConfig

log = logging.getLogger(__name__)

# True in the task that reopens the link (its handshake, session.update and replay may send).
REOPENING: contextvars.ContextVar[bool] = contextvars.ContextVar("REOPENING", default=False)


class Link:
    """One connection at a time to `connection`; `record(event)` sees every event, in order."""

    def __init__(
        self,
        connection: ConnectionConfig,
        timeout: float,
        record: Callable[[RealtimeEvent], None],
        on_lost: Callable[[SessionClosed], None],
        recorder: SessionRecorder | None = None,
        call_id: str | None = None,
    ) -> None:
        self.connection = connection
        self.call_id = call_id  # a WebRTC call this link joins as its sideband (None: a session of its own)
        self.timeout = timeout
        self.status = "closed"  # "closed" | "connecting" | "connected" | "failed"
        self.last_error: BaseException | None = None
        self.closing = False
        self.reconnecting = False  # a reconnect (automatic or asked for) is under way
        # A cassette's recorder sees each event first, before the conversation makes its audio a reference.
        self._record = record if recorder is None else recorder.wrap(record)
        self._recorder = recorder
        self._on_lost = on_lost
        self._client: Any = None
        self._manager: Any = None
        self._conn: Any = None
        self._recv_task: asyncio.Task[None] | None = None
        self._send_task: asyncio.Task[None] | None = None
        self._outbox: asyncio.Queue[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._t0: float | None = None
        self._ids = itertools.count(1)
        self._id_prefix = "evt_" + secrets.token_hex(3) + "_"

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the session runs on (None before the first connect)."""
        return self._loop

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    def new_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids)}"

    def time(self) -> float:
        """Seconds since the first connect."""
        return 0.0 if self._t0 is None else time.monotonic() - self._t0

    # -- opening and closing ---------------------------------------------------------------
    def begin(self) -> None:
        """Mark the start of a connect, on the caller's loop."""
        if self.status in ("connecting", "connected"):
            raise RuntimeError("this RealtimeSession is already connected; use reconnect() to start over")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self.status = "connecting"
        self.closing = False

    async def open(
        self, intent: str | None, extra_query: dict[str, Any], extra_headers: dict[str, Any]
    ) -> None:
        """Open the WebSocket and start receiving and sending."""
        client = self._client = self.connection.async_client()  # closed by teardown
        self._manager = self.connection.realtime_connect(
            client, intent=intent, call_id=self.call_id, extra_query=extra_query, extra_headers=extra_headers
        )
        try:
            self._conn = await asyncio.wait_for(self._manager.__aenter__(), self.timeout)
        except asyncio.TimeoutError:
            raise SessionClosed(
                f"Opening the WebSocket to {self.connection.describe()} took longer than {self.timeout:g} s; "
                "check the endpoint and your network"
            ) from None
        except Exception as exc:
            if (
                self.call_id is not None
                and getattr(getattr(exc, "response", None), "status_code", None) == 404
            ):
                raise ConnectionFailed(
                    f"No live WebRTC call {self.call_id!r} at {self.connection.describe()}: the call ended "
                    "(the page hung up or never connected) or the id is wrong; dial again",
                    status=404,
                ) from exc
            raise explain_connect_error(exc, self.connection) from exc
        if self._t0 is None:
            self._t0 = time.monotonic()
        self._outbox = asyncio.Queue()
        context = contextvars.copy_context()  # what the loops set off (callbacks) is not the reconnect
        context.run(REOPENING.set, False)
        receive, send = self._receive(self._conn), self._sender(self._conn, self._outbox)
        self._recv_task = context.run(asyncio.create_task, receive, name="realtime-receive")
        self._send_task = context.run(asyncio.create_task, send, name="realtime-send")

    async def failed(self, exc: BaseException) -> None:
        """A connect failed: close what was opened; `status` stays "failed"."""
        self.status = "failed"
        self.last_error = exc if isinstance(exc, Exception) else None
        await self.teardown()
        self.status = "failed"

    async def teardown(self) -> None:
        tasks = [t for t in (self._recv_task, self._send_task) if t is not None]
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                task.cancel()
        for task in tasks:
            if task is not current:
                try:
                    await task
                except BaseException:  # cancelled or already failed: recorded elsewhere
                    pass
        self._recv_task = self._send_task = None
        outbox, self._outbox = self._outbox, None
        while outbox is not None and not outbox.empty():  # queued, never sent: their callers must not hang
            _, future = outbox.get_nowait()
            if not future.done():
                future.set_exception(SessionClosed("the connection closed before this event was sent"))
        manager, self._manager, self._conn = self._manager, None, None
        if self._recorder is not None:  # this connection's file and audio are complete
            self._recorder.close()
        if manager is not None:
            try:
                await manager.__aexit__(None, None, None)
            except Exception:  # the socket may already be gone
                log.debug("closing the realtime connection failed", exc_info=True)
        client, self._client = self._client, None
        if client is not None:  # its HTTP pool: left to the garbage collector it closes on another loop
            await client.close()

    # -- sending ---------------------------------------------------------------------------
    def require_open(self) -> None:
        if self.reconnecting and not REOPENING.get():  # only the reconnect itself sends meanwhile
            raise SessionClosed(
                f"the session is {self.status}: a reconnect is under way; try again once "
                "s.status is 'connected' (what was recorded is kept)"
            )
        if self.status != "connected" and not (self.status == "connecting" and self._conn is not None):
            why = f" ({self.last_error})" if isinstance(self.last_error, SessionClosed) else ""
            raise SessionClosed(
                f"the session is {self.status}{why}; use `async with RealtimeSession(...)` or "
                "`await s.reconnect()` first"
            )

    def enqueue(self, raw: dict[str, Any], wire: str | None = None) -> asyncio.Future[Any]:
        """Record a client event and queue it for sending, in order. `wire` is its JSON if already made."""
        self._record(RealtimeEvent.from_raw(raw, "client", self.time()))
        if self._outbox is None or self._loop is None:
            raise SessionClosed("the connection is closed; `await s.reconnect()` opens a new one")
        future = self._loop.create_future()
        # A caller that does not await the write (fire and forget) leaves no "Future exception was
        # never retrieved": a failed write means a lost connection, which is reported on its own.
        future.add_done_callback(_retrieve)
        self._outbox.put_nowait((wire if wire is not None else json.dumps(raw), future))
        return future

    async def send(self, raw: dict[str, Any]) -> str:
        """Send one client event (an event_id is added unless it has one); returns the event id."""
        self.require_open()
        raw.setdefault("event_id", self.new_id())
        await self.enqueue(raw)
        return str(raw["event_id"])

    def in_loop_thread(self) -> bool:
        return self._loop is None or threading.get_ident() == self._loop_thread

    def hand_off(self, fn: Callable[..., None], *args: Any) -> None:
        """Run `fn(*args)` on the session's loop (from another thread)."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(fn, *args)

    async def _sender(self, conn: Any, outbox: asyncio.Queue[Any]) -> None:
        send = getattr(conn, "send_raw", None)  # raw text: the SDK's send() would re-validate every append
        while True:
            data, future = await outbox.get()
            try:
                if send is not None:
                    await send(data)
                else:
                    await conn.send(json.loads(data))
            except asyncio.CancelledError:
                if not future.done():
                    future.set_exception(SessionClosed("the session closed before this event was sent"))
                raise
            except Exception as exc:
                closed = SessionClosed(f"sending failed, the connection is gone: {exc}")
                if not future.done():
                    future.set_exception(closed)
                while not outbox.empty():
                    _, pending = outbox.get_nowait()
                    if not pending.done():
                        pending.set_exception(closed)
                return
            else:
                if not future.done():
                    future.set_result(None)

    # -- receiving -------------------------------------------------------------------------
    async def _receive(self, conn: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                data = await conn.recv_bytes()
                try:
                    event = RealtimeEvent.from_raw(json.loads(data), "server", self.time())
                except ValueError:
                    log.warning("ignoring a server message that is not a JSON event: %.200r", data)
                    continue
                try:
                    self._record(event)
                except Exception:  # one event this client misreads must not end the session
                    log.exception("handling the server event %s failed; it stays in s.event_log", event.type)
        except asyncio.CancelledError:
            raise
        except ConnectionClosed as exc:
            self._lost(exc)
        except Exception as exc:  # any other failure also ends the session, visibly
            log.exception("the realtime receive loop failed")
            self._lost(exc)

    def _lost(self, exc: BaseException) -> None:
        if self.closing:
            return
        closed = closed_error(exc)
        self.last_error = closed
        self.status = "failed" if self.status == "connecting" else "closed"
        log.warning("%s", closed)
        self._on_lost(closed)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def closed_error(exc: BaseException) -> SessionClosed:
    """A SessionClosed that says what the close code means and what to do."""
    rcvd = getattr(exc, "rcvd", None)
    code = getattr(rcvd, "code", None) if rcvd is not None else None
    reason = getattr(rcvd, "reason", "") if rcvd is not None else ""
    if code is None:
        code = 1006
    if code == 1001:
        message = (
            f"The service ended the session (close 1001: {reason or 'going away'}). Azure realtime sessions "
            "last at most 30 minutes. What was recorded is kept in s.conversation; `await s.reconnect()` "
            "starts a new session."
        )
    elif code == 1006:
        message = (
            "The connection dropped (no close frame, code 1006). What was recorded is kept in "
            "s.conversation; `await s.reconnect()` opens a new session."
        )
    else:
        message = (
            f"The connection closed (code {code}{': ' + reason if reason else ''}). What was recorded is kept "
            "in s.conversation; `await s.reconnect()` opens a new session."
        )
    err = SessionClosed(message, code=code, reason=reason)
    if not isinstance(exc, SessionClosed):
        err.__cause__ = exc
    return err
