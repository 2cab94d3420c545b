"""TranscriptView: the conversation's turns, user then assistant, as they happen.

Per turn: the user's text or transcript ("(transcribing…)" while it is pending), the assistant's
transcript (of an interrupted turn, the words heard, then the rest marked as not played, with an
"interrupted at N ms" badge), latency, the tokens of its `response.done` usage (and their cost when
the model's prices are known), a play button and a "spectrogram" button that toggles
`plot_spectrogram(turn)` inline, drawn for the page's theme and width. A footer keeps the running
total of tokens and cost. Turn snapshots go to the
front end as batched custom messages (at most every ~100 ms), never as a growing synced list.
"""

from __future__ import annotations

import asyncio
import io
import pathlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import anywidget
import numpy as np
import traitlets as t

from ..errors import UnknownModelPrices
from ..pricing import PRICES_AS_OF, TokenCounts, TokenPrices, cost_usd, prices_for, token_counts
from ..protocol import SAMPLE_RATE
from ._protocols import TranscriptToPage, TurnPlayer, TurnSnapshot, TurnSource, Unsubscribe

if TYPE_CHECKING:
    from ..conversation import Turn

Side = Literal["assistant", "user"]

FLUSH_INTERVAL_S = 0.1
TRANSCRIBING = "(transcribing…)"
SPEAKING = "(speaking…)"
SPECTROGRAM_DPI = 80


def _dpi_for(fig: Any, width_px: float | None) -> float:
    """The resolution that makes the figure `width_px` wide (sharp at the page's pixel ratio)."""
    if not width_px:
        return SPECTROGRAM_DPI
    return float(np.clip(width_px / fig.get_figwidth(), 40, 220))


def _fmt_s(value: float | None) -> str | None:
    return f"{value:.2f} s" if isinstance(value, int | float) else None


def _usd(value: float) -> str:
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def usage_line(counts: TokenCounts, prices: TokenPrices | None) -> str:
    """`in 132 tokens (text 100, audio 32) · out 96 (text 16, audio 80) · $0.0061`."""
    cached = counts.text_cached_in + counts.audio_cached_in
    parts = [
        f"in {counts.input:,} tokens (text {counts.text_in + counts.text_cached_in:,}, "
        f"audio {counts.audio_in + counts.audio_cached_in:,}" + (f", cached {cached:,})" if cached else ")"),
        f"out {counts.output:,} (text {counts.text_out:,}, audio {counts.audio_out:,})",
    ]
    if prices is not None:
        parts.append(_usd(cost_usd(counts, prices)["cost_usd"]))
    return " · ".join(parts)


def total_line(turns: Sequence[Turn], model: str | None, prices: TokenPrices | None) -> str:
    """The footer: tokens (and cost) of every turn so far, and where the prices come from."""
    used = [token_counts(t.usage) for t in turns if t.usage is not None]
    if not used:
        return ""
    total = sum(used, TokenCounts())
    line = f"Total, {len(used)} turn{'s' if len(used) > 1 else ''}: {total.total:,} tokens"
    line += f" (in {total.input:,}, out {total.output:,})"
    if prices is None:
        return line + f" · no prices for {model or 'this model'}: TranscriptView(prices=...)"
    return (
        line
        + f" · {_usd(cost_usd(total, prices)['cost_usd'])} est. at {model or 'given'} prices of {PRICES_AS_OF}"
    )


