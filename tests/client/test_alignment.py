"""Word onsets aligned to the audio (conversation/alignment.py), against the emulator's own word times."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_widgets.config import ConnectionConfig
from realtime_widgets.conversation.alignment import WordTime, align_words, anchored_words, spoken_weight
from realtime_widgets.emulator.voice import speak
from realtime_widgets.session import RealtimeSession
from realtime_widgets.session_config import SessionConfig

RATE = 24_000


def emulator_deltas(speech, chunk_s: float = 0.25) -> list[tuple[float, str, float]]:
    """Deltas as the emulator sends them: a word's text just before the audio chunk it starts in."""
    return [
        (0.0, (" " if i else "") + word, np.floor(start / chunk_s) * chunk_s)
        for i, (word, start) in enumerate(speech.words)
    ]


def onset_errors(words: list[WordTime], speech) -> np.ndarray:
    assert [w.word for w in words] == [w for w, _ in speech.words]
    return np.abs(np.array([w.start_s for w in words]) - [t for _, t in speech.words])


@pytest.mark.parametrize("voice", ["alloy", "echo", "verse"])
def test_onsets_beat_the_arrival_positions(voice):
    speech = speak("Sure, the train to Glasgow leaves at nine; bring a coat, it is cold outside.", voice)
    deltas = emulator_deltas(speech)
    aligned = align_words(speech.audio, RATE, deltas, " ".join(w for w, _ in speech.words))
    arrival = np.abs(np.array([a for _, a in anchored_words(deltas)]) - [t for _, t in speech.words])
    errors = onset_errors(aligned, speech)
    assert np.median(errors) < 0.06 and np.median(errors) < np.median(arrival) / 2
    assert all(a.start_s <= b.start_s for a, b in zip(aligned, aligned[1:], strict=False))


@pytest.mark.parametrize("arrival", ["in one burst", "ever further ahead"])
def test_text_that_runs_ahead_of_the_audio_bounds_nothing_it_cannot(arrival):
    # The service may send the text long before its audio: all at once, or faster than it is spoken.
    # Such anchors must not pull words off their sound: no worse than no anchors at all.
    text = "Thanks for waiting! Your order has shipped and should arrive on Thursday afternoon."
    speech = speak(text, "ballad")
    ahead = 0.0 if arrival == "in one burst" else 0.6
    deltas = [
        (0.0, (" " if i else "") + word, np.floor(ahead * start / 0.25) * 0.25)
        for i, (word, start) in enumerate(speech.words)
    ]
    errors = onset_errors(align_words(speech.audio, RATE, deltas, text), speech)
    unanchored = onset_errors(align_words(speech.audio, RATE, (), text), speech)
    assert np.median(errors) <= np.median(unanchored) + 0.01, (errors, unanchored)
    assert np.max(errors) <= np.max(unanchored) + 0.05, (errors, unanchored)


def _perturbed(audio: np.ndarray, seed: int):
    """(audio, its shift in s): as synthesized, shifted by a few samples either way, with a little noise."""
    yield audio, 0.0
    for shift in (5, -9):
        moved = np.roll(audio, shift)
        moved[slice(0, shift) if shift > 0 else slice(shift, None)] = 0
        yield moved, shift / RATE
    noise = np.random.default_rng(seed).normal(0, 3, audio.size)
    yield np.clip(audio + noise, -32768, 32767).astype(audio.dtype), 0.0


def test_small_changes_of_the_audio_move_the_words_little():
    # eSpeak's output differs by some samples from one synthesis to the next; the alignment of the
    # same text with the same anchors must not swing between solutions (it once moved words 0.25 s).
    text = "Thanks for waiting! Your order has shipped and should arrive on Thursday afternoon."
    placements = []
    for synthesis in range(4):
        speech = speak(text, "ballad")
        truth = np.array([t for _, t in speech.words])
        for audio, shift in _perturbed(np.asarray(speech.audio), synthesis):
            unanchored = align_words(audio, RATE, (), text)
            placements.append([w.start_s - shift for w in unanchored])
            u = np.abs(np.array([w.start_s for w in unanchored]) - truth - shift)
            for ahead in (0.0, 0.6, 1.0):
                deltas = [
                    (0.0, (" " if i else "") + word, shift + np.floor(ahead * start / 0.25) * 0.25)
                    for i, (word, start) in enumerate(speech.words)
                ]
                aligned = align_words(audio, RATE, deltas, text)
                placements.append([w.start_s - shift for w in aligned])
                errors = np.abs(np.array([w.start_s for w in aligned]) - truth - shift)
                where = (synthesis, shift, ahead, errors.round(3), u.round(3))
                assert np.median(errors) <= np.median(u) + 0.01, where
                assert np.max(errors) <= np.max(u) + 0.05, where
                assert np.median(errors) < 0.06, where
    spread = np.ptp(np.array(placements), axis=0)
    assert np.median(spread) < 0.03, spread.round(3)


