"""Input audio transcription: the user's words streamed as deltas, then `.completed` with its usage.

The same path serves ordinary realtime sessions (with `audio.input.transcription` set) and
transcription sessions (`intent=transcription`), which have no responses.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from . import recognizer, session_config, usage

if TYPE_CHECKING:
    from .realtime import RealtimeSession


async def recognize(s: RealtimeSession, audio) -> str | None:
    if not s.ctx.recognize:
        return None
    return await recognizer.transcribe_async(audio, owner=s)


async def send(s: RealtimeSession, item_id: str, item: dict[str, Any]) -> None:
    text = await asyncio.shield(s.transcripts[item_id])
    head = {"item_id": item_id, "content_index": 0}
    if text is None:
        reason = (
            recognizer.unavailable_reason() or "local transcription is turned off (Emulator(recognize=False))"
        )
        await s.wire.send(
            {
                "type": "conversation.item.input_audio_transcription.failed",
                **head,
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
    for i, word in enumerate(text.split()):
        delta = word if i == 0 else " " + word
        await s.wire.send(
            {"type": "conversation.item.input_audio_transcription.delta", **head, "delta": delta}
        )
    model = (session_config.transcription(s.protocol, s.session) or {}).get("model", "whisper-1")
    await s.wire.send(
        {
            "type": "conversation.item.input_audio_transcription.completed",
            **head,
            "transcript": text,
            "usage": usage.transcription_usage(model, text, s.items.audio_seconds(item_id)),
        }
    )
