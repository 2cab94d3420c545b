"""What each widget needs from its session or conversation, and its messages to and from its page.

Small Protocols name the part of a RealtimeSession or Conversation a widget uses, so a widget
takes anything shaped so (a test double, a replayed conversation) without importing the session.

The custom messages between each widget's kernel side and its page, as typed shapes.

Traitlets carry state; these messages carry one-off events. Every message names itself with
`"kind"`. Binary payloads travel as the message's buffers (noted per shape), never in the JSON.
`FROM_PAGE` / `TO_PAGE` map each widget class name to the union of what its page sends and what it
is sent (tests check every message against them, and the ESM files against their kinds).
`typing_extensions` (a dependency of openai and pydantic) gives `NotRequired` on Python 3.10.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from typing_extensions import NotRequired, TypedDict

if TYPE_CHECKING:  # annotations only: widgets must not import the session at import time
    import numpy as np

    from ..config import ConnectionConfig
    from ..conversation import Turn
    from ..events import RealtimeEvent
    from ..session_config import SessionConfig

Stream = int | str  # the page's random stream number; "feed-N" for MicRecorder.feed()


# -- MicRecorder -------------------------------------------------------------------------------
class RecorderStart(TypedDict):
    kind: Literal["start"]
    stream: Stream
    rate: NotRequired[int]
    context_rate: NotRequired[float]  # the page's capture rate (24000 unless the browser refused)


class RecorderChunk(TypedDict):
    """buffers[0]: PCM16 little-endian mono at 24 kHz."""

    kind: Literal["chunk"]
    stream: Stream
    seq: int
    t: NotRequired[float | None]  # page time of capture, epoch ms
    level: NotRequired[float]


class RecorderStop(TypedDict):
    kind: Literal["stop"]
    stream: Stream
    last_seq: NotRequired[int]


class RecorderAck(TypedDict):
    """Cumulative: every chunk up to `seq` was handed on."""

    kind: Literal["ack"]
    stream: Stream
    seq: int


# -- EventLog ----------------------------------------------------------------------------------
EventRowWire = list[Any]  # [index, time, "c"|"s", type, count, is_error, summary]


class EventLogCounts(TypedDict):
    """Events and rows so far (a call's taps apart); the hidden ones are in rows no longer kept (the
    export has them)."""

    n_events: int
    n_rows: int
    n_hidden_events: int
    n_hidden_rows: int
    tapped_s: dict[str, float]  # seconds of a WebRTC call's tapped audio, "input" / "output" (not listed)


class EventLogRows(EventLogCounts):
    """New or changed rows ("rows"), or every visible row replacing the old ones ("reset")."""

    kind: Literal["rows", "reset"]
    rows: list[EventRowWire]


class EventLogDetail(TypedDict):
    kind: Literal["detail"]
    index: int
    json: str


class EventLogExport(TypedDict):
    """buffers[0]: the JSONL file."""

    kind: Literal["export"]
    filename: str


class EventLogReady(TypedDict):
    kind: Literal["ready"]


class EventLogDetailRequest(TypedDict):
    kind: Literal["detail"]
    index: int


class EventLogExportRequest(TypedDict):
    kind: Literal["export"]


# -- TranscriptView ----------------------------------------------------------------------------
class TurnSnapshot(TypedDict):
    """What one turn's rows show."""

    index: int
    user: str
    user_pending: bool
    user_audio_s: float
    assistant: str
    heard: str  # of an interrupted turn: the words played ("" otherwise)
    unheard: str  # of an interrupted turn: the words generated but never played
    status: str
    interrupted: str
    latency: str | None
    latency_done: str | None
    audio_s: float
    error: str
    underruns: int  # gaps the player heard in this turn's audio
    usage: str  # the turn's tokens (and cost when the model's prices are known); "" before response.done


class TranscriptTurns(TypedDict):
    """Changed turns ("turns"), or every turn replacing the old ones ("reset"), and the running total."""

    kind: Literal["turns", "reset"]
    turns: list[TurnSnapshot]
    total: str  # the conversation's tokens (and cost) so far; "" before any usage


class TranscriptSpectrogram(TypedDict):
    """buffers[0]: the PNG, unless `error` says why there is none."""

    kind: Literal["spectrogram"]
    index: int
    error: NotRequired[str]


class TranscriptAudio(TypedDict):
    """buffers[0]: PCM16 little-endian mono at `rate`, for the page to play."""

    kind: Literal["audio"]
    index: int
    side: Literal["assistant", "user"]
    rate: int


class TranscriptReady(TypedDict):
    kind: Literal["ready"]


class TranscriptPlay(TypedDict):
    kind: Literal["play"]
    index: int
    side: NotRequired[Literal["assistant", "user"]]


class TranscriptSpectrogramRequest(TypedDict):
    """Show one turn's spectrogram, drawn for the page's theme and `width` (CSS px × pixel ratio)."""

    kind: Literal["spectrogram"]
    index: int
    theme: NotRequired[Literal["light", "dark"]]
    width: NotRequired[float]


