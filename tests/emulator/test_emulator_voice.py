"""`synthesize`: real speech, the right length and rate, and distinct voices."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from emu_helpers import rms

from realtime_widgets.emulator import own_speech, synthesize, voice
from realtime_widgets.protocol import VOICES


def centroid(x: np.ndarray, rate: int = 24_000) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64)))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float((spec * freqs).sum() / spec.sum())


def test_speech_is_real():
    short = synthesize("one two", "alloy")
    long = synthesize("one two three four five six seven eight", "alloy")
    assert short.dtype == np.int16 and long.dtype == np.int16
    assert len(long) > 2 * len(short)
    assert len(long) / 24_000 > 0.04 * 8
    assert rms(long) > 1000


def test_rate_parameter():
    a = synthesize("rate check", "echo", rate=24_000)
    b = synthesize("rate check", "echo", rate=16_000)
    assert abs(len(b) / len(a) - 2 / 3) < 0.01


def test_voices_differ():
    clips = {v: synthesize("The quick brown fox", v) for v in VOICES}
    sigs = {v: (len(c), round(centroid(c))) for v, c in clips.items()}
    assert len(set(sigs.values())) == len(VOICES), sigs
    # A high voice and a low one differ clearly in spectral centroid.
    assert centroid(clips["shimmer"]) > 1.1 * centroid(clips["cedar"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown voice"):
        synthesize("x", "robot")
    with pytest.raises(ValueError, match="rate"):
        synthesize("x", "alloy", rate=0)


REPLY = (
    "Thanks for waiting! Your order has shipped from our warehouse in Leeds this morning; the courier says"
    " it should arrive on Thursday afternoon. Is there anything else I can help you with today?"
)


def one_call(monkeypatch, text: str, voice_name: str) -> voice.Speech:
    with monkeypatch.context() as patch:
        patch.setattr(voice, "slices", lambda t: [t])
        return voice.speak(text, voice_name)


@pytest.mark.parametrize("voice_name", ["ballad", "ash"])
def test_a_sliced_reply_sounds_like_one_call(monkeypatch, voice_name):
    # Slices are separate eSpeak calls; joined, they keep the pauses and word times of one call.
    # Without the end pause each join lost ~0.4 s; eSpeak's own output varies by ~25 ms between calls.
    assert len(voice.slices(REPLY)) >= 3
    whole = one_call(monkeypatch, REPLY, voice_name)
    sliced = voice.speak(REPLY, voice_name)
    assert abs(sliced.duration_s - whole.duration_s) < 0.1, (sliced.duration_s, whole.duration_s)
    assert [w for w, _ in sliced.words] == [w for w, _ in whole.words]
    offsets = [abs(a - b) for (_, a), (_, b) in zip(sliced.words, whole.words, strict=True)]
    assert max(offsets) < 0.1, offsets


async def test_streamed_slices_join_as_spoken():
    streamed = [s async for s in voice.speak_slices(REPLY, "alloy")]
    assert len(streamed) == len(voice.slices(REPLY)) > 1
    total = sum(s.duration_s for s in streamed)
    assert abs(total - voice.speak(REPLY, "alloy").duration_s) < 0.1


def test_a_first_sentence_is_never_cut_short():
    said = "Turtles can live for more than a hundred years."
    assert voice.slices(said + " Some live longer.")[0] == said  # 9 words: more than a first slice packs
    first, then = "Sure. Thanks for waiting!", "Your order has shipped today."
    assert voice.slices(f"{first} {then}") == [first, then]  # the first packs whole sentences up to 8 words
    assert own_speech.recall(synthesize(said, "ash")) == said  # no one-word tail it cannot match


LONG = " ".join(["The quick brown fox jumps over the lazy dog."] * 60)


def test_a_first_slice_does_not_wait_behind_a_slice_made_ahead():
    # Slices made ahead of streaming have an engine (a process) of their own. With one engine for
    # both, a first slice asked for while a long one was being made waited for it to finish.
    voice.warm_up()
    synthesize("warm")
    ahead = voice._synthesizer.submit(LONG, "alloy", 24_000, first=False)
    time.sleep(0.1)  # being made (it takes about a second)
    first = voice._synthesizer.submit("Hello there.", "alloy", 24_000)
    assert first.result(30).duration_s > 0.3
    assert not ahead.done(), "the first slice waited for the 600-word slice made ahead"
    assert ahead.result(60).duration_s > 60


def test_slices_made_ahead_come_from_a_niced_worker_process():
    voice.warm_up()
    synthesize("warm")
    deadline = time.monotonic() + 20
    while not voice.worker_processes() and time.monotonic() < deadline:
        time.sleep(0.05)  # it starts from a thread of its own
    (proc,) = voice.worker_processes()
    # On a busy machine the event loop and first slices go first; slices made ahead have seconds of slack.
    niceness = os.getpriority(os.PRIO_PROCESS, proc.pid) - os.getpriority(os.PRIO_PROCESS, 0)
    assert niceness == voice.AHEAD_NICENESS
    assert len(voice.speak(REPLY, "coral").words) == len(REPLY.split())  # its slices join the first


def test_a_voice_process_that_dies_is_replaced():
    synthesize("warm")
    for proc in voice.worker_processes():
        proc.kill()
        proc.wait()
    assert len(voice.speak(REPLY, "coral").words) == len(REPLY.split())  # first slice and slices ahead
    assert len(voice.worker_processes()) == 1


def test_slices_made_ahead_are_made_in_process_when_the_worker_cannot_start(monkeypatch, caplog):
    synthesize("warm")
    monkeypatch.setattr(voice._synthesizer, "fallbacks", 0)

    def cannot_start(replacing):
        raise OSError("no such interpreter")

    monkeypatch.setattr(voice._synthesizer, "_spawn", cannot_start)
    for proc in voice.worker_processes():
        proc.kill()
        proc.wait()
    speech = voice.speak(REPLY, "sage")  # a reply of several slices goes on, none lost
    assert len(speech.words) == len(REPLY.split())
    assert voice._synthesizer.fallbacks == len(voice.slices(REPLY)) - 1
    assert "this slice is made in the emulator's process" in caplog.text
