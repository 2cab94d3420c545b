"""AudioPlayer: streams a session's output audio to the page and knows what was heard.

Deltas go to the page as custom messages with binary PCM16 buffers; the page schedules them
back to back with Web Audio and reports the played position. On barge-in
(`input_audio_buffer.speech_started`) the player clears at once and, when the assistant's
audio was cut short, calls `session.interrupt(played_ms)` so the server's conversation is
truncated at what the user really heard. Without a page (headless, nbmake) the position is
estimated from the wall clock as if playback had started at the first delta.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import pathlib
import time
import uuid
from collections.abc import Callable
from typing import Any

import anywidget
import numpy as np
import traitlets

from ..events import parse_audio_ref
from ..protocol import SAMPLE_RATE

_HERE = pathlib.Path(__file__).parent
_log = logging.getLogger(__name__)

# Chunk size for `.play()` of a finished turn: small enough to start at once.
_PLAY_CHUNK_SAMPLES = SAMPLE_RATE // 5
_LEAD_MS = 40.0  # the page starts a stream this far ahead (player.js LEAD_S)


class _Stream:
    """What the kernel sent for one item (or one `.play()`), and what the page said about it."""

    __slots__ = ("id", "item_id", "sent_samples", "seq", "first_time", "page_ms", "page_time", "page_playing")

    def __init__(self, stream_id: str, item_id: str | None) -> None:
        self.id = stream_id
        self.item_id = item_id  # the session's assistant item; None for `.play()`
        self.sent_samples = 0
        self.seq = 0
        self.first_time = time.monotonic()
        self.page_ms: float | None = None
        self.page_time = 0.0
        self.page_playing = False

    @property
    def sent_ms(self) -> float:
        return self.sent_samples * 1000.0 / SAMPLE_RATE

    def played_ms(self) -> float:
        """Best estimate of the position now: the page's last report advanced by the clock."""
        now = time.monotonic()
        if self.page_ms is None:
            played = (now - self.first_time) * 1000.0 - _LEAD_MS
        elif self.page_playing:
            played = self.page_ms + (now - self.page_time) * 1000.0
        else:
            played = self.page_ms
        return max(0.0, min(played, self.sent_ms))


