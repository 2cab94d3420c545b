"""One realtime session: the state machine behind a WebSocket, for both protocols.

The rooms: `wire` (outgoing events, protocol names, faults), `input_audio` (buffer, VAD), `items`
(the conversation), `responses` and `output_items` (what the model says), `transcription`.
This class routes client events to them; bad input becomes an `error` event and never ends the
session. A WebRTC call (webrtc_call.py) brings its own transport instead of the WebSocket's `Wire`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, cast

import numpy as np
from aiohttp import WSMsgType, web

from ..protocol import Protocol
from . import memory, session_config, transcription
from .context import Context
from .errors import ServiceError
from .input_audio import InputAudio, decode_audio
from .items import Items, check_previous, client_item
from .limits import check_depth, unreadable
from .responses import Responder
from .wire import Dropped, Transport, Wire, consume, new_id

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class RealtimeSession:
    def __init__(
        self,
        ws: web.WebSocketResponse | None,
        request: web.Request,
        protocol: Protocol,
        deployment: str,
        ctx: Context,
        wire: Transport | None = None,
    ):
        self.protocol: Protocol = protocol
        self.deployment = deployment
        self.ctx = ctx
        self.wire: Transport = wire or Wire(cast(web.WebSocketResponse, ws), request, protocol, ctx)
        # A transcription session is chosen on the URL (`intent=transcription`) and has no responses.
        self.kind = "transcription" if request.query.get("intent") == "transcription" else "realtime"
        self.session = session_config.default_session(protocol, deployment, new_id("sess"), self.kind)
        self.items = Items()
        # The transcript of each user audio item (a future, since recognition runs in a worker).
        self.transcripts: dict[str, asyncio.Future[str | None]] = {}
        self.audio_produced = False
        self.closing = False
        self.input = InputAudio(self)
        self.responses = Responder(self)
        self._tasks: set[asyncio.Task] = set()
        self.input.configure()
        conversation_only: dict[str, Handler] = {
            "conversation.item.create": self.on_item_create,
            "conversation.item.retrieve": self.on_item_retrieve,
            "conversation.item.delete": self.on_item_delete,
            "conversation.item.truncate": self.on_item_truncate,
            "output_audio_buffer.clear": self.on_output_audio_buffer_clear,
            "response.create": self.responses.create,
            "response.cancel": self.responses.cancel,
        }
        self.handlers: dict[str, Handler] = {
            "session.update": self.on_session_update,
            "input_audio_buffer.append": self.input.append,
            "input_audio_buffer.commit": self.input.commit,
            "input_audio_buffer.clear": self.input.clear,
            **(conversation_only if self.kind == "realtime" else {}),
        }
        if protocol == "preview":
            self.handlers["transcription_session.update"] = self.on_transcription_session_update

    # -- plumbing ------------------------------------------------------------------------------

    async def run(self) -> None:
        stats = self.ctx.stats
        stats.live_sessions += 1
        stats.total_sessions += 1
        if self.ctx.faults.max_session_seconds:
            self._spawn(self.wire.expire(self.ctx.faults.max_session_seconds))
        try:
            await self.wire.send({"type": "session.created", "session": self.session})
            while True:
                msg = await self.wire.receive(busy=lambda: self.responses.active)
                if msg is None:
                    break
                if msg.type == WSMsgType.TEXT:
                    stats.client_events += 1
                    await self.handle_text(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await self.wire.error(
                        ServiceError(
                            "Binary frames are not supported: send each event as JSON text.",
                            code="invalid_type",
                        )
                    )
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    break
        except (Dropped, ConnectionResetError):
            pass
        finally:
            self.closing = True
            await self.responses.stop()
            for task in list(self._tasks):
                task.cancel()
            for transcript in self.transcripts.values():
                transcript.cancel()  # audio nobody waits for any more leaves the recognizer's queue
            stats.live_sessions -= 1
            if stats.live_sessions == 0:
                memory.give_back()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(consume)
        return task

    async def handle_text(self, data: str) -> None:
        try:
            event = json.loads(data)
        except (ValueError, RecursionError) as exc:
            await self.wire.error(unreadable(exc, self.ctx.limits.max_json_depth))
            return
        if not isinstance(event, dict):
            await self.wire.error(
                ServiceError("Each event must be a JSON object with a 'type'.", code="invalid_type")
            )
            return
        kind = event.get("type")
        client_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        handler = self.handlers.get(kind) if isinstance(kind, str) else None
        try:
            check_depth(event, self.ctx.limits.max_json_depth)
            if handler is None:
                raise self._unknown_event(kind)
            await handler(event)
        except ServiceError as exc:
            await self.wire.error(exc, client_id)
        except (Dropped, ConnectionResetError):
            raise
        except Exception as exc:  # the server must survive any input
            await self.wire.error(
                ServiceError(
                    f"The emulator could not handle this {kind} event: {type(exc).__name__}: {exc}",
                    code="server_error",
                    type="server_error",
                ),
                client_id,
            )

    def _unknown_event(self, kind: Any) -> ServiceError:
        if self.kind == "transcription" and kind in ("response.create", "conversation.item.create"):
            return ServiceError(
                f"{kind} is not supported in a transcription session; it only transcribes input audio.",
                param="type",
            )
        return ServiceError(
            f"Invalid value: {kind!r}. Supported client event types are: {', '.join(self.handlers)}.",
            param="type",
        )

    # -- session -------------------------------------------------------------------------------

    def audio_format(self, direction: str) -> str:
        """The session's audio format for "input" or "output", by its preview name (pcm16, g711_ulaw, ...)."""
        return session_config.audio_format(self.protocol, self.session, direction)

    def decode_input_audio(self, value: Any, param: str) -> np.ndarray:
        return decode_audio(value, param, self.audio_format("input"))

    async def on_session_update(self, event: dict[str, Any]) -> None:
        patch = event.get("session")
        if self.protocol == "preview" and self.kind == "transcription":
            raise ServiceError(
                "This is a transcription session: configure it with transcription_session.update.",
                param="type",
            )
        new = session_config.apply_update(self.protocol, self.session, patch, self.kind)
        known = {t["server_label"] for t in session_config.mcp_servers(self.session)}
        if self.audio_produced and session_config.voice(self.protocol, new) != session_config.voice(
            self.protocol, self.session
        ):
            raise ServiceError(
                "Cannot update a conversation's voice if assistant audio is present.",
                code="cannot_update_voice",
                param="session.audio.output.voice" if self.protocol == "ga" else "session.voice",
            )
        await self._apply(new, "session.updated")
        for server in session_config.mcp_servers(new):
            if server["server_label"] not in known:
                await self._mcp_unreachable(server)

    async def _mcp_unreachable(self, server: dict[str, Any]) -> None:
        """The emulator reaches no MCP server: listing its tools fails, as the service reports it."""
        item = {
            "id": new_id("mcp_list"),
            "type": "mcp_list_tools",
            "server_label": server["server_label"],
            "tools": [],
        }
        previous = self.items.insert(item)
        await self.wire.send({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
        await self.wire.send({"type": "mcp_list_tools.in_progress", "item_id": item["id"]})
        await self.wire.send({"type": "mcp_list_tools.failed", "item_id": item["id"]})
        await self.wire.send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})

    async def on_transcription_session_update(self, event: dict[str, Any]) -> None:
        if self.kind != "transcription":
            raise ServiceError(
                "Passing a transcription session update event to a realtime session is not allowed.",
                code="invalid_parameter",
                param="type",
            )
        new = session_config.apply_update(self.protocol, self.session, event.get("session"), self.kind)
        await self._apply(new, "transcription_session.updated")

    async def _apply(self, new: dict[str, Any], reply: str) -> None:
        self.session = new
        self.input.configure()
        await self.wire.send({"type": reply, "session": self.session})

    # -- conversation ----------------------------------------------------------------------------

    async def commit_audio(self, audio: np.ndarray | None, item_id: str) -> None:
        """A turn of input audio becomes a user item (committed by the client or by VAD)."""
        previous = self.items.last_id()
        await self.wire.send(
            {"type": "input_audio_buffer.committed", "previous_item_id": previous, "item_id": item_id}
        )
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        await self._add_item(item, None, audio)

    async def _add_item(
        self, item: dict[str, Any], previous: str | None, audio: np.ndarray | None = None
    ) -> None:
        previous = self.items.insert(item, previous)
        await self.wire.send({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
        if audio is not None and len(audio):
            self.items.user_audio[item["id"]] = audio
            self.transcripts[item["id"]] = asyncio.ensure_future(transcription.recognize(self, audio))
            if session_config.transcription(self.protocol, self.session) is not None:
                self._spawn(transcription.send(self, item["id"], item))
        await self.wire.send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})

    async def on_item_create(self, event: dict[str, Any]) -> None:
        previous = check_previous(self.items, event.get("previous_item_id"))
        stored, audio = client_item(event.get("item"), self.items, self.decode_input_audio, self.protocol)
        await self._add_item(stored, previous, audio)

    def _item(self, event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        item_id = event.get("item_id")
        if not isinstance(item_id, str):
            raise ServiceError(
                f"item_id must be a string, got {type(item_id).__name__}.",
                code="invalid_type",
                param="item_id",
            )
        item = self.items.get(item_id)
        if item is None:
            raise ServiceError(
                f"Item with item_id '{item_id}' not found.", code="item_not_found", param="item_id"
            )
        return item_id, item

    async def on_item_retrieve(self, event: dict[str, Any]) -> None:
        _, item = self._item(event)
        await self.wire.send({"type": "conversation.item.retrieved", "item": self.items.with_audio(item)})

    async def on_item_delete(self, event: dict[str, Any]) -> None:
        item_id, _ = self._item(event)
        self.items.delete(item_id)
        await self.wire.send({"type": "conversation.item.deleted", "item_id": item_id})

    async def on_item_truncate(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        item = self.items.get(item_id)
        if item is None or item.get("role") != "assistant":
            raise ServiceError(
                f"Assistant item with item_id '{item_id}' not found.", code="item_not_found", param="item_id"
            )
        item_id = item["id"]  # the id the lookup matched, so a string
        end_ms = event.get("audio_end_ms")
        if isinstance(end_ms, bool) or not isinstance(end_ms, int) or end_ms < 0:
            raise ServiceError(
                "audio_end_ms must be a non-negative integer.", code="invalid_type", param="audio_end_ms"
            )
        if event.get("content_index", 0) != 0:
            raise ServiceError(
                "content_index must be 0 (assistant items have one content part).", param="content_index"
            )
        sent = self.responses.audio_sent_ms.get(item_id, 0.0)
        if end_ms > sent + 1:
            raise ServiceError(
                f"Audio content of {sent:.0f}ms is shorter than {end_ms}ms.", param="audio_end_ms"
            )
        if self.responses.active and item_id == self.responses.item_id:
            await self.responses.stop("client_cancelled")
        # "Truncating audio will delete the server-side text transcript" (the SDK's truncate event).
        for part in item.get("content", []):
            if "transcript" in part:
                part["transcript"] = ""
        self.responses.audio_sent_ms[item_id] = float(end_ms)
        await self.wire.send(
            {
                "type": "conversation.item.truncated",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": end_ms,
            }
        )

    async def on_output_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        # The SDK documents output_audio_buffer.* as WebRTC/SIP only: a WebSocket client owns its playback.
        raise ServiceError(
            "output_audio_buffer.clear is only supported on WebRTC and SIP connections. Over a WebSocket, "
            "stop playback in the client, then send response.cancel and conversation.item.truncate.",
            param="type",
        )
