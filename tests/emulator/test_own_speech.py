"""The emulator knows the sentences it spoke itself, by their sound; other audio goes to the real recognizer."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from emu_helpers import ga_connect
from openai import AzureOpenAI
from scipy.signal import resample_poly

from realtime_widgets.audio import wav_bytes
from realtime_widgets.emulator import own_speech, synthesize
from realtime_widgets.emulator.audio_io import decode, encode
from realtime_widgets.emulator.g711 import decode as g711_decode
from realtime_widgets.emulator.g711 import encode as g711_encode

SENTENCES = [
    ("How long should I boil an egg?", "echo"),
    ("Recommend a calm piece of piano music.", "cedar"),
    ("Why is the sky blue?", "coral"),
    ("what is the circle", "alloy"),
]


def _int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def resampled(x: np.ndarray) -> np.ndarray:
    """24 kHz -> 48 kHz -> 24 kHz, as a browser or a sound editor would."""
    return _int16(resample_poly(resample_poly(x.astype(np.float64), 2, 1), 1, 2))


def quieter(x: np.ndarray) -> np.ndarray:
    return _int16(x * 10 ** (-12 / 20))


def noisy(x: np.ndarray) -> np.ndarray:
    """White noise 30 dB below the speech's power."""
    power = np.mean(x.astype(np.float64) ** 2)
    return _int16(x + np.random.default_rng(7).normal(0, np.sqrt(power / 1000), x.size))


TRANSFORMS = {
    "resampled 24k-48k-24k": resampled,
    "gain -12 dB": quieter,
    "G.711 mu-law": lambda x: g711_decode(g711_encode(x, "ulaw"), "ulaw"),
    "G.711 A-law": lambda x: g711_decode(g711_encode(x, "alaw"), "alaw"),
    "noise at 30 dB SNR": noisy,
    "MP3": lambda x: decode(encode(x, "mp3"), "mp3"),
    "Opus": lambda x: decode(encode(x, "opus"), "ogg"),
    "all of them": lambda x: noisy(quieter(resampled(decode(encode(x, "mp3"), "mp3")))),
}


@pytest.mark.parametrize("change", TRANSFORMS, ids=list(TRANSFORMS))
def test_recall_is_exact_after_the_audio_changed(change):
    for text, voice in SENTENCES:
        changed = TRANSFORMS[change](synthesize(text, voice=voice))
        assert own_speech.recall(changed) == text, f"{text!r} in {voice} after {change}"


def test_recall_at_other_rates_and_inside_longer_audio():
    first = synthesize("the red kite circles slowly", voice="ash")
    second = synthesize("over the green valley", voice="coral", rate=48_000)
    gap = np.zeros(7200, np.int16)
    second_24k = _int16(resample_poly(second.astype(np.float64), 1, 2))
    assert own_speech.recall(np.concatenate([gap, first, gap, second_24k])) == (
        "the red kite circles slowly over the green valley"
    )
    assert own_speech.recall(second, rate=48_000) == "over the green valley"


def _unremembered(text: str, voice: str) -> np.ndarray:
    speech = synthesize(text, voice=voice)
    own_speech.forget(text)
    return speech


@pytest.mark.parametrize(
    ("remembered", "other", "voice"),
    [
        ("what is the circle", "what is the square", "alloy"),
        ("Hello, what time is it?", "Hello, what day is it?", "alloy"),
        ("Hello, what time is it?", "Hello, what time was it?", "alloy"),
        ("Why is the sky blue?", "Why is the sea blue?", "coral"),
        ("Will it rain in Seattle tomorrow?", "Will it rain in Boston tomorrow?", "alloy"),
    ],
)
def test_other_words_in_the_same_voice_are_not_recalled(remembered, other, voice):
    unknown = _unremembered(other, voice)
    synthesize(remembered, voice=voice)
    for heard in (unknown, noisy(unknown), TRANSFORMS["MP3"](unknown)):
        assert own_speech.recall(heard) is None


def test_the_same_words_in_another_voice_are_not_recalled():
    synthesize("Hello, what time is it?", voice="alloy")
    assert own_speech.recall(_unremembered("Hello, what time is it?", "echo")) is None


def test_speech_it_cannot_account_for_goes_to_the_recognizer():
    known = synthesize("will it rain tomorrow", voice="sage")
    unknown = _unremembered("and bring an umbrella", "sage")
    gap = np.zeros(4800, np.int16)
    assert own_speech.recall(np.concatenate([known, gap, unknown])) is None, "part of it is unknown"
    assert own_speech.recall(known[: len(known) // 2]) is None, "half an utterance is not the utterance"
    assert own_speech.recall(np.zeros(48000, np.int16)) is None
    assert own_speech.recall(noisy(np.full(48000, 1000, np.int16))) is None


def test_memory_is_a_bounded_lru(monkeypatch):
    monkeypatch.setattr(own_speech, "_memory", own_speech._Memory())  # the other tests' speech stays
    monkeypatch.setattr(own_speech, "MAX_UTTERANCES", 4)
    clips = [
        (f"number {n} of the list", synthesize(f"number {n} of the list", voice="ash")) for n in range(6)
    ]
    assert own_speech.remembered() == 4
    assert own_speech.recall(clips[0][1]) is None and own_speech.recall(clips[1][1]) is None
    assert [own_speech.recall(clip) for _, clip in clips[2:]] == [text for text, _ in clips[2:]]
    own_speech.recall(clips[2][1])  # recognised again: now the most recently used
    synthesize("one more for the list", voice="ash")
    assert own_speech.recall(clips[3][1]) is None, "the least recently used went"
    assert own_speech.recall(clips[2][1]) == clips[2][0]


def test_audio_completion_answers_about_the_audio_not_the_instruction(emulator):
    client = AzureOpenAI(
        azure_endpoint=emulator.endpoint, api_key=emulator.api_key, api_version="2025-01-01-preview"
    )
    question = resampled(synthesize("how tall is mount everest", voice="echo"))
    completion = client.chat.completions.create(
        model="gpt-4o-audio-preview",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Answer the question in the recording."},
                    {
                        "type": "input_audio",
                        "input_audio": {
                            "data": base64.b64encode(wav_bytes(question)).decode(),
                            "format": "wav",
                        },
                    },
                ],
            }
        ],
    )
    assert completion.choices[0].message.audio.transcript == "You said: how tall is mount everest"


async def test_a_realtime_session_transcribes_its_own_voice_sent_as_g711(emulator):
    text = "Turn on the lights in the hallway."
    mulaw = g711_encode(resampled(synthesize(text, voice="verse")), "ulaw")
    async with ga_connect(emulator) as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "output_modalities": ["text"],
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcmu"},
                        "transcription": {"model": "whisper-1"},
                        "turn_detection": None,
                    }
                },
            }
        )
        await conn.input_audio_buffer.append(audio=base64.b64encode(mulaw).decode())
        await conn.input_audio_buffer.commit()
        await conn.response.create()
        transcript = reply = None
        async for event in conn:
            if event.type == "conversation.item.input_audio_transcription.completed":
                transcript = event.transcript
            if event.type == "response.done":
                reply = event.response.output[0].content[0].text
            if transcript is not None and reply is not None:  # the two may come in either order
                break
    assert (transcript, reply) == (text, f"You said: {text}")
