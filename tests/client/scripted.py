"""A scripted stand-in for the realtime WebSocket, to put crafted server events into a RealtimeSession.

The seam is `ConnectionConfig.realtime_connect`: RealtimeSession asks it for the SDK's connection
manager and then only calls `recv_bytes()` and `send_raw()` on the connection. `scripted_connection()`
returns a ConnectionConfig whose manager yields a `ScriptedService` instead, so everything above the
socket (event parsing, Conversation, waiters, callbacks, widgets) runs as it does against a server.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from realtime_widgets.config import ConnectionConfig


class ScriptedService:
    """Answers the handshake and `session.update`; everything else comes from `push()`."""

    def __init__(self, protocol: str = "ga") -> None:
        self.protocol = protocol
        self.sent: list[dict] = []  # client events, as the session sent them
        self.query: dict = {}  # extra_query of the last connect (e.g. intent=transcription)
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._ids = 0

    def push(self, raw: Any) -> None:
        """Queue one server message: a dict (sent as JSON) or raw text/bytes as is."""
        data = raw if isinstance(raw, (str, bytes)) else json.dumps(raw)
        self._inbox.put_nowait(data.encode() if isinstance(data, str) else data)

    def sent_types(self) -> list[str]:
        return [e["type"] for e in self.sent]

    # --- the connection surface RealtimeSession uses
    async def recv_bytes(self) -> bytes:
        return await self._inbox.get()

    async def send_raw(self, data: str) -> None:
        event = json.loads(data)
        self.sent.append(event)
        kind = event["type"]
        if kind in ("session.update", "transcription_session.update"):
            session = dict(event["session"])
            updated = (
                "transcription_session.updated" if kind.startswith("transcription") else "session.updated"
            )
            self.push({"type": updated, "event_id": self._id(), "session": session})

    def _id(self) -> str:
        self._ids += 1
        return f"event_{self._ids}"

    # --- the SDK's connection manager
    async def __aenter__(self) -> ScriptedService:
        created = "session.created"
        self.push({"type": created, "event_id": self._id(), "session": {"id": "sess_1"}})
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def scripted_connection(service: ScriptedService) -> ConnectionConfig:
    """A ConnectionConfig whose realtime connection is `service` (no socket, no emulator)."""
    config = ConnectionConfig(endpoint="http://scripted.invalid", api_key="unused", protocol=service.protocol)

    def realtime_connect(_client: Any, *, intent: str | None = None, **kw: Any) -> ScriptedService:
        service.query = {**(kw.get("extra_query") or {}), **({"intent": intent} if intent else {})}
        return service

    config.async_client = lambda: None  # type: ignore[method-assign]
    config.realtime_connect = realtime_connect  # type: ignore[method-assign]
    return config
