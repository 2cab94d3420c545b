"""Responses of a realtime session: `response.create` checked, one response streamed at a time from its
own task (so cancel, barge-in and truncate can interrupt it), and `response.done` with its usage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from . import reply_text, session_config, usage
from .errors import ServiceError
from .items import client_item
from .output_items import Message, function_call
from .voice import seconds_per_word
from .wire import Dropped, consume, new_id

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from .realtime import RealtimeSession

_PREVIEW_FORMATS = ("pcm16", "g711_ulaw", "g711_alaw")


class Responder:
    def __init__(self, session: RealtimeSession) -> None:
        self.s = session
        self.task: asyncio.Task | None = None
        self.response_id: str | None = None
        self.item_id: str | None = None  # the output item of the running response, known before it starts
        self.cancel_reason = "client_cancelled"
        self.answered: set[str] = set()  # user items a response already used
        self.audio_sent_ms: dict[str, float] = {}  # assistant item id -> ms of audio sent

    @property
    def active(self) -> bool:
        return self.task is not None and not self.task.done()

    async def create(self, event: dict[str, Any]) -> None:
        options = event.get("response") or {}
        if not isinstance(options, dict):
            raise ServiceError("'response' must be an object.", code="invalid_type", param="response")
        if self.active:
            raise ServiceError(
                f"Conversation already has an active response in progress: {self.response_id}. Wait until the response is finished before creating a new one.",
                code="conversation_already_has_active_response",
            )
        self.start(self._checked(options))

    async def cancel(self, event: dict[str, Any]) -> None:
        if not self.active:
            raise ServiceError(
                "Cancellation failed: no active response found.", code="response_cancel_not_active"
            )
        await self.stop("client_cancelled")

    def _checked(self, options: dict[str, Any]) -> dict[str, Any]:
        """The response's options, checked; `input` items are parsed into `_context`."""
        ga = self.s.protocol == "ga"
        session_config.check_response(self.s.protocol, options)
        mod_key = "output_modalities" if ga else "modalities"
        if mod_key in options:
            session_config.modalities_valid(self.s.protocol, options[mod_key], f"response.{mod_key}")
        if "instructions" in options and not isinstance(options["instructions"], str):
            raise ServiceError(
                "response.instructions must be a string.", code="invalid_type", param="response.instructions"
            )
        out = dict(options)
        audio_out: dict[str, Any] = {}
        if ga:
            audio = options.get("audio")
            if audio is not None and not isinstance(audio, dict):
                raise ServiceError(
                    "response.audio must be an object.", code="invalid_type", param="response.audio"
                )
            audio_out = (audio or {}).get("output") or {}
            if "format" in audio_out:
                fmt = session_config.ga_format(audio_out["format"], "response.audio.output.format")
                out["_format"] = session_config.GA_FORMAT_NAMES[fmt["type"]]
        elif "output_audio_format" in options:
            if options["output_audio_format"] not in _PREVIEW_FORMATS:
                raise ServiceError(
                    f"response.output_audio_format must be one of {', '.join(_PREVIEW_FORMATS)}.",
                    param="response.output_audio_format",
                )
            out["_format"] = options["output_audio_format"]
        voice = audio_out.get("voice") if ga else options.get("voice")
        if voice is not None:
            out["_voice"] = session_config.voice_name(voice, "response.voice")
        if "input" in options:
            out["_context"] = self._input(options["input"])
        return out

    def _input(self, value: Any) -> list[dict[str, Any]]:
        """Out-of-band `input`: items for this response alone, or references to conversation items."""
        if not isinstance(value, list):
            raise ServiceError(
                "response.input must be an array of items.", code="invalid_type", param="response.input"
            )
        context = []
        for i, item in enumerate(value):
            if isinstance(item, dict) and item.get("type") == "item_reference":
                ref = self.s.items.get(item.get("id"))
                if ref is None:
                    raise ServiceError(
                        f"response.input[{i}] references item {item.get('id')!r}, which does not exist.",
                        code="item_not_found",
                        param=f"response.input[{i}].id",
                    )
                context.append(ref)
                continue
            if isinstance(item, dict):
                item = {k: v for k, v in item.items() if k != "id"}  # ids of out-of-band items are not kept
            stored, _ = client_item(item, self.s.items, self.s.decode_input_audio, self.s.protocol)
            context.append(stored)
        return context

    def start(self, options: dict[str, Any]) -> None:
        self.response_id = new_id("resp")
        self.cancel_reason = "client_cancelled"
        # Known before the task runs, so a truncate of the previous item never hits this response.
        self.item_id = new_id("item")
        self.task = asyncio.ensure_future(self._respond(self.response_id, options, self.item_id))
        self.task.add_done_callback(consume)

    async def stop(self, reason: str = "client_cancelled") -> None:
        task = self.task
        if task is None or task.done():
            return
        self.cancel_reason = reason
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Dropped, ConnectionResetError):
            await task

    async def _respond(self, response_id: str, options: dict[str, Any], item_id: str) -> None:
        s = self.s
        ga = s.protocol == "ga"
        mods = options.get("output_modalities" if ga else "modalities")
        text_only = ("audio" not in mods) if mods else session_config.text_only(s.protocol, s.session)
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
        context = options.get("_context")
        output: dict[str, Any] = {"id": item_id, "type": "message"}
        said = ""
        spoken_seconds = 0.0
        audio_bytes = 0
        await s.wire.send({"type": "response.created", "response": dict(response)})
        try:
            # The service reports rate limits at the start of each response.
            estimate = usage.response_usage(context or s.items.values(), "", 0.0, 0, True)["total_tokens"]
            await s.wire.send({"type": "rate_limits.updated", "rate_limits": usage.rate_limits(estimate)})
            reply = await reply_text.choose(s, options, context)
            spoken_seconds = reply.user_seconds
            limit_key = "max_output_tokens" if ga else "max_response_output_tokens"
            limit = usage.token_limit(options.get(limit_key, s.session.get(limit_key)))
            voice = session_config.spoken_voice(
                options.get("_voice") or session_config.voice(s.protocol, s.session)
            )
            said, cut = usage.limit_words(reply.text, limit, 0.0 if text_only else seconds_per_word(voice))
            if reply.call is not None:
                output = await function_call(s, response_id, item_id, reply.call, out_of_band)
                status, details = "completed", None
            else:
                output = _assistant_item(item_id)
                message = Message(
                    s,
                    response_id,
                    output,
                    text_only=text_only,
                    audio_format=options.get("_format") or s.audio_format("output"),
                    out_of_band=out_of_band,
                    token_limit=limit,
                )
                try:
                    await message.stream(said, voice, cut)
                finally:
                    audio_bytes = message.audio_bytes
                    said = " ".join(message.spoken)
                cut = cut or message.cut
                status = "incomplete" if cut else "completed"
                details = {"type": "incomplete", "reason": "max_output_tokens"} if cut else None
        except asyncio.CancelledError:
            if s.closing:
                raise
            status, details = "cancelled", {"type": "cancelled", "reason": self.cancel_reason}
        except (Dropped, ConnectionResetError):
            raise
        except Exception as exc:  # a response always ends: failed, saying why, as the service reports it
            log.exception("emulator response %s failed", response_id)
            status, details = "failed", _failure(exc)
        response.update(
            status=status,
            status_details=details,
            output=[output] if "status" in output else [],
            usage=usage.response_usage(
                context or s.items.values(), said, spoken_seconds, audio_bytes, text_only
            ),
        )
        s.ctx.stats.responses += 1
        s.input.idle_since = s.input.stream_samples
        await s.wire.send({"type": "response.done", "response": response})


def _assistant_item(item_id: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "assistant",
        "status": "in_progress",
        "content": [],
    }


def _failure(exc: Exception) -> dict[str, Any]:
    return {
        "type": "failed",
        "error": {
            "type": "server_error",
            "code": "server_error",
            "message": f"The emulator could not finish this response: {type(exc).__name__}: {exc}",
        },
    }