def turn_snapshot(index: int, turn: Turn, prices: TokenPrices | None = None) -> TurnSnapshot:
    """What a turn row shows, as plain JSON (also the headless view of the transcript)."""
    user_audio = len(turn.user_audio)
    user, user_pending = _user_words(turn, user_audio)
    assistant = turn.transcript or turn.text
    if not assistant and turn.tool_calls:
        assistant = "; ".join(
            f"[called {c.name}({c.arguments})" + (f" → {c.output}]" if c.output is not None else "]")
            for c in turn.tool_calls
        )
    truncated = turn.truncated_ms
    unheard = turn.unheard_transcript if truncated is not None and turn.transcript else ""
    error = turn.error
    error_text = (
        (error.get("message") or error.get("code") or str(error)) if isinstance(error, dict) else error
    )
    return {
        "index": index,
        "user": user,
        "user_pending": user_pending,
        "user_audio_s": round(user_audio / SAMPLE_RATE, 2),
        "assistant": assistant,
        "heard": turn.heard_transcript if unheard else "",
        "unheard": unheard,
        "status": turn.status or "",
        "interrupted": f"interrupted at {int(truncated)} ms" if truncated is not None else "",
        "latency": _fmt_s(turn.latency_first_audio_s),
        "latency_done": _fmt_s(turn.latency_done_s),
        "audio_s": round(turn.audio_samples / SAMPLE_RATE, 2),
        "error": str(error_text) if error_text else "",
        "underruns": turn.underruns,
        "usage": usage_line(token_counts(turn.usage), prices) if turn.usage is not None else "",
    }


def _user_words(turn: Turn, user_audio: int) -> tuple[str, bool]:
    """The user's row: typed text, the transcript (pending until `.completed`), or what there is."""
    if turn.user_text:
        return turn.user_text, False
    if turn.user_transcript:  # grows from the deltas
        return turn.user_transcript, turn.user_transcript_pending
    if turn.user_transcript_pending:
        return TRANSCRIBING, True
    if turn.user_speaking:
        return SPEAKING, True
    if user_audio and turn.status == "cancelled" and turn.response_id is None:
        return f"(speech, {user_audio / SAMPLE_RATE:.1f} s; discarded, not sent)", False
    if user_audio:
        # Without input transcription no transcript will come: say what there is instead.
        return f"(speech, {user_audio / SAMPLE_RATE:.1f} s; input transcription is off)", False
    return "", False


