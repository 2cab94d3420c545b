"""Spectrograms with the transcript on the time axis, and latency charts (matplotlib, headless).

Figures are `matplotlib.figure.Figure` objects made without pyplot, so a notebook shows each once
(the cell's value) and scripts never need a display. Inputs are duck-typed: arrays, `AudioReply`,
`Turn` (`.audio`, `.word_times`, `.user_audio`, ...), `Conversation` (`.turns`). Words sit where
they are spoken (`conversation.alignment`), not where their text arrived.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib
import numpy as np
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .audio import to_float32
from .conversation.alignment import WordTime, align_words, anchored_words
from .protocol import SAMPLE_RATE

__all__ = [
    "THEMES",
    "SpectrogramFigure",
    "plot_latencies",
    "plot_spectrogram",
    "spectrogram_db",
    "transcript_words",
]

NPERSEG = 512
HOP = 128
USER_COLOR = "#1f77b4"
ASSISTANT_COLOR = "#d62728"
WORD_FONT_SIZE = 8
LABEL_GAP_PX = 4  # between two word labels on one row

# Matplotlib settings per page theme (JupyterLab's light and dark), with each side's colour.
THEMES: dict[str, dict[str, Any]] = {
    "light": {
        "rc": {
            "figure.facecolor": "#ffffff",
            "savefig.facecolor": "#ffffff",
            "axes.facecolor": "#ffffff",
            "axes.edgecolor": "#777777",
            "axes.labelcolor": "#222222",
            "text.color": "#222222",
            "xtick.color": "#333333",
            "ytick.color": "#333333",
        },
        "user": USER_COLOR,
        "assistant": ASSISTANT_COLOR,
        "muted": "#777777",
    },
    "dark": {
        "rc": {
            "figure.facecolor": "#1e1e1e",
            "savefig.facecolor": "#1e1e1e",
            "axes.facecolor": "#1e1e1e",
            "axes.edgecolor": "#8a8a8a",
            "axes.labelcolor": "#dddddd",
            "text.color": "#e6e6e6",
            "xtick.color": "#cccccc",
            "ytick.color": "#cccccc",
        },
        "user": "#79b8ff",
        "assistant": "#ff8a80",
        "muted": "#a0a0a0",
    },
}


class SpectrogramFigure(Figure):
    """A Figure that renders itself as PNG in Jupyter even when no pyplot backend is active."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()


def _new_figure(**kw: Any) -> SpectrogramFigure:
    fig = SpectrogramFigure(**kw)
    FigureCanvasAgg(fig)
    return fig


def _stft(rate: int, nperseg: int = NPERSEG, hop: int = HOP) -> Any:
    from scipy.signal import ShortTimeFFT
    from scipy.signal.windows import hann

    return ShortTimeFFT(hann(nperseg, sym=False), hop=hop, fs=rate, scale_to="magnitude")


