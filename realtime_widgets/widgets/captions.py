"""Live captions: what the microphone hears, transcribed as it is spoken.

`CaptionsView` shows a Conversation's user speech: finished captions (`lines`) and the one being
transcribed (`partial`, growing with each `input_audio_transcription.delta`). `LiveCaptions` puts a
Record button (MicRecorder) over it and owns a transcription session (`SessionConfig(type=
"transcription")`), on the emulator by default. Traitlets are the contract with the page; the page
sends `{"kind": "clear"}` when its Clear button is pressed.
"""

from __future__ import annotations

import asyncio
import html
import pathlib
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anywidget
import ipywidgets as w
import numpy as np
import traitlets as t

from ._closing import close_soon, close_when_collected
from ._protocols import TurnSource, Unsubscribe
from .recorder import AudioInput

if TYPE_CHECKING:
    from ..config import ConnectionConfig
    from ..conversation import Turn
    from ..session_config import SessionConfig

FLUSH_INTERVAL_S = 0.05  # captions are read while spoken: refresh faster than the transcript
DEFAULT_TRANSCRIPTION_MODEL = "gpt-4o-transcribe"  # on Azure: the name of a transcription deployment


@dataclass(frozen=True)
class Caption:
    """One stretch of speech: `text` so far, `final` once `.completed` came."""

    index: int  # the turn's index in the conversation
    text: str
    final: bool
    start_ms: float | None
    end_ms: float | None


def caption_of(turn: Turn) -> Caption | None:
    """The caption a turn shows, or None when the turn holds no speech (typed text, a reply only)."""
    if turn.user_text is not None or (turn.speech_start_ms is None and turn.user_transcript is None):
        return None
    final = turn.user_transcript is not None and not turn.user_transcript_pending
    return Caption(turn.index, turn.user_transcript or "", final, turn.speech_start_ms, turn.speech_end_ms)