# -- ClipRecorder ------------------------------------------------------------------------------
class ClipRecorded(TypedDict):
    """buffers[0]: the whole recording as the browser's MediaRecorder made it (webm/opus mostly)."""

    kind: Literal["clip"]
    mime: str
    seconds: float


class ClipFailed(TypedDict):
    """The browser could not record (no permission, no microphone, an insecure page): why."""

    kind: Literal["error"]
    message: str


# -- CaptionsView, SecretInput (config form) ---------------------------------------------------
class CaptionsClear(TypedDict):
    kind: Literal["clear"]


class SecretValue(TypedDict):
    """The typed key, once; the kernel keeps it in a private attribute, never in a trait."""

    kind: Literal["secret"]
    value: str


# -- WebRTCCall --------------------------------------------------------------------------------
class CallDial(TypedDict):
    """The ephemeral key, once, in a message (never a trait: traits are saved in notebooks)."""

    kind: Literal["dial"]
    url: str  # the service's calls URL ({endpoint}/openai/v1/realtime/calls[?webrtcfilter=on])
    secret: str


class CallHangup(TypedDict):
    kind: Literal["hangup"]


class CallMute(TypedDict):
    kind: Literal["mute"]
    muted: bool


class CallAnswered(TypedDict):
    """The service answered the offer; `call_id` is the last part of the reply's `Location`."""

    kind: Literal["call"]
    call_id: str


class CallStateChange(TypedDict):
    kind: Literal["state"]
    state: Literal["dialing", "connected", "failed", "closed"]
    reason: str


class CallTap(TypedDict):
    """buffers[0]: PCM16 little-endian mono at 24 kHz (100 ms) of the microphone ("input") or the
    model's track ("output"); `seq` counts per side."""

    kind: Literal["tap"]
    side: Literal["input", "output"]
    seq: int
    t: NotRequired[float]  # page time of the chunk's end, epoch ms


RecorderFromPage = RecorderStart | RecorderChunk | RecorderStop
EventLogFromPage = EventLogReady | EventLogDetailRequest | EventLogExportRequest
TranscriptFromPage = TranscriptReady | TranscriptPlay | TranscriptSpectrogramRequest
ClipFromPage = ClipRecorded | ClipFailed
RecorderToPage = RecorderAck
EventLogToPage = EventLogRows | EventLogDetail | EventLogExport
TranscriptToPage = TranscriptTurns | TranscriptSpectrogram | TranscriptAudio
CallFromPage = CallAnswered | CallStateChange | CallTap
CallToPage = CallDial | CallHangup | CallMute

FROM_PAGE: dict[str, Any] = {
    "MicRecorder": RecorderFromPage,
    "EventLog": EventLogFromPage,
    "TranscriptView": TranscriptFromPage,
    "CaptionsView": CaptionsClear,
    "SecretInput": SecretValue,
    "ClipRecorder": ClipFromPage,
    "WebRTCCall": CallFromPage,
}
TO_PAGE: dict[str, Any] = {
    "MicRecorder": RecorderToPage,
    "EventLog": EventLogToPage,
    "TranscriptView": TranscriptToPage,
    "WebRTCCall": CallToPage,
}


# -- what widgets use of a session or conversation ---------------------------------------------
Unsubscribe = Callable[[], None]


class AudioSink(Protocol):
    """What MicRecorder.connect feeds: a RealtimeSession."""

    @property
    def status(self) -> str: ...

    def append_audio_nowait(self, x: np.ndarray, rate: int | None = ...) -> None: ...


class EventSource(Protocol):
    """What EventLog shows: a RealtimeSession's events so far, then each new one."""

    @property
    def event_log(self) -> Sequence[RealtimeEvent]: ...

    def on(self, event_type: str, fn: Callable[[RealtimeEvent], Any]) -> Unsubscribe: ...


class ConfigurableSession(Protocol):
    """What SessionConfigForm edits: a RealtimeSession's config, applied with `update`."""

    @property
    def config(self) -> SessionConfig: ...

    @property
    def connection(self) -> ConnectionConfig: ...

    @property
    def status(self) -> str: ...

    def on(self, event_type: str, fn: Callable[[RealtimeEvent], Any]) -> Unsubscribe: ...

    async def update(self, config: SessionConfig, /) -> dict[str, Any]: ...


class TurnSource(Protocol):
    """What TranscriptView and CaptionsView follow: a Conversation (or a loaded one)."""

    @property
    def turns(self) -> Sequence[Turn]: ...

    def on_change(self, fn: Callable[[Turn], Any]) -> Unsubscribe: ...


class DialSecret(Protocol):
    """What WebRTCCall.dial sends the page: a ClientSecret (the ephemeral key and where to post)."""

    @property
    def value(self) -> str: ...

    @property
    def calls_url(self) -> str: ...


class TurnPlayer(Protocol):
    """Where TranscriptView plays a turn when given one: an AudioPlayer."""

    def play(self, audio: Turn | np.ndarray, /) -> Any: ...