class AudioPlayer(anywidget.AnyWidget):
    """Plays PCM16 24 kHz audio as it arrives; `connect(session)` plays a session's replies.

    `history` records what the player was asked to play: `(kind, n_samples, time)` with kind
    "delta", "turn", "reply", "array" or "clear" (n_samples = samples cut off for "clear").
    """

    _esm = _HERE / "player.js"
    _css = _HERE / "player.css"
    # Identifies this model's audio engine in the page (one per model, shared by its views).
    _uid = traitlets.Unicode().tag(sync=True)

    @traitlets.default("_uid")
    def _default_uid(self) -> str:
        return uuid.uuid4().hex

    volume = traitlets.Float(1.0, min=0.0, max=1.0, help="Output volume, 0-1.").tag(sync=True)
    muted = traitlets.Bool(False).tag(sync=True)
    played_ms = traitlets.Float(0.0, help="Milliseconds of the current item played (from the page).").tag(
        sync=True
    )
    playing = traitlets.Bool(False, help="True while the page has audio scheduled.").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history: list[tuple[str, int, float]] = []
        # Kernel arrival -> page scheduling of each stream's first chunk, in ms (benchmarks).
        self.schedule_latencies_ms: list[float] = []
        self._stream: _Stream | None = None
        self._cleared_items: set[str] = set()
        self._plays = 0
        self._session: Any = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._responses_in_progress: set[str] = set()
        self.on_msg(self._on_custom_msg)

    def __repr__(self) -> str:
        return f"AudioPlayer(playing={self.playing}, played_ms={self.played_ms:.0f}, volume={self.volume})"

    # -- session wiring --------------------------------------------------------------------

    def connect(self, session: Any) -> Callable[[], None]:
        """Play `session`'s output audio as it streams; clear and truncate on barge-in."""
        if not hasattr(session, "on"):
            raise TypeError(f"connect() needs a RealtimeSession, got {type(session).__name__}.")
        self.disconnect()
        self._session = session
        self._unsubscribe = [
            session.on("response.output_audio.delta", self._on_delta),
            session.on("input_audio_buffer.speech_started", self._on_speech_started),
            session.on("response.created", self._on_response_created),
            session.on("response.done", self._on_response_done),
        ]
        return self.disconnect

    def disconnect(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self._session = None

    def _on_delta(self, event: Any) -> None:
        raw = event.raw
        item_id = raw.get("item_id")
        stream_id = str(item_id or raw.get("response_id") or "item")
        if stream_id in self._cleared_items:
            return  # audio the server produced before it heard our cancel
        self._send_audio(stream_id, self._delta_pcm(raw.get("delta")), kind="delta", item_id=item_id)

    def _delta_pcm(self, delta: Any) -> bytes:
        # The session keeps audio in its conversation and leaves a reference in the event.
        ref = parse_audio_ref(delta)
        if ref is not None:
            name, start, stop = ref
            return getattr(self._session.conversation, name).read_bytes(start, stop)
        return base64.b64decode(delta or "")

    def _on_response_created(self, event: Any) -> None:
        rid = (event.raw.get("response") or {}).get("id")
        if rid:
            self._responses_in_progress.add(rid)

    def _on_response_done(self, event: Any) -> None:
        rid = (event.raw.get("response") or {}).get("id")
        self._responses_in_progress.discard(rid)

    def _on_speech_started(self, _event: Any) -> None:
        stream = self._stream
        response_active = bool(self._responses_in_progress)
        played = stream.played_ms() if stream is not None else 0.0
        unheard = stream is not None and played < stream.sent_ms - 1.0
        self.clear()
        # Truncate only when the assistant was cut short: more audio was coming or was queued.
        # Name the item: the server may have started the next reply before the task runs.
        if (
            self._session is not None
            and stream is not None
            and stream.item_id
            and (response_active or unheard)
        ):
            task = asyncio.ensure_future(self._session.interrupt(int(played), item_id=stream.item_id))
            task.add_done_callback(_log_failure)

    # -- playing ---------------------------------------------------------------------------

    def play(self, audio: Any) -> None:
        """Play a finished `Turn`, an `AudioReply`, an array or a file (anything `to_pcm16` takes)."""
        kind, samples = _samples_of(audio)
        self.clear()
        stream_id = self._new_play_stream()
        pcm = samples.astype("<i2").tobytes()
        step = _PLAY_CHUNK_SAMPLES * 2
        for offset in range(0, len(pcm), step):
            self._send_audio(stream_id, pcm[offset : offset + step], kind=None)
        self.history.append((kind, int(samples.size), time.time()))

    def enqueue(self, audio: Any) -> None:
        """Play `audio` after what this player is already playing: pieces of a streamed reply
        (`chat.ask(..., on_audio=player.enqueue)`). `play()` starts over instead."""
        kind, samples = _samples_of(audio)
        stream = self._stream
        playing = stream is not None and _is_play(stream.id)  # not a session's reply
        stream_id = stream.id if playing else self._new_play_stream()
        self._send_audio(stream_id, samples.astype("<i2").tobytes(), kind=None)
        self.history.append((kind, int(samples.size), time.time()))

    def _new_play_stream(self) -> str:
        self._plays += 1
        return f"{_PLAY_PREFIX}{self._plays}"

    def clear(self) -> None:
        """Stop at once and forget what is queued (barge-in)."""
        stream = self._stream
        cut = 0
        if stream is not None:
            cut = int(round((stream.sent_ms - stream.played_ms()) * SAMPLE_RATE / 1000.0))
            if not _is_play(stream.id):
                self._cleared_items.add(stream.id)
            self.history.append(("clear", max(0, cut), time.time()))
        self._stream = None
        self.playing = False
        self.send({"type": "clear"})

    async def wait_until_played(self, timeout: float = 120.0) -> None:
        """Return once the reply in progress has arrived in full and been played to its end."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stream = self._stream
            if not self._responses_in_progress and (
                stream is None or stream.played_ms() >= stream.sent_ms - 1.0
            ):
                return
            left = 0.05 if stream is None else (stream.sent_ms - stream.played_ms()) / 1000.0
            await asyncio.sleep(min(max(left, 0.01), 0.1))
        raise TimeoutError(f"the player was still playing after {timeout:g} s")

    def position_ms(self) -> float:
        """Milliseconds of the current item heard so far (page report, else a clock estimate)."""
        return self._stream.played_ms() if self._stream is not None else 0.0

    def _send_audio(self, stream_id: str, pcm: bytes, kind: str | None, item_id: str | None = None) -> None:
        if len(pcm) % 2:
            pcm = pcm[:-1]
        stream = self._stream
        if stream is None or stream.id != stream_id:
            stream = self._stream = _Stream(stream_id, item_id)
        content = {"type": "audio", "stream": stream_id, "seq": stream.seq, "kt": time.time() * 1000.0}
        stream.seq += 1
        stream.sent_samples += len(pcm) // 2
        self.send(content, buffers=[pcm])
        if kind is not None:
            self.history.append((kind, len(pcm) // 2, time.time()))
        self.playing = True

    # -- what the page reports -------------------------------------------------------------

    def _on_custom_msg(self, _widget: Any, content: dict, _buffers: list) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "scheduled":
            if content.get("kt") is not None and content.get("t") is not None:
                self.schedule_latencies_ms.append(float(content["t"]) - float(content["kt"]))
            return
        if kind not in ("position", "cleared"):
            return
        played = float(content.get("played_ms") or 0.0)
        stream = self._stream
        if stream is not None and content.get("stream") == stream.id:
            stream.page_ms = played
            stream.page_time = time.monotonic()
            stream.page_playing = bool(content.get("playing"))
        self.played_ms = played
        self.playing = bool(content.get("playing")) and self._stream is not None


_PLAY_PREFIX = "play-"  # streams of play()/enqueue(); a session's replies use their item ids


def _is_play(stream_id: str) -> bool:
    return stream_id.startswith(_PLAY_PREFIX)


def _samples_of(audio: Any) -> tuple[str, np.ndarray]:
    """(kind, int16 samples at 24 kHz) of a Turn, an AudioReply, an array or a path."""
    from ..audio import to_pcm16

    if hasattr(audio, "audio") and not isinstance(audio, np.ndarray):
        # Turn and AudioReply both carry `.audio`; a reply has no `response_id`.
        kind = "turn" if hasattr(audio, "response_id") else "reply"
        data = audio.audio
        if data is None or (hasattr(data, "__len__") and len(data) == 0):
            raise ValueError(f"This {kind} has no audio to play (was it a text-only response?).")
        return kind, np.asarray(to_pcm16(data), dtype=np.int16)
    return "array", np.asarray(to_pcm16(audio), dtype=np.int16)


def _log_failure(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.warning("interrupt after barge-in failed: %s", task.exception())
