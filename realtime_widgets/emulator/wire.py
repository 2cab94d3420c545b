"""The WebSocket side of a realtime session: outgoing events, their protocol names, and faults.

Events are built with GA names and translated to the preview protocol's names here, on the way out.
The fault settings (delay, drop after N events, maximum session length) act here too, so every event
the engine sends meets them in the same place; so do the limits on a client that stops reading (write
timeout) or sends nothing (idle timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any
from typing import Protocol as TypingProtocol

import numpy as np
from aiohttp import WSMessage, WSMsgType, web

from ..protocol import Protocol, to_wire_event_type
from .context import Context
from .errors import ServiceError
from .limits import timeout
from .netem import Network, OrderedLink

# Events only the GA protocol has; they are not sent on the preview wire.
_GA_ONLY = {"conversation.item.done", "output_audio_buffer.cleared", "input_audio_buffer.timeout_triggered"}
_CLOSE_GOING_AWAY = 1001
# One connection's frames are handled for this long at most before the other sessions run.
TURN_SECONDS = 0.002
_CLOSE_POLICY_VIOLATION = 1008
log = logging.getLogger(__name__)


def _ends_connection(msg: WSMessage) -> bool:
    return msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


class Dropped(Exception):
    """The connection is gone (the drop_after_events fault fired, or the peer left)."""


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:22]}"


def consume(task: asyncio.Task) -> None:
    """Retrieve a finished task's exception: a dropped or closed socket is an expected end."""
    if not task.cancelled():
        exc = task.exception()
        if exc is not None and not isinstance(exc, (Dropped, ConnectionError)):
            log.warning("emulator session task failed: %s: %s", type(exc).__name__, exc)


class AudioSink(TypingProtocol):
    """Where a transport with a media track plays the model's audio (WebRTC), instead of events."""

    def play(self, response_id: str, item_id: str, samples: np.ndarray) -> None: ...


class Transport(TypingProtocol):
    """The seam between the session engine and a connection: the WebSocket (`Wire`) or a WebRTC
    call (webrtc_call.CallWire: data channel + sideband sockets + media tracks)."""

    protocol: Protocol
    audio_sink: AudioSink | None

    async def send(self, event: dict[str, Any]) -> None: ...

    async def error(self, exc: ServiceError, client_event_id: str | None = None) -> None: ...

    async def expire(self, seconds: float) -> None: ...

    async def receive(self, busy: Callable[[], bool]) -> WSMessage | None: ...


def wire_event(event: dict[str, Any], protocol: Protocol) -> dict[str, Any]:
    """The event as sent: its protocol's type name and a fresh event_id first."""
    return {
        "type": to_wire_event_type(event["type"], protocol),
        "event_id": new_id("event"),
        **{k: v for k, v in event.items() if k != "type"},
    }


async def announce_expiry(transport: Transport, seconds: float) -> str:
    """Wait out the maximum session length, then say so with an `error` event (any transport); the
    message is returned for the transport's own close."""
    await asyncio.sleep(seconds)
    message = f"Your session hit the maximum duration of {seconds:g} seconds."
    with contextlib.suppress(Exception):
        await transport.error(ServiceError(message, code="session_expired"))
    return message


