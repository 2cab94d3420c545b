"""`Conversation` and `Turn`: what was said and heard in a realtime session, with timing.

A Conversation is built only by feeding it `RealtimeEvent`s (`apply`), client and server alike, in
the order they happened. That makes `load` a replay of the saved event log, and lets tests build one
from synthetic events without a connection.

Audio lives in two append-only streams, "input" (everything we appended) and "output" (every
assistant audio delta). Turns hold sample ranges into them, so no audio is stored twice, and event
payloads are replaced by references into the streams (see `events.py`).
"""

from __future__ import annotations

import base64
import bisect
import dataclasses
import json
import logging
import wave
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .events import AUDIO_PAYLOAD_KEYS, RealtimeEvent, audio_ref, parse_audio_ref
from .protocol import SAMPLE_RATE, assistant_part_kind

log = logging.getLogger(__name__)

EVENTS_FILE = "events.jsonl"
STREAMS = ("input", "output")

# response.status on the wire → Turn.status ("incomplete" means a token limit: the turn did end).
_RESPONSE_STATUS = {
    "completed": "completed",
    "incomplete": "completed",
    "cancelled": "cancelled",
    "failed": "failed",
    "in_progress": "in_progress",
}


class PcmStream:
    """Append-only PCM16 mono audio kept as a list of chunks.

    Chunks are never copied on append and never over-allocated, so an hour of audio costs the
    audio's own size (172.8 MB at 24 kHz) plus a few bytes per chunk.
    """

    __slots__ = ("_chunks", "_starts", "_n")

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._starts: list[int] = []
        self._n = 0

    def __len__(self) -> int:
        """Length in samples."""
        return self._n

    @property
    def duration_s(self) -> float:
        return self._n / SAMPLE_RATE

    def append(self, pcm: bytes | bytearray | memoryview) -> tuple[int, int]:
        """Add PCM16 little-endian bytes; returns the (start, stop) sample range they occupy."""
        if len(pcm) % 2:
            raise ValueError(f"PCM16 audio needs an even number of bytes, got {len(pcm)}")
        start = self._n
        n = len(pcm) // 2
        if n:
            self._chunks.append(bytes(pcm))
            self._starts.append(start)
            self._n += n
        return start, start + n

    def read_bytes(self, start: int, stop: int) -> bytes:
        start = max(0, start)
        stop = min(self._n, stop)
        if stop <= start:
            return b""
        i = bisect.bisect_right(self._starts, start) - 1
        parts: list[bytes] = []
        while i < len(self._chunks) and self._starts[i] < stop:
            chunk_start = self._starts[i]
            chunk = self._chunks[i]
            lo = max(start - chunk_start, 0) * 2
            hi = min(stop - chunk_start, len(chunk) // 2) * 2
            parts.append(chunk if (lo == 0 and hi == len(chunk)) else chunk[lo:hi])
            i += 1
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples [start, stop) as int16 (a copy; the stream keeps growing)."""
        data = self.read_bytes(start, self._n if stop is None else stop)
        return np.frombuffer(data, dtype="<i2").astype(np.int16, copy=False)

    def to_bytes(self) -> bytes:
        return self.read_bytes(0, self._n)

    def nbytes(self) -> int:
        return self._n * 2


@dataclass
class ToolCall:
    """A function call the assistant made: answer it with `session.send_tool_output(call, output)`."""

    name: str
    call_id: str
    arguments: str  # JSON text, as the model wrote it
    item_id: str | None = None
    output: str | None = None  # what the client answered, once it has

    @property
    def args(self) -> dict[str, Any]:
        """The arguments parsed from JSON."""
        try:
            value = json.loads(self.arguments or "{}")
        except ValueError as exc:
            raise ValueError(f"the arguments of {self.name} are not valid JSON: {self.arguments!r}") from exc
        if not isinstance(value, dict):
            raise ValueError(f"the arguments of {self.name} are not a JSON object: {self.arguments!r}")
        return value


@dataclass(eq=False)
class Turn:
    """One exchange: the user's input, then the assistant's response.

    Times (`*_s` and the first element of delta tuples) are seconds since the session connected.
    `audio_deltas` are `(arrival_s, start_sample, n_samples)` within this turn's `audio`;
    `transcript_deltas` are `(arrival_s, text, audio_position_s)` where the position is how much
    assistant audio had arrived when the piece arrived, i.e. where playback would be.
    """

    index: int
    # user side
    user_item_id: str | None = None
    user_text: str | None = None
    user_transcript: str | None = None
    user_transcript_pending: bool = False
    speech_start_ms: float | None = None
    speech_end_ms: float | None = None
    # assistant side
    response_id: str | None = None
    item_id: str | None = None
    text: str = ""
    transcript: str = ""
    audio_deltas: list[tuple[float, int, int]] = field(default_factory=list)
    transcript_deltas: list[tuple[float, str, float]] = field(default_factory=list)
    status: str = "pending"
    truncated_ms: int | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: dict | None = None
    latency_first_audio_s: float | None = None
    latency_done_s: float | None = None
    error: dict | None = None
    # when the user finished (speech end, commit or send): the origin of the latencies
    origin_s: float | None = None
    _conversation: Conversation | None = field(default=None, repr=False)
    _user_range: tuple[int, int | None] | None = field(default=None, repr=False)
    _out_segments: list[tuple[int, int]] = field(default_factory=list, repr=False)
    _out_samples: int = field(default=0, repr=False)

    @property
    def audio(self) -> np.ndarray:
        """Assistant audio received so far, int16 at 24 kHz."""
        conv = self._conversation
        if conv is None or not self._out_segments:
            return np.zeros(0, np.int16)
        segments = self._out_segments
        if len(segments) > 1 and all(segments[i][1] == segments[i + 1][0] for i in range(len(segments) - 1)):
            return conv.output.read(segments[0][0], segments[-1][1])
        return np.concatenate([conv.output.read(a, b) for a, b in segments])

    @property
    def user_audio(self) -> np.ndarray:
        """The user's audio for this turn (int16 at 24 kHz); empty for text input."""
        conv = self._conversation
        if conv is None or self._user_range is None:
            return np.zeros(0, np.int16)
        start, stop = self._user_range
        return conv.input.read(start, len(conv.input) if stop is None else stop)

    @property
    def user_range(self) -> tuple[int, int | None] | None:
        """The user's audio as a sample range of `conversation.input` (stop None while speech goes on)."""
        return self._user_range

    @property
    def user_speaking(self) -> bool:
        """True between the server hearing speech start and speech stop (or the commit)."""
        return self._user_range is not None and self._user_range[1] is None

    @property
    def audio_samples(self) -> int:
        return self._out_samples

    @property
    def duration_s(self) -> float:
        """Duration of the assistant audio received."""
        return self._out_samples / SAMPLE_RATE

    @property
    def heard_transcript(self) -> str:
        """The transcript pieces that were played before a truncation (all of it otherwise)."""
        if self.truncated_ms is None:
            return self.transcript
        limit = self.truncated_ms / 1000.0
        return "".join(text for _, text, pos in self.transcript_deltas if pos <= limit)

    @property
    def done(self) -> bool:
        return self.status in ("completed", "cancelled", "truncated", "failed")

    def to_dict(self) -> dict[str, Any]:
        """Public fields as plain data (audio as sample counts)."""
        return {
            "index": self.index,
            "user_item_id": self.user_item_id,
            "user_text": self.user_text,
            "user_transcript": self.user_transcript,
            "user_transcript_pending": self.user_transcript_pending,
            "user_audio_samples": len(self.user_audio),
            "speech_start_ms": self.speech_start_ms,
            "speech_end_ms": self.speech_end_ms,
            "response_id": self.response_id,
            "item_id": self.item_id,
            "text": self.text,
            "transcript": self.transcript,
            "audio_samples": self._out_samples,
            "audio_deltas": list(self.audio_deltas),
            "transcript_deltas": list(self.transcript_deltas),
            "status": self.status,
            "truncated_ms": self.truncated_ms,
            "tool_calls": [vars(c).copy() for c in self.tool_calls],
            "usage": self.usage,
            "latency_first_audio_s": self.latency_first_audio_s,
            "latency_done_s": self.latency_done_s,
            "error": self.error,
            "origin_s": self.origin_s,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Turn):
            return NotImplemented
        return (
            self.to_dict() == other.to_dict()
            and np.array_equal(self.audio, other.audio)
            and np.array_equal(self.user_audio, other.user_audio)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        said = self.user_text if self.user_text is not None else self.user_transcript
        return (
            f"Turn({self.index}, {self.status}, user={said!r:.40}, assistant={self.transcript or self.text!r:.40}, "
            f"audio={self.duration_s:.2f}s)"
        )


class _UserInputEvents:
    """How the user's side of a turn is read: typed items, audio commits, VAD, input transcripts.

    A part of Conversation (it uses its turns, streams and indexes); split out to keep each class small.
    """

    def _client_item_create(self, event: RealtimeEvent) -> Turn | None:
        item = event.raw.get("item") or {}
        if item.get("type") == "function_call_output":
            return self._tool_output(item)
        if item.get("type", "message") != "message" or item.get("role") != "user":
            return None
        if item.get("id") in self._by_user_item:  # said before: history replayed after a reconnect
            return self._by_user_item[item["id"]]
        texts = _input_texts(item)
        turn = self._new_turn(user_text="".join(texts) if texts else None, origin_s=event.time)
        if item.get("id"):
            turn.user_item_id = item["id"]
            self._by_user_item[item["id"]] = turn
        return turn

    def _tool_output(self, item: dict) -> Turn | None:
        for turn in reversed(self.turns):
            for call in turn.tool_calls:
                if call.call_id == item.get("call_id"):
                    call.output = item.get("output")
                    return turn
        return None

    def _client_commit(self, event: RealtimeEvent) -> Turn | None:
        stop = len(self.input)
        turn = self._open_user_turn()
        if turn is None or turn._user_range is None:
            turn = self._new_turn()
        if turn._user_range is None or turn._user_range[1] is None:
            start = turn._user_range[0] if turn._user_range else self._input_mark
            turn._user_range = (start, stop)
        turn.origin_s = event.time
        self._input_mark = stop
        return turn

    def _client_clear(self, event: RealtimeEvent) -> Turn | None:
        self._input_mark = len(self.input)
        return None

    def _speech_started(self, event: RealtimeEvent) -> Turn | None:
        ms = _ms(event.raw.get("audio_start_ms"), self._input_ms())
        turn = self._new_turn(speech_start_ms=ms, _user_range=(self._sample_at_ms(ms), None))
        item_id = event.raw.get("item_id")
        if item_id:
            turn.user_item_id = item_id
            self._by_user_item[item_id] = turn
        return turn

    def _speech_stopped(self, event: RealtimeEvent) -> Turn | None:
        item_id = event.raw.get("item_id")
        turn = self._by_user_item.get(item_id) if item_id else self._open_user_turn()
        if turn is None:
            return None
        ms = _ms(event.raw.get("audio_end_ms"), self._input_ms())
        turn.speech_end_ms = ms
        start = turn._user_range[0] if turn._user_range else self._input_mark
        turn._user_range = (start, self._sample_at_ms(ms))
        turn.origin_s = event.time
        return turn

    def _committed(self, event: RealtimeEvent) -> Turn | None:
        item_id = event.raw.get("item_id")
        turn = self._by_user_item.get(item_id) if item_id else None
        if turn is None:
            turn = self._open_user_turn()
            if turn is None:
                turn = self._new_turn(_user_range=(self._input_mark, len(self.input)), origin_s=event.time)
        if turn._user_range is not None and turn._user_range[1] is None:
            turn._user_range = (turn._user_range[0], len(self.input))
        if item_id:
            turn.user_item_id = item_id
            self._by_user_item[item_id] = turn
        if turn.speech_end_ms is not None:
            self._input_mark = max(self._input_mark, self._sample_at_ms(turn.speech_end_ms))
        return turn

    def _item_added(self, event: RealtimeEvent) -> Turn | None:
        item = event.raw.get("item")
        if not isinstance(item, dict) or not item.get("id"):
            return None
        item_id = item["id"]
        self._items[item_id] = item
        if item.get("type") != "message":
            return None
        if item.get("role") == "user":
            turn = self._by_user_item.get(item_id)
            if turn is None:
                last = self.last_turn
                if last is not None and last.user_item_id is None and last.user_text is not None:
                    turn = last
                else:
                    texts = _input_texts(item)
                    turn = self._new_turn(user_text="".join(texts) if texts else None, origin_s=event.time)
                turn.user_item_id = item_id
                self._by_user_item[item_id] = turn
            if any(c.get("type") == "input_audio" for c in _parts(item)):
                # Deltas may come first; only `.completed` (or `.failed`) ends the wait.
                waiting = turn.user_transcript is None or turn.user_transcript_pending
                turn.user_transcript_pending = waiting and self._transcribing
            return turn
        if item.get("role") == "assistant":
            turn = self._by_item.get(item_id) or self._turn_for_response(event)
            if turn is not None and turn.item_id is None:
                turn.item_id = item_id
                self._by_item[item_id] = turn
            return turn
        return None

    def _user_transcript_delta(self, event: RealtimeEvent) -> Turn | None:
        turn = self._by_user_item.get(event.raw.get("item_id", ""))
        if turn is None:
            return None
        turn.user_transcript = (turn.user_transcript or "") + _text(event.raw.get("delta"))
        turn.user_transcript_pending = True
        return turn

    def _user_transcript_done(self, event: RealtimeEvent) -> Turn | None:
        turn = self._by_user_item.get(event.raw.get("item_id", ""))
        if turn is None:
            return None
        transcript = event.raw.get("transcript")
        turn.user_transcript = transcript if isinstance(transcript, str) else turn.user_transcript or ""
        turn.user_transcript_pending = False
        if self._transcription_only:  # no response will come: the transcript is the whole turn
            turn.status = "completed"
            turn.usage = event.raw.get("usage") if isinstance(event.raw.get("usage"), dict) else turn.usage
        return turn

    def _user_transcript_failed(self, event: RealtimeEvent) -> Turn | None:
        turn = self._by_user_item.get(event.raw.get("item_id", ""))
        error = _error_dict(event.raw.get("error"), "input transcription failed")
        self.errors.append(error)
        if turn is None:
            return None
        turn.user_transcript_pending = False
        turn.error = error
        if self._transcription_only:
            turn.status = "failed"
        return turn


class _ResponseEvents:
    """How the assistant's side of a turn is read: responses, output items, audio and text deltas.

    A part of Conversation (it uses its turns, streams and indexes); split out to keep each class small.
    """

    def _client_response_create(self, event: RealtimeEvent) -> Turn | None:
        self._response_requested_s = event.time
        return None

    def _content_part_done(self, event: RealtimeEvent) -> Turn | None:
        turn = self._turn_for_response(event)
        part = event.raw.get("part")
        if turn is None or not isinstance(part, dict):
            return None
        return turn if _fill_from_parts(turn, [part]) else None

    def _response_created(self, event: RealtimeEvent) -> Turn | None:
        rid = event.response_id
        if not rid:
            return None
        last = self.last_turn
        if last is not None and last.response_id is None:
            turn = last
        else:
            turn = self._new_turn()
        turn.response_id = rid
        turn.status = "in_progress"
        if turn.origin_s is None:
            turn.origin_s = (
                self._response_requested_s if self._response_requested_s is not None else event.time
            )
        self._response_requested_s = None
        self._by_response[rid] = turn
        return turn

    def _output_item(self, event: RealtimeEvent) -> Turn | None:
        item = event.raw.get("item")
        if isinstance(item, dict) and item.get("id"):
            self._items[item["id"]] = item
            turn = self._turn_for_response(event)
            if turn is not None and turn.item_id is None and item.get("type") == "message":
                turn.item_id = item["id"]
                self._by_item[item["id"]] = turn
            if (
                turn is not None
                and item.get("type") == "function_call"
                and event.type == "response.output_item.done"
                and not any(c.call_id == item.get("call_id") for c in turn.tool_calls)
            ):
                turn.tool_calls.append(
                    ToolCall(
                        item.get("name", ""), item.get("call_id", ""), item.get("arguments", ""), item["id"]
                    )
                )
            return turn
        return None

    def _audio_delta(self, event: RealtimeEvent) -> Turn | None:
        turn = self._turn_for_response(event)
        ref = parse_audio_ref(event.raw.get("delta"))
        if turn is None or ref is None:
            return None
        _, start, stop = ref
        n = stop - start
        segments = turn._out_segments
        if segments and segments[-1][1] == start:
            segments[-1] = (segments[-1][0], stop)  # contiguous: one segment, cheap reads
        else:
            segments.append((start, stop))
        turn.audio_deltas.append((event.time, turn._out_samples, n))
        turn._out_samples += n
        if turn.latency_first_audio_s is None and turn.origin_s is not None:
            turn.latency_first_audio_s = event.time - turn.origin_s
        return turn

    def _transcript_delta(self, event: RealtimeEvent) -> Turn | None:
        turn = self._turn_for_response(event)
        if turn is None:
            return None
        delta = _text(event.raw.get("delta"))
        turn.transcript += delta
        turn.transcript_deltas.append((event.time, delta, turn._out_samples / SAMPLE_RATE))
        return turn

    def _transcript_done(self, event: RealtimeEvent) -> Turn | None:
        turn = self._turn_for_response(event)
        if turn is None:
            return None
        if isinstance(event.raw.get("transcript"), str):
            turn.transcript = event.raw["transcript"]
        return turn

    def _text_delta(self, event: RealtimeEvent) -> Turn | None:
        turn = self._turn_for_response(event)
        if turn is None:
            return None
        turn.text += _text(event.raw.get("delta"))
        return turn

    def _text_done(self, event: RealtimeEvent) -> Turn | None:
        turn = self._turn_for_response(event)
        if turn is None:
            return None
        if isinstance(event.raw.get("text"), str):
            turn.text = event.raw["text"]
        return turn

    def _response_done(self, event: RealtimeEvent) -> Turn | None:
        turn = self._turn_for_response(event)
        if turn is None:
            return None
        response = event.raw.get("response") or {}
        wire_status = response.get("status") or "completed"
        if turn.status != "truncated":
            turn.status = _RESPONSE_STATUS.get(wire_status, wire_status)
        turn.usage = response.get("usage")
        if wire_status == "failed":
            details = response.get("status_details") or {}
            turn.error = details.get("error") or details or {"message": "response failed"}
        if turn.origin_s is not None:
            turn.latency_done_s = event.time - turn.origin_s
        return turn

    def _item_truncated(self, event: RealtimeEvent) -> Turn | None:
        turn = self._by_item.get(event.raw.get("item_id", ""))
        if turn is None:
            return None
        turn.status = "truncated"
        turn.truncated_ms = int(_ms(event.raw.get("audio_end_ms")) or 0)
        return turn


class Conversation(_UserInputEvents, _ResponseEvents):
    """Items, turns and audio of one realtime session, built from its events."""

    def __init__(self) -> None:
        self.input = PcmStream()
        self.output = PcmStream()
        self.events: list[RealtimeEvent] = []
        self.turns: list[Turn] = []
        self.errors: list[dict] = []
        self._items: dict[str, dict] = {}  # insertion order is conversation order
        self._listeners: list[Callable[[Turn], Any]] = []
        self._audio_listeners: list[Callable[[Turn | None, str, np.ndarray, int], Any]] = []
        self._by_response: dict[str, Turn] = {}
        self._by_user_item: dict[str, Turn] = {}
        self._by_item: dict[str, Turn] = {}
        self._input_mark = 0  # input sample where the uncommitted buffer starts
        self._input_epoch = 0  # input sample where the current connection's server clock starts
        self._response_requested_s: float | None = None
        self._transcribing = False  # input transcription on, per the last session.created/updated
        self._transcription_only = False  # a transcription session: turns end with their transcript

    # ------------------------------------------------------------------ public API
    @property
    def items(self) -> list[dict]:
        """Every conversation item, in order, as the server last described it."""
        return list(self._items.values())

    @property
    def last_turn(self) -> Turn | None:
        return self.turns[-1] if self.turns else None

    def on_change(self, fn: Callable[[Turn], Any]) -> Callable[[], None]:
        """Call `fn(turn)` whenever a turn is created or changes; returns a function that unsubscribes."""
        self._listeners.append(fn)

        def unsubscribe() -> None:
            if fn in self._listeners:
                self._listeners.remove(fn)

        return unsubscribe

    def on_audio(self, fn: Callable[[Turn | None, str, np.ndarray, int], Any]) -> Callable[[], None]:
        """Call `fn(turn, direction, pcm, start)` whenever `apply` stores audio; returns an unsubscribe.

        `direction` is "input" (a client append) or "output" (an assistant delta), `pcm` the new
        samples (int16, 24 kHz) and `start` where they begin in `conversation.input` / `.output`.
        `turn` is the turn the audio belongs to when already known: the response's turn for output,
        the turn whose speech is still going on for input, else None.
        """
        self._audio_listeners.append(fn)

        def unsubscribe() -> None:
            if fn in self._audio_listeners:
                self._audio_listeners.remove(fn)

        return unsubscribe

    def store_audio(self, stream: str, pcm: bytes | bytearray | memoryview) -> str:
        """Deprecated: put the base64 payload in the event and let `apply` store it (one owner)."""
        start, stop = self._stream(stream).append(pcm)
        return audio_ref(stream, start, stop)

    def turn_for_user_item(self, item_id: str | None) -> Turn | None:
        """The turn whose user input is the conversation item `item_id`."""
        return self._by_user_item.get(item_id or "")

    def turn_for_item(self, item_id: str | None) -> Turn | None:
        """The turn whose assistant message is the conversation item `item_id`."""
        return self._by_item.get(item_id or "")

    def turn_for_response(self, response_id: str | None) -> Turn | None:
        return self._by_response.get(response_id or "")

    def apply(self, event: RealtimeEvent) -> Turn | None:
        """Record one event and update items and turns. Returns the turn it changed, if any.

        A base64 audio payload goes into its stream here, and the event is recorded with a reference
        in its place: `conversation.events[-1]` is the event as recorded.
        """
        try:
            event, audio = self._take_audio(event)
        except ValueError:  # not base64, or an odd byte count: keep the event, skip its audio
            log.warning(
                "the audio of the %s event %s is not PCM16 base64; it stays in the event log as is",
                event.direction,
                event.type,
            )
            self.events.append(event)
            return None
        self.events.append(event)
        turn = self._handle(event)
        if audio is not None:
            self._notify_audio(turn, *audio)
        if turn is not None:
            self._notify(turn)
        return turn

    def save(self, folder: str | Path) -> Path:
        """Write `events.jsonl` (audio as references) and `input.wav` / `output.wav` into `folder`."""
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        for name in STREAMS:
            _write_wav(path / f"{name}.wav", self._stream(name).to_bytes())
        with open(path / EVENTS_FILE, "w", encoding="utf-8") as fh:
            for event in self.events:
                fh.write(event.to_json())
                fh.write("\n")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> Conversation:
        """The Conversation saved in `folder`, rebuilt by replaying its events with its audio."""
        path = Path(folder)
        events_path = path / EVENTS_FILE
        if not events_path.is_file():
            raise FileNotFoundError(
                f"{events_path} not found: is {path} a folder written by Conversation.save()?"
            )
        conv = cls()
        streams = {name: _read_wav(path / f"{name}.wav") for name in STREAMS}
        with open(events_path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    event = RealtimeEvent.from_dict(json.loads(line))
                except (ValueError, TypeError) as exc:
                    raise ValueError(f"{events_path}:{number}: not a saved event ({exc})") from None
                # Feed the referenced audio exactly where the live session had put it.
                spec = AUDIO_PAYLOAD_KEYS.get(event.type)
                if spec is not None:
                    ref = parse_audio_ref(event.raw.get(spec[0]))
                    if ref is not None:
                        name, start, stop = ref
                        stream = conv._stream(name)
                        if start != len(stream):
                            raise ValueError(f"{events_path}:{number}: audio reference {ref} is out of order")
                        data = streams[name][start * 2 : stop * 2]
                        if len(data) != (stop - start) * 2:
                            raise ValueError(
                                f"{events_path}:{number}: {name}.wav is shorter than its references"
                            )
                        stream.append(data)
                conv.apply(event)
        return conv

    # ------------------------------------------------------------------ internals
    def _stream(self, name: str) -> PcmStream:
        if name == "input":
            return self.input
        if name == "output":
            return self.output
        raise ValueError(f"audio stream must be 'input' or 'output', got {name!r}")

    def _handle(self, event: RealtimeEvent) -> Turn | None:
        handler = _HANDLERS.get((event.direction, event.type))
        if handler is None:  # unknown to this client: kept in the log, nothing else to do
            return None
        try:
            return handler(self, event)
        except Exception:  # a shape nobody expected must not end the session; the event stays logged
            log.warning(
                "could not read the %s event %s; it stays in the event log",
                event.direction,
                event.type,
                exc_info=True,
            )
            return None

    def _take_audio(self, event: RealtimeEvent) -> tuple[RealtimeEvent, tuple[str, int, int] | None]:
        """Store a base64 audio payload in its stream; the event to record holds a reference instead.

        The event given is left as it is (it is frozen); a payload that already is a reference
        (`load`, which feeds the streams itself) only names the range.
        """
        spec = AUDIO_PAYLOAD_KEYS.get(event.type)
        if spec is None:
            return event, None
        key, stream = spec
        value = event.raw.get(key)
        if not isinstance(value, str):
            return event, None
        ref = parse_audio_ref(value)
        if ref is not None:
            return event, ref
        start, stop = self._stream(stream).append(base64.b64decode(value))
        recorded = dataclasses.replace(event, raw={**event.raw, key: audio_ref(stream, start, stop)})
        return recorded, (stream, start, stop)

    def _notify_audio(self, turn: Turn | None, stream: str, start: int, stop: int) -> None:
        if not self._audio_listeners:
            return
        if stream == "input":
            last = self.last_turn
            turn = last if last is not None and last.user_speaking else None
        pcm = self._stream(stream).read(start, stop)
        for fn in list(self._audio_listeners):
            try:
                fn(turn, stream, pcm, start)
            except Exception:  # a broken listener must not break the session
                log.exception("Conversation.on_audio listener %r failed", fn)

    def _notify(self, turn: Turn) -> None:
        for fn in list(self._listeners):
            try:
                fn(turn)
            except Exception:  # a broken listener must not break the session
                log.exception("Conversation.on_change listener %r failed", fn)

    def _new_turn(self, **fields: Any) -> Turn:
        turn = Turn(index=len(self.turns), _conversation=self, **fields)
        self.turns.append(turn)
        return turn

    def _turn_for_response(self, event: RealtimeEvent) -> Turn | None:
        rid = event.response_id
        if rid and rid in self._by_response:
            return self._by_response[rid]
        item_id = event.raw.get("item_id")
        if item_id and item_id in self._by_item:
            return self._by_item[item_id]
        return None

    def _open_user_turn(self) -> Turn | None:
        """The last turn if it is still waiting for its user item (VAD or manual audio input)."""
        turn = self.last_turn
        if turn is not None and turn.user_item_id is None and turn.response_id is None:
            return turn
        return None

    def _sample_at_ms(self, ms: float) -> int:
        return self._input_epoch + int(round(ms * SAMPLE_RATE / 1000))

    def _input_ms(self) -> float:
        """Audio sent on this connection, in ms: where the server's clock is now."""
        return (len(self.input) - self._input_epoch) * 1000 / SAMPLE_RATE

    def _session_created(self, event: RealtimeEvent) -> Turn | None:
        # A new connection: the server's audio clock (audio_start_ms ...) starts again here.
        self._input_epoch = len(self.input)
        self._input_mark = len(self.input)
        # A response still running on a previous connection will never finish.
        changed = None
        for turn in self.turns:
            if turn.status == "in_progress":
                turn.status = "failed"
                turn.error = {
                    "type": "connection",
                    "message": "the connection closed before the response was done",
                }
                changed = turn
        self._session_updated(event)
        return changed

    def _session_updated(self, event: RealtimeEvent) -> Turn | None:
        session = event.raw.get("session") or {}
        ga = ((session.get("audio") or {}).get("input") or {}).get("transcription")
        self._transcribing = bool(ga or session.get("input_audio_transcription"))
        self._transcription_only = (
            session.get("type") == "transcription"
            or session.get("object") == "realtime.transcription_session"
            or event.wire_type.startswith("transcription_session.")
        )
        return None

    def _item_done(self, event: RealtimeEvent) -> Turn | None:
        item = event.raw.get("item")
        if not isinstance(item, dict) or not item.get("id"):
            return None
        self._items[item["id"]] = item
        turn = self._by_item.get(item["id"])
        if turn is not None and item.get("role") == "assistant":
            return turn if _fill_from_parts(turn, _parts(item)) else None
        return None

    def _item_deleted(self, event: RealtimeEvent) -> Turn | None:
        self._items.pop(event.raw.get("item_id", ""), None)
        return None

    def _error(self, event: RealtimeEvent) -> Turn | None:
        error = _error_dict(event.raw.get("error"), "error event without details")
        self.errors.append(error)
        turn = self.last_turn
        if turn is None:
            return None
        turn.error = error
        return turn


_Handler = Callable[[Conversation, RealtimeEvent], "Turn | None"]
_HANDLERS: dict[tuple[str, str], _Handler] = {
    ("client", "conversation.item.create"): Conversation._client_item_create,
    ("client", "input_audio_buffer.commit"): Conversation._client_commit,
    ("client", "input_audio_buffer.clear"): Conversation._client_clear,
    ("client", "response.create"): Conversation._client_response_create,
    ("server", "session.created"): Conversation._session_created,
    ("server", "session.updated"): Conversation._session_updated,
    ("server", "input_audio_buffer.speech_started"): Conversation._speech_started,
    ("server", "input_audio_buffer.speech_stopped"): Conversation._speech_stopped,
    ("server", "input_audio_buffer.committed"): Conversation._committed,
    ("server", "conversation.item.added"): Conversation._item_added,
    ("server", "conversation.item.done"): Conversation._item_done,
    ("server", "conversation.item.retrieved"): Conversation._item_done,
    ("server", "response.content_part.done"): Conversation._content_part_done,
    ("server", "conversation.item.deleted"): Conversation._item_deleted,
    ("server", "conversation.item.truncated"): Conversation._item_truncated,
    ("server", "conversation.item.input_audio_transcription.delta"): Conversation._user_transcript_delta,
    ("server", "conversation.item.input_audio_transcription.completed"): Conversation._user_transcript_done,
    ("server", "conversation.item.input_audio_transcription.failed"): Conversation._user_transcript_failed,
    ("server", "response.created"): Conversation._response_created,
    ("server", "response.output_item.added"): Conversation._output_item,
    ("server", "response.output_item.done"): Conversation._output_item,
    ("server", "response.output_audio.delta"): Conversation._audio_delta,
    ("server", "response.output_audio_transcript.delta"): Conversation._transcript_delta,
    ("server", "response.output_audio_transcript.done"): Conversation._transcript_done,
    ("server", "response.output_text.delta"): Conversation._text_delta,
    ("server", "response.output_text.done"): Conversation._text_done,
    ("server", "response.done"): Conversation._response_done,
    ("server", "error"): Conversation._error,
}


def _parts(item: dict) -> list[dict]:
    """An item's content parts (a missing or malformed content reads as none)."""
    content = item.get("content")
    return [c for c in content if isinstance(c, dict)] if isinstance(content, list) else []


def _input_texts(item: dict) -> list[str]:
    return [_text(c.get("text")) for c in _parts(item) if c.get("type") == "input_text"]


def _fill_from_parts(turn: Turn, parts: list[dict]) -> bool:
    """Take the assistant's words from content parts (either spelling) when no delta brought them."""
    changed = False
    for part in parts:
        kind = assistant_part_kind(part.get("type"))
        if kind == "audio" and not turn.transcript and isinstance(part.get("transcript"), str):
            turn.transcript = part["transcript"]
            changed = True
        elif kind == "text" and not turn.text and isinstance(part.get("text"), str):
            turn.text = part["text"]
            changed = True
    return changed


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _ms(value: object, default: float | None = None) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return default


def _error_dict(error: object, fallback: str) -> dict:
    if isinstance(error, dict):
        return error
    return {"message": str(error) if error else fallback}


def _write_wav(path: Path, pcm: bytes) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm)


def _read_wav(path: Path) -> bytes:
    if not path.is_file():
        return b""
    with wave.open(str(path), "rb") as wav:
        if wav.getnchannels() != 1 or wav.getsampwidth() != 2 or wav.getframerate() != SAMPLE_RATE:
            raise ValueError(
                f"{path} must be 16-bit mono PCM at {SAMPLE_RATE} Hz, as Conversation.save writes it"
            )
        return wav.readframes(wav.getnframes())


def replay(events: Iterable[RealtimeEvent]) -> Conversation:
    """A Conversation built from events whose audio payloads are still base64 (e.g. synthetic ones)."""
    conv = Conversation()
    for event in events:
        conv.apply(event)
    return conv
