"""TranscriptView: the conversation's turns, user then assistant, as they happen.

Per turn: the user's text or transcript ("(transcribing…)" while it is pending), the assistant's
transcript, "(interrupted at N ms)" when playback was cut, latency, a play button and a
"spectrogram" button that shows `plot_spectrogram(turn)` inline. Turn snapshots go to the front
end as batched custom messages (at most every ~100 ms), never as a growing synced list.
"""

from __future__ import annotations

import asyncio
import io
import pathlib
from collections.abc import Callable
from typing import Any

import anywidget
import numpy as np
import traitlets as t

from ..protocol import SAMPLE_RATE

FLUSH_INTERVAL_S = 0.1
TRANSCRIBING = "(transcribing…)"

_CSS = """
.rtw-transcript { font-family: var(--jp-ui-font-family, sans-serif); font-size: 13px;
  max-height: 360px; overflow-y: auto; border: 1px solid var(--jp-border-color2, #ddd);
  border-radius: 4px; padding: 4px; min-width: 280px; }
.rtw-tr-empty { color: var(--jp-ui-font-color2, #777); padding: 4px; }
.rtw-turn { border-bottom: 1px solid var(--jp-border-color3, #eee); padding: 4px 0; }
.rtw-msg { display: flex; gap: 6px; align-items: baseline; padding: 2px 4px; }
.rtw-msg[data-role="user"] .rtw-who { color: #1f6feb; }
.rtw-msg[data-role="assistant"] .rtw-who { color: #8250df; }
.rtw-who { font-weight: 600; min-width: 5.5em; }
.rtw-text { flex: 1; white-space: pre-wrap; }
.rtw-pending { color: var(--jp-ui-font-color2, #777); font-style: italic; }
.rtw-mark { color: #9a6700; font-size: 12px; }
.rtw-meta { color: var(--jp-ui-font-color2, #777); font-size: 11px; white-space: nowrap; }
.rtw-error { color: #a40e26; }
.rtw-msg button { font-size: 11px; padding: 0 6px; }
.rtw-spec img { max-width: 100%; display: block; margin: 4px 0 0 5.5em; }
"""


def _fmt_s(value: Any) -> str | None:
    return f"{value:.2f} s" if isinstance(value, int | float) else None


def _n(audio: Any) -> int:
    return int(len(audio)) if audio is not None else 0


def turn_snapshot(index: int, turn: Any) -> dict[str, Any]:
    """What a turn row shows, as plain JSON (also the headless view of the transcript)."""
    g = lambda name, default=None: getattr(turn, name, default)  # noqa: E731
    user_audio = _n(g("user_audio"))
    if g("user_text"):
        user, user_pending = g("user_text"), False
    elif g("user_transcript"):  # grows from the deltas; shown as pending until `.completed`
        user, user_pending = g("user_transcript"), bool(g("user_transcript_pending"))
    elif g("user_transcript_pending"):
        user, user_pending = TRANSCRIBING, True
    elif user_audio:
        # Without input transcription no transcript will come: say what there is instead.
        user, user_pending = f"(speech, {user_audio / SAMPLE_RATE:.1f} s; input transcription is off)", False
    else:
        user, user_pending = "", False
    status = g("status", "") or ""
    assistant = g("transcript") or g("text") or ""
    if not assistant and g("tool_calls"):
        assistant = "; ".join(
            f"[called {c.name}({c.arguments})" + (f" → {c.output}]" if c.output is not None else "]")
            for c in g("tool_calls")
        )
    truncated = g("truncated_ms")
    error = g("error")
    if isinstance(error, dict):
        error = error.get("message") or error.get("code") or str(error)
    audio_samples = g("audio_samples")
    if audio_samples is None:
        audio_samples = _n(g("audio"))
    return {
        "index": index,
        "user": user,
        "user_pending": user_pending,
        "user_audio_s": round(user_audio / 24000, 2),
        "assistant": assistant,
        "status": status,
        "interrupted": f"(interrupted at {int(truncated)} ms)" if truncated is not None else "",
        "latency": _fmt_s(g("latency_first_audio_s")),
        "latency_done": _fmt_s(g("latency_done_s")),
        "audio_s": round(audio_samples / 24000, 2),
        "error": str(error) if error else "",
    }


