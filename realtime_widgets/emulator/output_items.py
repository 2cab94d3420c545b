"""The output items of a response, streamed: an assistant message (text, or speech with its transcript)
or a function call. Each closes what it opened, with its `.done` events, even when cancelled.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import TYPE_CHECKING, Any

from ..protocol import BYTES_PER_SAMPLE, OUTPUT_DELTA_BYTES, SAMPLE_RATE
from . import g711, tools
from .voice import Speech, speak
from .wire import new_id

if TYPE_CHECKING:
    from .realtime import RealtimeSession


class _Item:
    """An output item's place: its response, whether it joins the conversation, and what comes before it."""

    def __init__(self, s: RealtimeSession, response_id: str, item: dict[str, Any], out_of_band: bool):
        self.s = s
        self.item = item
        self.head = {"response_id": response_id, "output_index": 0}
        self.out_of_band = out_of_band
        self.previous: str | None = None

    async def added(self) -> None:
        await self.s.wire.send({"type": "response.output_item.added", **self.head, "item": dict(self.item)})
        if not self.out_of_band:
            self.previous = self.s.items.insert(self.item)
            await self.s.wire.send(
                {
                    "type": "conversation.item.added",
                    "previous_item_id": self.previous,
                    "item": dict(self.item),
                }
            )

    async def done(self) -> None:
        await self.s.wire.send({"type": "response.output_item.done", **self.head, "item": self.item})
        if not self.out_of_band:
            await self.s.wire.send(
                {"type": "conversation.item.done", "previous_item_id": self.previous, "item": self.item}
            )


async def function_call(
    s: RealtimeSession, response_id: str, item_id: str, call: tools.Call, out_of_band: bool
) -> dict[str, Any]:
    """A function_call output item: added, its arguments streamed, done. Returns the item."""
    item = {
        "id": item_id,
        "object": "realtime.item",
        "type": "function_call",
        "status": "in_progress",
        "name": call.name,
        "call_id": new_id("call"),
        "arguments": "",
    }
    out = _Item(s, response_id, item, out_of_band)
    await out.added()
    where = {**out.head, "item_id": item_id, "call_id": item["call_id"]}
    sent = 0
    try:
        for sent in range(0, len(call.arguments), 16):
            delta = call.arguments[sent : sent + 16]
            await s.wire.send({"type": "response.function_call_arguments.delta", **where, "delta": delta})
        sent = len(call.arguments)
    finally:
        if s.closing:
            return item  # noqa: B012 - the socket is gone: nothing left to close on it
        complete = sent == len(call.arguments)
        item.update(status="completed" if complete else "incomplete", arguments=call.arguments[:sent])
        await s.wire.send(
            {
                "type": "response.function_call_arguments.done",
                **where,
                "name": call.name,
                "arguments": item["arguments"],
            }
        )
        await out.done()
    return item


class Message:
    """An assistant message output item. `spoken` grows word by word, so a cancel knows what was said."""

    def __init__(
        self,
        s: RealtimeSession,
        response_id: str,
        item: dict[str, Any],
        *,
        text_only: bool,
        audio_format: str,
        out_of_band: bool,
    ) -> None:
        self.s = s
        self.item = item
        self.out = _Item(s, response_id, item, out_of_band)
        self.text_only = text_only
        self.audio_format = audio_format
        self.spoken: list[str] = []
        self.audio_bytes = 0
        ga = s.protocol == "ga"
        # The SDK declares "text" | "audio" for content-part events, output_* for the item's content.
        self.event_part = "text" if text_only else "audio"
        self.item_part = ("output_" if ga else "") + self.event_part
        self.ids = {**self.out.head, "item_id": item["id"], "content_index": 0}

    async def stream(self, reply: str, voice: str, cut_short: bool) -> None:
        await self.out.added()
        key = "text" if self.text_only else "transcript"
        await self.s.wire.send(
            {"type": "response.content_part.added", **self.ids, "part": {"type": self.event_part, key: ""}}
        )
        self.item["content"] = [{"type": self.item_part, key: ""}]
        complete = False
        try:
            if self.text_only:
                for word in reply.split():
                    delta = word if not self.spoken else " " + word
                    self.spoken.append(word)
                    self.item["content"][0]["text"] = " ".join(self.spoken)
                    await self.s.wire.send({"type": "response.output_text.delta", **self.ids, "delta": delta})
            else:
                speech = await asyncio.get_running_loop().run_in_executor(None, speak, reply, voice)
                await self._stream_audio(speech)
            complete = True
        finally:
            await self._close(complete and not cut_short)

    async def _close(self, complete: bool) -> None:
        if self.s.closing:
            return  # the socket is gone: nothing left to close on it
        said = " ".join(self.spoken)
        if self.text_only:
            await self.s.wire.send({"type": "response.output_text.done", **self.ids, "text": said})
            part = {"text": said}
        else:
            await self.s.wire.send({"type": "response.output_audio.done", **self.ids})
            await self.s.wire.send(
                {"type": "response.output_audio_transcript.done", **self.ids, "transcript": said}
            )
            part = {"transcript": said}
        self.item["content"] = [{"type": self.item_part, **part}]
        self.item["status"] = "completed" if complete else "incomplete"
        await self.s.wire.send(
            {"type": "response.content_part.done", **self.ids, "part": {"type": self.event_part, **part}}
        )
        await self.out.done()

    async def _word(self, word: str) -> None:
        delta = word if not self.spoken else " " + word
        await self.s.wire.send({"type": "response.output_audio_transcript.delta", **self.ids, "delta": delta})
        self.spoken.append(word)
        self.item["content"][0]["transcript"] = " ".join(self.spoken)

    async def _stream_audio(self, speech: Speech) -> None:
        pcm = speech.audio
        total = len(pcm) * BYTES_PER_SAMPLE
        sizes = list(OUTPUT_DELTA_BYTES)
        words = list(speech.words)
        offset = 0
        t0 = time.monotonic()
        pace = self.s.ctx.output_pace
        sent_ms = self.s.responses.audio_sent_ms
        sent_ms[self.item["id"]] = 0.0
        while offset < total:
            size = sizes.pop(0) if len(sizes) > 1 else sizes[0]
            chunk = pcm[offset // 2 : (offset + size) // 2]
            end_s = (offset + len(chunk) * 2) / (SAMPLE_RATE * BYTES_PER_SAMPLE)
            # Transcript deltas for the words that begin within this chunk go just before it.
            while words and words[0][1] < end_s:
                await self._word(words.pop(0)[0])
            data = (
                chunk.tobytes()
                if self.audio_format == "pcm16"
                else g711.encode(chunk, "ulaw" if self.audio_format == "g711_ulaw" else "alaw")
            )
            await self.s.wire.send(
                {"type": "response.output_audio.delta", **self.ids, "delta": base64.b64encode(data).decode()}
            )
            self.s.audio_produced = True
            offset += len(chunk) * 2
            self.audio_bytes = offset
            sent_ms[self.item["id"]] = end_s * 1000
            if pace and pace > 0 and offset < total:
                wait = t0 + end_s / pace - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
        for word, _ in words:
            await self._word(word)