class CaptionsView(anywidget.AnyWidget):
    """Captions of the user's speech in a Conversation, live: `CaptionsView(conversation)`."""

    _esm = pathlib.Path(__file__).parent / "captions.js"
    _css = pathlib.Path(__file__).parent / "captions.css"

    lines = t.List(t.Unicode()).tag(sync=True)  # the newest `max_lines` finished captions
    partial = t.Unicode("").tag(sync=True)  # the caption being spoken or transcribed now
    speaking = t.Bool(False).tag(sync=True)  # speech heard and not yet ended
    max_lines = t.Int(6).tag(sync=True)
    font_size = t.Int(18).tag(sync=True)  # px

    def __init__(self, conversation: TurnSource | None = None, max_lines: int = 6, **kwargs: Any) -> None:
        if not isinstance(max_lines, int) or max_lines < 1:
            raise ValueError(f"max_lines must be a positive integer, got {max_lines!r}")
        super().__init__(max_lines=max_lines, **kwargs)
        self.conversation: TurnSource | None = None
        self._captions: dict[int, Caption] = {}  # turn index -> caption, in order
        self._cleared = -1  # captions up to this turn index were cleared from the screen
        self._dirty: set[int] = set()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._unsubscribe: Unsubscribe | None = None
        self.on_msg(self._on_front_msg)
        if conversation is not None:
            self.connect(conversation)

    def connect(self, conversation: TurnSource) -> Unsubscribe:
        """Follow `conversation` (its speech so far is captioned at once); returns a function that
        disconnects."""
        self.disconnect()
        self.conversation = conversation
        self._captions.clear()
        self._cleared = -1
        self._dirty = {turn.index for turn in conversation.turns}
        self._unsubscribe = conversation.on_change(self._on_turn)
        self.flush()
        return self.disconnect

    def disconnect(self) -> None:
        """Stop following the conversation (the captions stay)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    @property
    def captions(self) -> list[Caption]:
        """Every caption so far (cleared ones too), oldest first."""
        self.flush()
        return list(self._captions.values())

    @property
    def text(self) -> str:
        """The finished captions, one per line."""
        return "\n".join(c.text for c in self.captions if c.final and c.text)

    def clear(self) -> None:
        """Clear the screen (`captions` keeps the history)."""
        self.flush()
        self._cleared = max(self._captions, default=-1)
        self._sync()

    def _on_turn(self, turn: Turn) -> None:
        self._dirty.add(turn.index)
        if self._flush_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # plain Python: flush() reads the conversation when asked
            self._flush_handle = loop.call_later(FLUSH_INTERVAL_S, self.flush)

    def flush(self) -> None:
        """Bring the traits up to date now (a timer does it while a loop runs)."""
        self._flush_handle = None
        if not self._dirty or self.conversation is None:
            return
        turns = self.conversation.turns
        for index in sorted(self._dirty):
            caption = caption_of(turns[index]) if index < len(turns) else None
            if caption is not None:
                self._captions[index] = caption
        self._dirty.clear()
        self._sync()

    def _sync(self) -> None:
        shown = [c for i, c in self._captions.items() if i > self._cleared]
        finals = [c.text for c in shown if c.final and c.text]
        live = [c for c in shown if not c.final]
        last = (
            self.conversation.turns[-1] if self.conversation is not None and self.conversation.turns else None
        )
        speaking = last is not None and last.speech_start_ms is not None and last.speech_end_ms is None
        with self.hold_sync():
            self.lines = finals[-self.max_lines :]
            self.partial = " ".join(c.text for c in live if c.text)
            self.speaking = speaking

    def _on_front_msg(self, _widget: Any, content: Any, _buffers: list) -> None:
        if isinstance(content, dict) and content.get("kind") == "clear":
            self.clear()

    def __repr__(self) -> str:
        return f"<CaptionsView {len(self._captions)} captions>"


def _status(text: str, kind: str = "info") -> str:
    color = {"ok": "#1a7f37", "error": "#a40e26", "info": "inherit"}[kind]
    return f'<span class="rw-captions-status" data-kind="{kind}" style="color:{color}">{html.escape(text)}</span>'


class LiveCaptions(w.VBox):
    """Press Record and read what you say: a MicRecorder over a transcription session and its captions.

    `LiveCaptions(connection=None, transcription_model=..., language="en")` opens the session in the
    background (the emulator unless AZURE_OPENAI_* is set; on Azure `transcription_model` is the name
    of your transcription deployment). Parts: `session`, `recorder`, `view`, `status`.
    Headless: `await captions.listen(clip)` speaks a clip through the recorder's path.
    """

    def __init__(
        self,
        connection: ConnectionConfig | None = None,
        *,
        transcription_model: str = DEFAULT_TRANSCRIPTION_MODEL,
        language: str | None = "en",
        config: SessionConfig | None = None,
        max_lines: int = 6,
    ) -> None:
        from ..session import RealtimeSession
        from ..session_config import SessionConfig
        from .recorder import MicRecorder

        if config is None:
            config = SessionConfig(
                type="transcription", transcription_model=transcription_model, transcription_language=language
            )
        elif not getattr(config, "is_transcription", False):
            raise ValueError("LiveCaptions needs config=SessionConfig(type='transcription', ...)")
        self.session = RealtimeSession(connection, config=config)
        self.recorder = MicRecorder()
        self._unsubscribe_recorder: Unsubscribe | None = self.recorder.connect(self.session)
        self.view = CaptionsView(self.session.conversation, max_lines=max_lines)
        self.status = w.HTML(_status("Starting…"))
        super().__init__([self.status, self.recorder, self.view])
        self.add_class("rw-live-captions")
        self._start_task: asyncio.Task | None = None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.status.value = _status("Not connected yet: run `await captions.ready()`")
        else:
            self._start_task = loop.create_task(self._start())
            # the status line shows a failure; ready() raises it again for whoever awaits
            self._start_task.add_done_callback(lambda task: task.cancelled() or task.exception())

    async def _start(self) -> None:
        self.status.value = _status("Connecting…")
        try:
            await self.session.connect()
        except Exception as exc:
            self.status.value = _status(f"Could not connect: {exc}", "error")
            raise
        where = self.session.connection.describe()
        self.status.value = _status(f"{where} · transcription session · press Record and speak", "ok")

    async def ready(self, timeout: float = 30.0) -> LiveCaptions:
        """Wait until the transcription session is connected (starting it if nobody has)."""
        if self._start_task is None:
            self._start_task = asyncio.get_running_loop().create_task(self._start())
        await asyncio.wait_for(asyncio.shield(self._start_task), timeout)
        return self

    @property
    def lines(self) -> list[str]:
        self.view.flush()
        return list(self.view.lines)

    @property
    def text(self) -> str:
        return self.view.text

    async def listen(
        self, audio: AudioInput, *, realtime: bool = False, timeout: float | None = None
    ) -> list[Turn]:
        """Speak `audio` (a path or array) through the recorder as the microphone would; returns the
        turns it made once their transcripts are complete."""
        from ..audio import to_pcm16
        from ..session import with_closing_silence

        await self.ready()
        speech = np.asarray(to_pcm16(audio), dtype=np.int16)
        since = len(self.session.conversation.turns)
        silence_ms = self.session.config.silence_duration_ms
        await self.recorder.feed(with_closing_silence(speech, silence_ms), realtime=realtime)
        await self.session.wait_for_turn(since, timeout=timeout)
        self.view.flush()
        return self.session.conversation.turns[since:]

    def close(self) -> Awaitable[None]:
        """End the session, `await captions.close()`; the captions stay on screen.

        (Widget.close is synchronous in ipywidgets, so this returns a task, as RealtimeConsole.close does.)
        """
        self._detach()
        return close_soon(self._close_session)

    def _detach(self) -> None:
        start = getattr(self, "_start_task", None)
        if start is not None and not start.done():
            start.cancel()
        unsubscribe = getattr(self, "_unsubscribe_recorder", None)
        if callable(unsubscribe):
            unsubscribe()
            self._unsubscribe_recorder = None

    async def _close_session(self) -> None:
        await self.session.close()
        self.view.flush()
        self.status.value = _status(f"{self.session.connection.describe()} · closed")

    def __del__(self) -> None:
        close_when_collected(self, self._detach)

    def __repr__(self) -> str:
        return f"<LiveCaptions {self.session.connection.describe()} · {self.session.status}>"