class TranscriptView(anywidget.AnyWidget):
    """User and assistant turns of a Conversation, in order, live.

    `TranscriptView(conversation, player=None)`: the play button plays a turn on `player`
    (an AudioPlayer) when given, else in the view itself (Web Audio in the page).
    """

    _esm = pathlib.Path(__file__).parent / "transcript.js"
    _css = _CSS

    n_turns = t.Int(0).tag(sync=True)

    def __init__(self, conversation: Any = None, player: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conversation: Any = None
        self.player = player
        self.played: list[tuple[int, str]] = []  # (turn index, "assistant"|"user") play requests
        self._dirty: set[int] = set()
        self._index: dict[int, int] = {}  # id(turn) -> position
        self._flush_handle: asyncio.TimerHandle | None = None
        self._unsubscribe: Callable[[], Any] | None = None
        self.on_msg(self._on_front_msg)
        if conversation is not None:
            self.connect(conversation)

    # -- conversation ----------------------------------------------------------------------
    def connect(self, conversation: Any) -> TranscriptView:
        """Follow `conversation` (a Conversation, or anything with `.turns` and `.on_change`)."""
        self.disconnect()
        self.conversation = conversation
        self._index.clear()
        self._dirty.clear()
        unsubscribe = conversation.on_change(self._on_turn)
        self._unsubscribe = unsubscribe if callable(unsubscribe) else None
        self.n_turns = len(conversation.turns)
        self._send_reset()
        return self

    def disconnect(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    @property
    def turns(self) -> list[Any]:
        return list(self.conversation.turns) if self.conversation is not None else []

    def _position(self, turn: Any) -> int | None:
        pos = getattr(turn, "index", None)
        if isinstance(pos, int):
            return pos
        pos = self._index.get(id(turn))
        if pos is None:
            turns = self.conversation.turns
            self._index = {id(x): i for i, x in enumerate(turns)}
            pos = self._index.get(id(turn))
        return pos

    def _on_turn(self, turn: Any) -> None:
        pos = self._position(turn)
        if pos is None:
            return
        self._dirty.add(pos)
        if self._flush_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # plain Python: flush() sends when asked
            self._flush_handle = loop.call_later(FLUSH_INTERVAL_S, self.flush)

    # -- front end -------------------------------------------------------------------------
    def flush(self) -> list[dict[str, Any]]:
        """Send the turns changed since the last batch; returns their snapshots."""
        self._flush_handle = None
        if not self._dirty or self.conversation is None:
            return []
        turns = self.conversation.turns
        self.n_turns = len(turns)
        snaps = [turn_snapshot(i, turns[i]) for i in sorted(self._dirty) if i < len(turns)]
        self._dirty.clear()
        if snaps:
            self.send({"kind": "turns", "turns": snaps})
        return snaps

    def rows(self) -> list[dict[str, Any]]:
        """Every turn as its row shows it (headless access to what the page renders)."""
        return [turn_snapshot(i, turn) for i, turn in enumerate(self.turns)]

    def _send_reset(self) -> None:
        self._dirty.clear()
        self.send({"kind": "reset", "turns": self.rows()})

    def _on_front_msg(self, _widget: Any, content: dict, _buffers: list) -> None:
        kind = content.get("kind") if isinstance(content, dict) else None
        index = content.get("index") if isinstance(content, dict) else None
        if kind == "ready":
            self._send_reset()
        elif kind == "play" and isinstance(index, int):
            self.play(index, content.get("side", "assistant"))
        elif kind == "spectrogram" and isinstance(index, int):
            self.show_spectrogram(index)

    # -- actions ---------------------------------------------------------------------------
    def _turn(self, index: int) -> Any:
        turns = self.turns
        if not 0 <= index < len(turns):
            raise IndexError(f"turn {index} does not exist: the conversation has {len(turns)} turns")
        return turns[index]

    def play(self, index: int, side: str = "assistant") -> None:
        """Play a turn's assistant audio (or the user's, side="user")."""
        if side not in ("assistant", "user"):
            raise ValueError(f"side must be 'assistant' or 'user', got {side!r}")
        turn = self._turn(index)
        audio = getattr(turn, "audio" if side == "assistant" else "user_audio", None)
        if audio is None or len(audio) == 0:
            raise ValueError(f"turn {index} has no {side} audio to play")
        self.played.append((index, side))
        if self.player is not None:
            if side == "assistant":
                self.player.play(turn)
            else:
                self.player.play(np.asarray(audio, dtype=np.int16))
            return
        pcm = np.ascontiguousarray(audio, dtype="<i2").tobytes()
        self.send({"kind": "audio", "index": index, "side": side, "rate": 24000}, [pcm])

    def spectrogram_png(self, index: int) -> bytes:
        """PNG of `plot_spectrogram(turn)` for one turn."""
        import matplotlib.pyplot as plt

        from ..plots import plot_spectrogram

        result = plot_spectrogram(self._turn(index))
        fig = getattr(result, "figure", result)
        if isinstance(result, np.ndarray):  # an array of Axes
            fig = result.flat[0].figure
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
        plt.close(fig)
        return buf.getvalue()

    def show_spectrogram(self, index: int) -> bytes:
        """Render the turn's spectrogram inline under its row; returns the PNG."""
        try:
            png = self.spectrogram_png(index)
        except Exception as exc:  # shown in the row: a click must never fail silently
            self.send({"kind": "spectrogram", "index": index, "error": f"{type(exc).__name__}: {exc}"})
            raise
        self.send({"kind": "spectrogram", "index": index}, [png])
        return png

    def __repr__(self) -> str:
        return f"<TranscriptView {len(self.turns)} turns>"
