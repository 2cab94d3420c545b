"""Audio chat completions (`gpt-4o-audio-preview`): `speak`, `AudioChat`, `AudioReply`.

One HTTP request per turn, as in the Azure quickstarts: text or audio in, text + audio out.
Later turns refer to earlier assistant audio by its `id` (the service keeps it until
`expires_at`), so the history stays small. `ask(..., on_audio=fn)` streams the reply (PCM16,
the one format the service streams) and hands each piece to `fn` as it arrives.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import audio as _audio
from . import cassette
from .config import ConnectionConfig
from .errors import (
    AudioInputError,
    CassetteMismatch,
    ConnectionFailed,
    RealtimeWidgetsError,
    explain_http_error,
)
from .protocol import COMPLETION_OUTPUT_FORMATS, MAX_AUDIO_FILE_BYTES, SAMPLE_RATE, VOICES

__all__ = ["AudioChat", "AudioReply", "speak"]

SPEAK_INSTRUCTIONS = "Read the user's message aloud exactly as written. Say nothing else."
_MIME = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "opus": "audio/ogg",
    "pcm16": "audio/wav",
}


@dataclass
class AudioReply:
    """One assistant reply: transcript/text, decoded audio, and the id later turns refer to."""

    id: str | None
    transcript: str
    text: str | None
    audio: np.ndarray  # int16 mono at `rate`
    rate: int = SAMPLE_RATE
    format: str = "wav"
    data: bytes = field(default=b"", repr=False)  # the encoded audio exactly as received
    expires_at: int | None = None
    usage: dict[str, Any] | None = field(default=None, repr=False)
    model: str | None = None

    @property
    def duration_s(self) -> float:
        return _audio.duration_s(self.audio, self.rate)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the audio; the received bytes when the suffix matches, else re-encoded (wav, mp3, flac...)."""
        p = Path(path)
        suffix = p.suffix.lower().lstrip(".")
        if not suffix:
            p = p.with_suffix(".wav" if self.format == "pcm16" else f".{self.format}")
            suffix = p.suffix.lstrip(".")
        if suffix == self.format and self.data:
            p.write_bytes(self.data)
            return p
        return _audio.save_audio(self.audio, p, self.rate)

    def wav(self) -> bytes:
        return _audio.wav_bytes(self.audio, self.rate)

    def _repr_html_(self) -> str:
        if self.data and self.format in ("wav", "mp3", "flac", "opus"):
            mime, payload = _MIME[self.format], self.data
        else:
            mime, payload = "audio/wav", self.wav()
        src = f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"
        words = html.escape(self.transcript or self.text or "")
        return (
            f'<div class="rw-audio-reply"><audio controls src="{src}"></audio>'
            f"<div>{words}</div><small>{self.duration_s:.1f} s · {html.escape(self.format)}</small></div>"
        )


def _decode_reply_audio(data: bytes, fmt: str) -> tuple[np.ndarray, int]:
    if not data:
        return np.zeros(0, dtype=np.int16), SAMPLE_RATE
    if fmt == "pcm16":  # raw PCM16 mono at 24 kHz
        return np.frombuffer(data, dtype="<i2").astype(np.int16), SAMPLE_RATE
    samples, rate = _audio.decode_bytes(data, name=f"reply audio ({fmt})")
    return np.clip(np.rint(samples * 32767.0), -32768, 32767).astype(np.int16), rate


def _reply_from_completion(completion: Any, fmt: str) -> AudioReply:
    if not completion.choices:
        raise RealtimeWidgetsError(
            "the service returned no choices; retry, or check the deployment's content filter"
        )
    message = completion.choices[0].message
    audio = getattr(message, "audio", None)
    data = base64.b64decode(audio.data) if audio is not None and audio.data else b""
    samples, rate = _decode_reply_audio(data, fmt)
    usage = completion.usage.model_dump() if getattr(completion, "usage", None) is not None else None
    return AudioReply(
        id=audio.id if audio is not None else None,
        transcript=(audio.transcript or "") if audio is not None else "",
        text=message.content,
        audio=samples,
        rate=rate,
        format=fmt,
        data=data,
        expires_at=getattr(audio, "expires_at", None),
        usage=usage,
        model=getattr(completion, "model", None),
    )


AudioCallback = Callable[[np.ndarray], Any]


