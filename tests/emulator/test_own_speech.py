"""The emulator knows the sentences it spoke itself; other audio goes to the real recognizer."""

from __future__ import annotations

import base64

import numpy as np
from openai import AzureOpenAI

from realtime_widgets.audio import wav_bytes
from realtime_widgets.emulator import own_speech, synthesize


def test_recall_finds_its_own_speech_inside_longer_audio():
    first = synthesize("the red kite circles slowly", voice="ash")
    second = synthesize("over the green valley", voice="coral")
    gap = np.zeros(7200, np.int16)
    assert own_speech.recall(np.concatenate([gap, first, gap, second])) == (
        "the red kite circles slowly over the green valley"
    )


def test_recall_ignores_altered_audio():
    speech = synthesize("a sentence nobody sent back unchanged", voice="sage")
    noisy = (speech.astype(np.int32) + np.random.default_rng(0).integers(-2, 3, speech.size)).astype(np.int16)
    assert own_speech.recall(noisy) is None
    assert own_speech.recall(np.zeros(48000, np.int16)) is None
    from scipy.signal import resample_poly

    round_trip = resample_poly(resample_poly(speech.astype(np.float64), 2, 1), 1, 2)
    assert own_speech.recall(np.round(round_trip).astype(np.int16)) is None, "resampled audio is not the same"


def test_audio_completion_answers_about_the_audio_not_the_instruction(emulator):
    client = AzureOpenAI(
        azure_endpoint=emulator.endpoint, api_key=emulator.api_key, api_version="2025-01-01-preview"
    )
    question = synthesize("how tall is mount everest", voice="echo")
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
