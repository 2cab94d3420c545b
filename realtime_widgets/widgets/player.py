"""AudioPlayer: plays a session's output audio in the page and reports what was played.

The PCM comes from the conversation (`conversation.on_audio`) and goes to the page as custom
messages with binary PCM16 buffers; the page schedules them back to back with Web Audio and
reports the played position per item. Barge-in belongs to the session: on the user's speech it
asks the player what was played (`played_audio()`), tells it to clear, and truncates. Without a
page (headless, nbmake) the position is estimated from the wall clock as if playback had started
at the first chunk.
"""

from __future__ import annotations

import asyncio
import pathlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import anywidget
import numpy as np
import traitlets
from typing_extensions import NotRequired, TypedDict

from ..protocol import SAMPLE_RATE
from ..session.barge_in import PlayedAudio

if TYPE_CHECKING:  # pragma: no cover
    from ..conversation import Conversation, Turn
    from ..session import RealtimeSession

_HERE = pathlib.Path(__file__).parent

# Chunk size for `.play()` of a finished turn: small enough to start at once.
_PLAY_CHUNK_SAMPLES = SAMPLE_RATE // 5
_LEAD_MS = 60.0  # the page starts a stream this far ahead (player.js MIN_LEAD_S, its least)


# -- messages between the kernel and the page ---------------------------------------------------
class PlayerAudio(TypedDict):
    """To the page; buffers[0]: PCM16 little-endian mono at 24 kHz, after what is scheduled."""

    kind: Literal["audio"]
    stream: str  # an assistant item id, or "play-N" for play()/enqueue()
    seq: int
    kt: float  # kernel time of sending, epoch ms


class PlayerClear(TypedDict):
    """To the page: stop at once and drop what is queued."""

    kind: Literal["clear"]


class PlayerPosition(TypedDict):
    """From the page, every 100 ms while playing ("position") and after a clear ("cleared")."""

    kind: Literal["position", "cleared"]
    stream: str | None
    played_ms: float  # of `stream`
    playing: bool
    reason: NotRequired[str]


class PlayerScheduled(TypedDict):
    """From the page: the first chunk of a stream was scheduled at page time `t` (epoch ms), to play
    `lead_ms` later (the player's start lead, or the audio queued before it)."""

    kind: Literal["scheduled"]
    stream: str
    seq: int
    t: float
    kt: float
    lead_ms: NotRequired[float]


class PlayerUnderrun(TypedDict):
    """From the page: the queue of `stream` ran dry before chunk `seq`; `gap_ms` of silence was heard."""

    kind: Literal["underrun"]
    stream: str
    seq: int
    gap_ms: float
    late_ms: float  # how far past the end of the queue the chunk came (< 0: nearly dry)
    kt: float  # when the kernel sent the chunk, epoch ms (kernel -> page delay = t - kt)
    t: float


class PlayerEnd(TypedDict):
    """To the page: no more audio for `stream` (its reply is done): the page then knows the lead the
    stream needed and lets its start lead shrink towards it."""

    kind: Literal["end"]
    stream: str


TO_PAGE = PlayerAudio | PlayerClear | PlayerEnd
FROM_PAGE = PlayerPosition | PlayerScheduled | PlayerUnderrun


