"""The emulator's replies fit what was asked: read aloud, describe, transcribe, or say what came in."""

from __future__ import annotations

import asyncio

import pytest
from emu_helpers import ga_connect

from realtime_widgets import AudioChat, ConnectionConfig, evaluate_clips, speak
from realtime_widgets.audio import save_audio, to_pcm16
from realtime_widgets.emulator import synthesize
from realtime_widgets.emulator.replies import Prompt, rule_reply

# Notebook 05's clips: the saved formats (two lossy) are what made three of them come back wrong.
CLIPS = {
    "weather.wav": ("Will it rain in Seattle tomorrow?", "alloy"),
    "recipe.mp3": ("How long should I boil an egg?", "echo"),
    "travel.flac": ("What is the fastest way from Paris to Berlin?", "shimmer"),
    "music.wav": ("Recommend a calm piece of piano music.", "cedar"),
    "science.mp3": ("Why is the sky blue?", "coral"),
    "history.wav": ("Who built the pyramids of Giza?", "sage"),
    "jazz.ogg": ("Play some jazz in the kitchen.", "ash"),
}


def test_speak_reads_its_text_aloud(emulator):
    text = "Hello, I am the voice called echo."
    reply = speak(text, voice="echo", connection=ConnectionConfig.for_emulator(emulator))
    assert reply.transcript == text
    assert reply.duration_s > 1.0


def test_describe_the_spoken_audio_describes_it(emulator, tmp_path):
    connection = ConnectionConfig.for_emulator(emulator)
    answer = AudioChat(connection, voice="alloy").ask("Is a golden retriever a good family dog?")
    answer.save(tmp_path / "dog.wav")
    analysis = AudioChat(connection, voice="sage").ask(
        text="Describe in detail the spoken audio input.", audio=tmp_path / "dog.wav"
    )
    assert "You said: You said" not in analysis.transcript
    seconds = to_pcm16(tmp_path / "dog.wav").size / 24_000
    assert analysis.transcript == (
        f"The recording is {seconds:.1f} seconds of speech. It says: “{answer.transcript}”"
    )


def test_notebook_05_clips_come_back_word_for_word(emulator, tmp_path):
    for name, (text, voice) in CLIPS.items():
        save_audio(synthesize(text, voice=voice), tmp_path / name)
    results = asyncio.run(evaluate_clips(tmp_path, connection=ConnectionConfig.for_emulator(emulator)))
    assert {r.clip: r.transcript for r in results} == {name: text for name, (text, _) in CLIPS.items()}


async def test_realtime_session_instructions_to_repeat_verbatim(emulator):
    async with ga_connect(emulator) as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "output_modalities": ["text"],
                "instructions": "Repeat exactly what the user says, word for word.",
            }
        )
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Bonjour, Paris."}],
            }
        )
        await conn.response.create()
        first = await _text_of_next_response(conn)
        await conn.response.create(response={"instructions": 'Say "Welcome back." and nothing else.'})
        second = await _text_of_next_response(conn)
    assert (first, second) == ("Bonjour, Paris.", "Welcome back.")


async def _text_of_next_response(conn) -> str:
    async for event in conn:
        if event.type == "response.done":
            return event.response.output[0].content[0].text
    raise AssertionError("the connection closed before response.done")


@pytest.mark.parametrize(
    ("prompt", "reply"),
    [
        (Prompt(text="good morning"), "You said: good morning"),
        (Prompt("Read the user's message aloud exactly as written. Say nothing else.", "Hi."), "Hi."),
        (Prompt("You are a helpful assistant. Answer in one or two sentences.", "Hi."), "You said: Hi."),
        (Prompt('Say "Welcome back."', "Hi."), "Welcome back."),
        (
            Prompt(text="Transcribe the audio.", heard="why is the sky blue", audio_seconds=1.5),
            "why is the sky blue",
        ),
        (Prompt(text="Transcribe the audio.", audio_seconds=1.5), "I could not make out any words."),
        (
            Prompt(text="Describe the recording.", audio_seconds=2.04),
            "The recording is 2.0 seconds of speech; I could not make out the words.",
        ),
        (Prompt(text="Repeat the recording word for word.", heard="one two", audio_seconds=1.0), "one two"),
        (Prompt(text="Answer the question.", heard="how tall", audio_seconds=1.0), "You said: how tall"),
        (Prompt(text="Answer the question.", audio_seconds=1.0), "I heard 1.0 seconds of speech."),
        (Prompt(), "I did not receive any input."),
    ],
)
def test_reply_rules(prompt, reply):
    assert rule_reply(prompt) == reply