def spectrogram_db(
    x: np.ndarray, rate: int = SAMPLE_RATE, *, nperseg: int = NPERSEG, hop: int = HOP, db_range: float = 80.0
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """(|STFT|² in dB relative to the peak, clipped to -db_range; imshow extent (t0, t1, f0, f1))."""
    samples = to_float32(x)
    sft = _stft(rate, nperseg, hop)
    power = sft.spectrogram(samples)
    peak = float(power.max()) or 1.0
    db = 10.0 * np.log10(np.maximum(power, peak * 10 ** (-db_range / 10)) / peak)
    t0, t1, f0, f1 = (float(v) for v in sft.extent(len(samples)))
    return db.astype(np.float32, copy=False), (t0, t1, f0, f1)


def transcript_words(deltas: Sequence[Sequence[Any]]) -> list[tuple[float, str]]:
    """Words with the audio position of the delta where each *arrived*, from `(arrival_s, text,
    audio_s)` deltas (where they are spoken: `Turn.word_times`)."""
    return [(position, word) for word, position in anchored_words(deltas)]


@dataclass
class _Panel:
    """One spectrogram: audio, its words, a title, and the side it shows."""

    samples: np.ndarray
    rate: int
    words: list[WordTime]
    title: str
    side: str  # "user" | "assistant"
    cut_s: float | None = None  # playback stopped here (an interrupted turn)
    labels: list[Any] = field(default_factory=list)


def _as_samples(audio: Any) -> np.ndarray:
    if audio is None:
        return np.zeros(0, dtype=np.int16)
    arr = np.asarray(audio)
    return arr if arr.size else np.zeros(0, dtype=np.int16)


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _title(parts: list[str], text: str, room: int) -> str:
    """`turn 2 · assistant · 3.1 s: "the words…"`, the words cut to fit `room` characters in all."""
    head = " · ".join(p for p in parts if p)
    return head + (f': "{_short(text, max(12, room - len(head)))}"' if text else "")


def _assistant_panel(obj: Any, turn_label: str = "", room: int = 100) -> _Panel:
    samples = _as_samples(getattr(obj, "audio", None))
    rate = int(getattr(obj, "rate", SAMPLE_RATE) or SAMPLE_RATE)
    transcript = getattr(obj, "transcript", "") or getattr(obj, "text", "") or ""
    words = getattr(obj, "word_times", None)
    if words is None:
        words = align_words(samples, rate, getattr(obj, "transcript_deltas", None) or (), transcript)
    truncated = getattr(obj, "truncated_ms", None)
    duration = f"{len(samples) / rate:.1f} s" if samples.size else "no audio"
    cut = f"interrupted at {int(truncated)} ms" if truncated is not None else ""
    title = _title([turn_label, "assistant", duration, cut], transcript, room)
    cut_s = truncated / 1000.0 if truncated is not None else None
    return _Panel(samples, rate, list(words), title, "assistant", cut_s)


def _user_panel(turn: Any, turn_label: str = "", room: int = 100) -> _Panel:
    samples = _as_samples(getattr(turn, "user_audio", None))
    transcript = getattr(turn, "user_transcript", "") or ""
    words = getattr(turn, "user_word_times", None)
    if words is None:
        words = align_words(samples, SAMPLE_RATE, (), transcript)
    said = transcript or getattr(turn, "user_text", "") or ""
    duration = f"{len(samples) / SAMPLE_RATE:.1f} s" if samples.size else "typed"
    return _Panel(
        samples, SAMPLE_RATE, list(words), _title([turn_label, "user", duration], said, room), "user"
    )


def _draw(ax: Any, panel: _Panel, theme: dict[str, Any], *, db_range: float, max_freq: float | None) -> Any:
    """The spectrogram image of one panel (None without audio); word labels come after layout."""
    ax.set_title(panel.title, fontsize=10, color=theme[panel.side], loc="left")
    if panel.samples.size == 0:
        ax.text(
            0.5, 0.5, "(no audio)", ha="center", va="center", transform=ax.transAxes, color=theme["muted"]
        )
        ax.set_xticks([])
        ax.set_yticks([])
        return None
    db, extent = spectrogram_db(panel.samples, panel.rate, db_range=db_range)
    image = ax.imshow(db, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=-db_range, vmax=0)
    duration = len(panel.samples) / panel.rate
    ax.set_xlim(0, duration)
    ax.set_ylim(0, max_freq or panel.rate / 2)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    for word in panel.words:
        ax.axvline(word.start_s, color="white", alpha=0.45, lw=0.7, gid="word-onset")
    if panel.cut_s is not None and panel.cut_s < duration:
        ax.axvspan(panel.cut_s, duration, color="#000000", alpha=0.45, lw=0, gid="not-played")
        ax.axvline(panel.cut_s, color="#ffd54f", lw=1.2, ls="--", gid="cut")
        ax.text(
            panel.cut_s,
            0.03,
            " not played ",
            transform=ax.get_xaxis_transform(),
            fontsize=8,
            color="#ffd54f",
            va="bottom",
        )
    return image


def _place_words(fig: Figure, panels: list[tuple[Any, _Panel]]) -> None:
    """Word labels in rows from the top of each panel; a label that would touch another on every
    row is left out (its onset mark stays). Longer words are placed first: they carry more meaning."""
    fig.draw_without_rendering()  # the layout engine sets the axes' final sizes
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    outline = [patheffects.withStroke(linewidth=2.2, foreground="black")]
    for ax, panel in panels:
        if panel.samples.size == 0 or not panel.words:
            continue
        box = ax.get_window_extent(renderer)
        x0, x1 = ax.get_xlim()
        px_per_s = box.width / (x1 - x0)
        texts = []
        for word in panel.words:
            text = ax.text(
                word.start_s,
                1.0,
                word.word,
                transform=ax.get_xaxis_transform(),
                fontsize=WORD_FONT_SIZE,
                color="white",
                va="top",
                ha="left",
                gid="transcript-word",
                path_effects=outline,
                clip_on=True,
            )
            text.set_in_layout(False)
            texts.append(text)
        sizes = [t.get_window_extent(renderer) for t in texts]
        row_px = max(s.height for s in sizes) + 2
        rows = max(1, min(4, int(box.height * 0.45 // row_px)))
        taken: list[list[tuple[float, float]]] = [[] for _ in range(rows)]
        order = sorted(range(len(texts)), key=lambda i: (-len(panel.words[i].word.strip(".,!?;:")), i))
        for i in order:
            left = box.x0 + (panel.words[i].start_s - x0) * px_per_s
            left = min(left, box.x1 - sizes[i].width - 2)  # a late word ends at the edge, not beyond
            span = (left - LABEL_GAP_PX / 2, left + sizes[i].width + LABEL_GAP_PX / 2)
            row = next(
                (r for r in range(rows) if all(span[1] <= a or span[0] >= b for a, b in taken[r])), None
            )
            if row is None or left < box.x0:
                texts[i].remove()
                continue
            taken[row].append(span)
            texts[i].set_x(x0 + (left - box.x0) / px_per_s)
            texts[i].set_y(1.0 - (3 + row * row_px) / box.height)
            panel.labels.append(texts[i])


def _colour_bar(fig: Figure, image: Any, axes: list[Any]) -> None:
    if image is not None:
        bar = fig.colorbar(image, ax=axes, fraction=0.025, pad=0.01, aspect=30)
        bar.set_label("power (dB re peak)")


def _check(theme: str, db_range: float) -> dict[str, Any]:
    if db_range <= 0:
        raise ValueError(f"db_range must be positive (dB below the peak to show), got {db_range!r}")
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {', '.join(map(repr, THEMES))}, got {theme!r}")
    return THEMES[theme]


def plot_spectrogram(
    obj: Any,
    rate: int | None = None,
    *,
    title: str | None = None,
    db_range: float = 80.0,
    max_freq: float | None = 8000.0,
    max_turns: int = 6,
    figsize: tuple[float, float] | None = None,
    theme: str = "light",
) -> Figure:
    """Log-magnitude spectrogram (dB re peak, with a colour bar) with the words where they are spoken.

    `obj`: a numpy array (with `rate`, default 24 kHz), an `AudioReply`, a `Turn` (user above
    assistant, each the full width) or a `Conversation` (user beside assistant for each of the last
    `max_turns` turns). `theme`: "light" or "dark", to match the page.
    """
    style = _check(theme, db_range)
    with matplotlib.rc_context(style["rc"]):
        rows, figure_title, width = _panels(obj, rate, title, max_turns)
        columns = len(rows[0])
        height = (2.6 if columns > 1 else 3.3) * len(rows) + (0.4 if figure_title else 0)
        fig = _new_figure(figsize=figsize or (width, height), layout="constrained")
        axes = fig.subplots(len(rows), columns, squeeze=False)
        drawn: list[tuple[Any, _Panel]] = []
        image = None
        for r, row in enumerate(rows):
            for c, panel in enumerate(row):
                image = _draw(axes[r][c], panel, style, db_range=db_range, max_freq=max_freq) or image
                drawn.append((axes[r][c], panel))
        _colour_bar(fig, image, list(axes.flat))
        if figure_title:
            fig.suptitle(figure_title, fontsize=11)
        _place_words(fig, drawn)
    return fig


def _panels(
    obj: Any, rate: int | None, title: str | None, max_turns: int
) -> tuple[list[list[_Panel]], str, float]:
    """The panels to draw, row by row, the figure's title and its width in inches."""
    if hasattr(obj, "turns"):
        every = list(obj.turns)
        turns = every[-max_turns:]
        if not turns:
            raise ValueError("the conversation has no turns yet; plot it after a response")
        rows = []
        for n, turn in enumerate(turns, start=len(every) - len(turns)):
            label = f"turn {getattr(turn, 'index', n) + 1}"
            rows.append([_user_panel(turn, label, 62), _assistant_panel(turn, label, 62)])
        shown = (
            f"last {len(turns)} of {len(every)} turns" if len(turns) < len(every) else f"{len(every)} turns"
        )
        return rows, title or f"Conversation, {shown}: user (left) and assistant (right)", 13.0
    if isinstance(obj, (np.ndarray, list, tuple)):
        samples, r = _as_samples(obj), int(rate or SAMPLE_RATE)
        if samples.size == 0:
            raise ValueError("the audio is empty (0 samples); nothing to plot")
        heading = title or f"audio · {len(samples) / r:.1f} s at {r / 1000:g} kHz"
        return [[_Panel(samples, r, [], heading, "assistant")]], "", 11.0
    if hasattr(obj, "audio"):
        index = getattr(obj, "index", None)
        label = f"turn {index + 1}" if isinstance(index, int) else ""
        assistant = _assistant_panel(obj, label)
        user_samples = _as_samples(getattr(obj, "user_audio", None))
        if user_samples.size:
            return [[_user_panel(obj, label)], [assistant]], title or "", 12.0
        if assistant.samples.size == 0:
            raise ValueError("this reply has no audio yet; plot it once audio arrived")
        return [[assistant]], title or "", 12.0
    raise TypeError(
        f"plot_spectrogram cannot plot a {type(obj).__name__}; pass a numpy array (with rate=), an AudioReply, "
        "a Turn or a Conversation"
    )


def plot_latencies(conversation: Any, *, figsize: tuple[float, float] | None = None) -> Figure:
    """Per-turn latency to the first audio and to `response.done` (seconds), as grouped bars."""
    turns = list(getattr(conversation, "turns", conversation))
    if not turns:
        raise ValueError("the conversation has no turns yet; plot latencies after a response")

    def seconds(turn: Any, name: str) -> float:
        value = getattr(turn, name, None)
        return float(value) if value is not None else float("nan")

    first = np.array([seconds(t, "latency_first_audio_s") for t in turns])
    done = np.array([seconds(t, "latency_done_s") for t in turns])
    x = np.arange(1, len(turns) + 1)
    fig = _new_figure(figsize=figsize or (max(5, 0.6 * len(turns) + 3), 3.2), layout="constrained")
    ax = fig.add_subplot()
    width = 0.38
    ax.bar(
        x - width / 2,
        np.nan_to_num(first),
        width,
        label="first audio",
        color=ASSISTANT_COLOR,
        gid="first-audio",
    )
    ax.bar(x + width / 2, np.nan_to_num(done), width, label="response done", color="#7f7f7f", gid="done")
    for xs, values in ((x - width / 2, first), (x + width / 2, done)):
        for xi, v in zip(xs, values, strict=True):
            ax.text(
                xi,
                (0 if np.isnan(v) else v),
                "n/a" if np.isnan(v) else f"{v:.2f}",
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.set_xticks(x)
    ax.set_xlabel("turn")
    ax.set_ylabel("seconds")
    ax.set_title("latency per turn (from end of speech or send)")
    ax.legend(loc="upper left", fontsize=8)
    return fig