class TranscriptView(anywidget.AnyWidget):
    """User and assistant turns of a Conversation, in order, live.

    `TranscriptView(conversation, player=None, prices=None)`: the play button plays a turn on
    `player` (an AudioPlayer) when given, else in the view itself (Web Audio in the page). Costs use
    `prices` (as `Conversation.cost` takes them), else the defaults for the session's model.
    """

    _esm = pathlib.Path(__file__).parent / "transcript.js"
    _css = pathlib.Path(__file__).parent / "transcript.css"

    n_turns = t.Int(0).tag(sync=True)

    def __init__(
        self,
        conversation: TurnSource | None = None,
        player: TurnPlayer | None = None,
        prices: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conversation: TurnSource | None = None
        self.player = player
        self.prices = prices
        self.played: list[tuple[int, str]] = []  # (turn index, "assistant"|"user") play requests
        self._dirty: set[int] = set()
        self._index: dict[int, int] = {}  # id(turn) -> position
        self._flush_handle: asyncio.TimerHandle | None = None
        self._unsubscribe: Unsubscribe | None = None
        self.on_msg(self._on_front_msg)
        if conversation is not None:
            self.connect(conversation)

    # -- conversation ----------------------------------------------------------------------
    def connect(self, conversation: TurnSource) -> Unsubscribe:
        """Follow `conversation` (a Conversation, or anything with `.turns` and `.on_change`);
        returns a function that disconnects."""
        self.disconnect()
        self.conversation = conversation
        self._index.clear()
        self._dirty.clear()
        unsubscribe = conversation.on_change(self._on_turn)
        self._unsubscribe = unsubscribe if callable(unsubscribe) else None
        self.n_turns = len(conversation.turns)
        self._send_reset()
        return self.disconnect

    def disconnect(self) -> None:
        """Stop following the conversation (the rows stay)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    @property
    def turns(self) -> list[Turn]:
        return list(self.conversation.turns) if self.conversation is not None else []

    def _position(self, turn: Turn) -> int | None:
        pos = getattr(turn, "index", None)
        if isinstance(pos, int):
            return pos
        pos = self._index.get(id(turn))
        if pos is None and self.conversation is not None:
            turns = self.conversation.turns
            self._index = {id(x): i for i, x in enumerate(turns)}
            pos = self._index.get(id(turn))
        return pos

    def _on_turn(self, turn: Turn) -> None:
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
    def flush(self) -> list[TurnSnapshot]:
        """Send the turns changed since the last batch; returns their snapshots."""
        self._flush_handle = None
        if not self._dirty or self.conversation is None:
            return []
        turns = self.conversation.turns
        self.n_turns = len(turns)
        prices = self._prices()
        snaps = [turn_snapshot(i, turns[i], prices) for i in sorted(self._dirty) if i < len(turns)]
        self._dirty.clear()
        if snaps:
            self._to_page({"kind": "turns", "turns": snaps, "total": self.total()})
        return snaps

    def rows(self) -> list[TurnSnapshot]:
        """Every turn as its row shows it (headless access to what the page renders)."""
        prices = self._prices()
        return [turn_snapshot(i, turn, prices) for i, turn in enumerate(self.turns)]

    def total(self) -> str:
        """The footer's running total of tokens (and cost) over every turn so far."""
        return total_line(self.turns, self._model(), self._prices())

    def _model(self) -> str | None:
        model = getattr(self.conversation, "model", None)
        return model if isinstance(model, str) else None

    def _prices(self) -> TokenPrices | None:
        try:
            return prices_for(self._model(), self.prices)
        except UnknownModelPrices:  # tokens only; the footer says how to give prices
            return None

    def _send_reset(self) -> None:
        self._dirty.clear()
        self._to_page({"kind": "reset", "turns": self.rows(), "total": self.total()})

    def _to_page(self, message: TranscriptToPage, buffers: list[bytes] | None = None) -> None:
        self.send(message, buffers)

    def _on_front_msg(self, _widget: Any, content: dict, _buffers: list) -> None:
        kind = content.get("kind") if isinstance(content, dict) else None
        index = content.get("index") if isinstance(content, dict) else None
        if kind == "ready":
            self._send_reset()
        elif kind == "play" and isinstance(index, int):
            self.play(index, content.get("side", "assistant"))
        elif kind == "spectrogram" and isinstance(index, int):
            theme = content.get("theme")
            width = content.get("width")
            self.show_spectrogram(
                index,
                theme=theme if theme in ("light", "dark") else "light",
                width_px=float(width) if isinstance(width, int | float) and width > 0 else None,
            )

    # -- actions ---------------------------------------------------------------------------
    def _turn(self, index: int) -> Turn:
        turns = self.turns
        if not 0 <= index < len(turns):
            raise IndexError(f"turn {index} does not exist: the conversation has {len(turns)} turns")
        return turns[index]

    def play(self, index: int, side: Side = "assistant") -> None:
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
        self._to_page({"kind": "audio", "index": index, "side": side, "rate": SAMPLE_RATE}, [pcm])

    def spectrogram_png(self, index: int, theme: str = "light", width_px: float | None = None) -> bytes:
        """PNG of `plot_spectrogram(turn, theme=theme)` for one turn, `width_px` pixels wide when given."""
        from ..plots import plot_spectrogram

        turn = self._turn(index)
        rows = 2 if len(turn.user_audio) else 1
        fig = plot_spectrogram(turn, theme=theme, figsize=(12, 2.4 * rows))  # compact: it sits in the list
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=_dpi_for(fig, width_px))
        return buf.getvalue()

    def show_spectrogram(self, index: int, theme: str = "light", width_px: float | None = None) -> bytes:
        """Render the turn's spectrogram inline under its row; returns the PNG."""
        try:
            png = self.spectrogram_png(index, theme, width_px)
        except Exception as exc:  # shown in the row: a click must never fail silently
            self._to_page({"kind": "spectrogram", "index": index, "error": f"{type(exc).__name__}: {exc}"})
            raise
        self._to_page({"kind": "spectrogram", "index": index}, [png])
        return png

    def __repr__(self) -> str:
        return f"<TranscriptView {len(self.turns)} turns>"
