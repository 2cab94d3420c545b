"""The output items of a response, streamed: an assistant message (text, or speech with its transcript)
or a function call. Each closes what it opened, with its `.done` events, even when cancelled.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..protocol import BYTES_PER_SAMPLE, OUTPUT_DELTA_BYTES, SAMPLE_RATE
from . import g711, tools, usage
from .voice import Speech, speak_slices
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
    """An assistant message output item. `spoken` grows word by word, so a cancel knows what was said.

    Speech streams as it is synthesised, slice by slice; it stops where its output tokens would pass
    `token_limit` (`cut` is then True).
    """

    def __init__(
        self,
        s: RealtimeSession,
        response_id: str,
        item: dict[str, Any],
        *,
        text_only: bool,
        audio_format: str,
        out_of_band: bool,
        token_limit: int,
    ) -> None:
        self.s = s
        self.token_limit = token_limit
        self.cut = False
        self.t0 = 0.0  # when the first audio was streamed, for pacing
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
                async with contextlib.aclosing(speak_slices(reply, voice)) as speech:
                    await self._stream_audio(speech)
            complete = True
        finally:
            await self._close(complete and not cut_short and not self.cut)

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

    async def _stream_audio(self, slices: AsyncIterator[Speech]) -> None:
        sizes = list(OUTPUT_DELTA_BYTES)
        pending = np.zeros(0, np.int16)  # made, not yet sent
        words: list[tuple[str, float]] = []  # (word, start in seconds into the reply), not yet sent
        made_s = 0.0
        self.t0 = time.monotonic()
        self.s.responses.audio_sent_ms[self.item["id"]] = 0.0
        async for speech in slices:
            words += [(word, made_s + t) for word, t in speech.words]
            made_s += speech.duration_s
            pending = np.concatenate([pending, speech.audio])
            while len(pending) * BYTES_PER_SAMPLE >= sizes[0]:
                size = (sizes.pop(0) if len(sizes) > 1 else sizes[0]) // BYTES_PER_SAMPLE
                if not await self._send_chunk(pending[:size], words, more=True):
                    return
                pending = pending[size:]
        while len(pending):
            size = (sizes.pop(0) if len(sizes) > 1 else sizes[0]) // BYTES_PER_SAMPLE
            if not await self._send_chunk(pending[:size], words, more=len(pending) > size):
                return
            pending = pending[size:]
        for word, _ in words:
            await self._word(word)

    async def _send_chunk(self, chunk: np.ndarray, words: list[tuple[str, float]], more: bool) -> bool:
        """One audio delta, after the transcript deltas of the words that begin in it; False (and
        `cut`) when it would take the response past its output token limit."""
        start = self.audio_bytes
        end_s = (start + len(chunk) * BYTES_PER_SAMPLE) / (SAMPLE_RATE * BYTES_PER_SAMPLE)
        starting = [w for w in words if w[1] < end_s]
        tokens = usage.output_tokens(len(self.spoken) + len(starting), start + len(chunk) * BYTES_PER_SAMPLE)
        if tokens > self.token_limit:
            self.cut = True
            return False
        for _ in starting:
            await self._word(words.pop(0)[0])
        sink = self.s.wire.audio_sink
        if sink is not None:  # WebRTC: the audio goes out on the media track, not as events
            sink.play(self.ids["response_id"], self.item["id"], chunk)
        else:
            data = (
                chunk.tobytes()
                if self.audio_format == "pcm16"
                else g711.encode(chunk, "ulaw" if self.audio_format == "g711_ulaw" else "alaw")
            )
            await self.s.wire.send(
                {"type": "response.output_audio.delta", **self.ids, "delta": base64.b64encode(data).decode()}
            )
        self.s.audio_produced = True
        self.audio_bytes = start + len(chunk) * BYTES_PER_SAMPLE
        self.s.responses.audio_sent_ms[self.item["id"]] = end_s * 1000
        pace = self.s.ctx.output_pace
        if pace and pace > 0 and more:
            wait = self.t0 + end_s / pace - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        return True
