"""Spectrogram and latency figures: headless, words where they are spoken, labels that never overlap."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pytest

from realtime_widgets.completions import speak
from realtime_widgets.config import ConnectionConfig
from realtime_widgets.emulator.voice import speak as synthesize_with_times
from realtime_widgets.plots import plot_latencies, plot_spectrogram, spectrogram_db, transcript_words

COLOUR_BAR_LABEL = "power (dB re peak)"


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


def spectrogram_axes(fig) -> list:
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def label_boxes(fig) -> list:
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    return [
        t.get_window_extent(renderer)
        for ax in fig.axes
        for t in ax.texts
        if t.get_gid() == "transcript-word" and t.get_visible()
    ]


def test_words_sit_where_they_are_spoken_not_where_their_text_arrived():
    speech = synthesize_with_times("Hello there, my friend. The weather is sunny today.", "coral")
    truth = [t for _, t in speech.words]
    # Every word's text arrived with the audio position at 0 (the service's text runs ahead).
    deltas = [(0.0, (" " if i else "") + w, 0.0) for i, (w, _) in enumerate(speech.words)]
    fig = plot_spectrogram(FakeTurn(speech.audio, deltas, " ".join(w for w, _ in speech.words)))
    (ax,) = spectrogram_axes(fig)
    onsets = [line.get_xdata()[0] for line in ax.lines if line.get_gid() == "word-onset"]
    assert len(onsets) == len(truth)
    assert np.median(np.abs(np.array(onsets) - truth)) < 0.08
    assert ax.get_xlim() == (0.0, speech.duration_s)
    assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_colour_bar_in_db_and_titles_that_say_what_is_shown():
    fig = plot_spectrogram(FakeTurn(chirp(1.5), transcript="Hello there friend."))
    bars = [ax for ax in fig.axes if ax.get_ylabel() == COLOUR_BAR_LABEL]
    assert len(bars) == 1 and bars[0].get_ylim() == (-80.0, 0.0)
    (ax,) = spectrogram_axes(fig)
    assert ax.get_title(loc="left") == 'assistant · 1.5 s: "Hello there friend."'


def test_crowded_word_labels_never_overlap_and_the_longest_words_stay():
    words = ["a", "supercalifragilistic", "b", "c", "wonderful", "d", "e", "f", "extraordinary", "g"] * 6
    deltas = [(0.0, (" " if i else "") + w, 0.0) for i, w in enumerate(words)]
    turn = FakeTurn(chirp(0.8), deltas, " ".join(words))
    for fig in (plot_spectrogram(turn), plot_spectrogram(FakeConversation([turn, turn]))):
        boxes = label_boxes(fig)
        assert 3 <= len(boxes) < len(words) * len(spectrogram_axes(fig))  # some had to go
        for a, b in itertools.combinations(boxes, 2):
            assert not a.overlaps(b), (a, b)
        shown = {t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == "transcript-word"}
        assert "supercalifragilistic" in shown  # placed first: longest words carry the most


def test_dark_theme_draws_on_a_dark_background():
    fig = plot_spectrogram(FakeTurn(chirp(1.0), transcript="Hi"), theme="dark")
    png = fig._repr_png_()
    import io

    from matplotlib.image import imread

    pixels = imread(io.BytesIO(png))
    assert pixels[2, 2, :3].mean() < 0.2  # the corner: figure background
    light = imread(io.BytesIO(plot_spectrogram(FakeTurn(chirp(1.0), transcript="Hi"))._repr_png_()))
    assert light[2, 2, :3].mean() > 0.9
    with pytest.raises(ValueError, match="theme must be one of 'light', 'dark'"):
        plot_spectrogram(chirp(), theme="blue")


def test_one_turn_is_drawn_larger_than_in_the_conversation_view():
    turn = FakeTurn(chirp(0.7), [(0, "Two", 0.0), (0, " more", 0.3)], "Two more", chirp(0.4), "second")
    one = plot_spectrogram(turn)
    many = plot_spectrogram(FakeConversation([turn, turn]))
    for fig in (one, many):
        fig.draw_without_rendering()
    renderer = one.canvas.get_renderer()
    one_area = min(ax.get_window_extent(renderer).width for ax in spectrogram_axes(one))
    many_area = max(ax.get_window_extent(many.canvas.get_renderer()).width for ax in spectrogram_axes(many))
    assert one_area > 1.5 * many_area  # each side gets the full width


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
    axes = spectrogram_axes(fig)
    assert len(axes) == 4
    titles = [ax.get_title(loc="left") for ax in axes]
    assert titles[0] == 'turn 1 · user · 0.8 s: "first"' and titles[1] == 'turn 1 · assistant · 0.5 s: "One"'
    assert fig._suptitle.get_text().startswith("Conversation, 2 turns")
    assert [w for w, _ in words_on(axes[3])] == ["Two", "more"]
    lat = plot_latencies(FakeConversation(turns))
    labels = [t.get_text() for t in lat.axes[0].texts]
    assert labels == ["0.21", "n/a", "0.90", "1.20"]


def test_audio_reply_from_emulator(emulator):
    reply = speak("Hello world", connection=ConnectionConfig.for_emulator(emulator))
    fig = plot_spectrogram(reply)
    (ax,) = spectrogram_axes(fig)
    assert ax.get_title(loc="left").startswith(f"assistant · {reply.duration_s:.1f} s")
    positions = [line.get_xdata()[0] for line in ax.lines if line.get_gid() == "word-onset"]
    assert len(positions) == len(reply.transcript.split())
    assert positions == sorted(positions) and positions[-1] < reply.duration_s


def test_arrays_and_errors():
    fig = plot_spectrogram(
        np.random.default_rng(0).standard_normal((16000, 2)).astype(np.float32) * 0.1, rate=16000
    )
    assert fig.axes[0].get_ylim()[1] == 8000
    assert fig.axes[0].get_title(loc="left") == "audio · 1.0 s at 16 kHz"
    with pytest.raises(ValueError, match="empty"):
        plot_spectrogram(np.zeros(0))
    with pytest.raises(TypeError, match="numpy array"):
        plot_spectrogram("hello")
    with pytest.raises(ValueError, match="no turns"):
        plot_spectrogram(FakeConversation([]))
    with pytest.raises(ValueError, match="db_range must be positive"):
        plot_spectrogram(chirp(), db_range=0)


def test_transcript_words_are_the_arrival_positions():
    assert transcript_words([]) == []
    assert transcript_words([(0, " Hi", 0.2), (0, " ", 0.3), (0, "you", 0.4)]) == [(0.2, "Hi"), (0.4, "you")]


def test_a_title_goes_over_both_panels_and_old_calls_keep_working():
    turn = FakeTurn(audio=chirp(1.0), transcript="Hello there", user_audio=chirp(0.8), user_transcript="hi")
    fig = plot_spectrogram(turn, title="last turn", figsize=(8, 5))
    assert fig._suptitle is not None and fig._suptitle.get_text() == "last turn"
    assert [ax.get_title(loc="left") for ax in spectrogram_axes(fig)] == [
        'user · 0.8 s: "hi"',
        'assistant · 1.0 s: "Hello there"',
    ]
    assert tuple(fig.get_size_inches()) == (8, 5)