class _StreamedReply:
    """An AudioReply built from streamed chunks; each audio piece goes to `on_audio` on arrival."""

    def __init__(self, on_audio: AudioCallback) -> None:
        self.on_audio = on_audio
        self.pcm = bytearray()
        self.transcript: list[str] = []
        self.text: list[str] = []
        self.id: str | None = None
        self.expires_at: int | None = None
        self.usage: dict[str, Any] | None = None
        self.model: str | None = None

    def add(self, chunk: Any) -> None:
        self.model = getattr(chunk, "model", None) or self.model
        if getattr(chunk, "usage", None) is not None:
            self.usage = chunk.usage.model_dump()
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                self.text.append(delta.content)
            audio = getattr(delta, "audio", None)
            if audio is None:
                continue
            self.id = audio.id or self.id
            self.expires_at = audio.expires_at or self.expires_at
            if audio.transcript:
                self.transcript.append(audio.transcript)
            if audio.data:
                whole = len(self.pcm) // 2  # samples handed on so far
                self.pcm += base64.b64decode(audio.data)
                # A piece may end mid-sample; the odd byte waits for the next one.
                fresh = bytes(self.pcm[whole * 2 : len(self.pcm) // 2 * 2])
                if fresh:
                    self.on_audio(np.frombuffer(fresh, dtype="<i2").astype(np.int16))

    def reply(self) -> AudioReply:
        data = bytes(self.pcm[: len(self.pcm) // 2 * 2])
        return AudioReply(
            id=self.id,
            transcript="".join(self.transcript),
            text="".join(self.text) or None,
            audio=np.frombuffer(data, dtype="<i2").astype(np.int16),
            format="pcm16",
            data=data,
            expires_at=self.expires_at,
            usage=self.usage,
            model=self.model,
        )


def _input_audio_part(audio: Any, rate: int | None) -> dict[str, Any]:
    """`input_audio` content part: any input → PCM16 24 kHz → wav, size-checked before upload."""
    limit_mb = MAX_AUDIO_FILE_BYTES / 1024 / 1024
    if isinstance(audio, (str, os.PathLike)):
        size = Path(audio).stat().st_size if Path(audio).exists() else 0
        if size > MAX_AUDIO_FILE_BYTES:
            raise AudioInputError(
                f"{audio} is {size / 1024 / 1024:.1f} MB; audio chat completions accept at most "
                f"{limit_mb:.0f} MB of audio per request — trim or split it first"
            )
    wav = _audio.wav_bytes(_audio.to_pcm16(audio, rate=rate))
    if len(wav) > MAX_AUDIO_FILE_BYTES:
        minutes = MAX_AUDIO_FILE_BYTES / (SAMPLE_RATE * 2) / 60
        raise AudioInputError(
            f"the audio is {len(wav) / 1024 / 1024:.1f} MB as 24 kHz wav; audio chat completions accept at most "
            f"{limit_mb:.0f} MB per request (about {minutes:.0f} minutes) — trim or split it first"
        )
    return {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(wav).decode("ascii"), "format": "wav"},
    }


class AudioChat:
    """A multi-turn audio chat: `chat.ask("text")`, `chat.ask(audio="q.mp3")`, `await chat.ask_async(...)`.

    Keeps the history; earlier assistant replies are referenced by audio id, as the service requires.
    """

    def __init__(
        self,
        connection: ConnectionConfig | None = None,
        *,
        voice: str = "alloy",
        format: str = "wav",
        instructions: str | None = None,
        deployment: str | None = None,
        client: Any = None,
        record: str | os.PathLike[str] | None = None,
        record_mode: str | None = None,
    ) -> None:
        """`client`: an `openai` async client to share between chats (e.g. one pool for a batch).

        `record=FOLDER` records each request and reply to a cassette, or replays them, by
        `record_mode` ("none", "once" (default), "all"); REALTIME_WIDGETS_CASSETTE does it for
        every chat of a run (docs/cassettes.md)."""
        if voice not in VOICES:
            raise ValueError(f"voice={voice!r} is not allowed; choose one of: {', '.join(VOICES)}")
        if format not in COMPLETION_OUTPUT_FORMATS:
            raise ValueError(
                f"format={format!r} is not allowed; choose one of: {', '.join(COMPLETION_OUTPUT_FORMATS)}"
            )
        self.connection, self._recorder = cassette.for_chat(connection, record, record_mode)
        self.voice = voice
        self.format = format
        self.deployment = deployment or self.connection.chat_deployment
        self.messages: list[dict[str, Any]] = []
        if instructions:
            self.messages.append({"role": "system", "content": instructions})
        self.replies: list[AudioReply] = []
        self._sync_client: Any = None
        self._async_client: Any = client
        self._owns_async_client = client is None  # a shared `client=` is its owner's to close

    def close(self) -> None:
        """Close the HTTP client `ask` opened (the history stays; a later `ask` opens a new one).

        A chat used with `ask_async` closes with `await chat.aclose()` (or `async with`): its client
        belongs to the event loop it ran on."""
        client, self._sync_client = self._sync_client, None
        if client is not None:
            client.close()
        if self._owns_async_client and self._async_client is not None:
            raise RuntimeError("this chat used ask_async: close it with `await chat.aclose()`")

    async def aclose(self) -> None:
        """Close the HTTP clients `ask` and `ask_async` opened (the history stays)."""
        client, self._sync_client = self._sync_client, None
        if client is not None:
            client.close()
        if self._owns_async_client:
            async_client, self._async_client = self._async_client, None
            if async_client is not None:
                await async_client.close()

    def __enter__(self) -> AudioChat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> AudioChat:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AudioChat({self.connection.describe()} · chat deployment {self.deployment}, turns={len(self.replies)})"

    def reset(self) -> None:
        """Forget the conversation (keeps the system instructions)."""
        self.messages = [m for m in self.messages if m["role"] == "system"]
        self.replies = []

    def _user_message(self, text: str | None, audio: Any, rate: int | None) -> dict[str, Any]:
        if text is None and audio is None:
            raise ValueError("ask() needs text=, audio=, or both")
        if text is not None and not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        parts: list[dict[str, Any]] = []
        if text:
            parts.append({"type": "text", "text": text})
        if audio is not None:
            parts.append(_input_audio_part(audio, rate))
        if not parts:
            raise ValueError("ask() got an empty text and no audio; say something")
        return {"role": "user", "content": parts}

    def _request(self, user: dict[str, Any], streamed: bool = False) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.deployment,
            "modalities": ["text", "audio"],
            "audio": {"voice": self.voice, "format": "pcm16" if streamed else self.format},
            "messages": [*self.messages, user],
        }
        if streamed:
            request.update(stream=True, stream_options={"include_usage": True})
        return request

    @staticmethod
    def _streamed(on_audio: AudioCallback | None) -> _StreamedReply | None:
        if on_audio is None:
            return None
        if not callable(on_audio):
            raise TypeError(f"on_audio must be a callable taking int16 audio, got {type(on_audio).__name__}")
        return _StreamedReply(on_audio)

    def _remember(
        self, user: dict[str, Any], reply: AudioReply, request: dict[str, Any], answer: Any
    ) -> AudioReply:
        if self._recorder is not None:  # the completion (or its chunks) as the service sent it
            body = [c.model_dump() for c in answer] if isinstance(answer, list) else answer.model_dump()
            self._recorder.record(request, body)
        self.messages.append(user)
        if reply.id:
            self.messages.append({"role": "assistant", "audio": {"id": reply.id}})
        else:
            self.messages.append({"role": "assistant", "content": reply.text or reply.transcript})
        self.replies.append(reply)
        return reply

    def _translate(self, exc: Exception) -> Exception:
        import openai

        if isinstance(exc, openai.APIStatusError):
            body = exc.body if isinstance(exc.body, dict) else {}
            if body.get("code") == CassetteMismatch.CODE:  # the replaying emulator: the run diverged
                return CassetteMismatch(str(body.get("message")), code=CassetteMismatch.CODE, event=body)
            return explain_http_error(exc, self.connection)
        if isinstance(exc, openai.APIConnectionError):
            err = ConnectionFailed(
                f"Could not reach {self.connection.describe()}: {exc}. Check AZURE_OPENAI_ENDPOINT and your network."
            )
            err.__cause__ = exc
            return err
        return exc

    def ask(
        self,
        text: str | None = None,
        audio: Any = None,
        *,
        rate: int | None = None,
        on_audio: AudioCallback | None = None,
    ) -> AudioReply:
        """Send one user turn (text, audio or both) and return the spoken reply.

        `on_audio`: stream the reply and call `on_audio(int16 array at 24 kHz)` for each piece as
        it arrives (`player.enqueue` plays it); the reply's format is then "pcm16".
        """
        import openai

        user = self._user_message(text, audio, rate)
        streamed = self._streamed(on_audio)
        if self._sync_client is None:
            self._sync_client = self.connection.sync_client()
        request = self._request(user, streamed is not None)
        chunks: list[Any] = []
        try:
            result = self._sync_client.chat.completions.create(**request)
            if streamed is None:
                return self._remember(user, _reply_from_completion(result, self.format), request, result)
            for chunk in result:
                streamed.add(chunk)
                chunks.append(chunk)
        except (openai.APIStatusError, openai.APIConnectionError) as exc:
            raise self._translate(exc) from exc
        return self._remember(user, streamed.reply(), request, chunks)

    async def ask_async(
        self,
        text: str | None = None,
        audio: Any = None,
        *,
        rate: int | None = None,
        on_audio: AudioCallback | None = None,
    ) -> AudioReply:
        """`ask` for running event loops (notebook cells with top-level await)."""
        import openai

        user = self._user_message(text, audio, rate)
        streamed = self._streamed(on_audio)
        if self._async_client is None:
            self._async_client = self.connection.chat_async_client()
        request = self._request(user, streamed is not None)
        chunks: list[Any] = []
        try:
            result = await self._async_client.chat.completions.create(**request)
            if streamed is None:
                return self._remember(user, _reply_from_completion(result, self.format), request, result)
            async for chunk in result:
                streamed.add(chunk)
                chunks.append(chunk)
        except (openai.APIStatusError, openai.APIConnectionError) as exc:
            raise self._translate(exc) from exc
        return self._remember(user, streamed.reply(), request, chunks)


def speak(
    text: str,
    voice: str = "alloy",
    format: str = "wav",
    *,
    connection: ConnectionConfig | None = None,
    instructions: str = SPEAK_INSTRUCTIONS,
) -> AudioReply:
    """Text → speech with an audio chat completion; the reply plays inline in a notebook."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("speak() needs a non-empty text")
    with AudioChat(connection, voice=voice, format=format, instructions=instructions) as chat:
        return chat.ask(text)