class Wire:
    audio_sink: AudioSink | None = None  # a WebSocket carries audio as events

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, protocol: Protocol, ctx: Context):
        self.ws = ws
        self.request = request
        self.protocol: Protocol = protocol
        self.ctx = ctx
        self._lock = asyncio.Lock()
        self._sent = 0
        self._turn_ends = 0.0  # when this connection has had its turn at the loop (see receive)
        self._drop_after = ctx.faults.drop_after_events
        self._link: OrderedLink | None = None  # while the network profile is set (netem.py)
        self._uplink: OrderedLink | None = None
        self._inbox: asyncio.Queue[WSMessage] | None = None
        self._reader: asyncio.Task | None = None

    async def send(self, event: dict[str, Any]) -> None:
        ga_type = event["type"]
        if self.protocol == "preview" and ga_type in _GA_ONLY:
            return
        data = json.dumps(wire_event(event, self.protocol))
        async with self._lock:
            if self.ws.closed or (self._link is not None and self._link.failure is not None):
                raise Dropped()
            delay = self.ctx.faults.event_delay_ms
            if delay > 0:
                await asyncio.sleep(delay / 1000.0)
            if self.ctx.faults.network_impaired or self._link is not None:
                # Once impaired, frames keep going through the link so none overtakes one held there.
                if self._link is None:
                    self._link = OrderedLink(Network(self.ctx.faults), self.ws.send_str)
                self._link.send(data)
            else:
                try:
                    async with timeout(self.ctx.limits.write_timeout_s):
                        await self.ws.send_str(data)
                except asyncio.TimeoutError:
                    await self._drop_slow_client()
                    raise Dropped() from None
            self._sent += 1
            self.ctx.stats.server_events += 1
            if self._drop_after is not None and self._sent >= self._drop_after:
                # A network drop: no close frame, the socket just goes away.
                self._abort()
                raise Dropped()

    async def error(self, exc: ServiceError, client_event_id: str | None = None) -> None:
        await self.send({"type": "error", "error": exc.body(client_event_id)})

    async def expire(self, seconds: float) -> None:
        """The maximum session length: an error event, then a 1001 close, as the service does."""
        message = await announce_expiry(self, seconds)
        await self.ws.close(code=_CLOSE_GOING_AWAY, message=message.encode()[:120])

    async def receive(self, busy: Callable[[], bool]) -> WSMessage | None:
        """The client's next frame; None once the session sat idle too long and was closed.

        A ping counts as activity (aiohttp answers it inside `receive`), as does a running response.
        Frames already received come without the loop serving anyone else, so a flood would hold it:
        after `TURN_SECONDS` of one connection's frames, the other sessions run first.
        """
        loop = asyncio.get_running_loop()
        if loop.time() > self._turn_ends:
            await asyncio.sleep(0)
            self._turn_ends = loop.time() + TURN_SECONDS
        idle = self.ctx.limits.idle_timeout_s
        if self._uplink is None and self.ctx.faults.network_impaired:
            self._start_uplink()
        while True:
            try:
                if self._inbox is not None:  # the client's frames come through the impaired link
                    async with timeout(idle):
                        return await self._inbox.get()
                return await self.ws.receive(timeout=idle)
            except asyncio.TimeoutError:
                if busy():
                    continue
                self.ctx.stats.idle_sessions_closed += 1
                message = f"The session was idle for {idle:g} seconds (no client event) and is closed."
                with contextlib.suppress(Exception):
                    async with timeout(1.0):
                        await self.ws.close(code=_CLOSE_GOING_AWAY, message=message.encode()[:120])
                self._abort()
                return None

    def _start_uplink(self) -> None:
        """From now on one task reads the socket, and each client frame reaches the session through
        the network profile's TCP model (delay, and a lost frame holding the later ones)."""
        inbox: asyncio.Queue[WSMessage] = asyncio.Queue()
        self._inbox = inbox
        uplink = OrderedLink(Network(self.ctx.faults), inbox.put, is_last=_ends_connection)
        self._uplink = uplink

        async def read() -> None:
            while True:
                msg = await self.ws.receive()
                uplink.send(msg)
                if _ends_connection(msg):
                    return

        self._reader = asyncio.ensure_future(read())
        self._reader.add_done_callback(consume)

    async def _drop_slow_client(self) -> None:
        """The client read nothing for the write timeout: say why (if it ever reads again) and cut it off,
        so its unsent events and the session's audio are freed."""
        self.ctx.stats.slow_clients_closed += 1
        seconds = self.ctx.limits.write_timeout_s
        log.info("emulator: closing a session whose client read nothing for %g s", seconds)
        message = f"The client read nothing for {seconds:g} seconds; the session is closed."
        with contextlib.suppress(Exception):
            async with timeout(0.5):
                await self.ws.close(code=_CLOSE_POLICY_VIOLATION, message=message.encode()[:120], drain=False)
        self._abort()

    def _abort(self) -> None:
        for link in (self._link, self._uplink):
            if link is not None:
                link.close()
        if self._reader is not None:
            self._reader.cancel()
        transport = self.request.transport
        if transport is not None:
            transport.abort()