def test_without_deltas_the_audio_alone_places_the_words():
    speech = speak("Spectrograms show how the energy of a sound is spread over frequency and time.", "sage")
    words = align_words(speech.audio, RATE, (), " ".join(w for w, _ in speech.words))
    assert np.median(onset_errors(words, speech)) < 0.15  # looser: nothing anchors the words
    assert all(w.anchor_s is None for w in words)


def test_fallbacks_say_something_sensible():
    assert align_words(None, RATE, (), "") == []
    # no audio: the anchors as they are
    got = align_words(None, RATE, [(0, "Hi", 0.0), (0, " you", 0.2)], "")
    assert got == [WordTime("Hi", 0.0, 0.0), WordTime("you", 0.2, 0.2)]
    # silence: spread by spoken length over the duration
    spread = align_words(np.zeros(RATE, np.int16), RATE, (), "a wonderful day")
    assert [w.word for w in spread] == ["a", "wonderful", "day"]
    assert 0 == spread[0].start_s < spread[1].start_s < spread[2].start_s < 1.0
    # a final transcript unlike the deltas: their anchors are not used
    speech = speak("Hello there", "alloy")
    other = align_words(speech.audio, RATE, [(0, "Goodbye", 0.0)], "Hello there")
    assert [w.anchor_s for w in other] == [None, None]
    assert spoken_weight("extraordinary") > spoken_weight("cat") > spoken_weight("the")


def test_text_that_came_after_the_last_audio_is_not_squeezed_into_it():
    speech = speak("One two three", "alloy")
    end = speech.duration_s
    deltas = [*emulator_deltas(speech), (0.0, " four", end), (0.0, " five", end)]
    words = align_words(speech.audio, RATE, deltas, "One two three four five")
    assert [w.start_s for w in words[3:]] == [end, end]
    assert np.median(np.abs(np.array([w.start_s for w in words[:3]]) - [t for _, t in speech.words])) < 0.08


async def test_a_spoken_reply_through_the_session_is_aligned(emulator):
    """The looser bound of bench/bench_alignment.py, through the official SDK and RealtimeSession."""
    voice = "coral"
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator), SessionConfig(voice=voice)) as s:
        turn = await s.send_text("Tell me a short fact about octopuses.")
    truth = speak(turn.transcript, voice)
    assert abs(truth.duration_s - turn.duration_s) < 0.05  # the same speech, re-synthesized
    errors = onset_errors(turn.word_times, truth)
    arrival = np.abs(np.array([w.anchor_s for w in turn.word_times]) - [t for _, t in truth.words])
    assert np.median(errors) < 0.12 and np.median(errors) <= np.median(arrival)
    assert turn.word_times is turn.word_times  # cached until the turn changes


async def test_an_interrupted_turn_splits_heard_from_unheard(emulator):
    async with RealtimeSession(ConnectionConfig.for_emulator(emulator), SessionConfig(voice="ash")) as s:
        turn = await s.send_text("Please tell me a long story about a turtle on a journey.")
        cut_ms = 1500
        await s.interrupt(played_ms=cut_ms)
    words = turn.word_times
    heard = [w.word for w in words if w.start_s < cut_ms / 1000]
    assert turn.status == "truncated" and 0 < len(heard) < len(words)
    assert turn.heard_transcript == " ".join(heard)
    assert turn.unheard_transcript == " ".join(w.word for w in words[len(heard) :])
    assert f"{turn.heard_transcript} {turn.unheard_transcript}".split() == turn.transcript.split()
