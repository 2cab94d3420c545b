"""Spectrograms with the transcript on the time axis, and latency charts (matplotlib, headless).

Figures are `matplotlib.figure.Figure` objects made without pyplot, so a notebook shows each once
(the cell's value) and scripts never need a display. Inputs are duck-typed: arrays, `AudioReply`,
`Turn` (`.audio`, `.transcript_deltas`, `.user_audio`, ...), `Conversation` (`.turns`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .audio import to_float32
from .protocol import SAMPLE_RATE

__all__ = ["SpectrogramFigure", "plot_latencies", "plot_spectrogram", "spectrogram_db", "transcript_words"]

NPERSEG = 512
HOP = 128
USER_COLOR = "#1f77b4"
ASSISTANT_COLOR = "#d62728"


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
    """Words with the audio position of the delta where each starts, from `(arrival_s, text, audio_s)` deltas."""
    words: list[tuple[float, str]] = []
    current, start = "", 0.0
    for delta in deltas:
        text, position = str(delta[1]), float(delta[2])
        for i, piece in enumerate(text.split(" ")):
            if i > 0 or (not current and piece):
                # A space (or the very first text) starts a new word at this delta's position.
                if current.strip():
                    words.append((start, current.strip()))
                current, start = piece, position
            else:
                current += piece
    if current.strip():
        words.append((start, current.strip()))
    return words


def _spread_words(transcript: str, duration: float) -> list[tuple[float, str]]:
    """Without timings, place words proportionally to their length (an approximation)."""
    words = transcript.split()
    if not words or duration <= 0:
        return []
    total = sum(len(w) + 1 for w in words)
    out, pos = [], 0
    for w in words:
        out.append((duration * pos / total, w))
        pos += len(w) + 1
    return out


def _draw(
    ax: Any,
    samples: np.ndarray,
    rate: int,
    words: list[tuple[float, str]],
    title: str,
    color: str,
    *,
    db_range: float,
    max_freq: float | None,
) -> None:
    if samples is None or len(samples) == 0:
        ax.text(0.5, 0.5, "(no audio)", ha="center", va="center", transform=ax.transAxes, color="gray")
        ax.set_title(title, fontsize=10, color=color)
        ax.set_yticks([])
        return
    db, extent = spectrogram_db(samples, rate, db_range=db_range)
    ax.imshow(db, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=-db_range, vmax=0)
    duration = len(samples) / rate
    ax.set_xlim(0, duration)
    ax.set_ylim(0, max_freq or rate / 2)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(title, fontsize=10, color=color)
    trans = ax.get_xaxis_transform()  # x in seconds, y in axes fraction
    for i, (position, word) in enumerate(words):
        ax.axvline(position, color="white", alpha=0.35, lw=0.6)
        ax.text(
            position,
            0.97 - 0.07 * (i % 3),  # three staggered rows so neighbouring words do not overlap
            word,
            transform=trans,
            fontsize=8,
            color="white",
            va="top",
            ha="left",
            gid="transcript-word",
            clip_on=True,
        )


def _as_samples(audio: Any) -> np.ndarray:
    if audio is None:
        return np.zeros(0, dtype=np.int16)
    arr = np.asarray(audio)
    return arr if arr.size else np.zeros(0, dtype=np.int16)


def _assistant_panel(turn: Any) -> tuple[np.ndarray, int, list[tuple[float, str]], str]:
    samples = _as_samples(getattr(turn, "audio", None))
    rate = int(getattr(turn, "rate", SAMPLE_RATE) or SAMPLE_RATE)
    deltas = getattr(turn, "transcript_deltas", None) or []
    transcript = getattr(turn, "transcript", "") or getattr(turn, "text", "") or ""
    words = transcript_words(deltas) if deltas else _spread_words(transcript, len(samples) / rate)
    return samples, rate, words, transcript


def _user_panel(turn: Any) -> tuple[np.ndarray, int, list[tuple[float, str]], str]:
    samples = _as_samples(getattr(turn, "user_audio", None))
    transcript = getattr(turn, "user_transcript", "") or getattr(turn, "user_text", "") or ""
    return samples, SAMPLE_RATE, _spread_words(transcript, len(samples) / SAMPLE_RATE), transcript


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def plot_spectrogram(
    obj: Any,
    rate: int | None = None,
    *,
    title: str | None = None,
    db_range: float = 80.0,
    max_freq: float | None = 8000.0,
    max_turns: int = 6,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Log-magnitude spectrogram (dB) with the transcript on the time axis.

    `obj`: a numpy array (with `rate`, default 24 kHz), an `AudioReply`, a `Turn` (assistant audio,
    plus the user's audio beside it when there is any) or a `Conversation` (user and assistant of
    each of the last `max_turns` turns side by side).
    """
    if db_range <= 0:
        raise ValueError(f"db_range must be positive (dB below the peak to show), got {db_range!r}")
    if hasattr(obj, "turns"):
        turns = list(obj.turns)[-max_turns:]
        if not turns:
            raise ValueError("the conversation has no turns yet; plot it after a response")
        fig = _new_figure(figsize=figsize or (12, 2.6 * len(turns)), layout="constrained")
        axes = fig.subplots(len(turns), 2, squeeze=False)
        for row, turn in enumerate(turns):
            for col, (panel, who, color) in enumerate(
                ((_user_panel, "user", USER_COLOR), (_assistant_panel, "assistant", ASSISTANT_COLOR))
            ):
                samples, r, words, transcript = panel(turn)
                label = f"turn {row + 1} · {who}" + (f": {_short(transcript)}" if transcript else "")
                _draw(axes[row][col], samples, r, words, label, color, db_range=db_range, max_freq=max_freq)
        if title:
            fig.suptitle(title)
        return fig
    if isinstance(obj, (np.ndarray, list, tuple)):
        samples, r = _as_samples(obj), int(rate or SAMPLE_RATE)
        if samples.size == 0:
            raise ValueError("the audio is empty (0 samples); nothing to plot")
        fig = _new_figure(figsize=figsize or (10, 3.2), layout="constrained")
        _draw(
            fig.add_subplot(),
            samples,
            r,
            [],
            title or "",
            ASSISTANT_COLOR,
            db_range=db_range,
            max_freq=max_freq,
        )
        return fig
    if hasattr(obj, "audio"):
        samples, r, words, transcript = _assistant_panel(obj)
        user_samples = _as_samples(getattr(obj, "user_audio", None))
        label = title or _short(transcript) or "assistant"
        if user_samples.size:
            fig = _new_figure(figsize=figsize or (12, 3.2), layout="constrained")
            ax_user, ax_assistant = fig.subplots(1, 2, squeeze=True)
            u_samples, u_rate, u_words, u_text = _user_panel(obj)
            _draw(
                ax_user,
                u_samples,
                u_rate,
                u_words,
                "user: " + _short(u_text),
                USER_COLOR,
                db_range=db_range,
                max_freq=max_freq,
            )
            _draw(
                ax_assistant,
                samples,
                r,
                words,
                "assistant: " + (_short(transcript) or "(no transcript)"),
                ASSISTANT_COLOR,
                db_range=db_range,
                max_freq=max_freq,
            )
            if title:  # over both panels: each keeps the words it shows
                fig.suptitle(title)
        else:
            if samples.size == 0:
                raise ValueError("this reply has no audio yet; plot it once audio arrived")
            fig = _new_figure(figsize=figsize or (10, 3.2), layout="constrained")
            _draw(
                fig.add_subplot(),
                samples,
                r,
                words,
                label,
                ASSISTANT_COLOR,
                db_range=db_range,
                max_freq=max_freq,
            )
        return fig
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