class _Stream:
    """What the kernel sent for one item (or one `.play()`), and what the page said about it."""

    __slots__ = (
        "id",
        "item_id",
        "sent_samples",
        "seq",
        "first_time",
        "page_ms",
        "page_time",
        "page_playing",
        "ended",
    )

    def __init__(self, stream_id: str, item_id: str | None) -> None:
        self.id = stream_id
        self.item_id = item_id  # the session's assistant item; None for `.play()`
        self.sent_samples = 0
        self.seq = 0
        self.first_time = time.monotonic()
        self.page_ms: float | None = None
        self.page_time = 0.0
        self.page_playing = False
        self.ended = False  # the page was told no more audio comes

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

    volume = traitlets.Float(1.0, min=0.0, max=1.0, help="Output volume, 0-1.").tag(sync=True)
    muted = traitlets.Bool(False).tag(sync=True)
    played_ms = traitlets.Float(0.0, help="Milliseconds of the current item played (from the page).").tag(
        sync=True
    )
    playing = traitlets.Bool(False, help="True while the page has audio scheduled.").tag(sync=True)
    call_playing = traitlets.Bool(
        False, help="True while a WebRTC call's model audio plays (the page plays it, not this player)."
    ).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history: list[tuple[str, int, float]] = []
        # Kernel arrival -> page scheduling of each stream's first chunk, in ms (benchmarks).
        self.schedule_latencies_ms: list[float] = []
        # Page scheduling -> first sample playing of each stream, in ms: the start lead (benchmarks).
        self.start_leads_ms: list[float] = []
        # Gaps in the middle of a stream the page heard: (stream, seq, gap_ms); also on the Turn.
        self.underruns: list[tuple[str, int, float]] = []
        self._conversation: Conversation | None = None
        self._stream: _Stream | None = None
        self._cleared_items: set[str] = set()
        self._plays = 0
        self._unsubscribe: list[Callable[[], None]] = []
        self.on_msg(self._on_custom_msg)

    def __repr__(self) -> str:
        return f"AudioPlayer(playing={self.playing}, played_ms={self.played_ms:.0f}, volume={self.volume})"

    # -- session wiring --------------------------------------------------------------------

    def connect(self, session: RealtimeSession) -> Callable[[], None]:
        """Play `session`'s output audio as it streams; the session clears it on barge-in.

        Returns the function that disconnects (the same as `disconnect`).
        """
        if not hasattr(session, "attach_output") or not hasattr(session, "conversation"):
            raise TypeError(f"connect() needs a RealtimeSession, got {type(session).__name__}.")
        self.disconnect()
        self._unsubscribe = [
            session.conversation.on_audio(self._on_audio),
            session.conversation.on_change(self._on_turn_change),
            session.attach_output(self),
        ]
        self._conversation = session.conversation
        return self.disconnect

    def disconnect(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self._conversation = None

    def _on_audio(self, turn: Turn | None, direction: str, pcm: np.ndarray, _start: int) -> None:
        if direction != "output":
            return
        item_id = turn.item_id if turn is not None else None
        stream_id = str(item_id or (turn.response_id if turn is not None else None) or "item")
        if stream_id in self._cleared_items:
            return  # audio the server produced before it heard the cancel
        self._send_audio(stream_id, pcm.astype("<i2", copy=False).tobytes(), kind="delta", item_id=item_id)

    def _on_turn_change(self, turn: Turn) -> None:
        stream = self._stream
        if turn.done and stream is not None and stream.id == turn.item_id:
            self._end(stream)

    def _end(self, stream: _Stream) -> None:
        if not stream.ended:
            stream.ended = True
            self.send(PlayerEnd(kind="end", stream=stream.id))

    def played_audio(self) -> PlayedAudio | None:
        """The session's item playing (or played last) and how much of it was heard so far."""
        stream = self._stream
        if stream is None or _is_play(stream.id):
            return None
        return PlayedAudio(stream.item_id, stream.played_ms(), stream.sent_ms)

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
        if self._stream is not None and self._stream.id == stream_id:
            self._end(self._stream)
        self.history.append((kind, int(samples.size), time.time()))

    def enqueue(self, audio: Any) -> None:
        """Play `audio` after what this player is already playing: pieces of a streamed reply
        (`chat.ask(..., on_audio=player.enqueue)`). `play()` starts over instead."""
        kind, samples = _samples_of(audio)
        stream = self._stream
        # after what plays, unless that is a session's reply
        stream_id = stream.id if stream is not None and _is_play(stream.id) else self._new_play_stream()
        self._send_audio(stream_id, samples.astype("<i2").tobytes(), kind=None)
        self.history.append((kind, int(samples.size), time.time()))

    def _new_play_stream(self) -> str:
        self._plays += 1
        return f"{_PLAY_PREFIX}{self._plays}"

    def clear(self) -> None:
        """Stop at once and forget what is queued; the rest of a cleared item is not played."""
        stream = self._stream
        cut = 0
        if stream is not None:
            cut = int(round((stream.sent_ms - stream.played_ms()) * SAMPLE_RATE / 1000.0))
            if not _is_play(stream.id):
                self._cleared_items.add(stream.id)
            self.history.append(("clear", max(0, cut), time.time()))
        self._stream = None
        self.playing = False
        self.send(PlayerClear(kind="clear"))

    async def wait_until_played(self, timeout: float = 120.0) -> None:
        """Return once what was sent to the page has been played to its end."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stream = self._stream
            if stream is None or stream.played_ms() >= stream.sent_ms - 1.0:
                return
            left = (stream.sent_ms - stream.played_ms()) / 1000.0
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
        message = PlayerAudio(kind="audio", stream=stream_id, seq=stream.seq, kt=time.time() * 1000.0)
        stream.seq += 1
        stream.sent_samples += len(pcm) // 2
        self.send(message, buffers=[pcm])
        if kind is not None:
            self.history.append((kind, len(pcm) // 2, time.time()))
        self.playing = True

    # -- what the page reports -------------------------------------------------------------

    def _on_custom_msg(self, _widget: Any, content: dict[str, Any], _buffers: list[bytes]) -> None:
        kind = content.get("kind") if isinstance(content, dict) else None
        if kind == "scheduled":
            if content.get("kt") is not None and content.get("t") is not None:
                self.schedule_latencies_ms.append(float(content["t"]) - float(content["kt"]))
            if isinstance(content.get("lead_ms"), int | float):
                self.start_leads_ms.append(float(content["lead_ms"]))
            return
        if kind == "underrun":
            stream_id = str(content.get("stream"))
            self.underruns.append(
                (stream_id, int(content.get("seq") or 0), float(content.get("gap_ms") or 0.0))
            )
            if self._conversation is not None and not _is_play(stream_id):
                self._conversation.note_underrun(stream_id)  # the stream of a reply is its item id
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
