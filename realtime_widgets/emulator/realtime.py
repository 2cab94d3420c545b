"""One realtime session: the state machine behind a WebSocket, for both protocols.

Events are built with GA names and translated to preview names on the way out. Every client
event is handled in `handle()`; bad input becomes an `error` event and never ends the session.
Responses stream from their own task so that cancel, barge-in and truncate can interrupt them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import inspect
import json
import logging
import time
import uuid
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

from ..protocol import (
    BYTES_PER_SAMPLE,
    CLIENT_EVENTS,
    MAX_APPEND_BYTES,
    MIN_COMMIT_MS,
    OUTPUT_DELTA_BYTES,
    SAMPLE_RATE,
    Protocol,
    to_wire_event_type,
)
from . import g711, recognizer, session_config, tools
from .context import Context
from .session_config import SessionError
from .vad import Vad
from .voice import Speech, speak

# Events only the GA protocol has; they are not sent on the preview wire.
_GA_ONLY = {"conversation.item.done", "output_audio_buffer.cleared", "input_audio_buffer.timeout_triggered"}
_CLOSE_GOING_AWAY = 1001
log = logging.getLogger(__name__)


class _Dropped(Exception):
    """The drop_after_events fault fired: the connection is gone."""


class ClientError(Exception):
    def __init__(self, message: str, code: str | None = "invalid_value", param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.param = param


def _consume(task: asyncio.Task) -> None:
    """Retrieve a finished task's exception: a dropped or closed socket is an expected end."""
    if not task.cancelled():
        exc = task.exception()
        if exc is not None and not isinstance(exc, (_Dropped, ConnectionError)):
            log.warning("emulator session task failed: %s: %s", type(exc).__name__, exc)


def _item_id(event: dict[str, Any]) -> str:
    value = event.get("item_id")
    if not isinstance(value, str):
        raise ClientError(f"item_id must be a string, got {type(value).__name__}.", "invalid_type", "item_id")
    return value


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:22]}"


def _ms(n_samples: int) -> int:
    return n_samples * 1000 // SAMPLE_RATE


