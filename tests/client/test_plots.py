"""Spectrogram and latency figures: headless, transcript words placed at their delta timings."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from matplotlib.figure import Figure

from realtime_widgets.completions import speak
from realtime_widgets.config import ConnectionConfig
from realtime_widgets.plots import plot_latencies, plot_spectrogram, spectrogram_db, transcript_words


@dataclass
class FakeTurn:  # duck-typed like conversation.Turn
    audio: np.ndarray
    transcript_deltas: list = field(default_factory=list)
    transcript: str = ""
    user_audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    user_transcript: str = ""
    latency_first_audio_s: float | None = None
    latency_done_s: float | None = None


@dataclass
class FakeConversation:
    turns: list


def chirp(seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(24000 * seconds)) / 24000
    return (np.sin(2 * np.pi * (300 + 1500 * t) * t) * 12000).astype(np.int16)


def words_on(ax) -> list[tuple[str, float]]:
    return [(t.get_text(), t.get_position()[0]) for t in ax.texts if t.get_gid() == "transcript-word"]


def test_turn_words_at_delta_positions():
    turn = FakeTurn(
        audio=chirp(1.5),
        transcript_deltas=[
            (0.10, "Hel", 0.0),
            (0.12, "lo", 0.05),
            (0.20, " there", 0.62),
            (0.30, " friend.", 1.1),
        ],
        transcript="Hello there friend.",
    )
    fig = plot_spectrogram(turn)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert words_on(fig.axes[0]) == [("Hello", 0.0), ("there", 0.62), ("friend.", 1.1)]
    assert fig.axes[0].get_xlim() == (0.0, 1.5)
    assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"


def test_spectrogram_shows_the_tone_frequency():
    t = np.arange(24000) / 24000
    db, extent = spectrogram_db((np.sin(2 * np.pi * 1000 * t) * 8000).astype(np.int16))
    freqs = np.linspace(extent[2], extent[3], db.shape[0])
    assert abs(freqs[np.argmax(db.mean(axis=1))] - 1000) < 60
    assert db.max() == pytest.approx(0.0) and db.min() >= -80.0


def test_conversation_user_and_assistant_side_by_side_and_latencies():
    turns = [
        FakeTurn(chirp(0.5), [(0, "One", 0.0)], "One", chirp(0.8), "first", 0.21, 0.9),
        FakeTurn(
            chirp(0.7), [(0, "Two", 0.0), (0, " more", 0.3)], "Two more", chirp(0.4), "second", None, 1.2
        ),
    ]
    fig = plot_spectrogram(FakeConversation(turns))
    assert len(fig.axes) == 4
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("turn 1 · user") and titles[1].startswith("turn 1 · assistant")
    assert words_on(fig.axes[3]) == [("Two", 0.0), ("more", 0.3)]
    lat = plot_latencies(FakeConversation(turns))
    labels = [t.get_text() for t in lat.axes[0].texts]
    assert labels == ["0.21", "n/a", "0.90", "1.20"]


def test_audio_reply_from_emulator(emulator):
    reply = speak("Hello world", connection=ConnectionConfig.for_emulator(emulator))
    fig = plot_spectrogram(reply)
    words = [w for w, _ in words_on(fig.axes[0])]
    assert " ".join(words) == reply.transcript
    positions = [x for _, x in words_on(fig.axes[0])]
    assert positions == sorted(positions) and positions[-1] < reply.duration_s


def test_arrays_and_errors():
    fig = plot_spectrogram(
        np.random.default_rng(0).standard_normal((16000, 2)).astype(np.float32) * 0.1, rate=16000
    )
    assert fig.axes[0].get_ylim()[1] == 8000
    with pytest.raises(ValueError, match="empty"):
        plot_spectrogram(np.zeros(0))
    with pytest.raises(TypeError, match="numpy array"):
        plot_spectrogram("hello")
    with pytest.raises(ValueError, match="no turns"):
        plot_spectrogram(FakeConversation([]))


def test_transcript_words_edge_cases():
    assert transcript_words([]) == []
    assert transcript_words([(0, " Hi", 0.2), (0, " ", 0.3), (0, "you", 0.4)]) == [(0.2, "Hi"), (0.4, "you")]


def test_a_title_goes_over_both_panels_and_each_panel_keeps_its_words():
    turn = FakeTurn(
        audio=chirp(1.0),
        transcript="Hello there",
        user_audio=chirp(0.8),
        user_transcript="hi",
    )
    fig = plot_spectrogram(turn, title="last turn")
    assert fig._suptitle is not None and fig._suptitle.get_text() == "last turn"
    assert [ax.get_title() for ax in fig.axes] == ["user: hi", "assistant: Hello there"]
