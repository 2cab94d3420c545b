"""The input audio buffer of a realtime session: appends, commit and clear, server VAD, idle timeout.

Appends are amortised O(1): chunks are kept in a list and joined only when a turn is committed.
Outside speech only the prefix padding can still become part of a turn, so older audio is dropped.
"""

from __future__ import annotations

import base64
import binascii
from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np

from ..protocol import BYTES_PER_SAMPLE, MAX_APPEND_BYTES, MIN_COMMIT_MS, SAMPLE_RATE
from . import g711, session_config
from .errors import ServiceError
from .vad import Vad
from .wire import new_id

if TYPE_CHECKING:
    from .realtime import RealtimeSession


def ms(n_samples: int) -> int:
    return n_samples * 1000 // SAMPLE_RATE


def decode_audio(value: Any, param: str, fmt: str) -> np.ndarray:
    """Base64 audio in the session's input format (`pcm16`, `g711_ulaw`, `g711_alaw`) as int16 samples."""
    if not isinstance(value, str):
        raise ServiceError(
            f"'{param}' must be a base64 string of audio bytes, got {type(value).__name__}.",
            code="invalid_type",
            param=param,
        )
    if len(value) * 3 // 4 > MAX_APPEND_BYTES:
        raise ServiceError(
            f"'{param}' is larger than {MAX_APPEND_BYTES} bytes; send audio in smaller appends.", param=param
        )
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ServiceError(f"'{param}' is not valid base64 ({exc}).", param=param) from None
    if fmt == "pcm16":
        if len(raw) % BYTES_PER_SAMPLE:
            raise ServiceError(
                f"'{param}' has an odd number of bytes ({len(raw)}); pcm16 audio needs 2 bytes per sample.",
                param=param,
            )
        return np.frombuffer(raw, "<i2").astype(np.int16)
    return g711.decode(raw, "ulaw" if fmt == "g711_ulaw" else "alaw")


class _Chunks:
    """Uncommitted samples as a list of chunks; `start` is the stream position of the first one."""

    def __init__(self, start: int = 0) -> None:
        self.chunks: deque[np.ndarray] = deque()
        self.size = 0
        self.start = start

    def append(self, samples: np.ndarray) -> None:
        if len(samples):
            self.chunks.append(samples)
            self.size += len(samples)

    def keep_last(self, n: int) -> None:
        while self.chunks and self.size - len(self.chunks[0]) >= n:
            self.size -= len(self.chunks[0])
            self.start += len(self.chunks.popleft())

    def take(self, from_pos: int | None = None) -> np.ndarray:
        """All samples from stream position `from_pos` on (default: all), and empty the buffer."""
        joined = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)
        skip = 0 if from_pos is None else max(0, from_pos - self.start)
        self.start += self.size
        self.chunks.clear()
        self.size = 0
        return joined[skip:]


class InputAudio:
    def __init__(self, session: RealtimeSession) -> None:
        self.s = session
        self.buffer = _Chunks()
        self.stream_samples = 0
        self.vad: Vad | None = None
        self.speech_item_id: str | None = None
        self.speech_start_ms = 0
        # Stream position (samples) since which the user has been silent after a response, for idle_timeout_ms.
        self.idle_since: int | None = None

    def configure(self) -> None:
        td = session_config.turn_detection(self.s.protocol, self.s.session)
        if td is None:
            self.vad = None
            self.speech_item_id = None
        elif self.vad is None:
            self.vad = Vad(td)
            self.vad._pos_samples = self.stream_samples
        else:
            self.vad.configure(td)

    def _turn_detection(self) -> dict[str, Any]:
        return session_config.turn_detection(self.s.protocol, self.s.session) or {}

    async def append(self, event: dict[str, Any]) -> None:
        samples = decode_audio(event.get("audio"), "audio", self.s.audio_format("input"))
        self.buffer.append(samples)
        self.stream_samples += len(samples)
        if self.vad is None:
            return
        for vev in self.vad.feed(samples):
            if vev.kind == "started":
                await self._speech_started(vev.ms)
            else:
                await self._speech_stopped(vev.ms)
        if not self.vad.in_speech:
            self.buffer.keep_last(int(self.vad.prefix_ms * SAMPLE_RATE / 1000))
            await self._check_idle()

    async def _check_idle(self) -> None:
        """server_vad idle_timeout_ms: after a response, silence this long makes the model speak again."""
        timeout = self._turn_detection().get("idle_timeout_ms")
        if not timeout or self.idle_since is None or self.s.responses.active or self.s.kind != "realtime":
            return
        if ms(self.stream_samples - self.idle_since) < timeout:
            return
        item_id = new_id("item")
        start_ms, end_ms = ms(self.idle_since), ms(self.stream_samples)
        self.idle_since = None
        await self.s.wire.send(
            {
                "type": "input_audio_buffer.timeout_triggered",
                "audio_start_ms": start_ms,
                "audio_end_ms": end_ms,
                "item_id": item_id,
            }
        )
        self.buffer.take()
        # No speech was heard: the item carries no audio, so the reply gets (None, 0.0).
        await self.s.commit_audio(None, item_id)
        self.s.responses.start({})

    async def _speech_started(self, at_ms: int) -> None:
        self.idle_since = None
        self.speech_item_id = new_id("item")
        self.speech_start_ms = at_ms
        await self.s.wire.send(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": at_ms,
                "item_id": self.speech_item_id,
            }
        )
        if self._turn_detection().get("interrupt_response", True) and self.s.responses.active:
            await self.s.responses.stop("turn_detected")

    async def _speech_stopped(self, at_ms: int) -> None:
        item_id = self.speech_item_id or new_id("item")
        await self.s.wire.send(
            {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": at_ms, "item_id": item_id}
        )
        start = int((self.speech_start_ms - self.vad.prefix_ms) * SAMPLE_RATE / 1000) if self.vad else None
        audio = self.buffer.take(start)
        self.speech_item_id = None
        await self.s.commit_audio(audio, item_id)
        td = self._turn_detection()
        if self.s.kind == "realtime" and td.get("create_response", True) and not self.s.responses.active:
            self.s.responses.start({})

    async def commit(self, event: dict[str, Any]) -> None:
        have = ms(self.buffer.size)
        if have < MIN_COMMIT_MS:
            raise ServiceError(
                f"Error committing input audio buffer: buffer too small. Expected at least {MIN_COMMIT_MS}ms of audio, but buffer only has {have:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        item_id = self.speech_item_id or new_id("item")
        audio = self.buffer.take()
        self.speech_item_id = None
        if self.vad is not None:
            self.vad.reset_speech()
        await self.s.commit_audio(audio, item_id)

    async def clear(self, event: dict[str, Any]) -> None:
        self.buffer.take()
        self.speech_item_id = None
        if self.vad is not None:
            self.vad.reset_speech()
        await self.s.wire.send({"type": "input_audio_buffer.cleared"})
