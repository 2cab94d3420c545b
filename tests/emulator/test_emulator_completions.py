"""Audio chat completions through the official SDK (AzureOpenAI and OpenAI v1 base URL)."""

from __future__ import annotations

import base64

import numpy as np
import openai
import pytest
from emu_helpers import rms
from openai import AzureOpenAI, OpenAI

from realtime_widgets.emulator import synthesize
from realtime_widgets.emulator.audio_io import decode
from realtime_widgets.wav import wav_bytes


def azure(emu) -> AzureOpenAI:
    return AzureOpenAI(azure_endpoint=emu.endpoint, api_version="2025-01-01-preview", api_key=emu.api_key)


@pytest.mark.parametrize("fmt", ["wav", "mp3", "flac", "opus", "pcm16"])
def test_audio_reply_in_each_format(emulator, fmt):
    r = azure(emulator).chat.completions.create(
        model=emulator.deployment,
        modalities=["text", "audio"],
        audio={"voice": "coral", "format": fmt},
        messages=[{"role": "user", "content": "say something"}],
    )
    msg = r.choices[0].message
    assert r.object == "chat.completion" and r.choices[0].finish_reason == "stop"
    assert msg.content is None and msg.audio.transcript == "You said: say something"
    data = base64.b64decode(msg.audio.data)
    samples = np.frombuffer(data, "<i2") if fmt == "pcm16" else decode(data, "ogg" if fmt == "opus" else fmt)
    assert len(samples) / 24_000 > 0.04 * len(msg.audio.transcript.split())
    assert rms(samples) > 300
    assert r.usage.completion_tokens_details.audio_tokens > 0


def test_text_only_and_v1_route(emulator):
    client = OpenAI(base_url=emulator.endpoint + "/openai/v1", api_key=emulator.api_key)
    r = client.chat.completions.create(
        model=emulator.deployment, messages=[{"role": "user", "content": "plain"}]
    )
    assert r.choices[0].message.content == "You said: plain"
    assert r.choices[0].message.audio is None


def test_audio_in_history_by_id_and_expired_id(emulator):
    emulator.reply = lambda text, seconds: f"got {seconds:.1f} seconds" if seconds else f"echo {text}"
    client = azure(emulator)
    clip = synthesize("testing", "sage")
    first = client.chat.completions.create(
        model=emulator.deployment,
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "input_audio",
                        "input_audio": {"data": base64.b64encode(wav_bytes(clip)).decode(), "format": "wav"},
                    }
                ],
            }
        ],
    )
    assert first.choices[0].message.audio.transcript == f"got {len(clip) / 24000:.1f} seconds"
    audio_id = first.choices[0].message.audio.id
    assert first.choices[0].message.audio.expires_at > first.created
    second = client.chat.completions.create(
        model=emulator.deployment,
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "audio": {"id": audio_id}},
            {"role": "user", "content": "again"},
        ],
    )
    assert second.choices[0].message.content == "echo again"
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=emulator.deployment,
            messages=[
                {"role": "assistant", "audio": {"id": "audio_unknown"}},
                {"role": "user", "content": "x"},
            ],
        )
    assert "audio_unknown" in str(info.value)


def test_bad_requests(emulator):
    client = azure(emulator)
    with pytest.raises(openai.BadRequestError, match="audio.format"):
        client.chat.completions.create(
            model=emulator.deployment,
            modalities=["text", "audio"],
            audio={"voice": "alloy", "format": "aiff"},
            messages=[{"role": "user", "content": "x"}],
        )
    with pytest.raises(openai.BadRequestError, match="could not decode"):
        client.chat.completions.create(
            model=emulator.deployment,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "input_audio",
                            "input_audio": {
                                "data": base64.b64encode(b"nope" * 100).decode(),
                                "format": "mp3",
                            },
                        }
                    ],
                }
            ],
        )
    big = base64.b64encode(b"\0" * (21 * 1024 * 1024)).decode()
    with pytest.raises(openai.APIStatusError) as info:
        client.with_options(max_retries=0).chat.completions.create(
            model=emulator.deployment,
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "input_audio", "input_audio": {"data": big, "format": "wav"}}],
                }
            ],
        )
    assert info.value.status_code == 413 and "20 MB" in str(info.value)


def test_completions_429_then_retry(emulator):
    emulator.faults.handshake_429 = 1
    emulator.faults.retry_after_s = 0
    r = azure(emulator).chat.completions.create(
        model=emulator.deployment, messages=[{"role": "user", "content": "after retry"}]
    )
    assert r.choices[0].message.content == "You said: after retry"
    assert emulator.faults.handshake_429 == 0


@pytest.mark.parametrize("route", ["deployments", "v1"])
def test_streamed_audio_reply_matches_the_whole_one(emulator, route):
    client = (
        azure(emulator)
        if route == "deployments"
        else OpenAI(base_url=emulator.endpoint + "/openai/v1", api_key=emulator.api_key)
    )
    request = dict(
        model=emulator.deployment,
        modalities=["text", "audio"],
        audio={"voice": "sage", "format": "pcm16"},
        messages=[{"role": "user", "content": "tell me about the sea"}],
    )
    whole = client.chat.completions.create(**request).choices[0].message.audio
    chunks = list(
        client.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
    )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    audio = [c.choices[0].delta.audio for c in chunks if c.choices and c.choices[0].delta.audio]
    pcm = b"".join(base64.b64decode(a.data) for a in audio if a.data)
    transcript = "".join(a.transcript for a in audio if a.transcript)
    assert transcript == whole.transcript == "You said: tell me about the sea"
    streamed, once = np.frombuffer(pcm, "<i2"), np.frombuffer(base64.b64decode(whole.data), "<i2")
    # The same words, as long (eSpeak's timing may shift by a few ms between syntheses).
    assert abs(streamed.size - once.size) < 0.02 * once.size
    assert sum(1 for a in audio if a.data) > 3 and rms(np.frombuffer(pcm, "<i2")) > 300
    assert audio[-1].expires_at and len({a.id for a in audio}) == 1
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens_details.audio_tokens > 0


def test_streamed_text_and_the_pcm16_only_rule(emulator):
    client = azure(emulator)
    chunks = client.chat.completions.create(
        model=emulator.deployment, messages=[{"role": "user", "content": "hello there"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "You said: hello there"
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=emulator.deployment,
            modalities=["text", "audio"],
            audio={"voice": "alloy", "format": "mp3"},
            messages=[{"role": "user", "content": "x"}],
            stream=True,
        )
    assert err.value.body["param"] == "audio.format" and "pcm16" in err.value.body["message"]