class RealtimeSession:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        protocol: Protocol,
        deployment: str,
        ctx: Context,
    ):
        self.ws = ws
        self.request = request
        self.protocol: Protocol = protocol
        self.deployment = deployment
        self.ctx = ctx
        self.session = session_config.default_session(protocol, deployment, _id("sess"))
        self.items: dict[str, dict[str, Any]] = {}  # conversation, in order
        # Only the length of user audio is kept (a long session would otherwise hold all of it).
        self.user_seconds: dict[str, float] = {}
        self.transcripts: dict[str, asyncio.Future[str | None]] = {}
        self.audio_sent_ms: dict[str, float] = {}  # assistant item id -> ms of audio sent
        self.word_times: dict[str, list[tuple[str, float]]] = {}
        self.answered: set[str] = set()  # user items a response already used
        self.audio_produced = False
        # Input audio: `buffer` holds uncommitted samples starting at stream position `buffer_start`.
        self.buffer = np.zeros(0, np.int16)
        self.buffer_start = 0
        self.stream_samples = 0
        self.vad: Vad | None = None
        self.speech_item_id: str | None = None
        self.speech_start_ms = 0
        # Stream position (samples) since which the user has been silent after a response, for idle_timeout_ms.
        self.idle_since: int | None = None
        self.response_task: asyncio.Task | None = None
        self.response_id: str | None = None
        self._cancel_reason = "client_cancelled"
        self._tasks: set[asyncio.Task] = set()
        self._send_lock = asyncio.Lock()
        self._sent = 0
        self._drop_after = ctx.faults.drop_after_events
        self._closing = False
        self._configure_vad()

    # -- plumbing ------------------------------------------------------------------------------

    async def run(self) -> None:
        stats = self.ctx.stats
        stats.live_sessions += 1
        stats.total_sessions += 1
        expiry = None
        if self.ctx.faults.max_session_seconds:
            expiry = self._spawn(self._expire(self.ctx.faults.max_session_seconds))
        try:
            await self.send({"type": "session.created", "session": self.session})
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    stats.client_events += 1
                    await self.handle_text(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await self.error(
                        "Binary frames are not supported: send each event as JSON text.", "invalid_type"
                    )
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE, WSMsgType.CLOSING):
                    break
        except (_Dropped, ConnectionResetError):
            pass
        finally:
            self._closing = True
            if expiry is not None:
                expiry.cancel()
            await self._stop_response()
            for task in list(self._tasks):
                task.cancel()
            stats.live_sessions -= 1

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_consume)
        return task

    async def send(self, event: dict[str, Any]) -> None:
        ga_type = event["type"]
        if self.protocol == "preview" and ga_type in _GA_ONLY:
            return
        event = {
            "type": to_wire_event_type(ga_type, self.protocol),
            "event_id": _id("event"),
            **{k: v for k, v in event.items() if k != "type"},
        }
        data = json.dumps(event)
        async with self._send_lock:
            if self.ws.closed:
                raise _Dropped()
            delay = self.ctx.faults.event_delay_ms
            if delay > 0:
                await asyncio.sleep(delay / 1000.0)
            await self.ws.send_str(data)
            self._sent += 1
            self.ctx.stats.server_events += 1
            if self._drop_after is not None and self._sent >= self._drop_after:
                # A network drop: no close frame, the socket just goes away.
                transport = self.request.transport
                if transport is not None:
                    transport.abort()
                raise _Dropped()

    async def error(
        self,
        message: str,
        code: str | None = "invalid_value",
        param: str | None = None,
        client_event_id: str | None = None,
    ) -> None:
        await self.send(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "code": code,
                    "message": message,
                    "param": param,
                    "event_id": client_event_id,
                },
            }
        )

    async def _expire(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        message = f"Your session hit the maximum duration of {seconds:g} seconds."
        with contextlib.suppress(Exception):
            await self.send(
                {
                    "type": "error",
                    "error": {
                        "type": "invalid_request_error",
                        "code": "session_expired",
                        "message": message,
                        "param": None,
                        "event_id": None,
                    },
                }
            )
        await self.ws.close(code=_CLOSE_GOING_AWAY, message=message.encode()[:120])

    # -- dispatch ------------------------------------------------------------------------------

    async def handle_text(self, data: str) -> None:
        try:
            event = json.loads(data)
        except ValueError as exc:
            await self.error(
                f"The event is not valid JSON ({exc}); send one JSON object per message.", "invalid_json"
            )
            return
        if not isinstance(event, dict):
            await self.error("Each event must be a JSON object with a 'type'.", "invalid_type")
            return
        kind = event.get("type")
        client_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        handler = (
            getattr(self, "on_" + kind.replace(".", "_"), None)
            if isinstance(kind, str) and kind in CLIENT_EVENTS
            else None
        )
        if handler is None:
            await self.error(
                f"Invalid value: {kind!r}. Supported client event types are: {', '.join(CLIENT_EVENTS)}.",
                "invalid_value",
                "type",
                client_id,
            )
            return
        try:
            await handler(event)
        except ClientError as exc:
            await self.error(str(exc), exc.code, exc.param, client_id)
        except SessionError as exc:
            await self.error(str(exc), exc.code, exc.param, client_id)
        except (_Dropped, ConnectionResetError):
            raise
        except Exception as exc:  # the server must survive any input
            await self.error(
                f"The emulator could not handle this {kind} event: {type(exc).__name__}: {exc}",
                "server_error",
                None,
                client_id,
            )

    # -- session -------------------------------------------------------------------------------

    async def on_session_update(self, event: dict[str, Any]) -> None:
        patch = event.get("session")
        new = session_config.apply_update(self.protocol, self.session, patch)
        if self.audio_produced and session_config.voice(self.protocol, new) != session_config.voice(
            self.protocol, self.session
        ):
            raise ClientError(
                "Cannot update a conversation's voice if assistant audio is present.",
                "cannot_update_voice",
                "session.audio.output.voice" if self.protocol == "ga" else "session.voice",
            )
        self.session = new
        self._configure_vad()
        await self.send({"type": "session.updated", "session": self.session})

    def _configure_vad(self) -> None:
        td = session_config.turn_detection(self.protocol, self.session)
        if td is None:
            self.vad = None
            self.speech_item_id = None
        elif self.vad is None:
            self.vad = Vad(td)
            self.vad._pos_samples = self.stream_samples
        else:
            self.vad.configure(td)

    def _format(self, direction: str) -> str:
        s = self.session
        if self.protocol == "ga":
            return {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}[
                s["audio"][direction]["format"]["type"]
            ]
        return s["input_audio_format" if direction == "input" else "output_audio_format"]

    # -- input audio ---------------------------------------------------------------------------

    def _decode_audio(self, value: Any, param: str) -> np.ndarray:
        if not isinstance(value, str):
            raise ClientError(
                f"'{param}' must be a base64 string of audio bytes, got {type(value).__name__}.",
                "invalid_type",
                param,
            )
        if len(value) * 3 // 4 > MAX_APPEND_BYTES:
            raise ClientError(
                f"'{param}' is larger than {MAX_APPEND_BYTES} bytes; send audio in smaller appends.",
                "invalid_value",
                param,
            )
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ClientError(f"'{param}' is not valid base64 ({exc}).", "invalid_value", param) from None
        fmt = self._format("input")
        if fmt == "pcm16":
            if len(raw) % BYTES_PER_SAMPLE:
                raise ClientError(
                    f"'{param}' has an odd number of bytes ({len(raw)}); pcm16 audio needs 2 bytes per sample.",
                    "invalid_value",
                    param,
                )
            return np.frombuffer(raw, "<i2").astype(np.int16)
        return g711.decode(raw, "ulaw" if fmt == "g711_ulaw" else "alaw")

    async def on_input_audio_buffer_append(self, event: dict[str, Any]) -> None:
        samples = self._decode_audio(event.get("audio"), "audio")
        self.buffer = np.concatenate([self.buffer, samples]) if len(self.buffer) else samples
        self.stream_samples += len(samples)
        if self.vad is None:
            return
        for vev in self.vad.feed(samples):
            if vev.kind == "started":
                await self._speech_started(vev.ms)
            else:
                await self._speech_stopped(vev.ms)
        if not self.vad.in_speech:
            # Outside speech only the prefix padding can still become part of a turn.
            keep = int(self.vad.prefix_ms * SAMPLE_RATE / 1000)
            if len(self.buffer) > keep:
                drop = len(self.buffer) - keep
                self.buffer = self.buffer[drop:]
                self.buffer_start += drop
            await self._check_idle()

    async def _check_idle(self) -> None:
        """server_vad idle_timeout_ms: after a response, silence this long makes the model speak again."""
        td = session_config.turn_detection(self.protocol, self.session) or {}
        timeout = td.get("idle_timeout_ms")
        if not timeout or self.idle_since is None or (self.response_task and not self.response_task.done()):
            return
        if _ms(self.stream_samples - self.idle_since) < timeout:
            return
        item_id = _id("item")
        start_ms, end_ms = _ms(self.idle_since), _ms(self.stream_samples)
        self.idle_since = None
        await self.send(
            {
                "type": "input_audio_buffer.timeout_triggered",
                "audio_start_ms": start_ms,
                "audio_end_ms": end_ms,
                "item_id": item_id,
            }
        )
        self.buffer = np.zeros(0, np.int16)
        self.buffer_start = self.stream_samples
        # No speech was heard: the item carries no audio, so the reply gets (None, 0.0).
        await self._commit_audio(None, item_id)
        self._start_response({})

    async def _speech_started(self, ms: int) -> None:
        self.idle_since = None
        self.speech_item_id = _id("item")
        self.speech_start_ms = ms
        td = session_config.turn_detection(self.protocol, self.session) or {}
        await self.send(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": ms,
                "item_id": self.speech_item_id,
            }
        )
        if (
            td.get("interrupt_response", True)
            and self.response_task is not None
            and not self.response_task.done()
        ):
            await self._stop_response("turn_detected")

    async def _speech_stopped(self, ms: int) -> None:
        item_id = self.speech_item_id or _id("item")
        await self.send({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": ms, "item_id": item_id})
        start = (
            max(self.buffer_start, int((self.speech_start_ms - self.vad.prefix_ms) * SAMPLE_RATE / 1000))
            if self.vad
            else self.buffer_start
        )
        audio = self.buffer[start - self.buffer_start :]
        self.buffer = np.zeros(0, np.int16)
        self.buffer_start = self.stream_samples
        self.speech_item_id = None
        await self._commit_audio(audio, item_id)
        td = session_config.turn_detection(self.protocol, self.session) or {}
        if td.get("create_response", True) and (self.response_task is None or self.response_task.done()):
            self._start_response({})

    async def on_input_audio_buffer_commit(self, event: dict[str, Any]) -> None:
        ms = _ms(len(self.buffer))
        if ms < MIN_COMMIT_MS:
            raise ClientError(
                f"Error committing input audio buffer: buffer too small. Expected at least {MIN_COMMIT_MS}ms of audio, but buffer only has {ms:.2f}ms of audio.",
                "input_audio_buffer_commit_empty",
            )
        audio = self.buffer
        item_id = self.speech_item_id or _id("item")
        self.buffer = np.zeros(0, np.int16)
        self.buffer_start = self.stream_samples
        self.speech_item_id = None
        if self.vad is not None:
            self.vad.reset_speech()
        await self._commit_audio(audio, item_id)

    async def on_input_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        self.buffer = np.zeros(0, np.int16)
        self.buffer_start = self.stream_samples
        self.speech_item_id = None
        if self.vad is not None:
            self.vad.reset_speech()
        await self.send({"type": "input_audio_buffer.cleared"})

    async def _commit_audio(self, audio: np.ndarray | None, item_id: str) -> None:
        previous = self._last_item_id()
        await self.send(
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
        await self._add_item(item, previous, audio)

    # -- conversation ----------------------------------------------------------------------------

    def _last_item_id(self) -> str | None:
        return next(reversed(self.items), None) if self.items else None

    async def _add_item(
        self, item: dict[str, Any], previous: str | None, audio: np.ndarray | None = None
    ) -> None:
        self.items[item["id"]] = item
        await self.send({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
        if audio is not None and len(audio):
            self.user_seconds[item["id"]] = len(audio) / SAMPLE_RATE
            self.transcripts[item["id"]] = asyncio.ensure_future(self._recognize(audio))
            if session_config.transcription(self.protocol, self.session) is not None:
                self._spawn(self._send_transcription(item["id"], item))
        await self.send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})

    async def _recognize(self, audio: np.ndarray) -> str | None:
        if not self.ctx.recognize:
            return None
        return await recognizer.transcribe_async(audio)

    async def _send_transcription(self, item_id: str, item: dict[str, Any]) -> None:
        text = await asyncio.shield(self.transcripts[item_id])
        if text is None:
            reason = (
                recognizer.unavailable_reason()
                or "local transcription is turned off (Emulator(recognize=False))"
            )
            await self.send(
                {
                    "type": "conversation.item.input_audio_transcription.failed",
                    "item_id": item_id,
                    "content_index": 0,
                    "error": {
                        "type": "transcription_error",
                        "code": "transcription_unavailable",
                        "message": reason,
                        "param": None,
                    },
                }
            )
            return
        item["content"][0]["transcript"] = text
        words = text.split()
        for i, word in enumerate(words):
            await self.send(
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "item_id": item_id,
                    "content_index": 0,
                    "delta": word if i == 0 else " " + word,
                }
            )
        await self.send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": text,
            }
        )

    async def on_conversation_item_create(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        if not isinstance(item, dict):
            raise ClientError("'item' must be an object.", "invalid_type", "item")
        previous = event.get("previous_item_id")
        if previous is not None and not isinstance(previous, str):
            raise ClientError("previous_item_id must be a string.", "invalid_type", "previous_item_id")
        if previous is not None and previous != "root" and previous not in self.items:
            raise ClientError(
                f"Previous item with id '{previous}' does not exist.", "item_not_found", "previous_item_id"
            )
        item_id = item.get("id") or _id("item")
        if not isinstance(item_id, str) or item_id in self.items:
            raise ClientError(
                f"Item id {item_id!r} already exists or is not a string.", "invalid_value", "item.id"
            )
        kind = item.get("type", "message")
        stored: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": kind,
            "status": "completed",
        }
        audio = None
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system"):
                raise ClientError(
                    f"item.role must be user, assistant or system, got {role!r}.",
                    "invalid_value",
                    "item.role",
                )
            content = item.get("content")
            if not isinstance(content, list) or not content:
                raise ClientError(
                    "item.content must be a non-empty array of content parts.", "invalid_type", "item.content"
                )
            parts = []
            for i, part in enumerate(content):
                param = f"item.content[{i}]"
                if not isinstance(part, dict):
                    raise ClientError(f"{param} must be an object.", "invalid_type", param)
                ptype = part.get("type")
                if ptype == "input_text" and role in ("user", "system"):
                    if not isinstance(part.get("text"), str):
                        raise ClientError(f"{param}.text must be a string.", "invalid_type", f"{param}.text")
                    parts.append({"type": "input_text", "text": part["text"]})
                elif ptype == "input_audio" and role == "user":
                    samples = self._decode_audio(part.get("audio"), f"{param}.audio")
                    audio = samples if audio is None else np.concatenate([audio, samples])
                    parts.append({"type": "input_audio", "transcript": part.get("transcript")})
                elif ptype in ("text", "output_text") and role == "assistant":
                    if not isinstance(part.get("text"), str):
                        raise ClientError(f"{param}.text must be a string.", "invalid_type", f"{param}.text")
                    parts.append({"type": ptype, "text": part["text"]})
                else:
                    raise ClientError(
                        f"{param}.type {ptype!r} is not valid for a {role} message.",
                        "invalid_value",
                        f"{param}.type",
                    )
            stored.update(role=role, content=parts)
        elif kind == "function_call":
            fields = ("call_id", "name", "arguments")
            if not all(isinstance(item.get(f), str) for f in fields):
                raise ClientError(
                    "function_call items need string 'call_id', 'name' and 'arguments'.",
                    "invalid_value",
                    "item",
                )
            stored.update({f: item[f] for f in fields})
        elif kind == "function_call_output":
            if not isinstance(item.get("call_id"), str) or not isinstance(item.get("output"), str):
                raise ClientError(
                    "function_call_output items need string 'call_id' and 'output'.", "invalid_value", "item"
                )
            stored.update(call_id=item["call_id"], output=item["output"])
        else:
            raise ClientError(
                f"item.type {kind!r} is not supported; use message, function_call or function_call_output.",
                "invalid_value",
                "item.type",
            )
        await self._add_item(stored, previous or self._last_item_id(), audio)

    async def on_conversation_item_retrieve(self, event: dict[str, Any]) -> None:
        item = self.items.get(_item_id(event))
        if item is None:
            raise ClientError(
                f"Item with item_id '{event.get('item_id')}' not found.", "item_not_found", "item_id"
            )
        await self.send({"type": "conversation.item.retrieved", "item": item})

    async def on_conversation_item_delete(self, event: dict[str, Any]) -> None:
        item_id = _item_id(event)
        if item_id not in self.items:
            raise ClientError(f"Item with item_id '{item_id}' not found.", "item_not_found", "item_id")
        del self.items[item_id]
        await self.send({"type": "conversation.item.deleted", "item_id": item_id})

    async def on_conversation_item_truncate(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        item = self.items.get(item_id) if isinstance(item_id, str) else None
        if item is None or item.get("role") != "assistant":
            raise ClientError(
                f"Assistant item with item_id '{item_id}' not found.", "item_not_found", "item_id"
            )
        end_ms = event.get("audio_end_ms")
        if isinstance(end_ms, bool) or not isinstance(end_ms, int) or end_ms < 0:
            raise ClientError("audio_end_ms must be a non-negative integer.", "invalid_type", "audio_end_ms")
        if event.get("content_index", 0) != 0:
            raise ClientError(
                "content_index must be 0 (assistant items have one content part).",
                "invalid_value",
                "content_index",
            )
        sent = self.audio_sent_ms.get(item_id, 0.0)
        if end_ms > sent + 1:
            raise ClientError(
                f"Audio content of {sent:.0f}ms is shorter than {end_ms}ms.", "invalid_value", "audio_end_ms"
            )
        if (
            self.response_task is not None
            and not self.response_task.done()
            and item_id == getattr(self, "_response_item_id", None)
        ):
            await self._stop_response("client_cancelled")
        heard = [w for w, t in self.word_times.get(item_id, []) if t * 1000 < end_ms]
        for part in item.get("content", []):
            if "transcript" in part:
                part["transcript"] = " ".join(heard)
        self.audio_sent_ms[item_id] = float(end_ms)
        await self.send(
            {
                "type": "conversation.item.truncated",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": end_ms,
            }
        )

    async def on_output_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        if self.response_task is not None and not self.response_task.done():
            await self._stop_response("client_cancelled")
        await self.send({"type": "output_audio_buffer.cleared", "response_id": self.response_id})

    # -- responses -----------------------------------------------------------------------------

    async def on_response_create(self, event: dict[str, Any]) -> None:
        options = event.get("response") or {}
        if not isinstance(options, dict):
            raise ClientError("'response' must be an object.", "invalid_type", "response")
        if self.response_task is not None and not self.response_task.done():
            raise ClientError(
                f"Conversation already has an active response in progress: {self.response_id}. Wait until the response is finished before creating a new one.",
                "conversation_already_has_active_response",
            )
        self._validate_response_options(options)
        self._start_response(options)

    async def on_response_cancel(self, event: dict[str, Any]) -> None:
        if self.response_task is None or self.response_task.done():
            raise ClientError("Cancellation failed: no active response found.", "response_cancel_not_active")
        await self._stop_response("client_cancelled")

    def _validate_response_options(self, options: dict[str, Any]) -> None:
        mod_key = "output_modalities" if self.protocol == "ga" else "modalities"
        if mod_key in options:
            session_config.modalities_valid(self.protocol, options[mod_key], f"response.{mod_key}")
        if "instructions" in options and not isinstance(options["instructions"], str):
            raise ClientError(
                "response.instructions must be a string.", "invalid_type", "response.instructions"
            )
        voice = (
            options.get("voice")
            if self.protocol == "preview"
            else ((options.get("audio") or {}).get("output") or {}).get("voice")
        )
        if voice is not None:
            session_config._voice(voice, "response.voice")

    def _start_response(self, options: dict[str, Any]) -> None:
        self.response_id = _id("resp")
        self._cancel_reason = "client_cancelled"
        # Known before the task runs, so a truncate of the previous item never hits this response.
        self._response_item_id = _id("item")
        self.response_task = asyncio.ensure_future(
            self._respond(self.response_id, options, self._response_item_id)
        )
        self.response_task.add_done_callback(_consume)

    async def _stop_response(self, reason: str = "client_cancelled") -> None:
        task = self.response_task
        if task is None or task.done():
            return
        self._cancel_reason = reason
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, _Dropped, ConnectionResetError):
            await task

    async def _reply_text(self, options: dict[str, Any]) -> tuple[str, float, tools.Call | None]:
        """The reply, the seconds of user audio it answers, and the function call made instead, if any."""
        last = self.items.get(self._last_item_id() or "")
        if last is not None and last.get("type") == "function_call_output":
            return await self._answer_output(options, last)
        items = list(self.items.values())
        at = next((n for n in range(len(items) - 1, -1, -1) if items[n].get("role") == "user"), None)
        user = None if at is None else items[at]
        if user is not None and any(i.get("role") == "assistant" for i in items[at + 1 :]):
            self.answered.add(user["id"])  # answered earlier (e.g. history a client created again)
        text: str | None = None
        seconds = 0.0
        if user is not None and user["id"] not in self.answered:
            self.answered.add(user["id"])
            texts = [p["text"] for p in user["content"] if p["type"] == "input_text"]
            if user["id"] in self.user_seconds:
                seconds = self.user_seconds[user["id"]]
                text = await asyncio.shield(self.transcripts[user["id"]]) or None
            if texts:
                text = " ".join(texts)
        elif options.get("instructions"):
            text = options["instructions"]
        call = tools.choose_call(*self._tools(options), text, answering_output=False)
        if call is not None:
            return "", seconds, call
        result = self.ctx.reply(text, seconds)
        if inspect.isawaitable(result):
            result = await result
        return " ".join(str(result).split()), seconds, None

    async def _answer_output(
        self, options: dict[str, Any], output: dict[str, Any]
    ) -> tuple[str, float, tools.Call | None]:
        call = tools.choose_call(*self._tools(options), None, answering_output=True)
        if call is not None:
            return "", 0.0, call
        name = next(
            (i["name"] for i in self.items.values() if i.get("call_id") == output["call_id"] and "name" in i),
            "the function",
        )
        return " ".join(f"{name} returned {output['output']}".split()), 0.0, None

    def _tools(self, options: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
        """The tools and tool_choice of this response: its own if it names them, else the session's."""
        return (
            options.get("tools", self.session.get("tools") or []),
            options.get("tool_choice", self.session.get("tool_choice", "auto")),
        )

    async def _send_function_call(
        self, response_id: str, item_id: str, call: tools.Call, out_of_band: bool, previous: str | None
    ) -> dict[str, Any]:
        """A function_call output item: added, its arguments streamed, done. Returns the item."""
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": call.name,
            "call_id": _id("call"),
            "arguments": "",
        }
        head = {"response_id": response_id, "output_index": 0}
        await self.send({"type": "response.output_item.added", **head, "item": dict(item)})
        if not out_of_band:
            self.items[item["id"]] = item
            await self.send(
                {"type": "conversation.item.added", "previous_item_id": previous, "item": dict(item)}
            )
        where = {**head, "item_id": item["id"], "call_id": item["call_id"]}
        for start in range(0, len(call.arguments), 16):
            await self.send(
                {
                    "type": "response.function_call_arguments.delta",
                    **where,
                    "delta": call.arguments[start : start + 16],
                }
            )
        await self.send(
            {"type": "response.function_call_arguments.done", **where, "arguments": call.arguments}
        )
        item.update(status="completed", arguments=call.arguments)
        await self.send({"type": "response.output_item.done", **head, "item": item})
        if not out_of_band:
            await self.send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})
        return item

    async def _send_message(
        self,
        response_id: str,
        item: dict[str, Any],
        reply: str,
        spoken: list[str],
        *,
        voice: str,
        text_only: bool,
        out_of_band: bool,
        previous: str | None,
        truncated_by_tokens: bool,
    ) -> int:
        """An assistant message output item: added, its words (and speech) streamed, done.

        `item` and `spoken` are filled in as it goes, so a cancel can report what was said.
        Returns the bytes of audio sent.
        """
        ga = self.protocol == "ga"
        part_type = ("output_text" if ga else "text") if text_only else ("output_audio" if ga else "audio")
        audio_bytes = 0
        await self.send(
            {
                "type": "response.output_item.added",
                "response_id": response_id,
                "output_index": 0,
                "item": dict(item),
            }
        )
        if not out_of_band:
            self.items[item["id"]] = item
            await self.send(
                {"type": "conversation.item.added", "previous_item_id": previous, "item": dict(item)}
            )
        empty_part = {"type": part_type, "text": ""} if text_only else {"type": part_type, "transcript": ""}
        ids = {"response_id": response_id, "item_id": item["id"], "output_index": 0, "content_index": 0}
        await self.send({"type": "response.content_part.added", **ids, "part": empty_part})
        item["content"] = [dict(empty_part)]
        if text_only:
            for i, word in enumerate(reply.split()):
                delta = word if i == 0 else " " + word
                spoken.append(word)
                item["content"][0]["text"] = " ".join(spoken)
                await self.send({"type": "response.output_text.delta", **ids, "delta": delta})
            await self.send({"type": "response.output_text.done", **ids, "text": reply})
            final_part = {"type": part_type, "text": reply}
        else:
            speech = await asyncio.get_running_loop().run_in_executor(None, speak, reply, voice)
            self.word_times[item["id"]] = speech.words
            audio_bytes = await self._stream_audio(speech, ids, item, spoken)
            await self.send({"type": "response.output_audio.done", **ids})
            await self.send({"type": "response.output_audio_transcript.done", **ids, "transcript": reply})
            final_part = {"type": part_type, "transcript": reply}
        item["content"] = [final_part]
        item["status"] = "incomplete" if truncated_by_tokens else "completed"
        await self.send({"type": "response.content_part.done", **ids, "part": final_part})
        await self.send(
            {
                "type": "response.output_item.done",
                "response_id": response_id,
                "output_index": 0,
                "item": item,
            }
        )
        if not out_of_band:
            await self.send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})
        return audio_bytes

    async def _respond(self, response_id: str, options: dict[str, Any], item_id: str) -> None:
        ga = self.protocol == "ga"
        mods = options.get("output_modalities" if ga else "modalities")
        text_only = ("audio" not in mods) if mods else session_config.text_only(self.protocol, self.session)
        voice = (
            options.get("voice")
            if not ga
            else ((options.get("audio") or {}).get("output") or {}).get("voice")
        ) or session_config.voice(self.protocol, self.session)
        out_of_band = options.get("conversation") == "none"
        response = {
            "object": "realtime.response",
            "id": response_id,
            "status": "in_progress",
            "status_details": None,
            "output": [],
            "conversation_id": None if out_of_band else "conv_emulator",
            ("output_modalities" if ga else "modalities"): (
                ["text"] if text_only else (["audio"] if ga else ["text", "audio"])
            ),
            "metadata": options.get("metadata"),
            "usage": None,
        }
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        spoken: list[str] = []
        audio_bytes = 0
        started = False
        reply = ""
        user_seconds = 0.0
        try:
            await self.send({"type": "response.created", "response": dict(response)})
            started = True
            reply, user_seconds, call = await self._reply_text(options)
            reply, truncated_by_tokens = self._limit_tokens(reply, options)
            previous = self._last_item_id()
            if call is not None:
                item = await self._send_function_call(response_id, item_id, call, out_of_band, previous)
                status, details = "completed", None
            else:
                audio_bytes = await self._send_message(
                    response_id,
                    item,
                    reply,
                    spoken,
                    voice=voice,
                    text_only=text_only,
                    out_of_band=out_of_band,
                    previous=previous,
                    truncated_by_tokens=truncated_by_tokens,
                )
                status = "incomplete" if truncated_by_tokens else "completed"
                details = (
                    {"type": "incomplete", "reason": "max_output_tokens"} if truncated_by_tokens else None
                )
        except asyncio.CancelledError:
            if self._closing or not started:
                raise
            status, details = "cancelled", {"type": "cancelled", "reason": self._cancel_reason}
            item["status"] = "incomplete"
            if item.get("content"):
                key = "text" if text_only else "transcript"
                item["content"][0][key] = " ".join(spoken)
            if item.get("content"):
                await self.send(
                    {
                        "type": "response.output_item.done",
                        "response_id": response_id,
                        "output_index": 0,
                        "item": item,
                    }
                )
        response.update(
            status=status,
            status_details=details,
            output=[item] if item.get("content") or item["type"] == "function_call" else [],
            usage=self._usage(reply, user_seconds, audio_bytes, text_only),
        )
        self.ctx.stats.responses += 1
        self.idle_since = self.stream_samples
        await self.send({"type": "response.done", "response": response})
        await self.send(
            {
                "type": "rate_limits.updated",
                "rate_limits": self._rate_limits(response["usage"]["total_tokens"]),
            }
        )

    async def _stream_audio(
        self, speech: Speech, ids: dict[str, Any], item: dict[str, Any], spoken: list[str]
    ) -> int:
        fmt = self._format("output")
        pcm = speech.audio
        total = len(pcm) * BYTES_PER_SAMPLE
        sizes = list(OUTPUT_DELTA_BYTES)
        words = list(speech.words)
        offset = 0
        t0 = time.monotonic()
        pace = self.ctx.output_pace
        item_id = ids["item_id"]
        self.audio_sent_ms[item_id] = 0.0
        while offset < total:
            size = sizes.pop(0) if len(sizes) > 1 else sizes[0]
            chunk = pcm[offset // 2 : (offset + size) // 2]
            end_s = (offset + len(chunk) * 2) / (SAMPLE_RATE * BYTES_PER_SAMPLE)
            # Transcript deltas for the words that begin within this chunk go just before it.
            while words and words[0][1] < end_s:
                word, _ = words.pop(0)
                await self.send(
                    {
                        "type": "response.output_audio_transcript.delta",
                        **ids,
                        "delta": word if not spoken else " " + word,
                    }
                )
                spoken.append(word)
                item["content"][0]["transcript"] = " ".join(spoken)
            data = (
                chunk.tobytes()
                if fmt == "pcm16"
                else g711.encode(chunk, "ulaw" if fmt == "g711_ulaw" else "alaw")
            )
            await self.send(
                {"type": "response.output_audio.delta", **ids, "delta": base64.b64encode(data).decode()}
            )
            self.audio_produced = True
            offset += len(chunk) * 2
            self.audio_sent_ms[item_id] = end_s * 1000
            if pace and pace > 0 and offset < total:
                wait = t0 + end_s / pace - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
        for word, _ in words:
            await self.send(
                {
                    "type": "response.output_audio_transcript.delta",
                    **ids,
                    "delta": word if not spoken else " " + word,
                }
            )
            spoken.append(word)
        item["content"][0]["transcript"] = " ".join(spoken)
        return total

    def _limit_tokens(self, reply: str, options: dict[str, Any]) -> tuple[str, bool]:
        key = "max_output_tokens" if self.protocol == "ga" else "max_response_output_tokens"
        limit = options.get(key, self.session.get(key, "inf"))
        words = reply.split()
        if isinstance(limit, int) and not isinstance(limit, bool) and len(words) > limit:
            return " ".join(words[:limit]), True
        return reply, False

    def _usage(self, reply: str, user_seconds: float, audio_bytes: int, text_only: bool) -> dict[str, Any]:
        # Rough but consistent token counts: ~1.3 tokens per word, 10 audio tokens per input second,
        # 20 per output second.
        text_in = sum(
            int(len(p.get("text", "").split()) * 1.3) + 1
            for i in self.items.values()
            for p in i.get("content", [])
            if "text" in p
        )
        audio_in = int(round(user_seconds * 10))
        text_out = int(len(reply.split()) * 1.3) + 1
        audio_out = 0 if text_only else int(round(audio_bytes / (SAMPLE_RATE * BYTES_PER_SAMPLE) * 20))
        return {
            "total_tokens": text_in + audio_in + text_out + audio_out,
            "input_tokens": text_in + audio_in,
            "output_tokens": text_out + audio_out,
            "input_token_details": {
                "text_tokens": text_in,
                "audio_tokens": audio_in,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0},
            },
            "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
        }

    def _rate_limits(self, used: int) -> list[dict[str, Any]]:
        return [
            {"name": "requests", "limit": 1000, "remaining": 999, "reset_seconds": 60.0},
            {"name": "tokens", "limit": 100_000, "remaining": max(0, 100_000 - used), "reset_seconds": 60.0},
        ]
